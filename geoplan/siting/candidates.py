"""Candidate sites for the siting models, and the exclusion zones that remove them.

Candidates come from a user layer (public buildings, spare land, community centres, rural
collective construction land), from walking-network nodes inside uncovered areas, or from
clusters of uncovered demand (weighted KMeans). All are snapped to network nodes so the
reach matrix of :func:`geoplan.access.reach_matrix` can be computed for them. Exclusion
layers (e.g. the zones of 《殡葬管理条例》 art. 10 for columbaria) then remove candidates, with
a count per layer.

All layers must share one projected (metric) CRS: the study's CGCS2000 Gauss-Krüger zone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geoplan.errors import CRSError, Problem, SchemaError

logger = logging.getLogger(__name__)

__all__ = [
    "COLUMBARIUM_EXCLUSION_ZONES",
    "candidate_sites_from_demand_clusters",
    "candidate_sites_from_layer",
    "candidate_sites_from_network_nodes",
    "exclude_candidates",
    "snap_to_network_nodes",
]

#: Zones where 《殡葬管理条例》 (State Council Decree 225, art. 10) forbids burial construction;
#: give one layer per key to :func:`exclude_candidates` when siting columbaria.
COLUMBARIUM_EXCLUSION_ZONES: dict[str, str] = {
    "farmland_forest": "耕地、林地",
    "park_scenic_heritage": "城市公园、风景名胜区和文物保护区",
    "reservoir_river_levee": "水库及河流堤坝附近",
    "water_source_protection": "水源保护区",
    "railway_road_corridor": "铁路、公路主干线两侧",
}


def _require_metric(gdf: gpd.GeoDataFrame, what: str) -> None:
    if gdf.crs is None or not gdf.crs.is_projected:
        msg = (f"{what} must be in a projected metric CRS (the study's CGCS2000 Gauss-Krüger "
               f"zone), got {gdf.crs}; use geoplan.crs.to_metric first")
        raise CRSError(msg)


def _require_same_crs(a_crs, b_crs, what: str) -> None:
    if a_crs is not None and b_crs is not None and a_crs != b_crs:
        msg = f"{what}: CRS differ ({a_crs} vs {b_crs}); reproject with to_crs first"
        raise CRSError(msg)


def _point_xy(layer: gpd.GeoDataFrame, what: str) -> np.ndarray:
    """Coordinates of a point inside every feature; missing or empty geometry is an error."""
    geom = layer.geometry.values
    bad = shapely.is_missing(geom) | shapely.is_empty(geom)
    if bad.any():
        problems = [Problem("missing or empty geometry", row=r, column="geometry")
                    for r in layer.index[bad][:50]]
        raise SchemaError(what, problems)
    return shapely.get_coordinates(shapely.point_on_surface(geom)).reshape(-1, 2)


def snap_to_network_nodes(points: gpd.GeoDataFrame, network) -> gpd.GeoDataFrame:
    """Move points onto their nearest walking-network node.

    A thin adapter over the network's node coordinates (a KD-tree on ``network.node_xy``):
    candidate sites sit on nodes so that distances from them start on the network.

    Parameters
    ----------
    points
        Point layer (polygons are reduced to a representative point) in the network's CRS.
    network
        A :class:`geoplan.network.WalkNetwork` (uses ``node_xy`` and ``crs``).

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with the geometry on the node, plus ``node`` (node index) and
        ``snap_dist_m`` (how far the point moved).
    """
    _require_metric(points, "candidate points")
    net_crs = getattr(network, "crs", None)
    if net_crs is not None:
        _require_same_crs(points.crs, gpd.GeoSeries([], crs=net_crs).crs, "snapping")
    xy_nodes = np.asarray(network.node_xy, dtype=float)
    if xy_nodes.size == 0:
        raise SchemaError("network", [Problem("has no nodes")])
    xy = _point_xy(points, "candidate points")
    dist, node = cKDTree(xy_nodes).query(xy)
    out = points.copy()
    out["node"] = node.astype(np.int64)
    out["snap_dist_m"] = dist
    out = out.set_geometry(gpd.GeoSeries(shapely.points(xy_nodes[node]), index=out.index,
                                         crs=points.crs), crs=points.crs)
    return out


def candidate_sites_from_layer(
    layer: gpd.GeoDataFrame,
    *,
    network=None,
    source: str = "layer",
) -> gpd.GeoDataFrame:
    """Candidate sites from a user layer (points, or polygons reduced to an inside point).

    Parameters
    ----------
    layer
        E.g. public buildings, spare land, rural collective construction land.
    network
        Optional walking network to snap the sites to its nodes.
    source
        Value of the ``source`` column.

    Returns
    -------
    geopandas.GeoDataFrame
        Point candidates with string ids ``"<source>-<original id>"`` and the layer's columns.

    Raises
    ------
    CRSError
        When the layer is not in a metric CRS (or not in the network's).
    SchemaError
        When features have no geometry or ids repeat (each row listed).
    """
    _require_metric(layer, "candidate layer")
    xy = _point_xy(layer, "candidate layer")
    dup = layer.index[layer.index.duplicated()]
    if len(dup):
        problems = [Problem("id is not unique", row=r) for r in dict.fromkeys(dup)]
        raise SchemaError("candidate layer", problems[:50])
    out = layer.copy()
    out = out.set_geometry(gpd.GeoSeries(shapely.points(xy), index=layer.index, crs=layer.crs))
    out.index = pd.Index([f"{source}-{i}" for i in layer.index], dtype=object)
    out["source"] = source
    return snap_to_network_nodes(out, network) if network is not None else out


def _thin_by_grid(xy: np.ndarray, spacing_m: float) -> np.ndarray:
    """Keep the first point in each ``spacing_m`` grid cell; returns kept positions."""
    cells = np.floor(xy / spacing_m).astype(np.int64)
    _, first = np.unique(cells, axis=0, return_index=True)
    return np.sort(first)


def candidate_sites_from_network_nodes(
    network,
    areas: gpd.GeoDataFrame,
    *,
    min_spacing_m: float | None = 200.0,
) -> gpd.GeoDataFrame:
    """Network nodes inside the given areas (e.g. uncovered parts of a 15-minute circle map).

    Parameters
    ----------
    network
        A :class:`geoplan.network.WalkNetwork`.
    areas
        Polygons in the network CRS.
    min_spacing_m
        Keep at most one node per square of this size (``None``: every node).

    Returns
    -------
    geopandas.GeoDataFrame
        Point candidates with ``node`` and ``source = "network_node"``.
    """
    _require_metric(areas, "areas")
    if getattr(network, "crs", None) is not None:
        _require_same_crs(areas.crs, gpd.GeoSeries([], crs=network.crs).crs, "areas")
    xy = np.asarray(network.node_xy, dtype=float)
    union = shapely.union_all(shapely.make_valid(areas.geometry.values))
    inside = np.flatnonzero(shapely.contains_xy(union, xy[:, 0], xy[:, 1]))
    if min_spacing_m is not None and inside.size:
        inside = inside[_thin_by_grid(xy[inside], float(min_spacing_m))]
    return gpd.GeoDataFrame(
        {"node": inside.astype(np.int64), "source": "network_node", "snap_dist_m": 0.0},
        geometry=shapely.points(xy[inside]),
        index=pd.Index([f"node-{n}" for n in inside], dtype=object),
        crs=areas.crs,
    )


def candidate_sites_from_demand_clusters(
    demand: gpd.GeoDataFrame,
    n_sites: int,
    *,
    weight_column: str = "pop_60plus",
    mask: np.ndarray | pd.Series | None = None,
    network=None,
    seed: int = 0,
) -> gpd.GeoDataFrame:
    """Cluster centres of (uncovered) demand, weighted, as candidate sites.

    Uses scikit-learn ``KMeans`` (``MiniBatchKMeans`` above 20,000 cells) with
    ``sample_weight`` = the weight column, so centres lean toward where older people live.

    Parameters
    ----------
    demand
        Population cells (points or polygons) in a metric CRS.
    n_sites
        Number of clusters (candidates) wanted; fewer when there are fewer weighted cells.
    weight_column
        Column used as sample weight (default ``pop_60plus``).
    mask
        Cells to cluster (e.g. the cells no existing site covers); default all.
    network
        Optional walking network to snap the centres to nodes.
    seed
        Random seed of KMeans.

    Returns
    -------
    geopandas.GeoDataFrame
        Point candidates with ``cluster_weight`` (total weight of the cluster) and
        ``source = "demand_cluster"``.
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    _require_metric(demand, "demand")
    if weight_column not in demand.columns:
        raise SchemaError("demand", [Problem("weight column is missing", column=weight_column)])
    if mask is None:
        sel = np.ones(len(demand), bool)
    elif isinstance(mask, pd.Series) and not mask.index.equals(demand.index) and \
            mask.index.sort_values().equals(demand.index.sort_values()):
        sel = np.array(mask.reindex(demand.index), dtype=bool)
    else:
        sel = np.array(mask, dtype=bool).ravel()
    if sel.size != len(demand):
        raise SchemaError("demand", [Problem(f"mask has {sel.size} entries for {len(demand)} "
                                             "cells")])
    w = pd.to_numeric(demand[weight_column], errors="coerce").to_numpy(float)
    sel &= w > 0  # NaN and negative weights never count
    xy = _point_xy(demand.loc[sel], "demand")
    k = int(min(n_sites, len(xy)))
    if k == 0:
        return gpd.GeoDataFrame({"cluster_weight": [], "source": []},
                                geometry=gpd.GeoSeries([], crs=demand.crs), crs=demand.crs)
    model_cls = MiniBatchKMeans if len(xy) > 20_000 else KMeans
    k = int(min(k, len(np.unique(xy, axis=0))))  # no more centres than distinct places
    km = model_cls(n_clusters=k, random_state=seed, n_init=3).fit(xy, sample_weight=w[sel])
    cw = np.bincount(km.labels_, weights=w[sel], minlength=k)
    live = cw > 0  # MiniBatchKMeans can leave a centre without cells
    out = gpd.GeoDataFrame(
        {"cluster_weight": cw[live], "source": "demand_cluster"},
        geometry=shapely.points(km.cluster_centers_[live]),
        index=pd.Index([f"cluster-{i}" for i in np.flatnonzero(live)], dtype=object),
        crs=demand.crs,
    )
    if network is not None:
        out = snap_to_network_nodes(out, network)
        out = out.loc[~out["node"].duplicated()]
    return out


def exclude_candidates(
    candidates: gpd.GeoDataFrame,
    exclusions: Mapping[str, gpd.GeoDataFrame],
    *,
    buffer_m: Mapping[str, float] | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Remove candidates that fall in exclusion zones, and count what each zone removed.

    Parameters
    ----------
    candidates
        Candidate points.
    exclusions
        Named exclusion layers, e.g. the keys of :data:`COLUMBARIUM_EXCLUSION_ZONES`. Polygon
        layers exclude what lies inside; line layers (railways, main roads, levees) need a
        ``buffer_m`` entry (corridor half-width in metres).
    buffer_m
        Buffer per layer name in metres (applied to every geometry of that layer).

    Returns
    -------
    kept : geopandas.GeoDataFrame
        The candidates outside every zone (a copy).
    report : pandas.DataFrame
        One row per zone, in the given order: ``zone``, ``name_zh`` (for the known zones),
        ``n_inside`` (candidates in the zone) and ``n_removed`` (those not already removed
        by an earlier zone), plus a ``total`` row.

    Raises
    ------
    CRSError
        When a layer is not metric or not in the candidates' CRS.
    SchemaError
        When a layer of lines or points has no ``buffer_m`` entry (it would exclude almost
        nothing), a buffer is negative, or ``buffer_m`` names a layer that is not given.
    """
    _require_metric(candidates, "candidates")
    buffer_m = dict(buffer_m or {})
    problems = [Problem(f"buffer_m names {k!r}, which is not among the exclusion layers "
                        f"({', '.join(map(repr, exclusions))})") for k in buffer_m
                if k not in exclusions]
    problems += [Problem(f"buffer_m[{k!r}] must be a distance >= 0 in metres, got {v!r}")
                 for k, v in buffer_m.items() if not (np.isfinite(v) and v >= 0)]
    for name, layer in exclusions.items():
        types = set(layer.geometry.dropna().geom_type)
        thin = types & {"LineString", "MultiLineString", "LinearRing", "Point", "MultiPoint"}
        if thin and name not in buffer_m:
            problems.append(Problem(
                f"exclusion layer {name!r} holds {', '.join(sorted(thin))}; give "
                f"buffer_m[{name!r}] (the corridor half-width in metres)"))
    if problems:
        raise SchemaError("exclusion zones", problems)
    xy = _point_xy(candidates, "candidates")
    removed = np.zeros(len(candidates), bool)
    rows = []
    for name, layer in exclusions.items():
        if len(layer) or layer.crs is not None:  # an empty layer without a CRS excludes nothing
            _require_metric(layer, f"exclusion layer {name!r}")
            _require_same_crs(candidates.crs, layer.crs, f"exclusion layer {name!r}")
        geoms = shapely.make_valid(layer.geometry.dropna().values)
        if name in buffer_m:
            geoms = shapely.buffer(geoms, float(buffer_m[name]))
        zone = shapely.union_all(geoms)
        inside = shapely.contains_xy(zone, xy[:, 0], xy[:, 1]) | shapely.intersects(
            zone, shapely.points(xy)) if not zone.is_empty else np.zeros(len(xy), bool)
        rows.append({"zone": name, "name_zh": COLUMBARIUM_EXCLUSION_ZONES.get(name, ""),
                     "n_inside": int(inside.sum()), "n_removed": int((inside & ~removed).sum())})
        removed |= inside
    report = pd.DataFrame(rows, columns=["zone", "name_zh", "n_inside", "n_removed"])
    total = pd.DataFrame([{"zone": "total", "name_zh": "合计", "n_inside": int(removed.sum()),
                           "n_removed": int(removed.sum())}])
    report = pd.concat([report, total], ignore_index=True)
    logger.info("exclusion zones removed %d of %d candidates", removed.sum(), len(candidates))
    return candidates.loc[~removed].copy(), report
