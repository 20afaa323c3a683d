"""The printed report: A4 pages, tables within the page width, Chinese in the packaged font."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import synthetic_layers as sl
from pdf_checks import drawn_han_by_font, han_characters, page_extents, pdf_text
from pypdf import PdfReader

from geoplan import maps, report
from geoplan.errors import OutputError
from geoplan.maps import static
from geoplan.report import charts

MARGIN_PT = 14 / 25.4 * 72  # the report's left and right page margins
NOTO = re.compile(r"Noto-?Sans-?SC", re.IGNORECASE)


@pytest.fixture(scope="module")
def layers(shared_data: Path):
    return sl.map_layers(shared_data, n_cells=500)


def wide_table(n_rows: int, n_cols: int) -> pd.DataFrame:
    rng = np.random.default_rng(n_cols)
    table = pd.DataFrame({f"第{i}项指标（2025年目标值）": rng.integers(0, 10**7, n_rows)
                          for i in range(n_cols - 1)})
    table.insert(0, "name", [f"晋江市青阳街道某某社区居民委员会第{i}网格" for i in range(n_rows)])
    return table


@pytest.fixture(scope="module")
def printed(layers, tmp_path_factory) -> dict[str, object]:
    """A report with a chart, a static map sheet, tables of every width and the map."""
    towns = layers["towns"]
    coverage = pd.DataFrame({
        "code": towns["code"], "name": towns["name"],
        "pop_60plus": np.arange(1, len(towns) + 1) * 1234,
        "pop_60plus_share": towns["pop_60plus_share"],
        "highlight": towns["pop_60plus_share"] < 0.5})
    chart = charts.bar_chart(coverage.set_index("name")["pop_60plus_share"],
                               title="各镇街60岁以上老人覆盖率", percent=True, target=0.9)
    sheet = static.coverage_map(towns, title="晋江市居家养老服务站15分钟服务圈覆盖率",
                                    facilities=layers["facilities"], sources=["合成数据"])
    m = maps.base_map(towns)
    maps.add_coverage_choropleth(m, towns)
    sections = [
        report.ReportSection("一、15分钟服务圈覆盖", text="按步行网络计算。\n\n第二段。",
                             table=coverage, figures=[chart]),
        report.ReportSection("二、专题图", figures=[sheet]),
        report.ReportSection("三、社区/村指标（宽表）", table=wide_table(40, 12)),
        report.ReportSection("四、全部指标（很宽的表）", table=wide_table(45, 20)),
    ]
    folder = tmp_path_factory.mktemp("printed")
    html = report.write_html_report(sections, folder / "report.html", title="晋江市民政设施评估",
                                    map_html=m, note="内部工作底图，未经审核不得公开")
    records: list[logging.LogRecord] = []
    handler = logging.Handler(level=logging.WARNING)
    handler.emit = records.append
    logging.getLogger("weasyprint").addHandler(handler)
    try:
        pdf = report.write_pdf_report(html, folder / "report.pdf")
    finally:
        logging.getLogger("weasyprint").removeHandler(handler)
    return {"html": html, "pdf": pdf, "warnings": [r.getMessage() for r in records]}


def page_texts(pdf: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(pdf).pages]


def test_pdf_pages_are_a4_with_sections_on_new_pages(printed):
    pdf = printed["pdf"]
    assert printed["warnings"] == []  # every CSS rule understood by the printer
    sizes = [(round(float(p.mediabox.width)), round(float(p.mediabox.height)))
             for p in PdfReader(pdf).pages]
    texts = page_texts(pdf)
    assert set(sizes) == {(595, 842), (842, 595)}  # A4 portrait, and landscape pages
    starts = {h: next(i for i, t in enumerate(texts) if h in t)
              for h in ("一、15分钟服务圈覆盖", "二、专题图", "三、社区/村指标", "四、全部指标")}
    assert sorted(starts.values()) == list(starts.values())
    assert len(set(starts.values())) == 4  # one section per page at least
    for heading, page in starts.items():
        assert texts[page].lstrip().startswith(heading) or page == 0
    very_wide = [i for i in range(starts["四、全部指标"], len(texts)) if sizes[i] == (842, 595)]
    assert very_wide[0] == starts["四、全部指标"]  # the heading goes on the landscape page
    assert len(very_wide) >= 2
    for i in very_wide:  # the header row is repeated on every page of the table
        assert "第18项指标（2025年目标值）" in texts[i].replace("\n", "")
    assert all(sizes[i] == (595, 842) for i in range(starts["四、全部指标"]))
    n = len(texts)
    assert [f"第 {i + 1} 页，共 {n} 页" in t for i, t in enumerate(texts)] == [True] * n


def test_pdf_content_stays_within_the_page_margins(printed):
    for i, page in enumerate(page_extents(printed["pdf"])):
        assert page["left"] >= MARGIN_PT - 0.5, f"page {i + 1}"
        assert page["right"] <= page["width"] - MARGIN_PT + 0.5, f"page {i + 1}"


def test_the_extent_check_sees_a_table_that_overflows(tmp_path):
    """The control: without the report's wrapping, a wide table runs off the page."""
    table = report.table_html(wide_table(5, 20))
    html = tmp_path / "overflow.html"
    html.write_text(f"<html><head><meta charset=utf-8><style>@page {{ size: A4; margin: 14mm }}"
                    f" td, th {{ white-space: nowrap }}</style></head><body>{table}</body></html>",
                    encoding="utf-8")
    (page,) = page_extents(report.write_pdf_report(html, tmp_path / "overflow.pdf"))
    assert page["right"] > page["width"]


