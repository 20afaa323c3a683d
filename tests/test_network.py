"""Walking networks: builders from real OSM files, the walking filter, noding, snapping."""

from __future__ import annotations

import warnings

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import pyrosm
import pytest
import shapely
from scipy.sparse.csgraph import dijkstra

from geoplan.crs import gk_zone_epsg
from geoplan.errors import CRSError, GeoplanError, NetworkError
from geoplan.network import (
    WalkNetwork,
    check_snap_offset,
    overpass_walk_filter,
    snap_points,
    walk_network_from_edges,
    walk_network_from_file,
    walk_network_from_graph,
    walk_network_from_osm,
    walkable_mask,
)


@pytest.fixture(scope="module")
def futian_graph(futian_graphml):
    return ox.load_graphml(futian_graphml)


@pytest.fixture(scope="module")
def futian_epsg(futian_graph):
    lon = float(np.mean([d["x"] for _, d in futian_graph.nodes(data=True)]))
    return gk_zone_epsg(lon)


@pytest.fixture(scope="module")
def futian(futian_graph, futian_epsg):
    return walk_network_from_graph(futian_graph, metric_epsg=futian_epsg)


@pytest.fixture(scope="module")
def helsinki():
    return walk_network_from_file(pyrosm.get_data("helsinki_pbf"), coords="wgs84")


def _nx_from_edges(network: WalkNetwork) -> nx.Graph:
    """An independent networkx graph from the edge table (shortest parallel edge kept)."""
    graph = nx.Graph()
    graph.add_nodes_from(range(network.n_nodes))
    for u, v, w in network.edges[["u", "v", "length_m"]].itertuples(index=False):
        if u != v and (not graph.has_edge(u, v) or graph[u][v]["w"] > w):
            graph.add_edge(u, v, w=w)
    return graph


def _assert_same_as_networkx(network, graph, sources, node_of=lambda i: i):
    """Multi-source distances from scipy on the CSR equal networkx's within 1e-6 m."""
    dist = dijkstra(network.csr, indices=sources, min_only=True)
    ref = nx.multi_source_dijkstra_path_length(graph, {node_of(s) for s in sources}, weight="w")
    ids = [node_of(i) for i in range(network.n_nodes)]
    expected = np.array([ref.get(i, np.inf) for i in ids])
    assert np.isfinite(expected).sum() > 0.5 * network.n_nodes
    np.testing.assert_allclose(dist, expected, atol=1e-6, rtol=0)


# --- builders on real data --------------------------------------------------------------


def test_futian_graph_metric_crs_and_lengths(futian, futian_epsg):
    assert futian_epsg == 4547  # 114.0 E lies in CGCS2000 GK zone 38 (CM 114E)
    assert futian.crs == futian_epsg
    assert futian.node_xy.shape == (futian.n_nodes, 2)
    assert 1500 < futian.n_nodes <= 1751
    # lengths are the metric geometry lengths; the CSR is symmetric and holds them
    np.testing.assert_allclose(futian.edges["length_m"], futian.edges.geometry.length)
    assert abs(futian.csr - futian.csr.T).max() == 0
    e = futian.edges.iloc[10]
    assert futian.csr[e.u, e.v] <= e.length_m + 1e-9
    # straight line between end nodes never exceeds the edge length
    chord = np.hypot(*(futian.node_xy[futian.edges["u"]] - futian.node_xy[futian.edges["v"]]).T)
    assert np.all(chord <= futian.edges["length_m"].to_numpy() + 1e-6)


def test_futian_lengths_match_osmnx_great_circle_lengths(futian_graph, futian_epsg):
    net = walk_network_from_graph(futian_graph, metric_epsg=futian_epsg, walk_filter=False)
    shortest: dict[frozenset, float] = {}
    for u, v, d in futian_graph.edges(data=True):
        if u != v:
            key = frozenset((u, v))
            shortest[key] = min(shortest.get(key, np.inf), d["length"])
    assert len(shortest) == net.csr.nnz // 2
    # OSMnx's great-circle lengths vs geometry lengths in the GK zone: within 0.5 %
    assert net.csr.sum() / 2 == pytest.approx(sum(shortest.values()), rel=5e-3)


