"""Boundary markers (界桩) read from vector layers, and the rows kept despite bad positions.

Owns what :func:`geoplan.io.read_layer` does for a marker point layer. The register's own
numbers win: registered (``x_reg``/``y_reg``, 登记坐标) and surveyed (``x_obs``/``y_obs``,
实测坐标) attribute columns are read as they are and converted once, straight to the
target CRS; the file's point geometry is kept beside them as ``x_geom``/``y_geom`` (the
boundary checks compare it with the register, a disagreement being a finding). A layer
without registered columns takes its registered position from its geometry. A marker
whose position is implausible or cannot be converted loses that position (noted in
``read_problems``) but keeps its row, so the boundary checks report it. Marker tables
(Excel, CSV) get the same leniency in :func:`geoplan.io._tables.keep_marker_rows`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from geoplan.crs.systems import from_declared
from geoplan.errors import Problem
from geoplan.io import _tables
from geoplan.io._headers import XY_FAMILIES


def _vector_markers(gdf: gpd.GeoDataFrame, declared: str, crs: Any, *,
                    axes: Mapping[str, str | None], x_axis: str | None, labels: list[str],
                    what: str) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """Markers from a point layer: register columns converted to ``crs``, the point kept.

    The geometry itself stays in the declared system (``read_layer`` converts it); the
    returned columns ``x_reg``/``y_reg`` (from the columns, else from the geometry),
    ``x_obs``/``y_obs`` (when present) and ``x_geom``/``y_geom`` (when the registered
    position comes from columns) are in ``crs``.
    """
    gdf = gdf.copy()
    source = gdf.crs
    projected = None if source is None else CRS.from_user_input(source).is_projected
    problems: list[Problem] = []
    found = set()
    for family in ("reg", "obs"):
        got = _tables._xy_family(gdf, family, axes, declared, x_axis, labels, what,
                                 projected=projected)
        if got is None:
            continue
        east, north, parsed = got
        xname, yname = XY_FAMILIES[family]
        x, y, _, lost = _tables.convert_xy(east, north, declared, crs, labels, xname,
                                           source_crs=source)
        problems += parsed + lost
        gdf[xname], gdf[yname] = x, y
        found.add(family)
    arr = np.asarray(gdf.geometry.array, dtype=object)
    missing = shapely.is_missing(arr) | shapely.is_empty(arr)
    points = gpd.GeoSeries(np.where(missing, shapely.Point(), arr), index=gdf.index, crs=source)
    at = _tables.xy_or_nan(from_declared(points, declared, crs))
    target = ("x_geom", "y_geom") if "reg" in found else ("x_reg", "y_reg")
    gdf[target[0]], gdf[target[1]] = at
    return gdf, problems


def _keep_marker_rows(gdf: gpd.GeoDataFrame, problems: list[Problem],
                      labels: list[str]) -> list[Problem]:
    """Markers whose position is implausible or unconvertible: drop it, note it, keep the row.

    Works on the converted layer in place: the file geometry of such rows is dropped (as
    ``x_reg``/``y_reg`` when the registered position came from it, else as ``x_geom``/
    ``y_geom``); the geometry becomes the registered position, else the surveyed one, else
    the file's own point (or empty); see :func:`geoplan.io._tables.keep_marker_rows`.
    """
    where = {label: k for k, label in enumerate(labels)}
    bad = np.zeros(len(gdf), dtype=bool)
    for p in problems:
        if p.column == "geometry" and p.row in where:
            bad[where[p.row]] = True
    own = ("x_geom", "y_geom") if "x_geom" in gdf.columns else ("x_reg", "y_reg")
    for col in own:
        values = gdf[col].to_numpy(dtype=float).copy()
        values[bad] = np.nan
        gdf[col] = values
    nan = np.full(len(gdf), np.nan)

    def pair(xc: str, yc: str) -> tuple[np.ndarray, np.ndarray]:
        if xc not in gdf.columns:
            return nan, nan
        x, y = gdf[xc].to_numpy(dtype=float), gdf[yc].to_numpy(dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        return np.where(ok, x, np.nan), np.where(ok, y, np.nan)

    geom = _tables.points(*pair("x_geom", "y_geom"))
    for xc, yc in (("x_obs", "y_obs"), ("x_reg", "y_reg")):  # the registered position wins
        x, y = pair(xc, yc)
        ok = np.isfinite(x) & np.isfinite(y)
        geom = np.where(ok, _tables.points(x, y), geom)
    gdf[gdf.geometry.name] = gpd.GeoSeries(geom, index=gdf.index, crs=gdf.crs)
    gdf["coords_missing"] = shapely.is_empty(geom)
    renamed = [Problem(p.message, p.row, own[0]) if p.column == "geometry" and p.row in where
               else p for p in problems]
    return _tables.keep_marker_rows(gdf, renamed, labels, ~gdf["coords_missing"].to_numpy())
