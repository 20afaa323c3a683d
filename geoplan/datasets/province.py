"""A synthetic province study on real outlines and census totals: ``geoplan demo --province 35``.

Real (read in place from the reference data folder, never copied into the repository): every
county outline of the province (``admin/counties-albers.topojson``), the names and codes of
its 镇街 (``admin/admin-codes-level4.csv``) and the 2020 census per county
(``census/census_county_2020.xlsx``: people, family households, 60+ and 80+). Synthetic
(seeded, labelled so in the study file): the 镇街 and 社区/村 polygons (Voronoi cells of the
real 镇街 list inside the real county), the population grid (one point per cell, its totals
the county's census), one walking network per county (:func:`geoplan.network.street_network`)
joined to its neighbours' across every county line, and the facilities.

:func:`write_province_study` writes the study folder (``study.toml`` with a ``[compute]``
section, so ``geoplan run`` runs it partitioned per county); :func:`province_study_path`
writes it once into the user cache and returns the study file.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geoplan.crs import metric_crs_for
from geoplan.errors import StudyConfigError
from geoplan.io import write_layers_gpkg
from geoplan.network import street_network

logger = logging.getLogger(__name__)

__all__ = ["ALBERS", "PROVINCE_GENERATOR_VERSION", "province_study_path", "shared_data_dir",
           "write_province_study"]

#: Bumped whenever the generator's output changes (part of the cache key).
PROVINCE_GENERATOR_VERSION = 3
#: The Albers projection of the county TopoJSON (declared when it is read).
ALBERS = "+proj=aea +lat_0=36 +lat_1=24 +lat_2=48 +lon_0=104.5 +x_0=0 +y_0=0 +ellps=WGS84 +units=m"
#: Nodes of two counties closer than this across a county line are joined by a street.
STITCH_M = 400.0


def shared_data_dir() -> Path:
    """Return the reference data folder: ``GEOPLAN_SHARED_DATA`` or ``../shared/data``.

    ``../shared/data`` is relative to the repository checkout (beside ``data/``).

    Raises
    ------
    StudyConfigError
        If the folder is missing.
    """
    env = os.environ.get("GEOPLAN_SHARED_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"
    if not (path / "admin" / "counties-albers.topojson").is_file():
        msg = (f"the reference data (county outlines, census) was not found at {path}; set "
               "GEOPLAN_SHARED_DATA to the folder holding admin/ and census/")
        raise StudyConfigError(msg)
    return path


def _counties(shared: Path, province: str, codes: Sequence[str] | None) -> gpd.GeoDataFrame:
    path = shared / "admin" / "counties-albers.topojson"
    counties = gpd.read_file(path, layer="county", columns=["CODE", "NAME"])
    counties = counties.set_crs(ALBERS, allow_override=True)
    counties["code"] = counties["CODE"].astype(str)
    counties = counties[counties["code"].str.startswith(province)]
    if codes is not None:
        counties = counties[counties["code"].isin([str(c) for c in codes])]
    if not len(counties):
        msg = f"no county of province {province} ({codes or 'all'}) in {path.name}"
        raise StudyConfigError(msg)
    counties = counties.rename(columns={"NAME": "name"})[["code", "name", "geometry"]]
    return counties.sort_values("code").reset_index(drop=True)


def _census(shared: Path, codes: Sequence[str]) -> pd.DataFrame:
    table = pd.read_excel(shared / "census" / "census_county_2020.xlsx")
    table = table.dropna(subset=["区划代码"]).copy()
    table["code"] = table["区划代码"].astype("Int64").astype(str)
    table = table.drop_duplicates("code").set_index("code").reindex(list(codes))
    table = table[table["人口数_合计"].notna()]
    ages = table.columns
    band = lambda lo: [c for c in ages if c.startswith(("男_", "女_"))  # noqa: E731
                       and _band_start(c) is not None and _band_start(c) >= lo]
    return pd.DataFrame({
        "pop": table["人口数_合计"].astype(float),
        "households": table["家庭户数"].astype(float),
        "pop_60plus": table[band(60)].sum(axis=1).astype(float),
        "pop_80plus": table[band(80)].sum(axis=1).astype(float),
    })


def _band_start(column: str) -> int | None:
    text = column.split("_", 1)[1]
    digits = "".join(ch if ch.isdigit() else " " for ch in text).split()
    return int(digits[0]) if digits else None


def _towns_of(shared: Path, county: str) -> pd.DataFrame:
    codes = pd.read_csv(shared / "admin" / "admin-codes-level4.csv",
                        usecols=["id", "pid", "deep", "ext_name"], dtype={"id": str, "pid": str})
    towns = codes[(codes["deep"] == 3) & (codes["pid"] == county)]
    return towns.rename(columns={"id": "code", "ext_name": "name"})[["code", "name"]]


def _points_in(polygon, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` seeded random points inside ``polygon`` (rejection sampling)."""
    x0, y0, x1, y1 = polygon.bounds
    out = np.empty((0, 2))
    shapely.prepare(polygon)
    while len(out) < n:
        xy = rng.uniform((x0, y0), (x1, y1), size=(max(4 * n, 64), 2))
        out = np.vstack([out, xy[shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])]])
    return out[:n]


