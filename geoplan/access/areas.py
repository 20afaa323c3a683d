"""Service-area polygons: the streets reachable within a walking distance, with a margin.

For a facility, every edge piece within ``max_m`` walking metres (whole edges and the
reachable ends of partly reached edges, plus its own edge on both sides of it) is buffered
by ``access_width_m`` — the short walk from a doorway to the street. Used for maps; the
coverage numbers come from :mod:`geoplan.access.coverage`, not from these polygons.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

from geoplan.access._arguments import (
    one_or_more_numbers,
    optional_number,
    require_layer,
    require_network,
)
from geoplan.access.distance import (
    DEFAULT_MAX_ACCESS_M,
    _connectors,
    _sources_graph,
    check_facilities_on_network,
    tier_reach_m,
)
from geoplan.errors import ArgumentError, Problem, SchemaError
from geoplan.network import WalkNetwork
from geoplan.network.snapping import check_layer_crs, snap_points

logger = logging.getLogger(__name__)

__all__ = ["service_areas"]


def _substrings(lines: np.ndarray, start_m: np.ndarray, end_m: np.ndarray) -> np.ndarray:
    """Return the parts of ``lines`` from ``start_m`` to ``end_m`` along them (vectorised).

    A part of zero length is its point (its buffer is then a disc, as for a lone entrance).
    """
    if len(lines) == 0:
        return np.empty(0, dtype=object)
    coords, idx = shapely.get_coordinates(lines, return_index=True)
    step = np.zeros(len(coords))
    same = idx[1:] == idx[:-1]
    step[1:][same] = np.hypot(*(coords[1:] - coords[:-1])[same].T)
    total = np.cumsum(step)
    first = np.ones(len(coords), dtype=bool)
    first[1:] = ~same
    along = total - np.maximum.accumulate(np.where(first, total, 0.0))
    inner = (along > start_m[idx]) & (along < end_m[idx])
    ends = shapely.get_coordinates(shapely.line_interpolate_point(
        np.concatenate([lines, lines]), np.concatenate([start_m, end_m])))
    n = len(lines)
    line_of = np.concatenate([np.arange(n), idx[inner], np.arange(n)])
    key = np.concatenate([np.full(n, -np.inf), along[inner], np.full(n, np.inf)])
    order = np.lexsort((key, line_of))
    parts = shapely.linestrings(np.concatenate([ends[:n], coords[inner], ends[n:]])[order],
                                indices=line_of[order])
    point = end_m <= start_m
    parts[point] = shapely.points(ends[:n][point])
    return parts


def _reachable_pieces(
    network: WalkNetwork, du: np.ndarray, dv: np.ndarray, own: pd.DataFrame, max_m: float
) -> np.ndarray:
    """Edge pieces within ``max_m`` given node distances and the sources' own edges."""
    edges = network.edges
    u = edges["u"].to_numpy()
    v = edges["v"].to_numpy()
    length = edges["length_m"].to_numpy()
    lines = network.edge_lines
    from_u = np.clip(max_m - du[u], -1.0, None)  # how far along from u is reachable
    from_v = np.clip(max_m - dv[v], -1.0, None)
    whole = (from_u >= length) | (from_v >= length) | (
        (from_u >= 0) & (from_v >= 0) & (from_u + from_v >= length)
    )
    head = np.flatnonzero(~whole & (from_u >= 0))
    tail = np.flatnonzero(~whole & (from_v >= 0))
    reach = max_m - own["access_m"].to_numpy()
    ok = reach >= 0
    own_edge = own["edge"].to_numpy()[ok]
    along = own["along_m"].to_numpy()[ok]
    own_len = own["edge_length_m"].to_numpy()[ok]
    parts = _substrings(
        lines[np.concatenate([head, tail, own_edge])],
        np.concatenate([np.zeros(len(head)), length[tail] - from_v[tail],
                        np.maximum(0.0, along - reach[ok])]),
        np.concatenate([from_u[head], length[tail],
                        np.minimum(own_len, along + reach[ok])]),
    )
    entrances = shapely.points(own[["x", "y"]].to_numpy()[ok])  # the snapped entrances
    return np.concatenate([lines[whole], parts, entrances])


