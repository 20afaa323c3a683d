"""Basemap tile layers, the page CSS and the small HTML boxes (notes, title) of geoplan maps."""

from __future__ import annotations

import html
import os
import re

import folium
from branca.element import Element, MacroElement
from jinja2 import Template

from geoplan.errors import OutputError

#: Basemaps geoplan can draw under its layers; ``"none"`` needs no network at all.
BASEMAPS = ("none", "osm", "tianditu", "gaode")

#: Environment variable holding the user's 天地图 key (``tk``).
TIANDITU_ENV = "GEOPLAN_TIANDITU_TK"

GAODE_NOTE = "高德底图（GCJ-02显示偏移已校正）"
INTERNAL_NOTE = "内部工作底图，未经审核不得公开"

_TIANDITU_URL = (
    "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
    "&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={tk}"
)
_GAODE_URL = (
    "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
    "&x={x}&y={y}&z={z}"
)
_OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"

_CSS = """
<style>
html body .leaflet-container { background: #f2f1ec;
  font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; }
.geoplan-box { background: rgba(255,255,255,0.92); padding: 6px 9px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,0.3); font-size: 12px; line-height: 1.5; }
.geoplan-box h4 { margin: 0 0 4px; font-size: 13px; }
.geoplan-legend { max-height: 45vh; max-width: 260px; overflow-y: auto; font-size: 11px;
  line-height: 1.35; }
.geoplan-legend summary { cursor: pointer; font-weight: bold; font-size: 12px; }
.geoplan-legend h4 { margin: 5px 0 2px; font-size: 12px; }
.geoplan-legend i { display: inline-block; width: 14px; height: 11px; margin-right: 5px;
  vertical-align: middle; border: 1px solid #666; }
.leaflet-div-icon.geoplan-label { background: none; border: none; }
.geoplan-label span { display: inline-block; transform: translate(-50%, -50%);
  white-space: nowrap; font-size: 12px; font-weight: bold; color: #222;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff; pointer-events: none; }
.geoplan-label.geoplan-label-right span { transform: translate(12px, -50%); color: #3f007d;
  font-size: 11px; }
.geoplan-title { font-size: 15px; font-weight: bold; }
.geoplan-note { color: #a00; font-weight: bold; }
img.geoplan-raster { image-rendering: pixelated; }
.leaflet-bottom.leaflet-left { max-height: calc(100% - 120px); overflow-y: auto; }
</style>
"""


class _BoxControl(MacroElement):
    """A Leaflet control holding a fixed HTML box (legend, note or title)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
        {{ this.get_name() }}.onAdd = function (map) {
            var div = L.DomUtil.create("div", {{ this.css_class|tojson }});
            div.innerHTML = {{ this.inner_html|tojson }};
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, inner_html: str, *, css_class: str, position: str):
        super().__init__()
        self._name = "GeoplanBox"
        self.inner_html = inner_html
        self.css_class = css_class
        self.position = position


def add_page_css(m: folium.Map) -> None:
    """Add geoplan's CSS (fonts, legend boxes) to the page once."""
    if not getattr(m, "geoplan_css_added", False):
        m.get_root().header.add_child(Element(_CSS), name="geoplan_css")
        m.geoplan_css_added = True


def add_note(m: folium.Map, text: str, *, position: str = "bottomright") -> None:
    """Add a highlighted note (e.g. the map-review warning) to a corner of the map."""
    add_page_css(m)
    box = html.escape(text)
    m.add_child(_BoxControl(box, css_class="geoplan-box geoplan-note", position=position))


def add_title(m: folium.Map, title: str) -> None:
    """Add the map title box (top left, beside the zoom buttons)."""
    add_page_css(m)
    box = html.escape(title)
    m.add_child(_BoxControl(box, css_class="geoplan-box geoplan-title", position="topleft"))


def tianditu_key(tk: str | None) -> str:
    """Return the 天地图 key from the argument or ``GEOPLAN_TIANDITU_TK``.

    Raises
    ------
    OutputError
        If neither gives a non-empty key, or the key holds other characters than letters
        and digits (it is put into the tile URLs).
    """
    key = (tk or os.environ.get(TIANDITU_ENV, "")).strip()
    if key and not re.fullmatch(r"[0-9A-Za-z]+", key):
        msg = (f"the 天地图 (Tianditu) key must be letters and digits only (a 32-character "
               f"key from https://console.tianditu.gov.cn), got {key[:40]!r}")
        raise OutputError(msg)
    if not key:
        msg = (
            "the 天地图 (Tianditu) basemap needs your key: pass tianditu_tk=... or set "
            f"{TIANDITU_ENV}. Apply for a browser-type key with a domain whitelist at "
            "https://console.tianditu.gov.cn (the key is visible to everyone who opens the map)."
        )
        raise OutputError(msg)
    return key


def add_basemap(m: folium.Map, basemap: str, *, tianditu_tk: str | None = None) -> None:
    """Add the tile layers of ``basemap`` (one of :data:`BASEMAPS`) and its notes.

    Raises
    ------
    OutputError
        If ``basemap`` is unknown, or 天地图 is asked for without a key.
    """
    if basemap not in BASEMAPS:
        msg = f"unknown basemap {basemap!r}; choose one of {', '.join(BASEMAPS)}"
        raise OutputError(msg)
    if basemap == "none":
        return
    if basemap == "osm":
        folium.TileLayer(
            _OSM_URL, name="OpenStreetMap", attr="© OpenStreetMap contributors", max_zoom=19
        ).add_to(m)
    elif basemap == "tianditu":
        key = tianditu_key(tianditu_tk)
        for layer, label in (("vec", "天地图矢量"), ("cva", "天地图注记")):
            folium.TileLayer(
                _TIANDITU_URL.format(layer=layer, tk=key),
                name=label,
                attr="© 天地图 (国家地理信息公共服务平台)",
                subdomains="01234567",
                max_zoom=18,
                overlay=layer == "cva",
                control=layer == "cva",
            ).add_to(m)
    else:
        folium.TileLayer(
            _GAODE_URL, name="高德地图", attr=f"© 高德地图 · {GAODE_NOTE}", subdomains="1234",
            max_zoom=18,
        ).add_to(m)
        add_note(m, GAODE_NOTE)
    if basemap in ("osm", "gaode"):
        add_note(m, INTERNAL_NOTE)
