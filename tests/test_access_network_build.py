"""Building walking networks: noding of self-touching lines, near-coincident end points,
ring halves, tag edge cases of the walking filter, declared coordinates, and the OSMnx
download path run against recorded OSM data served from the loopback interface."""

from __future__ import annotations

import itertools

import geopandas as gpd
import networkx as nx
import numpy as np
import osmium
import osmnx as ox
import pandas as pd
import pytest
import shapely
from scipy.sparse.csgraph import dijkstra

from geoplan.errors import CRSError, NetworkError
from geoplan.network import (
    snap_points,
    walk_network_from_edges,
    walk_network_from_file,
    walk_network_from_graph,
    walkable_mask,
)

X0, Y0 = 500_000.0, 2_730_000.0


def _layer(geoms, crs=4549, **cols):
    return gpd.GeoDataFrame(cols, geometry=list(geoms), crs=crs)


def _raw_distances(lines, node_xy):
    """Node-to-node distances on a graph with every vertex of every line as a node."""
    graph = nx.Graph()
    for line in lines:
        pts = [tuple(np.round(p, 3)) for p in shapely.get_coordinates(line)]
        for a, b in itertools.pairwise(pts):
            w = float(np.hypot(a[0] - b[0], a[1] - b[1]))
            if a != b and (not graph.has_edge(a, b) or graph[a][b]["w"] > w):
                graph.add_edge(a, b, w=w)
    keys = [tuple(np.round(p, 3)) for p in node_xy]
    out = np.full((len(keys), len(keys)), np.inf)
    for i, key in enumerate(keys):
        ref = nx.single_source_dijkstra_path_length(graph, key, weight="w")
        out[i] = [ref.get(k, np.inf) for k in keys]
    return out


# --- noding ---------------------------------------------------------------------------


def test_line_that_loops_back_onto_itself_is_noded_at_the_repeated_vertex():
    # a lane A-B ending in a turning loop B-C-D-B, drawn as one line
    lollipop = shapely.LineString([(X0, Y0), (X0 + 100, Y0), (X0 + 150, Y0),
                                   (X0 + 150, Y0 + 50), (X0 + 100, Y0)])
    net = walk_network_from_edges(_layer([lollipop]))
    assert net.n_nodes == 2
    assert dijkstra(net.csr, indices=0)[1] == pytest.approx(100.0)  # not around the loop
    assert net.edges["length_m"].sum() == pytest.approx(lollipop.length)
    # a cell on the far side of the loop is reached through B, not along the whole line
    cell = gpd.GeoDataFrame(geometry=[shapely.Point(X0 + 150, Y0 + 25)], crs=4549)
    snap = snap_points(net, cell)
    assert snap["edge_length_m"].iloc[0] == pytest.approx(lollipop.length - 100.0)


def test_random_lines_with_loops_keep_the_distances_of_their_vertex_graph():
    rng = np.random.default_rng(3)
    for _ in range(60):
        pts = np.round(rng.uniform(0, 200, (8, 2))) + np.array([X0, Y0])
        lines = []
        for _ in range(rng.integers(2, 8)):
            idx = rng.integers(8, size=rng.integers(2, 6))
            if rng.random() < 0.4:
                idx = np.append(idx, idx[rng.integers(len(idx))])
            seq = pts[idx]
            keep = np.ones(len(seq), dtype=bool)
            keep[1:] = np.any(seq[1:] != seq[:-1], axis=1)
            if keep.sum() >= 2:
                lines.append(shapely.LineString(seq[keep]))
        if not lines:
            continue
        net = walk_network_from_edges(_layer(lines))
        np.testing.assert_allclose(dijkstra(net.csr), _raw_distances(lines, net.node_xy),
                                   atol=1e-6)


def test_pbf_way_that_revisits_a_node_is_noded_there(tmp_path):
    path = tmp_path / "loop.osm.pbf"
    writer = osmium.SimpleWriter(str(path))
    for i, (lon, lat) in {1: (114.000, 22.530), 2: (114.001, 22.530), 3: (114.0015, 22.530),
                          4: (114.0015, 22.5305)}.items():
        writer.add_node(osmium.osm.mutable.Node(id=i, location=osmium.osm.Location(lon, lat)))
    writer.add_way(osmium.osm.mutable.Way(id=10, nodes=[1, 2, 3, 4, 2],
                                          tags={"highway": "service"}))
    writer.close()
    net = walk_network_from_file(path, coords="wgs84")
    assert sorted(net.node_ids.tolist()) == [1, 2]
    one_to_two = dijkstra(net.csr, indices=int(np.flatnonzero(net.node_ids == 1)[0]))
    assert one_to_two.max() == pytest.approx(102.9, abs=0.5)  # 0.001° of longitude


def test_end_points_a_millimetre_apart_across_a_grid_line_are_joined():
    a = shapely.LineString([(X0, Y0), (X0 + 100.0049, Y0)])
    b = shapely.LineString([(X0 + 100.0051, Y0), (X0 + 100.0051, Y0 + 50)])
    net = walk_network_from_edges(_layer([a, b]))
    assert net.n_nodes == 3
    assert net.component.max() == 0
    with pytest.raises(NetworkError, match="tolerance_m"):
        walk_network_from_edges(_layer([a, b]), tolerance_m=0.0)
    # a CAD arc digitised every 5 mm keeps its shape; its end still meets the next line
    t = np.linspace(0, np.pi / 2, 3000)
    arc = shapely.LineString(np.column_stack([X0 + 10 * np.cos(t), Y0 + 10 * np.sin(t)]))
    onward = shapely.LineString([(X0 + 10.004, Y0), (X0 + 30, Y0)])
    net = walk_network_from_edges(_layer([arc, onward]))
    assert net.n_nodes == 3
    assert net.edges["length_m"].sum() == pytest.approx(arc.length + onward.length)
    assert dijkstra(net.csr).max() == pytest.approx(arc.length + onward.length, abs=0.01)