def test_futian_distances_equal_networkx_on_the_projected_osmnx_graph(futian_graph, futian_epsg):
    net = walk_network_from_graph(futian_graph, metric_epsg=futian_epsg, walk_filter=False)
    projected = ox.project_graph(futian_graph, to_crs=futian_epsg)
    graph = nx.Graph()
    for u, v, d in projected.edges(data=True):
        if u == v:
            continue
        geom = d.get("geometry") or shapely.LineString(
            [(projected.nodes[u]["x"], projected.nodes[u]["y"]),
             (projected.nodes[v]["x"], projected.nodes[v]["y"])])
        if not graph.has_edge(u, v) or graph[u][v]["w"] > geom.length:
            graph.add_edge(u, v, w=geom.length)
    rng = np.random.default_rng(7)
    sources = rng.choice(net.n_nodes, 12, replace=False)
    _assert_same_as_networkx(net, graph, sources, node_of=lambda i: net.node_ids[i])


def test_futian_walking_filter_and_private_option(futian_graph, futian_epsg, futian):
    everything = walk_network_from_graph(futian_graph, metric_epsg=futian_epsg, walk_filter=False)
    private = walk_network_from_graph(futian_graph, metric_epsg=futian_epsg, include_private=True)
    assert len(futian.edges) < len(private.edges) < len(everything.edges)
    kept = set(futian.edges["highway"])
    assert not {"motorway", "motorway_link"} & kept
    assert {"footway", "steps", "living_street", "pedestrian", "residential"} <= kept
    assert (private.edges["access"] == "private").any()
    assert not (futian.edges["access"] == "private").any()


def test_components_report_counts_nodes_length_and_population(futian):
    report = futian.components_report()
    assert report["n_nodes"].sum() == futian.n_nodes
    assert report["length_m"].sum() == pytest.approx(futian.edges["length_m"].sum())
    assert report.loc[0, "n_nodes"] == report["n_nodes"].max()
    # demand points sitting on a small component are reported with their population
    small = report.index[report.index > 0][0]
    edge = np.flatnonzero(futian.component[futian.edges["u"]] == small)[0]
    on_small = futian.edge_lines[edge].interpolate(0.5, normalized=True)
    on_main = futian.edge_lines[np.flatnonzero(futian.component[futian.edges["u"]] == 0)[0]]
    pts = gpd.GeoDataFrame({"pop": [7.0, 100.0], "pop_60plus": [2.0, 9.0]},
                           geometry=[on_small, on_main.interpolate(1.0)], crs=futian.crs,
                           index=["a", "b"])
    with_pop = futian.components_report(snap_points(futian, pts), pts)
    assert with_pop.loc[small, "pop"] == 7.0
    assert with_pop.loc[small, "pop_60plus"] == 2.0
    assert with_pop.loc[0, "pop"] == 100.0
    assert with_pop["n_points"].sum() == 2


def test_osm_xml_bz2_west_oakland(shared_data):
    net = walk_network_from_file(shared_data / "osm" / "west-oakland.osm.bz2", coords="wgs84")
    assert net.crs == 32610  # outside China: WGS-84 UTM zone 10N
    assert 30 < net.n_nodes < 200
    assert net.edges["length_m"].sum() > 3000
    graph = _nx_from_edges(net)
    _assert_same_as_networkx(net, graph, [0, 5])


def test_helsinki_pbf_matches_networkx_and_keeps_footways(helsinki):
    assert helsinki.crs == 32635  # 24.9 E: UTM zone 35N
    assert helsinki.n_nodes > 2000
    assert {"footway", "steps", "pedestrian"} <= set(helsinki.edges["highway"])
    assert not (helsinki.edges["highway"].isin(["motorway", "construction"])).any()
    graph = _nx_from_edges(helsinki)
    _assert_same_as_networkx(helsinki, graph, [0, 100, 2000])


