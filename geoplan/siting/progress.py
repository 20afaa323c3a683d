"""Progress of long siting solves: incumbent, bound and gap while HiGHS works.

Library calls are quiet by default. ``progress=True`` shows a line on the terminal or a
widget in a notebook (:mod:`tqdm.auto` picks the right one) once a solve has run for more
than a couple of seconds, updated about once a second; ``progress="log"`` writes the same
figures to the ``geoplan.siting.progress`` logger at INFO level instead; a callable receives
every :class:`SolveProgress` (for a custom display or to record the run).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from geoplan.errors import Problem, SchemaError

logger = logging.getLogger(__name__)

__all__ = ["ProgressArg", "SolveProgress", "progress_reporter"]

#: A solve reports nothing before it has run this long (short solves stay silent).
QUIET_FIRST_S = 2.0
#: Seconds between two reports.
REPORT_EVERY_S = 1.0


@dataclass(frozen=True)
class SolveProgress:
    """One progress report of a running solve.

    Attributes
    ----------
    label
        What is being solved, e.g. ``"MCLP p=20"``.
    seconds
        Seconds since the solve started.
    incumbent
        Best objective found so far (``nan`` before the first solution).
    bound
        Best proven bound on the optimum.
    gap
        Relative gap between the two (``inf`` before the first solution).
    nodes
        Branch-and-bound nodes processed.
    done
        ``True`` for the last report of a solve.
    """

    label: str
    seconds: float
    incumbent: float
    bound: float
    gap: float
    nodes: int
    done: bool = False

    def text(self) -> str:
        """One line for a terminal or a log: ``MCLP p=20 3.2 s 41,466 ≤ 41,470 gap 0.010 %``."""
        inc = "—" if math.isnan(self.incumbent) else f"{self.incumbent:,.0f}"
        gap = "—" if not math.isfinite(self.gap) else f"{100 * self.gap:.3f} %"
        return (f"{self.label} {self.seconds:.1f} s: incumbent {inc}, bound {self.bound:,.0f}, "
                f"gap {gap}, {self.nodes} nodes")


ProgressArg = bool | str | Callable[[SolveProgress], None] | None


class _Throttle:
    """Forward reports to ``sink`` after :data:`QUIET_FIRST_S`, at most once a second."""

    def __init__(self, sink: Callable[[SolveProgress], None], close=None):
        self.sink = sink
        self.close_sink = close
        self.t0 = time.perf_counter()
        self.last = -math.inf
        self.shown = False

    def __call__(self, report: SolveProgress) -> None:
        now = time.perf_counter()
        if report.done:
            if self.shown or now - self.t0 >= QUIET_FIRST_S:
                self.sink(report)
            if self.close_sink is not None:
                self.close_sink()
            return
        if now - self.t0 < QUIET_FIRST_S or now - self.last < REPORT_EVERY_S:
            return
        self.last = now
        self.shown = True
        self.sink(report)


def _tqdm_sink():
    from tqdm.auto import tqdm

    bar = None

    def show(report: SolveProgress) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=None, desc=report.label, bar_format="{desc} {elapsed} {postfix}",
                       leave=True)
        bar.set_description_str(report.label, refresh=False)
        inc = "—" if math.isnan(report.incumbent) else f"{report.incumbent:,.0f}"
        gap = "—" if not math.isfinite(report.gap) else f"{100 * report.gap:.3f}%"
        bar.set_postfix_str(f"当前解 {inc} 上界 {report.bound:,.0f} 差距 {gap}")

    def close() -> None:
        if bar is not None:
            bar.close()

    return show, close


def progress_reporter(progress: ProgressArg) -> Callable[[SolveProgress], None] | None:
    """Turn a ``progress=`` argument into a report function (``None``: stay quiet).

    Parameters
    ----------
    progress
        ``False``/``None`` (quiet), ``True`` (a tqdm line or notebook widget), ``"log"``
        (INFO records on this module's logger) or a callable taking :class:`SolveProgress`
        (called for every report, unthrottled).

    Returns
    -------
    callable or None
        Call it with each :class:`SolveProgress`; the final report has ``done=True``.
    """
    if progress is None or progress is False:
        return None
    if callable(progress):
        return progress
    if progress is True:
        show, close = _tqdm_sink()
        return _Throttle(show, close)
    if progress == "log":
        return _Throttle(lambda r: logger.info("%s", r.text()))
    raise SchemaError("parameters", [Problem(
        f"progress must be True, False, 'log' or a function, got {progress!r}")])
