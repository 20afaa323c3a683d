"""Folium maps of a study: facilities, coverage, gaps, proposals, standards and boundary checks.

Every builder takes plain GeoDataFrames in the study's metric CRS (never modified) and
converts a copy to EPSG:4326 only for display; with the 高德 basemap the copy is also shifted
into GCJ-02 (:func:`geoplan.crs.to_gcj02_display`) so overlays sit on the Gaode tiles.
Each layer has a Chinese name in the layer control and the CSS class ``geoplan-<layer_id>``
on its SVG paths (or its image), so features can be counted and toggled per layer.
:func:`save_map` writes one HTML file with Leaflet and every other asset inlined.

Typical use::

    m = base_map(study.towns, title="晋江市 15分钟养老服务圈")
    add_coverage_choropleth(m, towns_with_share)
    add_facilities(m, study.facilities, admin_units=study.admin_units)
    add_layer_control(m)
    save_map(m, "map.html")
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Collection, Mapping, Sequence

import folium
import geopandas as gpd
import pandas as pd
import shapely

from geoplan._text import codes_text
from geoplan.errors import OutputError, require_columns
from geoplan.maps._basemaps import BASEMAPS, GAODE_NOTE, INTERNAL_NOTE, add_note
from geoplan.maps._boundary import (
    FINDING_KIND_ZH,
    add_boundary_lines,
    add_boundary_markers,
    add_findings,
)
from geoplan.maps._core import (
    COORD_DECIMALS,
    MAX_VECTOR_FEATURES,
    SHARE_BINS,
    SHARE_COLORS,
    add_layer,
    add_layer_control,
    add_value_cells,
    base_map,
    bin_labels,
    binned_colors,
    boolean_column,
    display_layer,
    map_to_html,
    numeric_column,
    save_map,
)
from geoplan.maps._facilities import (
    CAPACITY_LABELS,
    FACILITY_STATUS_ZH,
    UNTYPED,
    add_facilities,
    add_service_areas,
    facility_type_name,
)
from geoplan.maps._labels import add_labels
from geoplan.maps._legend import add_legend

__all__ = [
    "BASEMAPS",
    "CAPACITY_LABELS",
    "COORD_DECIMALS",
    "FACILITY_STATUS_ZH",
    "FINDING_KIND_ZH",
    "GAODE_NOTE",
    "INSPECTION_KINDS",
    "INTERNAL_NOTE",
    "MAX_VECTOR_FEATURES",
    "SERVICE_AREA_COLOR",
    "SHARE_BINS",
    "SHARE_COLORS",
    "UNIT_TOLERANCE_M",
    "UNTYPED",
    "add_boundary_lines",
    "add_boundary_markers",
    "add_coverage_choropleth",
    "add_facilities",
    "add_findings",
    "add_labels",
    "add_layer",
    "add_layer_control",
    "add_legend",
    "add_note",
    "add_proposed_sites",
    "add_service_areas",
    "add_standards_shortfalls",
    "add_uncovered_cells",
    "add_value_cells",
    "base_map",
    "bin_labels",
    "binned_colors",
    "display_layer",
    "facility_type_name",
    "map_to_html",
    "overview_map",
    "quantile_class_limits",
    "save_map",
    "units_with_coverage",
]

logger = logging.getLogger(__name__)

#: Admin-unit outlines are simplified by this many metres for display (a county map at
#: street zoom shows no difference; the page gets smaller).
UNIT_TOLERANCE_M = 5.0

def units_with_coverage(
    units: gpd.GeoDataFrame,
    coverage: pd.DataFrame,
    *,
    facility_type: str,
    tier_min: float = 15,
    level: str = "town",
) -> gpd.GeoDataFrame:
    """Return the units of one ``level`` with their coverage columns for one type and tier.

    Parameters
    ----------
    units
        Admin units (``code``, ``level``, geometry).
    coverage
        The long table of :func:`geoplan.access.coverage_by_unit` (one row per unit,
        ``facility_type`` and ``tier_min``).
    facility_type, tier_min, level
        Which rows to keep.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy of the units at ``level`` with the coverage columns (``pop_60plus_share`` …)
        joined on ``code`` (replacing unit columns of the same name); units without a row
        get NaN (drawn grey).

    Raises
    ------
    OutputError
        If a needed column is missing, ``coverage`` has no row for that type, tier and
        level, or has several rows for one unit code.
    """
    require_columns(units, ["code", "level"], "units_with_coverage(units)", error=OutputError)
    require_columns(coverage, ["code", "level", "facility_type", "tier_min"],
                    "units_with_coverage(coverage)", error=OutputError)
    tiers = pd.to_numeric(coverage["tier_min"], errors="coerce")
    rows = coverage[(coverage["facility_type"] == facility_type)
                    & (tiers == tier_min) & (coverage["level"] == level)]
    if rows.empty:
        msg = f"no coverage rows for type {facility_type!r}, {tier_min:g} min, level {level!r}"
        raise OutputError(msg)
    codes = codes_text(rows["code"])
    if codes.duplicated().any():
        dup = sorted(set(codes[codes.duplicated()]))[:5]
        msg = (f"coverage has several rows for type {facility_type!r}, {tier_min:g} min, "
               f"level {level!r} and unit code(s) {dup}")
        raise OutputError(msg)
    extra = rows.drop(columns=[c for c in ("level", "name", "code") if c in rows])
    extra.index = pd.Index(codes.to_numpy())
    joined = units[units["level"] == level].copy()
    unit_codes = codes_text(joined["code"])
    replaced = [c for c in extra.columns if c in joined.columns]
    if replaced:  # e.g. a share from an earlier join: the map must show this coverage
        logger.info("units_with_coverage: unit columns %s replaced by the coverage", replaced)
    for column in extra.columns:
        joined[column] = unit_codes.map(extra[column])
    return joined


#: Counts shown in coverage popups when the units have them (as coverage_by_unit names them).
_COVERAGE_COUNTS = {"pop_60plus_covered": "覆盖60岁以上人口", "pop_60plus_total": "60岁以上人口"}


def add_coverage_choropleth(
    m: folium.Map,
    units: gpd.GeoDataFrame,
    *,
    share_col: str = "pop_60plus_share",
    level_name: str = "镇街",
    layer_id: str = "coverage-town",
    name_col: str = "name",
    extra_popup: Mapping[str, str] | None = None,
    show: bool = True,
    simplify_tolerance_m: float = UNIT_TOLERANCE_M,
) -> folium.GeoJson | folium.raster_layers.ImageOverlay:
    """Colour admin units by the share of people aged 60+ within reach of a facility.

    Parameters
    ----------
    units
        Admin units (镇街 or 社区/村) with ``share_col`` as a fraction in [0, 1], e.g. from
        :func:`units_with_coverage`.
    share_col
        The share column (default ``pop_60plus_share``, as :func:`geoplan.access.coverage_by_unit`
        names it).
    level_name
        "镇街" or "社区/村", used in the layer name and legend.
    layer_id
        Layer id (``coverage-town``, ``coverage-village``).
    extra_popup
        More ``{column: label}`` pairs for the popup (e.g. ``{"households": "户数"}``); the
        covered and total 60+ counts (``pop_60plus_covered``, ``pop_60plus_total``) are shown
        whenever the units have them.
    show
        Whether the layer is on when the map opens.
    simplify_tolerance_m
        Unit outlines are simplified by this many metres before display (units in a metric
        CRS; 0 keeps them as they are).

    Returns
    -------
    folium.GeoJson

    Raises
    ------
    OutputError
        If ``share_col`` is missing, holds text that is no number, or values outside
        [0, 1] (e.g. percentages 0–100), naming the rows.
    """
    what = "add_coverage_choropleth"
    shares = numeric_column(units, share_col, what)
    outside = (shares < -1e-9) | (shares > 1 + 1e-9)
    if outside.any():
        rows = ", ".join(f"{i} ({v:g})" for i, v in shares[outside].iloc[:5].items())
        msg = (f"{what}: column {share_col!r} must be a fraction in [0, 1]; outside it: {rows}"
               f"{' (percentages? divide by 100)' if shares.max() <= 100 else ''}")
        raise OutputError(msg)
    counts = {c: label for c, label in _COVERAGE_COUNTS.items() if c in units.columns}
    shown = units.assign(**{share_col: shares}, _share_text=shares.map(
        lambda v: "—" if pd.isna(v) else f"{float(v):.1%}"), **{
        f"_{c}_text": pd.to_numeric(units[c], errors="coerce").map(
            lambda v: "—" if pd.isna(v) else f"{v:,.0f}") for c in counts})
    popup = ({name_col: "名称", "_share_text": "60岁以上老人覆盖率"}
             | {f"_{c}_text": label for c, label in counts.items()} | dict(extra_popup or {}))
    return add_value_cells(
        m, shown, value_col=share_col, name=f"{level_name}覆盖率（60岁以上）",
        layer_id=layer_id, bins=SHARE_BINS, colors=SHARE_COLORS, popup_fields=popup,
        legend_title=f"{level_name}60岁以上老人覆盖率", show=show,
        legend_labels=bin_labels(SHARE_BINS, percent=True),
        simplify_tolerance_m=simplify_tolerance_m * _is_metric(units),
    )


def _is_metric(layer: gpd.GeoDataFrame) -> bool:
    return layer.crs is not None and layer.crs.is_projected


_GAP_COLORS = ("#fbb4b9", "#f768a1", "#dd3497", "#ae017e", "#7a0177")  # magenta, unlike the reds


def quantile_class_limits(values: pd.Series, n_classes: int = 5) -> tuple[float, ...]:
    """Return rounded class limits ``(0, q1, …, inf)`` from quantiles of the positive values.

    Each inner limit is the 1/n, 2/n, … quantile rounded to two significant digits; equal
    limits are merged, so fewer classes come back when the values are few or repetitive.
    """
    positive = pd.to_numeric(values, errors="coerce").dropna()
    positive = positive[positive > 0]
    if positive.empty:
        return (0.0, float("inf"))
    qs = positive.quantile([i / n_classes for i in range(1, n_classes)]).to_numpy(dtype=float)
    rounded = sorted({float(f"{q:.2g}") for q in qs if q > 0})
    return (0.0, *rounded, float("inf"))


def add_uncovered_cells(
    m: folium.Map,
    cells: gpd.GeoDataFrame,
    *,
    covered_col: str = "covered",
    pop_col: str = "pop_60plus",
    bins: Sequence[float] | None = None,
    max_vector_features: int = MAX_VECTOR_FEATURES,
) -> folium.GeoJson | folium.raster_layers.ImageOverlay:
    """Show population cells nobody covers (``covered_col`` False), coloured by ``pop_col``.

    Large layers (more than ``max_vector_features`` uncovered cells) become one PNG overlay.

    Parameters
    ----------
    cells
        Population cells (polygons, or points = cell centres) with a boolean ``covered_col``,
        e.g. ``nearest_facility_time(...)[f"{type}_time_min"] <= 15``.
    pop_col
        The count shown (default ``pop_60plus``).
    bins
        Class limits ending in ``inf`` (up to 6 limits); default: quantiles of the
        uncovered cells (:func:`quantile_class_limits`).

    Returns
    -------
    folium.GeoJson or folium.raster_layers.ImageOverlay
        Layer id ``uncovered-cells``.

    Raises
    ------
    OutputError
        If ``covered_col`` is missing or holds anything but True/False (missing values,
        text), or ``pop_col`` is missing or not numeric, naming the rows.
    """
    what = "add_uncovered_cells"
    gaps = cells[~boolean_column(cells, covered_col, what)]
    gaps = gaps.assign(**{pop_col: numeric_column(gaps, pop_col, what)})
    limits = tuple(bins) if bins is not None else quantile_class_limits(gaps[pop_col])
    colors = _GAP_COLORS[len(_GAP_COLORS) - (len(limits) - 1):]
    labels = [f"{lo:g}–{hi:g}人" for lo, hi in itertools.pairwise(limits[:-1])]
    labels.append(f"≥{limits[-2]:g}人")
    return add_value_cells(
        m, gaps, value_col=pop_col, name=f"未覆盖网格（{len(gaps):,}）", layer_id="uncovered-cells",
        bins=limits, colors=colors, legend_title="未覆盖网格60岁以上人口", legend_labels=labels,
        popup_fields={pop_col: "60岁以上人口"}, max_vector_features=max_vector_features,
    )


def add_proposed_sites(
    m: folium.Map,
    sites: gpd.GeoDataFrame,
    *,
    gain_col: str = "new_pop_60plus",
    rank_col: str = "rank",
    name_col: str | None = "name",
    gain_label: str = "新增覆盖60岁以上人口",
    label_col: str | None = "site_id",
    show: bool = True,
) -> folium.GeoJson:
    """Add proposed sites, sized by their marginal gain, labelled with their id.

    Parameters
    ----------
    sites
        Points with ``rank`` (1 = chosen first) and ``gain_col`` (what each site adds when
        opened in rank order; default ``new_pop_60plus`` as
        :func:`geoplan.siting.rank_sites_by_marginal_gain` names it, joined to the
        candidate points).
    gain_label
        Chinese label of the gain in the popup.
    label_col
        Column written beside each site on the map (its id; a label layer that follows the
        sites layer, :func:`geoplan.maps.add_labels`); without that column, the rank
        ("第1位" …). ``None``: no labels.
    show
        Whether the layer is on when the map opens.

    Returns
    -------
    folium.GeoJson
        Layer id ``proposed-sites``.

    Raises
    ------
    OutputError
        If ``gain_col`` or ``rank_col`` is missing or not numeric.
    """
    what = "add_proposed_sites"
    raw_gains = numeric_column(sites, gain_col, what)
    ranks = numeric_column(sites, rank_col, what)
    gains = raw_gains.fillna(0.0).clip(lower=0.0)
    biggest = float(gains.max()) if len(gains) and gains.max() > 0 else 1.0
    shown = sites.assign(
        _radius=6 + 10 * (gains / biggest) ** 0.5,
        _rank_text=ranks.map(lambda r: "—" if pd.isna(r) else f"第{r:g}位"),
        _gain_text=raw_gains.map(lambda g: "—" if pd.isna(g) else f"{g:,.0f}"),
    )
    popup = {"_rank_text": "建议顺序", "_gain_text": gain_label}
    if label_col and label_col in sites:
        popup = {label_col: "编号"} | popup
    if name_col and name_col in sites and not (
            label_col and label_col in sites and sites[name_col].equals(sites[label_col])):
        popup = {name_col: "名称"} | popup  # a name that is only the id is not shown twice
    layer = add_layer(
        m, shown, name=f"拟建选址（{len(sites)}）", layer_id="proposed-sites",
        popup_fields=popup, tooltip_field="_rank_text", show=show,
        style=lambda row: {"color": "#6a3d9a", "fillColor": "#cab2d6", "fillOpacity": 0.8,
                           "weight": 2, "radius": float(row["_radius"])},
    )
    add_legend(m, "拟建选址", [("#cab2d6", "圆越大，新增覆盖越多")], layers=layer)
    if label_col is not None and len(sites):
        text = label_col if label_col in sites else "_rank_text"
        add_labels(m, shown, text_col=text, name="拟建选址编号", layer_id="proposed-site-labels",
                   follow=layer, side="right")
    return layer


def add_standards_shortfalls(
    m: folium.Map,
    units: gpd.GeoDataFrame,
    *,
    status_col: str = "status",
    shortfall_col: str = "shortfall",
    name_col: str = "name",
    rule_label: str = "标准",
    extra_popup: Mapping[str, str] | None = None,
    layer_id: str = "standards",
    show: bool = True,
    simplify_tolerance_m: float = UNIT_TOLERANCE_M,
) -> folium.GeoJson:
    """Colour admin units by whether they meet a standard, with the shortfall in the popup.

    Parameters
    ----------
    units
        Admin units with ``status_col`` ("pass"/"fail"/"not_computable" as in
        :mod:`geoplan.standards.evaluate`, or a boolean where True = passes) and
        ``shortfall_col`` (how much is missing, in the rule's unit; 0 when met). To map one
        rule of the long results table, join its rows to the units first, e.g.
        ``units.join(results.query("rule_id == @rid").set_index("unit_code")[cols])``.
    rule_label
        Name of the standard for the layer name, e.g. "每百户养老服务用房面积".
    extra_popup
        More ``{column: label}`` pairs, e.g. ``{"value": "现状", "required": "要求"}``.
    show
        Whether the layer is switched on when the map opens.
    simplify_tolerance_m
        Unit outlines are simplified by this many metres before display (metric CRS).

    Returns
    -------
    folium.GeoJson

    Raises
    ------
    OutputError
        If a column is missing, ``status_col`` holds other values than
        pass/fail/not_computable/True/False, or ``shortfall_col`` is not numeric.
    """
    what = "add_standards_shortfalls"
    require_columns(units, [status_col, shortfall_col], what, error=OutputError)
    shortfalls = numeric_column(units, shortfall_col, what)
    status = units[status_col].astype(object)
    known = {"pass": "达标", True: "达标", "fail": "未达标", False: "未达标",
             "not_computable": "无法计算"}
    text = status.map(lambda v: known.get(v))
    if text.isna().any():
        bad = sorted(map(str, status[text.isna()].unique()))
        msg = (f"column {status_col!r} must hold 'pass'/'fail'/'not_computable' (or booleans), "
               f"found {bad}")
        raise OutputError(msg)
    shown = units.assign(
        _status_text=text,
        _shortfall_text=shortfalls.map(lambda v: "—" if pd.isna(v) else f"{v:,.1f}"),
    )
    popup = {name_col: "名称", "_status_text": "是否达标", "_shortfall_text": "缺口"}
    popup |= dict(extra_popup or {})
    colors = {"达标": "#1a9641", "未达标": "#d7191c", "无法计算": "#bdbdbd"}
    n_fail = int((shown["_status_text"] == "未达标").sum())
    layer = add_layer(
        m, shown, name=f"{rule_label}（未达标 {n_fail}）", layer_id=layer_id, popup_fields=popup,
        style=lambda row: {"color": "#555555", "weight": 1, "fillOpacity": 0.55,
                           "fillColor": colors[row["_status_text"]]},
        show=show, simplify_tolerance_m=simplify_tolerance_m * _is_metric(units),
    )
    add_legend(m, rule_label, [(color, label) for label, color in colors.items()],
               layers=layer)
    return layer


_OVERVIEW_ORDER = (
    "towns", "villages", "standards", "uncovered_cells", "service_areas", "boundary_lines",
    "facilities", "boundary_markers", "proposed_sites", "findings",
)
#: Layer kinds of the boundary joint inspection: on when the map opens only when the map
#: shows nothing else of a study (an inspection-only study).
INSPECTION_KINDS = ("boundary_lines", "boundary_markers", "findings")
#: Colour of the service areas of a map that shows one facility type's (blue: apart from the
#: red-to-green coverage classes and the magenta gaps under them).
SERVICE_AREA_COLOR = "#2166ac"
#: Layer kinds of the service analysis.
_ANALYSIS_KINDS = ("towns", "villages", "standards", "uncovered_cells", "service_areas",
                   "proposed_sites")


def overview_map(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    admin_units: gpd.GeoDataFrame | None = None,
    basemap: str = "none",
    tianditu_tk: str | None = None,
    title: str | None = None,
    shown_facility_types: Collection[str] | None = None,
    shown_service_area_types: Collection[str] | None = None,
    show_inspection: bool | None = None,
    town_labels: bool = True,
) -> folium.Map:
    """Return a map with every layer given, drawn by its builder, plus a layer control.

    What is on when the map opens: the 镇街 coverage, the uncovered cells, the service
    areas, the proposed sites, the 镇街 names and the facility types asked for; the
    社区/村 coverage and the standard are off (they cover the 镇街 coverage), and the
    inspection layers are on only in an inspection map (see ``show_inspection``). One legend
    panel shows the legends of the layers that are on.

    Parameters
    ----------
    layers
        ``{kind: layer}`` with kinds ``towns`` and ``villages`` (with ``pop_60plus_share``),
        ``standards`` (its ``attrs["rule_label"]`` names the rule), ``uncovered_cells``,
        ``service_areas`` (per type, or per type and tier), ``facilities``,
        ``proposed_sites``, ``boundary_lines``, ``boundary_markers``, ``findings``; each with
        its builder's default columns. Drawn areas first, then lines, then points (order:
        towns, villages, standards, uncovered_cells, service_areas, boundary_lines,
        facilities, boundary_markers, proposed_sites, findings).
    admin_units
        Admin units to name each facility's 镇街 in popups (and to label the 镇街 when
        there is no ``towns`` layer).
    basemap, tianditu_tk, title
        As in :func:`base_map`.
    shown_facility_types
        Facility types switched on when the map opens (default: all), see
        :func:`add_facilities`.
    shown_service_area_types
        Facility types whose service areas are on when the map opens (default: all).
    show_inspection
        Whether the boundary lines, markers and findings are on when the map opens;
        ``None``: only when the map has no analysis layer (an inspection-only study).
    town_labels
        Write the 镇街 names on the map (a layer "镇街名称", on).

    Returns
    -------
    folium.Map

    Raises
    ------
    OutputError
        An unknown kind, no layers at all, or only empty layers.
    """
    unknown = set(layers) - set(_OVERVIEW_ORDER)
    if unknown or not layers:
        msg = (f"overview_map: unknown layer kinds {sorted(unknown)}" if unknown
               else "overview_map needs at least one layer")
        raise OutputError(msg)
    drawable = [kind for kind, g in layers.items()
                if not (shapely.is_missing(geoms := g.geometry.to_numpy())
                        | shapely.is_empty(geoms)).all()]
    if not drawable:
        msg = "overview_map: every layer is empty, there is nothing to map"
        raise OutputError(msg)
    if show_inspection is None:
        show_inspection = not any(kind in layers for kind in _ANALYSIS_KINDS)
    extent = layers["towns" if "towns" in drawable else drawable[0]]
    m = base_map(extent, basemap=basemap, tianditu_tk=tianditu_tk, title=title)
    builders = {
        "towns": lambda g: add_coverage_choropleth(m, g),
        "villages": lambda g: add_coverage_choropleth(
            m, g, level_name="社区/村", layer_id="coverage-village", show=False),
        "standards": lambda g: add_standards_shortfalls(
            m, g, rule_label=g.attrs.get("rule_label", "标准"), show=False),
        "uncovered_cells": lambda g: add_uncovered_cells(m, g),
        "service_areas": lambda g: add_service_areas(
            m, g, show=True, shown_types=shown_service_area_types,
            color=SERVICE_AREA_COLOR if _n_types(g) == 1 else None),
        "boundary_lines": lambda g: add_boundary_lines(m, g, show=show_inspection),
        "facilities": lambda g: add_facilities(m, g, admin_units=admin_units,
                                               shown_types=shown_facility_types),
        "boundary_markers": lambda g: add_boundary_markers(m, g, show=show_inspection),
        "proposed_sites": lambda g: add_proposed_sites(m, g),
        "findings": lambda g: add_findings(m, g, show=show_inspection),
    }
    for kind in _OVERVIEW_ORDER:
        if kind in layers:
            builders[kind](layers[kind])
    if town_labels:
        _add_town_labels(m, layers.get("towns"), admin_units)
    add_layer_control(m)
    return m


def _n_types(areas: gpd.GeoDataFrame, type_col: str = "facility_type") -> int:
    """Return how many facility types a service-area layer holds (column or first index level)."""
    if type_col in areas.columns:
        return int(areas[type_col].nunique())
    return int(areas.index.get_level_values(0).nunique())


def _add_town_labels(m: folium.Map, towns: gpd.GeoDataFrame | None,
                     admin_units: gpd.GeoDataFrame | None) -> None:
    """Label the 镇街 with their names, from the ``towns`` layer or the admin units."""
    if towns is None and admin_units is not None and "level" in admin_units.columns:
        towns = admin_units[admin_units["level"] == "town"]
    if towns is not None and len(towns) and "name" in towns.columns:
        add_labels(m, towns, text_col="name", name="镇街名称", layer_id="town-labels")
