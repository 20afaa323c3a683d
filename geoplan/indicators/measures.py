"""Plan indicators computed from the study layers (facilities, admin units, population).

Each measure returns a :class:`Measurement` for the whole study area: the value, its
numerator and denominator, and where the denominator came from (layer metadata or an
explicit table). :func:`observations_from_layers` fills a registry's observations for the
indicators whose ``measure`` names one of :data:`MEASURES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd

from geoplan.indicators.registry import Observation, Registry
from geoplan.standards.aggregate import (
    assign_to_level,
    filter_facilities,
    quantity_by_unit,
    sum_by_unit,
    top_level,
    units_at_level,
)

COMMUNITY_SERVICE_TYPES = (
    "community_center",
    "elderly_station",
    "day_care_center",
    "care_center",
    "children_home",
    "social_work_station",
    "senior_canteen",
)
BED_TYPES = ("nursing_home", "care_center", "day_care_center", "elderly_station")
INSTITUTION_TYPES = ("nursing_home",)


@dataclass(frozen=True)
class Measurement:
    """A study-wide value with its numerator, denominator and the denominator's source."""

    value: float | None
    numerator: float
    denominator: float
    unit: str
    source: str
    note: str = ""


def _facility_total(admin_units, facilities, types, column, statuses) -> tuple[float, int]:
    """Sum ``column`` over facilities inside the study's units; count rows lacking it."""
    fac = filter_facilities(facilities, types, statuses).reset_index(drop=True)
    codes = assign_to_level(fac, admin_units, top_level(admin_units))
    total, missing, skipped = sum_by_unit(fac, codes, column)
    if len(fac) and set(skipped) >= set(fac["facility_type"]):  # none of them records the column
        return 0.0, len(fac)
    return float(total.sum()), int(missing.sum())


def _town_total(admin_units, name, population, denominators):
    """Sum a denominator over the towns (over the villages when the layer has no towns)."""
    level = top_level(admin_units)
    units = units_at_level(admin_units, level)
    where = "各镇街合计" if level == "town" else "各村社合计"
    q = quantity_by_unit(
        name, units, population=population, denominators=denominators, admin_units=admin_units
    )
    if len(units) == 0 or q is None or q.values.isna().any():
        return None, f"缺少 {name} ({where})"
    return float(q.values.sum()), f"{q.source}; 年份 {q.year}; {where}"


def _ratio(
    admin_units,
    facilities,
    *,
    types,
    column,
    quantity,
    per,
    unit,
    population,
    denominators,
    statuses,
):
    num, missing = _facility_total(admin_units, facilities, types, column, statuses)
    den, source = _town_total(admin_units, quantity, population, denominators)
    if missing:
        return Measurement(
            None, num, np.nan, unit, source or "", f"{missing} 处设施缺少 {column},不能按 0 计"
        )
    if den is None or den == 0:
        return Measurement(
            None, num, np.nan if den is None else 0.0, unit, source, "分母缺失或为 0"
        )
    return Measurement(num / den * per, num, den, unit, source)


def floor_area_per_100_households(
    admin_units: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    population: gpd.GeoDataFrame | None = None,
    denominators: pd.DataFrame | None = None,
    facility_types: tuple[str, ...] = COMMUNITY_SERVICE_TYPES,
    statuses: tuple[str, ...] = ("existing",),
) -> Measurement:
    """每百户居民拥有的社区服务设施建筑面积: facility ``floor_area_m2`` per 100 households (m²)."""
    return _ratio(
        admin_units,
        facilities,
        types=facility_types,
        column="floor_area_m2",
        quantity="households",
        per=100,
        unit="m²/百户",
        population=population,
        denominators=denominators,
        statuses=statuses,
    )


def beds_per_1000_elderly(
    admin_units: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    population: gpd.GeoDataFrame | None = None,
    denominators: pd.DataFrame | None = None,
    facility_types: tuple[str, ...] = BED_TYPES,
    column: str = "beds",
    statuses: tuple[str, ...] = ("existing",),
) -> Measurement:
    """Beds (or ``column='nursing_beds'``) per 1,000 people aged 60+ (张/千名老年人)."""
    return _ratio(
        admin_units,
        facilities,
        types=facility_types,
        column=column,
        quantity="pop_60plus",
        per=1000,
        unit="张/千名老年人",
        population=population,
        denominators=denominators,
        statuses=statuses,
    )


