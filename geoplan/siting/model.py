"""The reduced covering instance behind LSCP and MCLP, and its sparse model arrays.

:func:`reduce_covering` applies the preprocessing of :mod:`geoplan.siting` (drop demand
covered by existing sites or by no candidate, merge demand cells with identical candidate
sets, drop dominated candidates); ``mclp_arrays`` and ``lscp_arrays`` write the models as
SciPy sparse matrices for :func:`geoplan.siting.highs.solve_sparse_mip`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from geoplan.siting.base import (
    QuotaRows,
    check_reach,
    coverage_from_reach,
    dominated_candidates,
    merge_identical_columns,
)


@dataclass(frozen=True)
class ReducedCovering:
    """A covering instance after preprocessing."""

    Ct: sp.csr_matrix  # merged demand × kept candidates
    cover: sp.csr_matrix  # kept candidates × merged demand
    w: np.ndarray  # merged weights
    cand: np.ndarray  # original index of each kept candidate
    cost: np.ndarray
    quotas: QuotaRows
    n_merged_from: int
    cand_pos: np.ndarray  # position of each candidate in the unrestricted reduced model


def restrict_candidates(R: ReducedCovering, keep: np.ndarray) -> ReducedCovering:
    """Keep some reduced candidates (and the demand they still reach)."""
    cover = sp.csr_matrix(R.cover[np.flatnonzero(keep)])
    live = np.asarray(cover.sum(axis=0)).ravel() > 0
    cover = sp.csr_matrix(cover[:, np.flatnonzero(live)])
    q = QuotaRows(R.quotas.member[:, keep], R.quotas.lower, R.quotas.upper)
    return ReducedCovering(sp.csr_matrix(cover.T), cover, R.w[live], R.cand[keep],
                           R.cost[keep], q, R.n_merged_from, np.flatnonzero(keep))


def covered_by_existing(existing_reach, max_m, n_d: int) -> np.ndarray:
    """Mask of demand cells some existing site covers within ``max_m``."""
    if existing_reach is None:
        return np.zeros(n_d, bool)
    E = coverage_from_reach(check_reach(existing_reach, "existing sites", n_d), max_m)
    return np.asarray(E.sum(axis=0)).ravel() > 0


def reduce_covering(C, w, keep_demand, cost, quotas: QuotaRows,
                    preprocess: bool) -> ReducedCovering:
    """Keep ``keep_demand`` cells, merge identical ones and drop dominated candidates.

    Candidates in a quota group are never dropped (see
    :func:`geoplan.siting.base.dominated_candidates`).
    """
    sub = sp.csr_matrix(C[:, np.flatnonzero(keep_demand)])
    n_c = sub.shape[0]
    if preprocess:
        Ct, w_m, _ = merge_identical_columns(sub, w[keep_demand])
        cover = sp.csr_matrix(Ct.T)
        droppable = ~quotas.member.any(axis=0)
        dom = dominated_candidates(cover, cost, droppable)
        kept = np.flatnonzero(~dom)
    else:
        Ct = sp.csr_matrix(sub.T)
        w_m = w[keep_demand]
        kept = np.arange(n_c)
    cover = sp.csr_matrix(sp.csr_matrix(Ct.T)[kept])
    cover.sort_indices()
    Ct = sp.csr_matrix(cover.T)
    q = QuotaRows(quotas.member[:, kept], quotas.lower, quotas.upper)
    return ReducedCovering(Ct, cover, w_m, kept, cost[kept], q, int(keep_demand.sum()),
                    np.arange(kept.size))


def seconds_left(t0: float, limit_s: float) -> float:
    """Seconds left of an overall limit (at least one, so HiGHS can return an answer)."""
    return max(1.0, limit_s - (time.perf_counter() - t0))


def integer_gap(coefficients: np.ndarray) -> float | None:
    """Absolute MIP gap just under 1 when all objective coefficients are integers."""
    c = np.asarray(coefficients, float)
    return 0.999 if c.size and np.array_equal(c, np.round(c)) else None


def integer_bound(bound: float, *, maximize: bool) -> float:
    """Round a bound on an integer optimum to the integer it proves (down when maximising).

    A round-off allowance (relative 1e-6, at most half a unit) keeps a bound a hair below an
    integer from dropping a whole unit.
    """
    if not np.isfinite(bound):
        return float(bound)
    slack = min(0.5, 1e-6 * max(1.0, abs(bound)))
    return float(np.floor(bound + slack) if maximize else np.ceil(bound - slack))


def proven_integer_bound(out, coefficients: np.ndarray) -> float:
    """Return the bound of a HiGHS MIP outcome, closed when HiGHS proved an integral optimum.

    With integer objective coefficients HiGHS prunes every node that cannot beat the
    incumbent by a whole unit, so when it reports ``Optimal`` its dual bound may still sit up
    to one unit past the answer (e.g. 42,273 against 42,273.99): the answer is then proven,
    and its value is the bound.
    """
    if (out.optimal and out.x is not None and integer_gap(coefficients) is not None
            and abs(out.bound - out.objective) < 1.0):
        return float(out.objective)
    return float(out.bound)


def mclp_arrays(R: ReducedCovering, p: int, budget):
    """MCLP arrays: columns ``x`` (candidates) then ``y`` (merged demand)."""
    n_c, n_m = R.cover.shape
    A_cov = sp.hstack([-R.Ct, sp.identity(n_m, format="csr")], format="csr")
    rows = [A_cov]
    lo = [np.full(n_m, -np.inf)]
    hi = [np.zeros(n_m)]
    zeros_y = sp.csr_matrix((1, n_m))
    rows.append(sp.hstack([sp.csr_matrix(np.ones((1, n_c))), zeros_y]))
    lo.append([-np.inf])
    hi.append([p])
    if budget is not None:
        rows.append(sp.hstack([sp.csr_matrix(R.cost[None, :]), zeros_y]))
        lo.append([-np.inf])
        hi.append([budget])
    if R.quotas.lower.size:
        rows.append(sp.hstack([sp.csr_matrix(R.quotas.member.astype(float)),
                               sp.csr_matrix((R.quotas.lower.size, n_m))]))
        lo.append(R.quotas.lower.astype(float))
        hi.append(R.quotas.upper)
    A = sp.vstack(rows, format="csc")
    c = np.r_[np.zeros(n_c), R.w]
    integer = np.r_[np.ones(n_c, bool), np.zeros(n_m, bool)]
    return c, A, np.concatenate(lo), np.concatenate(hi), integer


def lscp_arrays(R: ReducedCovering, need_weight: float | None):
    """LSCP arrays: every cell covered, or (with ``need_weight``) a covered-weight target."""
    n_c, n_m = R.cover.shape
    rows, lo, hi = [], [], []
    if need_weight is None:
        rows.append(R.Ct)
        lo.append(np.ones(n_m))
        hi.append(np.full(n_m, np.inf))
        n_y = 0
    else:
        n_y = n_m
        rows.append(sp.hstack([-R.Ct, sp.identity(n_m, format="csr")], format="csr"))
        lo.append(np.full(n_m, -np.inf))
        hi.append(np.zeros(n_m))
        rows.append(sp.hstack([sp.csr_matrix((1, n_c)), sp.csr_matrix(R.w[None, :])]))
        lo.append([need_weight])
        hi.append([np.inf])
    if R.quotas.lower.size:
        rows.append(sp.hstack([sp.csr_matrix(R.quotas.member.astype(float)),
                               sp.csr_matrix((R.quotas.lower.size, n_y))]))
        lo.append(R.quotas.lower.astype(float))
        hi.append(R.quotas.upper)
    A = sp.vstack([sp.csr_matrix(r) for r in rows], format="csc")
    c = np.r_[R.cost, np.zeros(n_y)]
    integer = np.r_[np.ones(n_c, bool), np.zeros(n_y, bool)]
    return c, A, np.concatenate(lo), np.concatenate(hi), integer
