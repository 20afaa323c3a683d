"""Access: nearest-facility time, reach matrices, coverage, service areas and 2SFCA.

The results are checked against straightforward networkx reference implementations on the
same snapped points (real Futian graph, hand-made graphs, hypothesis-generated graphs).
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import dijkstra

from geoplan.access import (
    DEFAULT_SPEED_M_PER_MIN,
    LIFE_CIRCLE_REACH_M,
    REACH_EPSILON_M,
    coverage_by_unit,
    coverage_gaps,
    nearest_facility_time,
    nearest_source_distance,
    reach_matrix,
    service_areas,
    tier_reach_m,
    two_step_fca,
)
from geoplan.crs import gk_zone_epsg
from geoplan.errors import CRSError, NetworkError, SchemaError
from geoplan.network import (
    WalkNetwork,
    snap_points,
    walk_network_from_edges,
    walk_network_from_file,
)

X0, Y0 = 500_000.0, 2_730_000.0


@pytest.fixture(scope="module")
def futian(futian_graphml):
    return walk_network_from_file(futian_graphml, coords="wgs84", metric_epsg=gk_zone_epsg(114.02))


def _points_near(network, n, seed, offset_m=20.0):
    rng = np.random.default_rng(seed)
    lengths = network.edges["length_m"].to_numpy()
    e = rng.choice(len(lengths), n, p=lengths / lengths.sum())
    pts = shapely.line_interpolate_point(network.edge_lines[e], rng.random(n), normalized=True)
    return shapely.get_coordinates(pts) + rng.uniform(-offset_m, offset_m, (n, 2))


@pytest.fixture(scope="module")
def layers(futian):
    cells = _points_near(futian, 600, seed=1)
    rng = np.random.default_rng(2)
    pop = rng.integers(0, 200, len(cells)).astype(float)
    demand = gpd.GeoDataFrame(
        {"pop": pop, "households": np.round(pop / 2.5), "pop_60plus": np.round(pop * 0.12),
         "pop_80plus": np.round(pop * 0.02)},
        geometry=[shapely.box(x - 25, y - 25, x + 25, y + 25) for x, y in cells],
        crs=futian.crs, index=pd.Index([f"c{i}" for i in range(len(cells))], name="cell_id"))
    fxy = _points_near(futian, 24, seed=3, offset_m=15.0)
    facilities = gpd.GeoDataFrame(
        {"facility_type": ["elderly_station"] * 10 + ["senior_canteen"] * 8 + ["columbarium"] * 6,
         "beds": rng.integers(5, 60, 24).astype(float)},
        geometry=shapely.points(fxy), crs=futian.crs,
        index=pd.Index([f"f{i}" for i in range(24)], name="facility_id"))
    x0, y0 = futian.node_xy.min(axis=0) - 50
    x1, y1 = futian.node_xy.max(axis=0) + 50
    xm = (x0 + x1) / 2
    units = gpd.GeoDataFrame(
        {"code": ["440304001", "440304002", "440304001001", "440304001002", "440304002001"],
         "name": ["园岭街道", "华富街道", "甲社区", "乙社区", "丙社区"],
         "level": ["town", "town", "village", "village", "village"]},
        geometry=[shapely.box(x0, y0, xm, y1), shapely.box(xm, y0, x1, y1),
                  shapely.box(x0, y0, xm, (y0 + y1) / 2), shapely.box(x0, (y0 + y1) / 2, xm, y1),
                  shapely.box(xm, y0, x1, y1)],
        crs=futian.crs)
    return demand, facilities, units


# --- reference implementation -----------------------------------------------------------


def _graph(network):
    g = nx.Graph()
    g.add_nodes_from(range(network.n_nodes))
    for u, v, w in network.edges[["u", "v", "length_m"]].itertuples(index=False):
        if u != v and (not g.has_edge(u, v) or g[u][v]["w"] > w):
            g.add_edge(u, v, w=w)
    return g


def _reference_matrix(network, src, dem):
    """Walking distance source i -> demand j by brute force with networkx (all pairs)."""
    g = _graph(network)
    out = np.full((len(src), len(dem)), np.inf)
    du_, dv_ = dem["u"].to_numpy(), dem["v"].to_numpy()
    to_u = dem["access_m"].to_numpy() + dem["along_m"].to_numpy()
    to_v = dem["access_m"].to_numpy() + dem["edge_length_m"].to_numpy() - dem["along_m"].to_numpy()
    for i, s in enumerate(src.itertuples()):
        a = nx.single_source_dijkstra_path_length(g, s.u, weight="w")
        b = nx.single_source_dijkstra_path_length(g, s.v, weight="w")
        node = np.full(network.n_nodes, np.inf)
        for k, d in a.items():
            node[k] = min(node[k], s.access_m + s.along_m + d)
        for k, d in b.items():
            node[k] = min(node[k], s.access_m + s.edge_length_m - s.along_m + d)
        out[i] = np.minimum(node[du_] + to_u, node[dv_] + to_v)
        same = dem["edge"].to_numpy() == s.edge
        direct = s.access_m + np.abs(s.along_m - dem["along_m"].to_numpy()) + dem["access_m"]
        out[i, same] = np.minimum(out[i, same], direct.to_numpy()[same])
    return out


# --- hand-computed ----------------------------------------------------------------------


def _line_network():
    lines = [shapely.LineString([(X0, Y0), (X0 + 100, Y0)]),
             shapely.LineString([(X0 + 100, Y0), (X0 + 200, Y0)])]
    return walk_network_from_edges(gpd.GeoDataFrame(geometry=lines, crs=4549))


def _pts(xy, index, **cols):
    return gpd.GeoDataFrame(cols, geometry=shapely.points(np.asarray(xy, dtype=float)),
                            crs=4549, index=index)


def test_hand_computed_distances_including_same_edge():
    net = _line_network()
    fac = _pts([(X0 + 50, Y0 + 10)], ["f1"], facility_type=["elderly_station"])
    dem = _pts([(X0 + 130, Y0 - 5), (X0 + 80, Y0 + 4), (X0 + 20, Y0 - 1)], ["a", "b", "c"],
               pop=[1.0, 2.0, 3.0])
    out = nearest_facility_time(net, dem, fac)
    # a: 10 access + 50 to node + 30 along + 5 access; b, c: directly along the same edge
    assert out["elderly_station_dist_m"].tolist() == pytest.approx([95.0, 44.0, 41.0])
    assert out["elderly_station_time_min"].tolist() == pytest.approx(
        [95.0 / 60, 44.0 / 60, 41.0 / 60])
    assert out["elderly_station_facility"].tolist() == ["f1", "f1", "f1"]
    assert out["access_m"].tolist() == pytest.approx([5.0, 4.0, 1.0])
    m = reach_matrix(net, fac, dem, 60.0)
    assert m.shape == (1, 3)
    assert m.toarray()[0] == pytest.approx([0.0, 44.0, 41.0])


def test_limit_leaves_far_cells_unreached():
    net = _line_network()
    fac = _pts([(X0, Y0)], ["f"], facility_type=["senior_canteen"])
    dem = _pts([(X0 + 40, Y0), (X0 + 190, Y0)], ["near", "far"], pop=[1.0, 1.0])
    out = nearest_facility_time(net, dem, fac, max_minutes=2.0)  # 120 m
    assert out.loc["near", "senior_canteen_dist_m"] == pytest.approx(40.0)
    assert np.isnan(out.loc["far", "senior_canteen_dist_m"])
    assert pd.isna(out.loc["far", "senior_canteen_facility"])


def test_zero_distance_pair_is_stored_as_epsilon():
    net = _line_network()
    site = _pts([(X0 + 70, Y0)], ["s"])
    m = reach_matrix(net, site, _pts([(X0 + 70, Y0)], ["d"]), 10.0)
    assert m.nnz == 1
    assert m.data[0] == REACH_EPSILON_M


# --- against networkx on the real Futian graph ------------------------------------------


def test_nearest_facility_time_equals_networkx_reference_on_futian(futian, layers):
    demand, facilities, _ = layers
    out = nearest_facility_time(futian, demand, facilities, max_minutes=20.0)
    dem = snap_points(futian, demand)
    fac = snap_points(futian, facilities)
    ref = _reference_matrix(futian, fac, dem)
    for t in facilities["facility_type"].unique():
        rows = np.flatnonzero(facilities["facility_type"].to_numpy() == t)
        best = ref[rows].min(axis=0)
        best[best > 20 * 60] = np.nan
        got = out[f"{t}_dist_m"].to_numpy()
        np.testing.assert_allclose(got, best, atol=1e-6, rtol=0)
        reached = ~np.isnan(got)
        assert reached.mean() > 0.5
        ids = out.loc[reached, f"{t}_facility"].to_numpy()
        pos = facilities.index.get_indexer(ids)
        # the named facility is at the reported distance (ties may name another one)
        np.testing.assert_allclose(ref[pos, np.flatnonzero(reached)], got[reached], atol=1e-6)


def test_reach_matrix_equals_networkx_reference_on_futian(futian, layers):
    demand, _, _ = layers
    sites = gpd.GeoDataFrame(geometry=shapely.points(_points_near(futian, 70, seed=9)),
                             crs=futian.crs)
    m = reach_matrix(futian, sites, demand, 700.0, n_threads=3)
    ref = _reference_matrix(futian, snap_points(futian, sites), snap_points(futian, demand))
    ref[ref > 700.0] = np.inf
    assert m.shape == (70, 600)
    assert m.has_sorted_indices
    dense = np.full(m.shape, np.inf)
    coo = m.tocoo()
    dense[coo.row, coo.col] = coo.data
    assert m.nnz == np.isfinite(ref).sum() > 1000
    np.testing.assert_allclose(dense, ref, atol=1e-6, rtol=0)


def test_coverage_by_unit_equals_reference_counts(futian, layers):
    demand, facilities, units = layers
    table = coverage_by_unit(futian, demand, facilities, units, tiers_min=(5, 10, 15))
    dem = snap_points(futian, demand)
    ref = _reference_matrix(futian, snap_points(futian, facilities), dem)
    centre = shapely.get_coordinates(demand.geometry.centroid)
    in_first_town = centre[:, 0] < units.geometry.iloc[0].bounds[2]
    for t in ["elderly_station", "columbarium"]:
        rows = np.flatnonzero(facilities["facility_type"].to_numpy() == t)
        best = ref[rows].min(axis=0)
        fxy = shapely.get_coordinates(facilities.geometry.iloc[rows])
        line = np.hypot(*(centre[:, None, :] - fxy[None]).transpose(2, 0, 1)).min(axis=1)
        for tier in (5, 10, 15):
            reach = LIFE_CIRCLE_REACH_M[tier]  # the default: GB 50180-2018 distances
            row = table.query("level == 'town' and code == '440304001' and "
                              "facility_type == @t and tier_min == @tier").iloc[0]
            covered = (best <= reach) & in_first_town
            assert row["pop_covered"] == pytest.approx(demand["pop"].to_numpy()[covered].sum())
            assert row["pop_60plus_total"] == demand["pop_60plus"].to_numpy()[in_first_town].sum()
            straight = (line <= reach) & in_first_town
            assert row["pop_covered_straight"] == pytest.approx(
                demand["pop"].to_numpy()[straight].sum())
            assert row["name"] == "园岭街道"
            study = table.query("level == 'study' and facility_type == @t and tier_min == @tier")
            assert study["households_covered"].iloc[0] == pytest.approx(
                demand["households"].to_numpy()[best <= reach].sum())
    # walking is never shorter than the straight line
    assert (table["pop_detour_loss"] >= -1e-9).all()
    assert set(table["level"]) == {"study", "town", "village"}


def test_coverage_gaps_layer(futian, layers):
    demand, facilities, _ = layers
    nearest = nearest_facility_time(futian, demand, facilities)
    gaps = coverage_gaps(demand, nearest, tier_min=15)
    assert 0 < len(gaps) < len(demand)
    assert gaps.crs == demand.crs
    row = gaps.iloc[0]
    for t in row["missing_types"].split(","):
        assert not row[f"{t}_covered"]
        assert not row[f"{t}_dist_m"] <= 900.0
    covered_all = demand.index.difference(gaps.index)
    for t in facilities["facility_type"].unique():
        assert (nearest.loc[covered_all, f"{t}_dist_m"] <= 900.0).all()


def test_service_areas_contain_reached_streets(futian, layers):
    demand, facilities, _ = layers
    some = facilities.iloc[:4]
    areas = service_areas(futian, some, 600.0, access_width_m=10.0)
    assert list(areas.index) == list(some.index)
    assert (areas.geometry.geom_type.isin(["Polygon", "MultiPolygon"])).all()
    dem = snap_points(futian, demand)
    ref = _reference_matrix(futian, snap_points(futian, some), dem)
    snapped = shapely.points(dem[["x", "y"]].to_numpy())
    on_street = ref - dem["access_m"].to_numpy()  # distance to the cell's street point
    for i, poly in enumerate(areas.geometry):
        inside = shapely.contains(shapely.buffer(poly, 0.01), snapped)
        assert inside[on_street[i] <= 600.0].all()
        assert not inside[on_street[i] > 600.0 + 150].all()
    dissolved = service_areas(futian, facilities, 600.0, dissolve_by="facility_type")
    assert sorted(dissolved.index) == sorted(facilities["facility_type"].unique())
    es = dissolved.loc["elderly_station"].geometry
    four = areas.geometry.union_all()  # 10 m wide; the dissolved area is 25 m wide
    assert es.buffer(0.01).contains(four)


def test_two_step_fca_equals_simple_reference(futian, layers):
    demand, facilities, units = layers
    beds = facilities.loc[facilities["facility_type"] == "elderly_station"]
    res = two_step_fca(futian, demand, beds, max_m=900.0, units=units)
    d = _reference_matrix(futian, snap_points(futian, beds), snap_points(futian, demand))
    within = d <= 900.0
    p = demand["pop_60plus"].to_numpy()
    ratio = np.array([beds["beds"].iloc[j] / p[within[j]].sum() if p[within[j]].sum() > 0
                      else 0.0 for j in range(len(beds))])
    expected = np.array([ratio[within[:, i]].sum() for i in range(len(demand))])
    np.testing.assert_allclose(res.cells["access_ratio"], expected, rtol=1e-12)
    np.testing.assert_allclose(res.facilities["demand_in_catchment"],
                               [p[within[j]].sum() for j in range(len(beds))])
    town = res.units.query("level == 'town'")
    assert set(town["code"]) <= {"440304001", "440304002"}
    # supply is conserved: beds reaching anyone equal the sum of ratio * people reached
    total_beds = beds["beds"].to_numpy()[res.facilities["demand_in_catchment"] > 0].sum()
    assert (res.cells["access_ratio"] * p).sum() == pytest.approx(total_beds)


# --- bad input --------------------------------------------------------------------------


def test_errors_name_the_cause(futian, layers):
    demand, facilities, units = layers
    with pytest.raises(SchemaError, match="no facility of type 'nursing_home'"):
        nearest_facility_time(futian, demand, facilities, types=["nursing_home"])
    far = facilities.copy()
    far.geometry = far.geometry.translate(20_000.0, 0.0)
    with pytest.raises(NetworkError, match="outside the walking network's extent"):
        nearest_facility_time(futian, demand, far)
    with pytest.raises(CRSError, match="geographic CRS"):
        nearest_facility_time(futian, demand, facilities.to_crs(4326))
    nan_pop = demand.copy()
    nan_pop.iloc[3, nan_pop.columns.get_loc("pop_60plus")] = np.nan
    with pytest.raises(SchemaError, match="NaN"):
        coverage_by_unit(futian, nan_pop, facilities, units)
    with pytest.raises(SchemaError, match="NaN"):
        two_step_fca(futian, nan_pop, facilities)
    with pytest.raises(SchemaError, match="must be positive"):
        nearest_facility_time(futian, demand, facilities, speed_m_per_min=0)
    with pytest.raises(SchemaError, match="must be positive"):
        reach_matrix(futian, facilities, demand, 0.0)
    with pytest.raises(SchemaError, match="column missing"):
        nearest_facility_time(futian, demand, facilities.drop(columns="facility_type"))
    untyped = facilities.copy()
    untyped["facility_type"] = untyped["facility_type"].astype(object)
    untyped.iloc[0, untyped.columns.get_loc("facility_type")] = None
    with pytest.raises(SchemaError, match="facility type missing"):
        nearest_facility_time(futian, demand, untyped)
    with pytest.raises(SchemaError, match="not aligned"):
        coverage_gaps(demand.iloc[:5], nearest_facility_time(futian, demand, facilities))
    with pytest.raises(CRSError, match="admin units are in"):
        coverage_by_unit(futian, demand, facilities, units.to_crs(4326))
    with pytest.raises(SchemaError, match="column missing"):
        service_areas(futian, facilities, 500.0, dissolve_by="kind")


# --- property tests on random small graphs ----------------------------------------------


@st.composite
def small_city(draw):
    n = draw(st.integers(4, 18))
    xy = np.array(draw(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 400)),
                                min_size=n, max_size=n, unique=True)), dtype=float)
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                          min_size=n - 1, max_size=3 * n))
    pairs = [(a, b) for a, b in pairs if a != b]
    if not pairs:
        pairs = [(0, 1)]
    seeds = draw(st.integers(0, 2**16))
    return xy + np.array([X0, Y0]), pairs, seeds


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_city())
def test_property_nearest_and_reach_equal_networkx(city):
    xy, pairs, seed = city
    lines = [shapely.LineString([xy[a], xy[b]]) for a, b in pairs]
    net = walk_network_from_edges(gpd.GeoDataFrame(geometry=lines, crs=4549))
    assert isinstance(net, WalkNetwork)
    rng = np.random.default_rng(seed)
    # node to node: scipy on the CSR equals networkx's multi_source_dijkstra
    starts = {0, net.n_nodes - 1}
    ref_nodes = nx.multi_source_dijkstra_path_length(_graph(net), starts, weight="w")
    got = dijkstra(net.csr, indices=sorted(starts), min_only=True)
    expected = [ref_nodes.get(i, np.inf) for i in range(net.n_nodes)]
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
    pts = _points_near(net, 12, seed=seed, offset_m=8.0)
    src = snap_points(net, gpd.GeoDataFrame(geometry=shapely.points(pts[:3]), crs=4549))
    dem = snap_points(net, gpd.GeoDataFrame(geometry=shapely.points(pts[3:]), crs=4549))
    ref = _reference_matrix(net, src, dem)
    limit = float(rng.uniform(50, 800))
    dist, who = nearest_source_distance(net, src, dem, limit)
    best = ref.min(axis=0)
    best[best > limit] = np.inf
    np.testing.assert_allclose(dist, best, atol=1e-6, rtol=0)
    hit = np.isfinite(dist)
    np.testing.assert_allclose(ref[who[hit], np.flatnonzero(hit)], dist[hit], atol=1e-6)
    m = reach_matrix(net, None, None, limit, sites_snap=src, demand_snap=dem, n_threads=2)
    dense = np.full(m.shape, np.inf)
    coo = m.tocoo()
    dense[coo.row, coo.col] = np.where(coo.data == REACH_EPSILON_M, 0.0, coo.data)
    expected = np.where(ref <= limit, ref, np.inf)
    np.testing.assert_allclose(dense, expected, atol=1e-6, rtol=0)


def test_tier_distances_follow_gb50180_unless_a_speed_is_given():
    # GB 50180-2018: 5 min ≈ 300 m, 10 min ≈ 500 m, 15 min ≈ 800-1000 m
    assert tier_reach_m([5, 10, 15]) == (300.0, 500.0, 900.0)
    # between the life circles linear, beyond 15 minutes at the default speed
    assert tier_reach_m([7.5, 20]) == (400.0, 900.0 + 5 * DEFAULT_SPEED_M_PER_MIN)
    reach = tier_reach_m(np.linspace(0.5, 40, 80))
    assert all(np.diff(reach) > 0)  # a longer tier always reaches farther
    assert tier_reach_m([5, 10, 15], 70.0) == (350.0, 700.0, 1050.0)
    for bad in ([], [0], [-5], [np.nan]):
        with pytest.raises(SchemaError):
            tier_reach_m(bad)
    with pytest.raises(SchemaError):
        tier_reach_m(15, 0.0)


def test_coverage_reach_column_and_gaps_use_the_tier_distances(futian, layers):
    demand, facilities, units = layers
    nearest = nearest_facility_time(futian, demand, facilities, max_minutes=15)
    assert nearest.attrs["limit_m"] == 900.0
    table = coverage_by_unit(futian, demand, facilities, units, tiers_min=(5, 10, 15),
                             nearest=nearest)
    assert dict(zip(table["tier_min"], table["reach_m"], strict=True)) == {
        5.0: 300.0, 10.0: 500.0, 15.0: 900.0}
    gaps = coverage_gaps(demand, nearest, tier_min=10, types=["elderly_station"])
    dist = nearest["elderly_station_dist_m"].fillna(np.inf)
    assert set(gaps.index) == set(demand.index[(dist > 500.0).to_numpy()])
    assert (gaps["reach_m"] == 500.0).all()
    # times are at the default speed, whatever the tier distances
    np.testing.assert_allclose(nearest["elderly_station_time_min"],
                               nearest["elderly_station_dist_m"] / DEFAULT_SPEED_M_PER_MIN)
    # with a speed every tier is minutes × speed
    fast = coverage_by_unit(futian, demand, facilities, units, tiers_min=(10,),
                            speed_m_per_min=70.0)
    assert (fast["reach_m"] == 700.0).all()