def test_helsinki_pbf_length_equals_the_walkable_ways_read_by_pyrosm(helsinki):
    osm = pyrosm.OSM(pyrosm.get_data("helsinki_pbf"))
    ways = osm.get_network(network_type="all", extra_attributes=["sidewalk", "footway"])
    ways = ways.loc[walkable_mask(ways)].to_crs(helsinki.crs)
    # pyrosm splits every way into node-to-node segments; total length must match ours
    assert helsinki.edges["length_m"].sum() == pytest.approx(ways.length.sum(), rel=0.02)


def test_graphml_file_and_graph_builders_agree(futian_graphml, futian):
    from_file = walk_network_from_file(futian_graphml, coords="wgs84", metric_epsg=futian.crs)
    assert from_file.n_nodes == futian.n_nodes
    assert from_file.edges["length_m"].sum() == pytest.approx(futian.edges["length_m"].sum())


# --- walking filter ---------------------------------------------------------------------


def test_walkable_mask_rules_for_older_residents():
    tags = pd.DataFrame(
        [
            {"highway": "motorway"},
            {"highway": "trunk", "sidewalk": "both"},
            {"highway": "trunk_link", "foot": "yes"},
            {"highway": "trunk"},
            {"highway": "footway"},
            {"highway": "steps"},
            {"highway": "living_street"},
            {"highway": "service", "access": "private"},
            {"highway": "residential", "foot": "no"},
            {"highway": "construction"},
            {"highway": None},
            {"highway": ["primary", "trunk"]},
            {"highway": "cycleway"},
            {"highway": "cycleway", "foot": "designated"},
            {"highway": "pedestrian", "area": "yes"},
            {"highway": "path", "access": "no"},
            {"highway": "['steps', 'footway']"},
        ]
    )
    expected = [False, True, True, False, True, True, True, False, False, False, False, True,
                False, True, False, False, True]
    assert walkable_mask(tags).tolist() == expected
    private = walkable_mask(tags, include_private=True)
    assert private[7]
    assert private.sum() == sum(expected) + 1
    assert not walkable_mask(pd.DataFrame({"name": ["x"]})).any()


def test_overpass_filter_is_broad_and_keeps_private_ways():
    text = overpass_walk_filter()
    assert text.startswith('["highway"]')
    assert "construction" in text
    assert "private" not in text


def test_walk_network_from_osm_needs_exactly_one_area():
    with pytest.raises(GeoplanError, match="exactly one of query"):
        walk_network_from_osm()
    with pytest.raises(GeoplanError, match="exactly one of query"):
        walk_network_from_osm("晋江市, 福建省", bbox=(118.5, 24.7, 118.6, 24.8))


# --- edge layers ------------------------------------------------------------------------


def _lines(geoms, crs=4549, **cols):
    return gpd.GeoDataFrame(cols, geometry=list(geoms), crs=crs)


def test_edges_noded_at_shared_endpoints_and_shared_vertices():
    x0, y0 = 500_000.0, 2_730_000.0
    a = shapely.LineString([(x0, y0), (x0 + 50, y0), (x0 + 100, y0)])  # vertex at +50
    b = shapely.LineString([(x0 + 50, y0), (x0 + 50, y0 + 80)])  # starts on a's vertex
    c = shapely.LineString([(x0 + 100, y0), (x0 + 100, y0 + 30)])  # shares a's end point
    net = walk_network_from_edges(_lines([a, b, c], name=["甲路", "乙路", "丙路"]))
    assert net.n_nodes == 5
    assert len(net.edges) == 4  # a split in two at the shared vertex
    assert sorted(net.edges["length_m"].round(6)) == [30.0, 50.0, 50.0, 80.0]
    assert (net.edges["name"] == "甲路").sum() == 2
    assert net.component.max() == 0


