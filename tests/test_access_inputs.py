"""Access on awkward inputs: reach matrices against an independent split-edge reference,
the GCJ-02 warning on the real Futian network, and clear errors for bad input."""

from __future__ import annotations

import warnings
from collections import defaultdict

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from geoplan.access import (
    REACH_EPSILON_M,
    coverage_by_unit,
    coverage_gaps,
    nearest_facility_time,
    reach_matrix,
    service_areas,
    two_step_fca,
)
from geoplan.crs import gk_zone_epsg, wgs84_to_bd09, wgs84_to_gcj02
from geoplan.errors import NetworkError, SchemaError
from geoplan.network import WalkNetwork, check_snap_offset, snap_points, walk_network_from_file

ORIGIN = np.array([500_000.0, 2_730_000.0])


@pytest.fixture(scope="module")
def futian(futian_graphml):
    return walk_network_from_file(futian_graphml, coords="wgs84", metric_epsg=gk_zone_epsg(114.02))


@pytest.fixture(scope="module")
def oakland(shared_data):
    return walk_network_from_file(shared_data / "osm" / "west-oakland.osm.bz2", coords="wgs84")


def _near_streets(network, n, seed, offset_m):
    rng = np.random.default_rng(seed)
    lengths = network.edges["length_m"].to_numpy()
    e = rng.choice(len(lengths), n, p=lengths / lengths.sum())
    pts = shapely.line_interpolate_point(network.edge_lines[e], rng.random(n), normalized=True)
    return shapely.get_coordinates(pts) + rng.uniform(-offset_m, offset_m, (n, 2))


def _points(xy, crs, prefix="p", **cols):
    xy = np.asarray(xy, dtype=float)
    return gpd.GeoDataFrame(cols, geometry=shapely.points(xy), crs=crs,
                            index=[f"{prefix}{i}" for i in range(len(xy))])


# --- independent reference: every snapped point becomes a node on its edge -------------


def _split_edge_graph(network, snaps):
    """networkx MultiGraph of the edge table with each snapped point spliced into its edge."""
    graph = nx.MultiGraph()
    graph.add_nodes_from(range(network.n_nodes))
    on_edge = defaultdict(list)
    for name, snap in snaps.items():
        for i, (e, along, acc) in enumerate(snap[["edge", "along_m", "access_m"]].itertuples(
                index=False)):
            on_edge[int(e)].append((float(along), name, i, float(acc)))
    edges = network.edges[["u", "v", "length_m"]].itertuples(index=False)
    for e, (u, v, length) in enumerate(edges):
        prev, prev_along = int(u), 0.0
        for along, name, i, acc in sorted(on_edge.get(e, [])):
            graph.add_edge(prev, ("on", name, i), w=along - prev_along)
            graph.add_edge(("on", name, i), (name, i), w=acc)
            prev, prev_along = ("on", name, i), along
        graph.add_edge(prev, int(v), w=float(length) - prev_along)
    return graph


def _reference(network, sites_snap, cells_snap):
    graph = _split_edge_graph(network, {"s": sites_snap, "c": cells_snap})
    out = np.full((len(sites_snap), len(cells_snap)), np.inf)
    for i in range(len(sites_snap)):
        dist = nx.single_source_dijkstra_path_length(graph, ("s", i), weight="w")
        out[i] = [dist.get(("c", j), np.inf) for j in range(len(cells_snap))]
    return out


def _dense(matrix):
    out = np.full(matrix.shape, np.inf)
    coo = matrix.tocoo()
    out[coo.row, coo.col] = np.where(coo.data == REACH_EPSILON_M, 0.0, coo.data)
    return out


def _assert_reach_equals_reference(network, sites, cells, limits):
    s_snap, c_snap = snap_points(network, sites), snap_points(network, cells)
    ref = _reference(network, s_snap, c_snap)
    for max_m in limits:
        got = _dense(reach_matrix(network, sites, cells, max_m, sites_snap=s_snap,
                                  demand_snap=c_snap, n_threads=2))
        expected = np.where(ref <= max_m, ref, np.inf)
        np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0, err_msg=f"max_m={max_m}")
        near = nearest_facility_time(network, cells, sites.assign(facility_type="x"),
                                     max_minutes=max_m / 60.0, speed_m_per_min=60.0,
                                     demand_snap=c_snap,
                                     max_access_m=np.inf)
        best = expected.min(axis=0)
        np.testing.assert_allclose(near["x_dist_m"].fillna(np.inf), best, atol=1e-6, rtol=0)
    return ref