def test_pdf_text_is_chinese_drawn_by_the_packaged_font(printed):
    pdf = printed["pdf"]
    text = pdf_text(pdf).replace("\n", "")
    for words in ("晋江市民政设施评估", "内部工作底图，未经审核不得公开", "60岁以上老人覆盖率",
                  "青阳街道", "交互式地图请在浏览器中打开本报告查看"):
        assert words in text
    drawn = drawn_han_by_font(pdf)
    assert drawn
    assert all(NOTO.search(name) for name in drawn), sorted(drawn)  # no other font
    assert han_characters(text) <= set().union(*drawn.values())
    # the chart and the map sheet are pictures in the PDF (pages share one resource list)
    images = {(im.name, im.image.size) for page in PdfReader(pdf).pages for im in page.images}
    assert len(images) == 2
    assert (1240, 1753) in {size for _, size in images}  # the A4 sheet at 150 dpi


def test_html_report_keeps_its_screen_view(printed):
    page = printed["html"].read_text(encoding="utf-8")
    assert '<section class="map"><h2>地图</h2><p class="print-only">' in page
    assert '<table class="wide">' in page
    assert '<table class="very-wide">' in page
    assert "<section class=landscape><h2>四、全部指标（很宽的表）</h2>" in page
    assert "@media print" in page
    assert ".print-only { display: none; }" in page


def test_pdf_errors_are_clear_and_leave_earlier_file(printed, tmp_path, monkeypatch):
    target = tmp_path / "report.pdf"
    target.write_bytes(b"earlier")
    with pytest.raises(OutputError, match=r"cannot print .*missing\.html to PDF: no such file"):
        report.write_pdf_report(tmp_path / "missing.html", target)
    (tmp_path / "folder.pdf").mkdir()
    with pytest.raises(OutputError, match="it is a folder"):
        report.write_pdf_report(printed["html"], tmp_path / "folder.pdf")
    import sys

    monkeypatch.setitem(sys.modules, "weasyprint", None)
    with pytest.raises(OutputError, match="pip install weasyprint"):
        report.write_pdf_report(printed["html"], target)
    assert target.read_bytes() == b"earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.pdf", "report.pdf"]


def test_missing_pango_is_a_clear_error(printed, tmp_path):
    """Pango really missing: its library is hidden in a private mount namespace."""
    import subprocess
    import sys

    libs = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    pango = sorted({line.split("=>")[-1].strip() for line in libs.splitlines()
                    if "libpango-1.0.so.0" in line})
    assert pango, "libpango-1.0.so.0 not found by ldconfig"
    script = ("import sys; from geoplan import report\n"
              "try:\n    report.write_pdf_report(sys.argv[1], sys.argv[2])\n"
              "except Exception as exc:\n    print(type(exc).__name__, exc)\n")
    hide = 'for f in $LIBS; do mount --bind /dev/null "$f" || exit 97; done; exec "$@"'
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", hide, "hide",
         sys.executable, "-c", script, str(printed["html"]), str(tmp_path / "r.pdf")],
        capture_output=True, text=True, env={"LIBS": " ".join(pango), "PATH": "/usr/bin:/bin"},
        timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]  # WeasyPrint prints its own hint first
    assert last.startswith("OutputError the PDF report needs the Pango libraries")
    assert last.endswith("apt-get install libpango-1.0-0 libpangoft2-1.0-0")
    assert not (tmp_path / "r.pdf").exists()
