"""Draw geoplan's printable outputs and report which fonts drew them (run by test_fonts.py).

``test_fonts.py`` runs this file in a child process under ``unshare --mount`` with a tmpfs
over every folder that holds a system CJK font and a fresh, empty matplotlib cache, so what
it reports is what a machine without Chinese fonts gets. It writes its outputs into the
folder given as the only argument and prints one JSON object:

- ``fc_list_zh``: what ``fc-list :lang=zh`` still finds (must be nothing);
- ``system_han_fonts``: font files matplotlib knows before geoplan registers its own font
  that have a glyph for 晋 (must be none);
- ``packaged_font``: the font file geoplan ships;
- ``chart``: the chart's PNG, the font file its title resolves to, and every
  missing-glyph or font-not-found message raised while drawing it;
- ``pixels``: whether a Chinese string drawn with geoplan's settings is pixel-identical to
  the same string drawn from the packaged font file, and differs from the missing-glyph
  boxes that a font without Chinese draws;
- ``map`` and ``report``: a printable map sheet (PNG and PDF) and the PDF report, with the
  Chinese characters of each PDF's text and, per embedded font, those it really draws.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

SAMPLE = "晋江市青阳街道养老服务覆盖率"
_FONT_PROBLEM = re.compile(r"missing from font|findfont|not found", re.IGNORECASE)


class _Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage())


def font_messages(draw: Callable[[], object]) -> tuple[object, list[str]]:
    """Run ``draw``; return its result and every font problem warned or logged meanwhile."""
    handler = _Messages()
    logging.getLogger("matplotlib").addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = draw()
    finally:
        logging.getLogger("matplotlib").removeHandler(handler)
    messages = [str(w.message) for w in caught] + handler.seen
    return result, [m for m in messages if _FONT_PROBLEM.search(m)]


def system_han_fonts() -> list[str]:
    """Font files in matplotlib's (fresh) font list with a glyph for 晋.

    matplotlib's own Last Resort font (a box per Unicode block, drawn with a
    missing-glyph warning) does not count.
    """
    from matplotlib import font_manager, ft2font

    found = []
    for entry in font_manager.fontManager.ttflist:
        if entry.name.startswith("Last Resort"):  # matplotlib's placeholder boxes
            continue
        try:
            if ord("晋") in ft2font.FT2Font(entry.fname).get_charmap():
                found.append(entry.fname)
        except (OSError, RuntimeError):
            continue
    return sorted(set(found))


def text_pixels(text: str, **font: object) -> np.ndarray:
    """Return the RGBA pixels of ``text`` drawn alone on a small white figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 0.6), dpi=100)
    canvas = FigureCanvasAgg(fig)
    fig.text(0.02, 0.3, text, fontsize=18, **font)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def check_chart(out: Path) -> dict[str, object]:
    import matplotlib as mpl
    from matplotlib import font_manager

    from geoplan import _fonts
    from geoplan.report import charts

    shares = pd.Series([0.42, 0.77, 0.93], index=["青阳街道", "安海镇", "深沪镇"])

    def draw() -> tuple[object, bytes]:
        fig = charts.bar_chart(shares, title=f"各镇街{SAMPLE}", percent=True, target=0.9,
                                 target_label="规划目标")
        return fig, charts.figure_png(fig)

    (fig, png), problems = font_messages(draw)
    path = out / "chart.png"
    path.write_bytes(png)
    title = fig.axes[0].title
    with mpl.rc_context(_fonts.chinese_rc()):  # the settings figure_png draws with
        title_font = font_manager.findfont(title.get_fontproperties())
    return {"png": str(path), "title": title.get_text(), "problems": problems,
            "title_font": title_font}


def check_pixels() -> dict[str, bool]:
    import matplotlib as mpl

    from geoplan import _fonts

    with mpl.rc_context(_fonts.chinese_rc()):
        ours = text_pixels(SAMPLE)
    packaged = text_pixels(SAMPLE, fontproperties=_fonts.packaged_font_path())
    tofu, _ = font_messages(lambda: text_pixels(SAMPLE, fontfamily="DejaVu Sans"))
    blank = text_pixels("")
    return {"same_as_packaged": bool(np.array_equal(ours, packaged)),
            "differs_from_tofu": not np.array_equal(ours, tofu),
            "inked": not np.array_equal(ours, blank)}


def pdf_fonts(pdf: Path) -> dict[str, object]:
    from pdf_checks import drawn_han_by_font, han_characters, pdf_text

    return {"pdf": str(pdf), "han": sorted(han_characters(pdf_text(pdf))),
            "drawn": {name: sorted(chars) for name, chars in drawn_han_by_font(pdf).items()}}


def check_map(out: Path) -> dict[str, object]:
    import geopandas as gpd
    from shapely.geometry import box

    from geoplan.maps import static

    towns = gpd.GeoDataFrame(
        {"name": ["青阳街道", "安海镇"], "pop_60plus_share": [0.35, 0.92]},
        geometry=[box(640_000, 2_735_000, 650_000, 2_745_000),
                  box(650_000, 2_735_000, 660_000, 2_745_000)], crs=4549)

    def draw() -> dict[str, Path]:
        fig = static.coverage_map(towns, title=f"{SAMPLE}专题图", sources=["合成数据"])
        return static.write_map_files(fig, out / "专题图", dpi=100)

    files, problems = font_messages(draw)
    return {"problems": problems, "png": str(files["png"])} | pdf_fonts(files["pdf"])


def check_report(out: Path) -> dict[str, object]:
    from geoplan import report
    from geoplan.report import charts

    table = pd.DataFrame({"name": ["青阳街道", "安海镇"], "pop_60plus_share": [0.35, 0.92]})
    chart = charts.bar_chart(table.set_index("name")["pop_60plus_share"], title=SAMPLE)
    sections = [report.ReportSection("一、覆盖情况", text=f"{SAMPLE}。", table=table,
                                     figures=[chart])]

    def draw() -> Path:
        html = report.write_html_report(sections, out / "report.html", title="晋江市民政设施评估")
        return report.write_pdf_report(html, out / "report.pdf")

    pdf, problems = font_messages(draw)
    return {"problems": problems} | pdf_fonts(pdf)


def main(out: Path) -> dict[str, object]:
    fc = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True,
                        check=False)
    report: dict[str, object] = {"fc_list_zh": fc.stdout.strip(),
                                 "system_han_fonts": system_han_fonts()}
    from geoplan import _fonts

    report["packaged_font"] = str(_fonts.packaged_font_path())
    report["chart"] = check_chart(out)
    report["pixels"] = check_pixels()
    report["map"] = check_map(out)
    report["report"] = check_report(out)
    return report


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1])), ensure_ascii=False))
