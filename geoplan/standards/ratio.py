"""The ``ratio`` rule family: numerator ÷ denominator × per (m² per 100 households …)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from geoplan.standards._core import (
    COUNTY_NAME,
    DEFAULT_STATUSES,
    NOT_COMPUTABLE,
    Inputs,
    applicable_units,
    judge,
    quantity_fields,
    result_row,
    shortfall_amount,
)
from geoplan.standards.aggregate import (
    Quantity,
    filter_facilities,
    staff_count_by_unit,
    sum_by_unit,
)
from geoplan.standards.rules import Rule


def _side_by_unit(ctx: Inputs, spec: dict, level_units: gpd.GeoDataFrame, level: str):
    """Per-unit values of one side of a ratio, missing-value counts, and a Quantity or label."""
    if spec["source"] == "quantity":
        q = ctx.quantity(spec["name"], level_units)
        return (None, None, None) if q is None else (q.values, None, q)
    if spec["source"] == "staff":
        if ctx.staff is None:
            return None, None, None
        vals = staff_count_by_unit(ctx.staff, ctx.codes("staff", level), spec["role"]).reindex(
            level_units.index
        )
        return vals.fillna(0.0), None, f"人员表 role={spec['role']}"
    fac = filter_facilities(ctx.facilities, spec["types"], spec.get("statuses", DEFAULT_STATUSES))
    codes = ctx.codes("facilities", level).reindex(fac.index)
    total, missing, skipped = sum_by_unit(fac, codes, spec["column"])
    label = f"设施 {'/'.join(spec['types'])} 的 {spec['column']}"
    if skipped:
        label += f" (未计入无此数据的类型: {'、'.join(skipped)})"
    return (
        total.reindex(level_units.index).fillna(0.0),
        missing.reindex(level_units.index).fillna(0),
        label,
    )


def ratio_rows(rule: Rule, ctx: Inputs, threshold: float, year: int | None) -> list[dict]:
    """Rows of ``ratio``: one per unit and level, with value, shortfall and denominator."""
    rows: list[dict] = []
    per = float(rule.params["per"])
    num_spec, den_spec = rule.params["numerator"], rule.params["denominator"]
    whole = rule.counts_whole_units
    for level in ("town", "village"):
        if level not in rule.levels and not (level == "town" and "county" in rule.levels):
            continue
        units, why = applicable_units(ctx, rule, level)
        num, num_missing, num_q = _side_by_unit(ctx, num_spec, units, level)
        den, den_missing, den_q = _side_by_unit(ctx, den_spec, units, level)
        frames = [(units.index, units["name"], level)] if level in rule.levels else []
        if level == "town" and "county" in rule.levels:
            frames.append((None, None, "county"))
        for index, names, out_level in frames:
            rows += _ratio_emit(
                rule,
                out_level,
                index,
                names,
                ctx.county_code,
                threshold,
                year,
                per,
                whole,
                (num, num_missing, num_q),
                (den, den_missing, den_q),
                why,
            )
    return rows


def _ratio_emit(
    rule, level, index, names, county_code, threshold, year, per, whole, num_side, den_side, why
):
    num, num_missing, num_q = num_side
    den, den_missing, den_q = den_side
    if index is None:  # whole study area = sum over towns
        index = pd.Index([county_code])
        names = pd.Series([COUNTY_NAME], index=index)
        num = (
            None
            if num is None
            else pd.Series([num.sum(min_count=1) if num.notna().all() else np.nan], index=index)
        )
        den = (
            None
            if den is None
            else pd.Series([den.sum(min_count=1) if den.notna().all() else np.nan], index=index)
        )
        num_missing = None if num_missing is None else pd.Series([num_missing.sum()], index=index)
        den_missing = None if den_missing is None else pd.Series([den_missing.sum()], index=index)
    out = []
    den_label = den_q.label if isinstance(den_q, Quantity) else (den_q or "")
    extra = quantity_fields(den_q if isinstance(den_q, Quantity) else None)
    extra.setdefault("denominator_name", den_label)
    if not isinstance(den_q, Quantity) and den_q:
        extra["denominator_source"] = den_q
    num_label = num_q.label if isinstance(num_q, Quantity) else (num_q or "")
    for code in index:
        base = dict(threshold=threshold, target_year=year, detail=f"分子: {num_label}", **extra)
        reason = why or _ratio_problem(rule, code, num, num_missing, den, den_missing)
        if reason:
            out.append(
                result_row(
                    rule, level, code, names[code], status=NOT_COMPUTABLE, reason=reason, **base
                )
            )
            continue
        n, d = float(num[code]), float(den[code])
        value = n / d * per
        required = threshold * d / per
        out.append(
            result_row(
                rule,
                level,
                code,
                names[code],
                value=value,
                numerator=n,
                denominator=d,
                status=judge(rule, value, threshold),
                shortfall=shortfall_amount(n, required, rule.comparator, whole),
                **base,
            )
        )
    return out


def _ratio_problem(rule, code, num, num_missing, den, den_missing) -> str:
    if num is None:
        side = rule.params["numerator"]
        return f"缺少分子数据: {side.get('name') or side.get('role') or side.get('column')}" + (
            " (未提供人员表)" if side["source"] == "staff" else ""
        )
    if den is None:
        side = rule.params["denominator"]
        return f"缺少分母数据: {side.get('name') or side.get('role') or side.get('column')}" + (
            " (未提供人员表)"
            if side["source"] == "staff"
            else " (分母表、行政区划图层和人口图层均无此列)"
        )
    for missing, what in ((num_missing, "分子"), (den_missing, "分母")):
        if missing is not None and missing.get(code, 0) > 0:
            return f"{int(missing[code])} 处设施缺少{what}所需数值,不能按 0 计"
    d = den.get(code, np.nan)
    if pd.isna(d):
        return "分母数值缺失"
    if d == 0:
        return "分母为 0 (如户数为 0),比值无法计算"
    if pd.isna(num.get(code, np.nan)):
        return "分子数值缺失"
    return ""
