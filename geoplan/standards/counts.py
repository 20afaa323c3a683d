"""Rule families that count things: site minimum, presence, coverage share, staffing brackets."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoplan.errors import Problem, SchemaError
from geoplan.standards._core import (
    COUNTY_NAME,
    DEFAULT_STATUSES,
    FAIL,
    NOT_COMPUTABLE,
    PASS,
    Inputs,
    applicable_units,
    count_fields,
    judge,
    meets,
    quantity_fields,
    result_row,
    shortfall_amount,
)
from geoplan.standards.aggregate import filter_facilities, staff_count_by_unit
from geoplan.standards.rules import Rule

# ---------------------------------------------------------------- site minimum


def site_rows(rule: Rule, ctx: Inputs, threshold: float, year: int | None) -> list[dict]:
    """Rows of ``site_minimum``: every site in a unit must meet the threshold (e.g. ≥ 400 m²)."""
    rows: list[dict] = []
    column = rule.params["column"]
    fac = filter_facilities(
        ctx.facilities, rule.params["facility_types"], rule.params.get("statuses", DEFAULT_STATUSES)
    )
    site_fields = count_fields(ctx.facilities, "设施处数", "设施图层")
    for level in rule.levels:
        units, why = applicable_units(ctx, rule, level)
        codes = ctx.codes("facilities", level).reindex(fac.index)
        for code, name in units["name"].items():
            here = fac.loc[codes == code] if len(fac) else fac
            base = dict(threshold=threshold, target_year=year, **site_fields)
            if why or len(here) == 0 or column not in here.columns or here[column].isna().any():
                reason = why or (
                    "单元内无此类设施" if len(here) == 0 else f"有设施缺少 {column} 数值"
                )
                rows.append(
                    result_row(
                        rule, level, code, name, status=NOT_COMPUTABLE, reason=reason, **base
                    )
                )
                continue
            vals = pd.to_numeric(here[column])
            bad = vals[[not meets(v, rule.comparator, threshold) for v in vals]]
            names = (
                here["name"] if "name" in here.columns else pd.Series(here.index, index=here.index)
            )
            detail = "; ".join(f"{names[i]} {vals[i]:g}" for i in bad.index)
            gap = float(sum(shortfall_amount(v, threshold, rule.comparator, False) for v in bad))
            rows.append(
                result_row(
                    rule,
                    level,
                    code,
                    name,
                    value=float(vals.min()),
                    numerator=float(len(bad)),
                    denominator=float(len(vals)),
                    status=PASS if bad.empty else FAIL,
                    shortfall=gap,
                    detail=f"{len(bad)}/{len(vals)} 处不达标" + (f": {detail}" if detail else ""),
                    **base,
                )
            )
    return rows


# ---------------------------------------------------------------- presence and coverage


def presence_rows(rule: Rule, ctx: Inputs, threshold: float, year: int | None) -> list[dict]:
    """Rows of ``presence``: each unit needs ``threshold`` facilities (or a designated officer)."""
    rows: list[dict] = []
    fac = filter_facilities(
        ctx.facilities, rule.params["facility_types"], rule.params.get("statuses", DEFAULT_STATUSES)
    )
    alt_role = rule.params.get("alternative_staff_role")
    presence_fields = count_fields(ctx.facilities, "本单元内设施处数(计数,无分母)", "设施图层")
    for level in rule.levels:
        units, why = applicable_units(ctx, rule, level)
        counts = ctx.codes("facilities", level).reindex(fac.index).value_counts()
        staff_n = pd.Series(dtype=float)
        if alt_role and ctx.staff is not None:
            staff_n = staff_count_by_unit(ctx.staff, ctx.codes("staff", level), alt_role)
        for code, name in units["name"].items():
            n = float(counts.get(code, 0))
            base = dict(threshold=threshold, target_year=year, **presence_fields)
            if why:
                rows.append(
                    result_row(rule, level, code, name, status=NOT_COMPUTABLE, reason=why, **base)
                )
                continue
            status = judge(rule, n, threshold)
            detail = ""
            if status == FAIL and alt_role:
                if ctx.staff is None:
                    rows.append(
                        result_row(
                            rule,
                            level,
                            code,
                            name,
                            value=n,
                            status=NOT_COMPUTABLE,
                            reason=f"无站点; 未提供人员表,无法核对替代人员 {alt_role}",
                            **base,
                        )
                    )
                    continue
                k = float(staff_n.get(code, 0))
                if k >= 1:
                    status, detail = PASS, f"无站点,以指定人员 {alt_role} {k:g} 名满足"
            short = 0.0 if status == PASS else shortfall_amount(n, threshold, rule.comparator, True)
            rows.append(
                result_row(
                    rule,
                    level,
                    code,
                    name,
                    value=n,
                    status=status,
                    shortfall=short,
                    detail=detail,
                    **base,
                )
            )
    return rows


def coverage_rows(rule: Rule, ctx: Inputs, threshold: float, year: int | None) -> list[dict]:
    """Row of ``coverage_share``: the share (%) of units of ``of_level`` that have a facility."""
    of_level = rule.params.get("of_level", "village")
    units, why = applicable_units(ctx, rule, of_level)
    fac = filter_facilities(
        ctx.facilities, rule.params["facility_types"], rule.params.get("statuses", DEFAULT_STATUSES)
    )
    base = dict(
        threshold=threshold,
        target_year=year,
        **count_fields(ctx.admin_units, f"{of_level} 单元数", f"行政区划图层 {of_level} 级单元"),
    )
    if why or len(units) == 0:
        reason = why or f"没有 {of_level} 级单元,覆盖率无法计算"
        return [
            result_row(
                rule,
                "county",
                ctx.county_code,
                COUNTY_NAME,
                status=NOT_COMPUTABLE,
                reason=reason,
                **base,
            )
        ]
    codes = ctx.codes("facilities", of_level).reindex(fac.index)
    covered = units.index.isin(set(codes.dropna()))
    n, k = len(units), int(covered.sum())
    value = 100.0 * k / n
    uncovered = list(units.loc[~covered, "name"])
    need = shortfall_amount(k, threshold * n / 100.0, rule.comparator, True)
    detail = f"{k}/{n} 覆盖" + (
        f"; 未覆盖: {'、'.join(map(str, uncovered[:30]))}" if uncovered else ""
    )
    if len(uncovered) > 30:
        detail += f" 等 {len(uncovered)} 个"
    return [
        result_row(
            rule,
            "county",
            ctx.county_code,
            COUNTY_NAME,
            value=value,
            numerator=float(k),
            denominator=float(n),
            status=judge(rule, value, threshold),
            shortfall=need,
            detail=detail,
            **base,
        )
    ]


# ---------------------------------------------------------------- staffing brackets


def required_staff(population: float, brackets: list[dict]) -> int:
    """Staff required for a population: the first bracket whose ``below`` exceeds it.

    A population exactly on a bracket edge gets the higher bracket: "2万以下 … 2~5万"
    both include 2万, and of two "不少于" minima the larger binds.

    Raises
    ------
    SchemaError
        When ``population`` is missing or negative.
    """
    if pd.isna(population) or population < 0:
        raise SchemaError(
            "population", [Problem(f"population must be a number ≥ 0, got {population!r}")]
        )
    for b in brackets:
        if population < float(b["below"]):
            return int(b["staff"])
    return int(brackets[-1]["staff"])


def bracket_rows(rule: Rule, ctx: Inputs, _threshold: object, year: int | None) -> list[dict]:
    """Rows of ``staffing_brackets``: staff required by population bracket versus staff employed."""
    rows: list[dict] = []
    brackets = rule.params["brackets"]
    for level in rule.levels:
        units, why = applicable_units(ctx, rule, level)
        q = ctx.quantity(rule.params["denominator"], units)
        have = None
        if ctx.staff is not None:
            have = staff_count_by_unit(ctx.staff, ctx.codes("staff", level), rule.params["role"])
        for code, name in units["name"].items():
            fields = quantity_fields(q)
            pop = np.nan if q is None else q.values.get(code, np.nan)
            reason = why or ("" if q is not None else f"缺少分母数据: {rule.params['denominator']}")
            if not reason and pd.isna(pop):
                reason = "该单元人口数缺失"
            if not reason and have is None:
                reason = "未提供人员表,无法核对配备人数"
            if reason:
                rows.append(
                    result_row(
                        rule,
                        level,
                        code,
                        name,
                        status=NOT_COMPUTABLE,
                        reason=reason,
                        target_year=year,
                        **fields,
                    )
                )
                continue
            need = required_staff(float(pop), brackets)
            n = float(have.get(code, 0))
            edge = float(pop) in {float(b["below"]) for b in brackets}
            rows.append(
                result_row(
                    rule,
                    level,
                    code,
                    name,
                    value=n,
                    threshold=float(need),
                    denominator=float(pop),
                    status=PASS if n >= need else FAIL,
                    shortfall=max(0.0, need - n),
                    detail=f"人口 {float(pop):,.0f} → 至少 {need} 名"
                    + ("(恰在区间边界,相邻两档均含本数,取较高一档)" if edge else ""),
                    target_year=year,
                    **fields,
                )
            )
    return rows