def test_edges_crossing_without_vertex_joined_only_when_asked():
    x0, y0 = 500_000.0, 2_730_000.0
    h = shapely.LineString([(x0, y0), (x0 + 100, y0)])
    v = shapely.LineString([(x0 + 50, y0 - 50), (x0 + 50, y0 + 50)])  # a bridge?
    apart = walk_network_from_edges(_lines([h, v]))
    assert (apart.n_nodes, len(apart.edges), apart.component.max()) == (4, 2, 1)
    joined = walk_network_from_edges(_lines([h, v]), node_crossings=True)
    assert (joined.n_nodes, len(joined.edges), joined.component.max()) == (5, 4, 0)
    d = dijkstra(joined.csr, indices=[0])
    assert np.isfinite(d).all()


def test_edge_layer_from_geopackage_file(tmp_path):
    x0, y0 = 500_000.0, 2_730_000.0
    layer = _lines([shapely.LineString([(x0, y0), (x0 + 10, y0)]),
                    shapely.MultiLineString([[(x0 + 10, y0), (x0 + 10, y0 + 20)]])],
                   highway=["footway", "residential"])
    path = tmp_path / "centrelines.gpkg"
    layer.to_file(path)
    net = walk_network_from_file(path)
    assert net.crs == 4549
    assert len(net.edges) == 2
    assert net.n_nodes == 3


def test_edge_layer_in_degrees_is_refused():
    layer = _lines([shapely.LineString([(118.5, 24.8), (118.51, 24.8)])], crs=4326)
    with pytest.raises(CRSError, match="geographic CRS"):
        walk_network_from_edges(layer)
    with pytest.raises(CRSError, match="no CRS"):
        walk_network_from_edges(layer.set_crs(None, allow_override=True))


def test_network_without_edges_is_refused(futian_epsg):
    with pytest.raises(NetworkError, match="no edges"):
        WalkNetwork(np.zeros((2, 2)), gpd.GeoDataFrame(
            {"u": [], "v": [], "length_m": []}, geometry=[], crs=4549), 4549)
    empty = nx.MultiDiGraph(crs="epsg:4326")
    empty.add_node(1, x=114.0, y=22.5)
    with pytest.raises(NetworkError, match="no edges"):
        walk_network_from_graph(empty)
    motorway = nx.MultiDiGraph(crs="epsg:4326")
    motorway.add_node(1, x=114.0, y=22.5)
    motorway.add_node(2, x=114.01, y=22.5)
    motorway.add_edge(1, 2, highway="motorway", length=1000.0)
    with pytest.raises(NetworkError, match="no walkable edges"):
        walk_network_from_graph(motorway, metric_epsg=futian_epsg)
    with pytest.raises(CRSError, match="geographic"):
        walk_network_from_graph(motorway, metric_epsg=4326, walk_filter=False)
    with pytest.raises(NetworkError, match=r"no \(walkable\) LineString"):
        walk_network_from_edges(_lines([shapely.Point(500_000, 2_730_000)]))


def test_file_errors(tmp_path, shared_data):
    with pytest.raises(GeoplanError, match="not found"):
        walk_network_from_file(tmp_path / "missing.osm.pbf", coords="wgs84")
    odd = tmp_path / "roads.dwg"
    odd.write_text("x")
    with pytest.raises(GeoplanError, match="unknown network file type"):
        walk_network_from_file(odd)
    with pytest.raises(CRSError, match="always WGS-84"):
        walk_network_from_file(shared_data / "osm" / "west-oakland.osm.bz2", coords="gcj02")
    layer = _lines([shapely.LineString([(0, 0), (1, 1)])], crs=None)
    path = tmp_path / "nocrs.gpkg"
    with pytest.warns(UserWarning, match="crs"):
        layer.to_file(path)
    with pytest.raises(CRSError, match="declares no CRS"):
        walk_network_from_file(path)
    with pytest.raises(CRSError, match="convert GCJ-02"):
        walk_network_from_file(path, coords="gcj02")


# --- snapping ---------------------------------------------------------------------------


