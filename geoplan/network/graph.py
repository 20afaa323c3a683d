"""Walking networks: the :class:`WalkNetwork` graph and its builders from graphs and edge layers.

A :class:`WalkNetwork` holds a walking network once, in the study's metric CRS, as

- ``node_xy``: node coordinates (metres),
- ``edges``: one row per street piece (``u``, ``v`` node positions, ``length_m``, geometry),
- ``csr``: a SciPy CSR matrix of edge lengths (metres), symmetric because pedestrians may
  walk both ways along one-way streets,

plus lazily built helpers (the snapping grid, an STRtree of the edges, connected
components) and the snaps of the point sets last snapped to it, so that snapping the same
points again costs a hash of their coordinates (see :meth:`WalkNetwork.clear_caches`).

Builders:

- :func:`walk_network_from_graph` — from an OSMnx ``MultiDiGraph`` (what ``graph_from_place``,
  ``graph_from_xml`` and ``load_graphml`` return);
- :func:`walk_network_from_edges` — from a layer of centrelines (CAD/survey data);
- ``walk_network_from_osm`` and ``walk_network_from_file`` (in :mod:`geoplan.network.sources`,
  importable from here) — download through OSMnx, or read ``.osm``/``.osm.bz2``/``.osm.pbf``/
  ``.graphml``/GeoPackage/Shapefile sources.

The walking filter (:func:`geoplan.network.walkable_mask`, importable from here) suits
older residents: it keeps footways, paths, steps, pedestrian streets, living streets,
residential and service streets, and drops motorways and trunk roads unless they are tagged
with a sidewalk or footway.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from geoplan.errors import CRSError, NetworkError
from geoplan.network.walk_filter import _tag_values, walkable_mask

logger = logging.getLogger(__name__)

__all__ = [
    "WalkNetwork",
    "walk_network_from_edges",
    "walk_network_from_graph",
    "walkable_mask",
]
# walk_network_from_file and walk_network_from_osm are importable from here too (see
# __getattr__ at the end); they live in geoplan.network.sources.

#: Snapped point sets a network keeps (least recently used dropped first) ...
SNAP_CACHE_SETS = 16
#: ... and the most memory they may take together (bytes; about 40 bytes per point).
SNAP_CACHE_BYTES = 256 * 2**20

def _require_metric_crs(crs: Any, what: str) -> int:
    """Return the EPSG code of a projected CRS in metres, or raise CRSError."""
    if crs is None:
        msg = f"{what} has no CRS; declare one (a projected CRS in metres, e.g. EPSG:4549)"
        raise CRSError(msg)
    crs = CRS.from_user_input(crs)
    if crs.is_geographic:
        msg = (
            f"{what} is in a geographic CRS ({crs.to_string()}) with degrees, but metres are "
            "needed; project it first, e.g. to the study's CGCS2000 Gauss-Krüger zone "
            "(EPSG:4534-4554) with to_crs()"
        )
        raise CRSError(msg)
    unit = crs.axis_info[0].unit_name if crs.axis_info else "metre"
    if unit not in ("metre", "meter"):
        msg = f"{what} uses unit {unit!r}; a CRS in metres is needed"
        raise CRSError(msg)
    epsg = crs.to_epsg()
    if epsg is None:
        msg = f"{what} has a projected CRS without an EPSG code ({crs.to_string()}); use EPSG:n"
        raise CRSError(msg)
    return int(epsg)


def _default_metric_epsg(lon_deg: float, lat_deg: float) -> int:
    """Metric CRS for data centred at ``(lon, lat)``.

    Inside China's CGCS2000 3-degree Gauss-Krüger zones (73.5-136.5 E) this is the zone's
    EPSG code (EPSG:4534-4554, ``4509 + round(lon / 3)``); elsewhere (test data from other
    countries) the WGS-84 UTM zone.
    """
    if 73.5 <= lon_deg < 136.5 and lat_deg > 0:
        try:  # the project's helper when present
            from geoplan.crs import gk_zone_epsg
        except ImportError:
            return int(4509 + round(lon_deg / 3.0))
        return int(gk_zone_epsg(lon_deg))
    zone = int((lon_deg + 180.0) // 6.0) % 60 + 1
    return (32600 if lat_deg >= 0 else 32700) + zone


class WalkNetwork:
    """A walking network in a metric CRS, prepared once for many shortest-path queries.

    Build one with a ``walk_network_from_*`` function rather than directly. Treat it as
    immutable: every geoplan function copies before changing anything, and what is derived
    from it (indexes, snapped point sets) is kept on it and dropped when ``edges``, ``csr``
    or ``node_xy`` is replaced.

    Parameters
    ----------
    node_xy
        ``(n, 2)`` node coordinates in metres.
    edges
        GeoDataFrame with integer columns ``u``, ``v`` (positions in ``node_xy``), ``length_m``
        and LineString geometry running from node ``u`` to node ``v``; extra columns are kept.
    crs
        EPSG code of the metric CRS.
    node_ids
        Original node ids (OSM ids); defaults to ``0..n-1``.

    Attributes
    ----------
    crs : int
        EPSG code of the metric CRS.
    node_xy : numpy.ndarray
        Node coordinates (metres).
    node_ids : numpy.ndarray
        Original node ids.
    edges : geopandas.GeoDataFrame
        Edge table (``u``, ``v``, ``length_m``, geometry, and source attributes).
    csr : scipy.sparse.csr_matrix
        ``(n, n)`` edge lengths in metres, both directions, shortest parallel edge kept;
        zero-length edges are stored as explicit zeros (they are edges, not gaps).
    """

    def __init__(
        self,
        node_xy: np.ndarray,
        edges: gpd.GeoDataFrame,
        crs: int,
        node_ids: np.ndarray | None = None,
    ):
        self.crs = _require_metric_crs(crs, "the walking network")
        self.node_xy = np.ascontiguousarray(node_xy, dtype=np.float64).reshape(-1, 2)
        n = len(self.node_xy)
        if len(edges) == 0:
            msg = "the walking network has no edges (nothing walkable in the source?)"
            raise NetworkError(msg)
        self.node_ids = np.arange(n) if node_ids is None else np.asarray(node_ids)
        edges = edges.reset_index(drop=True)
        self.edges = edges.set_crs(self.crs, allow_override=True)
        u = edges["u"].to_numpy(dtype=np.int64)
        v = edges["v"].to_numpy(dtype=np.int64)
        if u.min() < 0 or max(u.max(), v.max()) >= n:
            msg = "edge end nodes refer to nodes that do not exist"
            raise NetworkError(msg)
        self.csr = _symmetric_csr(u, v, edges["length_m"].to_numpy(dtype=np.float64), n)
        self._edge_lines: np.ndarray | None = None
        self._tree: shapely.STRtree | None = None
        self._components: np.ndarray | None = None
        self._cache: dict[str, object] = {}  # derived indexes (e.g. the snapping grid)
        self._snaps: OrderedDict[bytes, tuple[np.ndarray, ...]] = OrderedDict()
        self._state = self._state_objects()

    def _state_objects(self) -> tuple[object, ...]:
        return (self.edges, self.csr, self.node_xy)

    def _fresh(self) -> None:
        """Forget every derived index and snap if ``edges``, ``csr`` or ``node_xy`` was replaced."""
        state = self._state_objects()
        if any(a is not b for a, b in zip(state, self._state, strict=True)):
            self.clear_caches()
            self._state = state

    def clear_caches(self) -> None:
        """Forget the derived indexes and the snapped point sets kept on this network.

        A :class:`WalkNetwork` keeps what it derives (edge geometries, the snapping grid,
        components) and the snaps of the last point sets (see
        :func:`geoplan.network.snapping.snap_points`). They are dropped automatically when
        ``edges``, ``csr`` or ``node_xy`` is replaced; call this after changing one of them
        in place (which a network is not meant for: build a new one instead).
        """
        self._edge_lines = None
        self._tree = None
        self._components = None
        self._cache.clear()
        self._snaps.clear()

    def _derived(self, key: str, build: Callable[[], Any]) -> Any:
        """Return the derived index ``key``, building it on first use."""
        self._fresh()
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def _snap_lookup(self, key: bytes) -> tuple[np.ndarray, ...] | None:
        """Return the kept snap of the point set ``key`` (see :func:`_snap_store`), or None."""
        self._fresh()
        hit = self._snaps.get(key)
        if hit is not None:
            self._snaps.move_to_end(key)
        return hit

    def _snap_store(self, key: bytes, arrays: tuple[np.ndarray, ...]) -> None:
        """Keep the snap of a point set (read-only arrays), dropping the least recently used.

        At most :data:`SNAP_CACHE_SETS` point sets and :data:`SNAP_CACHE_BYTES` are kept.
        """
        size = sum(a.nbytes for a in arrays)
        if size > SNAP_CACHE_BYTES:
            return
        for a in arrays:
            a.setflags(write=False)
        self._snaps[key] = arrays
        self._snaps.move_to_end(key)
        while (len(self._snaps) > SNAP_CACHE_SETS
               or sum(a.nbytes for v in self._snaps.values() for a in v) > SNAP_CACHE_BYTES):
            self._snaps.popitem(last=False)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_xy)

    @property
    def edge_lines(self) -> np.ndarray:
        """Edge geometries as a NumPy array of shapely LineStrings."""
        self._fresh()
        if self._edge_lines is None:
            self._edge_lines = np.asarray(self.edges.geometry.array, dtype=object)
        return self._edge_lines

    @property
    def edge_tree(self) -> shapely.STRtree:
        """STRtree over :attr:`edge_lines` (built on first use)."""
        self._fresh()
        if self._tree is None:
            self._tree = shapely.STRtree(self.edge_lines)
        return self._tree

    @property
    def component(self) -> np.ndarray:
        """Connected-component label of every node (0 = the largest component)."""
        self._fresh()
        if self._components is None:
            _, labels = connected_components(self.csr, directed=False)
            counts = np.bincount(labels)
            order = np.argsort(-counts, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            self._components = rank[labels]
        return self._components

    def to_networkx(self) -> nx.Graph:
        """Return the network as an undirected ``networkx.Graph`` (weight ``length_m``)."""
        graph = nx.Graph()
        graph.add_nodes_from(range(self.n_nodes))
        coo = sparse.triu(self.csr, format="coo")
        graph.add_weighted_edges_from(
            zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True),
            weight="length_m",
        )
        return graph

    def components_report(self, snapped: pd.DataFrame | None = None,
                          demand: pd.DataFrame | None = None,
                          measures: Sequence[str] = ("pop", "pop_60plus")) -> pd.DataFrame:
        """Summarise the disconnected parts of the network instead of dropping them.

        Parameters
        ----------
        snapped
            Optional result of :func:`geoplan.network.snap_points` for ``demand``.
        demand
            Optional demand layer (the rows of ``snapped``, in order) with the ``measures``
            columns.
        measures
            Demand columns to sum per component (those present are used).

        Returns
        -------
        pandas.DataFrame
            One row per component (0 = largest): ``n_nodes``, ``n_edges``, ``length_m``,
            ``share_of_length`` and, with demand, ``n_points`` plus the summed measures.
        """
        comp = self.component
        edge_comp = comp[self.edges["u"].to_numpy()]
        n_comp = int(comp.max()) + 1
        table = pd.DataFrame(
            {
                "n_nodes": np.bincount(comp, minlength=n_comp),
                "n_edges": np.bincount(edge_comp, minlength=n_comp),
                "length_m": np.bincount(
                    edge_comp, weights=self.edges["length_m"].to_numpy(), minlength=n_comp
                ),
            }
        )
        table["share_of_length"] = table["length_m"] / table["length_m"].sum()
        table.index.name = "component"
        if snapped is not None:
            pt_comp = edge_comp[snapped["edge"].to_numpy()]
            table["n_points"] = np.bincount(pt_comp, minlength=n_comp)
            if demand is not None:
                if len(demand) != len(snapped):
                    msg = (f"demand has {len(demand)} rows but the snap result has "
                           f"{len(snapped)}; pass the snap of this demand layer")
                    raise NetworkError(msg)
                for m in measures:
                    if m in demand.columns:
                        w = pd.to_numeric(demand[m], errors="coerce").to_numpy(np.float64)
                        table[m] = np.bincount(pt_comp, weights=np.nan_to_num(w),
                                               minlength=n_comp)
        return table

    def __repr__(self) -> str:
        return (
            f"WalkNetwork({self.n_nodes:,} nodes, {len(self.edges):,} edges, "
            f"{self.edges['length_m'].sum() / 1000:,.1f} km, EPSG:{self.crs})"
        )


def _log_components(network: WalkNetwork) -> None:
    """Log the disconnected parts (kept, never dropped) of a freshly built network."""
    report = network.components_report()
    if len(report) > 1:
        rest = report.iloc[1:]
        logger.info(
            "%s: %d disconnected part(s) beside the largest, %d nodes and %.1f km in total "
            "(kept; see components_report())",
            network, len(rest), int(rest["n_nodes"].sum()), rest["length_m"].sum() / 1000,
        )


def _symmetric_csr(u: np.ndarray, v: np.ndarray, length_m: np.ndarray, n: int) -> sparse.csr_matrix:
    """CSR of both directions, the shortest of parallel edges, no self-loops, zeros kept."""
    keep = u != v
    rows = np.concatenate([u[keep], v[keep]])
    cols = np.concatenate([v[keep], u[keep]])
    data = np.concatenate([length_m[keep], length_m[keep]])
    order = np.lexsort((data, cols, rows))
    rows, cols, data = rows[order], cols[order], data[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols, data = rows[first], cols[first], data[first]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    if indptr[-1] < np.iinfo(np.int32).max:
        indptr = indptr.astype(np.int32)
        cols = cols.astype(np.int32)
    matrix = sparse.csr_matrix((data, cols, indptr), shape=(n, n))
    matrix.has_sorted_indices = True
    return matrix


def walk_network_from_graph(
    graph: nx.MultiDiGraph,
    *,
    metric_epsg: int | None = None,
    include_private: bool = False,
    walk_filter: bool = True,
) -> WalkNetwork:
    """Build a :class:`WalkNetwork` from an OSMnx graph.

    Parameters
    ----------
    graph
        An OSMnx ``MultiDiGraph`` (``graph.graph["crs"]`` declares its CRS; nodes have ``x``,
        ``y``; edges may have ``geometry`` and OSM tags).
    metric_epsg
        Metric CRS of the study (e.g. 4549). ``None``: the graph's own CRS if projected,
        else the CGCS2000 Gauss-Krüger zone of its centre.
    include_private
        Keep ``access=private`` paths (see :func:`walkable_mask`).
    walk_filter
        Apply :func:`walkable_mask`; ``False`` keeps every edge.

    Returns
    -------
    WalkNetwork
        Edge lengths are recomputed from the geometry in the metric CRS.

    Raises
    ------
    CRSError
        If ``metric_epsg`` is geographic or the graph declares no CRS.
    NetworkError
        If no walkable edge remains.
    """
    import osmnx as ox

    if "crs" not in graph.graph:
        msg = "the graph declares no CRS (graph.graph['crs']); OSMnx graphs are EPSG:4326"
        raise CRSError(msg)
    if not graph.is_multigraph():  # e.g. osmnx.convert.to_digraph output
        graph = nx.MultiDiGraph(graph) if graph.is_directed() else nx.MultiGraph(graph)
    if graph.number_of_edges() == 0:
        msg = "the graph has no edges"
        raise NetworkError(msg)
    nodes, edges = ox.graph_to_gdfs(graph, nodes=True, edges=True, fill_edge_geometry=True)
    edges = edges.reset_index()
    if walk_filter:
        mask = walkable_mask(edges, include_private=include_private)
        logger.info("walking filter kept %d of %d edges", int(mask.sum()), len(edges))
        edges = edges.loc[mask]
    if len(edges) == 0:
        msg = "no walkable edges in the graph after the walking filter"
        raise NetworkError(msg)
    if metric_epsg is None:
        src = CRS.from_user_input(nodes.crs)
        if src.is_projected:
            metric_epsg = int(src.to_epsg())
        else:
            metric_epsg = _default_metric_epsg(
                float(nodes.geometry.x.mean()), float(nodes.geometry.y.mean())
            )
    _require_metric_crs(metric_epsg, f"metric_epsg={metric_epsg}")
    nodes = nodes.to_crs(metric_epsg)
    edges = edges.to_crs(metric_epsg)
    return _network_from_tables(nodes, edges, metric_epsg)


def _network_from_tables(
    nodes: gpd.GeoDataFrame, edges: gpd.GeoDataFrame, epsg: int
) -> WalkNetwork:
    """Turn node/edge tables keyed by node id (``u``/``v`` = ids) into a WalkNetwork."""
    used = pd.unique(np.concatenate([edges["u"].to_numpy(), edges["v"].to_numpy()]))
    node_index = pd.Index(used)
    xy = shapely.get_coordinates(nodes.geometry.loc[node_index].to_numpy())
    keep_cols = [c for c in edges.columns if c not in ("u", "v", "key", "length", "geometry")]
    out = gpd.GeoDataFrame(
        {
            "u": node_index.get_indexer(edges["u"]).astype(np.int64),
            "v": node_index.get_indexer(edges["v"]).astype(np.int64),
            "length_m": shapely.length(edges.geometry.to_numpy()),
        },
        geometry=edges.geometry.to_numpy(),
        crs=epsg,
    )
    for col in keep_cols:
        values = edges[col].to_numpy()
        if values.dtype == object:
            values = np.array([", ".join(_tag_values(x)) or None for x in values],
                              dtype=object)
        out[col] = values
    out = _drop_reverse_duplicates(out)
    network = WalkNetwork(xy, out, epsg, node_ids=node_index.to_numpy())
    logger.info("built %r", network)
    _log_components(network)
    return network


def _drop_reverse_duplicates(edges: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Keep one row of each two-way street (OSMnx stores both directions).

    Twins have the same end nodes, length and midpoint; two different streets between the
    same nodes with the same length (the two halves of a ring) are both kept.
    """
    u = edges["u"].to_numpy()
    v = edges["v"].to_numpy()
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    length_cm = np.round(edges["length_m"].to_numpy() * 100).astype(np.int64)
    mid = shapely.get_coordinates(
        shapely.line_interpolate_point(edges.geometry.to_numpy(), 0.5, normalized=True))
    mid_dm = np.round(mid * 10).astype(np.int64)
    key = pd.DataFrame({"lo": lo, "hi": hi, "len": length_cm, "x": mid_dm[:, 0],
                        "y": mid_dm[:, 1]})
    # keep the shortest of near-equal twins so the CSR minimum is exact
    order = np.argsort(edges["length_m"].to_numpy(), kind="stable")
    dup = np.zeros(len(edges), dtype=bool)
    dup[order] = key.iloc[order].duplicated().to_numpy()
    return edges.loc[~dup].reset_index(drop=True)


