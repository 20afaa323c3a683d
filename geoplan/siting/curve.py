"""The coverage curve: covered weight against the number of new sites, exact at every point.

A planner asks "how many stations for 80 %, 90 %, all of our 60+ residents?" rather than
"where do 20 go?". :func:`coverage_curve` answers every ``p`` of a list in one call on one
prepared instance (input checks, merged demand and dominated candidates once), each ``p``
starting from its neighbour: the sites of the previous ``p`` plus the best addition are a
start for the next, and since ``p`` sites can always do what ``p - 1`` did, the answer of
``p`` never covers less than the one before and the proven bound of ``p + 1`` caps ``p``.
The LSCP point (the fewest sites covering all demand any candidate reaches) ends the curve:
from there on every ``p`` covers everything reachable, proven without a solve.
:func:`fewest_sites_for_share` reads "the fewest sites for X %" off the curve, with whether
the curve proves it, and :func:`knee_p` finds where the curve bends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from geoplan.errors import InfeasibleError, Problem, SchemaError
from geoplan.siting.base import Quota, SitingResult, check_method, check_p
from geoplan.siting.maximal import (
    PreparedMclp,
    ReducedAnswer,
    prepare_mclp,
    reduced_value,
    result_from_answer,
    solve_prepared,
    to_reduced,
)
from geoplan.siting.progress import ProgressArg, progress_reporter

logger = logging.getLogger(__name__)

__all__ = ["CoverageCurve", "SitesForShare", "coverage_curve", "fewest_sites_for_share",
           "knee_p"]

#: Columns of :attr:`CoverageCurve.table`.
CURVE_COLUMNS = ("p", "covered_weight", "covered_share", "new_weight", "upper_bound", "gap",
                 "proven_optimal", "sites", "seconds", "status")


@dataclass(frozen=True)
class CoverageCurve:
    """The answer of :func:`coverage_curve`.

    Attributes
    ----------
    table
        One row per ``p`` (ascending): ``p``; ``covered_weight`` (existing sites included)
        and ``covered_share`` of the total weight; ``new_weight`` (what the new sites add);
        ``upper_bound`` (proven bound on the covered weight); ``gap`` (relative, as in
        :class:`~geoplan.siting.base.SitingResult`); ``proven_optimal``; ``sites`` (tuple
        of candidate indices, ranked by marginal gain); ``seconds``; ``status``.
    results
        The :class:`~geoplan.siting.base.SitingResult` of every ``p``.
    lscp
        The fewest new sites covering all demand any candidate reaches (``None`` when not
        asked for, or with a budget).
    total_weight, weight_before, reachable_weight
        All demand weight; the weight existing sites cover; the weight covered with every
        candidate built.
    time_s
        Wall time of the whole curve in seconds (the LSCP point included).
    """

    table: pd.DataFrame
    results: dict[int, SitingResult]
    lscp: SitingResult | None
    total_weight: float
    weight_before: float
    reachable_weight: float
    time_s: float


def _check_ps(ps) -> list[int]:
    if isinstance(ps, int | np.integer):
        ps = [ps]
    try:
        values = sorted({check_p(p, "every p of the curve") for p in ps})
    except TypeError:
        raise SchemaError("parameters", [Problem(
            f"ps must be a list of whole numbers of sites, got {ps!r}")]) from None
    if not values:
        raise SchemaError("parameters", [Problem("ps is empty: give at least one p")])
    return values


def _best_addition(P: PreparedMclp, sites: list[int]) -> list[int]:
    """``sites`` plus the reduced candidate adding the most weight (within the budget)."""
    R = P.R
    if R.cover.shape[0] == len(sites):
        return list(sites)
    covered = np.asarray(R.cover[sites].sum(axis=0)).ravel() > 0 if sites else \
        np.zeros(R.w.size, bool)
    gain = R.cover @ (R.w * ~covered)
    gain[sites] = -np.inf
    if P.budget is not None:
        gain[R.cost[sites].sum() + R.cost > P.budget + 1e-9] = -np.inf
    j = int(np.argmax(gain))
    return [*sites, j] if np.isfinite(gain[j]) else list(sites)


def _lscp_point(reach, weights, P: PreparedMclp, kwargs: dict, time_limit_s: float):
    from geoplan.siting.covering import lscp

    return lscp(reach, weights, max_m=kwargs["max_m"], existing_reach=kwargs["existing_reach"],
                quotas=P.quotas, uncoverable="ignore", time_limit_s=time_limit_s)


def coverage_curve(
    reach: sp.spmatrix,
    weights: np.ndarray | pd.Series,
    ps: Sequence[int] | range,
    *,
    max_m: float | None = None,
    existing_reach: sp.spmatrix | None = None,
    cost: np.ndarray | None = None,
    budget: float | None = None,
    quotas: Sequence[Quota] = (),
    method: str = "exact",
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 1e-7,
    preprocess: bool = True,
    with_lscp: bool = True,
    progress: ProgressArg = False,
) -> CoverageCurve:
    """Covered weight for every number of new sites in ``ps``, each with its proven bound.

    Parameters
    ----------
    reach, weights, max_m, existing_reach, cost, budget, quotas, method, mip_rel_gap, preprocess
        As in :func:`geoplan.siting.mclp`.
    ps
        Numbers of new sites, e.g. ``range(1, 41)``.
    time_limit_s
        Time limit of each ``p`` (at the limit that point keeps its best answer and its gap).
    with_lscp
        Also solve the LSCP "all reachable demand covered" (fewest sites, same quotas; not
        with a budget): every ``p`` from that number on covers all of it, proven.
    progress
        Show the curve's progress (one step per ``p``) and the incumbent, bound and gap of
        long solves: ``True``, ``"log"`` or a function (see
        :func:`geoplan.siting.progress.progress_reporter`); quiet by default.

    Returns
    -------
    CoverageCurve

    Raises
    ------
    InfeasibleError
        When the quotas or the budget cannot be met at all.

    Notes
    -----
    Each ``p`` is solved exactly (``method="exact"``) on the instance prepared once, started
    from the greedy answer and from the previous ``p``'s sites plus the best addition. The
    table is then made consistent with what holds for the optimum: a larger ``p`` never
    covers less (an answer of ``p - 1`` sites is an answer for ``p``), and the bound of
    ``p + 1`` is a bound for ``p``.
    """
    t_all = time.perf_counter()
    values = _check_ps(ps)
    method = check_method(method)
    P = prepare_mclp(reach, weights, max_m=max_m, existing_reach=existing_reach, cost=cost,
                     budget=budget, quotas=quotas, p_check=None, preprocess=preprocess)
    report = progress_reporter(progress)
    step = _curve_bar(progress, len(values))
    lscp_res = None
    full_from = None  # reduced sites covering everything reachable, when known
    if with_lscp and budget is None:
        try:
            lscp_res = _lscp_point(reach, weights, P, {"max_m": max_m,
                                                       "existing_reach": existing_reach},
                                   time_limit_s)
        except InfeasibleError as err:  # e.g. quota maximums leave some demand uncovered
            logger.info("no LSCP point on the curve: %s", err)
        if lscp_res is not None and lscp_res.gap == 0.0:
            full_from = to_reduced(P, lscp_res.selected)
    answers: dict[int, ReducedAnswer] = {}
    seconds: dict[int, float] = {}
    prev: list[int] = []
    reach_all = float(P.R.w.sum())
    for p in values:
        t0 = time.perf_counter()
        if full_from is not None and len(full_from) <= p:
            ans = ReducedAnswer(list(full_from), reach_all, "Optimal",
                                ("all reachable demand covered (LSCP answer)",))
        else:
            starts = [_best_addition(P, prev)] if prev else []
            try:
                ans = solve_prepared(P, p, method=method, time_limit_s=time_limit_s,
                                     mip_rel_gap=mip_rel_gap, starts=starts, progress=report,
                                     label=f"MCLP p={p}")
            except InfeasibleError as err:
                if "quotas need" not in str(err):
                    raise
                ans = ReducedAnswer([], float("nan"), "Infeasible", (str(err),))
            if prev and ans.status != "Infeasible" and \
                    reduced_value(P.R, prev) > reduced_value(P.R, ans.sites):
                ans = ReducedAnswer(list(prev), ans.bound_gain, ans.status,
                                    (*ans.notes, "kept the answer of a smaller p"))
        answers[p] = ans
        seconds[p] = time.perf_counter() - t0
        if ans.status != "Infeasible":
            prev = list(ans.sites)
        if step is not None:
            step(p, reduced_value(P.R, ans.sites), ans.bound_gain)
    if step is not None:
        step(None, 0.0, 0.0)
    return _assemble(P, values, answers, seconds, method, lscp_res, t_all)


def _curve_bar(progress: ProgressArg, n: int):
    """One tick per ``p`` of the curve on a tqdm bar (``progress=True`` only)."""
    if progress is not True:
        return None
    from tqdm.auto import tqdm

    bar = tqdm(total=n, desc="覆盖曲线 coverage curve", unit="p", leave=True)

    def step(p, value, bound):
        if p is None:
            bar.close()
            return
        bar.set_postfix_str(f"p={p} 覆盖 {value:,.0f} 上界 {bound:,.0f}")
        bar.update(1)

    return step


def _assemble(P: PreparedMclp, values: list[int], answers: dict[int, ReducedAnswer],
              seconds: dict[int, float], method: str, lscp_res, t_all: float) -> CoverageCurve:
    """Results and table, the bounds capped by larger ``p`` (a bound of p+1 bounds p)."""
    cap = np.inf
    bound_gain = {}
    for p in reversed(values):
        b = answers[p].bound_gain
        if np.isfinite(b):
            cap = min(cap, b)
            bound_gain[p] = cap
        else:
            bound_gain[p] = b
    results, rows = {}, []
    total = float(P.w.sum())
    for p in values:
        ans = answers[p]
        if ans.status == "Infeasible":
            rows.append({"p": p, "covered_weight": np.nan, "covered_share": np.nan,
                         "new_weight": np.nan, "upper_bound": np.nan, "gap": np.nan,
                         "proven_optimal": False, "sites": (), "seconds": seconds[p],
                         "status": "Infeasible"})
            continue
        notes = ("bound capped by a larger p",) if bound_gain[p] < ans.bound_gain else ()
        capped = ReducedAnswer(ans.sites, bound_gain[p], ans.status, ans.notes)
        res = result_from_answer(P, p, capped, method=method, t0=time.perf_counter(),
                                 extra_notes=notes)
        res = SitingResult(**{**res.__dict__, "time_s": seconds[p]})
        results[p] = res
        rows.append({"p": p, "covered_weight": res.objective,
                     "covered_share": res.objective / max(total, 1e-12),
                     "new_weight": res.objective - res.weight_before,
                     "upper_bound": res.bound, "gap": res.gap,
                     "proven_optimal": res.gap == 0.0,
                     "sites": tuple(int(s) for s in res.selected), "seconds": seconds[p],
                     "status": "Optimal" if res.gap == 0.0 else res.status})
    table = pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
    return CoverageCurve(table, results, lscp_res, total, P.before, P.reachable_weight,
                         time.perf_counter() - t_all)


@dataclass(frozen=True)
class SitesForShare:
    """The fewest new sites for a target share, read off a curve.

    Attributes
    ----------
    share
        The target share of the total weight.
    p
        Fewest new sites on the curve whose answer reaches the share (``None``: none does).
    sites
        Their candidate indices.
    covered_share
        Share they cover.
    proven
        ``True`` when the curve proves no fewer sites reach the share: every smaller number
        of sites is on the curve (or ``p`` is 0) and the bound of ``p - 1`` is below it.
    """

    share: float
    p: int | None
    sites: tuple[int, ...]
    covered_share: float
    proven: bool


def fewest_sites_for_share(curve: CoverageCurve, share: float) -> SitesForShare:
    """Answer "the fewest new sites for ``share`` of the weight" from a coverage curve.

    Parameters
    ----------
    curve
        A :class:`CoverageCurve`.
    share
        Target share of the total weight in (0, 1], e.g. 0.9.

    Returns
    -------
    SitesForShare
        Also for a share the curve does not reach (``p`` is ``None``); the LSCP point counts
        when the share needs all reachable demand.

    Raises
    ------
    SchemaError
        When ``share`` is not in (0, 1].
    """
    if not (isinstance(share, int | float) and 0 < share <= 1):
        raise SchemaError("parameters", [Problem(f"share must be in (0, 1], got {share!r}")])
    t = curve.table
    need = share * curve.total_weight - 1e-9 * max(curve.total_weight, 1.0)
    hit = t[t["covered_weight"] >= need]
    if not hit.empty:
        row = hit.iloc[0]
        p, sites, got = int(row["p"]), tuple(row["sites"]), float(row["covered_share"])
        exact = True
    elif curve.lscp is not None and curve.lscp.weight_after >= need:
        ls = curve.lscp
        p, sites = len(ls.selected), tuple(int(s) for s in ls.selected)
        got, exact = ls.weight_after / curve.total_weight, ls.gap == 0.0
    else:
        return SitesForShare(share, None, (), float("nan"), False)
    return SitesForShare(share, p, sites, got, exact and _none_below(t, p, need))


def _none_below(t: pd.DataFrame, p: int, need: float) -> bool:
    """Tell whether the curve proves that ``p - 1`` sites (and so fewer) miss ``need``."""
    if p == 0:
        return True
    row = t[t["p"] == p - 1]
    if row.empty:
        return False
    if row["status"].iloc[0] == "Infeasible":  # the quotas need more sites
        return True
    return bool(row["upper_bound"].iloc[0] < need)


def knee_p(table: pd.DataFrame) -> int | None:
    """Find the ``p`` where the curve bends most (farthest above the first-to-last chord).

    Parameters
    ----------
    table
        :attr:`CoverageCurve.table` (``p`` and ``covered_weight``).

    Returns
    -------
    int or None
        ``None`` with fewer than three points or a straight curve.
    """
    t = table.dropna(subset=["covered_weight"])
    if len(t) < 3:
        return None
    x = t["p"].to_numpy(float)
    y = t["covered_weight"].to_numpy(float)
    if x[-1] == x[0] or y[-1] == y[0]:
        return None
    xn = (x - x[0]) / (x[-1] - x[0])
    yn = (y - y[0]) / (y[-1] - y[0])
    lift = yn - xn
    k = int(np.argmax(lift))
    return int(x[k]) if lift[k] > 1e-9 else None