def test_snap_to_nearest_edge_not_node():
    x0, y0 = 500_000.0, 2_730_000.0
    net = walk_network_from_edges(_lines([
        shapely.LineString([(x0, y0), (x0 + 100, y0)]),
        shapely.LineString([(x0 + 100, y0), (x0 + 100, y0 + 100)]),
    ]))
    pts = gpd.GeoDataFrame(geometry=[shapely.Point(x0 + 40, y0 + 3),
                                     shapely.box(x0 + 95, y0 + 60, x0 + 97, y0 + 62)],
                           crs=4549, index=["p", "cell"])
    snap = snap_points(net, pts)
    assert list(snap.index) == ["p", "cell"]
    p = snap.loc["p"]
    assert p.access_m == pytest.approx(3.0)
    assert (p.x, p.y) == pytest.approx((x0 + 40, y0))
    start = net.node_xy[int(p.u)]
    assert p.along_m == pytest.approx(np.hypot(*(start - [x0 + 40, y0])))
    cell = snap.loc["cell"]  # polygon: its centroid (96, 61) snaps 4 m to the vertical edge
    assert cell.access_m == pytest.approx(4.0)
    assert cell.edge_length_m == pytest.approx(100.0)


def test_snap_matches_exact_strtree_on_futian(futian):
    rng = np.random.default_rng(3)
    lo, hi = futian.node_xy.min(axis=0), futian.node_xy.max(axis=0)
    pts = gpd.GeoDataFrame(geometry=shapely.points(rng.uniform(lo, hi, (3000, 2))), crs=futian.crs)
    snap = snap_points(futian, pts)
    _, dist = futian.edge_tree.query_nearest(pts.geometry.to_numpy(), return_distance=True,
                                             all_matches=False)
    np.testing.assert_allclose(snap["access_m"], dist, atol=1e-6)
    on_edge = shapely.line_interpolate_point(futian.edge_lines[snap["edge"]], snap["along_m"])
    np.testing.assert_allclose(shapely.get_coordinates(on_edge), snap[["x", "y"]], atol=1e-6)
    assert (snap["along_m"] <= snap["edge_length_m"] + 1e-9).all()


def test_snap_refuses_degrees_other_crs_and_empty_geometry(futian):
    pts = gpd.GeoDataFrame(geometry=[shapely.Point(114.02, 22.53)], crs=4326)
    with pytest.raises(CRSError, match="geographic CRS"):
        snap_points(futian, pts)
    with pytest.raises(CRSError, match="use to_crs"):
        snap_points(futian, pts.to_crs(4549))
    with pytest.raises(CRSError, match="no CRS"):
        snap_points(futian, pts.set_crs(None, allow_override=True))
    empty = gpd.GeoDataFrame(geometry=[shapely.Point()], crs=futian.crs)
    with pytest.raises(NetworkError, match="empty geometry"):
        snap_points(futian, empty)


def _sparse_grid(spacing_m=1000.0, n=6):
    x0, y0 = 500_000.0, 2_730_000.0
    lines = []
    for i in range(n):
        lines.append(shapely.LineString([(x0, y0 + i * spacing_m),
                                         (x0 + (n - 1) * spacing_m, y0 + i * spacing_m)]))
        lines.append(shapely.LineString([(x0 + i * spacing_m, y0),
                                         (x0 + i * spacing_m, y0 + (n - 1) * spacing_m)]))
    return walk_network_from_edges(_lines(lines), node_crossings=True)


def test_gcj02_like_offset_warns_and_random_scatter_does_not():
    net = _sparse_grid(spacing_m=2000.0, n=4)  # rural lanes, 2 km apart
    rng = np.random.default_rng(5)
    e = rng.integers(0, len(net.edges), 40)
    on = shapely.get_coordinates(shapely.line_interpolate_point(
        net.edge_lines[e], rng.uniform(0.35, 0.65, 40), normalized=True))
    shifted = gpd.GeoDataFrame(geometry=shapely.points(on + np.array([150.0, 250.0])), crs=net.crs)
    with pytest.warns(UserWarning, match="GCJ-02"):
        assert check_snap_offset(shifted, snap_points(net, shifted))
    scatter = gpd.GeoDataFrame(
        geometry=shapely.points(on + rng.uniform(-40, 40, on.shape)), crs=net.crs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not check_snap_offset(scatter, snap_points(net, scatter))