def _split_lines_at_nodes(
    coords: np.ndarray, line_index: np.ndarray, vertex_key: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split polylines into edges at their node vertices.

    A vertex is a node when it is the first or last vertex of its line, or when its key
    (node id or rounded coordinate) occurs more than once: in two lines, or twice in one
    line (a way that loops back onto itself, e.g. a lane ending in a turning loop).
    Repeated consecutive vertices, and then lines of a single point, are dropped first.

    Returns
    -------
    tuple
        ``(geometries, source_line, u_key_pos, v_key_pos)`` where the last two index the
        unique keys (``np.unique(vertex_key, return_inverse=True)``).
    """
    keys, inverse = np.unique(vertex_key, return_inverse=True)
    repeat = np.zeros(len(coords), dtype=bool)
    repeat[1:] = (line_index[1:] == line_index[:-1]) & (inverse[1:] == inverse[:-1])
    coords, line_index, inverse = coords[~repeat], line_index[~repeat], inverse[~repeat]
    _, line_pos, line_n = np.unique(line_index, return_inverse=True, return_counts=True)
    real = line_n[line_pos] >= 2  # a line of one point (zero length) joins nothing
    coords, line_index, inverse = coords[real], line_index[real], inverse[real]
    first = np.ones(len(coords), dtype=bool)
    first[1:] = line_index[1:] != line_index[:-1]
    last = np.ones(len(coords), dtype=bool)
    last[:-1] = line_index[1:] != line_index[:-1]
    is_node = first | last | (np.bincount(inverse, minlength=len(keys))[inverse] >= 2)
    interior_node = is_node & ~first & ~last
    starts = is_node & ~last
    run = np.cumsum(starts)  # global running segment number (1-based)
    repeat = np.where(interior_node, 2, 1)
    rows = np.repeat(np.arange(len(coords)), repeat)
    seg = np.repeat(run, repeat)
    dup_first = np.zeros(len(rows), dtype=bool)
    pos = np.cumsum(repeat) - repeat  # position of the first copy of each vertex
    dup_first[pos[interior_node]] = True
    seg[dup_first] -= 1  # first copy ends the previous segment
    seg -= 1  # 0-based; every run number occurs, so segment ids are 0..R-1
    _, seg_pos = np.unique(seg, return_index=True)
    counts = np.diff(np.append(seg_pos, len(seg)))
    good = counts >= 2
    geoms = shapely.linestrings(coords[rows], indices=seg)
    seg_first_row = rows[seg_pos]
    seg_last_row = rows[seg_pos + counts - 1]
    return (
        np.asarray(geoms)[good],
        line_index[seg_first_row][good],
        inverse[seg_first_row][good],
        inverse[seg_last_row][good],
    )


def _vertex_keys(coords: np.ndarray, line_index: np.ndarray, tolerance_m: float) -> np.ndarray:
    """One integer per vertex, shared by vertices within about ``tolerance_m`` of each other.

    Vertices are rounded to a grid of ``tolerance_m``. Two neighbouring grid cells are
    merged too when their first vertices lie within ``tolerance_m``, come from different
    lines and one cell holds a line end, so two end points a millimetre apart on either
    side of a grid line still meet, while a line drawn with vertices closer than the
    tolerance is not collapsed.
    """
    if not tolerance_m > 0:
        msg = f"tolerance_m must be positive, got {tolerance_m}"
        raise NetworkError(msg)
    grid = np.round((coords - coords.min(axis=0)) / tolerance_m).astype(np.int64)
    width = int(grid[:, 1].max()) + 3
    if (int(grid[:, 0].max()) + 3) * width >= 2**62:
        msg = f"tolerance_m={tolerance_m} is too small for a layer this large"
        raise NetworkError(msg)
    cell = grid[:, 0] * width + grid[:, 1] + 1
    cells, first, inverse = np.unique(cell, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    is_end = np.ones(len(coords), dtype=bool)
    is_end[1:-1] = (line_index[1:-1] != line_index[:-2]) | (line_index[1:-1] != line_index[2:])
    has_end = np.bincount(inverse, weights=is_end, minlength=len(cells)) > 0
    rows, cols = [], []
    for step in (width, 1, width + 1, width - 1):  # right, up, up-right, down-right
        pos = np.minimum(np.searchsorted(cells, cells + step), len(cells) - 1)
        a = np.flatnonzero(cells[pos] == cells + step)
        b = pos[a]
        ok = ((has_end[a] | has_end[b]) & (line_index[first[a]] != line_index[first[b]])
              & (np.hypot(*(coords[first[a]] - coords[first[b]]).T) <= tolerance_m))
        rows.append(a[ok])
        cols.append(b[ok])
    rows_a, cols_a = np.concatenate(rows), np.concatenate(cols)
    close = sparse.coo_matrix((np.ones(len(rows_a)), (rows_a, cols_a)),
                              shape=(len(cells), len(cells)))
    _, label = connected_components(close, directed=False)
    return label[inverse].astype(np.int64)


def walk_network_from_edges(
    lines: gpd.GeoDataFrame,
    *,
    node_crossings: bool = False,
    tolerance_m: float = 0.01,
    walk_filter: bool = False,
    include_private: bool = False,
) -> WalkNetwork:
    """Build a :class:`WalkNetwork` from a layer of road/path centrelines.

    Lines are joined (noded) where they share an end point, and where two lines share a
    vertex (within ``tolerance_m``). Two lines that merely *cross* without a common vertex
    are **not** joined (a bridge or underpass looks the same in 2-D) unless
    ``node_crossings=True``, which splits every line at every intersection first.

    Parameters
    ----------
    lines
        LineString/MultiLineString layer in a projected CRS in metres. Extra columns
        (e.g. ``highway``, ``name``) are carried onto the edges.
    node_crossings
        Also join lines where they cross.
    tolerance_m
        Vertices closer than about this are treated as the same point.
    walk_filter
        Apply :func:`walkable_mask` to OSM-style tag columns (needs ``highway``); lines
        with no ``highway`` value are kept.
    include_private
        Passed to :func:`walkable_mask`.

    Returns
    -------
    WalkNetwork

    Raises
    ------
    CRSError
        If the layer has no CRS or a geographic one.
    NetworkError
        If the layer contains no usable line.
    """
    epsg = _require_metric_crs(lines.crs, "the centreline layer")
    data = lines.reset_index(drop=True)
    if walk_filter:
        keep = walkable_mask(data, include_private=include_private)
        if "highway" in data.columns:  # every centreline is a street: untyped ones stay
            keep |= np.array([not _tag_values(x) for x in data["highway"]], dtype=bool)
        data = data.loc[keep]
    data = data.loc[data.geometry.notna() & ~data.geometry.is_empty]
    data = data.loc[data.geom_type.isin(["LineString", "MultiLineString"])]
    data = data.explode(index_parts=False, ignore_index=True)
    if len(data) == 0:
        msg = "the centreline layer has no (walkable) LineString features"
        raise NetworkError(msg)
    geoms = data.geometry.to_numpy()
    if node_crossings:
        noded = shapely.get_parts(shapely.node(shapely.multilinestrings(geoms)))
        # carry attributes by the line each noded piece lies on
        tree = shapely.STRtree(geoms)
        mid = shapely.line_interpolate_point(noded, 0.5, normalized=True)
        src = tree.query_nearest(mid, all_matches=False)[1]
        data = data.iloc[src].reset_index(drop=True)
        geoms = noded
    coords, line_index = shapely.get_coordinates(geoms, return_index=True)
    key = _vertex_keys(coords, line_index, tolerance_m)
    segs, src_line, u, v = _split_lines_at_nodes(coords, line_index, key)
    _, first_pos = np.unique(key, return_index=True)
    node_xy = coords[first_pos]
    edges = gpd.GeoDataFrame(
        {"u": u.astype(np.int64), "v": v.astype(np.int64), "length_m": shapely.length(segs)},
        geometry=segs,
        crs=epsg,
    )
    attrs = data.drop(columns=data.geometry.name).iloc[src_line].reset_index(drop=True)
    attrs = attrs.drop(columns=[c for c in ("u", "v", "length_m") if c in attrs.columns])
    edges = pd.concat([edges, attrs], axis=1)
    edges = gpd.GeoDataFrame(edges, geometry="geometry", crs=epsg)
    used = np.unique(np.concatenate([u, v]))
    remap = np.full(len(node_xy), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    edges["u"] = remap[edges["u"].to_numpy()]
    edges["v"] = remap[edges["v"].to_numpy()]
    network = WalkNetwork(node_xy[used], edges, epsg)
    logger.info("built %r from %d centrelines", network, len(data))
    _log_components(network)
    return network
