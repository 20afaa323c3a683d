"""Evaluate planning rules per admin unit: value, threshold, pass/fail, shortfall, denominator, clause.

Each rule family has one function here. All of them return plain row dicts with the
columns in :data:`RESULT_COLUMNS`; :func:`evaluate_standards` stacks them into one tidy
DataFrame (one row per unit × rule) and :func:`compliance_gdf` adds unit geometry for maps.
A row that cannot be computed (no households, no staff table, a missing capacity value)
says so in ``status = "not_computable"`` and ``reason``; it is never a silent zero.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd

from geoplan.standards.aggregate import (
    Quantity,
    assign_to_level,
    filter_facilities,
    quantity_by_unit,
    staff_count_by_unit,
    sum_by_unit,
    units_at_level,
)
from geoplan.standards.rules import Profile, Rule

logger = logging.getLogger(__name__)

PASS, FAIL, NOT_COMPUTABLE = "pass", "fail", "not_computable"
STATUS_ZH = {PASS: "达标", FAIL: "未达标", NOT_COMPUTABLE: "无法计算"}
RESULT_COLUMNS = [
    "profile", "rule_id", "family", "name_zh", "level", "unit_code", "unit_name",
    "value", "comparator", "threshold", "measure_unit", "target_year", "status", "passed",
    "shortfall", "shortfall_unit", "numerator", "denominator", "denominator_name",
    "denominator_source", "denominator_year", "detail", "reason", "note", "clause",
]  # fmt: skip
DEFAULT_STATUSES = ("existing",)
COUNTY_NAME = "全域"


@dataclass(frozen=True)
class _Inputs:
    admin_units: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    population: gpd.GeoDataFrame | None
    staff: pd.DataFrame | None
    denominators: pd.DataFrame | None
    county_code: str


def meets(value: float, comparator: str, threshold: float) -> bool:
    """Whether ``value <comparator> threshold`` holds (``>=``, ``>``, ``<=``, ``<``)."""
    return {
        ">=": value >= threshold,
        ">": value > threshold,
        "<=": value <= threshold,
        "<": value < threshold,
    }[comparator]


def shortfall_amount(current: float, required: float, comparator: str, whole: bool) -> float:
    """How much ``current`` must change (up for ``>=``/``>``, down for ``<=``/``<``) to pass.

    With ``whole=True`` the answer is a whole number of things (beds, staff, sites):
    ``> 0.6 × 50 = 30`` needs 31 nursing beds, not 30.
    """
    if comparator in (">=", ">"):
        target = required
        if whole:
            target = math.floor(required) + 1 if comparator == ">" else math.ceil(required - 1e-9)
        gap = target - current
    else:
        target = required
        if whole:
            target = math.ceil(required) - 1 if comparator == "<" else math.floor(required + 1e-9)
        gap = current - target
    return max(0.0, float(gap))


def _row(rule: Rule, level: str, code: str, name: str, **kw: object) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(RESULT_COLUMNS, np.nan)
    row.update(
        profile=rule.profile, rule_id=rule.id, family=rule.family, name_zh=rule.name_zh,
        level=level, unit_code=code, unit_name=name, comparator=rule.comparator,
        measure_unit=rule.unit, clause=rule.citation(), note=rule.data_quality_note,
        detail="", reason="", denominator_name="", denominator_source="", denominator_year="",
        shortfall_unit=rule.params.get("shortfall_unit", ""),
    )  # fmt: skip
    row.update(kw)
    status = row.get("status")
    row["passed"] = {PASS: True, FAIL: False}.get(str(status), pd.NA)
    return row


def _judge(rule: Rule, value: float, threshold: float) -> str:
    return PASS if meets(value, rule.comparator, threshold) else FAIL


def _units(ctx: _Inputs, rule: Rule, level: str) -> tuple[gpd.GeoDataFrame, str]:
    """Units of ``level`` that the rule applies to, and a reason when the filter cannot run."""
    units = units_at_level(ctx.admin_units, level)
    filt = rule.params.get("unit_filter")
    if not filt:
        return units, ""
    col = filt["column"]
    if col not in units.columns:
        return units, f"行政区划图层缺少 {col!r} 列,无法判断本条适用范围"
    allowed = filt.get("in", [filt.get("equals")])
    return units.loc[units[col].isin(allowed)], ""


def _quantity_row_fields(q: Quantity | None) -> dict[str, object]:
    if q is None:
        return {}
    return {"denominator_name": q.label, "denominator_source": q.source, "denominator_year": q.year}


# ---------------------------------------------------------------- ratio family


def _side_by_unit(ctx: _Inputs, spec: dict, level_units: gpd.GeoDataFrame, level: str):
    """Per-unit values of one side of a ratio, missing-value counts, and a Quantity or label."""
    if spec["source"] == "quantity":
        q = quantity_by_unit(
            spec["name"], level_units, population=ctx.population, denominators=ctx.denominators
        )
        return (None, None, None) if q is None else (q.values, None, q)
    if spec["source"] == "staff":
        if ctx.staff is None:
            return None, None, None
        codes = assign_to_level(ctx.staff, ctx.admin_units, level)
        vals = staff_count_by_unit(ctx.staff, codes, spec["role"]).reindex(level_units.index)
        return vals.fillna(0.0), None, f"人员表 role={spec['role']}"
    fac = filter_facilities(ctx.facilities, spec["types"], spec.get("statuses", DEFAULT_STATUSES))
    codes = assign_to_level(fac, ctx.admin_units, level)
    total, missing = sum_by_unit(fac, codes, spec["column"])
    label = f"设施 {'/'.join(spec['types'])} 的 {spec['column']}"
    return total.reindex(level_units.index).fillna(0.0), missing.reindex(level_units.index).fillna(0), label


def _ratio_rows(rule: Rule, ctx: _Inputs, threshold: float, year: int | None) -> list[dict]:
    rows: list[dict] = []
    per = float(rule.params["per"])
    num_spec, den_spec = rule.params["numerator"], rule.params["denominator"]
    whole = rule.counts_whole_units
    for level in ("town", "village"):
        if level not in rule.levels and not (level == "town" and "county" in rule.levels):
            continue
        units, why = _units(ctx, rule, level)
        num, num_missing, num_q = _side_by_unit(ctx, num_spec, units, level)
        den, den_missing, den_q = _side_by_unit(ctx, den_spec, units, level)
        frames = [(units.index, units["name"], level)] if level in rule.levels else []
        if level == "town" and "county" in rule.levels:
            frames.append((None, None, "county"))
        for index, names, out_level in frames:
            rows += _ratio_emit(
                rule, out_level, index, names, ctx.county_code, threshold, year, per, whole,
                (num, num_missing, num_q), (den, den_missing, den_q), why,
            )  # fmt: skip
    return rows


def _ratio_emit(rule, level, index, names, county_code, threshold, year, per, whole, num_side, den_side, why):
    num, num_missing, num_q = num_side
    den, den_missing, den_q = den_side
    if index is None:  # whole study area = sum over towns
        index = pd.Index([county_code])
        names = pd.Series([COUNTY_NAME], index=index)
        num = None if num is None else pd.Series([num.sum(min_count=1) if num.notna().all() else np.nan], index=index)
        den = None if den is None else pd.Series([den.sum(min_count=1) if den.notna().all() else np.nan], index=index)
        num_missing = None if num_missing is None else pd.Series([num_missing.sum()], index=index)
        den_missing = None if den_missing is None else pd.Series([den_missing.sum()], index=index)
    out = []
    den_label = den_q.label if isinstance(den_q, Quantity) else (den_q or "")
    extra = _quantity_row_fields(den_q if isinstance(den_q, Quantity) else None)
    extra.setdefault("denominator_name", den_label)
    if not isinstance(den_q, Quantity) and den_q:
        extra["denominator_source"] = den_q
    for code in index:
        base = dict(threshold=threshold, target_year=year, **extra)
        reason = why or _ratio_problem(rule, code, num, num_missing, den, den_missing)
        if reason:
            out.append(_row(rule, level, code, names[code], status=NOT_COMPUTABLE, reason=reason, **base))
            continue
        n, d = float(num[code]), float(den[code])
        value = n / d * per
        required = threshold * d / per
        out.append(
            _row(
                rule, level, code, names[code], value=value, numerator=n, denominator=d,
                status=_judge(rule, value, threshold),
                shortfall=shortfall_amount(n, required, rule.comparator, whole), **base,
            )
        )  # fmt: skip
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
            " (未提供人员表)" if side["source"] == "staff" else " (分母表、行政区划图层和人口图层均无此列)"
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


# ---------------------------------------------------------------- site minimum


def _site_rows(rule: Rule, ctx: _Inputs, threshold: float, year: int | None) -> list[dict]:
    rows: list[dict] = []
    column = rule.params["column"]
    fac = filter_facilities(ctx.facilities, rule.params["facility_types"], rule.params.get("statuses", DEFAULT_STATUSES))
    for level in rule.levels:
        units, why = _units(ctx, rule, level)
        codes = assign_to_level(fac, ctx.admin_units, level) if len(fac) else pd.Series(dtype=object)
        for code, name in units["name"].items():
            here = fac.loc[codes == code] if len(fac) else fac
            base = dict(threshold=threshold, target_year=year)
            if why or len(here) == 0 or column not in here.columns or here[column].isna().any():
                reason = why or ("单元内无此类设施" if len(here) == 0 else f"有设施缺少 {column} 数值")
                rows.append(_row(rule, level, code, name, status=NOT_COMPUTABLE, reason=reason, **base))
                continue
            vals = pd.to_numeric(here[column])
            bad = vals[[not meets(v, rule.comparator, threshold) for v in vals]]
            names = here["name"] if "name" in here.columns else pd.Series(here.index, index=here.index)
            detail = "; ".join(f"{names[i]} {vals[i]:g}" for i in bad.index)
            gap = float(sum(shortfall_amount(v, threshold, rule.comparator, False) for v in bad))
            rows.append(
                _row(
                    rule, level, code, name, value=float(vals.min()), numerator=float(len(bad)),
                    denominator=float(len(vals)), denominator_name="设施处数",
                    status=PASS if bad.empty else FAIL, shortfall=gap,
                    detail=f"{len(bad)}/{len(vals)} 处不达标" + (f": {detail}" if detail else ""), **base,
                )
            )  # fmt: skip
    return rows


# ---------------------------------------------------------------- presence and coverage


def _presence_rows(rule: Rule, ctx: _Inputs, threshold: float, year: int | None) -> list[dict]:
    rows: list[dict] = []
    fac = filter_facilities(ctx.facilities, rule.params["facility_types"], rule.params.get("statuses", DEFAULT_STATUSES))
    alt_role = rule.params.get("alternative_staff_role")
    for level in rule.levels:
        units, why = _units(ctx, rule, level)
        counts = assign_to_level(fac, ctx.admin_units, level).value_counts() if len(fac) else pd.Series(dtype=float)
        staff_n = pd.Series(dtype=float)
        if alt_role and ctx.staff is not None:
            staff_n = staff_count_by_unit(ctx.staff, assign_to_level(ctx.staff, ctx.admin_units, level), alt_role)
        for code, name in units["name"].items():
            n = float(counts.get(code, 0))
            base = dict(threshold=threshold, target_year=year, denominator_name="设施处数")
            if why:
                rows.append(_row(rule, level, code, name, status=NOT_COMPUTABLE, reason=why, **base))
                continue
            status = _judge(rule, n, threshold)
            detail = ""
            if status == FAIL and alt_role:
                if ctx.staff is None:
                    rows.append(_row(rule, level, code, name, value=n, status=NOT_COMPUTABLE,
                                     reason=f"无站点; 未提供人员表,无法核对替代人员 {alt_role}", **base))  # fmt: skip
                    continue
                k = float(staff_n.get(code, 0))
                if k >= 1:
                    status, detail = PASS, f"无站点,以指定人员 {alt_role} {k:g} 名满足"
            short = 0.0 if status == PASS else shortfall_amount(n, threshold, rule.comparator, True)
            rows.append(_row(rule, level, code, name, value=n, status=status, shortfall=short, detail=detail, **base))
    return rows


def _coverage_rows(rule: Rule, ctx: _Inputs, threshold: float, year: int | None) -> list[dict]:
    of_level = rule.params.get("of_level", "village")
    units, why = _units(ctx, rule, of_level)
    fac = filter_facilities(ctx.facilities, rule.params["facility_types"], rule.params.get("statuses", DEFAULT_STATUSES))
    base = dict(threshold=threshold, target_year=year, denominator_name=f"{of_level} 单元数")
    if why or len(units) == 0:
        reason = why or f"没有 {of_level} 级单元,覆盖率无法计算"
        return [_row(rule, "county", ctx.county_code, COUNTY_NAME, status=NOT_COMPUTABLE, reason=reason, **base)]
    codes = assign_to_level(fac, ctx.admin_units, of_level) if len(fac) else pd.Series(dtype=object)
    covered = units.index.isin(set(codes.dropna()))
    n, k = len(units), int(covered.sum())
    value = 100.0 * k / n
    uncovered = list(units.loc[~covered, "name"])
    need = shortfall_amount(k, threshold * n / 100.0, rule.comparator, True)
    detail = f"{k}/{n} 覆盖" + (f"; 未覆盖: {'、'.join(map(str, uncovered[:30]))}" if uncovered else "")
    if len(uncovered) > 30:
        detail += f" 等 {len(uncovered)} 个"
    return [
        _row(rule, "county", ctx.county_code, COUNTY_NAME, value=value, numerator=float(k),
             denominator=float(n), status=_judge(rule, value, threshold), shortfall=need,
             detail=detail, **base)
    ]  # fmt: skip


# ---------------------------------------------------------------- staffing brackets


def required_staff(population: float, brackets: list[dict]) -> int:
    """Staff required for a population: the first bracket whose ``below`` exceeds it."""
    for b in brackets:
        if population < float(b["below"]):
            return int(b["staff"])
    return int(brackets[-1]["staff"])


def _bracket_rows(rule: Rule, ctx: _Inputs, _threshold: object, year: int | None) -> list[dict]:
    rows: list[dict] = []
    brackets = rule.params["brackets"]
    for level in rule.levels:
        units, why = _units(ctx, rule, level)
        q = quantity_by_unit(rule.params["denominator"], units, population=ctx.population, denominators=ctx.denominators)
        have = None
        if ctx.staff is not None:
            have = staff_count_by_unit(ctx.staff, assign_to_level(ctx.staff, ctx.admin_units, level), rule.params["role"])
        for code, name in units["name"].items():
            fields = _quantity_row_fields(q)
            pop = np.nan if q is None else q.values.get(code, np.nan)
            reason = why or ("" if q is not None else f"缺少分母数据: {rule.params['denominator']}")
            if not reason and pd.isna(pop):
                reason = "该单元人口数缺失"
            if not reason and have is None:
                reason = "未提供人员表,无法核对配备人数"
            if reason:
                rows.append(_row(rule, level, code, name, status=NOT_COMPUTABLE, reason=reason, target_year=year, **fields))
                continue
            need = required_staff(float(pop), brackets)
            n = float(have.get(code, 0))
            rows.append(
                _row(rule, level, code, name, value=n, threshold=float(need), denominator=float(pop),
                     status=PASS if n >= need else FAIL, shortfall=max(0.0, need - n),
                     detail=f"人口 {float(pop):,.0f} → 至少 {need} 名", target_year=year, **fields)
            )  # fmt: skip
    return rows


# ---------------------------------------------------------------- registry and entry points

_FAMILY_FUNCS = {
    "ratio": _ratio_rows,
    "site_minimum": _site_rows,
    "presence": _presence_rows,
    "coverage_share": _coverage_rows,
    "staffing_brackets": _bracket_rows,
}


def _county_code(admin_units: gpd.GeoDataFrame) -> str:
    if "parent_code" in admin_units.columns:
        parents = admin_units.loc[admin_units["level"] == "town", "parent_code"].dropna().astype(str).unique()
        if len(parents) == 1:
            return str(parents[0])
    return "ALL"


def evaluate_standards(
    profile: Profile,
    admin_units: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    population: gpd.GeoDataFrame | None = None,
    staff: pd.DataFrame | None = None,
    denominators: pd.DataFrame | None = None,
    reference_date: date | None = None,
) -> pd.DataFrame:
    """Check every rule of ``profile`` on every admin unit it applies to.

    Parameters
    ----------
    profile
        Rules from :func:`geoplan.standards.load_profile`.
    admin_units
        Towns and villages (``code``, ``name``, ``level``, ``parent_code``, optional
        ``households``/``kind``/``development``), metric CRS.
    facilities
        Facility points (``type``, ``status``, capacity columns, ``admin_code``).
    population
        Optional population grid (``pop``, ``households``, ``pop_60plus`` …) whose
        ``attrs`` record source and year; used for denominators the units lack.
    staff
        Optional staff table (``admin_code``, ``role``, optional ``count``).
    denominators
        Optional explicit denominator table indexed by unit code; its ``attrs``
        (``sources`` per column, or ``source``/``year``) name the source. Preferred
        over every other denominator source.
    reference_date
        Date of the check; picks the yearly threshold of rules that have one.

    Returns
    -------
    pandas.DataFrame
        One row per unit × rule, columns :data:`RESULT_COLUMNS`. ``status`` is
        ``"pass"``, ``"fail"`` or ``"not_computable"`` (with ``reason``).

    Raises
    ------
    CRSError
        When layers that must be joined spatially are in different CRSs.
    SchemaError
        When the admin units lack ``code``, ``name`` or ``level``.
    """
    from geoplan.standards.columbarium import columbarium_rows

    funcs = {**_FAMILY_FUNCS, "columbarium_years": columbarium_rows}
    ctx = _Inputs(admin_units, facilities, population, staff, denominators, _county_code(admin_units))
    year = reference_date.year if reference_date is not None else None
    rows: list[dict] = []
    for rule in profile.rules:
        threshold, target_year = rule.threshold_for(year)
        rows += funcs[rule.family](rule, ctx, threshold, target_year)
    out = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    out["passed"] = out["passed"].astype("boolean")
    logger.info(
        "profile %s: %d checks, %d fail, %d not computable", profile.name, len(out),
        int((out["status"] == FAIL).sum()), int((out["status"] == NOT_COMPUTABLE).sum()),
    )  # fmt: skip
    return out


def compliance_gdf(results: pd.DataFrame, admin_units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The tidy results with each unit's polygon (whole-area rows get the union of towns).

    Rows whose ``unit_code`` is not an admin unit (e.g. columbarium pools) get the
    union of the towns as well, so every row can be drawn.
    """
    geoms = pd.Series(admin_units.geometry.to_numpy(), index=admin_units["code"].astype(str).to_numpy())
    geoms = geoms[~geoms.index.duplicated(keep="first")]
    towns = admin_units.loc[admin_units["level"] == "town"]
    whole = towns.geometry.union_all() if len(towns) else admin_units.geometry.union_all()
    geometry = [geoms.get(str(c), whole) for c in results["unit_code"]]
    return gpd.GeoDataFrame(results.copy(), geometry=geometry, crs=admin_units.crs)
