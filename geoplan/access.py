"""Walking distance and time from demand cells to facilities on a :class:`WalkNetwork`.

- :func:`nearest_facility_time` — for every demand cell and facility type, the walking
  distance (m) and time (min) to the nearest facility of that type and its id: one
  multi-source Dijkstra per type (``scipy.sparse.csgraph.dijkstra(min_only=True, limit=…)``).
- :func:`reach_matrix` — which demand cells each site reaches within a distance, as a
  sparse matrix of metres (for siting and 2SFCA), from one bounded search per site.
- Coverage tables, service-area polygons and 2SFCA live in :mod:`geoplan.coverage`,
  :mod:`geoplan.service_areas` and :mod:`geoplan.fca`, and are importable from here.

Points are snapped to the nearest *edge* (:func:`geoplan.snapping.snap_points`); a point's
network distance counts its straight access connector plus the distance along its edge.
Two points on the same edge may also reach each other directly along it.

Walking speed: GB 50180-2018 (城市居住区规划设计标准) sets the life circles by walking
distance: 15 minutes ≈ 800-1000 m, 10 minutes ≈ 500 m, 5 minutes ≈ 300 m, without fixing a
speed. geoplan's default is :data:`DEFAULT_SPEED_M_PER_MIN` = 60 m/min (1.0 m/s, 3.6 km/h), a
typical pace for older pedestrians, which maps the tiers to 900 m, 600 m and 300 m: inside
the standard's 15-minute band, and conservative for older residents.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from geoplan.errors import NetworkError, Problem, SchemaError
from geoplan.network import WalkNetwork
from geoplan.snapping import check_layer_crs, check_snap_offset, snap_points

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_ACCESS_M",
    "DEFAULT_SPEED_M_PER_MIN",
    "DEFAULT_TIERS_MIN",
    "REACH_EPSILON_M",
    "nearest_facility_time",
    "reach_matrix",
]
# coverage_by_unit, coverage_gaps, service_areas and two_step_fca are importable from here
# too (see __getattr__ at the end); they live in their own modules.

#: Default walking speed (m/min): 1.0 m/s, an older pedestrian's pace.
DEFAULT_SPEED_M_PER_MIN = 60.0
#: GB 50180-2018 life-circle tiers (minutes).
DEFAULT_TIERS_MIN = (5.0, 10.0, 15.0)
#: Facilities farther than this from every edge are "outside the network" (metres).
DEFAULT_MAX_ACCESS_M = 500.0
#: A reached pair at distance 0 is stored as this many metres so the sparse entry exists.
REACH_EPSILON_M = 1e-6


def _connectors(src: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """Per snapped source: end nodes ``u``, ``v`` and connector lengths to them (metres)."""
    acc = src["access_m"].to_numpy()
    along = src["along_m"].to_numpy()
    return (
        src["u"].to_numpy(),
        src["v"].to_numpy(),
        acc + along,
        acc + src["edge_length_m"].to_numpy() - along,
    )


def _sources_graph(
    base: sparse.csr_matrix, u: np.ndarray, v: np.ndarray, to_u: np.ndarray, to_v: np.ndarray
) -> sparse.csr_matrix:
    """Return ``base`` plus one extra row (virtual node) per source point.

    Row ``n + i`` has edges to source ``i``'s edge end nodes ``u[i]``, ``v[i]`` weighted
    ``to_u[i]``, ``to_v[i]``; nothing points back, so paths never run through a source.
    """
    n = base.shape[0]
    k = len(u)
    loop = u == v
    to_u = np.where(loop, np.minimum(to_u, to_v), to_u)
    counts = np.where(loop, 1, 2)
    cols = np.empty(counts.sum(), dtype=base.indices.dtype)
    vals = np.empty(counts.sum(), dtype=np.float64)
    starts = np.cumsum(counts) - counts
    cols[starts] = u
    vals[starts] = to_u
    two = ~loop
    cols[starts[two] + 1] = v[two]
    vals[starts[two] + 1] = to_v[two]
    indptr = np.concatenate([base.indptr, base.indptr[-1] + np.cumsum(counts)])
    return sparse.csr_matrix(
        (np.concatenate([base.data, vals]), np.concatenate([base.indices, cols]),
         indptr.astype(np.int64 if indptr[-1] > 2**31 - 1 else base.indptr.dtype)),
        shape=(n + k, n + k),
    )


def _same_edge_best(
    d_edge: np.ndarray, d_along: np.ndarray, d_access: np.ndarray, src: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Direct along-edge distance from demand points to the best source on their edge.

    Returns ``(rows, dist, source_pos)`` for the demand rows that share an edge with a source.
    """
    s_edge = src["edge"].to_numpy()
    marker = np.zeros(max(int(d_edge.max()), int(s_edge.max())) + 1, dtype=bool)
    marker[s_edge] = True
    rows = np.flatnonzero(marker[d_edge])
    if len(rows) == 0:
        return rows, np.empty(0), np.empty(0, dtype=np.int64)
    order = np.argsort(s_edge, kind="stable")
    s_sorted = s_edge[order]
    lo = np.searchsorted(s_sorted, d_edge[rows], side="left")
    cnt = np.searchsorted(s_sorted, d_edge[rows], side="right") - lo
    rep = np.repeat(np.arange(len(rows)), cnt)
    spos = order[np.arange(len(rep)) - np.repeat(np.cumsum(cnt) - cnt - lo, cnt)]
    d = (d_access[rows][rep] + np.abs(d_along[rows][rep] - src["along_m"].to_numpy()[spos])
         + src["access_m"].to_numpy()[spos])
    # the minimum of each row's group, and the first source reaching it
    group_start = np.cumsum(cnt) - cnt
    mins = np.minimum.reduceat(d, group_start)
    first_min = np.flatnonzero(d == np.repeat(mins, cnt))
    grp = rep[first_min]
    keep = np.ones(len(first_min), dtype=bool)
    keep[1:] = grp[1:] != grp[:-1]
    return rows, mins, spos[first_min[keep]]


