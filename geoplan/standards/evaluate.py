"""Evaluate planning rules per admin unit: value, threshold, pass/fail, shortfall, clause.

Each rule family has one function here. All of them return plain row dicts with the
columns in :data:`RESULT_COLUMNS`; :func:`evaluate_standards` stacks them into one tidy
DataFrame (one row per unit × rule) and :func:`compliance_gdf` adds unit geometry for maps.
A row that cannot be computed (no households, no staff table, a missing capacity value)
says so in ``status = "not_computable"`` and ``reason``; it is never a silent zero.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import date, datetime

import geopandas as gpd
import pandas as pd

from geoplan._text import codes_text
from geoplan.errors import StudyConfigError
from geoplan.standards._core import (
    COUNTY_NAME,
    FAIL,
    NOT_COMPUTABLE,
    PASS,
    RESULT_COLUMNS,
    STATUS_ZH,
    Inputs,
    meets,
    result_row,
    shortfall_amount,
)
from geoplan.standards.aggregate import check_tables, level_key, units_at_level
from geoplan.standards.columbarium import columbarium_rows
from geoplan.standards.counts import (
    bracket_rows,
    coverage_rows,
    presence_rows,
    required_staff,
    site_rows,
)
from geoplan.standards.ratio import ratio_rows
from geoplan.standards.rules import Profile, Rule

__all__ = [
    "FAIL",
    "NOT_COMPUTABLE",
    "PASS",
    "RESULT_COLUMNS",
    "STATUS_ZH",
    "compliance_gdf",
    "evaluate_standards",
    "meets",
    "required_staff",
    "shortfall_amount",
]

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------- registry and entry points

_FAMILY_FUNCS = {
    "ratio": ratio_rows,
    "site_minimum": site_rows,
    "presence": presence_rows,
    "coverage_share": coverage_rows,
    "staffing_brackets": bracket_rows,
    "columbarium_years": columbarium_rows,
}


def _county_code(admin_units: gpd.GeoDataFrame) -> str:
    """Return the towns' common parent code, else the common 6-digit county prefix, else ALL."""
    if "parent_code" in admin_units.columns:
        towns = admin_units["level"].map(level_key) == "town"
        parents = codes_text(admin_units.loc[towns, "parent_code"])
        parents = parents.dropna().unique()
        if len(parents) == 1:
            return str(parents[0])
    codes = codes_text(admin_units["code"]).dropna() if "code" in admin_units.columns else []
    prefixes = {c[:6] for c in codes if c.isdigit() and len(c) in (9, 12)}
    return prefixes.pop() if len(prefixes) == 1 and len(codes) else "ALL"


def _as_date(value: object) -> date | None:
    """``reference_date`` as a date (date, datetime, pandas Timestamp or ISO text)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return date.fromisoformat(value.strip()[:10])
    msg = f"reference_date must be a date such as 2023-12-31, got {value!r}"
    raise StudyConfigError(msg)


def _missing_level_rows(rule: Rule, ctx: Inputs, target_year: int | None) -> list[dict]:
    """One not-computable row per unit level the rule needs that the admin layer lacks."""
    if rule.family in ("coverage_share", "columbarium_years"):
        return []  # these report the missing level themselves
    rows = []
    for level in rule.levels:
        if level != "county" and len(units_at_level(ctx.admin_units, level)) == 0:
            rows.append(
                result_row(
                    rule,
                    "county",
                    ctx.county_code,
                    COUNTY_NAME,
                    status=NOT_COMPUTABLE,
                    target_year=target_year,
                    reason=f"行政区划图层没有 {level} 级单元,本条无法逐单元核查",
                )
            )
    return rows


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
        When the admin units lack ``code``, ``name`` or ``level`` or repeat a code, the
        facilities lack ``type``, or the staff table lacks ``role`` or a way to place rows.
    StudyConfigError
        When ``reference_date`` is not a date.
    """
    check_tables(facilities, staff)
    if not facilities.index.is_unique:  # rows are matched by index label below
        facilities = facilities.reset_index(drop=True)
    if staff is not None and not staff.index.is_unique:
        staff = staff.reset_index(drop=True)
    units_at_level(admin_units, "town")  # contract columns and unique codes, checked once
    units_at_level(admin_units, "village")
    ctx = Inputs(
        admin_units, facilities, population, staff, denominators, _county_code(admin_units)
    )
    ref = _as_date(reference_date)
    year = ref.year if ref is not None else None
    rows: list[dict] = []
    for rule in profile.rules:
        threshold, target_year = rule.threshold_for(year)
        rows += _FAMILY_FUNCS[rule.family](rule, ctx, threshold, target_year)
        rows += _missing_level_rows(rule, ctx, target_year)
    out = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    out["passed"] = out["passed"].astype("boolean")
    logger.info(
        "profile %s: %d checks, %d fail, %d not computable",
        profile.name,
        len(out),
        int((out["status"] == FAIL).sum()),
        int((out["status"] == NOT_COMPUTABLE).sum()),
    )
    return out


def compliance_gdf(results: pd.DataFrame, admin_units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Attach each unit's polygon to the tidy results (whole-area rows get the union of towns).

    Rows whose ``unit_code`` is not an admin unit (e.g. columbarium pools) get the
    union of the towns as well, so every row can be drawn.
    """
    geoms = pd.Series(
        admin_units.geometry.to_numpy(), index=codes_text(admin_units["code"]).to_numpy()
    )
    geoms = geoms[~geoms.index.duplicated(keep="first")]
    towns = admin_units.loc[admin_units["level"].map(level_key) == "town"]
    whole = towns.geometry.union_all() if len(towns) else admin_units.geometry.union_all()
    geometry = [geoms.get(str(c), whole) for c in results["unit_code"]]
    return gpd.GeoDataFrame(results.copy(), geometry=geometry, crs=admin_units.crs)