def service_areas(
    network: WalkNetwork,
    facilities: gpd.GeoDataFrame,
    max_m: float | Sequence[float] | None = None,
    *,
    tiers_min: float | Sequence[float] | None = None,
    speed_m_per_min: float | None = None,
    dissolve_by: str | None = None,
    access_width_m: float = 25.0,
    batch_size: int = 16,
    max_access_m: float = DEFAULT_MAX_ACCESS_M,
) -> gpd.GeoDataFrame:
    """One polygon per facility (or per group) covering the streets within walking reach.

    Give the reach as a distance (``max_m``) or as walking time (``tiers_min``), one value
    or several; several cost one search, to the farthest.

    Parameters
    ----------
    network
        The walking network.
    facilities
        Facility points (network CRS); the index is the facility id.
    max_m
        Walking distance (metres), e.g. ``900``, or several (``[300, 500, 900]``).
    tiers_min
        Instead of ``max_m``: walking time (minutes), e.g. ``15`` or ``[5, 10, 15]``,
        turned into distances by :func:`geoplan.access.tier_reach_m` (the GB 50180-2018
        life circles, or minutes × ``speed_m_per_min``).
    speed_m_per_min
        Walking speed for ``tiers_min`` (m/min); ``None``: the life-circle distances.
    dissolve_by
        Column to group facilities by (e.g. ``"facility_type"``): one polygon per group, from a
        multi-source search.
    access_width_m
        Buffer around the reachable street pieces (metres).
    batch_size
        Facilities per shortest-path batch.
    max_access_m
        Facilities farther than this from every edge raise (see
        :func:`geoplan.access.nearest_facility_time`).

    Returns
    -------
    geopandas.GeoDataFrame
        Polygons in the network CRS with ``reach_m`` (and ``tier_min`` when the reach was
        given in minutes). One value given: indexed by facility id (or group value). Several:
        one row per facility (or group) and value, indexed by (id or group, ``tier_min``, or
        ``max_m`` for distances): ``areas.xs(15, level="tier_min")`` is the 15-minute areas.

    Raises
    ------
    ArgumentError
        If an argument has the wrong type (text for a distance, a DataFrame for the
        facilities …), or both or neither of ``max_m`` and ``tiers_min`` are given.
    CRSError
        If facilities are not in the network's CRS.
    SchemaError
        If a distance or tier is not positive, or ``dissolve_by`` is not a column or has
        missing values.
    NetworkError
        If facilities lie outside the network's extent.

    Examples
    --------
    >>> from geoplan.datasets import load_byod
    >>> study = load_byod()
    >>> stations = study.facilities[study.facilities["facility_type"] == "elderly_station"]
    >>> areas = service_areas(study.network(), stations, tiers_min=[5, 15],
    ...                       dissolve_by="facility_type")
    >>> areas["reach_m"].to_dict()
    {('elderly_station', 5.0): 300.0, ('elderly_station', 15.0): 900.0}
    """
    fn = "service_areas"
    require_network(network, fn)
    require_layer(facilities, fn, "facilities")
    if (max_m is None) == (tiers_min is None):
        msg = (f"{fn}: give the reach as max_m (metres) or as tiers_min (minutes), one of "
               f"them (got {'both' if max_m is not None else 'neither'})")
        raise ArgumentError(msg)
    if tiers_min is not None:
        tiers, one = one_or_more_numbers(tiers_min, fn, "tiers_min", "minutes")
        speed = optional_number(speed_m_per_min, fn, "speed_m_per_min", "m/min")
        reaches = tier_reach_m(tiers, speed)
        level = "tier_min"
    else:
        reaches, one = one_or_more_numbers(max_m, fn, "max_m", "metres")
        tiers, level = reaches, "max_m"
        bad = [r for r in reaches if not r > 0]
        if bad or not reaches:
            raise SchemaError("parameters", [Problem(
                f"max_m must be positive, got {bad[0] if bad else 'an empty list'}")])
    if dissolve_by is not None and dissolve_by not in facilities.columns:
        raise SchemaError("facilities", [Problem("column missing", column=dissolve_by)])
    if dissolve_by is not None and facilities[dissolve_by].isna().any():
        rows = facilities.index[facilities[dissolve_by].isna().to_numpy()][:20]
        raise SchemaError("facilities", [Problem("missing value", row=r, column=dissolve_by)
                                         for r in rows])
    check_layer_crs(network, facilities, "facilities")
    snap = snap_points(network, facilities, what="facilities")
    check_facilities_on_network(snap, max_access_m)
    n = network.n_nodes
    limit_m = max(reaches)
    keys, polys = [], []
    if dissolve_by is None:
        graph = _sources_graph(network.csr, *_connectors(snap))
        for start in range(0, len(snap), batch_size):
            idx = np.arange(start, min(start + batch_size, len(snap)))
            dist = dijkstra(graph, directed=True, indices=n + idx, limit=limit_m)
            for row, i in enumerate(idx):
                for reach_m in reaches:
                    pieces = _reachable_pieces(network, dist[row], dist[row], snap.iloc[[i]],
                                               reach_m)
                    keys.append(snap.index[i])
                    polys.append(_buffer(pieces, access_width_m))
    else:
        for key, members in snap.groupby(facilities[dissolve_by].to_numpy(), sort=True):
            graph = _sources_graph(network.csr, *_connectors(members))
            dist = dijkstra(graph, directed=True, indices=n + np.arange(len(members)),
                            limit=limit_m, min_only=True)
            for reach_m in reaches:
                keys.append(key)
                polys.append(_buffer(_reachable_pieces(network, dist, dist, members, reach_m),
                                     access_width_m))
    name = dissolve_by or facilities.index.name
    columns = {"reach_m": np.tile(np.asarray(reaches, dtype=float), len(keys) // len(reaches))}
    if one:
        index = pd.Index(keys, name=name)
        if level == "tier_min":
            columns["tier_min"] = tiers[0]
    else:
        index = pd.MultiIndex.from_arrays(
            [keys, np.tile(np.asarray(tiers, dtype=float), len(keys) // len(tiers))],
            names=[name or "facility_id", level])
    return gpd.GeoDataFrame(columns, geometry=polys, crs=network.crs, index=index)


def _buffer(pieces: np.ndarray, width_m: float) -> shapely.Geometry:
    if len(pieces) == 0:
        return shapely.Polygon()
    # buffering each piece and merging is many times faster than buffering a collection
    return shapely.union_all(shapely.buffer(pieces, width_m, quad_segs=4))
