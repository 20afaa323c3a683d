"""Map layers of the boundary joint inspection: boundary lines, markers (界桩) and findings."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

import folium
import geopandas as gpd
import pandas as pd

from geoplan.boundary.findings import FINDING_KINDS
from geoplan.errors import OutputError, require_columns
from geoplan.maps._core import add_layer
from geoplan.maps._legend import add_legend

_PALETTE = (
    "#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf",
    "#17becf", "#999999", "#bcbd22", "#1f3a93",
)

#: Chinese names of joint-inspection finding kinds (``add_findings``), from the boundary
#: checks' registry.
FINDING_KIND_ZH = {kind: names[0] for kind, names in FINDING_KINDS.items()}

def add_boundary_lines(
    m: folium.Map,
    lines: gpd.GeoDataFrame,
    *,
    code_col: str = "line_code",
    level_col: str = "level",
    show: bool = True,
) -> folium.GeoJson:
    """Add administrative boundary lines (界线), wider for higher levels.

    ``level_col`` (``province``/``county``/``town`` or 省级/县级/乡级) sets the width; a
    layer without it is drawn at the township width, its level shown as 未注明. ``show``:
    whether the layer is on when the map opens.

    Returns
    -------
    folium.GeoJson
        Layer id ``boundary-lines``.

    Raises
    ------
    OutputError
        If a named column is missing.
    """
    require_columns(lines, [code_col], "add_boundary_lines", error=OutputError)
    names = {"province": "省级", "county": "县级", "town": "乡级"}
    widths = {"省级": 4, "县级": 3, "乡级": 2}
    if level_col in lines.columns:
        levels = [names.get(str(v).strip(), str(v).strip()) if pd.notna(v) else "未注明"
                  for v in lines[level_col]]
    else:
        levels = ["未注明"] * len(lines)
    shown = lines.assign(_level=levels)
    layer = add_layer(
        m, shown, name=f"行政区域界线（{len(lines)}）", layer_id="boundary-lines",
        popup_fields={code_col: "界线编号", "_level": "级别"}, tooltip_field=code_col,
        style=lambda row: {"color": "#333333", "weight": widths.get(row["_level"], 2),
                           "dashArray": "8 4 2 4"}, show=show,
    )
    add_legend(m, "行政区域界线", [("#333333", "界线（点划线）")], layers=layer)
    return layer


def _condition_class(value: object) -> str:
    """"good", "bad" or "unknown" for a marker condition as surveyors write it."""
    if value is None or (isinstance(value, float) and value != value):
        return "unknown"
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value))).lower()
    if text in _GOOD_CONDITIONS:
        return "good"
    return "bad" if text in _BAD_CONDITIONS else "unknown"


_GOOD_CONDITIONS = {"完好", "good", "intact"}
_BAD_CONDITIONS = {"丢失", "损坏", "损毁", "倾斜", "移位", "missing", "lost", "destroyed",
                   "damaged", "tilted", "moved", "displaced"}
_CONDITION_COLORS = {"good": "#2b83ba", "bad": "#d7191c", "unknown": "#fdae61"}


def add_boundary_markers(
    m: folium.Map,
    markers: gpd.GeoDataFrame,
    *,
    number_col: str = "marker_no",
    condition_col: str = "condition",
    show: bool = True,
) -> folium.GeoJson:
    """Add boundary markers (界桩): 完好 blue, 损坏/丢失/移位 red, anything else orange.

    Conditions are compared as the joint-inspection checks do (full-width forms, spaces
    and English synonyms such as ``damaged`` are accepted). ``show``: whether the layer is
    on when the map opens.

    Returns
    -------
    folium.GeoJson
        Layer id ``boundary-markers``.

    Raises
    ------
    OutputError
        If a named column is missing.
    """
    require_columns(markers, [number_col], "add_boundary_markers", error=OutputError)
    if condition_col not in markers.columns:  # a register without 状况: condition unknown
        markers = markers.assign(**{condition_col: None})
    classes = markers[condition_col].map(_condition_class)
    shown = markers.assign(_condition=markers[condition_col].map(
        lambda v: "—" if v is None or pd.isna(v) else str(v)), _class=classes)
    layer = add_layer(
        m, shown, name=f"界桩（{len(markers)}）", layer_id="boundary-markers",
        popup_fields={number_col: "界桩编号", "_condition": "状况"}, tooltip_field=number_col,
        point_radius_px=5, show=show,
        style=lambda row: {"color": "#000000", "weight": 1, "fillOpacity": 1,
                           "fillColor": _CONDITION_COLORS[row["_class"]]},
    )
    add_legend(m, "界桩状况", [(_CONDITION_COLORS["good"], "完好"),
                               (_CONDITION_COLORS["bad"], "损坏/丢失/移位"),
                               (_CONDITION_COLORS["unknown"], "状况不明")], layers=layer)
    return layer


def add_findings(
    m: folium.Map,
    findings: gpd.GeoDataFrame,
    *,
    kind_col: str = "kind",
    detail_col: str = "detail",
    kind_labels: Mapping[str, str] | None = None,
    show: bool = True,
) -> folium.GeoJson:
    """Add joint-inspection findings (gaps, overlaps, line changes, marker problems).

    Parameters
    ----------
    findings
        The joint-inspection findings table (:mod:`geoplan.boundary.findings`): any
        geometries with ``kind`` (e.g. ``topology_gap``) and ``detail`` (text). Rows
        without a geometry (e.g. an overdue round) are not drawn.
    kind_labels
        Chinese names of the kinds, added to (and overriding) :data:`FINDING_KIND_ZH`.
    show
        Whether the layer is on when the map opens.

    Returns
    -------
    folium.GeoJson
        Layer id ``findings``; one colour per kind, with a legend.

    Raises
    ------
    OutputError
        If the kind or detail column is missing.
    """
    require_columns(findings, [kind_col, detail_col], "add_findings", error=OutputError)
    labels = FINDING_KIND_ZH | dict(kind_labels or {})
    located = findings.geometry.notna() & ~findings.geometry.is_empty
    n_located = int(located.sum())
    kinds = sorted(findings.loc[located, kind_col].astype(str).unique())
    palette = {k: _PALETTE[i % len(_PALETTE)] for i, k in enumerate(kinds)}
    shown = findings.assign(_kind=findings[kind_col].astype(str).map(lambda k: labels.get(k, k)))
    layer = add_layer(
        m, shown, name=f"联检发现（{n_located}）", layer_id="findings",
        popup_fields={"_kind": "类型", detail_col: "说明"}, tooltip_field="_kind", show=show,
        style=lambda row: {"color": palette[str(row[kind_col])], "weight": 3,
                           "fillColor": palette[str(row[kind_col])], "fillOpacity": 0.4},
    )
    add_legend(m, "联检发现", [(palette[k], labels.get(k, k)) for k in kinds], layers=layer)
    return layer
