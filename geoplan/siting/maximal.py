"""The maximal covering model on a prepared instance: checks and reductions once, solves per p.

:func:`geoplan.siting.mclp` solves one ``p``; :func:`geoplan.siting.curve.coverage_curve`
solves many on the same instance. Both go through :func:`prepare_mclp` (input checks,
coverage within ``max_m``, demand covered by existing sites, the reductions of
:func:`geoplan.siting.model.reduce_covering`) and :func:`solve_prepared` (greedy + swap from
every start given, then for the plain model an iterated swap search
(:mod:`geoplan.siting._swap_kernel`), the Lagrangian bound and fixing; HiGHS for the rest),
then :func:`result_from_answer` turns the reduced answer into a
:class:`~geoplan.siting.base.SitingResult`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from geoplan.errors import InfeasibleError
from geoplan.siting._swap_kernel import iterated_swap_mclp
from geoplan.siting.base import (
    Quota,
    SitingResult,
    check_budget,
    check_cost,
    check_reach,
    check_weights,
    clamp_bound,
    coverage_from_reach,
    order_by_marginal_gain,
    pad_to_p_sites,
    quota_rows,
    relative_gap,
)
from geoplan.siting.bounds import lagrangian_fixing, lagrangian_mclp_bound
from geoplan.siting.greedy import QuotaRows, greedy_mclp, swap_mclp
from geoplan.siting.highs import solve_sparse_mip
from geoplan.siting.model import (
    ReducedCovering,
    covered_by_existing,
    integer_bound,
    integer_gap,
    mclp_arrays,
    proven_integer_bound,
    reduce_covering,
    restrict_candidates,
    seconds_left,
)
from geoplan.siting.progress import SolveProgress

__all__ = ["PreparedMclp", "ReducedAnswer", "prepare_mclp", "result_from_answer",
           "solve_prepared"]

#: HiGHS options for the exact MCLP when it starts from a feasible answer: HiGHS's own primal
#: heuristics (sub-MIPs, RINS/RENS, feasibility jump), its presolve and its restart cost more
#: than they find once greedy + swap and the Lagrangian heuristic have given it a good start;
#: without them the branch and bound closes the gap two to four times sooner on the hard
#: p = 15–25 zone (measured in ``benchmarks/bench_siting.py``; see the README). Without a
#: start (quotas the greedy could not meet) HiGHS keeps its defaults to find one.
PROOF_OPTIONS: dict[str, object] = {
    "presolve": "off",
    "mip_allow_restart": False,
    "mip_heuristic_effort": 0.0,
    "mip_heuristic_run_rins": False,
    "mip_heuristic_run_rens": False,
    "mip_heuristic_run_feasibility_jump": False,
    "mip_heuristic_run_root_reduced_cost": False,
}

#: Seconds the iterated swap search may spend improving the start of an exact plain MCLP
#: (about 1,000 rounds on 2,000 demand cells x 300 candidates at p = 20).
SEARCH_S = 0.3


@dataclass(frozen=True)
class PreparedMclp:
    """An MCLP instance after input checks and reductions (independent of ``p``)."""

    C: sp.csr_matrix  # candidates × demand coverage within max_m
    w: np.ndarray
    covered0: np.ndarray  # demand covered by existing sites
    cost: np.ndarray
    quotas: tuple[Quota, ...]
    Q: QuotaRows  # the quotas over the original candidates
    budget: float | None
    before: float  # weight covered by existing sites
    R: ReducedCovering

    @property
    def plain(self) -> bool:
        """Cardinality only (no budget, no quota): the Lagrangian machinery applies."""
        return self.budget is None and not self.quotas

    @property
    def reachable_weight(self) -> float:
        """Weight covered when every candidate is built (existing sites included)."""
        return self.before + float(self.R.w.sum())


@dataclass(frozen=True)
class ReducedAnswer:
    """A solve on the reduced instance: sites (reduced indices) and the bound on their gain."""

    sites: list[int]
    bound_gain: float
    status: str
    notes: tuple[str, ...]


def prepare_mclp(reach, weights, *, max_m=None, existing_reach=None, cost=None, budget=None,
                 quotas: Sequence[Quota] = (), p_check: int | None = None,
                 preprocess: bool = True) -> PreparedMclp:
    """Check the inputs and reduce the instance (see :func:`geoplan.siting.mclp`).

    ``p_check`` is the number of sites the quotas are checked against (``None``: not checked).
    """
    R0 = check_reach(reach, "candidate sites")
    n_c, n_d = R0.shape
    w = check_weights(weights, n_d)
    C = coverage_from_reach(R0, max_m)
    covered0 = covered_by_existing(existing_reach, max_m, n_d)
    cost = check_cost(cost, n_c)
    Q = quota_rows(quotas, n_c, p_check)
    check_budget(Q, cost, budget, [q.name for q in quotas])
    reached = np.asarray(C.sum(axis=0)).ravel() > 0
    R = reduce_covering(C, w, (w > 0) & ~covered0 & reached, cost, Q, preprocess)
    return PreparedMclp(C, w, covered0, cost, tuple(quotas), Q, budget, float(w[covered0].sum()), R)


def reduced_value(R: ReducedCovering, sites: Sequence[int]) -> float:
    """Weight the reduced candidates ``sites`` cover."""
    if not len(sites):
        return 0.0
    return float(R.w[np.asarray(R.cover[list(sites)].sum(axis=0)).ravel() > 0].sum())


def _meets(R: ReducedCovering, sites: Sequence[int], p: int, budget) -> bool:
    sites = list(sites)
    if len(sites) > p or len(set(sites)) != len(sites):
        return False
    if budget is not None and R.cost[sites].sum() > budget + 1e-9:
        return False
    counts = R.quotas.member[:, sites].sum(axis=1)
    return bool((counts >= R.quotas.lower).all() and (counts <= R.quotas.upper).all())


def to_reduced(P: PreparedMclp, sites: Sequence[int]) -> list[int]:
    """Map original candidate indices to reduced ones (dropped candidates are left out)."""
    pos = {int(c): k for k, c in enumerate(P.R.cand)}
    return [pos[int(s)] for s in sites if int(s) in pos]


def solve_prepared(
    P: PreparedMclp,
    p: int,
    *,
    method: str = "exact",
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 1e-7,
    starts: Sequence[Sequence[int]] = (),
    progress: Callable[[SolveProgress], None] | None = None,
    label: str = "MCLP",
) -> ReducedAnswer:
    """Solve the MCLP with ``p`` sites on a prepared instance.

    ``starts`` are further answers (reduced indices) to improve by swaps and start from, e.g.
    the sites of ``p - 1`` plus the best addition; infeasible ones are ignored.
    """
    t0 = time.perf_counter()
    R, budget = P.R, P.budget
    if R.quotas.lower.size:
        disjoint = (R.quotas.member.sum(axis=0) <= 1).all()
        need = int(R.quotas.lower.sum()) if disjoint else int(R.quotas.lower.max())
        if need > p:
            raise InfeasibleError(f"quotas need at least {need} new sites but p = {p}")
    if (p == 0 or R.cover.shape[0] == 0 or R.w.size == 0) and not R.quotas.lower.any():
        return ReducedAnswer([], 0.0, "Optimal", ())  # nothing to choose or to gain
    sel_r = greedy_mclp(R.cover, R.Ct, R.w, p, cost=R.cost, budget=budget, quotas=R.quotas)
    if R.quotas.lower.size and (R.quotas.member[:, sel_r].sum(axis=1) < R.quotas.lower).any():
        if method == "greedy":
            raise InfeasibleError("greedy could not meet the quotas within p and the budget; "
                                  "try method='exact'")
        sel_r = []
    candidates = [sel_r] if sel_r else []
    candidates += [list(s) for s in starts if len(s) and _meets(R, s, p, budget)]
    heur_obj, notes = -np.inf, []
    for k, start in enumerate(candidates):
        improved = swap_mclp(R.cover, R.Ct, R.w, start, cost=R.cost, budget=budget,
                             quotas=R.quotas, time_limit_s=min(5.0, time_limit_s))
        value = reduced_value(R, improved)
        if value > heur_obj + 1e-9 * max(1.0, value):
            if k > 0:
                notes.append("a neighbouring answer improved the greedy start")
            sel_r, heur_obj = improved, value
    heur_obj = max(heur_obj, 0.0)
    n_rc = R.cover.shape[0]
    if P.plain and method == "exact" and 0 < len(sel_r) < n_rc:
        ils_sel, ils_obj = iterated_swap_mclp(R.cover, R.Ct, R.w, sel_r,
                                              kick=max(2, 2 * len(sel_r) // 5),
                                              time_limit_s=min(SEARCH_S, time_limit_s / 10))
        if ils_obj > heur_obj + 1e-9 * max(1.0, ils_obj):
            sel_r, heur_obj = ils_sel, ils_obj
            notes.append("iterated swap search improved the start")
    lag = None
    if P.plain and n_rc:
        lag = lagrangian_mclp_bound(R.cover, R.Ct, R.w, p, heur_obj,
                                    time_limit_s=min(10.0, time_limit_s / 4))
        if lag.best_value > heur_obj:
            alt = swap_mclp(R.cover, R.Ct, R.w, list(lag.best_sites), time_limit_s=2.0)
            alt_obj = reduced_value(R, alt)
            if alt_obj > heur_obj:
                sel_r, heur_obj = [int(j) for j in alt], alt_obj
                notes.append("Lagrangian heuristic improved the greedy answer")
    tol = 1e-9 * max(1.0, heur_obj)
    lag_cap = np.inf if lag is None else (
        integer_bound(lag.bound, maximize=True) if integer_gap(R.w) is not None else lag.bound)
    if method == "exact" and lag_cap <= heur_obj + tol:
        status, bound_gain = "Optimal", lag_cap
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
                               start=start, options=PROOF_OPTIONS if sel_r else None,
                               progress=progress,
                               label=label)
        if out.infeasible:
            raise InfeasibleError("no choice of new sites meets the quotas and the budget "
                                  f"together (HiGHS: {out.status})")
        if out.x is None:
            raise InfeasibleError(f"HiGHS found no solution within the limit ({out.status})")
        sel_r = [int(Rm.cand_pos[j]) for j in np.flatnonzero(out.x[:nm] > 0.5)]
        status, bound_gain = out.status, proven_integer_bound(out, Rm.w)
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
    return ReducedAnswer(list(sel_r), float(bound_gain), status, tuple(notes))


def result_from_answer(P: PreparedMclp, p: int, ans: ReducedAnswer, *, method: str,
                       t0: float, pad_to_p: bool = True,
                       extra_notes: Sequence[str] = ()) -> SitingResult:
    """Build the :class:`SitingResult` of a reduced answer on the original candidates."""
    R, C, w, covered0 = P.R, P.C, P.w, P.covered0
    n_c, n_d = C.shape
    notes = [f"preprocessing: {R.n_merged_from} demand cells -> {R.w.size} merged, "
             f"{n_c} candidates -> {R.cover.shape[0]}", *ans.notes, *extra_notes]
    selected = [int(R.cand[j]) for j in ans.sites]
    if pad_to_p and P.budget is None:
        selected, added = pad_to_p_sites(selected, p, C, w, covered0, P.Q, n_c)
        if added:
            notes.append(f"{added} site(s) add no coverage; padded to p = {p}")
    cov_after = covered0 | (np.asarray(C[selected].sum(axis=0)).ravel() > 0 if selected
                            else np.zeros(n_d, bool))
    objective = float(w[cov_after].sum())
    bound = clamp_bound(P.before + ans.bound_gain, objective, maximize=True)
    return SitingResult(
        model="mclp",
        method=method,
        selected=order_by_marginal_gain(C, w, selected, covered0),
        objective=objective,
        bound=float(bound),
        gap=relative_gap(objective, bound, P.before),
        status=ans.status,
        time_s=time.perf_counter() - t0,
        total_weight=float(w.sum()),
        weight_before=P.before,
        weight_after=objective,
        n_demand_model=int(R.w.size),
        n_candidates_model=int(R.cover.shape[0]),
        notes=tuple(notes),
    )
