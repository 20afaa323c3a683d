"""Tables a planner reads from a siting answer: ranked sites, before/after per unit, scenarios.

The coverage curve's workbook sheet (:func:`coverage_curve_table`) is built here too, with
its Chinese headers.

Also the demand weights that go into the models (population, households, 60+, 80+ or a user
column, with a multiplier for priority areas such as the 老区镇 安海 and 内坑).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from geoplan.errors import Problem, SchemaError, require_columns
from geoplan.siting.base import SitingResult, check_reach, coverage_from_reach

__all__ = [
    "CURVE_HEADERS_ZH",
    "coverage_before_after_by_unit",
    "coverage_curve_table",
    "demand_weights",
    "marginal_gains",
    "rank_sites_by_marginal_gain",
    "scenario_table",
]


def demand_weights(
    demand: pd.DataFrame,
    column: str = "pop_60plus",
    *,
    priority: np.ndarray | pd.Series | None = None,
    priority_multiplier: float = 1.0,
) -> np.ndarray:
    """Weights for the siting models from a population layer.

    Parameters
    ----------
    demand
        Population cells (``pop``, ``households``, ``pop_60plus``, ``pop_80plus`` or any
        user column).
    column
        The column to weight by.
    priority
        Boolean mask of cells in priority areas (e.g. ``cells["town_name"].isin(["安海镇",
        "内坑镇"])`` for the 老区镇), aligned with ``demand``.
    priority_multiplier
        Factor applied to the weight of priority cells (e.g. 1.5).

    Returns
    -------
    numpy.ndarray
        One non-negative weight per cell.

    Raises
    ------
    SchemaError
        When the column is missing or holds negative or missing values.
    """
    require_columns(demand, [column], "demand weights")
    w = pd.to_numeric(demand[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        rows = [Problem("negative or missing value", row=r, column=column)
                for r in demand.index[bad][:20]]
        raise SchemaError("demand weights", rows)
    if priority is not None:
        mask = np.asarray(priority, dtype=bool).ravel()
        problems = []
        if mask.size != len(demand):
            problems.append(Problem(f"priority mask has {mask.size} entries for "
                                    f"{len(demand)} cells"))
        if not (np.isfinite(priority_multiplier) and priority_multiplier >= 0):
            problems.append(Problem(f"priority_multiplier must be >= 0, got "
                                    f"{priority_multiplier!r}"))
        if problems:
            raise SchemaError("demand weights", problems)
        w = np.where(mask, w * float(priority_multiplier), w)
    return w


def marginal_gains(coverage: sp.csr_matrix, order: Sequence[int], covered: np.ndarray,
                   values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return what each site in ``order`` newly covers, given what is ``covered`` before it.

    Parameters
    ----------
    coverage
        Boolean sites × demand coverage (:func:`geoplan.siting.coverage_from_reach`), CSR.
    order
        Rows of ``coverage`` in the order the sites open.
    covered
        Demand covered before the first site (existing sites); not modified.
    values
        Column name → one value per demand cell (people, households …).

    Returns
    -------
    dict[str, numpy.ndarray]
        Column name → per site in ``order``, the sum of the values of the cells it covers
        that neither ``covered`` nor an earlier site covers. The sums add up to what the
        whole set adds to ``covered``.
    """
    covered = np.asarray(covered, bool).copy()
    out = {c: np.zeros(len(order)) for c in values}
    for k, j in enumerate(order):
        idx = coverage.indices[coverage.indptr[j] : coverage.indptr[j + 1]]
        newly = idx[~covered[idx]]
        covered[newly] = True
        for c, v in values.items():
            out[c][k] = float(v[newly].sum())
    return out


