"""Printable thematic maps: the sheet's artists, its scale, and PNG/PDF drawn in Chinese."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import synthetic_layers as sl
from matplotlib.colors import to_hex
from matplotlib.image import imread
from matplotlib.text import Annotation
from matplotlib_scalebar.scalebar import ScaleBar
from pdf_checks import drawn_han_by_font, han_characters, pdf_text
from render_without_system_fonts import font_messages
from shapely.geometry import MultiPolygon, box

from geoplan.errors import CRSError, OutputError
from geoplan.maps import static

SOURCES = ["行政区划：统计用区划代码", "人口：合成网格"]
DAY = dt.date(2025, 1, 2)
NOTO = re.compile(r"NotoSansSC|Noto.?Sans.?SC", re.IGNORECASE)


@pytest.fixture(scope="module")
def layers(shared_data: Path) -> dict[str, gpd.GeoDataFrame]:
    return sl.map_layers(shared_data, n_cells=1500)


def theme_maps(layers) -> dict[str, object]:
    """One call per theme, as the pipeline would make it."""
    towns, common = layers["towns"], {"sources": SOURCES, "date": DAY}
    return {
        "coverage": lambda: static.coverage_map(
            towns, title="晋江市居家养老服务站15分钟服务圈覆盖率",
            facilities=layers["facilities"], **common),
        "gaps": lambda: static.gaps_map(
            layers["cells"], towns, title="晋江市15分钟服务圈未覆盖网格", **common),
        "sites": lambda: static.proposed_sites_map(
            layers["sites"], towns, existing=layers["facilities"],
            title="晋江市居家养老服务站建议选址", **common),
        "shortfall": lambda: static.shortfall_map(
            layers["standards"], title="晋江市每百户社区服务设施面积达标情况",
            rule_label="每百户社区服务设施面积", shortfall_unit="m²", **common),
        "findings": lambda: static.boundary_findings_map(
            layers["findings"], towns, lines=layers["lines"], markers=layers["markers"],
            title="晋江市行政区域界线联检发现", **common),
    }


def by_gid(fig, gid: str) -> list:
    return fig.findobj(lambda a: a.get_gid() == gid)


@pytest.fixture(scope="module")
def sheets(layers) -> dict[str, object]:
    built = {}
    for name, draw in theme_maps(layers).items():
        fig, problems = font_messages(draw)
        assert problems == [], f"{name}: {problems}"
        built[name] = fig
    return built


@pytest.mark.parametrize("theme", ["coverage", "gaps", "sites", "shortfall", "findings"])
def test_every_sheet_has_title_legend_scale_bar_north_arrow_and_footer(sheets, theme):
    fig = sheets[theme]
    (ax,) = by_gid(fig, "map")
    assert by_gid(fig, "title")[0].get_text().startswith("晋江市")
    legend = ax.get_legend()
    assert legend is not None
    assert legend.get_gid() == "legend"
    assert legend.get_title().get_text().startswith("图例")
    assert len(legend.get_texts()) >= 2
    bars = [a for a in ax.artists if isinstance(a, ScaleBar)]
    assert len(bars) == 1
    assert bars[0].units == "m"
    assert bars[0].dx == 1.0
    (arrow,) = by_gid(fig, "north-arrow")
    assert isinstance(arrow, Annotation)
    assert arrow.get_text() == "北"
    assert arrow.xy[1] > arrow.xyann[1]  # points up: grid north
    texts = {gid: by_gid(fig, gid)[0].get_text() for gid in
             ("scale-text", "crs-note", "sources", "date", "note")}
    assert texts["crs-note"] == ("坐标系：2000国家大地坐标系（CGCS2000），高斯-克吕格投影，3度带，"
                                 "中央经线120°E（EPSG:4549）")
    assert texts["sources"] == "数据来源：行政区划：统计用区划代码；人口：合成网格"
    assert texts["date"] == "制图日期：2025年1月2日"
    assert texts["note"] == "内部工作底图，未经审核不得公开"
    assert re.fullmatch(r"比例尺 1:\d+( \d{3})*", texts["scale-text"])


def test_legend_entries_name_the_classes(sheets, layers):
    labels = {name: [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
              for name, fig in sheets.items()}
    assert labels["coverage"][:5] == ["0%–20%", "20%–40%", "40%–60%", "60%–80%", "80%–100%"]
    assert "居家养老服务站（6）" in labels["coverage"]
    assert labels["gaps"][-1] == "已覆盖网格"
    assert labels["gaps"][-2].startswith("≥")
    n_gaps = int((~layers["cells"]["covered"]).sum())
    assert sheets["gaps"].axes[0].get_legend().get_title().get_text().endswith(f"（{n_gaps:,}格）")
    assert labels["sites"][:2] == ["现有设施（24）", "拟建选址（5，数字为建议顺序）"]
    assert labels["sites"][2] == "新增覆盖60岁以上人口 1,200"
    assert labels["shortfall"] == ["达标", "未达标，缺口 120.5m²"]
    assert labels["findings"] == [
        "行政区域界线（4）", "界桩（8）", "界线与上一版本不一致（1）", "界桩状况异常（1）",
        "政区缝隙（1）", "另有1项无位置（见联检报告）"]


def test_scale_is_round_and_true_on_paper(sheets, layers):
    for fig in sheets.values():
        ax = fig.axes[0]
        w_mm, h_mm = fig.get_size_inches() * 25.4
        assert sorted([round(w_mm), round(h_mm)]) == [210, 297]
        box = ax.get_position()
        frame_w_m = box.width * w_mm / 1000
        frame_h_m = box.height * h_mm / 1000
        denominator = int(by_gid(fig, "scale-text")[0].get_text()[6:].replace(" ", ""))
        x0, x1 = ax.get_xlim()
        y0, y1 = ax.get_ylim()
        assert (x1 - x0) / frame_w_m == pytest.approx(denominator, rel=1e-9)
        assert (y1 - y0) / frame_h_m == pytest.approx(denominator, rel=1e-9)
        minx, miny, maxx, maxy = layers["towns"].total_bounds
        assert x0 < minx
        assert maxx < x1
        assert y0 < miny
        assert maxy < y1


def test_round_scale_denominator():
    assert static.round_scale_denominator(123_456) == 150_000
    assert static.round_scale_denominator(100_000) == 100_000
    assert static.round_scale_denominator(100_001) == 150_000
    assert static.round_scale_denominator(8_100) == 10_000
    assert static.round_scale_denominator(7.3) == 8
    for bad in (0.0, -5.0, float("nan"), float("inf")):
        with pytest.raises(OutputError, match="positive extent"):
            static.round_scale_denominator(bad)


def test_a3_landscape_and_orientation_choice(layers):
    towns = layers["towns"]
    fig = static.coverage_map(towns, title="晋江市", paper="A3", orientation="landscape")
    w_mm, h_mm = fig.get_size_inches() * 25.4
    assert (round(w_mm), round(h_mm)) == (420, 297)
    # a wide study area goes on a landscape sheet by itself
    wide = towns.set_geometry(towns.geometry.scale(3.0, 1.0, origin=(0, 0)))
    fig = static.coverage_map(wide, title="宽")
    w_mm, h_mm = fig.get_size_inches() * 25.4
    assert w_mm > h_mm


def test_crs_notes():
    assert static.crs_note_zh(4549).endswith("中央经线120°E（EPSG:4549）")
    assert static.crs_note_zh(4548) == (
        "坐标系：2000国家大地坐标系（CGCS2000），高斯-克吕格投影，3度带，中央经线117°E（EPSG:4548）")
    assert static.crs_note_zh(3857) == "坐标系：WGS 84，WGS 84 / Pseudo-Mercator（EPSG:3857）"
    with pytest.raises(CRSError, match="degrees"):
        static.crs_note_zh(4490)


def test_written_png_and_pdf_draw_chinese_in_the_packaged_font(sheets, tmp_path):
    fig = sheets["coverage"]
    files, problems = font_messages(
        lambda: static.write_map_files(fig, tmp_path / "专题图" / "覆盖率.pdf"))
    assert problems == []
    assert files == {"png": tmp_path / "专题图" / "覆盖率.png",
                     "pdf": tmp_path / "专题图" / "覆盖率.pdf"}
    png = imread(files["png"])
    assert png.shape[:2] == (int(297 / 25.4 * 300), int(210 / 25.4 * 300))  # A4, 300 dpi
    text = pdf_text(files["pdf"])
    for words in ("晋江市居家养老服务站15分钟服务圈覆盖率", "图例", "比例尺", "北", "青阳街道",
                  "坐标系", "数据来源", "制图日期"):
        assert words in text
    drawn = drawn_han_by_font(files["pdf"])
    assert drawn
    assert all(NOTO.search(name) for name in drawn)
    assert han_characters(text) <= set().union(*drawn.values())
    assert sorted(p.name for p in (tmp_path / "专题图").iterdir()) == ["覆盖率.pdf", "覆盖率.png"]


def test_pdf_check_catches_missing_glyph_boxes(tmp_path):
    """The control: a PDF whose Chinese is drawn as boxes fails the check above."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    with mpl.rc_context({"font.family": "DejaVu Sans",
                         "font.enable_last_resort": False}):
        fig = Figure()
        fig.text(0.1, 0.5, "晋江市")
        font_messages(lambda: fig.savefig(tmp_path / "boxes.pdf"))
    text = pdf_text(tmp_path / "boxes.pdf")
    assert han_characters(text) == {"晋", "江", "市"}  # the text layer alone would pass
    assert set().union(*drawn_han_by_font(tmp_path / "boxes.pdf").values()) == set()


