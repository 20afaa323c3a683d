"""Columbarium capacity versus deaths: years until free niches run out, per service area and pool.

Expected deposits a year = population × death rate (‰) ÷ 1000 × storage share (the share
of deaths whose ashes go into a niche; 1.0 when cremation and deposit are both 100 %,
as Xiamen reports, seed 003 L124). Free niches = ``niches_total`` − ``niches_used``.
A columbarium serves the admin unit named by ``service_area_code`` (if the column
exists) or ``admin_code``: a village columbarium serves its village, a town one its
town, and one whose code is no unit (e.g. the county code) serves the whole study area.
Pools (village / town / county level) are summed separately, because a village
columbarium only serves its own 村居 and cannot absorb another pool's demand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoplan._text import codes_text
from geoplan.errors import Problem, SchemaError
from geoplan.standards._core import (
    COUNTY_NAME,
    DEFAULT_STATUSES,
    NOT_COMPUTABLE,
    Inputs,
    judge,
    result_row,
    shortfall_amount,
)
from geoplan.standards.aggregate import (
    assign_to_level,
    filter_facilities,
    units_at_level,
)
from geoplan.standards.rules import Rule

POOL_NAMES = {
    "village": "村(居)级骨灰堂合计",
    "town": "镇(街道)级骨灰堂合计",
    "county": "市/区级骨灰堂合计",
}


def years_to_exhaustion(
    free_niches: float, population: float, death_rate_per_1000: float, storage_share: float = 1.0
) -> float:
    """Years until ``free_niches`` are used up at a constant yearly demand.

    Parameters
    ----------
    free_niches
        Niches still free (total − used).
    population
        People served.
    death_rate_per_1000
        Crude death rate in ‰ (e.g. 3.1 for Xiamen 2017, seed 003 L124).
    storage_share
        Share of deaths deposited in a niche (0–1).

    Returns
    -------
    float
        Years; ``nan`` when the yearly demand is zero (not computable, never ``inf``).
        0 when every niche is taken.

    Raises
    ------
    SchemaError
        When an input is negative (more niches used than exist, a negative rate).
    """
    bad = [
        Problem(f"{what} must be ≥ 0, got {v!r}", column=what)
        for what, v in (
            ("free_niches", free_niches),
            ("population", population),
            ("death_rate_per_1000", death_rate_per_1000),
            ("storage_share", storage_share),
        )
        if v < 0
    ]
    if bad:
        raise SchemaError("columbarium capacity", bad)
    demand = population * death_rate_per_1000 / 1000.0 * storage_share
    return float(free_niches / demand) if demand > 0 else float("nan")


def _service_areas(fac: pd.DataFrame, ctx: Inputs) -> pd.DataFrame:
    """Level and code of the unit each columbarium serves, and whether its location decided.

    ``service_area_code``, then ``admin_code``; a code that names no unit and is not the
    county's (e.g. blank) falls back to the village, else the town, the point lies in.
    """
    raw = pd.Series(None, index=fac.index, dtype=object)
    for col in ("service_area_code", "admin_code"):
        if col in fac.columns:
            raw = raw.where(raw.notna(), codes_text(fac[col]))
    villages = set(units_at_level(ctx.admin_units, "village").index)
    towns = set(units_at_level(ctx.admin_units, "town").index)
    county = ctx.county_code
    level = pd.Series(
        np.where(raw.isin(villages), "village", np.where(raw.isin(towns), "town", "")),
        index=fac.index,
        dtype=object,
    )
    is_county = raw.map(
        lambda c: c is not None and c.startswith(county) and not c[len(county) :].strip("0")
    )
    level[(level == "") & is_county] = "county"
    code = raw.where(level != "county", county)
    located = level == ""
    for lv, units in (("village", villages), ("town", towns)):
        todo = level == ""
        if todo.any() and units:
            found = assign_to_level(fac.loc[todo], ctx.admin_units, lv)
            hit = found.notna()
            level.loc[hit[hit].index] = lv
            code.loc[hit[hit].index] = found[hit]
    rest = level == ""
    level[rest], code[rest] = "county", county
    return pd.DataFrame({"level": level, "code": code.astype(object), "located": located})


def columbarium_rows(rule: Rule, ctx: Inputs, threshold: float, year: int | None) -> list[dict]:
    """Rows of the ``columbarium_years`` family: one per service area, one per pool."""
    p = rule.params
    rate, share = float(p["death_rate_per_1000"]), float(p.get("storage_share", 1.0))
    fac = filter_facilities(
        ctx.facilities,
        p.get("facility_types", ["columbarium"]),
        p.get("statuses", DEFAULT_STATUSES),
    )
    base = dict(threshold=threshold, target_year=year, shortfall_unit="格位")
    if fac.empty:
        return [
            result_row(
                rule,
                "county",
                ctx.county_code,
                COUNTY_NAME,
                status=NOT_COMPUTABLE,
                reason="没有骨灰堂设施",
                **base,
            )
        ]
    areas = _service_areas(fac, ctx)
    missing_cols = [c for c in ("niches_total", "niches_used") if c not in fac.columns]
    free = (
        pd.to_numeric(fac["niches_total"], errors="coerce")
        - pd.to_numeric(fac["niches_used"], errors="coerce")
        if not missing_cols
        else pd.Series(np.nan, index=fac.index)
    )
    pops = _populations(ctx, p.get("quantity", "pop"))
    rows, pool_acc = [], {}
    for (level, code), idx in areas.groupby(["level", "code"]).groups.items():
        q = pops.get(level)
        name = COUNTY_NAME if level == "county" else _unit_name(ctx, level, code)
        fields = _fields(q)
        pop = np.nan if q is None else float(q.values.get(code, np.nan))
        f = free.loc[idx]
        k = int(areas.loc[idx, "located"].sum())
        reason = _problem(missing_cols, f, q, pop, rate, share)
        if reason:
            rows.append(
                result_row(
                    rule, level, code, name, status=NOT_COMPUTABLE, reason=reason, **base, **fields
                )
            )
            pool_acc.setdefault(level, []).append(None)
            continue
        demand = pop * rate / 1000.0 * share
        rows.append(
            _emit(
                rule,
                level,
                code,
                name,
                float(f.sum()),
                pop,
                demand,
                threshold,
                base,
                fields,
                f"{len(idx)} 处" + (f"(其中 {k} 处无服务区代码,按位置归入)" if k else ""),
            )
        )
        pool_acc.setdefault(level, []).append((float(f.sum()), pop, demand))
    for level, parts in pool_acc.items():
        code = f"pool:{level}"
        fields = _fields(pops.get(level), " (池内各服务区合计)")
        if any(part is None for part in parts):
            rows.append(
                result_row(
                    rule,
                    "county",
                    code,
                    POOL_NAMES[level],
                    status=NOT_COMPUTABLE,
                    reason="池内有服务区无法计算,合计不成立",
                    **base,
                    **fields,
                )
            )
            continue
        f_sum, pop_sum, dem_sum = (sum(x[i] for x in parts) for i in range(3))
        rows.append(
            _emit(
                rule,
                "county",
                code,
                POOL_NAMES[level],
                f_sum,
                pop_sum,
                dem_sum,
                threshold,
                base,
                fields,
                f"{len(parts)} 个服务区",
            )
        )
    return rows


def _problem(missing_cols, free, q, pop, rate, share) -> str:
    if missing_cols:
        return f"设施图层缺少 {missing_cols} 列"
    if free.isna().any():
        return f"{int(free.isna().sum())} 处骨灰堂缺少格位总数或已用数,不能按 0 计"
    if (free < 0).any():
        return "已用格位多于总格位,数据有误"
    if q is None:
        return "缺少服务人口数据"
    if pd.isna(pop):
        return "服务区人口缺失"
    if pop * rate * share <= 0:
        return "服务区年死亡(寄存)数为 0,年限无法计算"
    return ""


def _emit(rule, level, code, name, free, pop, demand, threshold, base, fields, count: str) -> dict:
    years = free / demand
    return result_row(
        rule,
        level,
        code,
        name,
        value=years,
        numerator=free,
        denominator=pop,
        status=judge(rule, years, threshold),
        shortfall=shortfall_amount(free, threshold * demand, rule.comparator, True),
        detail=f"{count}; 空余格位 {free:,.0f}; 年需求 {demand:,.1f}",
        **base,
        **fields,
    )


def _fields(q, suffix: str = "") -> dict[str, str]:
    if q is None:
        return {}
    return {
        "denominator_name": q.label,
        "denominator_source": q.source + suffix,
        "denominator_year": q.year,
    }


def _unit_name(ctx: Inputs, level: str, code: str) -> str:
    units = units_at_level(ctx.admin_units, level)
    return str(units.at[code, "name"]) if code in units.index else str(code)


def _populations(ctx: Inputs, name: str) -> dict:
    out = {}
    for level in ("village", "town"):
        units = units_at_level(ctx.admin_units, level)
        out[level] = ctx.quantity(name, units)
    town_q = out["town"]
    if town_q is not None and town_q.values.notna().all():
        total = pd.Series([town_q.values.sum()], index=[ctx.county_code])
        out["county"] = type(town_q)(
            town_q.name, total, town_q.source + " (各镇街合计)", town_q.year
        )
    else:
        out["county"] = None
    return out
