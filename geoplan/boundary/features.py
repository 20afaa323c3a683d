"""Features across boundary lines: straddling footprints, facilities on the wrong side.

Settlements, parcels and project footprints cut by a boundary are the source of many disputes
(which side's permit, which side's services); a facility whose recorded ``admin_code`` names a
unit other than the one it stands in is counted by the wrong town in every statistic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geoplan._text import code_text
from geoplan.boundary.findings import (
    Tolerances,
    finding,
    findings_frame,
    fmt_m2,
    require_same_crs,
    tolerances_from,
)
from geoplan.boundary.topology import (
    code_key,
    line_code_by_pair,
    polygon_parts,
    unit_codes,
    unit_keys,
    unit_levels,
    valid_units,
)
from geoplan.crs import require_metric


def _ids(layer: gpd.GeoDataFrame, id_col: str | None) -> list[str]:
    """Feature ids: ``id_col`` when present, else the index."""
    if id_col and id_col in layer.columns:
        return [str(v) for v in layer[id_col]]
    return [str(v) for v in layer.index]


def check_straddling_features(
    features: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    id_col: str | None = "project_id",
    code_col: str = "code",
    lines: gpd.GeoDataFrame | None = None,
    tolerances: Tolerances | Mapping[str, float] | None = None,
) -> gpd.GeoDataFrame:
    """Return polygons that straddle a unit boundary (area on each side) as findings.

    Parameters
    ----------
    features
        Polygons (project footprints, settlements, parcels), metric CRS.
    units
        The units whose boundaries matter (towns), same CRS.
    id_col
        Column holding the feature id used as the finding's subject (index when absent).
    code_col
        Unit code column.
    lines
        Optional boundary lines; a straddle of two units gets their line's code.
    tolerances
        A feature straddles when at least ``straddle_min_m2`` lies in each of two units.

    Returns
    -------
    geopandas.GeoDataFrame
        ``feature_straddles`` findings; value = the area on the smaller side (m²), detail =
        the area in every unit, geometry = the footprint.
    """
    require_metric(features, "features")
    require_metric(units, "admin units")
    require_same_crs({"features": features, "admin units": units})
    tol = tolerances_from(tolerances)
    units, _ = valid_units(units, "admin units", code_col)
    codes = unit_codes(units, code_col)
    key_of = dict(zip(codes, unit_keys(units, code_col), strict=True))
    unit_geoms = np.asarray(units.geometry.values, dtype=object)
    tree = shapely.STRtree(unit_geoms)
    pair_line = line_code_by_pair(lines)
    records: list[dict[str, Any]] = []
    ids = _ids(features, id_col)
    for row, fid, geom in zip(features.index, ids, features.geometry.values, strict=True):
        if geom is None or geom.is_empty:
            continue
        if not geom.is_valid:
            geom = shapely.union_all(polygon_parts(shapely.make_valid(geom)))
        hits = tree.query(geom, predicate="intersects")
        areas = sorted(
            ((shapely.intersection(geom, unit_geoms[k]).area, codes[k]) for k in hits),
            key=lambda t: (-t[0], t[1]),
        )
        sides = [(a, c) for a, c in areas if a >= tol.straddle_min_m2]
        if len(sides) < 2:
            continue
        pair = frozenset(key_of[c] for _, c in sides[:2])
        text = "，".join(f"{c} {fmt_m2(a)}" for a, c in sides)
        records.append(
            finding(
                "feature_straddles",
                fid,
                f"跨 {len(sides)} 个政区：{text}",
                geometry=geom,
                line_code=pair_line.get(pair),
                units=tuple(sorted(c for _, c in sides[:2])),
                value=sides[1][0],
                tolerance=tol.straddle_min_m2,
                row=row,
            )
        )
    return findings_frame(records, features.crs)


def check_facility_admin_codes(
    facilities: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    id_col: str | None = "facility_id",
    code_col: str = "code",
) -> gpd.GeoDataFrame:
    """Return facilities whose ``admin_code`` disagrees with the unit they stand in.

    Codes are compared by their significant digits (:func:`~geoplan.boundary.topology.code_key`)
    and common prefix: a 12-digit village code matches the town (9 digits) or county (6
    digits, or 12 padded with zeros) it lies in, and a district code (6 digits) matches the
    district and its streets, so the check works with units of any level (several levels
    at once: the code must agree with the unit of every level) whatever level the
    facilities record. Codes read as numbers (``350582001.0``) are read as digits. A point on
    a shared edge or in an overlap may belong to any of the units containing it.

    Parameters
    ----------
    facilities
        Points with ``admin_code``, metric CRS.
    units
        Units (towns) with their code in ``code_col``, same CRS.
    id_col
        Column holding the facility id used as the subject (index when absent).
    code_col
        Unit code column.

    Returns
    -------
    geopandas.GeoDataFrame
        ``facility_admin_mismatch`` findings (geometry = the facility point).
    """
    require_metric(facilities, "facilities")
    require_metric(units, "admin units")
    require_same_crs({"facilities": facilities, "admin units": units})
    units, _ = valid_units(units, "admin units", code_col)
    codes = unit_codes(units, code_col)
    keys = unit_keys(units, code_col)
    levels = unit_levels(units, code_col)
    unit_geoms = np.asarray(units.geometry.values, dtype=object)
    tree = shapely.STRtree(unit_geoms)
    names = units["name"].astype(str).tolist() if "name" in units.columns else list(codes)
    name_of = dict(zip(codes, names, strict=True))
    records: list[dict[str, Any]] = []
    recorded_codes = facilities["admin_code"] if "admin_code" in facilities.columns else None
    for k, (row, fid, geom) in enumerate(
        zip(facilities.index, _ids(facilities, id_col), facilities.geometry.values, strict=True)
    ):
        if geom is None or geom.is_empty:
            continue
        recorded = None if recorded_codes is None else code_text(recorded_codes.iloc[k])
        hits = sorted(tree.query(geom, predicate="intersects"), key=lambda i: codes[i])
        if recorded and _agrees(code_key(recorded), [(keys[i], levels[i]) for i in hits]):
            continue
        inside = [codes[i] for i in hits]
        where = "、".join(f"{c} {name_of[c]}" for c in inside) if inside else "任何政区之外"
        said = f"登记代码 {recorded}" if recorded else "缺少行政区划代码"
        finest = max(hits, key=lambda i: (len(keys[i]), codes[i]), default=None)
        records.append(
            finding(
                "facility_admin_mismatch",
                fid,
                f"{said}，实际位于 {where}",
                geometry=geom,
                units=(recorded, None if finest is None else codes[finest]),
                row=row,
            )
        )
    return findings_frame(records, facilities.crs)


def _agrees(recorded: str, containing: list[tuple[str, str]]) -> bool:
    """Whether a recorded code agrees with the units a point lies in, at every level.

    At each level, one of the units containing the point (several on a shared edge) must
    contain the recorded unit or lie inside it (code prefix either way).
    """
    if not containing:
        return False
    by_level: dict[str, list[str]] = {}
    for key, level in containing:
        by_level.setdefault(level, []).append(key)
    return all(any(recorded.startswith(k) or k.startswith(recorded) for k in keys)
               for keys in by_level.values())
