"""Synthetic study layers on the real Jinjiang county outline, for the map and report tests.

The outline is real (``../shared/data/admin/counties-albers.topojson``, read in place); the
towns are a grid cut from it, and facilities, cells, findings are generated (seeded), in the
study's metric CRS EPSG:4549 like every analysis layer.
"""

from __future__ import annotations

import itertools
from functools import cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Point, box

METRIC_EPSG = 4549
ALBERS = "+proj=aea +lat_0=36 +lat_1=24 +lat_2=48 +lon_0=104.5 +x_0=0 +y_0=0 +ellps=WGS84 +units=m"
TOWN_NAMES = [
    "青阳街道", "梅岭街道", "西园街道", "罗山街道", "灵源街道", "新塘街道", "陈埭镇", "池店镇",
    "安海镇", "磁灶镇", "内坑镇", "紫帽镇", "东石镇", "永和镇", "英林镇", "金井镇", "龙湖镇",
    "深沪镇", "西滨镇",
]
FACILITY_TYPES = ["elderly_station", "senior_canteen", "day_care_center", "columbarium"]
STATUSES = ["existing", "building", "planned", "proposed"]


@cache
def _outline(path: Path) -> gpd.GeoDataFrame:
    county = gpd.read_file(path, layer="county", where="CODE='350582'")
    return county.set_crs(ALBERS, allow_override=True).to_crs(METRIC_EPSG)[["NAME", "geometry"]]


def jinjiang_outline(shared_data: Path) -> gpd.GeoDataFrame:
    """Return the real county polygon of 晋江市 (350582) in EPSG:4549 (read once, copied)."""
    return _outline(shared_data / "admin" / "counties-albers.topojson").copy()


def towns_from_outline(outline: gpd.GeoDataFrame, *, seed: int = 1) -> gpd.GeoDataFrame:
    """Cut the outline into a grid of town polygons with a synthetic ``pop_60plus_share``."""
    minx, miny, maxx, maxy = outline.total_bounds
    xs, ys = np.linspace(minx, maxx, 5), np.linspace(miny, maxy, 6)
    shape = outline.geometry.iat[0]
    parts = [box(x0, y0, x1, y1).intersection(shape)
             for x0, x1 in itertools.pairwise(xs)
             for y0, y1 in itertools.pairwise(ys)]
    parts = [p for p in parts if p.area > 1e6][: len(TOWN_NAMES)]
    rng = np.random.default_rng(seed)
    codes = [f"350582{100 + i:03d}" for i in range(len(parts))]
    towns = gpd.GeoDataFrame(
        {"code": codes, "name": TOWN_NAMES[: len(parts)], "level": "town",
         "kind": ["街道" if n.endswith("街道") else "镇" for n in TOWN_NAMES[: len(parts)]],
         "parent_code": "350582", "households": rng.integers(8_000, 60_000, len(parts)),
         "pop_60plus_share": rng.uniform(0.05, 0.98, len(parts))},
        geometry=parts, crs=outline.crs, index=pd.Index(codes, name="id"),
    )
    return towns


def facilities_in(towns: gpd.GeoDataFrame, *, per_type: int = 6, seed: int = 2) -> gpd.GeoDataFrame:
    """Return facilities of four types and all four statuses, inside the towns."""
    rng = np.random.default_rng(seed)
    rows = []
    for t_i, ftype in enumerate(FACILITY_TYPES):
        for k in range(per_type):
            town = towns.iloc[(t_i * per_type + k) % len(towns)]
            point = town.geometry.representative_point()
            point = Point(point.x + rng.uniform(-300, 300), point.y + rng.uniform(-300, 300))
            rows.append({
                "facility_id": f"{ftype}-{k}", "facility_type": ftype,
                "name": f"{town['name']}{k + 1}号站点",
                "status": STATUSES[k % len(STATUSES)], "admin_code": f"{town['code']}201",
                "beds": float(rng.integers(10, 80)) if ftype == "day_care_center" else np.nan,
                "seats": float(rng.integers(20, 90)) if ftype == "senior_canteen" else np.nan,
                "floor_area_m2": float(rng.integers(150, 900)), "geometry": point,
            })
    frame = gpd.GeoDataFrame(rows, crs=towns.crs)
    return frame.set_index(frame["facility_id"].rename("id"))


