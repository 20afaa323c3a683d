"""The sheet of a printable thematic map, and writing it as PNG and PDF.

A sheet is the paper (A4/A3), the map frame at a round scale, the title, legend, scale bar,
north arrow and footer (coordinate system, sources, date, note).

Used by :mod:`geoplan.maps.static`, which draws the themes inside the frame.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec

import geopandas as gpd
import matplotlib as mpl
import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib_scalebar.scalebar import ScaleBar
from pyproj import CRS

from geoplan._fonts import chinese_rc
from geoplan.crs import require_metric
from geoplan.errors import CRSError, OutputError
from geoplan.io import atomic_write

logger = logging.getLogger(__name__)
P = ParamSpec("P")

#: Paper sizes (width, height) in millimetres, portrait.
PAPER_SIZES_MM = {"A4": (210.0, 297.0), "A3": (297.0, 420.0)}
_MM_PER_IN = 25.4
#: Sheet layout in millimetres: outer margin, title band above and footer band below the map.
_MARGIN_MM, _TITLE_MM, _FOOTER_MM = 12.0, 20.0, 17.0
#: Mantissas of the round scales offered (1:10 000, 1:15 000, 1:20 000, 1:25 000 …).
_ROUND_SCALES = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)


def round_scale_denominator(needed: float) -> int:
    """Return the smallest round scale denominator at least ``needed``.

    Round scales are 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10^k (1:10 000, 1:150 000 …).

    Raises
    ------
    OutputError
        If ``needed`` is not a positive finite number.
    """
    if not (math.isfinite(needed) and needed > 0):
        msg = f"a map scale needs a positive extent, got a scale denominator of {needed!r}"
        raise OutputError(msg)
    power = 10.0 ** math.floor(math.log10(needed))
    return round(next(m * power for m in (*_ROUND_SCALES, 10.0)
                      if m * power >= needed * (1 - 1e-12)))


def _frame_mm(paper: str, landscape: bool) -> tuple[float, float, float, float]:
    """Return the sheet (width, height) and the map frame (width, height) in millimetres."""
    if paper not in PAPER_SIZES_MM:
        msg = f"paper must be one of {sorted(PAPER_SIZES_MM)}, got {paper!r}"
        raise OutputError(msg)
    w, h = PAPER_SIZES_MM[paper]
    if landscape:
        w, h = h, w
    return w, h, w - 2 * _MARGIN_MM, h - 2 * _MARGIN_MM - _TITLE_MM - _FOOTER_MM


def _layout(bounds: np.ndarray, paper: str, orientation: str) -> tuple[bool, int]:
    """Choose the orientation (landscape?) and the round scale that fit ``bounds`` (metres)."""
    if orientation not in ("auto", "portrait", "landscape"):
        msg = f"orientation must be 'auto', 'portrait' or 'landscape', got {orientation!r}"
        raise OutputError(msg)
    width_m = max(bounds[2] - bounds[0], 1.0) * 1.06  # a little air inside the neat line
    height_m = max(bounds[3] - bounds[1], 1.0) * 1.06
    options = [o == "landscape" for o in ("portrait", "landscape")
               if orientation in ("auto", o)]
    best = None
    for landscape in options:
        _, _, fw, fh = _frame_mm(paper, landscape)
        needed = max(width_m / (fw / 1000), height_m / (fh / 1000))
        denominator = round_scale_denominator(needed)
        if best is None or denominator < best[1]:
            best = (landscape, denominator)
    return best


def crs_note_zh(crs: object) -> str:
    """Return the coordinate system as a Chinese map footer states it.

    For the CGCS2000 Gauss-Krüger zones: ``坐标系：2000国家大地坐标系（CGCS2000），
    高斯-克吕格投影，3度带，中央经线120°E（EPSG:4549）``; other metric systems by name.

    Raises
    ------
    CRSError
        If the CRS is missing, geographic or not in metres.
    """
    crs = require_metric(crs, "static map layers")
    geodetic = crs.geodetic_crs.name if crs.geodetic_crs else ""
    datum = ("2000国家大地坐标系（CGCS2000）" if "2000" in geodetic and "China" in geodetic
             else geodetic or crs.name)
    epsg = crs.to_epsg()
    code = f"（EPSG:{epsg}）" if epsg else ""
    operation = crs.coordinate_operation
    if operation is None or "Transverse Mercator" not in operation.method_name:
        return f"坐标系：{datum}，{crs.name}{code}"
    params = {p.name: p.value for p in operation.params}
    lon0 = params.get("Longitude of natural origin", float("nan"))
    zone = "3度带，" if "3-degree" in crs.name else "6度带，" if "6-degree" in crs.name else ""
    return f"坐标系：{datum}，高斯-克吕格投影，{zone}中央经线{lon0:g}°E{code}"


@dataclass(frozen=True)
class SheetText:
    """What a sheet says besides the map: title, sources, date, note, paper and orientation."""

    title: str
    sources: Sequence[str]
    date: dt.date | None
    note: str
    paper: str
    orientation: str


def check_layers(units: gpd.GeoDataFrame, **others: gpd.GeoDataFrame | None) -> CRS:
    """Return the units' metric CRS after checking every other layer shares it.

    Raises
    ------
    CRSError
        Units not in a metric CRS, or another layer (named by its keyword) in another CRS.
    OutputError
        No unit geometry to set the extent.
    """
    crs = require_metric(units, "units")
    if units.empty or shapely.is_empty(units.geometry.to_numpy()).all():
        msg = "a static map needs units with geometries (they set the map's extent)"
        raise OutputError(msg)
    for name, layer in others.items():
        if layer is not None and (layer.crs is None or CRS.from_user_input(layer.crs) != crs):
            msg = (f"{name} is in {layer.crs}, the units in EPSG:{crs.to_epsg()}; "
                   f"project it first, e.g. {name}.to_crs(units.crs)")
            raise CRSError(msg)
    return crs


def new_sheet(units: gpd.GeoDataFrame, sheet: SheetText) -> tuple[Figure, Axes, int]:
    """Return a sheet with its title and an empty map frame at a round scale; and the scale."""
    bounds = units.total_bounds
    landscape, denominator = _layout(bounds, sheet.paper, sheet.orientation)
    w, h, fw, fh = _frame_mm(sheet.paper, landscape)
    fig = Figure(figsize=(w / _MM_PER_IN, h / _MM_PER_IN), dpi=150)
    FigureCanvasAgg(fig)
    bottom = _MARGIN_MM + _FOOTER_MM
    ax = fig.add_axes((_MARGIN_MM / w, bottom / h, fw / w, fh / h), gid="map")
    cx, cy = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    half_w, half_h = fw / 1000 * denominator / 2, fh / 1000 * denominator / 2
    ax.set_xlim(cx - half_w, cx + half_w)
    ax.set_ylim(cy - half_h, cy + half_h)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_linewidth(1.2)
    ax.set_autoscale_on(False)  # drawing the layers must not move the frame
    fig.text(0.5, 1 - (_MARGIN_MM + _TITLE_MM * 0.45) / h, sheet.title, ha="center",
             va="center", fontsize=18 if sheet.paper == "A4" else 22, gid="title")
    return fig, ax, denominator


def _fit_title(fig: Figure, renderer: RendererBase) -> None:
    """Shrink the title to the sheet's width (down to 11 pt), then break it into two lines."""
    (title,) = (t for t in fig.texts if t.get_gid() == "title")
    room = fig.bbox.width * (1 - 2 * _MARGIN_MM / (fig.get_size_inches()[0] * _MM_PER_IN))
    while title.get_window_extent(renderer).width > room and title.get_fontsize() > 11:
        title.set_fontsize(title.get_fontsize() - 1)
    text = title.get_text()
    if title.get_window_extent(renderer).width > room and "\n" not in text:
        middle = len(text) // 2
        breaks = [i + 1 for i, ch in enumerate(text) if ch in "）)，, "] or [middle]
        cut = min(breaks, key=lambda i: abs(i - middle))
        title.set_text(f"{text[:cut].rstrip()}\n{text[cut:].lstrip()}")