def test_reach_on_futian_with_shared_edges_nodes_and_extreme_limits(futian):
    rng = np.random.default_rng(11)
    site_xy = _near_streets(futian, 25, seed=12, offset_m=30.0)
    cell_xy = np.vstack([
        _near_streets(futian, 250, seed=13, offset_m=30.0),
        futian.node_xy[rng.choice(futian.n_nodes, 20)],  # cells exactly at nodes
        site_xy[:5] + rng.uniform(-3, 3, (5, 2)),  # on the sites' own edges
        site_xy[:2],  # at the sites themselves
    ])
    site_xy = np.vstack([site_xy, futian.node_xy[:2]])  # sites exactly at nodes
    ref = _assert_reach_equals_reference(
        futian, _points(site_xy, futian.crs, "s"), _points(cell_xy, futian.crs, "c"),
        limits=(0.5, 60.0, 900.0, 1e9, np.inf))
    assert np.isfinite(ref).mean() > 0.9  # the huge limits reach (almost) everything
    one = _points(site_xy[:1], futian.crs, "s")
    _assert_reach_equals_reference(futian, one, _points(cell_xy, futian.crs, "c"), (700.0,))


def test_reach_on_west_oakland_with_disconnected_parts(oakland):
    assert oakland.component.max() > 0
    sites = _points(_near_streets(oakland, 8, seed=21, offset_m=20.0), oakland.crs, "s")
    small = np.flatnonzero(oakland.component[oakland.edges["u"]] > 0)
    on_small = shapely.get_coordinates(
        shapely.line_interpolate_point(oakland.edge_lines[small], 0.5, normalized=True))
    cells = _points(np.vstack([_near_streets(oakland, 80, seed=22, offset_m=20.0), on_small]),
                    oakland.crs, "c")
    ref = _assert_reach_equals_reference(oakland, sites, cells, (1.0, 300.0, 1e7))
    assert np.isinf(ref[:, -len(on_small):]).any()


def _awkward_network():
    """Loops, parallel streets, a zero-length link between two nodes at one spot, 0.3 m
    pieces, a detached part."""
    xy = np.array([[0, 0], [100, 0], [100, 0], [100.3, 0], [200, 0], [200, 80], [0, 80],
                   [500, 500], [540, 500]], dtype=float) + ORIGIN
    rows = [
        (0, 1, [(0, 0), (100, 0)]),
        (1, 2, [(100, 0), (100, 0)]),  # zero length: two OSM nodes at the same spot
        (2, 3, [(100, 0), (100.3, 0)]),  # very short
        (3, 4, [(100.3, 0), (200, 0)]),
        (4, 5, [(200, 0), (200, 80)]),
        (4, 5, [(200, 0), (260, 40), (200, 80)]),  # parallel, longer
        (5, 6, [(200, 80), (0, 80)]),
        (6, 0, [(0, 80), (0, 0)]),
        (6, 6, [(0, 80), (-30, 110), (0, 140), (0, 80)]),  # a loop
        (7, 8, [(500, 500), (540, 500)]),  # detached
    ]
    lines = [shapely.LineString(np.asarray(c, dtype=float) + ORIGIN) for _, _, c in rows]
    edges = gpd.GeoDataFrame({"u": [r[0] for r in rows], "v": [r[1] for r in rows],
                              "length_m": shapely.length(lines)}, geometry=lines, crs=4549)
    return WalkNetwork(xy, edges, 4549)


