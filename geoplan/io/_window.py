"""A reading window: the bbox or polygon a caller wants a layer read within, in any CRS.

Shared by the file readers (:mod:`geoplan.io.layers`, a bbox handed to pyogrio) and the
PostGIS reader (:mod:`geoplan.io.postgis`, a constant geometry in the column's SRID), so a
window means the same whatever the source: a feature is kept when it intersects the window,
tested in the numbers the source stores (the window's edges densified before they are
transformed, GCJ-02/BD-09 offsets applied for such layers).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer

from geoplan.crs import BD09, CGCS2000, GCJ02, WGS84, wgs84_to_bd09, wgs84_to_gcj02
from geoplan.errors import CRSError, Problem, SchemaError

#: Window edges are cut into pieces of at most this share of the window's size before they
#: are transformed, so the curved image of a straight edge is followed closely.
WINDOW_DENSIFY = 1 / 256

Window = shapely.Geometry | gpd.GeoSeries | gpd.GeoDataFrame | tuple[float, float, float, float]


def window_geometry(window: Window, window_crs: str | int | None) -> tuple[Any, CRS]:
    """Return the window as one shapely geometry and its CRS.

    Parameters
    ----------
    window
        A shapely geometry, a GeoSeries/GeoDataFrame (its own CRS; several shapes are merged)
        or a bbox ``(xmin, ymin, xmax, ymax)``.
    window_crs
        CRS of a bare geometry or bbox (default EPSG:4490).

    Raises
    ------
    CRSError
        If a GeoSeries/GeoDataFrame has no CRS, or ``window_crs`` contradicts it.
    SchemaError
        If the window is none of these, a malformed bbox, empty or invalid.
    """
    if isinstance(window, gpd.GeoDataFrame | gpd.GeoSeries):
        if window.crs is None:
            raise CRSError("the window has no CRS; set one (e.g. the study's EPSG:4549)")
        if window_crs is not None and not CRS.from_user_input(window_crs).equals(window.crs):
            raise CRSError(f"window_crs={window_crs!r} contradicts the window's own CRS")
        geom, crs = shapely.union_all(window.geometry.to_numpy()), CRS.from_user_input(window.crs)
    else:
        crs = CRS.from_user_input(window_crs if window_crs is not None else 4490)
        if isinstance(window, tuple | list) and len(window) == 4:
            xmin, ymin, xmax, ymax = (float(v) for v in window)
            if not (xmin <= xmax and ymin <= ymax):
                raise SchemaError("window", [Problem(f"bbox {tuple(window)} is not "
                                                     "(xmin, ymin, xmax, ymax)")])
            geom = shapely.box(xmin, ymin, xmax, ymax)
        elif isinstance(window, shapely.Geometry):
            geom = window
        else:
            raise SchemaError("window", [Problem("give a shapely geometry, a GeoSeries/"
                                                 "GeoDataFrame or a bbox (xmin, ymin, xmax, "
                                                 "ymax)")])
    if geom is None or shapely.is_empty(geom) or not shapely.is_valid(geom):
        raise SchemaError("window", [Problem("the window is empty or not a valid geometry")])
    return geom, crs


def storage_crs(declared: str, stored: CRS | None) -> CRS:
    """Return the CRS whose numbers a source holds (lon/lat for GCJ-02/BD-09 layers)."""
    if declared in (GCJ02, BD09):
        return CRS.from_epsg(4326)
    if stored is not None:
        return stored
    if declared == WGS84:
        return CRS.from_epsg(4326)
    if declared == CGCS2000:
        return CRS.from_epsg(4490)
    return CRS.from_user_input(declared)


def window_in(window: Window, window_crs: str | int | None, declared: str | None,
              target: CRS) -> Any:
    """Return the window in ``target``'s numbers (densified, transformed; offset if declared so).

    ``declared`` is the layer's declared system when ``target`` is what the layer stores
    (GCJ-02/BD-09 numbers get the offset), ``None`` when ``target`` is a true CRS.
    """
    geom, crs = window_geometry(window, window_crs)
    x0, y0, x1, y1 = shapely.bounds(geom)
    size = max(x1 - x0, y1 - y0)
    if size > 0:
        geom = shapely.segmentize(geom, size * WINDOW_DENSIFY)
    if not crs.equals(target):
        transformer = Transformer.from_crs(crs, target, always_xy=True)
        geom = shapely.transform(geom, lambda xy: np.column_stack(
            transformer.transform(xy[:, 0], xy[:, 1])))
    if declared in (GCJ02, BD09):  # true lon/lat -> the offset numbers stored
        forward = wgs84_to_gcj02 if declared == GCJ02 else wgs84_to_bd09
        geom = shapely.transform(geom, lambda xy: np.column_stack(forward(xy[:, 0], xy[:, 1])))
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        raise CRSError("the window cannot be transformed to the layer's coordinates "
                       f"({target.name}); is its CRS right?")
    return shapely.make_valid(geom)


def keep_in_window(gdf: gpd.GeoDataFrame, window: Window | None,
                   window_crs: str | int | None) -> gpd.GeoDataFrame:
    """Return the rows of a layer (in a true CRS) whose geometry intersects the window."""
    if window is None:
        return gdf
    if gdf.crs is None:
        raise CRSError("the layer has no CRS; a window cannot be applied")
    geom = window_in(window, window_crs, None, CRS.from_user_input(gdf.crs))
    out = gdf[gdf.geometry.intersects(geom).to_numpy()]
    out.attrs = gdf.attrs
    return out
