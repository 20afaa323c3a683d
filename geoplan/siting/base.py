"""Shared pieces of the siting models: the result record, quotas, input checks, reductions.

The models themselves live in :mod:`geoplan.siting.covering` (LSCP, MCLP, multi-year MCLP)
and :mod:`geoplan.siting.assign` (p-median, capacitated MCLP); :mod:`geoplan.siting` is the
public face and exports everything a user needs.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from geoplan.errors import InfeasibleError, Problem, SchemaError

__all__ = [
    "Quota",
    "QuotaRows",
    "SitingResult",
    "coverage_from_reach",
    "quotas_from_labels",
]


@dataclass(frozen=True)
class QuotaRows:
    """Quota constraints over reduced candidates: ``lower <= sum(x[member]) <= upper``."""

    member: np.ndarray  # bool, shape (n_quotas, n_candidates)
    lower: np.ndarray  # int, shape (n_quotas,)
    upper: np.ndarray  # float (inf allowed), shape (n_quotas,)

    @classmethod
    def empty(cls, n_candidates: int) -> QuotaRows:
        """No quota at all."""
        return cls(np.zeros((0, n_candidates), bool), np.zeros(0, int), np.zeros(0))


@dataclass(frozen=True)
class Quota:
    """A constraint on how many *new* sites come from a group of candidates.

    Parameters
    ----------
    name
        What the group is, e.g. ``"安海镇"`` or ``"south"`` (used in error messages).
    candidates
        Boolean mask (length = number of candidates) or integer indices of the candidates
        in the group.
    min_sites
        At least this many new sites from the group.
    max_sites
        At most this many (``None``: no upper limit).
    """

    name: str
    candidates: np.ndarray
    min_sites: int = 0
    max_sites: int | None = None


def quotas_from_labels(
    labels: Sequence[Hashable] | np.ndarray | pd.Series,
    min_sites: Mapping[Hashable, int],
    max_sites: Mapping[Hashable, int] | None = None,
) -> list[Quota]:
    """Build one :class:`Quota` per label, e.g. "at least one new 社工站 in every 镇街".

    Parameters
    ----------
    labels
        Group label of every candidate (e.g. the code of the 镇街 it lies in, or
        ``"north"``/``"south"``).
    min_sites
        Minimum number of new sites per label.
    max_sites
        Optional maximum per label.

    Returns
    -------
    list of Quota

    Notes
    -----
    Labels and keys are compared as text, so a 镇街 code given as ``350582101`` in one
    place and ``"350582101"`` in the other still matches.
    """
    text = np.array([str(x) for x in np.asarray(labels, dtype=object).ravel()], dtype=object)
    max_sites = dict(max_sites or {})
    names = list(dict.fromkeys([*map(str, min_sites), *map(str, max_sites)]))
    lo = {str(k): v for k, v in min_sites.items()}
    hi = {str(k): v for k, v in max_sites.items()}
    return [Quota(name, np.asarray(text == name, bool), lo.get(name, 0), hi.get(name))
            for name in names]


@dataclass(frozen=True)
class SitingResult:
    """The answer of one siting model.

    Attributes
    ----------
    model
        ``"lscp"``, ``"mclp"``, ``"p_median"`` or ``"capacitated_mclp"``.
    method
        ``"exact"`` (HiGHS branch and bound) or ``"greedy"`` (greedy + swap, LP bound).
    selected
        Indices (rows of the candidate reach matrix) of the proposed new sites, ranked.
        Covering models (LSCP, MCLP): by marginal gain, each site adds the most weight not
        covered by existing or earlier-ranked sites. p-median and capacitated MCLP: by the
        weight assigned to the site.
    objective
        Objective value of the answer: covered weight (MCLP, capacitated MCLP: served
        weight), total cost or number of new sites (LSCP), total weighted walking metres
        including penalties (p-median). Existing sites are included (they are fixed).
    bound
        Best proven bound on the optimum (MIP dual bound, or the LP relaxation).
    gap
        Relative optimality gap ``|bound - objective| / |objective - fixed_part|`` where
        ``fixed_part`` is what existing sites contribute in covering models (0 elsewhere);
        0 means proven optimal.
    status
        Solver status text (``"Optimal"``, ``"Time limit reached"``, ``"greedy+swap"``…).
    time_s
        Wall time of the model in seconds (preprocessing and solve).
    total_weight
        Total weight of all demand cells.
    weight_before
        Weight covered (served) by existing sites alone.
    weight_after
        Weight covered (served) with existing and proposed sites.
    n_demand_model, n_candidates_model
        Size of the model after preprocessing (merged demand, dropped candidates).
    assignment
        For p-median and capacitated MCLP: long table ``demand``, ``site_kind``
        (``"existing"``/``"new"``), ``site``, ``distance_m``, ``share`` (fraction of the cell
        assigned), ``weight``. ``None`` for covering models.
    notes
        Human-readable remarks (padding, preprocessing counts, time limits).
    """

    model: str
    method: str
    selected: np.ndarray
    objective: float
    bound: float
    gap: float
    status: str
    time_s: float
    total_weight: float
    weight_before: float
    weight_after: float
    n_demand_model: int
    n_candidates_model: int
    assignment: pd.DataFrame | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def proven_optimal(self) -> bool:
        """``True`` when the bound meets the answer: no better answer exists (gap 0)."""
        return self.gap == 0.0


def relative_gap(objective: float, bound: float, fixed_part: float = 0.0) -> float:
    """``|bound - objective| / max(|objective - fixed_part|, tiny)``, 0 when both agree."""
    if not (np.isfinite(objective) and np.isfinite(bound)):
        return float("inf")
    diff = abs(bound - objective)
    if diff <= 1e-9 * max(1.0, abs(objective)):
        return 0.0
    return float(diff / max(abs(objective - fixed_part), 1e-12))


def clamp_bound(bound: float, objective: float, *, maximize: bool) -> float:
    """Return a bound no better than the answer in hand (the answer bounds the optimum too).

    Keeps solver round-off (a bound a hair below a maximum just found) out of the report.
    """
    if not np.isfinite(bound):
        return float(bound)
    return float(max(bound, objective) if maximize else min(bound, objective))


def check_reach(reach: sp.spmatrix, what: str, n_demand: int | None = None) -> sp.csr_matrix:
    """Validate a reach matrix (sites × demand, metres) and return a CSR copy."""
    try:
        if not sp.issparse(reach):
            reach = sp.csr_matrix(np.asarray(reach, dtype=float))
        out = sp.csr_matrix(reach, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"{what} reach matrix", [Problem(
            f"is not a 2-D numeric (sparse) matrix of metres ({exc})")]) from None
    out.sum_duplicates()
    problems = []
    if n_demand is not None and out.shape[1] != n_demand:
        problems.append(Problem(f"has {out.shape[1]} demand columns, expected {n_demand}"))
    if out.nnz and (not np.isfinite(out.data).all() or (out.data < 0).any()):
        problems.append(Problem("holds negative or non-finite distances"))
    if problems:
        raise SchemaError(f"{what} reach matrix", problems)
    return out


def coverage_from_reach(reach: sp.spmatrix, max_m: float | None = None) -> sp.csr_matrix:
    """Boolean coverage (sites × demand) from a reach matrix of walking metres.

    Parameters
    ----------
    reach
        Sparse sites × demand walking distances in metres; explicit entries are reached pairs.
    max_m
        Service distance in metres; ``None`` keeps every explicit entry.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``1.0`` where the site covers the cell (stored as float64 for arithmetic).
    """
    r = check_reach(reach, "coverage")
    if max_m is not None:
        r = limit_reach(r, max_m)
    r.data = np.ones(r.nnz)
    return r


def limit_reach(reach: sp.csr_matrix, max_m: float | None) -> sp.csr_matrix:
    """Keep only entries at most ``max_m`` metres (a copy; explicit zeros are kept)."""
    if max_m is None:
        return reach.copy()
    if not (isinstance(max_m, int | float | np.number) and np.isfinite(max_m) and max_m > 0):
        raise SchemaError("parameters",
                          [Problem(f"max_m must be a positive number of metres, got {max_m!r}")])
    coo = reach.tocoo()
    keep = coo.data <= max_m
    out = sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=reach.shape)
    out.sort_indices()
    return out


def check_weights(weights, n_demand: int, what: str = "weights",
                  per: str = "demand cells") -> np.ndarray:
    """Validate demand weights (finite, non-negative, one per demand cell, or per ``per``)."""
    try:
        w = np.asarray(weights, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise SchemaError(what, [Problem(f"is not numeric ({exc})")]) from None
    problems = []
    if w.size != n_demand:
        problems.append(Problem(f"has {w.size} values for {n_demand} {per}"))
    elif not np.isfinite(w).all() or (w < 0).any():
        problems.append(Problem("holds negative or non-finite values"))
    if problems:
        raise SchemaError(what, problems)
    return w


def _whole(value) -> bool:
    """Tell whether ``value`` is a whole number >= 0 (``3`` or ``3.0``, not ``True``, ``2.5``)."""
    return (isinstance(value, int | float | np.integer | np.floating)
            and not isinstance(value, bool | np.bool_) and bool(np.isfinite(value))
            and float(value).is_integer() and value >= 0)


def check_p(p, what: str = "p") -> int:
    """Validate a number of new sites (a non-negative whole number)."""
    if not _whole(p):
        raise SchemaError("parameters",
                          [Problem(f"{what} must be a whole number of sites >= 0, got {p!r}")])
    return int(p)


def check_method(method: str, allowed: Sequence[str] = ("exact", "greedy")) -> str:
    """Validate the solver choice."""
    if method not in allowed:
        msg = f"method must be one of {', '.join(map(repr, allowed))}, got {method!r}"
        raise SchemaError("parameters", [Problem(msg)])
    return method


def check_cost(cost, n_c: int) -> np.ndarray:
    """Per-candidate cost (default 1 each): finite, non-negative, one per candidate."""
    if cost is None:
        return np.ones(n_c)
    return check_weights(cost, n_c, "cost", per="candidates")


def quota_rows(quotas: Sequence[Quota], n_c: int, p: int | None) -> QuotaRows:
    """Turn quotas into arrays and raise :class:`InfeasibleError` when they clash with ``p``."""
    if not quotas:
        return QuotaRows.empty(n_c)
    member = np.zeros((len(quotas), n_c), bool)
    problems = []
    for k, q in enumerate(quotas):
        idx = np.asarray(q.candidates).ravel()
        if idx.dtype == bool:
            if idx.size != n_c:
                problems.append(Problem(f"quota {q.name!r}: mask has {idx.size} entries for "
                                        f"{n_c} candidates"))
                continue
            member[k] = idx
        elif idx.size and (idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= n_c):
            problems.append(Problem(f"quota {q.name!r}: candidate indices must be whole numbers "
                                    f"in 0..{n_c - 1}"))
        else:
            member[k, idx.astype(int)] = True
        if not _whole(q.min_sites) or (q.max_sites is not None and not _whole(q.max_sites)):
            problems.append(Problem(f"quota {q.name!r}: min_sites and max_sites must be whole "
                                    f"numbers >= 0, got {q.min_sites!r} and {q.max_sites!r}"))
    if problems:
        raise SchemaError("quotas", problems)
    lower = np.array([int(q.min_sites) for q in quotas], int)
    upper = np.array([np.inf if q.max_sites is None else q.max_sites for q in quotas], float)
    for k, q in enumerate(quotas):
        if lower[k] > member[k].sum():
            msg = (f"quota {q.name!r} asks for at least {lower[k]} new sites but the group "
                   f"has only {int(member[k].sum())} candidates")
            raise InfeasibleError(msg)
        if lower[k] > upper[k]:
            msg = f"quota {q.name!r}: min_sites {lower[k]} exceeds max_sites {upper[k]:.0f}"
            raise InfeasibleError(msg)
    if p is not None:
        disjoint = (member.sum(axis=0) <= 1).all()
        need = int(lower.sum()) if disjoint else int(lower.max())
        if need > p:
            msg = (f"quotas need at least {need} new sites "
                   f"({', '.join(f'{q.name}: {q.min_sites}' for q in quotas if q.min_sites)}) "
                   f"but p = {p}")
            raise InfeasibleError(msg)
    return QuotaRows(member, lower, upper)


def check_budget(quotas: QuotaRows, cost: np.ndarray, budget: float | None,
                 names: Sequence[str]) -> None:
    """Raise :class:`InfeasibleError` when the cheapest way to meet the quotas costs too much."""
    if budget is None:
        return
    if not (isinstance(budget, int | float | np.number) and np.isfinite(budget)):
        raise SchemaError("parameters", [Problem(f"budget must be a finite number, got "
                                                 f"{budget!r}")])
    if budget < 0:
        raise InfeasibleError(f"budget {budget} is negative")
    if quotas.lower.size == 0:
        return
    disjoint = (quotas.member.sum(axis=0) <= 1).all()
    parts = []
    for k in range(quotas.lower.size):
        c = np.sort(cost[quotas.member[k]])[: quotas.lower[k]]
        parts.append(float(c.sum()))
    need = sum(parts) if disjoint else max(parts)
    if need > budget + 1e-9:
        msg = (f"budget {budget:g} is too small: meeting the quotas "
               f"({', '.join(names)}) costs at least {need:g}")
        raise InfeasibleError(msg)


def merge_identical_columns(C: sp.csr_matrix, w: np.ndarray, ratio: np.ndarray | None = None):
    """Merge demand cells (columns of ``C``) with identical coverage sets, summing weights.

    Returns ``(Ct_merged, w_merged, group)`` where ``Ct_merged`` is merged-demand × candidates
    (CSR, data 1.0) and ``group[i]`` is the merged cell of original column ``i``.
    """
    Ct = sp.csr_matrix(C.T)
    Ct.sort_indices()
    keys: dict[bytes, int] = {}
    group = np.empty(Ct.shape[0], np.int64)
    ind, ptr = Ct.indices, Ct.indptr
    extra = ratio if ratio is not None else None
    for i in range(Ct.shape[0]):
        key = ind[ptr[i] : ptr[i + 1]].tobytes()
        if extra is not None:
            key += np.float64(extra[i]).tobytes()
        group[i] = keys.setdefault(key, len(keys))
    first = np.full(len(keys), -1, np.int64)
    first[group[::-1]] = np.arange(Ct.shape[0])[::-1]
    Ct_m = Ct[first]
    Ct_m.data[:] = 1.0
    w_m = np.bincount(group, weights=w, minlength=len(keys))
    return sp.csr_matrix(Ct_m), w_m, group


def dominated_candidates(cover: sp.csr_matrix, cost: np.ndarray, droppable: np.ndarray):
    """Mask of candidates another candidate dominates (covers a superset at no higher cost).

    Only candidates flagged ``droppable`` (no quota membership) are considered, and only
    droppable candidates serve as dominators, so quotas keep every option. Ties (identical
    coverage and cost) keep the lowest index.
    """
    n_c = cover.shape[0]
    size = np.diff(cover.indptr)
    dominated = np.zeros(n_c, bool)
    dominated[droppable & (size == 0)] = True
    live = np.flatnonzero(droppable & (size > 0))
    if live.size < 2:
        return dominated
    B = sp.csr_matrix(cover[live], dtype=np.float32)
    overlap = sp.coo_matrix(B @ B.T)
    a, b, ov = live[overlap.row], live[overlap.col], overlap.data
    sel = (a != b) & (np.abs(ov - size[a]) < 0.5) & (cost[b] <= cost[a])
    a, b = a[sel], b[sel]
    strict = (size[b] > size[a]) | (cost[b] < cost[a]) | (b < a)
    dominated[a[strict]] = True
    return dominated


def order_by_marginal_gain(C: sp.csr_matrix, w: np.ndarray, selected, covered0) -> np.ndarray:
    """Order ``selected`` greedily: each next site adds the most weight not yet covered."""
    selected = [int(s) for s in selected]
    if not selected:
        return np.zeros(0, int)
    uncovered = ~np.asarray(covered0, bool)
    out = []
    rest = list(selected)
    while rest:
        gains = [w[C.indices[C.indptr[j] : C.indptr[j + 1]]][
            uncovered[C.indices[C.indptr[j] : C.indptr[j + 1]]]].sum() for j in rest]
        k = int(np.argmax(gains))
        j = rest.pop(k)
        out.append(j)
        uncovered[C.indices[C.indptr[j] : C.indptr[j + 1]]] = False
    return np.asarray(out, int)


def pad_to_p_sites(selected, p, C, w, covered0, quotas: QuotaRows, n_c) -> tuple[list[int], int]:
    """Add zero-gain candidates until ``p`` sites are chosen (respecting quota maximums)."""
    selected = list(selected)
    if len(selected) >= p:
        return selected, 0
    score = C @ w
    counts = quotas.member[:, selected].sum(axis=1) if selected else np.zeros(quotas.lower.size)
    added = 0
    for j in np.argsort(-score, kind="stable"):
        if len(selected) >= p:
            break
        if j in selected:
            continue
        after = counts + quotas.member[:, j]
        if (after > quotas.upper).any():
            continue
        selected.append(int(j))
        counts = after
        added += 1
    return selected, added
