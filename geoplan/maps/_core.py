"""Core of geoplan's folium maps: base map, display CRS, generic layers, legends, HTML output."""

from __future__ import annotations

import datetime as dt
import html
import itertools
import json
import logging
import os
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element
from jinja2.utils import htmlsafe_json_dumps
from scipy.spatial import cKDTree

from geoplan._text import safe_text
from geoplan.crs import to_gcj02_display
from geoplan.errors import CRSError, OutputError, require_columns
from geoplan.io.atomic import write_text_atomically
from geoplan.maps._assets import inline_assets
from geoplan.maps._basemaps import add_basemap, add_page_css, add_title
from geoplan.maps._legend import add_legend
from geoplan.maps._raster import cells_png_overlay

logger = logging.getLogger(__name__)

#: Class limits of a share in [0, 1] and their colours (red = poorly covered, green = well).
SHARE_BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
SHARE_COLORS = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")
#: Number of features above which a cell layer is drawn as one PNG image instead of vectors.
MAX_VECTOR_FEATURES = 5000
#: Decimal places kept in displayed coordinates (1e-6 degree ≈ 0.1 m).
COORD_DECIMALS = 6

Style = Mapping[str, Any] | Callable[[pd.Series], Mapping[str, Any]]


# ---------------------------------------------------------------- the map itself


def _uses_awesome_markers(element: Element) -> bool:
    """Whether ``element`` or anything in it is a folium ``Icon`` (Leaflet.awesome-markers)."""
    return isinstance(element, folium.Icon) or any(
        _uses_awesome_markers(child) for child in element._children.values())


class OfflineMap(folium.Map):
    """A folium map that also displays in Jupyter with every asset inlined (no CDN).

    Its page carries only Leaflet: jQuery, Bootstrap, Font Awesome and awesome-markers
    (about 1.8 MB once inlined) are added only when a folium ``Icon`` is on the map.
    """

    default_js: ClassVar = [item for item in folium.Map.default_js if item[0] == "leaflet"]
    default_css: ClassVar = [item for item in folium.Map.default_css
                             if item[0] == "leaflet_css"]

    def render(self, **kwargs: Any) -> None:
        if _uses_awesome_markers(self):
            self.default_js, self.default_css = folium.Map.default_js, folium.Map.default_css
        super().render(**kwargs)

    def _repr_html_(self, **kwargs: Any) -> str:
        try:
            page = map_to_html(self)
        except OutputError as exc:  # a plugin geoplan does not vendor: folium's own display
            logger.warning("map shown with assets from the web: %s", exc)
            return super()._repr_html_(**kwargs)
        return (
            '<div style="width:100%;"><div style="position:relative;width:100%;height:0;'
            'padding-bottom:60%;"><iframe class="geoplan-map" srcdoc="'
            + html.escape(page, quote=True)
            + '" style="position:absolute;width:100%;height:100%;left:0;top:0;border:none;" '
            "allowfullscreen></iframe></div></div>"
        )


def base_map(
    extent: gpd.GeoDataFrame,
    *,
    basemap: str = "none",
    tianditu_tk: str | None = None,
    title: str | None = None,
) -> folium.Map:
    """Return an empty map fitted to ``extent``, with the chosen basemap.

    Parameters
    ----------
    extent
        Any layer of the study (e.g. the towns); the map opens on its bounds.
    basemap
        ``"none"`` (default: no tiles, works offline), ``"osm"`` (OpenStreetMap),
        ``"tianditu"`` (天地图 vector + labels; no offset) or ``"gaode"`` (高德 tiles, which
        are in GCJ-02: every overlay added by geoplan is then shifted into GCJ-02 for
        display, and the map says so). OSM and 高德 maps carry the note
        "内部工作底图，未经审核不得公开" (they are not reviewed maps).
    tianditu_tk
        天地图 key; defaults to the environment variable ``GEOPLAN_TIANDITU_TK``.
    title
        Optional title shown at the top left.

    Returns
    -------
    folium.Map
        An :class:`OfflineMap`: shown in Jupyter, it carries Leaflet and every other asset
        inline, so it renders on an offline PC too.

    Raises
    ------
    OutputError
        Unknown basemap, 天地图 without a key, or an ``extent`` without any geometry.
    CRSError
        ``extent`` has no CRS.
    """
    m = OfflineMap(tiles=None, control_scale=True, prefer_canvas=False)
    m.geoplan_display = "gcj02" if basemap == "gaode" else "wgs84"
    add_page_css(m)
    add_basemap(m, basemap, tianditu_tk=tianditu_tk)
    west, south, east, north = display_layer(m, extent).total_bounds
    if not np.isfinite([west, south, east, north]).all():
        msg = "base_map: the extent layer has no geometry to open the map on"
        raise OutputError(msg)
    m.fit_bounds([[float(south), float(west)], [float(north), float(east)]])
    if title:
        add_title(m, title)
    return m


