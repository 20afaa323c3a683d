"""Planner-facing reports: an Excel workbook and a self-contained HTML report, headers in Chinese.

``write_workbook`` turns any tables (coverage per unit, standards compliance, indicator
evaluation, proposals, inspection findings …) into one ``.xlsx`` with Chinese headers, a frozen
header row, widths that respect double-width Chinese characters, number formats and highlighted
rows. ``write_html_report`` writes one HTML file with headings, tables, charts (inline PNG, CJK
font) and the map embedded; it opens with no network access, and prints on A4 pages.
``write_pdf_report`` prints that HTML report to a PDF in the packaged Chinese font.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import math
import os
import re
import types
import unicodedata
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import folium
import pandas as pd
from matplotlib.figure import Figure
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from geoplan._fonts import CJK_FONT_FAMILY, packaged_font_path
from geoplan._text import safe_text
from geoplan.errors import OutputError
from geoplan.io import atomic_write
from geoplan.io.atomic import write_text_atomically
from geoplan.maps import inline_assets, map_to_html
from geoplan.report.charts import figure_data_uri

__all__ = [
    "COLUMN_NAMES_ZH",
    "INTEGER_FORMAT",
    "PERCENT_FORMAT",
    "ReportSection",
    "display_width",
    "header_text",
    "table_html",
    "write_html_report",
    "write_pdf_report",
    "write_workbook",
]

logger = logging.getLogger(__name__)

INTEGER_FORMAT = "#,##0"
CODE_FORMAT = "0"
DECIMAL_FORMAT = "#,##0.0"
PERCENT_FORMAT = "0.0%"
DATE_FORMAT = "yyyy-mm-dd"
HIGHLIGHT_FILL = "FCE4D6"
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_HIGHLIGHT = PatternFill("solid", fgColor=HIGHLIGHT_FILL)
_THIN = Side(style="thin", color="A6A6A6")

_MEASURES_ZH = {"pop": "常住人口", "households": "户数", "pop_60plus": "60岁以上人口",
                "pop_80plus": "80岁以上人口"}
_SHARES_ZH = {"pop": "人口覆盖率", "households": "户数覆盖率", "pop_60plus": "60岁以上老人覆盖率",
              "pop_80plus": "80岁以上老人覆盖率"}


def _measure_headers() -> dict[str, str]:
    names: dict[str, str] = {}
    for m, zh in _MEASURES_ZH.items():
        names |= {
            m: zh, f"{m}_total": zh, f"{m}_covered": f"覆盖{zh}", f"{m}_share": _SHARES_ZH[m],
            f"{m}_covered_straight": f"直线距离覆盖{zh}",
            f"{m}_share_straight": f"直线距离{_SHARES_ZH[m]}",
            f"{m}_detour_loss": f"绕行损失{zh}", f"new_{m}": f"新增覆盖{zh}",
            f"cum_{m}": f"累计覆盖{zh}",
            f"{m}_before": f"选址前覆盖{zh}", f"{m}_after": f"选址后覆盖{zh}",
            f"{m}_share_before": f"选址前{_SHARES_ZH[m]}",
            f"{m}_share_after": f"选址后{_SHARES_ZH[m]}",
            f"{m}_gain": f"{_SHARES_ZH[m]}提高",
            f"{m}_uncovered": f"未覆盖{zh}",
        }
    return names


#: Default Chinese headers for the column names geoplan's layers and results use (layers,
#: ``coverage_by_unit``, standards evaluation, siting ranks, boundary findings); a sheet's
#: own header map (``headers=``) overrides them, and unknown columns keep their names.
COLUMN_NAMES_ZH = _measure_headers() | {
    "code": "区划代码",
    "name": "名称",
    "level": "层级",
    "kind": "类型",
    "parent_code": "上级代码",
    "facility_id": "设施编号",
    "facility_type": "设施类型",
    "source_layer": "来源图层",
    "status": "状态",
    "beds": "床位（张）",
    "nursing_beds": "护理型床位（张）",
    "seats": "餐位（个）",
    "meals_per_day": "日供餐（份）",
    "floor_area_m2": "建筑面积（m²）",
    "niches_total": "格位总数（个）",
    "niches_used": "已用格位（个）",
    "admin_code": "所在区划代码",
    "tier_min": "步行时间（分钟）",
    "reach_m": "步行距离（米）",
    "n_cells": "网格数",
    "profile": "标准配置",
    "rule_id": "条款编号",
    "family": "类别",
    "name_zh": "指标名称",
    "unit_code": "区划代码",
    "unit_name": "单位名称",
    "value": "现状值",
    "comparator": "比较",
    "threshold": "标准值",
    "measure_unit": "计量单位",
    "target_year": "目标年份",
    "passed": "是否达标",
    "shortfall": "缺口",
    "shortfall_unit": "缺口单位",
    "numerator": "分子",
    "denominator": "分母",
    "denominator_name": "分母名称",
    "denominator_source": "分母来源",
    "denominator_year": "分母年份",
    "reason": "原因",
    "note": "备注",
    "clause": "依据条款",
    "rank": "建议顺序",
    "candidate": "候选点",
    "site_id": "选址编号",
    "severity": "严重程度",
    "subject": "对象",
    "line_code": "界线编号",
    "detail": "说明",
    "tolerance": "容差",
    "row": "数据行",
    "marker_no": "界桩编号",
    "condition": "状况",
    "town": "镇街",
    "village": "社区/村",
    "town_code": "镇街代码",
    "town_name": "镇街",
    "parent_name": "所属镇街",
    "gap": "最优性差距",
    "measure": "指标",
    "grid_sum": "人口格网汇总",
    "unit_attribute": "区划图层属性值",
    "used": "采用值",
    "used_source": "采用来源",
    "difference": "差值（格网−采用）",
    "source": "来源",
    "item": "项目",
    "content": "内容",
    "document": "依据文件",
    "quote": "原文摘录",
    "levels": "适用层级",
    "n_units": "单元数",
    "n_passed": "达标单元数",
    "n_failed": "未达标单元数",
    "n_not_computable": "无法计算单元数",
    "pass_share": "达标率",
}


def display_width(text: str) -> int:
    """Return the width of ``text`` in Excel character cells (CJK and full-width count 2)."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _is_share(column: str, percent_cols: Sequence[str] | None) -> bool:
    if percent_cols is not None:
        return column in percent_cols
    name = column.lower()
    return "share" in name or name.endswith(("_rate", "_ratio"))