def test_reach_on_loops_parallel_zero_length_and_detached_edges():
    net = _awkward_network()
    sites = _points(np.array([(100.1, 2), (230, 40), (-20, 110), (520, 505)]) + ORIGIN,
                    4549, "s")
    rng = np.random.default_rng(5)
    cells = _points(np.vstack([
        rng.uniform([-40, -10], [270, 150], (60, 2)),
        [(100, 0), (100.3, 0), (0, 80), (250, 40), (200, 40), (-25, 110), (530, 499)],
    ]) + ORIGIN, 4549, "c")
    _assert_reach_equals_reference(net, sites, cells, (0.2, 0.35, 50.0, 250.0, 1e6))


# --- GCJ-02 offset warning on the real network ------------------------------------------


def _as_if_shifted(network, xy, convert):
    """Points whose WGS-84 position is ``xy`` given in ``convert``'s datum, read as WGS-84."""
    lonlat = gpd.GeoSeries(shapely.points(xy), crs=network.crs).to_crs(4326)
    lon, lat = convert(lonlat.x.to_numpy(), lonlat.y.to_numpy())
    shifted = gpd.GeoSeries(shapely.points(np.column_stack([lon, lat])), crs=4326)
    return shapely.get_coordinates(shifted.to_crs(network.crs).to_numpy())


def _warns(network, xy):
    layer = _points(xy, network.crs, "f", facility_type="elderly_station")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fired = check_snap_offset(layer, snap_points(network, layer), network=network)
    assert fired == any("coords=" in str(w.message) for w in caught)
    return fired


def test_gcj02_shift_of_facilities_on_futian_warns(futian):
    fired_true, fired_gcj, fired_bd = 0, 0, 0
    for seed in range(10):
        xy = _near_streets(futian, 24, seed=100 + seed, offset_m=20.0)
        fired_true += _warns(futian, xy)
        fired_gcj += _warns(futian, _as_if_shifted(futian, xy, wgs84_to_gcj02))
        fired_bd += _warns(futian, _as_if_shifted(futian, xy, wgs84_to_bd09))
    assert fired_true == 0
    assert fired_gcj >= 9
    assert fired_bd >= 9
    # through the public entry point, naming the fix
    xy = _as_if_shifted(futian, _near_streets(futian, 24, seed=7, offset_m=20.0),
                        wgs84_to_gcj02)
    cells = _points(_near_streets(futian, 50, seed=8, offset_m=20.0), futian.crs, "c")
    # one shifted facility left the extract: the datum hint comes before the error
    with (pytest.warns(UserWarning, match="coords='gcj02'"),
          pytest.raises(NetworkError, match=r"from any street\): f2\.")):
        nearest_facility_time(futian, cells, _points(xy, futian.crs, "f", facility_type="t"))
    with pytest.warns(UserWarning, match="coords='gcj02'"):
        nearest_facility_time(futian, cells, _points(np.delete(xy, 2, axis=0), futian.crs,
                                                     "f", facility_type="t"))


def test_no_datum_warning_outside_china(oakland):
    xy = _near_streets(oakland, 12, seed=3, offset_m=10.0)
    assert not _warns(oakland, xy)


# --- bad input ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(futian):
    rng = np.random.default_rng(0)
    cells = _points(futian.node_xy[rng.choice(futian.n_nodes, 40)] + 5, futian.crs, "c",
                    pop=rng.integers(1, 100, 40).astype(float), households=1.0,
                    pop_60plus=1.0, pop_80plus=0.0)
    fac = _points(futian.node_xy[rng.choice(futian.n_nodes, 6)] + 3, futian.crs, "f",
                  facility_type=[1, 1, 1, 2, 2, 2], beds=10.0)
    x0, y0 = futian.node_xy.min(axis=0) - 100
    x1, y1 = futian.node_xy.max(axis=0) + 100
    units = gpd.GeoDataFrame({"code": ["440304001", "440304002"], "name": ["甲街道", "乙街道"],
                              "level": ["town", "town"]},
                             geometry=[shapely.box(x0, y0, (x0 + x1) / 2, y1),
                                       shapely.box((x0 + x1) / 2, y0, x1, y1)], crs=futian.crs)
    return cells, fac, units


