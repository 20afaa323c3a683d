"""Hand-written SciPy versions of geoplan's access functions: the floor a user could write.

Each takes the same GeoDataFrames a notebook holds and does the least a competent user
would: snap points to the nearest *node* with a KD-tree (built here, so it is timed), run
``scipy.sparse.csgraph.dijkstra`` (multi-source with ``min_only`` where one answer per
cell is needed), and read the answers off the arrays. Less exact than geoplan (node
snapping, no along-edge access distance), so they are a floor, not a reference.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree


def _xy(layer: gpd.GeoDataFrame) -> np.ndarray:
    return shapely.get_coordinates(layer.geometry.to_numpy())


def snap_to_nodes(network, *layers: gpd.GeoDataFrame) -> list[np.ndarray]:
    """Nearest node of every point of each layer (KD-tree built here)."""
    tree = cKDTree(network.node_xy)
    return [tree.query(_xy(layer), workers=-1)[1] for layer in layers]


def nearest_distance(network, demand, facilities, limit_m: float, type_col: str = "facility_type"):
    """Per type: node-to-node distance from every cell to its nearest facility (inf beyond)."""
    (dnode,) = snap_to_nodes(network, demand)
    tree = cKDTree(network.node_xy)
    out = {}
    for t, group in facilities.groupby(type_col, sort=True):
        fnode = tree.query(_xy(group), workers=-1)[1]
        dist = dijkstra(network.csr, indices=np.unique(fnode), min_only=True, limit=limit_m)
        out[t] = dist[dnode]
    return out


def coverage(network, demand, facilities, units, reaches_m, measures,
             type_col: str = "facility_type"):
    """Covered and total measures per unit, type and tier (sjoin + groupby)."""
    dist = nearest_distance(network, demand, facilities, max(reaches_m), type_col)
    points = demand[[*measures, "geometry"]]
    frames = []
    for level, layer in units.groupby("level", sort=True):
        joined = gpd.sjoin(points, layer[["code", "geometry"]].reset_index(drop=True),
                           predicate="within")
        cols = {}
        for t, d in dist.items():
            d_rows = pd.Series(d, index=demand.index).loc[joined.index].to_numpy()
            for reach in reaches_m:
                ok = d_rows <= reach
                for m in measures:
                    cols[(t, reach, m)] = joined[m].to_numpy() * ok
        table = pd.DataFrame(cols, index=joined.index).groupby(joined["code"].to_numpy()).sum()
        frames.append(table.assign(level=level))
    return pd.concat(frames)


def reach_matrix(network, sites, demand, max_m: float, chunk: int = 64) -> sparse.csr_matrix:
    """Site x cell node distances within ``max_m`` (dense rows per chunk of sites)."""
    snode, dnode = snap_to_nodes(network, sites, demand)
    parts = []
    for start in range(0, len(snode), chunk):
        rows = dijkstra(network.csr, indices=snode[start:start + chunk], limit=max_m)[:, dnode]
        r, c = np.nonzero(rows <= max_m)
        parts.append(sparse.csr_matrix((rows[r, c], (r, c)), shape=(len(rows), len(dnode))))
    return sparse.vstack(parts, format="csr")


def reached_edges(network, facilities, max_m: float, batch: int = 16) -> list[np.ndarray]:
    """Per facility: the edges whose both ends are within ``max_m`` of its nearest node."""
    (fnode,) = snap_to_nodes(network, facilities)
    u = network.edges["u"].to_numpy()
    v = network.edges["v"].to_numpy()
    out = []
    for start in range(0, len(fnode), batch):
        dist = dijkstra(network.csr, indices=fnode[start:start + batch], limit=max_m)
        out += [np.flatnonzero(np.isfinite(row[u]) & np.isfinite(row[v])) for row in dist]
    return out


def service_areas(network, facilities, max_m: float, width_m: float = 25.0):
    """Per facility: the union of its reached edges buffered by ``width_m``."""
    lines = network.edge_lines
    return [shapely.union_all(shapely.buffer(lines[sel], width_m, quad_segs=4))
            for sel in reached_edges(network, facilities, max_m)]
