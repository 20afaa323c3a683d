"""Check what a planner files, read back from a run's outputs.

Shared by the small-study tests (``test_deliverables.py``) and the demo's (``test_cli.py``):
the coverage sheets per level and tier add up, one households figure per 镇街 on every sheet,
each workbook prints on A4 landscape, the PDF report is Chinese in the embedded font, and
the thematic maps (专题图) are A4 sheets with their title, legend, scale, north arrow and
footer, drawn in Chinese.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
from matplotlib.image import imread
from pdf_checks import drawn_han_by_font, han_characters, page_extents, pdf_text
from pypdf import PdfReader

MEASURES_ZH = {"pop": "常住人口", "households": "户数", "pop_60plus": "60岁以上人口",
               "pop_80plus": "80岁以上人口"}
LEVELS = {"全域": "study", "镇街": "town", "社区村": "village"}
MARGIN_PT = 14 / 25.4 * 72  # the report's left and right page margins


def coverage_sheets(book: Path) -> dict[tuple[str, float], pd.DataFrame]:
    """(level, tier) → the coverage sheet of that level and tier, read back."""
    names = pd.ExcelFile(book).sheet_names
    out = {}
    for name in names:
        parts = name.split("-")
        if parts[0] == "覆盖" and len(parts) == 3:
            out[LEVELS[parts[1]], float(parts[2].removesuffix("分钟"))] = pd.read_excel(
                book, sheet_name=name, dtype={"区划代码": str, "上级代码": str})
    return out


def check_levels_add_up(book: Path, tiers: list[float]) -> int:
    """Assert every tier has the three levels and that 社区/村 → 镇街 → 全域 sums agree.

    Returns the number of sums compared.
    """
    sheets = coverage_sheets(book)
    assert set(sheets) == {(level, t) for level in LEVELS.values() for t in tiers}
    compared = 0
    for tier in tiers:
        county, towns, villages = (sheets["study", tier], sheets["town", tier],
                                   sheets["village", tier])
        counts = [c for c in county.columns if c in MEASURES_ZH.values()
                  or (c.startswith("覆盖") and c.removeprefix("覆盖") in MEASURES_ZH.values())]
        assert len(counts) == 8  # four denominators, each total and within the tier
        by_town = villages.groupby(["上级代码", "设施类型"])[counts].sum()
        town_rows = towns.set_index(["区划代码", "设施类型"])[counts]
        pd.testing.assert_frame_equal(by_town.sort_index(), town_rows.loc[by_town.index]
                                      .sort_index(), check_dtype=False, check_names=False)
        by_county = towns.groupby("设施类型")[counts].sum()
        county_rows = county.set_index("设施类型")[counts]
        pd.testing.assert_frame_equal(by_county.sort_index(), county_rows.sort_index(),
                                      check_dtype=False, check_names=False)
        compared += by_town.size + by_county.size
        for share, (total, covered) in {"人口覆盖率": ("常住人口", "覆盖常住人口"),
                                        "户数覆盖率": ("户数", "覆盖户数")}.items():
            for sheet in (county, towns, villages):
                ok = sheet[total] > 0
                np.testing.assert_allclose(sheet.loc[ok, share],
                                           sheet.loc[ok, covered] / sheet.loc[ok, total])
    return compared


def households_by_sheet(book: Path) -> dict[str, pd.Series]:
    """镇街 code → households, from every sheet of ``report.xlsx`` that states them."""
    found = {}
    summary = pd.read_excel(book, sheet_name="镇街概况", dtype={"区划代码": str})
    found["镇街概况"] = summary.set_index("区划代码")["户数"]
    for (level, tier), sheet in coverage_sheets(book).items():
        if level == "town":
            per_town = sheet.groupby("区划代码")["户数"].agg(["min", "max"])
            assert (per_town["min"] == per_town["max"]).all()  # the same for every type
            found[f"覆盖-镇街-{tier:g}分钟"] = per_town["min"]
    names = pd.ExcelFile(book).sheet_names
    if "达标-镇街" in names:
        rules = pd.read_excel(book, sheet_name="达标-镇街", dtype={"区划代码": str})
        rows = rules[rules["分母口径"].eq("户数") & rules["分母"].notna()]
        for rule, part in rows.groupby("指标名称"):
            found[f"达标-镇街 {rule}"] = part.set_index("区划代码")["分母"]
    return found


def check_one_households_figure(book: Path, expected: pd.Series) -> int:
    """Assert every sheet's households per 镇街 equals ``expected``; return sheets compared."""
    found = households_by_sheet(book)
    for sheet, values in found.items():
        codes = [c for c in values.index if c in expected.index]
        assert codes, sheet
        np.testing.assert_allclose(values.loc[codes].astype(float),
                                   expected.loc[codes].astype(float), err_msg=sheet)
    return len(found)


