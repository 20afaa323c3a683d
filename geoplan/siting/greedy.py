"""Greedy construction and swap (interchange) improvement for the siting models.

These heuristics work on the reduced sparse matrices built by :mod:`geoplan.siting`
(candidates × demand, CSR) and return candidate indices. They are fast (milliseconds on
10,000 × 2,000) and, because :mod:`geoplan.siting` always pairs them with the LP-relaxation
bound from HiGHS, every heuristic answer still reports its optimality gap.

The swap step is the classic vertex-substitution / 1-opt interchange of Teitz and Bart (1968):
remove one chosen site, add the best unchosen one, keep the move when the objective improves,
until no single swap improves.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from geoplan.siting.base import QuotaRows

__all__ = [
    "greedy_lscp",
    "greedy_mclp",
    "greedy_p_median",
    "swap_mclp",
    "swap_p_median",
]

_TOL = 1e-9


def _spread(Ct: sp.csr_matrix, rows: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    """Sum ``w[rows]`` into the candidates that cover each of ``rows`` (length ``n``)."""
    if rows.size == 0:
        return np.zeros(n)
    sub = Ct[rows]
    return np.bincount(sub.indices, weights=np.repeat(w[rows], np.diff(sub.indptr)), minlength=n)


def _allowed_to_add(j_mask_ok: np.ndarray, counts: np.ndarray, quotas: QuotaRows) -> np.ndarray:
    ok = j_mask_ok.copy()
    for g in range(quotas.lower.size):
        if np.isfinite(quotas.upper[g]) and counts[g] + 1 > quotas.upper[g]:
            ok &= ~quotas.member[g]
    return ok


def greedy_mclp(
    cover: sp.csr_matrix,
    Ct: sp.csr_matrix,
    w: np.ndarray,
    p: int,
    *,
    cost: np.ndarray | None = None,
    budget: float | None = None,
    quotas: QuotaRows | None = None,
) -> list[int]:
    """Greedy maximal covering: add the site with the largest newly covered weight.

    With a budget the score is newly covered weight per unit cost. Quota minimums are met
    first (best site inside a group still short of its minimum), then sites are added freely.
    Returns the chosen candidate indices in the order they were added.
    """
    n_c = cover.shape[0]
    quotas = quotas if quotas is not None else QuotaRows.empty(n_c)
    cost = np.ones(n_c) if cost is None else np.asarray(cost, float)
    budget_left = np.inf if budget is None else float(budget)
    uncovered = np.ones(cover.shape[1], bool)
    gains = cover @ w
    chosen: list[int] = []
    free = np.ones(n_c, bool)
    counts = np.zeros(quotas.lower.size, int)
    while len(chosen) < p:
        ok = _allowed_to_add(free & (cost <= budget_left + _TOL), counts, quotas)
        short = counts < quotas.lower
        if short.any():
            ok &= quotas.member[short].any(axis=0)
        if not ok.any():
            break
        score = gains / np.maximum(cost, 1e-12) if budget is not None else gains
        j = int(np.argmax(np.where(ok, score, -np.inf)))
        if gains[j] <= _TOL and not short.any() and budget is not None:
            break
        chosen.append(j)
        free[j] = False
        budget_left -= cost[j]
        counts += quotas.member[:, j]
        row = cover.indices[cover.indptr[j] : cover.indptr[j + 1]]
        newly = row[uncovered[row]]
        uncovered[newly] = False
        gains -= _spread(Ct, newly, w, n_c)
    return chosen


def swap_mclp(
    cover: sp.csr_matrix,
    Ct: sp.csr_matrix,
    w: np.ndarray,
    chosen: Sequence[int],
    *,
    cost: np.ndarray | None = None,
    budget: float | None = None,
    quotas: QuotaRows | None = None,
    time_limit_s: float = 5.0,
) -> list[int]:
    """Improve a maximal-covering solution by single swaps until none improves.

    Every swap keeps the number of sites, the quotas and the budget satisfied.
    """
    n_c, n_d = cover.shape
    quotas = quotas if quotas is not None else QuotaRows.empty(n_c)
    cost = np.ones(n_c) if cost is None else np.asarray(cost, float)
    chosen = list(chosen)
    is_chosen = np.zeros(n_c, bool)
    is_chosen[chosen] = True
    cnt = np.zeros(n_d, np.int64)
    for j in chosen:
        cnt[cover.indices[cover.indptr[j] : cover.indptr[j + 1]]] += 1
    gains = cover @ (w * (cnt == 0))
    counts = quotas.member[:, chosen].sum(axis=1) if chosen else np.zeros(quotas.lower.size)
    spent = cost[chosen].sum()
    scale = max(float(w.sum()), 1.0)
    t_end = time.perf_counter() + time_limit_s
    improved = True
    while improved and time.perf_counter() < t_end:
        improved = False
        for pos in range(len(chosen)):
            s = chosen[pos]
            row_s = cover.indices[cover.indptr[s] : cover.indptr[s + 1]]
            crit = row_s[cnt[row_s] == 1]
            loss = float(w[crit].sum())
            delta = _spread(Ct, crit, w, n_c)
            g2 = gains + delta
            ok = ~is_chosen
            if budget is not None:
                ok &= spent - cost[s] + cost <= budget + _TOL
            for g in range(quotas.lower.size):
                after = counts[g] - quotas.member[g, s] + quotas.member[g]
                ok &= (after >= quotas.lower[g]) & (after <= quotas.upper[g])
            if not ok.any():
                continue
            j = int(np.argmax(np.where(ok, g2, -np.inf)))
            if g2[j] - loss <= 1e-9 * scale:
                continue
            # remove s
            cnt[row_s] -= 1
            gains = g2
            # add j
            row_j = cover.indices[cover.indptr[j] : cover.indptr[j + 1]]
            newly = row_j[cnt[row_j] == 0]
            cnt[row_j] += 1
            gains = gains - _spread(Ct, newly, w, n_c)
            is_chosen[s], is_chosen[j] = False, True
            counts = counts - quotas.member[:, s] + quotas.member[:, j]
            spent += cost[j] - cost[s]
            chosen[pos] = j
            improved = True
            if time.perf_counter() >= t_end:
                break
    return chosen


def greedy_lscp(
    cover: sp.csr_matrix,
    Ct: sp.csr_matrix,
    w: np.ndarray,
    target_weight: float,
    *,
    cost: np.ndarray | None = None,
    quotas: QuotaRows | None = None,
) -> list[int]:
    """Greedy set covering, then drop redundant sites.

    Adds the site with the most newly covered weight per unit cost until the covered weight
    reaches ``target_weight`` (use the total of ``w`` to cover every cell; pass ``w`` of ones
    to count cells), meeting quota minimums first. Then removes, most expensive first, every
    site whose removal keeps the target and the quotas. Returns an empty list when the target
    cannot be reached.
    """
    n_c, n_d = cover.shape
    quotas = quotas if quotas is not None else QuotaRows.empty(n_c)
    cost = np.ones(n_c) if cost is None else np.asarray(cost, float)
    uncovered = np.ones(n_d, bool)
    gains = cover @ w
    chosen: list[int] = []
    free = np.ones(n_c, bool)
    counts = np.zeros(quotas.lower.size, int)
    covered = 0.0
    tol = 1e-9 * max(target_weight, 1.0)
    while covered < target_weight - tol or (counts < quotas.lower).any():
        ok = _allowed_to_add(free, counts, quotas)
        short = counts < quotas.lower
        if short.any():
            ok &= quotas.member[short].any(axis=0)
        else:
            ok &= gains > _TOL
        if not ok.any():
            return []
        j = int(np.argmax(np.where(ok, gains / np.maximum(cost, 1e-12), -np.inf)))
        chosen.append(j)
        free[j] = False
        counts += quotas.member[:, j]
        row = cover.indices[cover.indptr[j] : cover.indptr[j + 1]]
        newly = row[uncovered[row]]
        uncovered[newly] = False
        covered += float(w[newly].sum())
        gains -= _spread(Ct, newly, w, n_c)
    # redundancy elimination
    cnt = np.zeros(n_d, np.int64)
    for j in chosen:
        cnt[cover.indices[cover.indptr[j] : cover.indptr[j + 1]]] += 1
    for j in sorted(chosen, key=lambda k: (-cost[k], -chosen.index(k))):
        row = cover.indices[cover.indptr[j] : cover.indptr[j + 1]]
        lost = float(w[row[cnt[row] == 1]].sum())
        after = counts - quotas.member[:, j]
        if covered - lost >= target_weight - tol and (after >= quotas.lower).all():
            cnt[row] -= 1
            covered -= lost
            counts = after
            chosen.remove(j)
    return chosen


def _p_median_gains(D: sp.csr_matrix, row_of: np.ndarray, w: np.ndarray, cur: np.ndarray):
    saving = np.maximum(cur[D.indices] - D.data, 0.0) * w[D.indices]
    return np.bincount(row_of, weights=saving, minlength=D.shape[0]).astype(float)


def greedy_p_median(
    D: sp.csr_matrix, w: np.ndarray, p: int, base: np.ndarray
) -> list[int]:
    """Greedy p-median: add the site that lowers the total weighted distance the most.

    ``D`` holds candidate → demand distances (explicit entries only for allowed pairs),
    ``base`` the cost of each demand cell with no new site (distance to the nearest existing
    site, the unassigned penalty, or a large number).
    """
    row_of = np.repeat(np.arange(D.shape[0]), np.diff(D.indptr))
    cur = base.astype(float).copy()
    chosen: list[int] = []
    free = np.ones(D.shape[0], bool)
    while len(chosen) < min(p, D.shape[0]):
        gains = _p_median_gains(D, row_of, w, cur)
        j = int(np.argmax(np.where(free, gains, -np.inf)))
        chosen.append(j)
        free[j] = False
        row = slice(D.indptr[j], D.indptr[j + 1])
        idx = D.indices[row]
        cur[idx] = np.minimum(cur[idx], D.data[row])
    return chosen


def _cost_without(D: sp.csr_matrix, chosen: list[int], base: np.ndarray):
    """Per demand: best and second-best cost over ``chosen`` sites and ``base``, and who is best."""
    n_d = D.shape[1]
    best = base.astype(float).copy()
    second = np.full(n_d, np.inf)
    who = np.full(n_d, -1)
    for pos, j in enumerate(chosen):
        row = slice(D.indptr[j], D.indptr[j + 1])
        idx, d = D.indices[row], D.data[row]
        better = d < best[idx]
        second[idx] = np.where(better, best[idx], np.minimum(second[idx], d))
        best[idx] = np.where(better, d, best[idx])
        who[idx] = np.where(better, pos, who[idx])
    second = np.minimum(second, base)
    return best, second, who


def swap_p_median(
    D: sp.csr_matrix,
    w: np.ndarray,
    chosen: Sequence[int],
    base: np.ndarray,
    *,
    time_limit_s: float = 5.0,
) -> list[int]:
    """Teitz–Bart interchange for the p-median: best single swap per chosen site, repeated."""
    chosen = list(chosen)
    row_of = np.repeat(np.arange(D.shape[0]), np.diff(D.indptr))
    t_end = time.perf_counter() + time_limit_s
    scale = max(float((w * np.where(np.isfinite(base), base, 0)).sum()), 1.0)
    improved = True
    while improved and time.perf_counter() < t_end:
        improved = False
        for pos in range(len(chosen)):
            best, second, who = _cost_without(D, chosen, base)
            cur_wo = np.where(who == pos, second, best)
            total_now = float((w * best).sum())
            total_wo = float((w * cur_wo).sum())
            gains = _p_median_gains(D, row_of, w, cur_wo)
            gains[chosen] = -np.inf
            j = int(np.argmax(gains))
            if total_wo - gains[j] < total_now - 1e-9 * scale:
                chosen[pos] = j
                improved = True
            if time.perf_counter() >= t_end:
                break
    return chosen