def _voronoi_cells(polygon, seeds: np.ndarray) -> list:
    """Return the Voronoi cells of ``seeds`` clipped to ``polygon``, in seed order."""
    if len(seeds) == 1:
        return [polygon]
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds),
                                                       extend_to=polygon))
    which = shapely.STRtree(cells).query(shapely.points(seeds), predicate="within")
    order = np.empty(len(seeds), dtype=np.int64)
    order[which[0]] = which[1]
    clipped = shapely.intersection(cells[order], polygon)
    return [shapely.make_valid(c) for c in clipped]


def _admin_units(county: pd.Series, towns: pd.DataFrame, rng: np.random.Generator,
                 village_km2: float) -> gpd.GeoDataFrame:
    """Return the county, its real 镇街 (synthetic polygons) and synthetic 社区/村."""
    polygon = shapely.make_valid(county["geometry"])
    if not len(towns):  # a county without 镇街 in the code list: one synthetic 镇街
        towns = pd.DataFrame({"code": [f"{county['code']}001"], "name": [f"{county['name']}城区"]})
    towns = towns.sort_values("code").reset_index(drop=True)
    town_cells = _voronoi_cells(polygon, _points_in(polygon, len(towns), rng))
    rows = [{"code": county["code"], "name": county["name"], "level": "county",
             "kind": "区" if str(county["name"]).endswith("区") else "县", "parent_code": None,
             "geometry": polygon}]
    for k, town in towns.iterrows():
        kind = "街道" if town["name"].endswith("街道") else (
            "乡" if town["name"].endswith("乡") else "镇")
        geom = town_cells[k]
        rows.append({"code": town["code"], "name": town["name"], "level": "town", "kind": kind,
                     "parent_code": county["code"], "geometry": geom})
        n = int(np.clip(np.round(geom.area / 1e6 / village_km2), 2, 40))
        if geom.is_empty or geom.area < 1e4:
            continue
        village_cells = _voronoi_cells(geom, _points_in(geom, n, rng))
        for j, cell in enumerate(village_cells):
            urban = kind == "街道" or j == 0  # a town's seat is a 社区
            rows.append({"code": f"{town['code']}{j + 1:03d}",
                         "name": f"{town['name']}{'第' if urban else ''}{j + 1}"
                                 f"{'社区' if urban else '村'}（合成）",
                         "level": "village", "kind": "社区" if urban else "村",
                         "parent_code": town["code"], "geometry": cell})
    units = gpd.GeoDataFrame(rows, crs=None)
    units = units[~units.geometry.is_empty & units.geometry.notna()]
    return units


