"""Matplotlib charts with Chinese text: the packaged CJK font and the report's chart builders."""

from __future__ import annotations

import base64
import io
import logging

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from geoplan._fonts import (
    chinese_rc,
)

logger = logging.getLogger(__name__)

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



def coverage_curve_chart(
    table: pd.DataFrame,
    *,
    total_weight: float,
    knee_p: int | None = None,
    lscp_p: int | None = None,
    lscp_weight: float | None = None,
    title: str = "新增站点数与老年人口覆盖率",
    weight_label: str = "覆盖率",
) -> Figure:
    """Return the coverage curve: covered share against the number of new sites.

    Parameters
    ----------
    table
        ``CoverageCurve.table`` of :func:`geoplan.siting.coverage_curve` (``p``,
        ``covered_weight``, ``upper_bound``; infeasible points are left out).
    total_weight
        The weight the shares are taken of (``CoverageCurve.total_weight``).
    knee_p
        Mark the knee at this ``p`` (e.g. :func:`geoplan.siting.curve.knee_p`).
    lscp_p, lscp_weight
        Mark the LSCP answer: the fewest sites covering all reachable demand, and that weight.
    title, weight_label
        Chinese title and axis label.

    Returns
    -------
    matplotlib.figure.Figure
        Not attached to pyplot; write it with :func:`figure_png`.

    Raises
    ------
    OutputError
        If no CJK font is installed.
    """
    import matplotlib as mpl

    t = table.dropna(subset=["covered_weight"])
    scale = max(float(total_weight), 1e-12)
    p = t["p"].to_numpy(float)
    share = t["covered_weight"].to_numpy(float) / scale
    bound = t["upper_bound"].to_numpy(float) / scale
    with mpl.rc_context(chinese_rc()):
        fig = _new_figure(7.5, 4.2)
        ax = fig.add_subplot()
        ax.plot(p, share, marker="o", markersize=3, color="#3182bd", label="最优覆盖率")
        if (bound > share + 1e-12).any():
            ax.plot(p, bound, linestyle=":", color="#9ecae1", label="上界（未证明最优处）")
        if knee_p is not None and knee_p in set(t["p"]):
            y = float(share[p == knee_p][0])
            ax.scatter([knee_p], [y], s=70, color="#d7191c", zorder=3,
                       label=f"拐点：{knee_p} 处，{y:.1%}")
        if lscp_p is not None and lscp_weight is not None:
            y = float(lscp_weight) / scale
            ax.scatter([lscp_p], [y], s=70, marker="s", color="#1a9641", zorder=3,
                       label=f"全部可达需求覆盖：{lscp_p} 处，{y:.1%}")
            ax.axvline(lscp_p, color="#1a9641", linestyle="--", linewidth=0.8)
        ax.set_title(title)
        ax.set_xlabel("新增站点数")
        ax.set_ylabel(weight_label)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        fig.canvas.draw()
    return fig