def nearest_source_distance(
    network: WalkNetwork, src: pd.DataFrame, dem: pd.DataFrame, limit_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Network distance from every demand point to its nearest source point.

    Parameters
    ----------
    network
        The walking network.
    src, dem
        Snapped sources and demand (:func:`geoplan.snapping.snap_points`).
    limit_m
        Search radius (metres); farther pairs count as unreachable.

    Returns
    -------
    tuple of numpy.ndarray
        ``(distance_m, source_position)``; ``inf`` and ``-1`` where nothing is within
        ``limit_m``.
    """
    n = network.n_nodes
    graph = _sources_graph(network.csr, *_connectors(src))
    dist, _, sources = dijkstra(
        graph, directed=True, indices=np.arange(n, n + len(src)), min_only=True,
        limit=limit_m, return_predecessors=True,
    )
    owner = np.where(sources >= n, sources - n, -1)
    u = dem["u"].to_numpy()
    v = dem["v"].to_numpy()
    b = dem["along_m"].to_numpy()
    via_u = dist[u] + b
    via_v = dist[v] + dem["edge_length_m"].to_numpy() - b
    use_v = via_v < via_u
    best = np.where(use_v, via_v, via_u) + dem["access_m"].to_numpy()
    best_src = np.where(use_v, owner[v], owner[u])
    rows, direct, direct_src = _same_edge_best(
        dem["edge"].to_numpy(), b, dem["access_m"].to_numpy(), src)
    closer = direct < best[rows]
    best[rows[closer]] = direct[closer]
    best_src[rows[closer]] = direct_src[closer]
    far = ~(best <= limit_m)
    best[far] = np.inf
    best_src[far] = -1
    return best, best_src


def _check_numeric(layer: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    problems = []
    for col in columns:
        if col not in layer.columns:
            problems.append(Problem("column missing", column=col))
            continue
        values = pd.to_numeric(layer[col], errors="coerce")
        for row in layer.index[values.isna().to_numpy()][:20]:
            problems.append(Problem("missing (NaN) or non-numeric value", row=row, column=col))
        for row in layer.index[(values < 0).to_numpy()][:20]:
            problems.append(Problem("negative value", row=row, column=col))
    if problems:
        raise SchemaError(what, problems)


def facility_types(
    facilities: pd.DataFrame, types: Sequence[str] | None, type_col: str
) -> list[str]:
    """Validate the facility types to analyse and return them in order.

    Parameters
    ----------
    facilities
        Facility layer.
    types
        Requested types, or ``None`` for every type present.
    type_col
        Column holding the type.

    Returns
    -------
    list of str

    Raises
    ------
    SchemaError
        If the column is missing or empty, or a requested type has no facility.
    """
    if type_col not in facilities.columns:
        raise SchemaError("facilities", [Problem("column missing", column=type_col)])
    present = facilities[type_col]
    missing_rows = facilities.index[present.isna().to_numpy()]
    if len(missing_rows):
        problems = [Problem("facility type missing", row=r, column=type_col) for r in missing_rows]
        raise SchemaError("facilities", problems)
    if types is None:
        types = sorted(pd.unique(present.astype(str)))
    if not types:
        raise SchemaError("facilities", [Problem("the facility layer is empty")])
    empty = [t for t in types if not (present == t).any()]
    if empty:
        problems = [Problem(f"no facility of type {t!r} (empty facility set)", column=type_col)
                    for t in empty]
        raise SchemaError("facilities", problems)
    return list(types)


def check_facilities_on_network(
    snapped: pd.DataFrame, max_access_m: float, what: str = "facilities"
) -> None:
    """Raise :class:`NetworkError` for points farther than ``max_access_m`` from every edge.

    Parameters
    ----------
    snapped
        :func:`geoplan.snapping.snap_points` output.
    max_access_m
        Largest acceptable straight connector (metres).
    what
        Layer name for the message.

    Raises
    ------
    NetworkError
        Naming the points outside the network's extent.
    """
    far = snapped["access_m"].to_numpy() > max_access_m
    if far.any():
        ids = ", ".join(map(str, snapped.index[far][:10]))
        msg = (
            f"{int(far.sum())} of {what} lie outside the walking network's extent (more than "
            f"{max_access_m:.0f} m from any street): {ids}. Check their coordinates/CRS or "
            "build a network that covers them."
        )
        raise NetworkError(msg)


def nearest_facility_time(
    network: WalkNetwork,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    speed_m_per_min: float = DEFAULT_SPEED_M_PER_MIN,
    max_minutes: float = max(DEFAULT_TIERS_MIN),
    type_col: str = "type",
    types: Sequence[str] | None = None,
    max_access_m: float = DEFAULT_MAX_ACCESS_M,
    demand_snap: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return walking distance and time from every demand cell to the nearest facility, per type.

    One multi-source Dijkstra per type, limited to ``max_minutes * speed_m_per_min`` metres.

    Parameters
    ----------
    network
        The walking network.
    demand
        Demand cells (points or polygons) in the network's CRS.
    facilities
        Facility points in the network's CRS; the index is the facility id.
    speed_m_per_min
        Walking speed (m/min); see the module docstring for the default.
    max_minutes
        Search limit (minutes); farther facilities count as not reachable (NaN).
    type_col
        Facility type column.
    types
        Types to analyse (default: every type present).
    max_access_m
        Facilities farther than this from every edge raise; demand cells farther than this
        are reported as not reachable.
    demand_snap
        Optional precomputed ``snap_points(network, demand)`` (saves time when reused).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``demand``: ``access_m`` and, per type ``t``, ``{t}_dist_m``,
        ``{t}_time_min`` (NaN when not reachable within the limit) and ``{t}_facility``
        (id of the nearest facility, missing when none).

    Raises
    ------
    CRSError
        If a layer is not in the network's metric CRS.
    SchemaError
        If the type column is missing, a requested type has no facility, or the speed or
        limit is not positive.
    NetworkError
        If facilities lie outside the network's extent.
    """
    if not speed_m_per_min > 0 or not max_minutes > 0:
        raise SchemaError(
            "parameters", [Problem("speed_m_per_min and max_minutes must be positive")]
        )
    check_layer_crs(network, facilities, "facilities")
    wanted = facility_types(facilities, types, type_col)
    dem = demand_snap if demand_snap is not None else snap_points(network, demand, what="demand")
    fac = snap_points(network, facilities, what="facilities")
    check_facilities_on_network(fac, max_access_m)
    check_snap_offset(facilities, fac, what="facilities")
    limit_m = max_minutes * speed_m_per_min
    off = dem["access_m"].to_numpy() > max_access_m
    if off.any():
        logger.warning("%d demand cells are more than %.0f m from the network; not reachable",
                       int(off.sum()), max_access_m)
    out: dict[str, Any] = {"access_m": dem["access_m"].to_numpy()}
    type_values = facilities[type_col].astype(str).to_numpy()
    for t in wanted:
        pos = np.flatnonzero(type_values == t)
        dist, src = nearest_source_distance(network, fac.iloc[pos], dem, limit_m)
        dist[off] = np.inf
        src[off] = -1
        reached = np.isfinite(dist)
        ids = np.full(len(dist), None, dtype=object)
        ids[reached] = facilities.index.to_numpy()[pos][src[reached]]
        out[f"{t}_dist_m"] = np.where(reached, dist, np.nan)
        out[f"{t}_time_min"] = out[f"{t}_dist_m"] / speed_m_per_min
        out[f"{t}_facility"] = ids
    return pd.DataFrame(out, index=demand.index)


def reach_matrix(
    network: WalkNetwork,
    sites: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    max_m: float,
    *,
    sites_snap: pd.DataFrame | None = None,
    demand_snap: pd.DataFrame | None = None,
    n_threads: int | None = None,
) -> sparse.csr_matrix:
    """Return the walking distance from every site to every demand cell within ``max_m``.

    One bounded search per site (compiled, see :mod:`geoplan._reach_kernel`) that stops at
    ``max_m``, so the work follows what each site reaches, not the size of the network; the
    reached nodes are expanded to the demand cells snapped onto their edges, and two points
    on the same edge also reach each other directly along it. Sites run in parallel threads.

    Parameters
    ----------
    network
        The walking network.
    sites
        Facilities or candidate sites (points, network CRS).
    demand
        Demand cells (points or polygons, network CRS).
    max_m
        Reach distance (metres).
    sites_snap, demand_snap
        Optional precomputed :func:`geoplan.snapping.snap_points` results.
    n_threads
        Threads to use (default: the CPU cores available).

    Returns
    -------
    scipy.sparse.csr_matrix
        Shape ``(len(sites), len(demand))``, metres for every reached pair (a pair at
        distance 0 is stored as :data:`REACH_EPSILON_M`); unreached pairs are not stored;
        column indices are sorted within each row.

    Raises
    ------
    CRSError
        If a layer is not in the network's metric CRS.
    SchemaError
        If ``max_m`` is not positive.
    """
    from geoplan._reach_kernel import reach_csr_arrays, serpentine_order

    if not max_m > 0:
        raise SchemaError("parameters", [Problem(f"max_m must be positive, got {max_m}")])
    src = sites_snap if sites_snap is not None else snap_points(network, sites, what="sites")
    dem = demand_snap if demand_snap is not None else snap_points(network, demand, what="demand")
    k, m = len(src), len(dem)
    if k == 0 or m == 0:
        return sparse.csr_matrix((k, m), dtype=np.float64)
    indptr, indices, data = reach_csr_arrays(
        network.csr, _snap_arrays(src), _snap_arrays(dem), len(network.edges), max_m,
        REACH_EPSILON_M, n_threads=n_threads,
        site_order=serpentine_order(src[["x", "y"]].to_numpy(), cell_m=max(max_m, 1.0)),
    )
    index_dtype = np.int32 if max(m, len(data)) < 2**31 else np.int64
    return sparse.csr_matrix(
        (data, indices.astype(index_dtype, copy=False), indptr.astype(index_dtype, copy=False)),
        shape=(k, m),
    )


def _snap_arrays(snap: pd.DataFrame) -> dict[str, np.ndarray]:
    """Snapped points as the contiguous arrays the reach kernel takes."""
    u, v, to_u, to_v = _connectors(snap)
    return {
        "u": np.ascontiguousarray(u, dtype=np.int64),
        "v": np.ascontiguousarray(v, dtype=np.int64),
        "to_u": np.ascontiguousarray(to_u, dtype=np.float64),
        "to_v": np.ascontiguousarray(to_v, dtype=np.float64),
        "edge": np.ascontiguousarray(snap["edge"].to_numpy(), dtype=np.int64),
        "access": np.ascontiguousarray(snap["access_m"].to_numpy(), dtype=np.float64),
        "along": np.ascontiguousarray(snap["along_m"].to_numpy(), dtype=np.float64),
    }


def __getattr__(name: str) -> Any:
    """Import the coverage, service-area and 2SFCA functions lazily."""
    homes = {
        "coverage_by_unit": "geoplan.coverage",
        "coverage_gaps": "geoplan.coverage",
        "service_areas": "geoplan.service_areas",
        "two_step_fca": "geoplan.fca",
    }
    if name in homes:
        import importlib

        return getattr(importlib.import_module(homes[name]), name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
