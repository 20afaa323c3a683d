"""Snapping: the compiled grid search is exact, and a snap is computed once and never stale."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import geoplan.network._snap_kernel as kernel
from geoplan.access import nearest_facility_time
from geoplan.crs import gk_zone_epsg
from geoplan.network import WalkNetwork, snap_points, walk_network_from_file
from geoplan.network.graph import SNAP_CACHE_SETS


@pytest.fixture(scope="module")
def futian(futian_graphml):
    return walk_network_from_file(futian_graphml, coords="wgs84", metric_epsg=gk_zone_epsg(114.02))


def _points(network: WalkNetwork, n: int, seed: int, spread_m: float) -> gpd.GeoDataFrame:
    """Points over the network's box widened by ``spread_m`` (many far outside it)."""
    rng = np.random.default_rng(seed)
    lo, hi = network.node_xy.min(axis=0), network.node_xy.max(axis=0)
    xy = rng.uniform(lo - spread_m, hi + spread_m, (n, 2))
    return gpd.GeoDataFrame(geometry=shapely.points(xy), crs=network.crs,
                            index=pd.Index([f"p{i}" for i in range(n)]))


def _near_streets(network: WalkNetwork, n: int, seed: int) -> gpd.GeoDataFrame:
    """Points within 20 m of random places on the streets."""
    rng = np.random.default_rng(seed)
    lengths = network.edges["length_m"].to_numpy()
    e = rng.choice(len(lengths), n, p=lengths / lengths.sum())
    xy = shapely.get_coordinates(shapely.line_interpolate_point(
        network.edge_lines[e], rng.random(n), normalized=True)) + rng.uniform(-20, 20, (n, 2))
    return gpd.GeoDataFrame(geometry=shapely.points(xy), crs=network.crs,
                            index=pd.Index([f"n{i}" for i in range(n)]))


def _exact(network: WalkNetwork, points: gpd.GeoDataFrame) -> np.ndarray:
    """Distance to the nearest edge by shapely's exact STRtree search."""
    pairs, dist = network.edge_tree.query_nearest(points.geometry.to_numpy(),
                                                  all_matches=False, return_distance=True)
    return dist[np.argsort(pairs[0], kind="stable")]


def test_grid_search_is_exact_near_and_far_from_the_network(futian):
    points = _points(futian, 4000, seed=1, spread_m=3000.0)
    futian.clear_caches()
    snap = snap_points(futian, points)
    np.testing.assert_allclose(snap["access_m"], _exact(futian, points), rtol=0, atol=1e-7)
    # the reported edge, position and projected point are consistent with each other
    lines = futian.edge_lines[snap["edge"].to_numpy()]
    geoms = points.geometry.to_numpy()
    np.testing.assert_allclose(shapely.distance(lines, geoms), snap["access_m"], atol=1e-7)
    proj = shapely.line_interpolate_point(lines, snap["along_m"].to_numpy())
    np.testing.assert_allclose(shapely.get_coordinates(proj), snap[["x", "y"]], atol=1e-6)
    assert (snap["u"].to_numpy() == futian.edges["u"].to_numpy()[snap["edge"]]).all()


