"""Synthetic siting instances: a street-like walking graph, clustered demand, reach matrices.

Used by the tests and ``benchmarks/bench_siting.py`` (and handy in notebooks) to get
realistic coverage structure at any size without data: a jittered street grid with missing
blocks, demand concentrated in settlements, and facility → demand walking distances from
limited Dijkstra searches (:func:`scipy.sparse.csgraph.dijkstra`), the same way
:func:`geoplan.access.reach_matrix` builds them on a real network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

__all__ = ["SitingInstance", "reach_on_graph", "street_grid", "synthetic_siting_instance"]


def street_grid(
    n_side: int, spacing_m: float = 100.0, *, drop_share: float = 0.15, seed: int = 0
) -> tuple[np.ndarray, sp.csr_matrix]:
    """Build a street-like graph: a jittered square grid with some street segments removed.

    Returns
    -------
    node_xy : numpy.ndarray
        ``(n_side**2, 2)`` node coordinates in metres.
    csr : scipy.sparse.csr_matrix
        Symmetric edge lengths in metres (with a small detour factor over the straight line).
    """
    rng = np.random.default_rng(seed)
    ii, jj = np.meshgrid(np.arange(n_side), np.arange(n_side), indexing="ij")
    xy = np.c_[ii.ravel(), jj.ravel()] * spacing_m
    xy = xy + rng.normal(0, spacing_m * 0.15, xy.shape)
    idx = np.arange(n_side * n_side).reshape(n_side, n_side)
    u = np.r_[idx[:-1, :].ravel(), idx[:, :-1].ravel()]
    v = np.r_[idx[1:, :].ravel(), idx[:, 1:].ravel()]
    keep = rng.random(u.size) >= drop_share
    u, v = u[keep], v[keep]
    length = np.hypot(*(xy[u] - xy[v]).T) * rng.uniform(1.0, 1.15, u.size)
    n = n_side * n_side
    csr = sp.csr_matrix((np.r_[length, length], (np.r_[u, v], np.r_[v, u])), shape=(n, n))
    return xy, csr


def reach_on_graph(
    csr: sp.csr_matrix,
    site_nodes: np.ndarray,
    demand_nodes: np.ndarray,
    max_m: float,
    *,
    demand_access_m: np.ndarray | None = None,
    chunk: int = 256,
) -> sp.csr_matrix:
    """Sites × demand walking metres within ``max_m`` (explicit entries only for reached pairs).

    Distances are network distance from the site node to the demand cell's node plus the
    cell's access distance; a pair at distance 0 is stored as 1e-6 m so it is kept.
    """
    access = np.zeros(len(demand_nodes)) if demand_access_m is None else demand_access_m
    rows, cols, vals = [], [], []
    for start in range(0, len(site_nodes), chunk):
        block = np.asarray(site_nodes[start : start + chunk])
        dist = dijkstra(csr, directed=False, indices=block, limit=max_m)
        d = dist[:, demand_nodes] + access[None, :]
        r, c = np.nonzero(d <= max_m)
        rows.append(r + start)
        cols.append(c)
        vals.append(np.maximum(d[r, c], 1e-6))
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(site_nodes), len(demand_nodes)),
    )


@dataclass(frozen=True)
class SitingInstance:
    """A synthetic instance: graph, demand cells, candidate and existing sites, reach."""

    node_xy: np.ndarray
    csr: sp.csr_matrix
    demand_xy: np.ndarray
    demand_node: np.ndarray
    pop: np.ndarray
    households: np.ndarray
    pop_60plus: np.ndarray
    candidate_node: np.ndarray
    existing_node: np.ndarray
    reach: sp.csr_matrix
    existing_reach: sp.csr_matrix
    max_m: float


def synthetic_siting_instance(
    n_demand: int,
    n_candidates: int,
    *,
    n_existing: int = 0,
    max_m: float = 1000.0,
    cells_per_km2: float = 70.0,
    spacing_m: float = 100.0,
    seed: int = 0,
) -> SitingInstance:
    """Build a realistic instance of the given size.

    The area is sized so that there are about ``cells_per_km2`` demand cells per km²; 70 % of
    the cells sit in settlements (Gaussian clusters), the rest are scattered. Population per
    cell is log-normal, 60+ is 8–25 % of it, households ≈ pop / 2.6.
    """
    rng = np.random.default_rng(seed)
    side_m = np.sqrt(n_demand / cells_per_km2) * 1000.0
    n_side = max(int(side_m / spacing_m) + 1, 3)
    node_xy, csr = street_grid(n_side, spacing_m, seed=seed)
    extent = (n_side - 1) * spacing_m
    n_cl = max(1, int(n_demand * 0.7))
    centres = rng.uniform(0, extent, (max(3, n_demand // 400), 2))
    pick = rng.integers(0, len(centres), n_cl)
    clustered = centres[pick] + rng.normal(0, extent * 0.03 + 150, (n_cl, 2))
    scattered = rng.uniform(0, extent, (n_demand - n_cl, 2))
    demand_xy = np.clip(np.r_[clustered, scattered], 0, extent)
    access, demand_node = cKDTree(node_xy).query(demand_xy)
    pop = np.round(rng.lognormal(4.5, 0.8, n_demand))
    pop_60 = np.round(pop * rng.uniform(0.08, 0.25, n_demand))
    households = np.round(pop / 2.6)
    cand = rng.choice(len(node_xy), n_candidates, replace=False)
    rest = np.setdiff1d(np.arange(len(node_xy)), cand)
    existing = rng.choice(rest, n_existing, replace=False) if n_existing else np.zeros(0, int)
    reach = reach_on_graph(csr, cand, demand_node, max_m, demand_access_m=access)
    existing_reach = reach_on_graph(csr, existing, demand_node, max_m,
                                    demand_access_m=access) if n_existing else \
        sp.csr_matrix((0, n_demand))
    return SitingInstance(node_xy, csr, demand_xy, demand_node, pop, households, pop_60,
                          cand, existing, reach, existing_reach, max_m)
