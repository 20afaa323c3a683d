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
(:func:`geoplan.siting.highs.solve_sparse_mip`), warm-started from the greedy + swap answer.
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
from geoplan.siting.assign import capacitated_mclp, p_median
from geoplan.siting.base import (
    Quota,
    SitingResult,
    check_budget,
    check_cost,
    check_method,
    check_p,
    check_reach,
    check_weights,
    clamp_bound,
    coverage_from_reach,
    order_by_marginal_gain,
    pad_to_p_sites,
    quota_rows,
    quotas_from_labels,
    relative_gap,
)
from geoplan.siting.bounds import lagrangian_fixing, lagrangian_mclp_bound
from geoplan.siting.greedy import greedy_lscp, greedy_mclp, swap_mclp
from geoplan.siting.highs import solve_sparse_mip
from geoplan.siting.model import (
    covered_by_existing,
    integer_bound,
    integer_gap,
    lscp_arrays,
    mclp_arrays,
    reduce_covering,
    restrict_candidates,
    seconds_left,
)
from geoplan.siting.tables import (
    coverage_before_after_by_unit,
    demand_weights,
    rank_sites_by_marginal_gain,
    scenario_table,
)

logger = logging.getLogger(__name__)

__all__ = [
    "MultiYearPlan",
    "Quota",
    "SitingResult",
    "capacitated_mclp",
    "coverage_before_after_by_unit",
    "coverage_from_reach",
    "demand_weights",
    "lscp",
    "mclp",
    "mclp_multi_year",
    "p_median",
    "quotas_from_labels",
    "rank_sites_by_marginal_gain",
    "scenario_table",
]


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
) -> SitingResult:
    """Maximal covering: choose up to ``p`` new sites that cover the most demand weight.

    Parameters
    ----------
    reach
        Candidates × demand walking metres (sparse; explicit entries are reached pairs).
    weights
        Demand weight per cell (e.g. ``pop_60plus``; see
        :func:`geoplan.siting.demand_weights`).
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
    R0 = check_reach(reach, "candidate sites")
    n_c, n_d = R0.shape
    if p > n_c and budget is None:
        warnings.warn(f"p = {p} new sites asked for, but there are only {n_c} candidates: "
                      f"at most {n_c} can be chosen", UserWarning, stacklevel=2)
    w = check_weights(weights, n_d)
    C = coverage_from_reach(R0, max_m)
    covered0 = covered_by_existing(existing_reach, max_m, n_d)
    cost = check_cost(cost, n_c)
    Q = quota_rows(quotas, n_c, p)
    check_budget(Q, cost, budget, [q.name for q in quotas])
    before = float(w[covered0].sum())
    reached = np.asarray(C.sum(axis=0)).ravel() > 0
    R = reduce_covering(C, w, (w > 0) & ~covered0 & reached, cost, Q, preprocess)
    sel_r = greedy_mclp(R.cover, R.Ct, R.w, p, cost=R.cost, budget=budget, quotas=R.quotas)
    if R.quotas.lower.size and (R.quotas.member[:, sel_r].sum(axis=1) < R.quotas.lower).any():
        if method == "greedy":
            raise InfeasibleError("greedy could not meet the quotas within p and the budget; "
                                  "try method='exact'")
        sel_r = []
    sel_r = swap_mclp(R.cover, R.Ct, R.w, sel_r, cost=R.cost, budget=budget, quotas=R.quotas,
                      time_limit_s=min(5.0, time_limit_s)) if sel_r else sel_r
    heur_obj = float(R.w[np.asarray(R.cover[sel_r].sum(axis=0)).ravel() > 0].sum()) if sel_r \
        else 0.0
    n_rc = R.cover.shape[0]
    notes = [f"preprocessing: {R.n_merged_from} demand cells -> {R.w.size} merged, "
             f"{n_c} candidates -> {n_rc}"]
    lag = None
    if budget is None and not quotas and n_rc:
        lag = lagrangian_mclp_bound(R.cover, R.Ct, R.w, p, heur_obj,
                                    time_limit_s=min(10.0, time_limit_s / 4))
        if lag.best_value > heur_obj:
            alt = swap_mclp(R.cover, R.Ct, R.w, list(lag.best_sites), time_limit_s=2.0)
            alt_obj = float(R.w[np.asarray(R.cover[alt].sum(axis=0)).ravel() > 0].sum())
            if alt_obj > heur_obj:
                sel_r, heur_obj = [int(j) for j in alt], alt_obj
                notes.append("Lagrangian heuristic improved the greedy answer")
    tol = 1e-9 * max(1.0, heur_obj)
    if method == "exact" and lag is not None and lag.bound <= heur_obj + tol:
        status, bound_gain = "Optimal", lag.bound
        notes.append("greedy+swap answer proven optimal by the Lagrangian bound")
    elif method == "exact":
        Rm = R
        fixed_out = lagrangian_fixing(R.cover, lag.multipliers, R.w, p, heur_obj) \
            if lag is not None else np.zeros(n_rc, bool)
        if fixed_out.any():
            keep = ~fixed_out
            keep[sel_r] = True
            Rm = restrict_candidates(R, keep)
            sel_r = [int(k) for k in np.flatnonzero(np.isin(np.flatnonzero(keep), sel_r))]
            notes.append(f"Lagrangian fixing: {int((~keep).sum())} candidates ruled out")
        c, A, lo, hi, integer = mclp_arrays(Rm, p, budget)
        nm = Rm.cover.shape[0]
        start = None
        if sel_r:
            x0 = np.zeros(nm)
            x0[sel_r] = 1
            start = np.r_[x0, np.minimum(1.0, Rm.Ct @ x0)]
        out = solve_sparse_mip(c, A, lo, hi, np.zeros(c.size), np.ones(c.size), integer,
                               maximize=True, time_limit_s=seconds_left(t0, time_limit_s),
                               mip_rel_gap=mip_rel_gap, mip_abs_gap=integer_gap(Rm.w),
                               start=start)
        if out.infeasible:
            raise InfeasibleError("no choice of new sites meets the quotas and the budget "
                                  f"together (HiGHS: {out.status})")
        if out.x is None:
            raise InfeasibleError(f"HiGHS found no solution within the limit ({out.status})")
        sel_r = [int(Rm.cand_pos[j]) for j in np.flatnonzero(out.x[:nm] > 0.5)]
        status, bound_gain = out.status, out.bound
        if lag is not None:
            bound_gain = min(bound_gain, lag.bound)
    elif lag is not None:
        status, bound_gain = "greedy+swap", lag.bound
        notes.append(f"Lagrangian bound after {lag.iterations} iterations")
    else:
        c, A, lo, hi, integer = mclp_arrays(R, p, budget)
        lp = solve_sparse_mip(c, A, lo, hi, np.zeros(c.size), np.ones(c.size), integer,
                              maximize=True, relax=True, time_limit_s=time_limit_s,
                              lp_solver="ipm")
        if lp.infeasible:
            raise InfeasibleError("the quotas and the budget cannot be met together "
                                  f"(LP relaxation: {lp.status})")
        status, bound_gain = "greedy+swap", lp.bound
        if not np.isfinite(bound_gain):
            notes.append(f"LP bound not available ({lp.status})")
    if integer_gap(R.w) is not None:  # integer weights: the optimum is an integer
        bound_gain = integer_bound(bound_gain, maximize=True)
    selected = [int(R.cand[j]) for j in sel_r]
    if pad_to_p and budget is None:
        selected, added = pad_to_p_sites(selected, p, C, w, covered0, Q, n_c)
        if added:
            notes.append(f"{added} site(s) add no coverage; padded to p = {p}")
    cov_after = covered0 | (np.asarray(C[selected].sum(axis=0)).ravel() > 0 if selected
                            else np.zeros(n_d, bool))
    objective = float(w[cov_after].sum())
    bound = clamp_bound(before + bound_gain, objective, maximize=True)
    if method != "exact":
        logger.debug("greedy objective %.6g (reduced %.6g)", objective, heur_obj)
    return SitingResult(
        model="mclp",
        method=method,
        selected=order_by_marginal_gain(C, w, selected, covered0),
        objective=objective,
        bound=float(bound),
        gap=relative_gap(objective, bound, before),
        status=status,
        time_s=time.perf_counter() - t0,
        total_weight=float(w.sum()),
        weight_before=before,
        weight_after=objective,
        n_demand_model=int(R.w.size),
        n_candidates_model=int(n_rc),
        notes=tuple(notes),
    )


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
    method, time_limit_s, mip_rel_gap, preprocess
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
                               start=start)
        if out.infeasible or out.x is None:
            raise InfeasibleError(f"no set of new sites meets the coverage target and the "
                                  f"quotas (HiGHS: {out.status})")
        sel_r = list(np.flatnonzero(out.x[:n_rc] > 0.5))
        status, bound = out.status, out.bound
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