def test_inputs_are_not_modified(layers):
    before = {k: v.copy() for k, v in layers.items()}
    theme_maps(layers)["gaps"]()
    theme_maps(layers)["findings"]()
    for key, layer in layers.items():
        pd.testing.assert_frame_equal(layer, before[key])


@pytest.mark.parametrize("shape", ["squares", "centres", "multipart"])
def test_gap_cells_of_every_shape_are_drawn_in_their_class_colours(layers, shape):
    cells = layers["cells"]
    if shape == "centres":
        cells = cells.set_geometry(cells.geometry.centroid)
    elif shape == "multipart":
        cells = cells.set_geometry(cells.geometry.map(lambda g: MultiPolygon([g])))
    fig = static.gaps_map(cells, layers["towns"], title="网格", bins=(0, 30, np.inf))
    ax = fig.axes[0]
    colours = {to_hex(c) for coll in ax.collections for c in coll.get_facecolors()}
    assert {"#e5f5e0", "#ae017e", "#7a0177"} <= colours  # covered, two classes of gaps
    expected = (cells["pop_60plus"] >= 30) & ~cells["covered"]
    drawn_dark = sum(int((np.array([to_hex(c) for c in coll.get_facecolors()]) == "#7a0177").sum())
                     for coll in ax.collections if len(coll.get_facecolors()) > 1)
    if shape != "multipart":  # one collection holds every cell, one colour each
        assert drawn_dark == int(expected.sum())