def _is_code(column: str) -> bool:
    """Columns of codes and ids (区划代码 350582001, 编号): digits without thousands separators."""
    name = column.lower()
    return name.endswith(("code", "_id", "_no", "代码", "编号")) or name in ("id", "row")


def _column_format(series: pd.Series, is_share: bool, is_code: bool = False) -> str | None:
    if pd.api.types.is_object_dtype(series):  # e.g. numbers mixed with None: judge the values
        present = series.dropna()
        if len(present) and present.map(lambda v: isinstance(v, int | float)
                                        and not isinstance(v, bool)).all():
            series = pd.to_numeric(present)
    if pd.api.types.is_bool_dtype(series):
        return None
    if pd.api.types.is_integer_dtype(series):
        return CODE_FORMAT if is_code else INTEGER_FORMAT
    if pd.api.types.is_float_dtype(series):
        if is_code:
            return CODE_FORMAT
        return PERCENT_FORMAT if is_share else DECIMAL_FORMAT
    if pd.api.types.is_datetime64_any_dtype(series):
        return DATE_FORMAT
    return None


def _formats(frame: pd.DataFrame, percent_cols: Sequence[str] | None) -> list[str | None]:
    return [_column_format(frame[c], _is_share(str(c), percent_cols), _is_code(str(c)))
            for c in frame.columns]


