"""Snapping demand cells and facilities to the nearest edge of a walking network.

A point is joined to the nearest point on the nearest *edge* (not node) by a straight
connector; its network distance to the edge's end nodes is then

``access_m + along_m`` (to ``u``) and ``access_m + edge_length_m - along_m`` (to ``v``).

The nearest edge comes from a compiled grid search over straight edge pieces
(:mod:`geoplan.network._snap_kernel`; exact), with shapely's ``STRtree.query_nearest`` for
points far from every street. A point set is snapped once per network: the result is kept on the
:class:`~geoplan.network.WalkNetwork`, keyed by a hash of the coordinates, so the next call
with the same points (another facility type, tier or function) costs only that hash.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from pyproj import CRS

from geoplan.errors import CRSError, NetworkError
from geoplan.network.graph import WalkNetwork

logger = logging.getLogger(__name__)

__all__ = ["check_snap_offset", "check_snap_offsets", "snap_points"]

#: Median snap distance (m) above which a consistent direction suggests a datum offset.
OFFSET_WARN_MEDIAN_M = 100.0
#: ... and at most this (m): farther is a wrong place or CRS, not a datum offset.
OFFSET_WARN_MAX_M = 2000.0
#: Mean resultant length of the snap directions (0 = random, 1 = all the same way).
OFFSET_WARN_CONSISTENCY = 0.5
#: Fewest points for the datum-fit test (with fewer, chance alone often looks like a fit).
OFFSET_FIT_MIN_POINTS = 5
#: Snap distances are capped at this (m) when comparing fits before/after a datum change.
OFFSET_FIT_CAP_M = 100.0
#: Warn when converting from GCJ-02/BD-09 cuts the mean capped snap distance to this share...
OFFSET_FIT_RATIO = 0.5
#: ... and brings at least this share of the points closer to the streets.
OFFSET_FIT_SHARE = 0.7

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
        A new frame (the snap is computed once per network and point coordinates, and
        reused; see the module docstring), indexed like ``points``: ``edge`` (row position
        in ``network.edges``), ``u``, ``v`` (its end nodes), ``along_m`` (distance along
        the edge from ``u`` to the projected point), ``edge_length_m``, ``access_m``
        (straight connector length from the point to the edge) and ``x``, ``y`` (the
        projected point, metres).

    Raises
    ------
    CRSError
        If ``points`` is not in the network's metric CRS.
    NetworkError
        If a geometry is missing or empty, or has NaN/infinite coordinates.
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
    bad = ~np.isfinite(xy).all(axis=1)
    if bad.any():
        ids = list(frame.index[bad][:10])
        msg = f"{what}: {int(bad.sum())} row(s) with NaN or infinite coordinates, e.g. {ids}"
        raise NetworkError(msg)
    if len(xy) == 0:
        return pd.DataFrame({c: np.empty(0, dtype=np.int64 if c in ("edge", "u", "v")
                                         else np.float64) for c in SNAP_COLUMNS},
                            index=frame.index)
    edge, along, proj, dist = _nearest_on_edges(network, xy)
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


#: Changes whenever snapping could give other answers for the same points (cache keys).
_SNAP_VERSION = b"grid-1"


def _xy_key(xy: np.ndarray) -> bytes:
    """Key of a point set: a hash of its coordinates' bytes (and the snapping version)."""
    digest = hashlib.blake2b(np.ascontiguousarray(xy, dtype=np.float64).tobytes(),
                             digest_size=20)
    digest.update(_SNAP_VERSION + str(xy.shape).encode())
    return digest.digest()


