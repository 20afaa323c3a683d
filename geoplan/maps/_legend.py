"""The one legend panel of a geoplan map, showing the entries of the layers that are on.

Every :func:`add_legend` call adds a section (a heading and ``colour, label`` rows) to a single
Leaflet control. A section and each of its rows may be tied to map layers: a small script
listens to the layer control (``overlayadd``/``overlayremove``) and shows a row only while one of
its layers is on, and a section only while one of its rows (or its own layers) is. Rows tied to
no layer are always shown. The panel is a ``<details>`` box, so a planner can fold it away.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

import folium
from branca.element import MacroElement
from jinja2 import Template

from geoplan.maps._basemaps import add_page_css

#: A legend row: ``(css colour, label)`` or ``(css colour, label, layer or layers)``.
LegendEntry = tuple[str, str] | tuple[str, str, object]


def _layer_names(layers: object) -> list[str]:
    """Return the JS variable names of ``layers`` (folium elements or names; one or several)."""
    if layers is None:
        return []
    items = layers if isinstance(layers, list | tuple | set | frozenset) else [layers]
    return [item if isinstance(item, str) else item.get_name() for item in items]


class LegendPanel(MacroElement):
    """One Leaflet control holding every legend section of a map (see :func:`add_legend`)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            var panel = L.control({position: {{ this.position|tojson }}});
            var box;
            panel.onAdd = function () {
                box = L.DomUtil.create("div", "geoplan-box geoplan-legend");
                box.innerHTML = {{ this.inner_html()|tojson }};
                L.DomEvent.disableClickPropagation(box);
                L.DomEvent.disableScrollPropagation(box);
                return box;
            };
            panel.addTo(map);
            // layers are looked up by name when needed: they may be defined further down
            var sets = {{ this.layer_sets()|tojson }};
            function update() {
                var on = sets.map(function (names) {
                    return names.length === 0 || names.some(function (name) {
                        return window[name] && map.hasLayer(window[name]);
                    });
                });
                var shown = 0;
                box.querySelectorAll("[data-legend]").forEach(function (el) {
                    var visible = on[+el.getAttribute("data-legend")];
                    el.style.display = visible ? "" : "none";
                    if (visible && el.classList.contains("geoplan-legend-section")) { shown += 1; }
                });
                box.style.display = shown ? "" : "none";
            }
            map.on("overlayadd overlayremove layeradd layerremove", function (e) {
                if (e.type.indexOf("overlay") === 0 || e.layer instanceof L.LayerGroup
                        || e.layer instanceof L.ImageOverlay) { update(); }
            });
            update();
            setTimeout(update, 0);
        })();
        {% endmacro %}
        """
    )

    def __init__(self, *, position: str = "bottomleft"):
        super().__init__()
        self._name = "GeoplanLegend"
        self.position = position
        self.sections: list[tuple[str, list[tuple[str, str, list[str]]], list[str]]] = []

    def add_section(self, title: str, entries: Iterable[LegendEntry],
                    layers: object = None) -> None:
        """Add a heading and its rows; rows and section may name the layers they follow."""
        rows = [(str(e[0]), str(e[1]), _layer_names(e[2] if len(e) > 2 else None))
                for e in entries]
        self.sections.append((title, rows, _layer_names(layers)))

    def layer_sets(self) -> list[list[str]]:
        """Return the layers of every section, then of every row, in the order of the HTML."""
        sets: list[list[str]] = []
        for _, rows, own in self.sections:
            row_sets = [names for _, _, names in rows]
            if not own and (not rows or any(not names for names in row_sets)):
                sets.append([])  # a row that follows no layer: always shown
            else:
                sets.append(list(dict.fromkeys(own + [n for names in row_sets for n in names])))
        for _, rows, _ in self.sections:
            sets.extend(names for _, _, names in rows)
        return sets

    def inner_html(self) -> str:
        """Return the panel's HTML: a foldable box, one ``<section>`` per legend."""
        parts = ['<details open><summary>图例</summary>']
        row_index = len(self.sections)
        for i, (title, rows, _) in enumerate(self.sections):
            parts.append(f'<div class="geoplan-legend-section" data-legend="{i}">'
                         f"<h4>{html.escape(title)}</h4>")
            for color, label, _ in rows:
                parts.append(f'<div class="geoplan-legend-row" data-legend="{row_index}">'
                             f'<i style="background:{html.escape(color)}"></i>'
                             f"{html.escape(label)}</div>")
                row_index += 1
            parts.append("</div>")
        parts.append("</details>")
        return "".join(parts)


def legend_panel(m: folium.Map, *, position: str = "bottomleft") -> LegendPanel:
    """Return the map's legend panel, adding it on first use."""
    panel = getattr(m, "geoplan_legend", None)
    if panel is None:
        add_page_css(m)
        panel = LegendPanel(position=position)
        m.add_child(panel)
        m.geoplan_legend = panel
    return panel


def add_legend(
    m: folium.Map,
    title: str,
    entries: Sequence[LegendEntry],
    *,
    layers: object = None,
    position: str = "bottomleft",
) -> None:
    """Add a legend section to the map's one legend panel: a title and coloured rows.

    Parameters
    ----------
    m
        The map.
    title
        Section heading, e.g. ``"60岁以上老人覆盖率"``.
    entries
        ``(css colour, label)`` rows in display order; a third item (a folium layer, its JS
        name, or a list of them) shows the row only while one of those layers is on.
    layers
        The layer(s) the whole section belongs to: the section is shown only while one of
        them (or of its rows' layers) is on. ``None`` with untied rows: always shown.
    position
        Corner of the panel (``"bottomleft"`` …); only the first call of a map sets it.
    """
    legend_panel(m, position=position).add_section(title, entries, layers)