def grid_cells(outline: gpd.GeoDataFrame, *, n_target: int, seed: int = 3) -> gpd.GeoDataFrame:
    """Return about ``n_target`` square population cells over the outline's bounding box."""
    minx, miny, maxx, maxy = outline.total_bounds
    size_m = float(np.sqrt((maxx - minx) * (maxy - miny) / n_target))
    xs = np.arange(minx, maxx, size_m)
    ys = np.arange(miny, maxy, size_m)
    gx, gy = np.meshgrid(xs, ys)
    gx, gy = gx.ravel()[:n_target], gy.ravel()[:n_target]
    rng = np.random.default_rng(seed)
    ids = [f"c{i}" for i in range(len(gx))]
    return gpd.GeoDataFrame(
        {"cell_id": ids, "pop_60plus": rng.gamma(1.2, 30.0, len(gx)).round(),
         "covered": rng.random(len(gx)) < 0.6},
        geometry=shapely.box(gx, gy, gx + size_m, gy + size_m), crs=outline.crs,
        index=pd.Index(ids, name="id"),
    )


def findings_in(towns: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return four inspection findings: a gap, a changed line, a damaged marker, and an
    overdue round that has no location (not drawable)."""
    c = towns.geometry.iat[0].representative_point()
    return gpd.GeoDataFrame(
        {"kind": ["topology_gap", "line_version_change", "marker_condition", "round_overdue"],
         "detail": ["两镇之间存在 35 m² 缝隙", "界线 3505820103 版本间偏移 12 m",
                    "界桩 35058201A 损坏", "界线 3505820101 逾期未联检"]},
        geometry=[box(c.x, c.y, c.x + 200, c.y + 200),
                  LineString([(c.x, c.y), (c.x + 900, c.y + 300)]), Point(c.x + 500, c.y - 400),
                  None],
        crs=towns.crs, index=pd.Index(["f1", "f2", "f3", "f4"], name="id"),
    )


def boundary_lines_of(towns: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the outlines of the first four towns as boundary lines."""
    rings = [shapely.get_exterior_ring(shapely.get_parts(g)[0]) for g in towns.geometry.iloc[:4]]
    codes = [f"35058201{i:02d}" for i in range(len(rings))]
    return gpd.GeoDataFrame(
        {"line_code": codes, "level": "town", "left_code": towns["code"].iloc[:4].to_numpy(),
         "right_code": "", "version": "2020"},
        geometry=rings, crs=towns.crs, index=pd.Index(codes, name="id"),
    )


def boundary_markers_on(lines: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return two markers per line (one 完好, one 损坏)."""
    rows = []
    for code, line in zip(lines["line_code"], lines.geometry, strict=True):
        for k, (frac, condition) in enumerate([(0.25, "完好"), (0.6, "损坏")]):
            rows.append({"marker_no": f"{code[-4:]}{k + 1:03d}A", "line_code": code,
                         "condition": condition,
                         "geometry": line.interpolate(frac, normalized=True)})
    frame = gpd.GeoDataFrame(rows, crs=lines.crs)
    return frame.set_index(frame["marker_no"].rename("id"))


def proposed_sites_in(towns: gpd.GeoDataFrame, n: int = 5) -> gpd.GeoDataFrame:
    """Return ``n`` ranked proposed sites with decreasing marginal gains."""
    points = [g.centroid for g in towns.geometry.iloc[-n:]]
    ids = [f"s{i + 1}" for i in range(len(points))]
    return gpd.GeoDataFrame(
        {"name": [f"候选点{i + 1}" for i in range(len(points))], "rank": range(1, len(points) + 1),
         "new_pop_60plus": [1200.0 / (i + 1) for i in range(len(points))]},
        geometry=points, crs=towns.crs, index=pd.Index(ids, name="id"),
    )


def standards_result(towns: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return towns with a pass/fail ``status`` and a ``shortfall`` (every third town fails)."""
    fail = np.arange(len(towns)) % 3 == 0
    return towns.assign(status=np.where(fail, "fail", "pass"),
                        shortfall=np.where(fail, 120.5, 0.0))


def map_layers(shared_data: Path, *, n_cells: int) -> dict[str, gpd.GeoDataFrame]:
    """Every layer kind the map builders draw, around the real Jinjiang outline."""
    outline = jinjiang_outline(shared_data)
    towns = towns_from_outline(outline)
    lines = boundary_lines_of(towns)
    return {
        "outline": outline,
        "towns": towns,
        "facilities": facilities_in(towns),
        "cells": grid_cells(outline, n_target=n_cells),
        "findings": findings_in(towns),
        "lines": lines,
        "markers": boundary_markers_on(lines),
        "sites": proposed_sites_in(towns),
        "standards": standards_result(towns),
    }
