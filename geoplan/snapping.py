"""Snapping demand cells and facilities to the nearest edge of a walking network.

A point is joined to the nearest point on the nearest *edge* (not node) by a straight
connector; its network distance to the edge's end nodes is then

``access_m + along_m`` (to ``u``) and ``access_m + edge_length_m - along_m`` (to ``v``).

Snapping is vectorised with a shapely 2 ``STRtree.query_nearest`` over the edges.
"""

from __future__ import annotations

import logging
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geoplan.errors import CRSError, NetworkError
from geoplan.network import WalkNetwork

logger = logging.getLogger(__name__)

__all__ = ["check_snap_offset", "snap_points"]

#: Median snap distance (m) above which a consistent direction suggests a datum offset.
OFFSET_WARN_MEDIAN_M = 100.0
#: Mean resultant length of the snap directions (0 = random, 1 = all the same way).
OFFSET_WARN_CONSISTENCY = 0.5

SNAP_COLUMNS = ("edge", "u", "v", "along_m", "edge_length_m", "access_m", "x", "y")


def _representative_xy(points: gpd.GeoSeries) -> np.ndarray:
    geoms = points.to_numpy()
    kinds = shapely.get_type_id(geoms)
    if np.all(kinds == 0):
        return shapely.get_coordinates(geoms)
    return shapely.get_coordinates(shapely.centroid(geoms))


def check_layer_crs(network: WalkNetwork, layer: gpd.GeoDataFrame, what: str) -> None:
    """Raise :class:`CRSError` unless ``layer`` is in the network's metric CRS.

    Parameters
    ----------
    network
        The walking network.
    layer
        The layer to check.
    what
        Name of the layer for the message.

    Raises
    ------
    CRSError
        If the layer has no CRS, a geographic CRS, or a different CRS than the network.
    """
    if layer.crs is None:
        msg = f"{what} has no CRS; declare its coordinates and project to EPSG:{network.crs}"
        raise CRSError(msg)
    crs = CRS.from_user_input(layer.crs)
    if crs.is_geographic:
        msg = (
            f"{what} is in a geographic CRS ({crs.to_string()}, degrees) but metres are "
            f"needed; project it to the network's CRS with to_crs({network.crs})"
        )
        raise CRSError(msg)
    if crs.to_epsg() != network.crs:
        msg = (
            f"{what} is in {crs.to_string()} but the walking network is in EPSG:{network.crs}; "
            f"use to_crs({network.crs})"
        )
        raise CRSError(msg)


def snap_points(
    network: WalkNetwork, points: gpd.GeoDataFrame | gpd.GeoSeries, *, what: str = "points"
) -> pd.DataFrame:
    """Snap points (or polygon centroids) to the nearest edge of the network.

    Parameters
    ----------
    network
        The walking network.
    points
        Points or polygons (their centroid is snapped) in the network's CRS.
    what
        Name of the layer for error messages.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``points``: ``edge`` (row position in ``network.edges``), ``u``, ``v``
        (its end nodes), ``along_m`` (distance along the edge from ``u`` to the projected
        point), ``edge_length_m``, ``access_m`` (straight connector length from the point to
        the edge) and ``x``, ``y`` (the projected point, metres).

    Raises
    ------
    CRSError
        If ``points`` is not in the network's metric CRS.
    NetworkError
        If a geometry is missing or empty.
    """
    frame = points if isinstance(points, gpd.GeoDataFrame) else gpd.GeoDataFrame(geometry=points)
    check_layer_crs(network, frame, what)
    geoms = frame.geometry
    bad = geoms.isna().to_numpy() | geoms.is_empty.to_numpy()
    if bad.any():
        ids = list(frame.index[bad][:10])
        msg = f"{what}: {int(bad.sum())} row(s) with missing or empty geometry, e.g. {ids}"
        raise NetworkError(msg)
    xy = _representative_xy(geoms)
    pts = shapely.points(xy)
    pairs, dist = network.edge_tree.query_nearest(pts, all_matches=False, return_distance=True)
    order = np.argsort(pairs[0], kind="stable")
    edge = pairs[1][order]
    dist = dist[order]
    lines = network.edge_lines[edge]
    along = shapely.line_locate_point(lines, pts)
    proj = shapely.get_coordinates(shapely.line_interpolate_point(lines, along))
    length = network.edges["length_m"].to_numpy()[edge]
    along = np.clip(along, 0.0, length)
    return pd.DataFrame(
        {
            "edge": edge.astype(np.int64),
            "u": network.edges["u"].to_numpy()[edge],
            "v": network.edges["v"].to_numpy()[edge],
            "along_m": along,
            "edge_length_m": length,
            "access_m": dist,
            "x": proj[:, 0],
            "y": proj[:, 1],
        },
        index=frame.index,
    )


def check_snap_offset(
    points: gpd.GeoDataFrame, snapped: pd.DataFrame, *, what: str = "facilities"
) -> bool:
    """Warn when snap distances look like a systematic coordinate offset (e.g. GCJ-02).

    GCJ-02 (高德/腾讯) coordinates read as WGS-84/CGCS2000 sit 100-700 m off their true
    position, all shifted the same way. The check warns when the median snap distance is
    at least :data:`OFFSET_WARN_MEDIAN_M` and the snap connectors point in a consistent
    direction (mean resultant length of their unit vectors at least
    :data:`OFFSET_WARN_CONSISTENCY`).

    Parameters
    ----------
    points
        The points that were snapped (network CRS).
    snapped
        The result of :func:`snap_points` for ``points``.
    what
        Name of the layer for the message.

    Returns
    -------
    bool
        Whether the warning was issued.

    Warns
    -----
    UserWarning
        Naming the median distance, the direction and the likely cause.
    """
    if len(snapped) < 3:
        return False
    xy = _representative_xy(points.geometry)
    dx = xy[:, 0] - snapped["x"].to_numpy()  # from network to point: the shift
    dy = xy[:, 1] - snapped["y"].to_numpy()
    dist = np.hypot(dx, dy)
    median_m = float(np.median(dist))
    ok = dist > 0
    if median_m < OFFSET_WARN_MEDIAN_M or ok.sum() < 3:
        return False
    ux, uy = dx[ok] / dist[ok], dy[ok] / dist[ok]
    consistency = float(np.hypot(ux.mean(), uy.mean()))
    if consistency < OFFSET_WARN_CONSISTENCY:
        return False
    bearing = (np.degrees(np.arctan2(ux.mean(), uy.mean())) + 360.0) % 360.0
    msg = (
        f"{what} sit a median {median_m:.0f} m off the walking network, shifted consistently "
        f"towards bearing {bearing:.0f}° (consistency {consistency:.2f}). This looks like a "
        "systematic coordinate offset such as GCJ-02 (高德/腾讯) or BD-09 (百度) coordinates "
        "declared as WGS-84/CGCS2000; declare coords='gcj02' (or 'bd09') when reading them."
    )
    warnings.warn(msg, UserWarning, stacklevel=2)
    logger.warning(msg)
    return True