def _cell_value(value: object) -> object:
    """Return ``value`` as Excel can store it (also the basis of the HTML table's text)."""
    if value is None or value is pd.NA or value is pd.NaT or (
            isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and math.isinf(value):  # Excel has no infinity
        return "∞" if value > 0 else "-∞"
    if isinstance(value, str):  # no control characters, never a live formula
        return safe_text(value)
    if isinstance(value, list | tuple | set | frozenset):
        return "、".join(str(_cell_value(v)) for v in value)
    if isinstance(value, dict):
        return "；".join(f"{k}: {_cell_value(v)}" for k, v in value.items())
    if isinstance(value, pd.Timestamp):  # Excel has no time zones: keep the wall time
        return (value.tz_localize(None) if value.tzinfo else value).to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, str | bytes | dt.date):
        return _cell_value(value.item())
    return value


def _shown_text(value: object, number_format: str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float) and number_format == PERCENT_FORMAT:
        return f"{value:.1%}"
    if isinstance(value, int | float) and number_format == CODE_FORMAT:
        return f"{value:.0f}"
    if isinstance(value, int | float) and number_format and "." in number_format:
        decimals = len(number_format.rsplit(".", 1)[1].rstrip("%"))
        return f"{value:,.{decimals}f}"
    if isinstance(value, int | float) and number_format:
        return f"{value:,.1f}"
    return str(value)


def _prepare(table: pd.DataFrame, highlight_col: str) -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.DataFrame(table).copy()
    if "geometry" in frame.columns:
        frame = frame.drop(columns="geometry")
    if highlight_col in frame.columns:
        flags = frame[highlight_col].fillna(False).astype(bool)
        frame = frame.drop(columns=highlight_col)
    else:
        flags = pd.Series(False, index=frame.index)
    return frame, flags


def _check_sheet_name(name: str) -> None:
    bad = set("[]:*?/\\") & set(name)
    if not name or len(name) > 31 or bad:
        msg = (f"Excel sheet name {name!r} is not allowed: 1–31 characters, none of [ ] : * ? / \\"
               f"{' (found ' + ''.join(sorted(bad)) + ')' if bad else ''}")
        raise OutputError(msg)


def _append_row(ws, values: list[object]) -> None:
    """Append one row of cells already made safe (:func:`geoplan._text.safe_text`)."""
    ws.append(values)


def header_text(column: str, headers: Mapping[str, str] | None = None,
                lang: str = "zh") -> str:
    """Return the header a planner reads for ``column``: Chinese, or the name under ``en``."""
    if lang == "en":
        return column
    return (headers or {}).get(column, COLUMN_NAMES_ZH.get(column, column))