def _fit_sources(fig: Figure, renderer: RendererBase, *, max_lines: int = 3) -> None:
    """Break the sources line at its ``；`` to the sheet's width; shrink it past ``max_lines``.

    The sources are the last footer line on the left, under which the footer has room for
    two more lines; the right column (date, note) stops above them.
    """
    (sources,) = (t for t in fig.texts if t.get_gid() == "sources")
    room = fig.bbox.width * (1 - 2 * _MARGIN_MM / (fig.get_size_inches()[0] * _MM_PER_IN))
    text = sources.get_text()
    while True:
        lines: list[str] = []
        for part in text.split("；"):
            candidate = f"{lines[-1]}；{part}" if lines else part
            sources.set_text(candidate)
            if lines and sources.get_window_extent(renderer).width > room:
                lines.append(part)
            elif lines:
                lines[-1] = candidate
            else:
                lines.append(part)
        sources.set_text("\n".join(lines))
        too_wide = sources.get_window_extent(renderer).width > room
        if (len(lines) <= max_lines and not too_wide) or sources.get_fontsize() <= 5:
            return
        sources.set_fontsize(sources.get_fontsize() - 0.5)


def _place_legend(ax: Axes, legend: Legend, units: gpd.GeoDataFrame,
                  renderer: RendererBase) -> None:
    """Put the legend in the corner (lower right or upper left) where it hides least map."""
    geoms = units.geometry.to_numpy()
    hidden = {}
    for corner in ("lower right", "upper left"):
        legend.set_loc(corner)
        (x0, y0), (x1, y1) = ax.transData.inverted().transform(
            legend.get_window_extent(renderer).get_points())
        hidden[corner] = float(shapely.area(shapely.intersection(
            geoms, shapely.box(x0, y0, x1, y1))).sum())
    legend.set_loc(min(hidden, key=hidden.get))