def check_print_setup(book: Path) -> None:
    wb = openpyxl.load_workbook(book)
    for ws in wb.worksheets:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert int(ws.page_setup.paperSize) == int(ws.PAPERSIZE_A4), ws.title  # 9: A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert ws.page_setup.fitToWidth == 1, ws.title
        assert ws.page_setup.fitToHeight == 0, ws.title  # as many pages down as needed
        assert ws.print_title_rows == "$1:$1", ws.title
        assert ws.freeze_panes == "A2", ws.title
        widths = [ws.column_dimensions[c].width for c in
                  (openpyxl.utils.get_column_letter(j) for j in range(1, ws.max_column + 1))]
        assert all(6 <= w <= 60 for w in widths), (ws.title, widths)


def check_pdf(pdf: Path) -> None:
    """Chinese text drawn by the embedded font, sections on new pages, within the margins."""
    text = pdf_text(pdf)
    assert {"说", "明", "方", "法", "标", "准", "依", "据"} <= han_characters(text)
    drawn = drawn_han_by_font(pdf)
    noto = {font: chars for font, chars in drawn.items() if "Noto" in font}
    assert noto, list(drawn)
    assert len(set().union(*noto.values())) >= 50
    texts = [page.extract_text() for page in PdfReader(pdf).pages]
    starts = [next(i for i, t in enumerate(texts) if h in t)
              for h in ("一、说明", "二、方法", "三、标准依据")]
    assert starts == sorted(set(starts))  # one section per page at least
    for i, page in enumerate(page_extents(pdf)):
        assert page["left"] >= MARGIN_PT - 0.5, f"page {i + 1}"
        assert page["right"] <= page["width"] - MARGIN_PT + 0.5, f"page {i + 1}"


#: What every thematic map sheet says besides its map (the static maps' fixed texts).
SHEET_WORDS = ("图例", "比例尺", "北", "坐标系：2000国家大地坐标系（CGCS2000），高斯-克吕格投影",
               "数据来源：", "制图日期：", "内部工作底图，未经审核不得公开")


def check_thematic_maps(folder: Path, stems: list[str], *, dpi: int = 200) -> None:
    """Each thematic map is a PDF and a PNG on A4 with the sheet's texts, drawn in Chinese.

    The PDF's text holds the title, the legend heading, the scale, the north arrow, the
    coordinate system, the sources, the date and the note; every Chinese character in it is
    drawn by the embedded Noto Sans SC (not a missing-glyph box); the PNG is an A4 page at
    ``dpi`` and not blank.
    """
    written = sorted(p.name for p in folder.iterdir())
    assert written == sorted(f"{s}.{ext}" for s in stems for ext in ("pdf", "png")), written
    for stem in stems:
        pdf = folder / f"{stem}.pdf"
        text = pdf_text(pdf)
        for words in SHEET_WORDS:
            assert words in text, (stem, words)
        (page,) = PdfReader(pdf).pages
        size_mm = sorted(round(float(v) / 72 * 25.4) for v in page.mediabox[2:])
        assert size_mm == [210, 297], (stem, size_mm)
        drawn = drawn_han_by_font(pdf)
        assert drawn, stem
        assert all("Noto" in font for font in drawn), (stem, list(drawn))
        assert han_characters(text) <= set().union(*drawn.values()), stem
        png = imread(folder / f"{stem}.png")
        assert sorted(png.shape[:2]) == [int(210 / 25.4 * dpi), int(297 / 25.4 * dpi)], stem
        assert png[..., :3].std() > 0.05, stem