def _print_setup(ws, n_columns: int) -> None:
    """A4 landscape, the header row repeated on every page, all columns on one page width."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    if n_columns:
        ws.print_title_rows = "1:1"
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    ws.oddHeader.center.text = "&A"


#: Widest column (Excel character cells); longer text wraps within it.
MAX_COLUMN_WIDTH = 60


def _write_sheet(ws, frame: pd.DataFrame, flags: pd.Series, header_zh: Mapping[str, str],
                 percent_cols: Sequence[str] | None, lang: str = "zh",
                 number_formats: Mapping[str, str] | None = None) -> None:
    columns = [str(c) for c in frame.columns]
    headers = [str(_cell_value(header_text(c, header_zh, lang))) for c in columns]
    _append_row(ws, headers)
    formats = [(number_formats or {}).get(c, fmt)
               for c, fmt in zip(columns, _formats(frame, percent_cols), strict=True)]
    widths = [display_width(h) for h in headers]
    for i, (row_values, flagged) in enumerate(zip(frame.itertuples(index=False), flags,
                                                  strict=True)):
        values = [_cell_value(v) for v in row_values]
        try:
            _append_row(ws, values)
        except (ValueError, TypeError) as exc:
            bad = next(c for c, v in zip(columns, values, strict=True)
                       if not isinstance(v, str | int | float | dt.date | dt.timedelta)
                       and v is not None)
            msg = (f"sheet {ws.title!r}, column {bad!r}, row {frame.index[i]!r}: "
                   f"cannot be written to Excel ({exc})")
            raise OutputError(msg) from exc
        r = i + 2  # the header is row 1 (ws.max_row scans every cell: slow)
        for j, (value, fmt) in enumerate(zip(values, formats, strict=True), start=1):
            cell = ws.cell(row=r, column=j)
            if fmt and value is not None:
                cell.number_format = fmt
            if flagged:
                cell.fill = _HIGHLIGHT
            widths[j - 1] = max(widths[j - 1], display_width(_shown_text(value, fmt)))
    wrap = Alignment(wrap_text=True, vertical="top")
    for j in range(1, len(headers) + 1):
        cell = ws.cell(row=1, column=j)
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = Border(bottom=_THIN)
        width = widths[j - 1] + 2
        ws.column_dimensions[get_column_letter(j)].width = min(MAX_COLUMN_WIDTH, max(6, width))
        if width > MAX_COLUMN_WIDTH:  # long text (a quoted clause): wrap within the column
            for row in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                row[0].alignment = wrap
    ws.freeze_panes = "A2"
    if headers:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{max(ws.max_row, 1)}"
    _print_setup(ws, len(headers))


def write_workbook(
    sheets: Mapping[str, pd.DataFrame],
    path: str | os.PathLike[str],
    *,
    headers: Mapping[str, Mapping[str, str]] | None = None,
    highlight_col: str = "highlight",
    percent_cols: Mapping[str, Sequence[str]] | None = None,
    lang: str = "zh",
    number_formats: Mapping[str, Mapping[str, str]] | None = None,
) -> Path:
    """Write tables to one Excel workbook, one sheet each, formatted for planners.

    This is geoplan's one workbook writer: the report, compliance and inspection workbooks
    all go through it, so every sheet looks and prints alike.

    Parameters
    ----------
    sheets
        ``{sheet name: table}`` in order, e.g. ``{"覆盖率": coverage, "标准达标": compliance,
        "指标评估": indicators, "选址建议": proposals, "联检发现": findings}``. Any
        DataFrame (a ``geometry`` column is dropped); the index is not written, so
        ``reset_index()`` first if it carries the unit code.
    path
        Output ``.xlsx``; written atomically.
    headers
        Per sheet ``{column: Chinese header}``; defaults come from :data:`COLUMN_NAMES_ZH`.
    highlight_col
        Boolean helper column: rows where it is True are filled light orange (e.g.
        shortfalls, indicators behind target). The column itself is not written.
    lang
        ``"zh"`` (default): Chinese headers; ``"en"``: the machine-readable column names.
    percent_cols
        Per sheet, the columns that hold shares in [0, 1] (format ``0.0%``). Without an
        entry for a sheet, float columns whose name contains ``share`` or ends in
        ``_rate``/``_ratio`` are shares.
    number_formats
        Per sheet, ``{column: Excel number format}`` for columns the defaults do not suit,
        e.g. ``{"建议选址": {"lon_wgs84": "0.0000000"}}`` (coordinates to about 1 cm).

    Returns
    -------
    pathlib.Path
        The written workbook. Header row bold and frozen, auto-filter on, integer columns
        ``#,##0``, other numbers ``#,##0.0``, shares ``0.0%``, booleans 是/否, column widths
        from the longest text (Chinese characters count double, longer text than
        :data:`MAX_COLUMN_WIDTH` wraps); each sheet prints on A4 landscape, fitted to the
        page width, with the header row repeated on every page.

    Raises
    ------
    OutputError
        No sheets, or a sheet name Excel does not accept.
    """
    if not sheets:
        msg = "write_workbook needs at least one sheet"
        raise OutputError(msg)
    for name in sheets:
        _check_sheet_name(name)
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, table in sheets.items():
        frame, flags = _prepare(table, highlight_col)
        ws = workbook.create_sheet(title=name)
        _write_sheet(ws, frame, flags, (headers or {}).get(name, {}),
                     (percent_cols or {}).get(name), lang, (number_formats or {}).get(name))
    with atomic_write(path) as tmp:
        workbook.save(tmp)
    logger.info("wrote workbook %s (%d sheets)", path, len(sheets))
    return Path(path)


# ---------------------------------------------------------------- HTML report


@dataclass(frozen=True)
class ReportSection:
    """One section of the HTML report.

    Parameters
    ----------
    heading
        Section heading (Chinese).
    text
        Paragraphs, separated by blank lines (plain text, escaped).
    table
        Optional table; a ``highlight`` column marks rows to highlight and is not shown.
    headers
        ``{column: Chinese header}`` for the table (defaults: :data:`COLUMN_NAMES_ZH`).
    figures
        matplotlib figures (e.g. from :func:`geoplan.report.bar_chart`), inlined as PNG.
    percent_cols
        Columns of ``table`` holding shares in [0, 1] (default: as in :func:`write_workbook`).
    """

    heading: str
    text: str = ""
    table: pd.DataFrame | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    figures: Sequence[Figure] = ()
    percent_cols: Sequence[str] | None = None


#: Columns from which a table is "wide" (smaller print) and "very wide" (a landscape page).
WIDE_TABLE_COLUMNS, VERY_WIDE_TABLE_COLUMNS = 9, 15

_REPORT_CSS = """
body { font-family: "Noto Sans SC", "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC",
  sans-serif; margin: 24px auto; padding: 0 16px; max-width: 1100px; color: #222;
  line-height: 1.6; }
