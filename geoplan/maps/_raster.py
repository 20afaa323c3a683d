"""Rasterise many small polygons (population cells) into a PNG for a Leaflet image overlay."""

from __future__ import annotations

import base64
import io
import logging
import math

import geopandas as gpd
import numpy as np
import shapely
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.colors import to_rgba_array
from matplotlib.figure import Figure
from matplotlib.path import Path as MplPath
from pyproj import Transformer
from shapely.geometry.polygon import orient

logger = logging.getLogger(__name__)

_TO_LONLAT = Transformer.from_crs(3857, 4326, always_xy=True)


def _holed_path(polygon: shapely.Polygon) -> MplPath:
    """Return one matplotlib path of a polygon and its holes."""
    polygon = orient(polygon)  # holes wound against the outline: empty under any fill rule
    rings = [polygon.exterior, *polygon.interiors]
    return MplPath.make_compound_path(*(MplPath(np.asarray(r.coords), closed=True) for r in rings))


def cells_png_overlay(
    cells_lonlat: gpd.GeoDataFrame,
    colors: list[str],
    *,
    px_per_cell: float = 3.0,
    max_px: int = 4096,
) -> tuple[str, list[list[float]]]:
    """Draw polygons filled with ``colors`` into a transparent PNG aligned with Web Mercator.

    Leaflet stretches an image overlay linearly between its corners in the map's Web
    Mercator plane, so the cells are drawn in EPSG:3857: the picture is then exact, not
    an approximation of the cell outlines.

    Parameters
    ----------
    cells_lonlat
        Polygon cells in EPSG:4326 (already shifted when the display needs GCJ-02).
    colors
        One CSS colour per cell (``"#rrggbb"``; ``"transparent"`` leaves a cell out).
    px_per_cell
        Target image pixels along the side of a typical cell.
    max_px
        Upper limit on the image width and height in pixels.

    Returns
    -------
    tuple of (str, list)
        The PNG as a ``data:image/png;base64,…`` URI, and the overlay bounds
        ``[[south, west], [north, east]]`` in degrees.
    """
    merc = cells_lonlat.geometry.to_crs(3857)
    parts = shapely.get_parts(merc.values)
    part_owner = np.repeat(np.arange(len(merc)), shapely.get_num_geometries(merc.values))
    holed = shapely.get_num_interior_rings(parts) > 0
    rings = shapely.get_exterior_ring(parts[~holed])
    coords, ring_index = shapely.get_coordinates(rings, return_index=True)
    splits = np.flatnonzero(np.diff(ring_index)) + 1
    verts = np.split(coords, splits) if len(coords) else []

    minx, miny, maxx, maxy = merc.total_bounds
    cell_m = float(np.median(np.sqrt(shapely.area(parts)))) or 1.0
    width_px = min(max_px, max(1, math.ceil((maxx - minx) / cell_m * px_per_cell)))
    height_px = min(max_px, max(1, math.ceil((maxy - miny) / cell_m * px_per_cell)))
    scale = min(width_px / max(maxx - minx, 1e-9), height_px / max(maxy - miny, 1e-9))
    width_px = max(1, round((maxx - minx) * scale))
    height_px = max(1, round((maxy - miny) * scale))

    rgba = to_rgba_array(np.asarray(colors, dtype=object)[part_owner])
    style = {"linewidths": 0.3, "antialiased": False}
    fig = Figure(figsize=(width_px / 100, height_px / 100), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.add_collection(PolyCollection(verts, facecolors=rgba[~holed], edgecolors=rgba[~holed],
                                     **style))
    if holed.any():  # polygons with holes (an enclave inside a unit): holes stay see-through
        ax.add_collection(PathCollection([_holed_path(g) for g in parts[holed]],
                                         facecolors=rgba[holed], edgecolors=rgba[holed], **style))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, transparent=True)
    png = buffer.getvalue()
    logger.info(
        "rasterised %d cells into a %dx%d PNG (%.0f kB)", len(merc), width_px, height_px,
        len(png) / 1e3,
    )
    west, south = _TO_LONLAT.transform(minx, miny)
    east, north = _TO_LONLAT.transform(maxx, maxy)
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return uri, [[float(south), float(west)], [float(north), float(east)]]
