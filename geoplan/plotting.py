"""Matplotlib charts with Chinese text: the packaged CJK font and the report's chart builders."""

from __future__ import annotations

import base64
import io
import logging
from functools import cache
from pathlib import Path

import pandas as pd
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from geoplan.errors import OutputError

logger = logging.getLogger(__name__)

#: The Chinese font geoplan draws with: Noto Sans SC (SIL Open Font License 1.1), shipped in
#: the ``pylopdf-fonts-zh-cn`` dependency, so charts, printed maps and the PDF report show
#: Chinese on a machine without any system CJK font, and look the same on every machine.
CJK_FONT_FAMILY = "Noto Sans SC"
_FONT_PACKAGE = "pylopdf-fonts-zh-cn"


def packaged_font_path() -> Path:
    """Return the path of the packaged Noto Sans SC font file (OpenType, CFF outlines).

    Raises
    ------
    OutputError
        If the font package is not installed or its font file is missing.
    """
    try:
        import pylopdf_fonts_zh_cn
    except ImportError as exc:
        msg = (f"the Chinese font package {_FONT_PACKAGE} is not installed "
               f"(pip install {_FONT_PACKAGE}); geoplan needs it for charts, maps and PDFs")
        raise OutputError(msg) from exc
    path = Path(pylopdf_fonts_zh_cn.sans_path())
    if not path.is_file():
        msg = (f"the Chinese font file {path} of {_FONT_PACKAGE} is missing; "
               f"reinstall it: pip install --force-reinstall {_FONT_PACKAGE}")
        raise OutputError(msg)
    return path


@cache
def _register_font(path: Path) -> str:
    """Add ``path`` to matplotlib's font manager (once per file); return its family name."""
    try:
        font_manager.fontManager.addfont(path)
    except (OSError, RuntimeError, ValueError) as exc:  # FreeType cannot read it
        msg = (f"the Chinese font file {path} cannot be read ({exc}); "
               f"reinstall it: pip install --force-reinstall {_FONT_PACKAGE}")
        raise OutputError(msg) from exc
    return font_manager.FontProperties(fname=path).get_name()


def chinese_font_family() -> str:
    """Register the packaged CJK font with matplotlib (at first use) and return its family.

    No system font is needed: the font file comes with the ``pylopdf-fonts-zh-cn``
    dependency (:func:`packaged_font_path`). Registering changes matplotlib's font list,
    not its rcParams.

    Returns
    -------
    str
        ``"Noto Sans SC"``.

    Raises
    ------
    OutputError
        If the font package is missing or its font file cannot be read; the message names
        the package to reinstall.
    """
    family = _register_font(packaged_font_path())
    if family != CJK_FONT_FAMILY:
        msg = (f"{_FONT_PACKAGE} ships the font family {family!r}, not {CJK_FONT_FAMILY!r}; "
               f"install a version that ships Noto Sans SC")
        raise OutputError(msg)
    return family


def chinese_rc() -> dict[str, object]:
    """Return matplotlib rcParams that draw Chinese text (use with ``matplotlib.rc_context``).

    Text is set in the packaged Noto Sans SC (DejaVu Sans for the few symbols it lacks). A
    saved PDF embeds the glyphs it uses (matplotlib's Type 3 fonts: the font has CFF
    outlines, which matplotlib's Type 42 output cannot embed validly) with a Unicode map, so
    its text can be searched and copied.

    Raises
    ------
    OutputError
        If the packaged CJK font cannot be loaded.
    """
    family = chinese_font_family()
    return {
        "font.family": "sans-serif",
        "font.sans-serif": [family, "DejaVu Sans"],
        "axes.unicode_minus": False,
    }


def use_chinese_font() -> str:
    """Set matplotlib's global rcParams to a CJK font (for notebooks); return the family.

    Raises
    ------
    OutputError
        If the packaged CJK font cannot be loaded.
    """
    import matplotlib as mpl

    rc = chinese_rc()
    mpl.rcParams.update(rc)
    return str(rc["font.sans-serif"][0])  # type: ignore[index]


#: Widest chart in inches: more categories share the width (a 400-village chart would be
#: 150 inches wide, slow to draw and squeezed to the page width anyway).
MAX_WIDTH_IN = 16.0


def _width_in(n_categories: int) -> float:
    return min(MAX_WIDTH_IN, max(6.0, 0.38 * n_categories + 2))


def _new_figure(width_in: float, height_in: float) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def bar_chart(
    values: pd.Series,
    *,
    title: str,
    ylabel: str = "",
    percent: bool = False,
    target: float | None = None,
    target_label: str = "目标",
) -> Figure:
    """Return a bar chart of ``values`` (index = Chinese category labels).

    Parameters
    ----------
    values
        Numbers per category, e.g. coverage share per 镇街 (index: town names).
    title, ylabel
        Chinese title and axis label.
    percent
        Values are shares in [0, 1]; the axis is labelled in %.
    target
        Draw a horizontal reference line (e.g. the plan target 0.9).
    target_label
        Legend label of that line.

    Returns
    -------
    matplotlib.figure.Figure
        A figure not attached to pyplot (no global state); embed it with :func:`figure_png`.

    Raises
    ------
    OutputError
        If the packaged CJK font cannot be loaded.
    """
    import matplotlib as mpl

    with mpl.rc_context(chinese_rc()):
        fig = _new_figure(_width_in(len(values)), 3.6)
        ax = fig.add_subplot()
        ax.bar([str(i) for i in values.index], values.to_numpy(dtype=float), color="#3182bd")
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        if percent:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        if target is not None:
            ax.axhline(target, color="#d7191c", linestyle="--", label=target_label)
            ax.legend(loc="upper right")
        ax.tick_params(axis="x", labelrotation=60, labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        fig.canvas.draw()  # lay out now, inside the font context
    return fig


def stacked_bar_chart(table: pd.DataFrame, *, title: str, ylabel: str = "") -> Figure:
    """Return a stacked bar chart: one bar per row, one colour per column (legend in Chinese).

    Raises
    ------
    OutputError
        If the packaged CJK font cannot be loaded.
    """
    import matplotlib as mpl

    with mpl.rc_context(chinese_rc()):
        fig = _new_figure(_width_in(len(table)), 3.6)
        ax = fig.add_subplot()
        bottom = pd.Series(0.0, index=table.index)
        labels = [str(i) for i in table.index]
        for column in table.columns:
            heights = table[column].astype(float).fillna(0.0)
            ax.bar(labels, heights.to_numpy(), bottom=bottom.to_numpy(), label=str(column))
            bottom = bottom + heights
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.legend(loc="upper right", fontsize=8)
        ax.tick_params(axis="x", labelrotation=60, labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        fig.canvas.draw()
    return fig


def figure_png(fig: Figure) -> bytes:
    """Return the figure as PNG bytes (drawn with the CJK font it was built with).

    Raises
    ------
    OutputError
        If the packaged CJK font cannot be loaded.
    """
    import matplotlib as mpl

    buffer = io.BytesIO()
    with mpl.rc_context(chinese_rc()):
        fig.savefig(buffer, format="png")
    return buffer.getvalue()


def figure_data_uri(fig: Figure) -> str:
    """Return the figure as a ``data:image/png;base64,…`` URI for inline HTML."""
    return "data:image/png;base64," + base64.b64encode(figure_png(fig)).decode("ascii")