def display_layer(m: folium.Map, gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` in the map's display coordinates (EPSG:4326, or GCJ-02).

    Raises
    ------
    CRSError
        If ``gdf`` has no CRS.
    """
    if gdf.crs is None:
        msg = "a layer to map has no CRS; declare it when reading (geoplan.io.read_layer)"
        raise CRSError(msg)
    shown = gdf.to_crs(4326)
    if getattr(m, "geoplan_display", "wgs84") == "gcj02":
        shown = to_gcj02_display(shown)
    return shown


def add_layer_control(m: folium.Map, *, collapsed: bool = False) -> folium.LayerControl:
    """Add the layer switcher (call once, after the last layer)."""
    return folium.LayerControl(collapsed=collapsed).add_to(m)


# ---------------------------------------------------------------- generic layers


def _row_list(index: pd.Index, limit: int = 5) -> str:
    shown = ", ".join(map(str, index[:limit]))
    return shown + (f" … ({len(index)} rows)" if len(index) > limit else "")


def numeric_column(table: pd.DataFrame, column: str, what: str) -> pd.Series:
    """Return ``table[column]`` as floats (missing stays NaN); text that is no number is an error.

    Raises
    ------
    OutputError
        If the column is missing or holds values that are not numbers, naming the rows.
    """
    require_columns(table, [column], what, error=OutputError)
    raw = table[column]
    values = pd.to_numeric(raw.astype(object).where(raw.notna(), None), errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        examples = sorted({str(v) for v in raw[bad].iloc[:5]})
        msg = (f"{what}: column {column!r} must hold numbers; rows {_row_list(raw.index[bad])} "
               f"hold {examples}")
        raise OutputError(msg)
    return values.astype(float)


def boolean_column(table: pd.DataFrame, column: str, what: str) -> pd.Series:
    """Return ``table[column]`` as booleans; only True/False (or 1/0) are accepted.

    Raises
    ------
    OutputError
        If the column is missing, or holds missing values or anything else than
        True/False/1/0 (text such as ``"False"`` would otherwise count as True), naming rows.
    """
    require_columns(table, [column], what, error=OutputError)
    raw = table[column]
    if pd.api.types.is_bool_dtype(raw) and not raw.isna().any():
        return raw.astype(bool)
    ok = raw.map(lambda v: isinstance(v, bool | np.bool_)
                 or (isinstance(v, int | float | np.integer | np.floating) and v in (0, 1)))
    if not ok.all():
        examples = sorted({str(v) for v in raw[~ok].iloc[:5]})
        msg = (f"{what}: column {column!r} must be True/False; rows {_row_list(raw.index[~ok])} "
               f"hold {examples}")
        raise OutputError(msg)
    return raw.astype(bool)


def _style_records(gdf: gpd.GeoDataFrame, style: Style) -> list[dict[str, Any]]:
    if callable(style):
        return [dict(style(row)) for _, row in gdf.iterrows()]
    return [dict(style)] * len(gdf)


def _json_value(value: Any) -> Any:
    """Return a popup/tooltip value as JSON: numbers as numbers, everything else as escaped text.

    Leaflet and folium put these values into the page with ``innerHTML``, so text is
    HTML-escaped here: a name such as ``A<B & "C"`` is shown as written, never parsed.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not np.isfinite(value):
        return None if np.isnan(value) else str(value)
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, pd.Timestamp | dt.date):
        value = value.isoformat()
    return html.escape(safe_text(str(value)))


def css_layer_id(layer_id: str) -> str:
    """Return ``layer_id`` usable as one CSS class name (ASCII letters, digits, ``-``, ``_``).

    Other characters (spaces, Chinese, ``<&"``) become ``_`` and a short checksum of the
    original is appended, so different ids stay different.
    """
    safe = re.sub(r"[^0-9A-Za-z_-]", "_", layer_id)
    if safe == layer_id and safe:
        return safe
    return f"{safe}-{zlib.crc32(layer_id.encode()):08x}"


def _feature_collection(
    shown: gpd.GeoDataFrame, fields: Sequence[str], styles: list[dict[str, Any]]
) -> dict[str, Any]:
    geoms = shapely.set_precision(shown.geometry.values, 10.0**-COORD_DECIMALS, mode="pointwise")
    features = []
    for i, (geom, style) in enumerate(zip(geoms, styles, strict=True)):
        props = {f: _json_value(shown[f].iat[i]) for f in fields}
        props["style"] = style
        features.append(
            {"type": "Feature", "id": str(i), "properties": props,
             "geometry": json.loads(shapely.to_geojson(geom))}
        )
    return {"type": "FeatureCollection", "features": features}


def _flat_collection(geom: shapely.Geometry) -> shapely.Geometry:
    """Return the parts of highest dimension of a GeometryCollection as one Multi* geometry."""
    parts = [p for p in shapely.get_parts(geom) if not p.is_empty]
    top = max((shapely.get_dimensions(p) for p in parts), default=0)
    kept = shapely.get_parts(shapely.union_all([p for p in parts
                                                if shapely.get_dimensions(p) == top]))
    kind = {0: shapely.MultiPoint, 1: shapely.MultiLineString, 2: shapely.MultiPolygon}[top]
    return kind(list(kept)) if len(kept) > 1 else kept[0]


def _drawable(gdf: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
    """Drop rows without a geometry (they cannot be drawn), saying how many.

    GeometryCollections (e.g. from an overlay) become their parts of highest dimension
    (polygons, else lines, else points): Leaflet cannot bind a popup to a collection.
    """
    missing = gdf.geometry.isna() | gdf.geometry.is_empty
    if missing.any():
        logger.info("map layer %s: %d rows without geometry not drawn", name, int(missing.sum()))
        gdf = gdf[~missing]
    collections = (gdf.geom_type == "GeometryCollection").to_numpy()
    if collections.any():
        gdf = gdf.copy()
        geoms = gdf.geometry.to_numpy().copy()
        geoms[collections] = [_flat_collection(g) for g in geoms[collections]]
        gdf[gdf.geometry.name] = gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs)
    return gdf


def _cells_as_squares(cells: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Turn point cells (cell centres) into squares as wide as the typical point spacing."""
    if len(cells) == 0 or not (cells.geom_type == "Point").all():
        return cells
    if not cells.crs.is_projected:
        msg = "point cells need a metric CRS to be drawn as squares (geoplan.crs.to_metric)"
        raise CRSError(msg)
    xy = shapely.get_coordinates(cells.geometry.values)
    if len(xy) < 2:
        size_m = 100.0
    else:
        distances, _ = cKDTree(xy).query(xy, k=2)
        size_m = float(np.median(distances[:, 1])) or 100.0
    out = cells.copy()
    out.geometry = shapely.box(xy[:, 0] - size_m / 2, xy[:, 1] - size_m / 2,
                               xy[:, 0] + size_m / 2, xy[:, 1] + size_m / 2)
    return out


def _simplified(gdf: gpd.GeoDataFrame, tolerance_m: float) -> gpd.GeoDataFrame:
    if tolerance_m <= 0:
        return gdf
    if not gdf.crs.is_projected:
        msg = "simplify_tolerance_m needs a layer in a metric CRS (geoplan.crs.to_metric)"
        raise CRSError(msg)
    out = gdf.copy()
    out.geometry = out.geometry.simplify(tolerance_m, preserve_topology=True)
    return out


def add_layer(
    m: folium.Map,
    gdf: gpd.GeoDataFrame,
    *,
    name: str,
    layer_id: str,
    style: Style,
    popup_fields: Mapping[str, str] | None = None,
    tooltip_field: str | None = None,
    point_radius_px: float = 6.0,
    simplify_tolerance_m: float = 0.0,
    show: bool = True,
) -> folium.GeoJson:
    """Add ``gdf`` as one vector layer (points drawn as circle markers).

    Parameters
    ----------
    m
        The map.
    gdf
        Any geometries; columns named in ``popup_fields``/``tooltip_field`` must exist.
    name
        Layer name in the layer control (Chinese).
    layer_id
        Short ASCII id; the SVG paths get the CSS class ``geoplan-<layer_id>`` (other
        characters are replaced, see :func:`css_layer_id`).
    style
        Leaflet path options (``color``, ``fillColor``, ``weight``, ``fillOpacity``,
        ``dashArray``, ``radius`` …), as one dict or a function of a row returning one.
    popup_fields
        ``{column: Chinese label}`` shown in the click popup, in order.
    tooltip_field
        Column shown on hover.
    point_radius_px
        Default radius of point markers in screen pixels.
    simplify_tolerance_m
        Simplify lines/polygons by this many metres before display (metric CRS only).
    show
        Whether the layer is switched on when the map opens.

    Returns
    -------
    folium.GeoJson
        The layer (already added to ``m``).

    Raises
    ------
    CRSError
        No CRS, or simplification asked for a layer in degrees.
    OutputError
        A column named in ``popup_fields`` or ``tooltip_field`` is missing.
    """
    gdf = _drawable(gdf, name)
    shown = display_layer(m, _simplified(gdf, simplify_tolerance_m))
    fields = list(popup_fields or {})
    if tooltip_field and tooltip_field not in fields:
        fields.append(tooltip_field)
    missing = [f for f in fields if f not in shown.columns]
    if missing:
        msg = f"map layer {name!r}: columns {missing} for the popup/tooltip are missing"
        raise OutputError(msg)
    data = _feature_collection(shown, fields, _style_records(gdf, style))
    layer_id = css_layer_id(layer_id)
    css_class = f"geoplan-{layer_id}"
    marker = folium.CircleMarker(radius=point_radius_px, class_name=css_class, fill=True)
    has_features = len(gdf) > 0  # folium refuses popups on a layer without features
    layer = folium.GeoJson(
        data, name=html.escape(name), show=show, marker=marker, className=css_class,
        tooltip=(folium.GeoJsonTooltip([tooltip_field], labels=False)
                 if tooltip_field and has_features else None),
        popup=(
            folium.GeoJsonPopup(list(popup_fields),
                                aliases=[html.escape(a) for a in popup_fields.values()],
                                localize=False)
            if popup_fields and has_features else None
        ),
    )
    layer.geoplan_layer_id = layer_id
    layer.geoplan_feature_count = len(gdf)  # rows drawn
    layer.add_to(m)
    logger.info("map layer %s (%s): %d features", layer_id, name, len(gdf))
    return layer


def binned_colors(
    values: pd.Series, bins: Sequence[float], colors: Sequence[str], *, missing: str = "#bdbdbd"
) -> list[str]:
    """Return one colour per value: ``colors[i]`` for ``bins[i] <= v < bins[i+1]``.

    The last class includes its upper limit and values beyond the limits take the first or
    last colour; missing values get ``missing``.

    Raises
    ------
    OutputError
        If ``len(colors) != len(bins) - 1``.
    """
    if len(colors) != len(bins) - 1:
        msg = f"{len(bins)} class limits need {len(bins) - 1} colours, got {len(colors)}"
        raise OutputError(msg)
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    index = np.clip(np.searchsorted(np.asarray(bins[1:-1]), numbers, side="right"), 0,
                    len(colors) - 1)
    return [missing if np.isnan(v) else colors[i] for v, i in zip(numbers, index, strict=True)]


def bin_labels(bins: Sequence[float], *, percent: bool = False, unit: str = "") -> list[str]:
    """Return legend labels ``"a–b"`` for class limits (``percent``: shares shown as %)."""

    def fmt(v: float) -> str:
        return f"{v:.0%}" if percent else f"{v:,.0f}{unit}"

    return [f"{fmt(lo)}–{fmt(hi)}" for lo, hi in itertools.pairwise(bins)]


def add_value_cells(
    m: folium.Map,
    cells: gpd.GeoDataFrame,
    *,
    value_col: str,
    name: str,
    layer_id: str,
    bins: Sequence[float],
    colors: Sequence[str],
    legend_title: str | None = None,
    legend_labels: Sequence[str] | None = None,
    popup_fields: Mapping[str, str] | None = None,
    max_vector_features: int = MAX_VECTOR_FEATURES,
    simplify_tolerance_m: float = 0.0,
    show: bool = True,
) -> folium.GeoJson | folium.raster_layers.ImageOverlay:
    """Add polygon cells coloured by ``value_col`` in classes; large layers become a PNG.

    The legend (``legend_title``) is a section of the map's legend panel, shown while the
    layer is on; ``simplify_tolerance_m`` simplifies drawn polygons (metres, see
    :func:`add_layer`).

    Point cells (cell centres, e.g. a population raster read as points) are drawn as squares
    as wide as the median distance between neighbouring points.

    Up to ``max_vector_features`` cells are drawn as vectors with popups; above that the
    cells are rasterised in Web Mercator into one PNG image overlay (inlined as a data URI,
    CSS class ``geoplan-<layer_id>``), so a 100,000-cell grid opens and pans smoothly.

    Returns
    -------
    folium.GeoJson or folium.raster_layers.ImageOverlay

    Raises
    ------
    KeyError
        If ``value_col`` is missing.
    OutputError
        If the colours do not match the class limits.
    """
    cells = _cells_as_squares(_drawable(cells, name))
    colors_per_cell = binned_colors(cells[value_col], bins, colors)

    def legend(layer: folium.Layer) -> None:
        if legend_title:
            labels = legend_labels or bin_labels(bins)
            add_legend(m, legend_title, list(zip(colors, labels, strict=True)), layers=layer)

    if len(cells) <= max_vector_features:
        styled = cells.assign(_fill=colors_per_cell)
        layer = add_layer(
            m, styled, name=name, layer_id=layer_id, popup_fields=popup_fields, show=show,
            simplify_tolerance_m=simplify_tolerance_m,
            style=lambda row: {"color": row["_fill"], "weight": 0.5, "fillColor": row["_fill"],
                               "fillOpacity": 0.7},
        )
        legend(layer)
        return layer
    shown = display_layer(m, cells)
    uri, bounds = cells_png_overlay(shown, colors_per_cell)
    layer_id = css_layer_id(layer_id)
    overlay = folium.raster_layers.ImageOverlay(
        uri, bounds=bounds, name=html.escape(name), opacity=0.75, show=show,
        className=f"geoplan-raster geoplan-{layer_id}", interactive=False,
    )
    overlay.geoplan_layer_id = layer_id
    overlay.geoplan_feature_count = 1
    overlay.add_to(m)
    legend(overlay)
    logger.info("map layer %s (%s): %d cells as one image", layer_id, name, len(cells))
    return overlay


# ---------------------------------------------------------------- output


def map_to_html(m: folium.Map, *, self_contained: bool = True) -> str:
    """Return the map as one HTML page; ``self_contained`` inlines every JS/CSS asset.

    Raises
    ------
    OutputError
        If the map uses a plugin whose assets geoplan does not vendor.
    """
    page = _unescape_non_ascii(_compact_layer_data(m, m.get_root().render()))
    return inline_assets(page) if self_contained else page


def _compact_layer_data(m: folium.Map, page: str) -> str:
    """Write the data of geoplan's vector layers without the spaces folium puts after ``,:``.

    folium writes a layer's GeoJSON as jinja's ``tojson`` does (``json.dumps`` with sorted
    keys); the same JSON without spaces is a tenth smaller. Only an exact match of that text
    is replaced, so a folium that writes its data otherwise is left as it is.
    """
    for child in m._children.values():
        if isinstance(child, folium.GeoJson) and hasattr(child, "geoplan_layer_id"):
            loose = htmlsafe_json_dumps(child.data, sort_keys=True)
            tight = htmlsafe_json_dumps(child.data, sort_keys=True, separators=(",", ":"))
            page = page.replace(f"_add({loose});", f"_add({tight});", 1)
    return page


#: ``\uXXXX`` escapes in the rendered page that are not themselves escaped (an even number
#: of backslashes before them).
_U_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u([0-9a-fA-F]{4})")


def _unescape_non_ascii(page: str) -> str:
    r"""Write the ``\uXXXX`` escapes of non-ASCII text in the page's scripts as UTF-8.

    folium writes its data with ``json.dumps``, which escapes every Chinese character as six
    ASCII bytes (three in UTF-8). Inside a JavaScript string both mean the same character,
    so they are written out, except the escapes that must stay: ASCII (``<``, ``&`` …),
    surrogates and the line separators U+2028/U+2029.
    """

    def plain(match: re.Match[str]) -> str:
        code = int(match.group(2), 16)
        if code < 0x80 or 0xD800 <= code <= 0xDFFF or code in (0x2028, 0x2029):
            return match.group(0)
        return match.group(1) + chr(code)

    return _U_ESCAPE.sub(plain, page)


def save_map(
    m: folium.Map, path: str | os.PathLike[str], *, self_contained: bool = True
) -> Path:
    """Write the map to ``path`` as one HTML file that opens with the network cut.

    Parameters
    ----------
    m
        The map.
    path
        Output ``.html`` file; written to a temporary file first, then moved into place,
        so a failure leaves an earlier file intact.
    self_contained
        Inline Leaflet, its plugins, CSS, images and fonts (about 1.3 MB) from
        ``geoplan/assets``. With ``False`` the page loads them from folium's CDNs.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    OutputError
        If the map needs a web asset geoplan does not vendor.
    """
    html_text = map_to_html(m, self_contained=self_contained)
    target = write_text_atomically(html_text, path)
    logger.info("wrote map %s (%.1f MB)", target, len(html_text.encode()) / 1e6)
    return target