def rank_sites_by_marginal_gain(
    result: SitingResult,
    reach: sp.spmatrix,
    demand: pd.DataFrame,
    *,
    max_m: float | None = None,
    existing_reach: sp.spmatrix | None = None,
    columns: Sequence[str] = ("pop", "households", "pop_60plus"),
    site_ids: Sequence | None = None,
) -> pd.DataFrame:
    """Proposed sites in ranked order with what each newly covers.

    The order is ``result.selected`` (greedy by the model's weight given the chosen set);
    each row counts the people, households, 60+ … that the site covers and no existing or
    earlier-ranked site covers.

    Parameters
    ----------
    result
        A covering result (LSCP, MCLP, capacitated MCLP: newly *reached*, not served).
    reach, max_m, existing_reach
        The matrices the model was solved on.
    demand
        Population cells aligned with the reach columns.
    columns
        Columns of ``demand`` to count.
    site_ids
        Identifier of every candidate (e.g. ``candidates.index``); default the row number.

    Returns
    -------
    pandas.DataFrame
        ``rank``, ``candidate``, ``site_id``, ``new_<column>`` and ``cum_<column>`` for each
        column.
    """
    C = coverage_from_reach(check_reach(reach, "candidate sites"), max_m)
    n_d = C.shape[1]
    require_columns(demand, columns, "demand")
    ids = np.asarray(site_ids, dtype=object) if site_ids is not None else None
    covered = np.zeros(n_d, bool)
    if existing_reach is not None:
        E = coverage_from_reach(check_reach(existing_reach, "existing sites", n_d), max_m)
        covered = np.asarray(E.sum(axis=0)).ravel() > 0
    values = {c: pd.to_numeric(demand[c]).to_numpy(float) for c in columns}
    gains = marginal_gains(C, result.selected, covered, values)
    rows = []
    for rank, j in enumerate(result.selected, start=1):
        row = {"rank": rank, "candidate": int(j),
               "site_id": ids[j] if ids is not None else int(j)}
        row.update({f"new_{c}": float(g[rank - 1]) for c, g in gains.items()})
        rows.append(row)
    out = pd.DataFrame(rows, columns=["rank", "candidate", "site_id",
                                      *[f"new_{c}" for c in columns]])
    for c in columns:
        out[f"cum_{c}"] = out[f"new_{c}"].cumsum()
    return out


def coverage_before_after_by_unit(
    result: SitingResult,
    reach: sp.spmatrix,
    demand: pd.DataFrame,
    unit_column: str,
    *,
    max_m: float | None = None,
    existing_reach: sp.spmatrix | None = None,
    columns: Sequence[str] = ("pop", "households", "pop_60plus"),
) -> pd.DataFrame:
    """Covered totals and shares per admin unit before and after the proposed sites.

    Parameters
    ----------
    result, reach, max_m, existing_reach
        As in :func:`rank_sites_by_marginal_gain`.
    demand
        Population cells with ``unit_column`` (e.g. the 镇街 name or code of each cell).
    unit_column
        Column of ``demand`` naming the unit.
    columns
        Columns to total.

    Returns
    -------
    pandas.DataFrame
        Indexed by unit (cells without one under ``"(outside)"``): ``<c>_total``,
        ``<c>_before``, ``<c>_after``, ``<c>_share_before``, ``<c>_share_after`` and
        ``<c>_gain`` for each column.
    """
    C = coverage_from_reach(check_reach(reach, "candidate sites"), max_m)
    n_d = C.shape[1]
    require_columns(demand, [unit_column, *columns], "demand")
    before = np.zeros(n_d, bool)
    if existing_reach is not None:
        E = coverage_from_reach(check_reach(existing_reach, "existing sites", n_d), max_m)
        before = np.asarray(E.sum(axis=0)).ravel() > 0
    sel = np.asarray(result.selected, int)
    after = before | (np.asarray(C[sel].sum(axis=0)).ravel() > 0 if sel.size else before)
    # a cell without a unit still counts (as "(outside)"), so the units add up to the total
    frame = pd.DataFrame({"unit": demand[unit_column].astype(object).where(
        demand[unit_column].notna(), "(outside)").to_numpy()})
    for c in columns:
        v = pd.to_numeric(demand[c]).to_numpy(float)
        frame[f"{c}_total"] = v
        frame[f"{c}_before"] = np.where(before, v, 0.0)
        frame[f"{c}_after"] = np.where(after, v, 0.0)
    out = frame.groupby("unit", sort=True).sum()
    for c in columns:
        tot = out[f"{c}_total"].replace(0, np.nan)
        out[f"{c}_share_before"] = out[f"{c}_before"] / tot
        out[f"{c}_share_after"] = out[f"{c}_after"] / tot
        out[f"{c}_gain"] = out[f"{c}_after"] - out[f"{c}_before"]
    out.index.name = unit_column
    return out


