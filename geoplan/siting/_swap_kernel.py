"""Compiled iterated local search for the plain maximal covering model (cardinality only).

The exact MCLP spends its time proving; a strong answer to start from lets HiGHS prune from
the first node. :func:`iterated_swap_mclp` improves a start (the greedy answer) by best
single swaps (one chosen site out, one other in) until none improves, then perturbs the
answer (a few chosen sites replaced at random among the best additions) and searches again,
keeping the best answer seen, for a number of rounds or a time budget. The exact MCLP
(:func:`geoplan.siting.maximal.solve_prepared`) gives HiGHS this answer as its start.

Every move is priced incrementally on the merged demand rows: ``cnt[i]`` counts the chosen
sites covering row ``i``, ``gain[j]`` is the weight candidate ``j`` would newly cover, and a
swap ``s -> j`` changes the covered weight by ``gain[j] + shared(s, j) - loss(s)``, where
``loss(s)`` is the weight only ``s`` covers and ``shared(s, j)`` the part of it ``j`` covers
too. A full neighbourhood scan costs the critical rows' degrees plus ``p × n`` additions, so a
round takes microseconds on 2,000 × 300.

The kernel is compiled with numba (cached on disk, so only a machine's first call compiles).
"""

from __future__ import annotations

import time

import numba
import numpy as np
import scipy.sparse as sp

__all__ = ["iterated_swap_mclp"]


@numba.njit(cache=True)
def _add(j, cov_ptr, cov_idx, ct_ptr, ct_idx, w, cnt, gain):
    for a in range(cov_ptr[j], cov_ptr[j + 1]):
        i = cov_idx[a]
        if cnt[i] == 0:
            for b in range(ct_ptr[i], ct_ptr[i + 1]):
                gain[ct_idx[b]] -= w[i]
        cnt[i] += 1


@numba.njit(cache=True)
def _remove(j, cov_ptr, cov_idx, ct_ptr, ct_idx, w, cnt, gain):
    for a in range(cov_ptr[j], cov_ptr[j + 1]):
        i = cov_idx[a]
        cnt[i] -= 1
        if cnt[i] == 0:
            for b in range(ct_ptr[i], ct_ptr[i + 1]):
                gain[ct_idx[b]] += w[i]


@numba.njit(cache=True)
def _local_search(sel, chosen, cov_ptr, cov_idx, ct_ptr, ct_idx, w, cnt, gain, extra, tol):
    """Best-improvement swaps until none improves by more than ``tol``; return the moves."""
    n_c = gain.size
    moves = 0
    while True:
        best_delta = tol
        best_pos = -1
        best_j = -1
        for pos in range(sel.size):
            s = sel[pos]
            loss = 0.0
            for a in range(cov_ptr[s], cov_ptr[s + 1]):
                i = cov_idx[a]
                if cnt[i] == 1:
                    loss += w[i]
                    for b in range(ct_ptr[i], ct_ptr[i + 1]):
                        extra[ct_idx[b]] += w[i]
            for j in range(n_c):
                if not chosen[j]:
                    delta = gain[j] + extra[j] - loss
                    if delta > best_delta:
                        best_delta, best_pos, best_j = delta, pos, j
            for a in range(cov_ptr[s], cov_ptr[s + 1]):
                i = cov_idx[a]
                if cnt[i] == 1:
                    for b in range(ct_ptr[i], ct_ptr[i + 1]):
                        extra[ct_idx[b]] = 0.0
        if best_pos < 0:
            return moves
        s = sel[best_pos]
        _remove(s, cov_ptr, cov_idx, ct_ptr, ct_idx, w, cnt, gain)
        _add(best_j, cov_ptr, cov_idx, ct_ptr, ct_idx, w, cnt, gain)
        chosen[s] = False
        chosen[best_j] = True
        sel[best_pos] = best_j
        moves += 1


@numba.njit(cache=True)
def _value(cnt, w):
    total = 0.0
    for i in range(cnt.size):
        if cnt[i] > 0:
            total += w[i]
    return total