def _allocate(weights: np.ndarray, total: float) -> np.ndarray:
    """Integers proportional to ``weights`` adding up to ``total`` (largest remainders)."""
    total = round(total)
    share = weights / weights.sum() * total
    out = np.floor(share).astype(np.int64)
    rest = total - int(out.sum())
    if rest > 0:
        out[np.argsort(-(share - out), kind="stable")[:rest]] += 1
    return out


def _population(county_code: str, units: gpd.GeoDataFrame, census: pd.Series,
                cell_m: float, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Return population points on a ``cell_m`` grid reproducing the county's census totals."""
    polygon = units.geometry.iloc[0]
    x0, y0, x1, y1 = polygon.bounds
    xs = np.arange(np.floor(x0 / cell_m) * cell_m + cell_m / 2, x1, cell_m)
    ys = np.arange(np.floor(y0 / cell_m) * cell_m + cell_m / 2, y1, cell_m)
    gx, gy = np.meshgrid(xs, ys)
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    shapely.prepare(polygon)
    xy = xy[shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])]
    if not len(xy):
        xy = shapely.get_coordinates(shapely.point_on_surface(polygon))
    villages = units[units["level"] == "village"]
    centres = shapely.get_coordinates(shapely.point_on_surface(villages.geometry.to_numpy()))
    urban = (villages["kind"] == "社区").to_numpy()
    dist, near = cKDTree(centres).query(xy) if len(centres) else (np.zeros(len(xy)), None)
    scale = np.where(urban[near], 1200.0, 500.0) if near is not None else 800.0
    weight = np.exp(-dist / scale) * (np.where(urban[near], 25.0, 4.0) if near is not None
                                      else 1.0) + 0.05 * rng.random(len(xy))
    pop = _allocate(weight, census["pop"])
    keep = pop > 0
    xy, pop, weight = xy[keep], pop[keep], weight[keep]
    older = _allocate(pop * rng.uniform(0.8, 1.2, len(pop)), census["pop_60plus"])
    older = np.minimum(older, pop)
    oldest = np.minimum(_allocate(older + 1e-9, census["pop_80plus"]), older)
    households = _allocate(pop + 1e-9, census["households"])
    ids = [f"{county_code}-{i:06d}" for i in range(len(pop))]
    return gpd.GeoDataFrame(
        {"cell_id": ids, "pop": pop.astype(float), "households": households.astype(float),
         "pop_60plus": older.astype(float), "pop_80plus": oldest.astype(float),
         "admin_code": county_code}, geometry=shapely.points(xy), crs=units.crs)