def test_no_gaps_and_no_sites_still_draw(layers):
    cells = layers["cells"].assign(covered=True)
    fig = static.gaps_map(cells, layers["towns"], title="无缺口")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["已覆盖网格"]
    assert fig.axes[0].get_legend().get_title().get_text().endswith("（0格）")
    fig = static.proposed_sites_map(layers["sites"].iloc[:0], layers["towns"], title="无")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["拟建选址（0，数字为建议顺序）"]


def test_bad_input_is_a_clear_error(layers, tmp_path):
    towns, cells = layers["towns"], layers["cells"]
    with pytest.raises(OutputError, match=r"must be a fraction in \[0, 1\]; outside it: "):
        static.coverage_map(towns.assign(pop_60plus_share=towns["pop_60plus_share"] * 100),
                                title="x")
    with pytest.raises(OutputError, match="missing column"):
        static.coverage_map(towns.drop(columns="pop_60plus_share"), title="x")
    with pytest.raises(CRSError, match="degrees"):
        static.coverage_map(towns.to_crs(4490), title="x")
    with pytest.raises(CRSError, match=r"sites is in EPSG:4490.*sites.to_crs\(units.crs\)"):
        static.proposed_sites_map(layers["sites"].to_crs(4490), towns, title="x")
    with pytest.raises(OutputError, match="needs units with geometries"):
        static.coverage_map(towns.iloc[:0], title="x")
    with pytest.raises(OutputError, match="paper must be one of"):
        static.coverage_map(towns, title="x", paper="A5")
    with pytest.raises(OutputError, match="orientation must be"):
        static.coverage_map(towns, title="x", orientation="sideways")
    with pytest.raises(OutputError, match="bins must be 2 to 6 increasing limits"):
        static.gaps_map(cells, towns, title="x", bins=(0, 50, 20, np.inf))
    with pytest.raises(OutputError, match="True/False"):
        static.gaps_map(cells.assign(covered="是"), towns, title="x")
    with pytest.raises(OutputError, match="must hold 'pass'/'fail'/'not_computable'"):
        static.shortfall_map(layers["standards"].assign(status="ok"), title="x",
                                 rule_label="r")
    with pytest.raises(OutputError, match="n_classes must be at least 1"):
        static.shortfall_map(layers["standards"], title="x", rule_label="r", n_classes=0)
    with pytest.raises(OutputError, match="missing column"):
        static.boundary_findings_map(layers["findings"].drop(columns="kind"), towns,
                                         title="x")
    fig = static.shortfall_map(layers["standards"], title="x", rule_label="r")
    with pytest.raises(OutputError, match="dpi must be positive"):
        static.write_map_files(fig, tmp_path / "a", dpi=0)
    (tmp_path / "b.png").mkdir()
    (tmp_path / "b.pdf").write_bytes(b"earlier")
    with pytest.raises(OutputError, match="it is a folder"):
        static.write_map_files(fig, tmp_path / "b")
    assert (tmp_path / "b.pdf").read_bytes() == b"earlier"


