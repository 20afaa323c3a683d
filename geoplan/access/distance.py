"""Walking distance and time from demand cells to facilities on a :class:`WalkNetwork`.

- :func:`nearest_facility_time` — for every demand cell and facility type, the walking
  distance (m) and time (min) to the nearest facility of that type and its id: one
  multi-source Dijkstra per type (``scipy.sparse.csgraph.dijkstra(min_only=True, limit=…)``).
- :func:`reach_matrix` — which demand cells each site reaches within a distance, as a
  sparse matrix of metres (for siting and 2SFCA), from one bounded search per site.
- Coverage tables, service-area polygons and 2SFCA live in :mod:`geoplan.access.coverage`,
  :mod:`geoplan.access.areas` and :mod:`geoplan.access.fca`; :mod:`geoplan.access` exports all.

Points are snapped to the nearest *edge* (:func:`geoplan.network.snap_points`); a point's
network distance counts its straight access connector plus the distance along its edge.
Two points on the same edge may also reach each other directly along it.

Walking distance of the time tiers: GB 50180-2018 (城市居住区规划设计标准) defines the life
circles by walking distance, not by speed: 15 minutes ≈ 800-1000 m, 10 minutes ≈ 500 m,
5 minutes ≈ 300 m. By default (``speed_m_per_min=None``) geoplan uses these distances,
:data:`LIFE_CIRCLE_REACH_M` (the middle of the band, 900 m, for 15 minutes), and converts
other tiers and reported times at :data:`DEFAULT_SPEED_M_PER_MIN` = 60 m/min (1.0 m/s, an
older pedestrian's pace). Give a speed to make every tier minutes × speed instead;
:func:`tier_reach_m` says which distance a tier gets.
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

from geoplan.access._arguments import (
    one_number,
    optional_names,
    optional_number,
    require_layer,
    require_network,
)
from geoplan.errors import NetworkError, Problem, SchemaError
from geoplan.network import WalkNetwork
from geoplan.network.snapping import check_layer_crs, check_snap_offsets, snap_points

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_ACCESS_M",
    "DEFAULT_SPEED_M_PER_MIN",
    "DEFAULT_TIERS_MIN",
    "LIFE_CIRCLE_REACH_M",
    "REACH_EPSILON_M",
    "nearest_facility_time",
    "reach_matrix",
    "tier_reach_m",
]
# coverage_by_unit, coverage_gaps, service_areas, two_step_fca and enhanced_two_step_fca are
# importable from here too (see __getattr__ at the end); they live in their own modules.

#: Default walking speed (m/min) for times and for tiers without a life-circle distance:
#: 1.0 m/s, an older pedestrian's pace.
DEFAULT_SPEED_M_PER_MIN = 60.0
#: GB 50180-2018 life-circle tiers (minutes).
DEFAULT_TIERS_MIN = (5.0, 10.0, 15.0)
#: GB 50180-2018 life-circle walking distances (metres) by tier (minutes); the standard
#: gives 800-1000 m for 15 minutes, of which the middle is used.
LIFE_CIRCLE_REACH_M = {5.0: 300.0, 10.0: 500.0, 15.0: 900.0}
#: Facilities farther than this from every edge are "outside the network" (metres).
DEFAULT_MAX_ACCESS_M = 500.0
#: A reached pair at distance 0 is stored as this many metres so the sparse entry exists.
REACH_EPSILON_M = 1e-6


def tier_reach_m(
    tiers_min: float | Sequence[float], speed_m_per_min: float | None = None
) -> tuple[float, ...]:
    """Return the walking distance (metres) of each time tier.

    Parameters
    ----------
    tiers_min
        Tier or tiers (minutes).
    speed_m_per_min
        ``None`` (default): the GB 50180-2018 life-circle distance for 5, 10 and 15 minutes
        (:data:`LIFE_CIRCLE_REACH_M`: 300, 500 and 900 m), linear in between (and from 0),
        and :data:`DEFAULT_SPEED_M_PER_MIN` beyond 15 minutes, so longer tiers always reach
        farther. A speed (m/min): minutes × speed for every tier.

    Returns
    -------
    tuple of float
        One distance per tier, in the given order.

    Raises
    ------
    SchemaError
        If a tier is not positive (``inf`` means no limit), the speed is not positive and
        finite, or no tier is given.
    """
    tiers = np.atleast_1d(np.asarray(tiers_min, dtype=np.float64))
    bad_speed = speed_m_per_min is not None and not 0 < speed_m_per_min < np.inf
    if len(tiers) == 0 or not (tiers > 0).all() or bad_speed:  # NaN fails "> 0"
        raise SchemaError("parameters", [Problem(
            "tiers_min (or max_minutes) must be one or more positive minutes and "
            "speed_m_per_min must be positive and finite, or None "
            f"(got {tiers.tolist()} and {speed_m_per_min})")])
    if speed_m_per_min is not None:
        return tuple(float(t) * speed_m_per_min for t in tiers)
    knots_min = np.array([0.0, *LIFE_CIRCLE_REACH_M])
    knots_m = np.array([0.0, *LIFE_CIRCLE_REACH_M.values()])
    beyond = knots_m[-1] + (tiers - knots_min[-1]) * DEFAULT_SPEED_M_PER_MIN
    reach = np.where(tiers <= knots_min[-1], np.interp(tiers, knots_min, knots_m), beyond)
    return tuple(float(r) for r in reach)


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
    if len(d_edge) == 0 or len(s_edge) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0), np.empty(0, dtype=np.int64)
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
        Snapped sources and demand (:func:`geoplan.network.snap_points`).
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
        values = pd.to_numeric(layer[col], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan)  # nullable Int64/Float64/string columns too
        for row in layer.index[np.isnan(values)][:20]:
            problems.append(Problem("missing (NaN) or non-numeric value", row=row, column=col))
        for row in layer.index[np.isinf(values)][:20]:
            problems.append(Problem("infinite value", row=row, column=col))
        for row in layer.index[values < 0][:20]:
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
        Requested types (a list, or one type name), or ``None`` for every type present.
    type_col
        Column holding the type.

    Returns
    -------
    list of str
        The types as text (a numeric type code ``1`` becomes ``"1"``), without repeats.

    Raises
    ------
    SchemaError
        If the column is missing or has missing values, facility ids repeat, the layer is
        empty, or a requested type has no facility.
    """
    if type_col not in facilities.columns:
        raise SchemaError("facilities", [Problem("column missing", column=type_col)])
    missing_rows = facilities.index[facilities[type_col].isna().to_numpy()]
    if len(missing_rows):
        problems = [Problem("facility type missing", row=r, column=type_col) for r in missing_rows]
        raise SchemaError("facilities", problems)
    dup = facilities.index[facilities.index.duplicated()]
    if len(dup):
        problems = [Problem("duplicate facility id (the index names the nearest facility)",
                            row=r) for r in pd.unique(dup)[:20]]
        raise SchemaError("facilities", problems)
    present = facilities[type_col].astype(str)  # types compare as text: 1 and "1" agree
    if types is None:
        types = sorted(pd.unique(present))
    elif isinstance(types, str):
        types = [types]
    types = list(dict.fromkeys(str(t) for t in types))
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
        :func:`geoplan.network.snap_points` output.
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
    speed_m_per_min: float | None = None,
    max_minutes: float = max(DEFAULT_TIERS_MIN),
    type_col: str = "facility_type",
    types: Sequence[str] | None = None,
    max_access_m: float = DEFAULT_MAX_ACCESS_M,
    demand_snap: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return walking distance and time from every demand cell to the nearest facility, per type.

    One multi-source Dijkstra per type, limited to the walking distance of ``max_minutes``
    (:func:`tier_reach_m`: 900 m for 15 minutes by default).

    Parameters
    ----------
    network
        The walking network.
    demand
        Demand cells (points or polygons) in the network's CRS.
    facilities
        Facility points in the network's CRS; the index is the facility id.
    speed_m_per_min
        Walking speed (m/min) for the limit and the times; ``None`` (default): the limit
        is the GB 50180-2018 life-circle distance of ``max_minutes`` and times are at
        :data:`DEFAULT_SPEED_M_PER_MIN` (see the module docstring).
    max_minutes
        Search limit (minutes); farther facilities count as not reachable (NaN).
    type_col
        Facility type column.
    types
        Types to analyse (a list or one name; default: every type present). Only these
        facilities are snapped and checked.
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
        (id of the nearest facility, missing when none). ``attrs["limit_m"]`` holds the
        search limit (metres).

    Raises
    ------
    CRSError
        If a layer is not in the network's metric CRS.
    SchemaError
        If the type column is missing, a requested type has no facility, facility ids
        repeat, the speed or limit is not positive, or ``demand_snap`` is not the snap of
        ``demand``.
    NetworkError
        If facilities (of the analysed types) lie outside the network's extent, or a
        geometry is missing or not finite.

    Examples
    --------
    >>> from geoplan.datasets import load_byod
    >>> study = load_byod()
    >>> existing = study.facilities[study.facilities["status"].eq("existing")]
    >>> nearest = nearest_facility_time(study.network(), study.population, existing,
    ...                                 types=["elderly_station", "senior_canteen"])
    >>> bool(nearest["elderly_station_time_min"].max() <= 15)
    True
    >>> int(nearest["senior_canteen_dist_m"].isna().sum())  # cells beyond 900 m of a canteen
    112
    """
    fn = "nearest_facility_time"
    require_network(network, fn)
    require_layer(demand, fn, "demand")
    require_layer(facilities, fn, "facilities")
    optional_names(types, fn, "types")
    limit_m = tier_reach_m(one_number(max_minutes, fn, "max_minutes", "minutes"),
                           optional_number(speed_m_per_min, fn, "speed_m_per_min", "m/min"))[0]
    if not max_access_m >= 0:
        raise SchemaError("parameters", [Problem(
            f"max_access_m must be positive or 0 (got {max_access_m})")])
    speed = DEFAULT_SPEED_M_PER_MIN if speed_m_per_min is None else speed_m_per_min
    check_layer_crs(network, facilities, "facilities")
    wanted = facility_types(facilities, types, type_col)
    type_values = facilities[type_col].astype(str).to_numpy()
    facilities = facilities.loc[np.isin(type_values, wanted)]
    type_values = facilities[type_col].astype(str).to_numpy()
    if demand_snap is None:
        dem = snap_points(network, demand, what="demand")
    elif len(demand_snap) != len(demand) or not demand_snap.index.equals(demand.index):
        raise SchemaError("demand_snap", [Problem(
            f"not the snap of this demand layer ({len(demand_snap)} rows for "
            f"{len(demand)} demand cells, or other ids); use snap_points(network, demand)")])
    else:
        dem = demand_snap
    fac = snap_points(network, facilities, what="facilities")
    check_snap_offsets(facilities, fac, what="facilities", network=network)  # a likely cause
    check_facilities_on_network(fac, max_access_m)
    off = dem["access_m"].to_numpy() > max_access_m
    if off.any():
        logger.warning("%d 个需求格网距路网超过 %.0f 米，按不可达计 / "
                       "%d demand cells are more than %.0f m from the network; not reachable",
                       int(off.sum()), max_access_m,
                       int(off.sum()), max_access_m)
    _log_disconnected_demand(network, demand, dem)
    out: dict[str, Any] = {"access_m": dem["access_m"].to_numpy()}
    for t in wanted:
        pos = np.flatnonzero(type_values == t)
        dist, src = nearest_source_distance(network, fac.iloc[pos], dem, limit_m)
        dist[off] = np.inf
        src[off] = -1
        reached = np.isfinite(dist)
        ids = np.full(len(dist), None, dtype=object)
        ids[reached] = facilities.index.to_numpy()[pos][src[reached]]
        out[f"{t}_dist_m"] = np.where(reached, dist, np.nan)
        out[f"{t}_time_min"] = out[f"{t}_dist_m"] / speed
        out[f"{t}_facility"] = ids
    table = pd.DataFrame(out, index=demand.index)
    table.attrs["limit_m"] = float(limit_m)  # coverage tiers beyond this cannot be counted
    return table


def _log_disconnected_demand(network: WalkNetwork, demand: pd.DataFrame,
                             dem: pd.DataFrame) -> None:
    """Log the demand (and population) snapped to parts cut off from the main network."""
    if len(dem) == 0 or network.component.max() == 0:
        return
    on_small = network.component[network.edges["u"].to_numpy()[dem["edge"].to_numpy()]] > 0
    if on_small.any():
        pop = ""
        if "pop" in demand.columns:
            people = pd.to_numeric(demand["pop"], errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan)
            pop = f" ({np.nansum(people[on_small]):,.0f} people)"
        logger.warning(
            "%d demand cells%s snap to parts of the walking network cut off from its largest "
            "part; they reach only facilities on the same part (see "
            "WalkNetwork.components_report)", int(on_small.sum()), pop)


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

    One bounded search per site (compiled, see :mod:`geoplan.access._reach_kernel`) that stops at
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
        Optional precomputed :func:`geoplan.network.snap_points` results.
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
    from geoplan.access._reach_kernel import reach_csr_arrays, serpentine_order

    require_network(network, "reach_matrix")
    if sites_snap is None:
        require_layer(sites, "reach_matrix", "sites")
    if demand_snap is None:
        require_layer(demand, "reach_matrix", "demand")
    if not one_number(max_m, "reach_matrix", "max_m", "metres") > 0:
        raise SchemaError("parameters", [Problem(f"max_m must be positive, got {max_m}")])
    src = sites_snap if sites_snap is not None else snap_points(network, sites, what="sites")
    dem = demand_snap if demand_snap is not None else snap_points(network, demand, what="demand")
    k, m = len(src), len(dem)
    if k == 0 or m == 0:
        return sparse.csr_matrix((k, m), dtype=np.float64)
    sites_arr, cells_arr = _snap_arrays(src), _snap_arrays(dem)
    # No walk is longer than the connectors plus every street once; a larger limit changes
    # nothing but makes the kernel's bucket queue degenerate (one bucket), so cap it.
    longest_m = (max(sites_arr["to_u"].max(), sites_arr["to_v"].max())
                 + float(network.edges["length_m"].sum())
                 + max(cells_arr["to_u"].max(), cells_arr["to_v"].max()))
    search_m = min(float(max_m), longest_m * (1 + 1e-9) + 1.0)
    indptr, indices, data = reach_csr_arrays(
        network.csr, sites_arr, cells_arr, len(network.edges), search_m,
        REACH_EPSILON_M, n_threads=n_threads,
        site_order=serpentine_order(src[["x", "y"]].to_numpy(), cell_m=max(search_m, 1.0)),
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