def test_points_beyond_the_search_rings_take_the_exact_fallback(futian):
    grid = kernel.snap_grid(futian.edge_lines)
    far = np.array([[grid.x0 - 1e6, grid.y0 - 1e6], [grid.x0 + 5.0, grid.y0 + 5.0]])
    *_, sure = kernel.nearest_pieces(grid, far)
    assert sure.tolist() == [True, True]  # the far corner is bounded by the grid's edge
    # a point whose nearest piece lies beyond MAX_RINGS rings is left to the fallback: two
    # dense clusters of short streets 8 km apart make small cells and a wide empty middle
    rng = np.random.default_rng(0)
    starts = rng.uniform(0.0, 200.0, (10_000, 2)) + np.where(np.arange(10_000) < 5000, 0.0,
                                                               8000.0)[:, None]
    ends = starts + rng.uniform(-5.0, 5.0, starts.shape)
    node_xy = np.vstack([starts, ends]) + futian.node_xy.min(axis=0)
    u = np.arange(10_000)
    lonely = WalkNetwork(node_xy, gpd.GeoDataFrame(
        {"u": u, "v": u + 10_000, "length_m": np.hypot(*(ends - starts).T)},
        geometry=shapely.linestrings(np.stack([node_xy[u], node_xy[u + 10_000]], axis=1)),
        crs=futian.crs), futian.crs)
    mid = gpd.GeoDataFrame(geometry=shapely.points(node_xy[:1] + 4000.0), crs=futian.crs)
    grid = kernel.snap_grid(lonely.edge_lines)
    assert grid.nx > 2 * kernel.MAX_RINGS
    *_, sure = kernel.nearest_pieces(grid, shapely.get_coordinates(mid.geometry.to_numpy()))
    assert sure.tolist() == [False]
    np.testing.assert_allclose(snap_points(lonely, mid)["access_m"], _exact(lonely, mid))


def test_a_point_set_is_snapped_once_per_network(futian, monkeypatch):
    points = _points(futian, 500, seed=2, spread_m=0.0)
    futian.clear_caches()
    calls = []
    original = kernel.nearest_pieces
    monkeypatch.setattr(kernel, "nearest_pieces",
                        lambda grid, xy: calls.append(len(xy)) or original(grid, xy))
    first = snap_points(futian, points)
    again = snap_points(futian, points.set_axis([f"q{i}" for i in range(500)]))
    assert calls == [500]  # the second call (other ids, same coordinates) reused the snap
    assert list(again.index) == [f"q{i}" for i in range(500)]
    pd.testing.assert_frame_equal(first.reset_index(drop=True), again.reset_index(drop=True))
    # a returned frame is the caller's: changing it changes nothing kept
    first.loc[:, "access_m"] = -1.0
    assert (snap_points(futian, points)["access_m"] >= 0).all()
    # moved points are snapped anew, never answered from the kept snap
    moved = points.set_geometry(points.geometry.translate(7.0, 0.0))
    snap_moved = snap_points(futian, moved)
    assert calls == [500, 500]
    np.testing.assert_allclose(snap_moved["access_m"], _exact(futian, moved), atol=1e-7)


def test_kept_snaps_follow_the_network_and_are_bounded(futian):
    points = _points(futian, 300, seed=3, spread_m=0.0)
    network = WalkNetwork(futian.node_xy, futian.edges, futian.crs)
    before = snap_points(network, points)
    # replacing the edges (here: one street moved 40 m east) drops every kept snap and index
    edges = network.edges.copy()
    target = int(before["edge"].iloc[0])
    edges.loc[target, "geometry"] = shapely.affinity.translate(edges.geometry.iloc[target], 40.0)
    network.edges = edges
    after = snap_points(network, points)
    np.testing.assert_allclose(after["access_m"], _exact(network, points), atol=1e-7)
    assert after["access_m"].iloc[0] != before["access_m"].iloc[0]
    for seed in range(SNAP_CACHE_SETS + 4):
        snap_points(network, _points(futian, 50, seed=100 + seed, spread_m=0.0))
    assert len(network._snaps) == SNAP_CACHE_SETS


def test_nearest_facility_time_is_the_same_on_a_repeated_call(futian):
    demand = _points(futian, 800, seed=4, spread_m=0.0)
    fac = _near_streets(futian, 12, seed=5).assign(facility_type="elderly_station")
    futian.clear_caches()
    first = nearest_facility_time(futian, demand, fac)
    second = nearest_facility_time(futian, demand, fac)
    pd.testing.assert_frame_equal(first, second)
    futian.clear_caches()
    pd.testing.assert_frame_equal(nearest_facility_time(futian, demand, fac), first)
