"""Excel workbook, HTML report, Chinese charts (browser: test_browser.py, fonts: test_fonts.py)."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import synthetic_layers as sl
from openpyxl import load_workbook

from geoplan import report
from geoplan.errors import OutputError
from geoplan.report import charts
from geoplan.report.writers import CODE_FORMAT, HIGHLIGHT_FILL


@pytest.fixture(scope="module")
def towns(shared_data: Path):
    return sl.towns_from_outline(sl.jinjiang_outline(shared_data))


@pytest.fixture
def coverage(towns) -> pd.DataFrame:
    pop60 = pd.Series(np.arange(1, len(towns) + 1) * 1234, index=towns.index, dtype="int64")
    return pd.DataFrame({
        "code": towns["code"], "name": towns["name"], "pop_60plus": pop60,
        "pop_60plus_share": towns["pop_60plus_share"], "passed": towns["pop_60plus_share"] >= 0.5,
        "highlight": towns["pop_60plus_share"] < 0.5, "geometry": towns.geometry,
    })


def test_display_width_counts_chinese_double():
    assert report.display_width("abc") == 3
    assert report.display_width("晋江市") == 6
    assert report.display_width("（m²）") == 6  # full-width brackets 2 each, m and ² 1 each


def test_workbook_headers_formats_widths_highlight(coverage, tmp_path):
    findings = pd.DataFrame({"kind": ["gap"], "detail": ["两镇之间存在缝隙"]})
    path = report.write_workbook(
        {"覆盖率": coverage, "联检发现": findings}, tmp_path / "report.xlsx",
        headers={"联检发现": {"kind": "问题类型"}},
    )
    wb = load_workbook(path)
    assert wb.sheetnames == ["覆盖率", "联检发现"]
    ws = wb["覆盖率"]
    headers = [c.value for c in ws[1]]
    assert headers == ["区划代码", "名称", "60岁以上人口", "60岁以上老人覆盖率", "是否达标"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:E{len(coverage) + 1}"
    assert ws.max_row == len(coverage) + 1  # every row, no geometry, no helper column
    assert ws["C2"].number_format == report.INTEGER_FORMAT
    assert ws["C2"].value == 1234
    assert ws["D2"].number_format == report.PERCENT_FORMAT
    assert ws["D2"].value == pytest.approx(coverage["pop_60plus_share"].iloc[0])
    assert {ws.cell(row=r, column=5).value for r in range(2, ws.max_row + 1)} <= {"是", "否"}
    # the header "60岁以上老人覆盖率" is 2 + 8*2 = 18 cells wide: width 18 + 2
    assert ws.column_dimensions["D"].width == 20
    assert ws.column_dimensions["B"].width >= 10  # 4-character town names, counted double
    highlighted = [r for r in range(2, ws.max_row + 1)
                   if ws.cell(row=r, column=1).fill.fgColor.rgb.endswith(HIGHLIGHT_FILL)]
    assert len(highlighted) == int(coverage["highlight"].sum())
    assert 0 < len(highlighted) < len(coverage)
    assert ws["A1"].font.bold
    assert [c.value for c in wb["联检发现"][1]] == ["问题类型", "说明"]


def test_percent_columns_can_be_named(tmp_path):
    table = pd.DataFrame({"完成率": [0.5, 0.75], "value": [1.5, 2.25]})
    path = report.write_workbook({"指标评估": table}, tmp_path / "x.xlsx",
                                 percent_cols={"指标评估": ["完成率"]})
    ws = load_workbook(path)["指标评估"]
    assert ws["A2"].number_format == report.PERCENT_FORMAT
    assert ws["B2"].number_format == "#,##0.0"
    assert ws["B1"].value == "现状值"


def test_dates_are_written_as_dates(tmp_path):
    when = pd.to_datetime(["2024-01-02 08:00"] * 2).tz_localize("Asia/Shanghai")
    table = pd.DataFrame({"last_inspected": pd.to_datetime(["2024-10-25", "2021-05-15"]),
                          "when": when})
    ws = load_workbook(report.write_workbook({"界桩": table}, tmp_path / "d.xlsx"))["界桩"]
    assert ws["A2"].number_format == "yyyy-mm-dd"
    assert ws["A2"].value.year == 2024
    assert ws["B2"].value.hour == 8  # wall time kept, zone dropped


def test_workbook_errors_leave_earlier_file(coverage, tmp_path):
    target = tmp_path / "report.xlsx"
    target.write_bytes(b"earlier")
    with pytest.raises(OutputError, match="sheet name 'a/b' is not allowed"):
        report.write_workbook({"a/b": coverage}, target)
    with pytest.raises(OutputError, match="at least one sheet"):
        report.write_workbook({}, target)
    bad = pd.DataFrame({"x": [object()]})  # openpyxl cannot store this
    with pytest.raises(OutputError, match="sheet '表', column 'x', row 0: cannot be written"):
        report.write_workbook({"表": bad}, target)
    assert target.read_bytes() == b"earlier"
    assert [p.name for p in tmp_path.iterdir()] == ["report.xlsx"]


def test_charts_have_no_missing_glyphs(towns, caplog):
    shares = towns.set_index("name")["pop_60plus_share"]
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        bar = charts.bar_chart(shares, title="各镇街60岁以上老人覆盖率－目标", ylabel="覆盖率",
                                 percent=True, target=0.9, target_label="规划目标")
        stacked = charts.stacked_bar_chart(
            pd.DataFrame({"现有": [3, 4], "规划": [1, 2]}, index=["青阳街道", "安海镇"]),
            title="设施数量")
        png = charts.figure_png(bar) + charts.figure_png(stacked)
    messages = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    missing = [m for m in messages if re.search(r"missing from font|findfont", m)]
    assert missing == []
    assert png.startswith(b"\x89PNG")
    # the control: the default font does lack these glyphs, so the check above can fail
    with warnings.catch_warnings(record=True) as control:
        warnings.simplefilter("always")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure()
        FigureCanvasAgg(fig)
        fig.add_subplot().set_title("覆盖率", fontfamily="DejaVu Sans")
        fig.canvas.draw()
    assert any("missing from font" in str(w.message) for w in control)


def test_html_report_is_self_contained(coverage, tmp_path):
    chart = charts.bar_chart(coverage.set_index("name")["pop_60plus_share"], title="覆盖率",
                               percent=True)
    path = report.write_html_report(
        [report.ReportSection("一、覆盖率", text="第一段。\n\n第二段。", table=coverage,
                              figures=[chart])],
        tmp_path / "report.html", title="测试报告",
        map_html="<html><body><p>地图</p></body></html>", note="内部工作底图，未经审核不得公开",
    )
    page = path.read_text(encoding="utf-8")
    assert "<p>第一段。</p>\n<p>第二段。</p>" in page
    assert "内部工作底图，未经审核不得公开" in page
    assert page.count('src="data:image/png;base64,') == 1
    assert "srcdoc=\"&lt;html&gt;&lt;body&gt;&lt;p&gt;地图" in page
    assert "<th>60岁以上老人覆盖率</th>" in page
    assert page.count('<tr class=highlight>') == int(coverage["highlight"].sum())
    share = coverage["pop_60plus_share"].iloc[0]
    assert f"<td class=num>{share:.1%}</td>" in page
    assert "<td class=num>1,234</td>" in page
    assert re.search(r"<(script|link|img)[^>]+(src|href)=\"https?://", page) is None


def test_awkward_values_are_written_readably(tmp_path):
    table = pd.DataFrame({
        "code": [350582001001, 350582001002], "value": [np.inf, 1234.5],
        "pop_60plus_share": pd.Series([0.5, None], dtype=object),
        "name": ["=HYPERLINK(\"http://x\")", "青阳\x01街道"], "detail": [["缝隙", "重叠"], None],
    })
    path = report.write_workbook({"表": table}, tmp_path / "odd.xlsx")
    ws = load_workbook(path)["表"]
    assert ws["A2"].value == 350582001001
    assert ws["A2"].number_format == CODE_FORMAT  # no thousands separators in codes
    assert ws["B2"].value == "∞"  # Excel cannot store infinity
    assert ws["C2"].number_format == report.PERCENT_FORMAT  # numbers with a gap: still shares
    assert ws["D2"].data_type == "s"  # text, never a formula
    assert ws["D3"].value == "青阳街道"  # control character dropped, workbook stays readable
    assert ws["E2"].value == "缝隙、重叠"
    page = report.table_html(table)
    assert "<td>350582001001</td>" in page
    assert "<td class=num>50.0%</td>" in page
    assert "<td>∞</td>" in page


def test_chart_of_many_units_stays_page_sized():
    shares = pd.Series(np.linspace(0, 1, 60), index=[f"村{i}" for i in range(60)])
    fig = charts.bar_chart(shares, title="各社区/村覆盖率", percent=True)
    assert fig.get_size_inches()[0] == charts.MAX_WIDTH_IN
    assert charts.bar_chart(shares.iloc[:3], title="三个").get_size_inches()[0] == 6.0


def test_report_inlines_the_assets_of_a_map_page_given_as_text(towns, tmp_path):
    from geoplan import maps

    m = maps.base_map(towns)
    maps.add_coverage_choropleth(m, towns)
    folium_page = maps.map_to_html(m, self_contained=False)  # loads Leaflet from CDNs
    assert "cdn.jsdelivr.net" in folium_page
    path = report.write_html_report([], tmp_path / "r.html", title="报告", map_html=folium_page)
    page = path.read_text(encoding="utf-8")
    assert "cdn.jsdelivr.net" not in page
    assert "geoplan/maps/assets/leaflet/leaflet.js" in page