def test_numeric_type_codes_and_a_single_type_name(futian, small):
    cells, fac, _ = small
    out = nearest_facility_time(futian, cells, fac)
    assert {"1_dist_m", "2_dist_m"} <= set(out.columns)
    assert set(out["1_facility"].dropna()) <= {"f0", "f1", "f2"}
    one = nearest_facility_time(futian, cells, fac, types=[1])
    np.testing.assert_array_equal(one["1_dist_m"], out["1_dist_m"])
    named = fac.assign(facility_type=["elderly_station"] * 3 + ["columbarium"] * 3)
    single = nearest_facility_time(futian, cells, named, types="elderly_station")
    assert [c for c in single.columns if c.endswith("_dist_m")] == ["elderly_station_dist_m"]


def test_only_the_analysed_types_must_lie_on_the_network(futian, small):
    cells, fac, _ = small
    far = fac.copy()
    far.geometry = [shapely.Point(0, 0), *far.geometry.iloc[1:]]
    out = nearest_facility_time(futian, cells, far, types=[2])
    assert out["2_dist_m"].notna().any()
    with pytest.raises(NetworkError, match="f0"):
        nearest_facility_time(futian, cells, far)


def test_empty_demand_gives_an_empty_table(futian, small):
    cells, fac, _ = small
    out = nearest_facility_time(futian, cells.iloc[:0], fac)
    assert len(out) == 0
    assert "1_dist_m" in out.columns


def test_bad_points_and_parameters_name_the_cause(futian, small):
    cells, fac, _ = small
    nan_point = fac.copy()
    nan_point.geometry = [shapely.Point(np.nan, np.nan), *fac.geometry.iloc[1:]]
    with pytest.raises(NetworkError, match=r"NaN or infinite coordinates, e.g. \['f0'\]"):
        nearest_facility_time(futian, cells, nan_point)
    with pytest.raises(SchemaError, match="duplicate facility id"):
        nearest_facility_time(futian, cells, fac.set_axis(["a", "a", "b", "c", "d", "e"]))
    with pytest.raises(SchemaError, match="not the snap of this demand layer"):
        nearest_facility_time(futian, cells, fac, demand_snap=snap_points(futian, cells[:5]))
    for kwargs in ({"speed_m_per_min": np.inf}, {"max_access_m": np.nan}):
        with pytest.raises(SchemaError, match="must be positive"):
            nearest_facility_time(futian, cells, fac, **kwargs)


def test_coverage_refuses_bad_tiers_units_and_nearest_tables(futian, small):
    cells, fac, units = small
    for tiers in ((), (-5, 15), (np.nan,)):
        with pytest.raises(SchemaError, match="tiers_min"):
            coverage_by_unit(futian, cells, fac, units, tiers_min=tiers)
    with pytest.raises(SchemaError, match="admin-unit layer is empty"):
        coverage_by_unit(futian, cells, fac, units.iloc[:0])
    short = nearest_facility_time(futian, cells, fac, max_minutes=5)
    with pytest.raises(SchemaError, match="searched only to 300 m"):
        coverage_by_unit(futian, cells, fac, units, nearest=short)
    with pytest.raises(SchemaError, match="searched only to 300 m"):
        coverage_gaps(cells, short, tier_min=15)
    assert len(coverage_gaps(cells, short, tier_min=5)) <= len(cells)
    with pytest.raises(SchemaError, match="not aligned"):
        coverage_by_unit(futian, cells, fac, units,
                         nearest=nearest_facility_time(futian, cells.iloc[:10], fac))
    with pytest.raises(SchemaError, match="no facility type"):
        coverage_gaps(cells, short, types=[])
    inf_pop = cells.assign(pop=[np.inf] + [1.0] * (len(cells) - 1))
    with pytest.raises(SchemaError, match="row 'c0', column 'pop': infinite"):
        coverage_by_unit(futian, inf_pop, fac, units)
    table = coverage_by_unit(futian, cells, fac, units, tiers_min=15, measures="pop")
    assert set(table["tier_min"]) == {15.0}
    assert "pop_covered" in table.columns


