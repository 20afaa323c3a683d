"""Candidate generation, exclusion zones, and siting on layers through the access module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
from shapely.geometry import LineString, box

from geoplan import siting
from geoplan.access import reach_matrix
from geoplan.datasets.siting_instances import street_grid
from geoplan.errors import CRSError
from geoplan.network import WalkNetwork
from geoplan.siting import candidates as cand
from geoplan.siting import propose_sites

EPSG = 4549
X0, Y0 = 500_000.0, 2_730_000.0  # inside the Jinjiang zone


@pytest.fixture(scope="module")
def grid_network() -> WalkNetwork:
    xy, csr = street_grid(25, 100.0, seed=3)  # 2.4 km x 2.4 km
    xy = xy + np.array([X0, Y0])
    up = sp.triu(csr).tocoo()
    edges = gpd.GeoDataFrame(
        {"u": up.row, "v": up.col, "length_m": up.data},
        geometry=[LineString([xy[a], xy[b]]) for a, b in zip(up.row, up.col, strict=True)],
        crs=EPSG,
    )
    return WalkNetwork(xy, edges, EPSG)


@pytest.fixture(scope="module")
def cells() -> gpd.GeoDataFrame:
    rng = np.random.default_rng(0)
    xy = rng.uniform(50, 2350, (400, 2)) + np.array([X0, Y0])
    pop = rng.integers(20, 200, 400).astype(float)
    return gpd.GeoDataFrame(
        {"cell_id": [f"c{i}" for i in range(400)], "pop": pop, "households": np.round(pop / 2.6),
         "pop_60plus": np.round(pop * 0.18), "pop_80plus": np.round(pop * 0.03)},
        geometry=shapely.points(xy), index=pd.Index([f"c{i}" for i in range(400)], dtype=object),
        crs=EPSG)


def test_snap_to_network_nodes_moves_points_onto_nodes(grid_network):
    pts = gpd.GeoDataFrame(geometry=shapely.points([[X0 + 130, Y0 + 260], [X0 + 990, Y0 + 10]]),
                           crs=EPSG)
    out = cand.snap_to_network_nodes(pts, grid_network)
    node_xy = grid_network.node_xy[out["node"].to_numpy()]
    assert np.allclose(shapely.get_coordinates(out.geometry.values), node_xy)
    d = np.hypot(*(shapely.get_coordinates(pts.geometry.values) - node_xy).T)
    assert np.allclose(out["snap_dist_m"], d)
    all_d = np.hypot(*(grid_network.node_xy[None, :, :] - shapely.get_coordinates(
        pts.geometry.values)[:, None, :]).transpose(2, 0, 1))
    assert np.allclose(d, all_d.min(axis=1))
    assert pts.columns.tolist() == ["geometry"]  # input untouched


def test_snap_rejects_geographic_points(grid_network):
    pts = gpd.GeoDataFrame(geometry=shapely.points([[118.5, 24.8]]), crs=4326)
    with pytest.raises(CRSError, match="projected metric CRS"):
        cand.snap_to_network_nodes(pts, grid_network)


def test_candidates_from_layer_polygons(grid_network):
    layer = gpd.GeoDataFrame({"name": ["社区中心", "闲置校舍"]},
                             geometry=[box(X0 + 100, Y0 + 100, X0 + 300, Y0 + 200),
                                       box(X0 + 1500, Y0 + 1500, X0 + 1600, Y0 + 1650)],
                             index=["a", "b"], crs=EPSG)
    out = cand.candidate_sites_from_layer(layer, network=grid_network, source="public")
    assert list(out.index) == ["public-a", "public-b"]
    assert (out.geom_type == "Point").all()
    assert (out["source"] == "public").all()
    assert (out["snap_dist_m"] < 150).all()


def test_candidates_from_network_nodes_inside_areas(grid_network):
    area = gpd.GeoDataFrame(geometry=[box(X0 + 400, Y0 + 400, X0 + 1200, Y0 + 1000)], crs=EPSG)
    every = cand.candidate_sites_from_network_nodes(grid_network, area, min_spacing_m=None)
    xy = grid_network.node_xy
    inside = ((xy[:, 0] > X0 + 400) & (xy[:, 0] < X0 + 1200)
              & (xy[:, 1] > Y0 + 400) & (xy[:, 1] < Y0 + 1000))
    assert set(every["node"]) == set(np.flatnonzero(inside))
    thin = cand.candidate_sites_from_network_nodes(grid_network, area, min_spacing_m=300)
    assert 0 < len(thin) < len(every)
    assert set(thin["node"]) <= set(every["node"])


def test_candidates_from_weighted_clusters(grid_network, cells):
    heavy = cells.copy()
    heavy.loc[heavy.index[:5], "pop_60plus"] = 50_000.0  # five cells dominate the weight
    out = cand.candidate_sites_from_demand_clusters(heavy, 5, network=grid_network, seed=1)
    assert 1 <= len(out) <= 5
    assert (out["source"] == "demand_cluster").all()
    assert out["node"].is_unique
    # a weighted centre lands near each dominant cell
    hot = shapely.get_coordinates(heavy.geometry.values[:5])
    got = shapely.get_coordinates(out.geometry.values)
    nearest = np.hypot(*(hot[:, None, :] - got[None, :, :]).transpose(2, 0, 1)).min(axis=1)
    assert np.median(nearest) < 300
    only_some = cand.candidate_sites_from_demand_clusters(
        cells, 50, mask=np.arange(len(cells)) < 10)
    assert len(only_some) == 10


def test_exclusion_zones_report_counts():
    pts = gpd.GeoDataFrame(geometry=shapely.points([[X0 + 10 * i, Y0] for i in range(10)]),
                           index=[f"s{i}" for i in range(10)], crs=EPSG)
    farmland = gpd.GeoDataFrame(geometry=[box(X0 - 5, Y0 - 5, X0 + 25, Y0 + 5)], crs=EPSG)
    park = gpd.GeoDataFrame(geometry=[box(X0 + 15, Y0 - 5, X0 + 45, Y0 + 5)], crs=EPSG)
    railway = gpd.GeoDataFrame(geometry=[LineString([(X0 + 80, Y0 - 100), (X0 + 80, Y0 + 100)])],
                               crs=EPSG)
    kept, report = cand.exclude_candidates(
        pts, {"farmland_forest": farmland, "park_scenic_heritage": park,
              "railway_road_corridor": railway},
        buffer_m={"railway_road_corridor": 12})
    # farmland: s0-s2; park: s2-s4 (s2 already gone); railway corridor 68-92 m: s7-s9
    assert report["n_inside"].tolist() == [3, 3, 3, 8]
    assert report["n_removed"].tolist() == [3, 2, 3, 8]
    assert report.loc[0, "name_zh"] == "耕地、林地"
    assert list(kept.index) == ["s5", "s6"]
    assert len(pts) == 10
    assert set(cand.COLUMBARIUM_EXCLUSION_ZONES) >= {"water_source_protection",
                                                     "reservoir_river_levee"}


def test_exclusion_layer_in_other_crs_raises():
    pts = gpd.GeoDataFrame(geometry=shapely.points([[X0, Y0]]), crs=EPSG)
    other = gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)], crs=4548)
    with pytest.raises(CRSError, match="CRS differ"):
        cand.exclude_candidates(pts, {"x": other})


def test_models_on_access_reach_matrix(grid_network, cells):
    sites = cand.candidate_sites_from_network_nodes(
        grid_network, gpd.GeoDataFrame(geometry=[box(X0, Y0, X0 + 2400, Y0 + 2400)], crs=EPSG),
        min_spacing_m=400)
    R = reach_matrix(grid_network, sites, cells, 500.0)
    assert R.shape == (len(sites), len(cells))
    res = siting.mclp(R, cells["pop_60plus"].to_numpy(), 4)
    greedy = siting.mclp(R, cells["pop_60plus"].to_numpy(), 4, method="greedy")
    assert res.gap == pytest.approx(0.0, abs=1e-6)
    assert greedy.objective <= res.objective + 1e-9 <= greedy.bound + 1e-6


def test_propose_sites_on_layers(grid_network, cells):
    existing = gpd.GeoDataFrame({"facility_id": ["e1"], "facility_type": ["elderly_station"]},
                                geometry=shapely.points([[X0 + 1200, Y0 + 1200]]),
                                index=["e1"], crs=EPSG)
    towns = gpd.GeoDataFrame({"name": ["安海镇", "内坑镇"]},
                             geometry=[box(X0 - 100, Y0 - 100, X0 + 1200, Y0 + 2500),
                                       box(X0 + 1200, Y0 - 100, X0 + 2500, Y0 + 2500)], crs=EPSG)
    prop = propose_sites(grid_network, cells, existing, p=3, max_m=600.0, units=towns,
                         priority_areas=towns.iloc[:1], priority_multiplier=2.0,
                         scenario_p=(1, 3))
    assert len(prop.sites) == 3
    assert list(prop.sites["rank"]) == [1, 2, 3]
    assert prop.sites.crs.to_epsg() == EPSG
    gain = prop.by_unit["pop_60plus_gain"].sum()
    assert gain == pytest.approx(prop.sites["new_pop_60plus"].sum())
    assert gain > 0
    s = prop.summary.iloc[0]
    assert s["covered_after"] >= s["covered_before"]
    assert set(prop.by_unit.index) <= {"安海镇", "内坑镇", "(outside)"}
    assert list(prop.scenarios.index) == [1, 3]
    assert prop.scenarios.loc[3, "objective"] == pytest.approx(prop.result.objective)
    assert prop.scenarios.loc[1, "objective"] <= prop.scenarios.loc[3, "objective"]
    west = (cells.geometry.x < X0 + 1200).to_numpy()
    w = cells["pop_60plus"].to_numpy()
    assert prop.result.total_weight == pytest.approx(2 * w[west].sum() + w[~west].sum())


@pytest.mark.slow
def test_benchmark_quick_mode_runs():
    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_siting.py"
    out = subprocess.run([sys.executable, str(bench), "--quick"], capture_output=True,
                         text=True, timeout=600, check=True).stdout
    assert "objectives equal: True" in out
    assert "ratio spopt / geoplan exact" in out
    assert "peak memory of the solving process" in out
    # the sections of issue 19: seeds interleaved with spopt, the curve, the county size
    assert "spopt / geoplan: median" in out
    assert "objectives equal at every p compared: True" in out
    assert "DIFFER" not in out
    assert "geoplan exact:" in out