def _nearest_on_edges(network: WalkNetwork, xy: np.ndarray, *, keep: bool = True):
    """Nearest edge, distance along it, projected point and distance for each point.

    Computed once per point set and network: the result is kept on the network (unless
    ``keep`` is false), keyed by a hash of the coordinates, and reused while the network is
    unchanged. Candidates come from
    the compiled grid search (:mod:`geoplan.network._snap_kernel`); points it leaves open (far from
    every street) use the exact STRtree search.
    """
    key = _xy_key(xy)
    hit = network._snap_lookup(key)
    if hit is not None:
        return hit
    from geoplan.network._snap_kernel import nearest_pieces, snap_grid

    grid = network._derived("snap_grid", lambda: snap_grid(network.edge_lines))
    edge, along, proj, dist, sure = nearest_pieces(grid, xy)
    unsure = ~sure
    if unsure.any():  # exact fallback
        pts = shapely.points(xy[unsure])
        pairs, dd = network.edge_tree.query_nearest(pts, all_matches=False, return_distance=True)
        order = np.argsort(pairs[0], kind="stable")
        e = pairs[1][order]
        lines = network.edge_lines[e]
        al = shapely.line_locate_point(lines, pts)
        edge[unsure] = e
        dist[unsure] = dd[order]
        along[unsure] = al
        proj[unsure] = shapely.get_coordinates(shapely.line_interpolate_point(lines, al))
    logger.debug("snapped %d points, %d by the exact fallback", len(xy), int(unsure.sum()))
    result = (edge, along, proj, dist)
    if keep:
        network._snap_store(key, result)
    return result


def check_snap_offset(
    points: gpd.GeoDataFrame, snapped: pd.DataFrame, *, what: str = "facilities",
    network: WalkNetwork | None = None,
) -> bool:
    """Warn when snap distances look like a systematic coordinate offset (e.g. GCJ-02).

    GCJ-02 (高德/腾讯) coordinates read as WGS-84/CGCS2000 sit 100-700 m off their true
    position (BD-09, 百度: up to 1.4 km), all shifted the same way. Two tests, either warns:

    - with ``network``, for at least :data:`OFFSET_FIT_MIN_POINTS` points in mainland
      China: converting the points from GCJ-02
      (or BD-09) to WGS-84 brings them much closer to the streets (mean snap distance,
      each capped at :data:`OFFSET_FIT_CAP_M`, at most :data:`OFFSET_FIT_RATIO` of the
      original, and at least :data:`OFFSET_FIT_SHARE` of the points closer). This catches
      the offset in a dense city, where shifted points still land near *some* street;
    - the median snap distance is between :data:`OFFSET_WARN_MEDIAN_M` and
      :data:`OFFSET_WARN_MAX_M` and the snap connectors point in a consistent direction
      (mean resultant length of their unit vectors at least :data:`OFFSET_WARN_CONSISTENCY`).

    Parameters
    ----------
    points
        The points that were snapped (network CRS).
    snapped
        The result of :func:`snap_points` for ``points``.
    what
        Name of the layer for the message.
    network
        The walking network the points were snapped to (enables the first test).

    Returns
    -------
    bool
        Whether the warning was issued.

    Warns
    -----
    UserWarning
        Naming the distances, the direction and the likely cause.
    """
    if len(snapped) < 3:
        return False
    xy = _representative_xy(points.geometry)
    msg = None
    if network is not None and len(snapped) >= OFFSET_FIT_MIN_POINTS:
        msg = _datum_fit_message(network, xy, snapped, what)
    if msg is None:
        msg = _consistent_shift_message(xy, snapped, what)
    if msg is None:
        return False
    warnings.warn(msg, UserWarning, stacklevel=2)
    logger.warning(msg)
    return True


def check_snap_offsets(
    points: gpd.GeoDataFrame, snapped: pd.DataFrame, *, what: str = "facilities",
    network: WalkNetwork | None = None, by: tuple[str, ...] = ("source_layer", "facility_type"),
) -> list[str]:
    """Run :func:`check_snap_offset` on the whole layer and on each of its groups.

    A small table of 高德 coordinates declared WGS-84 hides in a large correct layer when the
    layer is tested as one; so every source file (``source_layer``, the study layer a row
    came from) and every facility type is tested on its own as well.

    Parameters
    ----------
    points, snapped, what, network
        As in :func:`check_snap_offset`.
    by
        Columns of ``points`` to group by (those present are used, each on its own).

    Returns
    -------
    list of str
        The groups warned about (``"facilities"``, ``"facilities (canteens)"`` …).
    """
    warned = []
    if check_snap_offset(points, snapped, what=what, network=network):
        warned.append(what)
    for column in (c for c in by if c in points.columns):
        values = points[column].astype(str).to_numpy()
        groups = pd.unique(values)
        if len(groups) < 2:
            continue
        for value in groups:
            rows = np.flatnonzero(values == value)
            label = f"{what} ({column} = {value})"
            if check_snap_offset(points.iloc[rows], snapped.iloc[rows], what=label,
                                 network=network):
                warned.append(label)
    return warned