@numba.njit(cache=True)
def _ils(cov_ptr, cov_idx, ct_ptr, ct_idx, w, start, rounds, kick, seed):
    np.random.seed(seed)  # noqa: NPY002 (numba seeds its own generator this way)
    n_c = cov_ptr.size - 1
    n_d = w.size
    p = start.size
    tol = 1e-9 * max(1.0, w.sum())
    cnt = np.zeros(n_d, np.int64)
    gain = np.zeros(n_c)
    for j in range(n_c):
        for a in range(cov_ptr[j], cov_ptr[j + 1]):
            gain[j] += w[cov_idx[a]]
    chosen = np.zeros(n_c, np.bool_)
    sel = start.copy()
    for j in sel:
        chosen[j] = True
        _add(j, cov_ptr, cov_idx, ct_ptr, ct_idx, w, cnt, gain)
    extra = np.zeros(n_c)
    _local_search(sel, chosen, cov_ptr, cov_idx, ct_ptr, ct_idx, w, cnt, gain, extra, tol)
    value = _value(cnt, w)
    best = sel.copy()
    best_value = value
    if p == 0 or p >= n_c:
        return best, best_value
    order = np.empty(n_c, np.int64)
    for _ in range(rounds):
        # kick: replace k random chosen sites by random picks among the best additions
        k = 1 + np.random.randint(0, max(1, min(kick, p)))  # noqa: NPY002
        for _r in range(k):
            pos = np.random.randint(0, p)  # noqa: NPY002
            s = sel[pos]
            _remove(s, cov_ptr, cov_idx, ct_ptr, ct_idx, w, cnt, gain)
            chosen[s] = False
            m = 0
            for j in range(n_c):
                if not chosen[j]:
                    order[m] = j
                    m += 1
            cand = order[:m]
            top = cand[np.argsort(-gain[cand])[: min(m, 4)]]
            j = top[np.random.randint(0, top.size)]  # noqa: NPY002
            _add(j, cov_ptr, cov_idx, ct_ptr, ct_idx, w, cnt, gain)
            chosen[j] = True
            sel[pos] = j
        _local_search(sel, chosen, cov_ptr, cov_idx, ct_ptr, ct_idx, w, cnt, gain, extra, tol)
        value = _value(cnt, w)
        if value > best_value + tol:
            best_value = value
            best[:] = sel
        elif value < best_value - tol:  # back to the best answer (swap by swap)
            for pos in range(p):
                s = sel[pos]
                _remove(s, cov_ptr, cov_idx, ct_ptr, ct_idx, w, cnt, gain)
                chosen[s] = False
            for pos in range(p):
                sel[pos] = best[pos]
                chosen[best[pos]] = True
                _add(best[pos], cov_ptr, cov_idx, ct_ptr, ct_idx, w, cnt, gain)
        else:  # equal: walk on along the plateau
            best[:] = sel
    return best, best_value


def iterated_swap_mclp(cover: sp.csr_matrix, Ct: sp.csr_matrix, w: np.ndarray,
                       start, *, rounds: int = 100, kick: int = 3, seed: int = 0,
                       time_limit_s: float | None = None) -> tuple[list[int], float]:
    """Improve a maximal-covering answer by best swaps with random kicks in between.

    Parameters
    ----------
    cover, Ct
        Candidates × demand and demand × candidates coverage (CSR; the values are ignored).
    w
        Demand weights.
    start
        Chosen candidate indices (``p`` of them, distinct).
    rounds
        Kicks, each followed by a full local search; with ``time_limit_s``, the kicks of one
        batch (batches run, each from the best answer so far, until the time is up).
    kick
        At most this many sites replaced per kick.
    seed
        Seed of the kicks (the answer is reproducible for a given number of batches).
    time_limit_s
        Keep running batches of ``rounds`` kicks until this many seconds have passed
        (``None``: one batch).

    Returns
    -------
    (list of int, float)
        The best answer found (as many sites as ``start``) and the weight it covers.
    """
    arrays = (cover.indptr.astype(np.int64), cover.indices.astype(np.int64),
              Ct.indptr.astype(np.int64), Ct.indices.astype(np.int64),
              np.asarray(w, np.float64))
    sel = np.asarray(list(start), np.int64)
    t_end = None if time_limit_s is None else time.perf_counter() + time_limit_s
    batch = 0
    while True:
        sel, value = _ils(*arrays, sel, int(rounds), int(kick), int(seed) + batch)
        batch += 1
        if t_end is None or time.perf_counter() >= t_end:
            return [int(j) for j in sel], float(value)