h1 { font-size: 24px; border-bottom: 2px solid #2f5597; padding-bottom: 6px; }
h2 { font-size: 19px; color: #2f5597; margin-top: 32px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 16px; max-width: 100%; }
table.wide, table.very-wide { font-size: 11px; }
th, td { border: 1px solid #bfbfbf; padding: 3px 8px; overflow-wrap: anywhere; }
th { background: #ddebf7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.highlight td { background: #fce4d6; }
figure { margin: 12px 0; } figure img { max-width: 100%; }
iframe.map { width: 100%; height: 640px; border: 1px solid #999; }
.meta { color: #666; font-size: 12px; }
.print-only { display: none; }
@page { size: A4; margin: 16mm 14mm 18mm 14mm;
  @bottom-center { content: "第 " counter(page) " 页，共 " counter(pages) " 页";
    font-family: "Noto Sans SC", "Noto Sans CJK SC", sans-serif; font-size: 8pt;
    color: #666; } }
@page landscape { size: A4 landscape; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 10pt; line-height: 1.5; }
  h1 { font-size: 17pt; margin: 0 0 4pt; }
  h2 { font-size: 13pt; margin: 0 0 6pt; break-after: avoid; }
  section + section { break-before: page; }
  table { width: 100%; font-size: 8.5pt; margin: 4pt 0 8pt; }
  table.wide { font-size: 7pt; }
  table.very-wide { font-size: 6.5pt; }
  section.landscape { page: landscape; }
  th, td { padding: 1.5pt 3pt; }
  td { min-width: 3em; } td:first-child { min-width: 6em; }
  thead { display: table-header-group; }
  tr, figure { break-inside: avoid; }
  figure img { max-height: 235mm; }
  tr.highlight td, th { -webkit-print-color-adjust: exact; }
  iframe.map { display: none; }
  section.map { break-before: auto; }
  .print-only { display: block; color: #666; }
}
"""


def _format_html_value(value: object, fmt: str | None) -> tuple[str, bool]:
    value = _cell_value(value)
    if value is None:
        return "—", False
    if isinstance(value, int | float) and not isinstance(value, bool):
        if fmt == PERCENT_FORMAT:
            return f"{value:.1%}", True
        if fmt == CODE_FORMAT:
            return f"{value:.0f}", False
        if fmt == INTEGER_FORMAT or float(value).is_integer():
            return f"{value:,.0f}", True
        return f"{value:,.1f}", True
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%Y-%m-%d"), False
    return str(value), False


def table_html(table: pd.DataFrame, *, headers: Mapping[str, str] | None = None,
               percent_cols: Sequence[str] | None = None,
               highlight_col: str = "highlight", lang: str = "zh") -> str:
    """Return ``table`` as an HTML ``<table>`` with Chinese headers and formatted numbers.

    A table of :data:`WIDE_TABLE_COLUMNS` columns or more has the class ``wide``, of
    :data:`VERY_WIDE_TABLE_COLUMNS` or more ``very-wide`` (smaller print; the report prints
    the section of a very wide table on landscape pages).
    """
    frame, flags = _prepare(table, highlight_col)
    names = [str(c) for c in frame.columns]
    formats = _formats(frame, percent_cols)
    head = "".join(
        f"<th>{html.escape(safe_text(header_text(c, headers, lang)))}</th>"
        for c in names
    )
    rows = []
    for values, flagged in zip(frame.itertuples(index=False), flags, strict=True):
        cells = []
        for value, fmt in zip(values, formats, strict=True):
            text, numeric = _format_html_value(value, fmt)
            cells.append(f'<td{" class=num" if numeric else ""}>{html.escape(text)}</td>')
        rows.append(f'<tr{" class=highlight" if flagged else ""}>{"".join(cells)}</tr>')
    width = ("" if len(names) < WIDE_TABLE_COLUMNS else ' class="wide"'
             if len(names) < VERY_WIDE_TABLE_COLUMNS else ' class="very-wide"')
    return (f"<table{width}><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _section_html(section: ReportSection, lang: str = "zh") -> str:
    very_wide = section.table is not None and (
        len(_prepare(section.table, "highlight")[0].columns) >= VERY_WIDE_TABLE_COLUMNS)
    parts = [f'<section{" class=landscape" if very_wide else ""}>'
             f"<h2>{html.escape(section.heading)}</h2>"]
    for paragraph in (p.strip() for p in section.text.split("\n\n")):
        if paragraph:
            parts.append(f"<p>{html.escape(paragraph)}</p>")
    for fig in section.figures:
        title = (fig.axes[0].get_title() if fig.axes else "") or section.heading
        parts.append(f'<figure><img class="chart" alt="{html.escape(title)}" '
                     f'src="{figure_data_uri(fig)}"></figure>')
    if section.table is not None:
        parts.append(table_html(section.table, headers=section.headers,
                                percent_cols=section.percent_cols, lang=lang))
    parts.append("</section>")
    return "\n".join(parts)


def write_html_report(
    sections: Sequence[ReportSection],
    path: str | os.PathLike[str],
    *,
    title: str,
    map_html: folium.Map | str | None = None,
    map_heading: str = "地图",
    note: str = "",
    lang: str = "zh",
) -> Path:
    """Write one self-contained HTML report: title, sections, and the map embedded.

    Parameters
    ----------
    sections
        Report sections in order.
    path
        Output ``.html``; written atomically.
    title
        Report title (``<h1>`` and page title).
    map_html
        A folium map or a full HTML page (e.g. ``m.get_root().render()``), embedded in an
        ``<iframe srcdoc>`` after the sections with its web assets inlined; ``None``: no map.
    map_heading
        Heading above the map.
    note
        A line under the title (e.g. data sources, "内部工作底图，未经审核不得公开").
    lang
        ``"zh"`` (default): Chinese table headers; ``"en"``: the machine-readable names.

    Returns
    -------
    pathlib.Path
        The written file. Charts are PNG data URIs and the map's assets are inlined, so
        the page makes no network request.

    Raises
    ------
    OutputError
        No CJK font for the charts, or the map needs an asset geoplan does not vendor.
    """
    body = [f"<h1>{html.escape(title)}</h1>"]
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    body.append(f'<p class="meta">生成时间 {stamp}{"　" + html.escape(note) if note else ""}</p>')
    body += [_section_html(s, lang) for s in sections]
    if map_html is not None:
        page = (map_to_html(map_html) if isinstance(map_html, folium.Map)
                else inline_assets(map_html))  # e.g. folium's own page: its CDN assets too
        body.append(f'<section class="map"><h2>{html.escape(map_heading)}</h2>'
                    '<p class="print-only">交互式地图请在浏览器中打开本报告查看。</p>'
                    f'<iframe class="map" title="{html.escape(map_heading)}" '
                    f'srcdoc="{html.escape(page, quote=True)}"></iframe></section>')
    document = (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_REPORT_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
    target = write_text_atomically(document, path)
    logger.info("wrote report %s (%.1f MB)", target, len(document.encode()) / 1e6)
    return target


# ---------------------------------------------------------------- PDF report


#: An embedded page (``<iframe srcdoc="…">``, quotes escaped inside): megabytes of map
#: that is not printed and that the HTML parser would otherwise read character by character.
_SRCDOC = re.compile(r'\ssrcdoc="[^"]*"')


def _weasyprint() -> types.ModuleType:
    """Import WeasyPrint late: importing it loads Pango, which only the PDF report needs."""
    try:
        with warnings.catch_warnings():
            # on a bare machine FontConfig knows no fonts; the packaged font sets all text
            warnings.filterwarnings("ignore", "No fonts configured in FontConfig")
            import weasyprint
    except ImportError as exc:
        msg = "the PDF report needs WeasyPrint: pip install weasyprint"
        raise OutputError(msg) from exc
    except OSError as exc:  # the Python package is there, the Pango libraries are not
        msg = (f"the PDF report needs the Pango libraries ({exc}); on Debian/Ubuntu: "
               "apt-get install libpango-1.0-0 libpangoft2-1.0-0")
        raise OutputError(msg) from exc
    return weasyprint


def write_pdf_report(html_path: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Print an HTML report to a PDF on A4 pages, Chinese set in the packaged font.

    The report's own print rules apply (:func:`write_html_report`): A4 pages with page
    numbers, each section on a new page, tables within the page width (wide tables in
    smaller print, very wide ones on landscape pages, header rows repeated on every page),
    charts and static maps scaled to the page; the interactive map is replaced by a note.
    Text is set in the packaged Noto Sans SC (embedded, searchable), so no system font
    is needed. Printed with WeasyPrint, which needs the Pango libraries (present on a
    standard Debian or Ubuntu system).

    Parameters
    ----------
    html_path
        An HTML report, e.g. the ``report.html`` of :func:`write_html_report`.
    path
        Output ``.pdf``; written atomically (a failed run leaves an earlier file intact).

    Returns
    -------
    pathlib.Path
        The written PDF.

    Raises
    ------
    OutputError
        The HTML file does not exist, WeasyPrint or Pango is missing, the packaged font
        cannot be loaded, or the PDF cannot be written.

    Examples
    --------
    >>> html = write_html_report(sections, "out/report.html", title="评估")  # doctest: +SKIP
    >>> write_pdf_report(html, "out/report.pdf")  # doctest: +SKIP
    """
    source = Path(html_path)
    if not source.is_file():
        msg = f"cannot print {source} to PDF: no such file"
        raise OutputError(msg)
    weasyprint = _weasyprint()
    from weasyprint.text.fonts import FontConfiguration

    fonts = FontConfiguration()
    font_face = weasyprint.CSS(string=(
        f'@font-face {{ font-family: "{CJK_FONT_FAMILY}"; '
        f'src: url("{packaged_font_path().as_uri()}"); }}'), font_config=fonts)
    page = _SRCDOC.sub("", source.read_text(encoding="utf-8"))  # the map is not printed
    document = weasyprint.HTML(string=page, base_url=str(source.parent), encoding="utf-8")
    with atomic_write(path) as tmp:
        document.write_pdf(tmp, stylesheets=[font_face], font_config=fonts)
    logger.info("wrote PDF report %s (%.1f MB)", path, Path(path).stat().st_size / 1e6)
    return Path(path)