def _consistent_shift_message(xy: np.ndarray, snapped: pd.DataFrame, what: str) -> str | None:
    """Return the warning for long snap connectors all pointing one way, or ``None``."""
    dx = xy[:, 0] - snapped["x"].to_numpy()  # from network to point: the shift
    dy = xy[:, 1] - snapped["y"].to_numpy()
    dist = np.hypot(dx, dy)
    median_m = float(np.median(dist))
    ok = dist > 0
    if not OFFSET_WARN_MEDIAN_M <= median_m <= OFFSET_WARN_MAX_M or ok.sum() < 3:
        return None
    ux, uy = dx[ok] / dist[ok], dy[ok] / dist[ok]
    consistency = float(np.hypot(ux.mean(), uy.mean()))
    if consistency < OFFSET_WARN_CONSISTENCY:
        return None
    bearing = (np.degrees(np.arctan2(ux.mean(), uy.mean())) + 360.0) % 360.0
    return (
        f"{what} sit a median {median_m:.0f} m off the walking network, shifted consistently "
        f"towards bearing {bearing:.0f}° (consistency {consistency:.2f}). This looks like a "
        "systematic coordinate offset such as GCJ-02 (高德/腾讯) or BD-09 (百度) coordinates "
        "declared as WGS-84/CGCS2000; declare coords='gcj02' (or 'bd09') when reading them."
    )


@functools.lru_cache(maxsize=8)
def _lonlat_transformer(epsg: int) -> pyproj.Transformer:
    """Return the transformer metric CRS -> its own lon/lat, built once per CRS.

    The projection's own geographic CRS (CGCS2000 for EPSG:4534-4554, WGS 84 for UTM) is
    an exact, instant inverse projection; CGCS2000 and WGS 84 differ by less than a metre,
    far below the GCJ-02/BD-09 offsets this check looks for.
    """
    crs = CRS.from_epsg(epsg)
    return pyproj.Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)


def _datum_fit_message(
    network: WalkNetwork, xy: np.ndarray, snapped: pd.DataFrame, what: str
) -> str | None:
    """Return the warning when GCJ-02/BD-09 -> WGS-84 moves points onto streets, or ``None``."""
    from geoplan.crs import bd09_to_wgs84, gcj02_to_wgs84

    transformer = _lonlat_transformer(network.crs)
    lon, lat = transformer.transform(xy[:, 0], xy[:, 1])
    before = np.minimum(snapped["access_m"].to_numpy(), OFFSET_FIT_CAP_M)
    for label, convert in (("GCJ-02 (高德/腾讯)", gcj02_to_wgs84), ("BD-09 (百度)", bd09_to_wgs84)):
        wlon, wlat = convert(np.array(lon), np.array(lat))
        moved_xy = np.column_stack(transformer.transform(wlon, wlat, direction="INVERSE"))
        if np.allclose(moved_xy, xy, atol=1.0):  # outside mainland China: no offset
            return None
        after = np.minimum(_nearest_on_edges(network, moved_xy, keep=False)[3],
                           OFFSET_FIT_CAP_M)
        if (after.mean() <= OFFSET_FIT_RATIO * before.mean()
                and np.mean(after < before) >= OFFSET_FIT_SHARE):
            code = "gcj02" if label.startswith("GCJ") else "bd09"
            return (
                f"{what} look like {label} coordinates declared as WGS-84/CGCS2000: read as "
                f"{label} they sit a mean {after.mean():.0f} m from the walking network "
                f"instead of {before.mean():.0f} m, {np.mean(after < before):.0%} of them "
                f"closer. Declare coords='{code}' when reading them."
            )
    return None