def nursing_bed_share(
    admin_units: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    facility_types: tuple[str, ...] = INSTITUTION_TYPES,
    statuses: tuple[str, ...] = ("existing",),
) -> Measurement:
    """护理型床位占比 = nursing beds ÷ all beds of institutions × 100 (Jinjiang L777)."""
    nursing, miss_n = _facility_total(
        admin_units, facilities, facility_types, "nursing_beds", statuses
    )
    beds, miss_b = _facility_total(admin_units, facilities, facility_types, "beds", statuses)
    source = f"设施图层 {'/'.join(facility_types)} 的 beds"
    if miss_n or miss_b:
        return Measurement(None, nursing, beds, "%", source, "有机构缺少 beds 或 nursing_beds")
    if beds == 0:
        return Measurement(None, nursing, 0.0, "%", source, "机构床位为 0")
    return Measurement(100.0 * nursing / beds, nursing, beds, "%", source)


def unit_coverage_share(
    admin_units: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    facility_types: tuple[str, ...],
    level: str,
    statuses: tuple[str, ...] = ("existing",),
) -> Measurement:
    """Share (%) of units of ``level`` with at least one facility of ``facility_types``.

    Coverage here means presence inside the unit, not a walking-time catchment.
    """
    units = units_at_level(admin_units, level)
    if len(units) == 0:
        return Measurement(None, 0.0, 0.0, "%", f"行政区划图层 {level} 级单元", "没有该级单元")
    fac = filter_facilities(facilities, facility_types, statuses).reset_index(drop=True)
    codes = set(assign_to_level(fac, admin_units, level).dropna()) if len(fac) else set()
    k = int(units.index.isin(codes).sum())
    return Measurement(
        100.0 * k / len(units), float(k), float(len(units)), "%", f"行政区划图层 {level} 级单元数"
    )


MEASURES: dict[str, Callable[..., Measurement]] = {
    "community_service_area_per_100hh": floor_area_per_100_households,
    "beds_per_1000_elderly": beds_per_1000_elderly,
    "nursing_beds_per_1000_elderly": lambda a, f, **kw: beds_per_1000_elderly(
        a, f, facility_types=INSTITUTION_TYPES, column="nursing_beds", **kw
    ),
    "nursing_bed_share": lambda a, f, **kw: nursing_bed_share(a, f),
    "comprehensive_care_town_coverage": lambda a, f, **kw: unit_coverage_share(
        a, f, facility_types=("care_center",), level="town"
    ),
    "social_work_station_town_coverage": lambda a, f, **kw: unit_coverage_share(
        a, f, facility_types=("social_work_station",), level="town"
    ),
    "minor_protection_town_coverage": lambda a, f, **kw: unit_coverage_share(
        a, f, facility_types=("minor_protection_station",), level="town"
    ),
    "children_home_coverage": lambda a, f, **kw: unit_coverage_share(
        a, f, facility_types=("children_home",), level="village"
    ),
    "burial_facility_coverage": lambda a, f, **kw: unit_coverage_share(
        a, f, facility_types=("columbarium",), level="village"
    ),
}


def observations_from_layers(
    registry: Registry,
    admin_units: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    as_of: date,
    population: gpd.GeoDataFrame | None = None,
    denominators: pd.DataFrame | None = None,
) -> tuple[dict[str, Observation], pd.DataFrame]:
    """Observations for every registry indicator that has a spatial ``measure``.

    Returns
    -------
    observations
        Indicator id → :class:`Observation` (value ``None`` when not computable).
    measurements
        One row per computed indicator: value, numerator, denominator, unit, source, note.
    """
    obs, rows = {}, []
    for ind in registry.indicators:
        fn = MEASURES.get(ind.measure)
        if fn is None:
            continue
        m = fn(admin_units, facilities, population=population, denominators=denominators)
        src = f"由空间数据计算: {m.source}" + (f"; {m.note}" if m.note else "")
        obs[ind.id] = Observation(ind.id, m.value, as_of, source=src)
        rows.append(
            {
                "id": ind.id,
                "name_zh": ind.name_zh,
                "measure": ind.measure,
                "value": m.value,
                "numerator": m.numerator,
                "denominator": m.denominator,
                "unit": m.unit,
                "source": m.source,
                "note": m.note,
            }
        )
    return obs, pd.DataFrame(rows)