def _facilities(units: gpd.GeoDataFrame, nodes: np.ndarray,
                rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Facilities on street corners near the 社区/村 centres and 镇街 seats."""
    tree = cKDTree(nodes)
    rows = []
    villages = units[units["level"] == "village"]
    centres = shapely.get_coordinates(shapely.point_on_surface(villages.geometry.to_numpy()))
    for (code, name, kind), (cx, cy) in zip(
            villages[["code", "name", "kind"]].itertuples(index=False), centres, strict=True):
        urban = kind == "社区"
        wanted = [("elderly_station", 0.9 if urban else 0.45),
                  ("senior_canteen", 0.6 if urban else 0.2),
                  ("day_care_center", 0.25 if urban else 0.05)]
        for ftype, chance in wanted:
            if rng.random() < chance:
                _, at = tree.query((cx + rng.normal(0, 150), cy + rng.normal(0, 150)))
                rows.append((ftype, f"{code}{ftype[:2]}", f"{name}{_ZH[ftype]}", code,
                             nodes[at]))
    outline = shapely.boundary(units.geometry.iloc[0])
    edge = shapely.distance(outline, villages.geometry.to_numpy()) < 1.0
    for code, name, geom in villages.loc[edge, ["code", "name", "geometry"]].itertuples(
            index=False):  # stations near the county line, which neighbours may reach
        line = shapely.intersection(outline, geom.boundary)
        if rng.random() < 0.5 and not line.is_empty:
            near = shapely.get_coordinates(shapely.shortest_line(
                shapely.point_on_surface(geom), line))
            _, at = tree.query(near[-1])
            rows.append(("elderly_station", f"{code}eb", f"{name}边界养老服务站（合成）", code,
                         nodes[at]))
    for code, name, geom in units.loc[units["level"] == "town",
                                      ["code", "name", "geometry"]].itertuples(index=False):
        if geom.is_empty:
            continue
        seat = shapely.get_coordinates(shapely.point_on_surface(geom))[0]
        _, at = tree.query(seat)
        rows.append(("social_work_station", f"{code}sw", f"{name}社工站（合成）", code, nodes[at]))
        if rng.random() < 0.3:
            _, at = tree.query(seat + rng.normal(0, 2000, 2))
            rows.append(("columbarium", f"{code}co", f"{name}骨灰堂（合成）", code, nodes[at]))
    frame = pd.DataFrame(rows, columns=["facility_type", "facility_id", "name", "admin_code",
                                        "xy"])
    frame["facility_id"] = [f"{i}-{k}" for k, i in enumerate(frame["facility_id"])]
    frame["status"] = np.where(rng.random(len(frame)) < 0.9, "existing", "planned")
    xy = np.vstack(frame.pop("xy").to_numpy()) if len(frame) else np.empty((0, 2))
    return gpd.GeoDataFrame(frame, geometry=shapely.points(xy), crs=units.crs)


_ZH = {"elderly_station": "养老服务站（合成）", "senior_canteen": "长者食堂（合成）",
       "day_care_center": "日间照料中心（合成）"}


def _stitch(edges: list[gpd.GeoDataFrame], counties: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Join the counties' networks: streets between nodes within :data:`STITCH_M` across a line."""
    node_xy, node_county = [], []
    for k, part in enumerate(edges):
        ends = [shapely.get_point(part.geometry.to_numpy(), i) for i in (0, -1)]
        xy = np.unique(np.vstack([shapely.get_coordinates(e) for e in ends]), axis=0)
        outline = shapely.boundary(counties.geometry.iloc[k])
        near_line = shapely.distance(outline, shapely.points(xy)) < STITCH_M
        node_xy.append(xy[near_line])
        node_county.append(np.full(int(near_line.sum()), k))
    xy, county = np.vstack(node_xy), np.concatenate(node_county)
    pairs = cKDTree(xy).query_pairs(STITCH_M, output_type="ndarray")
    pairs = pairs[county[pairs[:, 0]] != county[pairs[:, 1]]]
    if len(pairs):  # each node joins its nearest node across the line only
        length = np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T)
        order = np.argsort(length, kind="stable")
        best: dict[int, int] = {}
        keep = []
        for p in order:
            a, b = pairs[p]
            if a not in best and b not in best:
                best[a], best[b] = b, a
                keep.append(p)
        pairs = pairs[np.sort(keep)]
    lines = shapely.linestrings(np.stack([xy[pairs[:, 0]], xy[pairs[:, 1]]], axis=1)) \
        if len(pairs) else np.array([], dtype=object)
    links = gpd.GeoDataFrame({"zone": "county_link", "length_m": shapely.length(lines)},
                             geometry=lines, crs=edges[0].crs)
    logger.info("joined the county networks by %d streets across county lines", len(links))
    joined = pd.concat([e[["zone", "length_m", "geometry"]] for e in edges] + [links],
                       ignore_index=True)
    return gpd.GeoDataFrame(joined, geometry="geometry", crs=edges[0].crs)


