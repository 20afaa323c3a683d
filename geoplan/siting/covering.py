r"""Where to put new sites: covering models on walking-distance reach matrices.

Every model takes the sparse reach matrices of :func:`geoplan.access.reach_matrix`
(sites × demand cells, walking metres, explicit entries only for reached pairs): one for the
candidate sites and, optionally, one for the existing sites, which are fixed (they count
toward coverage and are never removed). Models return a :class:`SitingResult` with the
objective, the best bound and the optimality gap, so a heuristic answer is never presented
without its quality.

Models
------
LSCP (location set covering, Toregas et al. 1971)
    .. math:: \min \sum_j c_j x_j \quad \text{s.t.} \quad \sum_{j \in N_i} x_j \ge 1 \;\; \forall i

    or, with a target share :math:`\alpha`,
    :math:`y_i \le \sum_{j \in N_i} x_j,\ \sum_i w_i y_i \ge \alpha W - W_0`.
MCLP (maximal covering, Church & ReVelle 1974)
    .. math:: \max \sum_i w_i y_i \quad \text{s.t.} \quad y_i \le \sum_{j \in N_i} x_j,\;
              \sum_j x_j \le p,\; \sum_j c_j x_j \le B,\;
              L_g \le \sum_{j \in G_g} x_j \le U_g,\; x \in \{0,1\},\; 0 \le y \le 1

p-median and capacitated MCLP live in :mod:`geoplan.siting.assign` and are re-exported here.

Solvers and preprocessing
-------------------------
``method="exact"`` builds the model as a SciPy sparse matrix and solves it with HiGHS
(:func:`geoplan.siting.highs.solve_sparse_mip`), warm-started from the greedy + swap answer;
given that start, the MCLP runs HiGHS without its own primal heuristics, presolve and restart
(:data:`geoplan.siting.maximal.PROOF_OPTIONS`), which closes the gap sooner on the hard instances.
:func:`coverage_curve` (:mod:`geoplan.siting.curve`) solves many ``p`` on one prepared
instance.
``method="greedy"`` runs greedy + swap and adds only a bound: for the plain MCLP the
Lagrangian bound of :mod:`geoplan.siting.bounds` (whose subgradient iterations also yield
a Lagrangian heuristic answer, kept when better), otherwise the LP relaxation from HiGHS.
Before either, demand already covered by existing sites is dropped (its weight is a
constant), demand cells with identical candidate sets are merged (weights summed), and
candidates dominated by another (a coverage superset at no higher cost, both outside every
quota group) are dropped; for the plain MCLP, candidates whose Lagrangian bound is below
the best known answer are fixed out before the exact solve. None of this changes the
optimum. With integer weights (or costs) the optimum is an integer, so bounds are rounded
accordingly and HiGHS stops once the gap is below one unit.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from geoplan.errors import InfeasibleError, Problem, SchemaError
from geoplan.siting.base import (
    Quota,
    SitingResult,
    check_cost,
    check_method,
    check_p,
    check_reach,
    check_weights,
    clamp_bound,
    coverage_from_reach,
    order_by_marginal_gain,
    quota_rows,
    relative_gap,
)
from geoplan.siting.greedy import greedy_lscp
from geoplan.siting.highs import solve_sparse_mip
from geoplan.siting.maximal import prepare_mclp, result_from_answer, solve_prepared
from geoplan.siting.model import (
    covered_by_existing,
    integer_bound,
    integer_gap,
    lscp_arrays,
    proven_integer_bound,
    reduce_covering,
    seconds_left,
)
from geoplan.siting.progress import ProgressArg, progress_reporter

logger = logging.getLogger(__name__)

__all__ = ["MultiYearPlan", "lscp", "mclp", "mclp_multi_year"]


def mclp(
    reach: sp.spmatrix,
    weights: np.ndarray | pd.Series,
    p: int,
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
    pad_to_p: bool = True,
    progress: ProgressArg = False,
) -> SitingResult:
    """Maximal covering: choose up to ``p`` new sites that cover the most demand weight.

    Parameters
    ----------
    reach
        Candidates × demand walking metres (sparse; explicit entries are reached pairs).
    weights
        Demand weight per cell (e.g. ``pop_60plus``; see
        :func:`geoplan.siting.tables.demand_weights`).
    p
        Number of new sites.
    max_m
        Service distance in metres (``None``: every explicit entry counts as covered).
    existing_reach
        Existing sites × demand metres: fixed sites whose coverage counts and is kept.
    cost, budget
        Per-candidate cost and the total budget (same unit).
    quotas
        :class:`Quota` constraints over candidate groups (e.g. per 镇街, or north/south).
    method
        ``"exact"`` (HiGHS MIP) or ``"greedy"`` (greedy + swap with the LP bound).
    time_limit_s
        Overall time limit in seconds (preprocessing, heuristic, bound and HiGHS); at the
        limit the best solution found is returned with its gap.
    mip_rel_gap
        Relative gap at which HiGHS stops.
    preprocess
        Merge identical demand cells and drop dominated candidates (does not change the optimum).
    pad_to_p
        When fewer than ``p`` sites add coverage (and there is no budget), fill up with the
        candidates that reach the most weight; they are ranked last with zero marginal gain.
    progress
        Show the incumbent, bound and gap of a long exact solve: ``True`` (terminal line or
        notebook widget), ``"log"`` (INFO log records) or a function; quiet by default.

    Returns
    -------
    SitingResult
        ``objective`` is the total covered weight including existing sites.

    Raises
    ------
    InfeasibleError
        When quotas need more than ``p`` sites, more than a group holds, or more than the budget.
    """
    t0 = time.perf_counter()
    p = check_p(p)
    method = check_method(method)
    n_candidates = getattr(reach, "shape", (p,))[0]
    if p > n_candidates and budget is None:
        warnings.warn(f"p = {p} new sites asked for, but there are only {n_candidates} "
                      f"candidates: at most {n_candidates} can be chosen", UserWarning,
                      stacklevel=2)
    P = prepare_mclp(reach, weights, max_m=max_m, existing_reach=existing_reach, cost=cost,
                     budget=budget, quotas=quotas, p_check=p, preprocess=preprocess)
    ans = solve_prepared(P, p, method=method, time_limit_s=time_limit_s,
                         mip_rel_gap=mip_rel_gap, progress=progress_reporter(progress),
                         label=f"MCLP p={p}")
    return result_from_answer(P, p, ans, method=method, t0=t0, pad_to_p=pad_to_p)


def lscp(
    reach: sp.spmatrix,
    weights: np.ndarray | pd.Series | None = None,
    *,
    max_m: float | None = None,
    existing_reach: sp.spmatrix | None = None,
    target_share: float = 1.0,
    cost: np.ndarray | None = None,
    quotas: Sequence[Quota] = (),
    uncoverable: str = "raise",
    method: str = "exact",
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 1e-7,
    preprocess: bool = True,
    progress: ProgressArg = False,
) -> SitingResult:
    """Set covering: the fewest (cheapest) new sites that cover all demand or a target share.

    Parameters
    ----------
    reach
        Candidates × demand walking metres (sparse; explicit entries are reached pairs).
    weights
        Demand weight per cell; cells of weight 0 need no coverage. ``None``: every cell
        counts with weight 1.
    max_m
        Service distance in metres.
    existing_reach
        Existing sites × demand metres (fixed; their coverage counts).
    target_share
        Share of the *total* weight that must be covered (existing sites included); 1.0
        means every cell.
    cost
        Per-candidate cost to minimise (default 1: the number of new sites).
    quotas
        Quotas over candidate groups.
    uncoverable
        With ``target_share == 1``: ``"raise"`` when some cell of positive weight is reached by
        no candidate and no existing site, ``"ignore"`` to cover every coverable cell.
    method, time_limit_s, mip_rel_gap, preprocess, progress
        As in :func:`mclp`.

    Returns
    -------
    SitingResult
        ``objective`` is the total cost of the new sites (their number by default).

    Raises
    ------
    InfeasibleError
        When cells cannot be covered by any site (with ``uncoverable="raise"``), the target
        share is out of reach, or the quotas cannot be met.
    """
    t0 = time.perf_counter()
    method = check_method(method)
    if uncoverable not in ("raise", "ignore"):
        raise SchemaError("parameters", [Problem(
            f"uncoverable must be 'raise' or 'ignore', got {uncoverable!r}")])
    R0 = check_reach(reach, "candidate sites")
    n_c, n_d = R0.shape
    w = np.ones(n_d) if weights is None else check_weights(weights, n_d)
    C = coverage_from_reach(R0, max_m)
    covered0 = covered_by_existing(existing_reach, max_m, n_d)
    cost = check_cost(cost, n_c)
    Q = quota_rows(quotas, n_c, None)
    total = float(w.sum())
    before = float(w[covered0].sum())
    reached = np.asarray(C.sum(axis=0)).ravel() > 0
    orphan = (w > 0) & ~covered0 & ~reached
    if not 0 < target_share <= 1:
        raise InfeasibleError(f"target_share must be in (0, 1], got {target_share}")
    full = target_share >= 1.0
    if full and orphan.any():
        msg = (f"{int(orphan.sum())} demand cells (weight {w[orphan].sum():g}) are reached by "
               "no candidate and no existing site"
               + (f" within {max_m:g} m" if max_m is not None else "")
               + "; add candidates or pass uncoverable='ignore'")
        if uncoverable == "raise":
            raise InfeasibleError(msg)
        logger.info("%s; ignoring them", msg)
    need = None
    if not full:
        best = before + float(w[~covered0 & reached].sum())
        if best < target_share * total - 1e-9 * max(total, 1):
            raise InfeasibleError(
                f"target share {target_share:.1%} is out of reach: existing and all candidate "
                f"sites together cover {best / total:.1%} of the weight")
        need = max(target_share * total - before, 0.0)
    R = reduce_covering(C, w, (w > 0) & ~covered0 & reached, cost, Q, preprocess)
    n_rc = R.cover.shape[0]
    notes = [f"preprocessing: {R.n_merged_from} demand cells -> {R.w.size} merged, "
             f"{n_c} candidates -> {n_rc}"]
    if full:
        count_w = np.ones(R.w.size)
        sel_r = greedy_lscp(R.cover, R.Ct, count_w, float(R.w.size), cost=R.cost,
                            quotas=R.quotas) if (R.w.size or R.quotas.lower.any()) else []
    else:
        sel_r = greedy_lscp(R.cover, R.Ct, R.w, need, cost=R.cost, quotas=R.quotas) \
            if need > 0 or R.quotas.lower.any() else []
    c, A, lo, hi, integer = lscp_arrays(R, None if full else need)
    if method == "exact":
        start = None
        if sel_r:
            x0 = np.zeros(n_rc)
            x0[sel_r] = 1
            start = x0 if full else np.r_[x0, np.minimum(1.0, R.Ct @ x0)]
        out = solve_sparse_mip(c, A, lo, hi, np.zeros(c.size), np.ones(c.size), integer,
                               maximize=False, time_limit_s=seconds_left(t0, time_limit_s),
                               mip_rel_gap=mip_rel_gap, mip_abs_gap=integer_gap(R.cost),
                               start=start, progress=progress_reporter(progress),
                               label="LSCP")
        if out.infeasible or out.x is None:
            raise InfeasibleError(f"no set of new sites meets the coverage target and the "
                                  f"quotas (HiGHS: {out.status})")
        sel_r = list(np.flatnonzero(out.x[:n_rc] > 0.5))
        status, bound = out.status, proven_integer_bound(out, R.cost)
    else:
        hit = np.asarray(R.cover[sel_r].sum(axis=0)).ravel() > 0 if sel_r else \
            np.zeros(R.w.size, bool)
        short = hit.sum() < R.w.size if full else float(R.w[hit].sum()) < need - 1e-9
        if short or (R.quotas.member[:, sel_r].sum(axis=1) < R.quotas.lower).any():
            raise InfeasibleError("greedy found no set of new sites that meets the coverage "
                                  "target and the quotas; try method='exact'")
        lp = solve_sparse_mip(c, A, lo, hi, np.zeros(c.size), np.ones(c.size), integer,
                              maximize=False, relax=True, time_limit_s=time_limit_s,
                              lp_solver="ipm")
        if lp.infeasible:
            raise InfeasibleError(f"the coverage target and the quotas cannot be met together "
                                  f"(LP relaxation: {lp.status})")
        status, bound = "greedy+swap", lp.bound
    if integer_gap(R.cost) is not None:  # integer costs: the optimum is an integer
        bound = integer_bound(bound, maximize=False)
    selected = [int(R.cand[j]) for j in sel_r]
    cov_after = covered0 | (np.asarray(C[selected].sum(axis=0)).ravel() > 0 if selected
                            else np.zeros(n_d, bool))
    objective = float(cost[selected].sum())
    bound = clamp_bound(bound, objective, maximize=False)
    return SitingResult(
        model="lscp",
        method=method,
        selected=order_by_marginal_gain(C, w, selected, covered0),
        objective=objective,
        bound=float(bound),
        gap=relative_gap(objective, bound),
        status=status,
        time_s=time.perf_counter() - t0,
        total_weight=total,
        weight_before=before,
        weight_after=float(w[cov_after].sum()),
        n_demand_model=int(R.w.size),
        n_candidates_model=int(n_rc),
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class MultiYearPlan:
    """A build sequence: one :class:`SitingResult` per year and a summary table.

    Attributes
    ----------
    years
        Result of each year's MCLP; earlier years' sites are fixed in later years.
    table
        One row per year: ``year``, ``new_sites``, ``gain`` (weight newly covered that
        year), ``covered_weight``, ``covered_share``, ``gap`` (of that year's model).
    joint
        The single-shot MCLP with the total number of sites (``None`` unless asked for):
        how much the year-by-year sequence gives up against building all at once.
    """

    years: tuple[SitingResult, ...]
    table: pd.DataFrame
    joint: SitingResult | None


def mclp_multi_year(
    reach: sp.spmatrix,
    weights: np.ndarray | pd.Series,
    sites_per_year: Sequence[int],
    *,
    max_m: float | None = None,
    existing_reach: sp.spmatrix | None = None,
    first_year: int = 1,
    method: str = "exact",
    time_limit_s: float = 60.0,
    compare_joint: bool = False,
) -> MultiYearPlan:
    """Plan an annual build quota as a sequence of MCLPs ("≥ 10 new canteens a year").

    Each year chooses its new sites by MCLP with every earlier site fixed as existing — the
    way a plan is carried out: year 1 cannot depend on what year 5 will build, and sites
    once built stay. The cumulative set after the last year can cover less than a single
    model with the same total number of sites; ``compare_joint=True`` solves that model too
    so the difference is visible.

    Parameters
    ----------
    reach, weights, max_m, existing_reach, method, time_limit_s
        As in :func:`mclp`.
    sites_per_year
        Number of new sites in each year.
    first_year
        Label of the first year (e.g. 2025).
    compare_joint
        Also solve the single MCLP with ``sum(sites_per_year)`` sites.

    Returns
    -------
    MultiYearPlan
    """
    R0 = check_reach(reach, "candidate sites")
    n_c, n_d = R0.shape
    w = check_weights(weights, n_d)
    fixed = [] if existing_reach is None else [check_reach(existing_reach, "existing sites",
                                                           n_d)]
    chosen: list[int] = []
    results, rows = [], []
    for k, n_new in enumerate(sites_per_year):
        avail = np.setdiff1d(np.arange(n_c), chosen)
        ex = sp.vstack([*fixed, R0[chosen]], format="csr") if (fixed or chosen) else None
        res = mclp(R0[avail], w, int(n_new), max_m=max_m, existing_reach=ex, method=method,
                   time_limit_s=time_limit_s)
        sel = [int(avail[j]) for j in res.selected]
        res = SitingResult(**{**res.__dict__, "selected": np.asarray(sel, int)})
        chosen.extend(sel)
        results.append(res)
        rows.append({"year": first_year + k, "new_sites": len(sel),
                     "gain": res.weight_after - res.weight_before,
                     "covered_weight": res.weight_after,
                     "covered_share": res.weight_after / max(res.total_weight, 1e-12),
                     "gap": res.gap})
    joint = None
    if compare_joint:
        joint = mclp(R0, w, int(sum(sites_per_year)), max_m=max_m,
                     existing_reach=existing_reach, method=method, time_limit_s=time_limit_s)
    return MultiYearPlan(tuple(results), pd.DataFrame(rows), joint)
