"""Boundary markers (界桩) read from vector layers, and the rows kept despite bad positions.

Owns what :func:`geoplan.io.read_layer` does for a marker point layer: the registered x/y
come from the geometry and the surveyed ``x_obs``/``y_obs`` are converted along with it;
a marker whose position is implausible or cannot be converted loses that position (noted
in ``read_problems``) but keeps its row, so the boundary checks report it. Marker tables
(Excel, CSV) get the same leniency in :func:`geoplan.io._tables.keep_marker_rows`.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoplan.crs import to_cgcs2000
from geoplan.errors import Problem
from geoplan.io import _tables


def _vector_markers(gdf: gpd.GeoDataFrame, declared: str) -> gpd.GeoDataFrame:
    """Markers from a point layer: registered x/y from the geometry, observed x/y converted."""
    gdf = gdf.copy()
    arr = np.asarray(gdf.geometry.array, dtype=object)
    missing = shapely.is_missing(arr) | shapely.is_empty(arr)
    has_obs = np.zeros(len(gdf), dtype=bool)
    if "x_obs" in gdf.columns and "y_obs" in gdf.columns:
        xo = pd.to_numeric(gdf["x_obs"], errors="coerce").to_numpy(dtype=float)
        yo = pd.to_numeric(gdf["y_obs"], errors="coerce").to_numpy(dtype=float)
        obs = gpd.GeoSeries(_tables.points(xo, yo), index=gdf.index, crs=gdf.crs)
        gdf["x_obs"], gdf["y_obs"] = _tables.xy_or_nan(to_cgcs2000(obs, declared))
        has_obs = np.isfinite(xo) & np.isfinite(yo)
    gdf["coords_missing"] = missing & ~has_obs
    reg = to_cgcs2000(gpd.GeoSeries(np.where(missing, shapely.Point(), arr), index=gdf.index,
                                    crs=gdf.crs), declared)
    gdf["x_reg"], gdf["y_reg"] = _tables.xy_or_nan(reg)
    return gdf


def _keep_marker_rows(gdf: gpd.GeoDataFrame, problems: list[Problem],
                      labels: list[str]) -> list[Problem]:
    """Markers whose position is implausible or unconvertible: drop it, note it, keep the row.

    Works on the converted layer in place: the registered x/y of such rows become NaN, the
    geometry falls back to the surveyed position (or empty), and surveyed x/y that did not
    convert become NaN too; see :func:`geoplan.io._tables.keep_marker_rows`.
    """
    where = {label: k for k, label in enumerate(labels)}
    bad = np.zeros(len(gdf), dtype=bool)
    for p in problems:
        if p.column == "geometry" and p.row in where:
            bad[where[p.row]] = True
    x_obs = gdf["x_obs"].to_numpy(dtype=float) if "x_obs" in gdf.columns else None
    if x_obs is not None:
        y_obs = gdf["y_obs"].to_numpy(dtype=float)
        lost = np.isinf(x_obs) | np.isinf(y_obs)
        problems = problems + [Problem("surveyed coordinates cannot be converted", labels[i],
                                       "x_obs") for i in np.flatnonzero(lost)]
        gdf.loc[lost, ["x_obs", "y_obs"]] = np.nan
    x_reg = gdf["x_reg"].to_numpy(dtype=float).copy()
    y_reg = gdf["y_reg"].to_numpy(dtype=float).copy()
    x_reg[bad], y_reg[bad] = np.nan, np.nan
    reg = np.isfinite(x_reg) & np.isfinite(y_reg)
    xo = x_obs if x_obs is not None else np.full(len(gdf), np.nan)
    yo = gdf["y_obs"].to_numpy(dtype=float) if x_obs is not None else xo
    geom = np.where(reg, _tables.points(x_reg, y_reg), _tables.points(xo, yo))
    gdf["x_reg"], gdf["y_reg"] = x_reg, y_reg
    gdf[gdf.geometry.name] = gpd.GeoSeries(geom, index=gdf.index, crs=gdf.crs)
    gdf["coords_missing"] = shapely.is_empty(geom)
    renamed = [Problem(p.message, p.row, "x_reg") if p.column == "geometry" and p.row in where
               else p for p in problems]
    return _tables.keep_marker_rows(gdf, renamed, labels, ~gdf["coords_missing"].to_numpy())