def finish_sheet(fig: Figure, ax: Axes, *, denominator: int, crs: CRS, legend_title: str,
                 handles: Sequence[object], sheet: SheetText,
                 units: gpd.GeoDataFrame) -> Figure:
    """Add the legend, scale bar, north arrow and footer; lay the text out in the CJK font.

    The legend goes where it hides least of ``units``; a long title is shrunk or broken.
    """
    ax.set_xlabel("")  # geopandas names the axes; the footer states the coordinate system
    ax.set_ylabel("")
    legend = ax.legend(handles=list(handles), title=legend_title, loc="lower right",
                       fontsize=8, title_fontsize=9, frameon=True, framealpha=0.92,
                       edgecolor="#555555", fancybox=False, borderpad=0.8,
                       ncols=2 if len(handles) > 12 else 1)
    legend.set_gid("legend")
    bar = ScaleBar(1.0, "m", location="lower left", length_fraction=0.22, box_alpha=0.85,
                   scale_formatter=_scale_text, font_properties={"size": 8}, border_pad=0.8)
    bar.set_gid("scale-bar")
    ax.add_artist(bar)
    ax.annotate("北", xy=(0.95, 0.965), xytext=(0.95, 0.87), xycoords="axes fraction",
                ha="center", va="top", fontsize=11, gid="north-arrow",
                arrowprops={"arrowstyle": "-|>,head_length=1.2,head_width=0.5",
                            "facecolor": "black", "linewidth": 1.5, "shrinkA": 9})
    w_mm, h_mm = (v * _MM_PER_IN for v in fig.get_size_inches())
    top_mm = _MARGIN_MM + _FOOTER_MM - 3.0
    day = sheet.date or dt.date.today()
    made = f"{day.year}年{day.month}月{day.day}日"
    left = [(f"比例尺 1:{denominator:,}".replace(",", " "), "scale-text"),
            (crs_note_zh(crs), "crs-note"),
            ("数据来源：" + ("；".join(sheet.sources) if sheet.sources else "未注明"), "sources")]
    right = [(f"制图日期：{made}", "date"), (sheet.note, "note")]
    for column, x_mm, ha in ((left, _MARGIN_MM, "left"), (right, w_mm - _MARGIN_MM, "right")):
        for i, (text, gid) in enumerate(t for t in column if t[0]):
            fig.text(x_mm / w_mm, (top_mm - 4.2 * i) / h_mm, text, fontsize=7.5, va="top",
                     ha=ha, gid=gid)
    renderer = fig.canvas.get_renderer()
    _fit_title(fig, renderer)
    _fit_sources(fig, renderer)
    _place_legend(ax, legend, units, renderer)
    fig.canvas.draw()
    return fig


def _scale_text(value: float, unit: str) -> str:
    return f"{value:g} {'千米' if unit == 'km' else '米' if unit == 'm' else unit}"


def in_chinese_font(draw: Callable[P, Figure]) -> Callable[P, Figure]:
    """Build the whole sheet inside the CJK font settings (geopandas draws as it plots)."""

    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with mpl.rc_context(chinese_rc()):
            return draw(*args, **kwargs)

    return wrapper


def write_map_files(fig: Figure, path: str | os.PathLike[str], *,
                    dpi: int = 300) -> dict[str, Path]:
    """Write a sheet as PNG and PDF beside each other, each atomically.

    Parameters
    ----------
    fig
        A sheet from one of this module's map functions.
    path
        Output path without suffix (a ``.png``/``.pdf`` suffix is dropped): ``out/覆盖率``
        writes ``out/覆盖率.png`` and ``out/覆盖率.pdf``.
    dpi
        PNG resolution (300: print quality; an A4 sheet is 2480 × 3507 pixels). The PDF is
        vector, with the Chinese font embedded and its text searchable.

    Returns
    -------
    dict
        ``{"png": path, "pdf": path}``.

    Raises
    ------
    OutputError
        ``dpi`` not positive, or a file cannot be written (earlier files are kept).
    """
    if dpi <= 0:
        msg = f"dpi must be positive, got {dpi}"
        raise OutputError(msg)
    stem = Path(path)
    if stem.suffix.lower() in (".png", ".pdf"):
        stem = stem.with_suffix("")
    titles = [t.get_text() for t in fig.texts if t.get_gid() == "title"]
    written = {}
    with mpl.rc_context(chinese_rc()):
        for fmt, meta in (("png", {"Title": titles[0] if titles else "", "Software": "geoplan"}),
                          ("pdf", {"Title": titles[0] if titles else "", "Creator": "geoplan"})):
            target = stem.parent / f"{stem.name}.{fmt}"
            with atomic_write(target) as tmp:
                fig.savefig(tmp, format=fmt, dpi=dpi, metadata=meta)
            written[fmt] = target
    logger.info("wrote map %s (.png, .pdf)", stem)
    return written