def test_service_areas_and_fca_refuse_bad_input(futian, small):
    cells, fac, _ = small
    far = fac.copy()
    far.geometry = far.geometry.translate(30_000, 0)
    with pytest.raises(NetworkError, match="outside the walking network's extent"):
        service_areas(futian, far, 500.0)
    untyped = fac.assign(facility_type=[1, None, 1, 2, 2, 2])
    with pytest.raises(SchemaError, match="row 'f1', column 'facility_type': missing value"):
        service_areas(futian, untyped, 500.0, dissolve_by="facility_type")
    wrong = reach_matrix(futian, fac.iloc[:2], cells, 900.0)
    with pytest.raises(SchemaError, match="reach matrix is 2 x 40"):
        two_step_fca(futian, cells, fac, reach=wrong)
    with pytest.raises(SchemaError, match="infinite"):
        two_step_fca(futian, cells, fac.assign(beds=[np.inf] + [1.0] * 5))
    with pytest.raises(SchemaError, match="max_m must be positive"):
        two_step_fca(futian, cells, fac, max_m=0.0)


def test_population_on_disconnected_parts_is_logged(oakland, caplog):
    small_edges = np.flatnonzero(oakland.component[oakland.edges["u"]] > 0)
    on_small = shapely.get_coordinates(shapely.line_interpolate_point(
        oakland.edge_lines[small_edges], 0.5, normalized=True))
    main_edges = np.flatnonzero(oakland.component[oakland.edges["u"]] == 0)[:5]
    on_main = shapely.get_coordinates(shapely.line_interpolate_point(
        oakland.edge_lines[main_edges], 0.5, normalized=True))
    cells = _points(np.vstack([on_small, on_main]), oakland.crs, "c",
                    pop=[7.0] * len(on_small) + [1.0] * 5)
    fac = _points(_near_streets(oakland, 3, seed=2, offset_m=5.0), oakland.crs, "f",
                  facility_type="t")
    with caplog.at_level("WARNING", logger="geoplan.access"):
        nearest_facility_time(oakland, cells, fac)
    text = caplog.text
    assert f"{len(on_small)} demand cells ({7 * len(on_small)} people)" in text
    assert "components_report" in text


def test_points_kilometres_away_get_the_extent_error_not_a_datum_hint(futian, small):
    cells, fac, _ = small
    far = fac.copy()
    far.geometry = far.geometry.translate(20_000.0, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(NetworkError, match="outside the walking network's extent"):
            nearest_facility_time(futian, cells, far)


def test_every_unit_gets_coverage_rows_even_without_cells(futian, small):
    cells, fac, units = small
    x0, y0 = futian.node_xy.min(axis=0)
    empty = gpd.GeoDataFrame({"code": ["440304099"], "name": ["无人街道"], "level": ["town"]},
                             geometry=[shapely.box(x0 - 900, y0 - 900, x0 - 800, y0 - 800)],
                             crs=futian.crs)
    table = coverage_by_unit(futian, cells, fac, pd.concat([units, empty], ignore_index=True),
                             tiers_min=(15,))
    row = table.query("code == '440304099'")
    assert len(row) == 2  # one per facility type
    assert (row["pop_total"] == 0).all()
    assert row["pop_share"].isna().all()
    assert (row["name"] == "无人街道").all()
    towns = table.query("level == 'town'")
    study = table.query("level == 'study'")
    assert towns.groupby("facility_type")["pop_total"].sum().to_dict() == \
        study.set_index("facility_type")["pop_total"].to_dict()


def test_nullable_population_columns_are_checked_not_crashed_on(futian, small):
    cells, fac, units = small
    holes = cells.assign(pop=pd.array([None] + [5] * (len(cells) - 1), dtype="Int64"))
    with pytest.raises(SchemaError, match="row 'c0', column 'pop': missing"):
        coverage_by_unit(futian, holes, fac, units)
    whole = cells.assign(pop=pd.array([5] * len(cells), dtype="Int64"))
    table = coverage_by_unit(futian, whole, fac, units, tiers_min=(15,))
    assert table.query("level == 'study'")["pop_total"].iloc[0] == 5 * len(cells)
