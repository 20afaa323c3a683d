"""Printable thematic maps (专题图) on A4/A3 sheets, saved as PNG and PDF.

Five themes: coverage per unit, gaps (uncovered cells), proposed sites, standards
shortfall and boundary-inspection findings.

Each map follows the conventions of a Chinese thematic map: 图名 at the top; the map in a neat
line at a round scale (比例尺 1:n, exact when the sheet is printed at 100 %); 图例; a scale bar
(matplotlib-scalebar); a north arrow; and under the map the coordinate system, the data
sources, the date and the working-map note. Coverage and gap classes are those of the
interactive map (:mod:`geoplan.maps`: a class holds its lower limit), so both maps colour a
unit alike; shortfalls are classed by natural breaks (mapclassify Fisher-Jenks). Layers are
taken in the study's metric CRS (CGCS2000 Gauss-Krüger, metres) and drawn in it, so grid north is
up. Inputs are never modified. Text is set in the packaged Noto Sans SC
(:func:`geoplan.report.charts.chinese_rc`), so the maps need no system font.

Typical use::

    towns = maps.units_with_coverage(study.admin_units, coverage, facility_type="elderly_station")
    fig = coverage_map(towns, title="晋江市居家养老服务站15分钟服务圈覆盖率",
                       sources=["行政区划：统计用区划代码", "人口：第七次全国人口普查"])
    write_map_files(fig, "out/maps/覆盖率")  # 覆盖率.png and 覆盖率.pdf
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
from collections.abc import Mapping, Sequence

import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd
import shapely
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from geoplan.errors import OutputError, require_columns
from geoplan.maps._basemaps import INTERNAL_NOTE
from geoplan.maps._boundary import FINDING_KIND_ZH
from geoplan.maps._core import (
    SHARE_BINS,
    SHARE_COLORS,
    bin_labels,
    binned_colors,
    boolean_column,
    numeric_column,
)
from geoplan.maps._facilities import facility_type_name, type_color
from geoplan.maps._sheet import (
    PAPER_SIZES_MM,
    SheetText,
    check_layers,
    crs_note_zh,
    finish_sheet,
    in_chinese_font,
    new_sheet,
    round_scale_denominator,
    write_map_files,
)

__all__ = [
    "PAPER_SIZES_MM",
    "boundary_findings_map",
    "coverage_map",
    "crs_note_zh",
    "gaps_map",
    "proposed_sites_map",
    "round_scale_denominator",
    "shortfall_map",
    "write_map_files",
]

logger = logging.getLogger(__name__)

_NO_DATA = "#d9d9d9"
_COVERED = "#e5f5e0"
_GAP_COLORS = ("#fbb4b9", "#f768a1", "#dd3497", "#ae017e", "#7a0177")
_SHORTFALL_COLORS = ("#fcbba1", "#fb6a4a", "#de2d26", "#a50f15")
_FINDING_COLORS = ("#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628",
                   "#f781bf", "#17becf", "#999999", "#bcbd22", "#1f3a93")
_FINDING_MARKERS = ("o", "s", "D", "v")
#: Units are labelled with their names when there are at most this many.
MAX_LABELLED_UNITS = 80


def _outline(ax: Axes, units: gpd.GeoDataFrame, *, labels: bool = True,
             name_col: str = "name") -> None:
    """Draw the unit boundaries, the outer boundary bolder, and the unit names."""
    units.boundary.plot(ax=ax, color="#6b6b6b", linewidth=0.4, zorder=3)
    outer = gpd.GeoSeries([shapely.union_all(units.geometry.to_numpy())], crs=units.crs)
    outer.boundary.plot(ax=ax, color="#222222", linewidth=1.2, zorder=3)
    if labels and name_col in units.columns and len(units) <= MAX_LABELLED_UNITS:
        backdrop = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none",
                    "alpha": 0.6}  # a halo as path effect would turn the text into outlines
        for name, point in zip(units[name_col], units.geometry.representative_point(),
                               strict=True):
            if isinstance(name, str) and name and not point.is_empty:
                ax.text(point.x, point.y, name, fontsize=6.5, ha="center", va="center",
                        bbox=backdrop, zorder=6, gid="unit-label")


def _fill(ax: Axes, layer: gpd.GeoDataFrame, colors: Sequence[str]) -> None:
    """Fill each feature of ``layer`` with its colour (one plot per colour)."""
    colors = np.asarray(colors, dtype=object)
    for color in dict.fromkeys(colors):
        layer[colors == color].plot(ax=ax, color=color, linewidth=0, zorder=1)


def _draw_cells(ax: Axes, cells: gpd.GeoDataFrame, colors: np.ndarray) -> None:
    """Draw population cells, one colour each, as one rasterised collection.

    Square cells become one PolyCollection and cell centres one scatter: five times faster
    than a patch per polygon for the tens of thousands of cells of a county.
    """
    geoms = cells.geometry.to_numpy()
    shown = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    geoms, colors = geoms[shown], colors[shown]
    kinds = shapely.get_type_id(geoms)
    if (kinds == shapely.GeometryType.POINT).all():
        ax.scatter(shapely.get_x(geoms), shapely.get_y(geoms), c=list(colors), s=4, marker="s",
                   linewidths=0, zorder=1, rasterized=True)
    elif ((kinds == shapely.GeometryType.POLYGON).all()
          and (shapely.get_num_interior_rings(geoms) == 0).all()):
        coords, index = shapely.get_coordinates(shapely.get_exterior_ring(geoms),
                                                return_index=True)
        rings = np.split(coords, np.flatnonzero(np.diff(index)) + 1) if len(coords) else []
        ax.add_collection(PolyCollection(rings, facecolors=list(colors), linewidths=0,
                                         zorder=1, rasterized=True))
    else:  # multipart or holed cells: one layer per colour
        for color in dict.fromkeys(colors):
            cells[shown][colors == color].plot(ax=ax, color=color, linewidth=0, zorder=1,
                                               rasterized=True)


def _patches(colors: Sequence[str], labels: Sequence[str]) -> list[Patch]:
    return [Patch(facecolor=c, edgecolor="#6b6b6b", linewidth=0.4, label=label)
            for c, label in zip(colors, labels, strict=True)]


def _facility_points(ax: Axes, facilities: gpd.GeoDataFrame, type_col: str) -> list[Line2D]:
    """Draw facilities as dots, one colour per type; return their legend entries."""
    types = (facilities[type_col].astype(object).where(facilities[type_col].notna(), "untyped")
             if type_col in facilities.columns else pd.Series("untyped", index=facilities.index))
    handles = []
    for key in sorted(types.unique(), key=str):
        part = facilities[(types == key).to_numpy()]
        color = type_color(str(key))
        part.plot(ax=ax, color=color, markersize=16, edgecolor="white", linewidth=0.5, zorder=7)
        handles.append(Line2D([], [], marker="o", linestyle="", markersize=6,
                              markerfacecolor=color, markeredgecolor="white",
                              label=f"{facility_type_name(str(key))}（{len(part)}）"))
    return handles


def _shares(units: gpd.GeoDataFrame, share_col: str, what: str) -> pd.Series:
    shares = numeric_column(units, share_col, what)
    outside = (shares < -1e-9) | (shares > 1 + 1e-9)
    if outside.any():
        rows = ", ".join(f"{i} ({v:g})" for i, v in shares[outside].iloc[:5].items())
        msg = f"{what}: column {share_col!r} must be a fraction in [0, 1]; outside it: {rows}"
        raise OutputError(msg)
    return shares.clip(0.0, 1.0)


@in_chinese_font
def coverage_map(
    units: gpd.GeoDataFrame,
    *,
    title: str,
    share_col: str = "pop_60plus_share",
    share_label: str = "60岁以上老人覆盖率",
    facilities: gpd.GeoDataFrame | None = None,
    type_col: str = "facility_type",
    name_col: str = "name",
    sources: Sequence[str] = (),
    date: dt.date | None = None,
    note: str = INTERNAL_NOTE,
    paper: str = "A4",
    orientation: str = "auto",
) -> Figure:
    """Return a printable map of coverage per unit (镇街 or 社区/村), in five share classes.

    Parameters
    ----------
    units
        Admin units with ``share_col`` as a fraction in [0, 1], e.g. from
        :func:`geoplan.maps.units_with_coverage`; in the study's metric CRS. Units without a
        share are drawn grey (无数据). They set the map's extent.
    title
        图名, e.g. "晋江市居家养老服务站15分钟服务圈覆盖率".
    share_col, share_label
        The share column and its Chinese name (legend).
    facilities
        Optional facility points drawn on top, one colour per ``type_col`` value.
    name_col
        Unit names, written on the map when there are at most :data:`MAX_LABELLED_UNITS`.
    sources
        Data sources for the footer (数据来源), e.g. ``["人口：第七次全国人口普查"]``.
    date
        制图日期 (default: today).
    note
        The working-map note in the footer ("" for none).
    paper, orientation
        ``"A4"`` or ``"A3"``; ``"auto"`` (the orientation with the larger scale),
        ``"portrait"`` or ``"landscape"``.

    Returns
    -------
    matplotlib.figure.Figure
        The sheet at paper size, laid out; save it with :func:`write_map_files`. Its artists
        carry gids: ``title``, ``map``, ``legend``, ``scale-bar``, ``north-arrow``,
        ``scale-text``, ``crs-note``, ``sources``, ``date``, ``note``.

    Raises
    ------
    OutputError
        A missing or non-numeric share column, shares outside [0, 1], no unit geometry,
        an unknown paper size or orientation.
    CRSError
        Layers not in one metric CRS.
    """
    what = "coverage_map"
    crs = check_layers(units, facilities=facilities)
    shares = _shares(units, share_col, what)
    sheet = SheetText(title, sources, date, note, paper, orientation)
    fig, ax, denominator = new_sheet(units, sheet)
    _fill(ax, units, binned_colors(shares, SHARE_BINS, SHARE_COLORS, missing=_NO_DATA))
    _outline(ax, units, name_col=name_col)
    handles: list[object] = _patches(SHARE_COLORS, bin_labels(SHARE_BINS, percent=True))
    if shares.isna().any():
        handles.append(Patch(facecolor=_NO_DATA, edgecolor="#6b6b6b", label="无数据"))
    if facilities is not None and len(facilities):
        handles += _facility_points(ax, facilities, type_col)
    return finish_sheet(fig, ax, denominator=denominator, crs=crs,
                        legend_title=f"图例　{share_label}", handles=handles, sheet=sheet,
                        units=units)


@in_chinese_font
def gaps_map(
    cells: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    title: str,
    covered_col: str = "covered",
    pop_col: str = "pop_60plus",
    pop_label: str = "60岁以上人口",
    bins: Sequence[float] | None = None,
    name_col: str = "name",
    sources: Sequence[str] = (),
    date: dt.date | None = None,
    note: str = INTERNAL_NOTE,
    paper: str = "A4",
    orientation: str = "auto",
) -> Figure:
    """Return a printable map of the population cells nobody covers, classed by people.

    Parameters
    ----------
    cells
        Population cells (polygons or points) with a boolean ``covered_col`` and the count
        ``pop_col``; covered cells are drawn light green, uncovered ones in classes.
    units
        Admin units drawn as the base (boundaries and names); they set the extent.
    bins
        Class limits from 0 ending in ``inf`` (a class holds its lower limit); default: the
        limits of the interactive map (:func:`geoplan.maps.quantile_class_limits` of the
        uncovered cells).

    Other parameters are as in :func:`coverage_map`.

    Returns
    -------
    matplotlib.figure.Figure
        As in :func:`coverage_map`. Cell layers are rasterised in the PDF (they can be tens
        of thousands of squares).

    Raises
    ------
    OutputError
        ``covered_col`` not boolean, ``pop_col`` not numeric, bins not increasing, and as
        in :func:`coverage_map`.
    CRSError
        Layers not in one metric CRS.
    """
    from geoplan.maps.overview import quantile_class_limits

    what = "gaps_map"
    crs = check_layers(units, cells=cells)
    covered = boolean_column(cells, covered_col, what)
    gaps = cells[~covered.to_numpy()]
    people = numeric_column(gaps, pop_col, what)
    limits = tuple(float(b) for b in bins) if bins is not None else quantile_class_limits(people)
    n = len(limits) - 1
    if not 1 <= n <= len(_GAP_COLORS) or any(b <= a for a, b in itertools.pairwise(limits)):
        msg = (f"{what}: bins must be 2 to {len(_GAP_COLORS) + 1} increasing limits, "
               f"e.g. (0, 20, 50, inf); got {limits}")
        raise OutputError(msg)
    colors = _GAP_COLORS[len(_GAP_COLORS) - n:]
    sheet = SheetText(title, sources, date, note, paper, orientation)
    fig, ax, denominator = new_sheet(units, sheet)
    shade = np.full(len(cells), _COVERED, dtype=object)
    shade[~covered.to_numpy()] = binned_colors(people, limits, colors, missing=_NO_DATA)
    _draw_cells(ax, cells, shade)
    _outline(ax, units, name_col=name_col)
    labels = [f"≥{lo:,.0f}人" if math.isinf(hi) else f"{lo:,.0f}–{hi:,.0f}人"
              for lo, hi in itertools.pairwise(limits)]
    handles: list[object] = _patches(colors, labels) if len(gaps) else []
    handles.append(Patch(facecolor=_COVERED, edgecolor="#6b6b6b", linewidth=0.4,
                         label="已覆盖网格"))
    legend_title = f"图例　未覆盖网格{pop_label}（{len(gaps):,}格）"
    return finish_sheet(fig, ax, denominator=denominator, crs=crs, legend_title=legend_title,
                        handles=handles, sheet=sheet, units=units)


def _site_diameters_pt(gains: pd.Series) -> tuple[pd.Series, float]:
    biggest = float(gains.max()) if len(gains) and gains.max() > 0 else 1.0
    return 6 + 12 * (gains / biggest) ** 0.5, biggest


@in_chinese_font
def proposed_sites_map(
    sites: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    title: str,
    existing: gpd.GeoDataFrame | None = None,
    gain_col: str = "new_pop_60plus",
    rank_col: str = "rank",
    gain_label: str = "新增覆盖60岁以上人口",
    name_col: str = "name",
    sources: Sequence[str] = (),
    date: dt.date | None = None,
    note: str = INTERNAL_NOTE,
    paper: str = "A4",
    orientation: str = "auto",
) -> Figure:
    """Return a printable map of proposed sites, sized by their gain and numbered by rank.

    Parameters
    ----------
    sites
        Points with ``rank`` (1 = chosen first) and ``gain_col`` (what each adds when opened
        in rank order), as :func:`geoplan.siting.rank_sites_by_marginal_gain` names them.
    units
        Admin units drawn as the base; they set the extent.
    existing
        Optional existing facilities of the same type, drawn as grey dots.
    gain_label
        Chinese name of the gain (legend).

    Other parameters are as in :func:`coverage_map`.

    Returns
    -------
    matplotlib.figure.Figure
        As in :func:`coverage_map`; the legend shows three reference circle sizes.

    Raises
    ------
    OutputError
        ``gain_col`` or ``rank_col`` missing or not numeric, and as in :func:`coverage_map`.
    CRSError
        Layers not in one metric CRS.
    """
    what = "proposed_sites_map"
    crs = check_layers(units, sites=sites, existing=existing)
    ranks = numeric_column(sites, rank_col, what)
    gains = numeric_column(sites, gain_col, what).fillna(0.0).clip(lower=0.0)
    sheet = SheetText(title, sources, date, note, paper, orientation)
    fig, ax, denominator = new_sheet(units, sheet)
    units.plot(ax=ax, color="#f7f7f7", linewidth=0, zorder=0)
    _outline(ax, units, name_col=name_col)
    handles: list[object] = []
    if existing is not None and len(existing):
        existing.plot(ax=ax, color="#8c8c8c", markersize=6, zorder=4)
        handles.append(Line2D([], [], marker="o", linestyle="", markersize=4,
                              markerfacecolor="#8c8c8c", markeredgecolor="#8c8c8c",
                              label=f"现有设施（{len(existing)}）"))
    diameters, biggest = _site_diameters_pt(gains)
    points = sites.geometry.representative_point()
    ax.scatter(points.x, points.y, s=diameters.to_numpy() ** 2, color="#cab2d6",
               edgecolor="#6a3d9a", linewidth=1.2, zorder=7, gid="proposed-sites")
    for point, rank in zip(points, ranks, strict=True):
        if pd.notna(rank):
            ax.text(point.x, point.y, f"{rank:g}", fontsize=6.5, ha="center", va="center",
                    color="#3f007d", zorder=8)
    handles.append(Line2D([], [], marker="o", linestyle="", markersize=8,
                          markerfacecolor="#cab2d6", markeredgecolor="#6a3d9a",
                          label=f"拟建选址（{len(sites)}，数字为建议顺序）"))
    for share in (1.0, 0.5, 0.1) if len(sites) else ():
        handles.append(Line2D([], [], marker="o", linestyle="", markersize=6 + 12 * share ** 0.5,
                              markerfacecolor="none", markeredgecolor="#6a3d9a",
                              label=f"{gain_label} {biggest * share:,.0f}"))
    return finish_sheet(fig, ax, denominator=denominator, crs=crs, legend_title="图例",
                        handles=handles, sheet=sheet, units=units)


_STATUS_ZH = {"pass": "达标", True: "达标", "fail": "未达标", False: "未达标",
              "not_computable": "无法计算"}


def _status_text(units: gpd.GeoDataFrame, status_col: str) -> pd.Series:
    status = units[status_col].astype(object)
    text = status.map(lambda v: _STATUS_ZH.get(v))
    if text.isna().any():
        bad = sorted(map(str, status[text.isna()].unique()))
        msg = (f"column {status_col!r} must hold 'pass'/'fail'/'not_computable' (or booleans), "
               f"found {bad}")
        raise OutputError(msg)
    return text


def _shortfall_classes(values: pd.Series, k: int) -> tuple[pd.Series, list[str]]:
    """Natural-breaks (Fisher-Jenks) classes of the shortfalls; labels ``a–b``."""
    distinct = int(values.nunique())
    if distinct <= 1:
        label = f"{values.iloc[0]:,.1f}" if len(values) else ""
        return pd.Series(0, index=values.index), [label] if len(values) else []
    fj = mapclassify.FisherJenks(values.to_numpy(float), k=min(k, distinct))
    lows = [float(values.min()), *fj.bins[:-1]]
    labels = [f"{lo:,.1f}–{hi:,.1f}" for lo, hi in zip(lows, fj.bins, strict=True)]
    return pd.Series(fj.yb, index=values.index), labels


@in_chinese_font
def shortfall_map(
    units: gpd.GeoDataFrame,
    *,
    title: str,
    rule_label: str,
    status_col: str = "status",
    shortfall_col: str = "shortfall",
    shortfall_unit: str = "",
    n_classes: int = 4,
    name_col: str = "name",
    sources: Sequence[str] = (),
    date: dt.date | None = None,
    note: str = INTERNAL_NOTE,
    paper: str = "A4",
    orientation: str = "auto",
) -> Figure:
    """Return a printable map of one standard: units that pass, and the shortfall of the rest.

    Parameters
    ----------
    units
        Admin units with ``status_col`` ("pass"/"fail"/"not_computable", or booleans) and
        ``shortfall_col`` (how much is missing, in the rule's unit), e.g. one rule of
        :func:`geoplan.standards.compliance_gdf`.
    rule_label
        The standard's Chinese name for the legend, e.g. "每百户社区服务设施面积".
    shortfall_unit
        Unit of the shortfall for the legend, e.g. "m²".
    n_classes
        Most classes of the failing units' shortfall (natural breaks, mapclassify
        Fisher-Jenks; fewer when there are fewer distinct values).

    Other parameters are as in :func:`coverage_map`.

    Returns
    -------
    matplotlib.figure.Figure
        As in :func:`coverage_map`.

    Raises
    ------
    OutputError
        A missing column, a status other than the ones above, a non-numeric shortfall,
        ``n_classes`` < 1, and as in :func:`coverage_map`.
    CRSError
        Units not in a metric CRS.
    """
    what = "shortfall_map"
    crs = check_layers(units)
    require_columns(units, [status_col, shortfall_col], what, error=OutputError)
    if n_classes < 1:
        msg = f"{what}: n_classes must be at least 1, got {n_classes}"
        raise OutputError(msg)
    status = _status_text(units, status_col)
    shortfalls = numeric_column(units, shortfall_col, what)
    failing = (status == "未达标").to_numpy()
    classes, labels = _shortfall_classes(shortfalls[failing].fillna(0.0), n_classes)
    colors = list(_SHORTFALL_COLORS[-len(labels):]) if labels else []
    sheet = SheetText(title, sources, date, note, paper, orientation)
    fig, ax, denominator = new_sheet(units, sheet)
    shown = {"达标": "#c7e9c0", "无法计算": _NO_DATA}
    for text, color in shown.items():
        part = units[(status == text).to_numpy()]
        if len(part):
            part.plot(ax=ax, color=color, linewidth=0, zorder=1)
    _fill(ax, units[failing], [colors[k] for k in classes])
    _outline(ax, units, name_col=name_col)
    handles: list[object] = [Patch(facecolor=shown["达标"], edgecolor="#6b6b6b", label="达标")]
    handles += _patches(colors, [f"未达标，缺口 {t}{shortfall_unit}" for t in labels])
    if (status == "无法计算").any():
        handles.append(Patch(facecolor=_NO_DATA, edgecolor="#6b6b6b", label="无法计算"))
    return finish_sheet(fig, ax, denominator=denominator, crs=crs,
                        legend_title=f"图例　{rule_label}", handles=handles, sheet=sheet,
                        units=units)


@in_chinese_font
def boundary_findings_map(
    findings: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    title: str,
    lines: gpd.GeoDataFrame | None = None,
    markers: gpd.GeoDataFrame | None = None,
    kind_col: str = "kind",
    kind_labels: Mapping[str, str] | None = None,
    name_col: str = "name",
    sources: Sequence[str] = (),
    date: dt.date | None = None,
    note: str = INTERNAL_NOTE,
    paper: str = "A4",
    orientation: str = "auto",
) -> Figure:
    """Return a printable map of boundary joint-inspection findings over the units.

    Parameters
    ----------
    findings
        The joint-inspection findings (:mod:`geoplan.boundary.findings`) with ``kind_col``;
        each located finding is drawn as its geometry and a ring at its location (a 35 m²
        gap is invisible at county scale), one colour per kind. Findings without a
        geometry are counted in the legend.
    units
        Admin units drawn as the base; they set the extent.
    lines, markers
        Optional boundary lines (界线) and markers (界桩) to draw.
    kind_labels
        Chinese names of kinds, added to (and overriding) the registry's names.

    Other parameters are as in :func:`coverage_map`.

    Returns
    -------
    matplotlib.figure.Figure
        As in :func:`coverage_map`.

    Raises
    ------
    OutputError
        ``kind_col`` missing, and as in :func:`coverage_map`.
    CRSError
        Layers not in one metric CRS.
    """
    crs = check_layers(units, findings=findings, lines=lines, markers=markers)
    require_columns(findings, [kind_col], "boundary_findings_map", error=OutputError)
    names = FINDING_KIND_ZH | dict(kind_labels or {})
    geoms = findings.geometry.to_numpy()
    located = findings[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    sheet = SheetText(title, sources, date, note, paper, orientation)
    fig, ax, denominator = new_sheet(units, sheet)
    units.plot(ax=ax, color="#f7f7f7", linewidth=0, zorder=0)
    _outline(ax, units, name_col=name_col)
    handles: list[object] = []
    if lines is not None and len(lines):
        lines.plot(ax=ax, color="#333333", linewidth=1.4, linestyle="-.", zorder=4)
        handles.append(Line2D([], [], color="#333333", linewidth=1.4, linestyle="-.",
                              label=f"行政区域界线（{len(lines)}）"))
    if markers is not None and len(markers):
        markers.plot(ax=ax, color="#1f3a93", marker="^", markersize=10, zorder=5)
        handles.append(Line2D([], [], marker="^", linestyle="", color="#1f3a93",
                              label=f"界桩（{len(markers)}）"))
    kinds = located[kind_col].astype(str)
    for i, kind in enumerate(sorted(kinds.unique())):
        color = _FINDING_COLORS[i % len(_FINDING_COLORS)]  # more kinds than colours: the
        marker = _FINDING_MARKERS[i // len(_FINDING_COLORS) % len(_FINDING_MARKERS)]  # shape
        part = located[(kinds == kind).to_numpy()]
        part.plot(ax=ax, color=color, edgecolor=color, linewidth=2, alpha=0.6, zorder=6)
        where = part.geometry.representative_point()
        ax.scatter(where.x, where.y, s=90, marker=marker, facecolor="none", edgecolor=color,
                   linewidth=1.6, zorder=7)
        handles.append(Line2D([], [], marker=marker, linestyle="", markersize=8,
                              markerfacecolor="none", markeredgecolor=color,
                              label=f"{names.get(kind, kind)}（{len(part)}）"))
    if len(located) < len(findings):
        handles.append(Patch(facecolor="none", edgecolor="none",
                             label=f"另有{len(findings) - len(located)}项无位置（见联检报告）"))
    return finish_sheet(fig, ax, denominator=denominator, crs=crs, legend_title="图例　联检发现",
                        handles=handles, sheet=sheet, units=units)
