"""Shared plumbing of the standards checks: result rows, comparisons, shortfalls, inputs."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from geoplan.standards.aggregate import (
    Quantity,
    assign_to_level,
    layer_provenance,
    quantity_by_unit,
    units_at_level,
)
from geoplan.standards.rules import Rule

logger = logging.getLogger(__name__)

PASS, FAIL, NOT_COMPUTABLE = "pass", "fail", "not_computable"
STATUS_ZH = {PASS: "达标", FAIL: "未达标", NOT_COMPUTABLE: "无法计算"}
RESULT_COLUMNS = [
    "profile",
    "rule_id",
    "family",
    "name_zh",
    "level",
    "unit_code",
    "unit_name",
    "value",
    "comparator",
    "threshold",
    "measure_unit",
    "target_year",
    "attribute",
    "base",
    "status",
    "passed",
    "shortfall",
    "shortfall_unit",
    "numerator",
    "denominator",
    "denominator_name",
    "denominator_source",
    "denominator_year",
    "detail",
    "reason",
    "note",
    "clause",
]
DEFAULT_STATUSES = ("existing",)
COUNTY_NAME = "全域"


@dataclass(frozen=True)
class Inputs:
    admin_units: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    population: gpd.GeoDataFrame | None
    staff: pd.DataFrame | None
    denominators: pd.DataFrame | None
    county_code: str
    cache: dict = field(default_factory=dict)

    def codes(self, which: str, level: str) -> pd.Series:
        """Return (cached) unit codes at ``level`` of every facility or staff row."""
        key = ("codes", which, level)
        if key not in self.cache:
            frame = self.facilities if which == "facilities" else self.staff
            codes = assign_to_level(frame, self.admin_units, level)
            if codes.isna().any():
                logger.warning(
                    "%d %s row(s) lie in no %s unit and are left out of the %s checks",
                    int(codes.isna().sum()),
                    which,
                    level,
                    level,
                )
            self.cache[key] = codes
        return self.cache[key]

    def quantity(self, name: str, units: gpd.GeoDataFrame) -> Quantity | None:
        """Return a (cached) denominator per unit, see :func:`quantity_by_unit`."""
        key = ("q", name, tuple(units.index))
        if key not in self.cache:
            self.cache[key] = quantity_by_unit(
                name,
                units,
                population=self.population,
                denominators=self.denominators,
                admin_units=self.admin_units,
            )
        return self.cache[key]


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


def result_row(rule: Rule, level: str, code: str, name: str, **kw: object) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(RESULT_COLUMNS, np.nan)
    row.update(
        profile=rule.profile,
        rule_id=rule.id,
        family=rule.family,
        name_zh=rule.name_zh,
        level=level,
        unit_code=code,
        unit_name=name,
        comparator=rule.comparator,
        measure_unit=rule.unit,
        clause=rule.citation(),
        attribute=rule.attribute,
        base=np.nan if rule.base is None else rule.base,
        note=rule.data_quality_note,
        detail="",
        reason="",
        denominator_name="",
        denominator_source="",
        denominator_year="",
        shortfall_unit=rule.params.get("shortfall_unit", ""),
    )
    row.update(kw)
    status = row.get("status")
    row["passed"] = {PASS: True, FAIL: False}.get(str(status), pd.NA)
    return row


def judge(rule: Rule, value: float, threshold: float) -> str:
    return PASS if meets(value, rule.comparator, threshold) else FAIL


def applicable_units(ctx: Inputs, rule: Rule, level: str) -> tuple[gpd.GeoDataFrame, str]:
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


def count_fields(layer: pd.DataFrame | None, name: str, what: str) -> dict[str, object]:
    """Denominator fields of a count (units of a level, sites of a type) taken from ``layer``."""
    source, year = layer_provenance(layer, what)
    return {"denominator_name": name, "denominator_source": source, "denominator_year": year}


def quantity_fields(q: Quantity | None) -> dict[str, object]:
    if q is None:
        return {}
    return {"denominator_name": q.label, "denominator_source": q.source, "denominator_year": q.year}