def test_zero_length_lines_are_dropped_not_kept_as_loops():
    line = shapely.LineString([(X0, Y0), (X0 + 10, Y0)])
    dot = shapely.LineString([(X0 + 10, Y0), (X0 + 10, Y0)])
    net = walk_network_from_edges(_layer([line, dot]))
    assert len(net.edges) == 1
    with pytest.raises(NetworkError, match="no edges"):
        walk_network_from_edges(_layer([dot]))


def test_two_halves_of_a_ring_between_two_nodes_are_both_kept(futian_graphml):
    # OSMnx keeps both directions of every street; only true twins may be merged
    net = walk_network_from_file(futian_graphml, coords="wgs84")
    e = net.edges
    key = pd.DataFrame({"lo": np.minimum(e["u"], e["v"]), "hi": np.maximum(e["u"], e["v"]),
                        "len": e["length_m"].round(2)})
    twins = e.loc[key.duplicated(keep=False)]
    assert len(twins) == 2  # a service-road loop in Futian split at two nodes
    assert not twins.geometry.iloc[0].equals(twins.geometry.iloc[1])
    assert not shapely.equals(twins.geometry.iloc[0], twins.geometry.iloc[1].reverse())
    midpoints = twins.geometry.interpolate(0.5, normalized=True)
    assert midpoints.iloc[0].distance(midpoints.iloc[1]) > 50
    # and a point beside the second half snaps to it
    pts = gpd.GeoDataFrame(geometry=list(midpoints), crs=net.crs)
    assert snap_points(net, pts)["access_m"].max() < 1e-6
    # missing tags stay missing rather than becoming empty text
    assert not (e["name"] == "").any()


def test_digraph_and_undirected_graphs_are_accepted(futian_graphml):
    graph = ox.load_graphml(futian_graphml)
    simple = walk_network_from_graph(ox.convert.to_digraph(graph))
    assert simple.n_nodes > 1500
    undirected = walk_network_from_graph(ox.convert.to_undirected(graph))
    assert undirected.n_nodes == simple.n_nodes


# --- centreline layers and declared coordinates ---------------------------------------


def test_centrelines_without_a_highway_value_are_kept():
    layer = _layer([shapely.LineString([(X0, Y0), (X0 + 100, Y0)]),
                    shapely.LineString([(X0 + 100, Y0), (X0 + 100, Y0 + 40)]),
                    shapely.LineString([(X0 + 100, Y0 + 40), (X0 + 200, Y0 + 40)])],
                   highway=["footway", None, "motorway"], name=["甲路", "乙路", "丙路"])
    net = walk_network_from_edges(layer, walk_filter=True)
    assert sorted(net.edges["name"]) == ["乙路", "甲路"]


def test_projected_layer_declared_as_degrees_is_refused(tmp_path):
    path = tmp_path / "roads.gpkg"
    _layer([shapely.LineString([(X0, Y0), (X0 + 100, Y0)])]).to_file(path)
    with pytest.raises(CRSError, match="not degrees"):
        walk_network_from_file(path, coords="wgs84")
    assert walk_network_from_file(path, coords="EPSG:4549").n_nodes == 2


def test_graphml_declared_gcj02_is_refused(futian_graphml):
    with pytest.raises(CRSError, match="convert GCJ-02"):
        walk_network_from_file(futian_graphml, coords="gcj02")


# --- walking filter -------------------------------------------------------------------


def test_walking_filter_tag_edge_cases():
    tags = pd.DataFrame({
        "highway": ["footway", "motorway", "motorway", "service", "residential", "path"],
        "foot": ["private", None, None, None, None, pd.NA],
        "footway": [None, "no", "sidewalk", None, None, None],
        "access": [None, None, None, pd.NA, ["private", None], None],
    })
    assert walkable_mask(tags).tolist() == [False, False, True, True, False, True]
    assert walkable_mask(tags, include_private=True).tolist() == [True, False, True, True,
                                                                  True, True]
    # a missing highway in pandas' own NA is still missing
    assert not walkable_mask(pd.DataFrame({"highway": pd.array([pd.NA], dtype="string")}))[0]
    assert walkable_mask(pd.DataFrame({"highway": pd.array(["steps"], dtype="string")}))[0]


# --- components report ----------------------------------------------------------------


def test_components_report_population_by_position_with_repeated_ids():
    lines = [shapely.LineString([(X0, Y0), (X0 + 100, Y0)]),
             shapely.LineString([(X0, Y0 + 500), (X0 + 30, Y0 + 500)])]
    net = walk_network_from_edges(_layer(lines))
    cells = gpd.GeoDataFrame({"pop": [10.0, 3.0, np.nan]},
                             geometry=[shapely.Point(X0 + 50, Y0 + 5),
                                       shapely.Point(X0 + 10, Y0 + 505),
                                       shapely.Point(X0 + 20, Y0 + 495)],
                             crs=4549, index=["same", "same", "other"])
    report = net.components_report(snap_points(net, cells), cells)
    assert report["n_points"].tolist() == [1, 2]
    assert report["pop"].tolist() == [10.0, 3.0]
    with pytest.raises(NetworkError, match="rows"):
        net.components_report(snap_points(net, cells), cells.iloc[:2])