def scenario_table(
    solve: Callable[[int], SitingResult],
    p_values: Sequence[int] = (5, 10, 20),
) -> pd.DataFrame:
    """Compare the same model for several numbers of new sites.

    Parameters
    ----------
    solve
        Function of ``p`` returning a result, e.g.
        ``lambda p: siting.mclp(reach, w, p, max_m=1000, existing_reach=ex)``.
    p_values
        The scenarios.

    Returns
    -------
    pandas.DataFrame
        One row per ``p``: ``objective``, ``weight_before``, ``weight_after``, ``gain``,
        ``share_before``, ``share_after``, ``bound``, ``gap``, ``status``, ``time_s``.
    """
    rows = []
    for p in p_values:
        r = solve(int(p))
        rows.append({
            "p": int(p), "objective": r.objective, "weight_before": r.weight_before,
            "weight_after": r.weight_after, "gain": r.weight_after - r.weight_before,
            "share_before": r.weight_before / max(r.total_weight, 1e-12),
            "share_after": r.weight_after / max(r.total_weight, 1e-12),
            "bound": r.bound, "gap": r.gap, "status": r.status, "time_s": r.time_s,
        })
    return pd.DataFrame(rows).set_index("p")


def result_summary(results: Mapping[str, SitingResult]) -> pd.DataFrame:
    """One row per named result: model, method, objective, bound, gap, status, time."""
    return pd.DataFrame([
        {"name": k, "model": r.model, "method": r.method, "n_new": len(r.selected),
         "objective": r.objective, "bound": r.bound, "gap": r.gap, "status": r.status,
         "time_s": r.time_s}
        for k, r in results.items()
    ]).set_index("name")


#: Chinese headers of the coverage-curve sheet, by column of ``CoverageCurve.table``.
CURVE_HEADERS_ZH = {
    "p": "新增站点数",
    "covered_weight": "覆盖老年人口",
    "covered_share": "覆盖率",
    "upper_bound": "上界",
    "gap": "差距",
    "proven_optimal": "是否已证明最优",
    "seconds": "用时(秒)",
}


def coverage_curve_table(curve_table: pd.DataFrame, *,
                         weight_label: str = "覆盖老年人口",
                         site_ids: Sequence | None = None) -> pd.DataFrame:
    """Build the coverage curve's workbook table with Chinese headers.

    Parameters
    ----------
    curve_table
        :attr:`geoplan.siting.CoverageCurve.table`.
    weight_label
        Header of the covered weight (default 覆盖老年人口, for 60+ weights; e.g. 覆盖人口
        for total population).
    site_ids
        Identifier of every candidate (e.g. the candidate layer's ``site_id``); when given, a
        last column 站点 lists the chosen sites' identifiers.

    Returns
    -------
    pandas.DataFrame
        新增站点数, the covered weight, 覆盖率 (share, 0–1), 上界, 差距 (relative), 是否已证明最优
        (是/否), 用时(秒) (and 站点); points the quotas make infeasible read 不可行.

    Raises
    ------
    SchemaError
        When a column of the curve table is missing.
    """
    require_columns(curve_table, list(CURVE_HEADERS_ZH), "coverage curve")
    out = curve_table[list(CURVE_HEADERS_ZH)].copy()
    out["proven_optimal"] = np.where(out["proven_optimal"].astype(bool), "是", "否")
    if "status" in curve_table.columns:
        out.loc[curve_table["status"] == "Infeasible", "proven_optimal"] = "不可行"
    out["seconds"] = out["seconds"].astype(float).round(2)
    out = out.rename(columns={**CURVE_HEADERS_ZH, "covered_weight": weight_label})
    if site_ids is not None and "sites" in curve_table.columns:
        ids = np.asarray(site_ids, dtype=object)
        out["站点"] = ["、".join(str(ids[j]) for j in sites) for sites in curve_table["sites"]]
    return out.reset_index(drop=True)