def write_province_study(folder: str | os.PathLike[str], province: str = "35", *,
                         counties: Sequence[str] | None = None, cell_m: float = 500.0,
                         village_km2: float = 12.0, rural_spacing_m: float = 600.0,
                         urban_spacing_m: tuple[float, float] = (85.0, 140.0), seed: int = 35,
                         shared: str | os.PathLike[str] | None = None) -> Path:
    """Write a synthetic province study (real outlines and census totals) into ``folder``.

    Parameters
    ----------
    folder
        Output folder (created); ``study.toml`` and the layers are written into it.
    province
        Two-digit province code (``"35"`` = 福建省).
    counties
        Only these county codes (e.g. three neighbours for a small test study); default all.
    cell_m
        Side of the population grid cells, metres (one point per cell).
    village_km2
        About one synthetic 社区/村 per this many km² of a 镇街.
    rural_spacing_m, urban_spacing_m
        Spacing of the rural lanes and range of the urban block sides of the synthetic
        walking network, metres (:func:`geoplan.network.street_network`).
    seed
        Seed of every random draw (the same arguments give the same files).
    shared
        The reference data folder (default :func:`shared_data_dir`).

    Returns
    -------
    pathlib.Path
        The study file ``folder/study.toml``.
    """
    shared = Path(shared) if shared is not None else shared_data_dir()
    outlines = _counties(shared, province, counties)
    epsg = metric_crs_for(outlines.to_crs(4490))
    outlines = outlines.to_crs(epsg)
    census = _census(shared, outlines["code"].tolist())
    left_out = outlines[~outlines["code"].isin(census.index)]
    if len(left_out):  # e.g. 金门县 (350527): no figures in the 2020 census
        logger.info("left out, no 2020 census figures: %s", "、".join(left_out["name"]))
        outlines = outlines[outlines["code"].isin(census.index)].reset_index(drop=True)
    if not len(outlines):
        msg = f"no county of province {province} has 2020 census figures"
        raise StudyConfigError(msg)
    units, cells, facilities, edges = [], [], [], []
    x0, y0, _, _ = outlines.total_bounds  # no barrier: one short line far outside the area
    far = shapely.linestrings([[x0 - 50_000, y0 - 50_000], [x0 - 49_000, y0 - 50_000]])
    no_barrier = gpd.GeoDataFrame({"kind": ["none"]}, geometry=[far], crs=epsg)
    empty_points = gpd.GeoDataFrame(geometry=[], crs=epsg)
    for k, county in outlines.iterrows():
        rng = np.random.default_rng([seed, int(county["code"])])
        county_units = _admin_units(county, _towns_of(shared, county["code"]), rng, village_km2)
        county_units = county_units.set_crs(epsg)
        villages = county_units[county_units["level"] == "village"]
        area = gpd.GeoDataFrame(geometry=[county_units.geometry.iloc[0]], crs=epsg)
        net = street_network(area, villages, no_barrier, empty_points,
                             seed=int(seed * 1_000_000 + int(county["code"]) % 1_000_000),
                             rural_spacing_m=rural_spacing_m, urban_spacing_m=urban_spacing_m)
        nodes = np.unique(shapely.get_coordinates(net.geometry.to_numpy()), axis=0)
        units.append(county_units)
        cells.append(_population(county["code"], county_units, census.loc[county["code"]],
                                 cell_m, rng))
        facilities.append(_facilities(county_units, nodes, rng))
        edges.append(net)
        logger.info("county %d/%d %s %s: %d units, %d cells, %d edges", k + 1, len(outlines),
                    county["code"], county["name"], len(county_units), len(cells[-1]), len(net))
    names = "、".join(outlines["name"].head(3)) + ("等" if len(outlines) > 3 else "")
    folder = Path(folder)
    for sub in ("boundaries", "population", "facilities", "network"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    admin = pd.concat(units, ignore_index=True)
    admin = gpd.GeoDataFrame(admin.set_index(admin["code"].rename("id")), crs=epsg)
    write_layers_gpkg({"admin_units": admin}, folder / "boundaries" / "admin_units.gpkg")
    # the study area: the counties' union on a 1 m grid (the union of every 镇街 and 社区/村
    # polygon is not robust at this size), 2 m wider so no point on a county line falls out
    outline = shapely.union_all(admin.loc[admin["level"] == "county"].geometry.to_numpy(),
                                grid_size=1.0).buffer(2.0)
    area = gpd.GeoDataFrame({"code": [f"{province}0000"], "name": [f"{names}（研究区）"]},
                            geometry=[outline], crs=epsg, index=pd.Index([f"{province}0000"],
                                                                         name="id"))
    write_layers_gpkg({"study_area": area}, folder / "boundaries" / "study_area.gpkg")
    pop = pd.concat(cells, ignore_index=True)
    write_layers_gpkg({"population": gpd.GeoDataFrame(pop.set_index(pop["cell_id"].rename("id")),
                                                      crs=epsg)},
                      folder / "population" / "population.gpkg")
    fac = pd.concat(facilities, ignore_index=True)
    write_layers_gpkg({"facilities": gpd.GeoDataFrame(fac.set_index(fac["facility_id"]
                                                                    .rename("id")), crs=epsg)},
                      folder / "facilities" / "facilities.gpkg")
    network = _stitch(edges, outlines)
    network.to_file(folder / "network" / "walk.gpkg", layer="walk", driver="GPKG")
    study = folder / "study.toml"
    study.write_text(_STUDY_TOML.format(
        name=f"{names}{len(outlines)}个县级单位民政服务设施覆盖（合成数据）", province=province,
        epsg=epsg, cell_m=cell_m, n=len(outlines)), encoding="utf-8")
    return study


_STUDY_TOML = """\
# A synthetic province study written by geoplan.datasets.province (geoplan demo --province).
# Real: the {n} county outlines, the 镇街 names and codes, the 2020 census totals per county.
# SYNTHETIC: the 镇街 and 社区/村 polygons, the population grid ({cell_m:g} m), the walking
# network and the facilities. Not for planning decisions.

[study]
name = "{name}"
admin_code = "{province}0000"
metric_crs = "EPSG:{epsg}"

[walking]
tiers_min = [5, 10, 15]

[coverage]

[compute]                 # partitioned per county (large counties per 镇街), on Dask
max_partition_km2 = 2500

[layers.study_area]
path = "boundaries/study_area.gpkg"
layer = "study_area"
coords = "EPSG:{epsg}"
synthetic = true

[layers.admin_units]
path = "boundaries/admin_units.gpkg"
layer = "admin_units"
coords = "EPSG:{epsg}"
synthetic = true

[layers.facilities]
path = "facilities/facilities.gpkg"
layer = "facilities"
coords = "EPSG:{epsg}"
synthetic = true

[layers.population]
path = "population/population.gpkg"
layer = "population"
coords = "EPSG:{epsg}"
source = "{cell_m:g} m 合成人口格网，各县总数与2020年人口普查一致"
year = 2020
synthetic = true

[network]
path = "network/walk.gpkg"
coords = "EPSG:{epsg}"
"""


def province_study_path(province: str = "35", *, counties: Sequence[str] | None = None,
                        cell_m: float = 500.0, seed: int = 35) -> Path:
    """Return the study file of a synthetic province, written once into the user cache.

    The folder is keyed by the generator version and the arguments; ``GEOPLAN_CACHE_DIR``
    moves the cache (see :func:`write_province_study` for the arguments).
    """
    import platformdirs

    key = hashlib.sha256(repr((PROVINCE_GENERATOR_VERSION, province, sorted(counties or []),
                               cell_m, seed)).encode()).hexdigest()[:12]
    env = os.environ.get("GEOPLAN_CACHE_DIR")
    cache = Path(env) if env else Path(platformdirs.user_cache_dir("geoplan"))
    folder = cache / "provinces" / f"{province}-{key}"
    study = folder / "study.toml"
    if not study.is_file():
        tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
        write_province_study(tmp, province, counties=counties, cell_m=cell_m, seed=seed)
        tmp.rename(folder)
    return study
