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
    layer_provenance,
    staff_count_by_unit,
    sum_by_unit,
    top_level,
)
from geoplan.standards.rules import Rule


def _side_by_unit(ctx: Inputs, spec: dict, level_units: gpd.GeoDataFrame, level: str):
    """Per-unit values of one side of a ratio, missing-value counts, and its Quantity.

    Counts from the staff or facility table come back as a :class:`Quantity` too, named
    by what was counted, with the source and year recorded in that table's ``attrs``.
    """
    if spec["source"] == "quantity":
        q = ctx.quantity(spec["name"], level_units)
        return (None, None, None) if q is None else (q.values, None, q)
    if spec["source"] == "staff":
        if ctx.staff is None:
            return None, None, None
        vals = staff_count_by_unit(ctx.staff, ctx.codes("staff", level), spec["role"]).reindex(
            level_units.index
        )
        label = f"人员表 role={spec['role']}"
        src, yr = layer_provenance(ctx.staff, label)
        return vals.fillna(0.0), None, Quantity(label, vals.fillna(0.0), src, yr)
    fac = filter_facilities(ctx.facilities, spec["types"], spec.get("statuses", DEFAULT_STATUSES))
    codes = ctx.codes("facilities", level).reindex(fac.index)
    total, missing, skipped = sum_by_unit(fac, codes, spec["column"])
    # such facilities exist, but none of them has a value
    if len(fac) and set(skipped) >= set(fac["facility_type"]):
        return None, None, None
    label = f"设施 {'/'.join(spec['types'])} 的 {spec['column']}"
    if skipped:
        label += f" (未计入无此数据的类型: {'、'.join(skipped)})"
    vals = total.reindex(level_units.index).fillna(0.0)
    src, yr = layer_provenance(ctx.facilities, "设施图层 " + label.removeprefix("设施 "))
    return vals, missing.reindex(level_units.index).fillna(0), Quantity(label, vals, src, yr)


def ratio_rows(rule: Rule, ctx: Inputs, threshold: float, year: int | None) -> list[dict]:
    """Rows of ``ratio``: one per unit and level, with value, shortfall and denominator."""
    rows: list[dict] = []
    per = float(rule.params["per"])
    num_spec, den_spec = rule.params["numerator"], rule.params["denominator"]
    whole = rule.counts_whole_units
    top = top_level(ctx.admin_units)  # the whole-area row sums the towns (villages if no towns)
    for level in ("town", "village"):
        county_here = "county" in rule.levels and level == top
        if level not in rule.levels and not county_here:
            continue
        units, why = applicable_units(ctx, rule, level)
        num, num_missing, num_q = _side_by_unit(ctx, num_spec, units, level)
        den, den_missing, den_q = _side_by_unit(ctx, den_spec, units, level)
        frames = [(units.index, units["name"], level)] if level in rule.levels else []
        if county_here:
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
    if index is None:  # whole study area = sum over the top-level units
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
    extra = quantity_fields(den_q)
    num_label = "" if num_q is None else num_q.label
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


def _missing_side(side: dict, what: str) -> str:
    if side["source"] == "facilities":
        types = "/".join(side["types"])
        return f"缺少{what}数据: 设施 {types} 均未填 {side['column']},不能按 0 计"
    name = side.get("name") or side.get("role")
    if side["source"] == "staff":
        return f"缺少{what}数据: {name} (未提供人员表)"
    return f"缺少{what}数据: {name} (分母表、行政区划图层和人口图层均无此列)"


def _ratio_problem(rule, code, num, num_missing, den, den_missing) -> str:
    if num is None:
        return _missing_side(rule.params["numerator"], "分子")
    if den is None:
        return _missing_side(rule.params["denominator"], "分母")
    for missing, what in ((num_missing, "分子"), (den_missing, "分母")):
        if missing is not None and missing.get(code, 0) > 0:
            return f"{int(missing[code])} 处设施缺少{what}所需数值,不能按 0 计"
    d = den.get(code, np.nan)
    if pd.isna(d):
        return "分母数值缺失"
    if d == 0:
        side = rule.params["denominator"]
        what = side.get("name") or side.get("column") or side.get("role")
        return f"分母为 0 ({what} = 0),比值无法计算"
    if pd.isna(num.get(code, np.nan)):
        return "分子数值缺失"
    return ""
