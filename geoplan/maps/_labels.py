"""Text labels on geoplan maps: 镇街 names, proposed-site ids, as one light layer each.

A label layer is one ``L.layerGroup`` of non-interactive ``L.divIcon`` markers built in the
browser from a compact ``[lat, lon, text]`` list (a few bytes per label, far less than a
folium marker each). The text is set as ``textContent``, never parsed as HTML. A label layer
is either its own entry in the layer control, or follows another layer (shown exactly while
that layer is on, e.g. the site ids with the sites).
"""

from __future__ import annotations

import html
import logging

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.map import Layer
from jinja2 import Template

from geoplan._text import safe_text
from geoplan.errors import OutputError, require_columns
from geoplan.maps._basemaps import add_page_css
from geoplan.maps._core import COORD_DECIMALS, css_layer_id, display_layer

logger = logging.getLogger(__name__)


class LabelLayer(Layer):
    """A layer of text labels (see :func:`add_labels`)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.layerGroup();
        (function (group, rows, className) {
            rows.forEach(function (row) {
                var text = document.createElement("span");
                text.textContent = row[2];
                L.marker([row[0], row[1]], {
                    icon: L.divIcon({className: className, html: text, iconSize: null}),
                    interactive: false, keyboard: false
                }).addTo(group);
            });
        })({{ this.get_name() }}, {{ this.rows|tojson }}, {{ this.class_name|tojson }});
        {% if this.follow %}
        (function (labels, layer, map) {
            layer.on("add", function () { map.addLayer(labels); });
            layer.on("remove", function () { map.removeLayer(labels); });
        })({{ this.get_name() }}, {{ this.follow }}, {{ this._parent.get_name() }});
        {% endif %}
        {% endmacro %}
        """
    )

    def __init__(self, rows: list[list[object]], *, name: str, class_name: str,
                 follow: str | None, show: bool):
        super().__init__(name=name, overlay=True, control=follow is None, show=show)
        self._name = "GeoplanLabels"
        self.rows = rows
        self.class_name = class_name
        self.follow = follow


def add_labels(
    m: folium.Map,
    gdf: gpd.GeoDataFrame,
    *,
    text_col: str,
    name: str,
    layer_id: str,
    follow: folium.Layer | None = None,
    side: str = "center",
    show: bool = True,
) -> LabelLayer:
    """Add a text label for every feature of ``gdf``, at a point inside it.

    Parameters
    ----------
    m
        The map.
    gdf
        Any geometries (polygons are labelled at a point inside them,
        ``representative_point``); rows without geometry or text get no label.
    text_col
        The column holding the label text (e.g. ``name``, ``site_id``).
    name
        Layer name in the layer control (Chinese), e.g. "镇街名称".
    layer_id
        Short ASCII id; labels get the CSS classes ``geoplan-label geoplan-<layer_id>``.
    follow
        Another layer of the map: the labels are shown exactly while it is on and get no
        entry of their own in the layer control.
    side
        ``"center"`` (text centred on the point) or ``"right"`` (beside a point symbol).
    show
        Whether the labels are on when the map opens (ignored with ``follow``).

    Returns
    -------
    LabelLayer

    Raises
    ------
    OutputError
        If ``text_col`` is missing or ``side`` is unknown.
    CRSError
        If ``gdf`` has no CRS.
    """
    require_columns(gdf, [text_col], "add_labels", error=OutputError)
    if side not in ("center", "right"):
        msg = f"add_labels: side must be 'center' or 'right', got {side!r}"
        raise OutputError(msg)
    add_page_css(m)
    geoms = gdf.geometry.to_numpy()
    texts = gdf[text_col]
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) & texts.notna().to_numpy()
    kept = gdf[keep]
    points = kept.set_geometry(shapely.point_on_surface(kept.geometry.to_numpy()))
    shown = display_layer(m, points)
    lat = np.round(shown.geometry.y.to_numpy(), COORD_DECIMALS)
    lon = np.round(shown.geometry.x.to_numpy(), COORD_DECIMALS)
    rows = [[float(y), float(x), safe_text(_text(t))]
            for y, x, t in zip(lat, lon, kept[text_col], strict=True)]
    css = f"geoplan-label geoplan-{css_layer_id(layer_id)}"
    if side == "right":
        css += " geoplan-label-right"
    layer = LabelLayer(rows, name=html.escape(name), class_name=css,
                       follow=None if follow is None else follow.get_name(),
                       show=getattr(follow, "show", True) if follow is not None else show)
    layer.geoplan_layer_id = css_layer_id(layer_id)
    layer.geoplan_feature_count = len(rows)
    layer.add_to(m)
    logger.info("map labels %s (%s): %d", layer_id, name, len(rows))
    return layer


def _text(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return f"{value:.0f}"
    return str(value) if not pd.isna(value) else ""
