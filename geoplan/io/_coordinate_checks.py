"""Coordinates that cannot be in the system they are declared in, and the conversion noted.

Used by :func:`geoplan.io.read_layer`: metres declared as degrees (or degrees as metres) and
numbers a conversion turns into infinity are reported with their rows; the provenance says
how the numbers went from the declared system to the layer's CRS (unchanged, or one step).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from geoplan.crs.systems import CGCS2000_EPSG, same_crs
from geoplan.errors import Problem

_LONLAT_NAMES = ("wgs84", "cgcs2000", "gcj02", "bd09")


def numbers_problems(gdf: gpd.GeoDataFrame, declared: str, labels: list[str]) -> list[Problem]:
    """Return the rows whose coordinates cannot be in the CRS declared (degrees vs metres)."""
    if not len(gdf):
        return []
    arr = np.asarray(gdf.geometry.array, dtype=object)
    ok = np.flatnonzero(~(shapely.is_missing(arr) | shapely.is_empty(arr)))
    if not ok.size:
        return []
    crs = gdf.crs if gdf.crs is not None else (
        None if declared in _LONLAT_NAMES else CRS.from_user_input(declared))
    bounds = shapely.bounds(arr[ok])
    degrees = ((np.abs(bounds[:, [0, 2]]) <= 180).all(axis=1)
               & (np.abs(bounds[:, [1, 3]]) <= 90).all(axis=1))
    label = declared if gdf.crs is None else f"{declared} (file: {gdf.crs.name})"
    if crs is None or crs.is_geographic:
        return [Problem(f"coordinates are not degrees (x={bounds[i, 0]:.6g}, y={bounds[i, 1]:.6g})"
                        f" but the layer is {label} longitude/latitude: declare the projected "
                        "CRS the numbers are in, e.g. EPSG:4549", labels[ok[i]], "geometry")
                for i in np.flatnonzero(~degrees)]
    if degrees.all():
        return [Problem(f"every coordinate is within ±180/±90 (e.g. x={bounds[0, 0]:.6g}, "
                        f"y={bounds[0, 1]:.6g}): these look like degrees, but the layer is "
                        f"{label} in metres; declare wgs84, cgcs2000, gcj02 or bd09",
                        None, "geometry")]
    return []


def unconverted_problems(before: gpd.GeoDataFrame, after: gpd.GeoDataFrame, declared: str,
                          labels: list[str]) -> list[Problem]:
    """Return the rows whose coordinates became infinite or NaN in the conversion."""
    old = np.asarray(before.geometry.array, dtype=object)
    new = np.asarray(after.geometry.array, dtype=object)
    present = np.flatnonzero(~(shapely.is_missing(old) | shapely.is_empty(old)))
    bad = [i for i in present if not np.isfinite(shapely.get_coordinates(new[i])).all()]
    source = declared if before.crs is None else f"{declared} (file: {before.crs.name})"
    return [Problem(f"coordinates cannot be converted from {source}: they lie outside the area "
                    "of that CRS (a Gauss-Krüger easting with the zone prefix, e.g. 40 500 000 m, "
                    "needs EPSG:4513–4533; without it EPSG:4534–4554)", labels[i], "geometry")
            for i in bad]


def conversion_note(declared: str, source_crs: CRS | None, crs: CRS) -> str:
    """Say how a layer's numbers went from the declared system to ``crs`` (the provenance)."""
    target = crs_label(crs)
    if declared in ("gcj02", "bd09"):
        return f"{declared} → WGS 84 (offset removed, exact inverse) → {target} (PROJ)"
    lonlat = declared in ("wgs84", "cgcs2000") and (source_crs is None
                                                    or source_crs.is_geographic)
    source = CRS.from_epsg(CGCS2000_EPSG) if lonlat else (source_crs or CRS(declared))
    if same_crs(source, crs):
        return f"{declared} → {target} (unchanged: the numbers as read)"
    return f"{declared} → {target} (PROJ, one step)"


def crs_label(crs: CRS) -> str:
    code = crs.to_epsg(min_confidence=70)
    return f"EPSG:{code}" if code else crs.name