def test_long_title_is_shrunk_or_broken_to_fit_the_sheet(layers):
    long = "晋江市民政服务设施布局（示例，合成数据）15分钟居家养老服务站服务圈未覆盖网格与建议选址"
    fig = static.coverage_map(layers["towns"], title=long)
    (title,) = by_gid(fig, "title")
    box = title.get_window_extent(fig.canvas.get_renderer())
    margin_px = 12 / 25.4 * fig.dpi
    assert box.x0 >= margin_px - 1
    assert box.x1 <= fig.bbox.width - margin_px + 1
    assert title.get_text().replace("\n", "") == long
    assert title.get_fontsize() >= 11


def test_long_sources_are_broken_to_the_sheet_width(layers):
    sources = [f"图层{i}：synthetic 100 m grid reproducing the 2020 census totals of Jinjiang"
               for i in range(4)]
    fig = static.coverage_map(layers["towns"], title="来源很长", sources=sources)
    (text,) = by_gid(fig, "sources")
    box = text.get_window_extent(fig.canvas.get_renderer())
    margin_px = 12 / 25.4 * fig.dpi
    assert box.x1 <= fig.bbox.width - margin_px + 1
    lines = text.get_text().split("\n")
    assert 2 <= len(lines) <= 3
    assert "；".join(lines) == "数据来源：" + "；".join(sources)  # broken at the ；, nothing lost
    (date,) = by_gid(fig, "note")
    assert box.y1 < date.get_window_extent(fig.canvas.get_renderer()).y0  # under the right column


@pytest.mark.parametrize(("corner", "block", "speck"), [
    ("upper left", (5_000, 0, 10_000, 6_000), (0, 11_800, 200, 12_000)),
    ("lower right", (0, 6_000, 5_000, 12_000), (9_800, 0, 10_000, 200)),
])
def test_legend_goes_where_it_hides_least_map(corner, block, speck):
    """A big block in one corner of the extent, a speck in the opposite corner."""
    from shapely.affinity import translate

    shapes = [translate(box(*b), 650_000, 2_740_000) for b in (block, speck)]
    units = gpd.GeoDataFrame({"name": ["甲", "乙"], "pop_60plus_share": [0.5, 0.5]},
                             geometry=shapes, crs=4549)
    fig = static.coverage_map(units, title="图例位置")
    ax = fig.axes[0]
    extent = ax.get_legend().get_window_extent(fig.canvas.get_renderer())
    (cx, cy) = ax.transAxes.inverted().transform(extent.get_points().mean(axis=0))
    assert (cx < 0.5 < cy) if corner == "upper left" else (cy < 0.5 < cx)


def test_classes_are_the_interactive_maps(layers):
    """A unit at exactly 20 % is in the 20%–40% class on both maps; no share is grey."""
    from geoplan.maps import SHARE_COLORS, binned_colors

    shares = [0.0, 0.2, 0.6, 1.0, np.nan]
    towns = layers["towns"].iloc[:5].assign(pop_60plus_share=shares)
    fig = static.coverage_map(towns, title="分级")
    fills = [to_hex(c) for coll in fig.axes[0].collections
             for c in coll.get_facecolors() if to_hex(c) in {*SHARE_COLORS, "#d9d9d9"}]
    expected = binned_colors(pd.Series(shares), (0.0, 0.2, 0.4, 0.6, 0.8, 1.0), SHARE_COLORS,
                             missing="#d9d9d9")
    assert sorted(fills) == sorted(expected)
    assert expected[1] == SHARE_COLORS[1]


def test_every_finding_kind_has_its_own_symbol(layers):
    findings = layers["findings"].iloc[:3]
    many = pd.concat([findings.assign(kind=f"kind_{i:02d}") for i in range(14)])
    fig = static.boundary_findings_map(many, layers["towns"], title="联检")
    legend = fig.axes[0].get_legend()
    symbols = [(h.get_marker(), h.get_markeredgecolor()) for h in legend.legend_handles]
    assert len(symbols) == 14
    assert len(set(symbols)) == 14
    assert {m for m, _ in symbols} == {"o", "s"}
