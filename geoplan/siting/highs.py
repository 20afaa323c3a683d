"""Solve a sparse mixed-integer program with HiGHS (``highspy``), straight from SciPy arrays.

The siting models (:mod:`geoplan.siting`) build their constraint matrices as SciPy sparse
matrices and hand them here; nothing is ever expanded into a dense demand × candidate table
and no modelling layer (PuLP, Pyomo) sits in between. The matrix is passed to HiGHS in
column-wise (CSC) form through ``Highs.passModel``.

HiGHS prints its banner ("Running HiGHS …") on the first call into a solver whose
``output_flag`` is still on, and ``highspy.Highs()`` makes such a call in its constructor
(it registers callbacks), so the banner would reach stdout (and every notebook) before the
option could be set. :func:`_quiet_highs` builds the solver from the compiled base class
instead, switches the output off first, and only falls back to ``highspy.Highs`` when that
class is not there.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from geoplan.siting.progress import SolveProgress

logger = logging.getLogger(__name__)

__all__ = ["MipOutcome", "solve_sparse_mip"]


@dataclass(frozen=True)
class MipOutcome:
    """What HiGHS returned for one model.

    Attributes
    ----------
    x
        Column values of the best solution found (``None`` when there is none).
    objective
        Objective value of ``x`` (``nan`` when there is none).
    bound
        Best proven bound on the optimum (upper bound when maximising, lower when
        minimising). For an LP it equals the optimum.
    status
        HiGHS model status as text, e.g. ``"Optimal"``, ``"Time limit reached"``, ``"Infeasible"``.
    optimal
        ``True`` when HiGHS proved optimality (within its MIP gap tolerance).
    infeasible
        ``True`` when HiGHS proved the model infeasible.
    time_s
        Wall time of the solve in seconds.
    """

    x: np.ndarray | None
    objective: float
    bound: float
    status: str
    optimal: bool
    infeasible: bool
    time_s: float


def _quiet_highs():
    """Return a HiGHS solver with its console output (banner and log) switched off."""
    core = getattr(getattr(highspy, "_core", None), "_Highs", None)
    h = core() if core is not None else highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    return h


def solve_sparse_mip(
    cost: np.ndarray,
    A: sp.spmatrix,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    col_lower: np.ndarray,
    col_upper: np.ndarray,
    integer: np.ndarray,
    *,
    maximize: bool,
    time_limit_s: float | None = None,
    mip_rel_gap: float = 1e-7,
    mip_abs_gap: float | None = None,
    start: np.ndarray | None = None,
    relax: bool = False,
    lp_solver: str = "choose",
    threads: int | None = None,
    options: Mapping[str, object] | None = None,
    progress: Callable[[SolveProgress], None] | None = None,
    label: str = "MIP",
) -> MipOutcome:
    """Solve ``opt c'x  s.t.  row_lower <= A x <= row_upper,  col_lower <= x <= col_upper``.

    Parameters
    ----------
    cost
        Objective coefficients, one per column.
    A
        Constraint matrix (any SciPy sparse format; converted to CSC once).
    row_lower, row_upper
        Row bounds; use ``±numpy.inf`` for a missing side.
    col_lower, col_upper
        Column bounds.
    integer
        Boolean mask of integer columns.
    maximize
        Maximise instead of minimise.
    time_limit_s
        Stop after this many seconds and return the best solution found with its bound.
    mip_rel_gap
        Relative gap at which HiGHS stops the branch and bound.
    mip_abs_gap
        Absolute gap at which HiGHS stops (e.g. just under 1 when every objective
        coefficient is an integer, so the optimum is an integer too).
    start
        Optional full column vector of a feasible solution (e.g. from the greedy heuristic),
        given to HiGHS as an incumbent.
    relax
        Solve the LP relaxation (ignore ``integer``).
    lp_solver
        HiGHS ``solver`` option for an LP: ``"choose"`` (HiGHS decides; the dual simplex),
        ``"simplex"`` or ``"ipm"`` (interior point, then crossover to a vertex: about ten
        times faster on the highly degenerate covering LPs of LSCP and MCLP, slower on the
        assignment LPs of p-median and capacitated MCLP).
    threads
        Number of HiGHS threads (``None``: HiGHS default).
    options
        Further HiGHS options by name (e.g. ``{"mip_allow_restart": False}``).
    progress
        Called with a :class:`geoplan.siting.progress.SolveProgress` whenever HiGHS reports
        on its branch and bound (incumbent, bound, gap, nodes), and once more at the end;
        see :func:`geoplan.siting.progress.progress_reporter` for throttled displays.
    label
        What the progress reports call this solve.

    Returns
    -------
    MipOutcome
    """
    A = sp.csc_matrix(A)
    A.sum_duplicates()
    n_row, n_col = A.shape
    if n_col == 0:  # nothing to decide: feasible iff every row admits 0
        ok = bool(np.all(np.asarray(row_lower) <= 1e-9) and np.all(np.asarray(row_upper) >= -1e-9))
        return MipOutcome(np.zeros(0) if ok else None, 0.0 if ok else float("nan"),
                          0.0 if ok else float("nan"), "Optimal" if ok else "Infeasible",
                          ok, not ok, 0.0)
    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = n_row
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = np.asarray(col_lower, dtype=np.float64)
    lp.col_upper_ = np.asarray(col_upper, dtype=np.float64)
    lp.row_lower_ = np.asarray(row_lower, dtype=np.float64)
    lp.row_upper_ = np.asarray(row_upper, dtype=np.float64)
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = n_col
    lp.a_matrix_.num_row_ = n_row
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data.astype(np.float64)
    is_mip = (not relax) and bool(np.any(integer))
    if is_mip:
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
            for flag in np.asarray(integer, dtype=bool)
        ]
    h = _quiet_highs()
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(max(time_limit_s, 0.01)))
    if not is_mip:
        h.setOptionValue("solver", lp_solver)
    if is_mip:
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
        if mip_abs_gap is not None:
            h.setOptionValue("mip_abs_gap", float(mip_abs_gap))
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    for name, value in (options or {}).items():
        h.setOptionValue(name, value)
    h.passModel(lp)
    if is_mip and start is not None:
        idx = np.arange(n_col, dtype=np.int32)
        h.setSolution(n_col, idx, np.asarray(start, dtype=np.float64))
    t0 = time.perf_counter()
    if is_mip and progress is not None:
        _watch(h, progress, label, t0, maximize)
    h.run()
    elapsed = time.perf_counter() - t0
    status = h.getModelStatus()
    text = h.modelStatusToString(status)
    info = h.getInfo()
    infeasible = status in (
        highspy.HighsModelStatus.kInfeasible,
        highspy.HighsModelStatus.kUnboundedOrInfeasible,
    )
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    x = np.asarray(h.getSolution().col_value, dtype=np.float64) if has_solution else None
    objective = float(np.dot(cost, x)) if has_solution else float("nan")
    optimal = status == highspy.HighsModelStatus.kOptimal
    bound = float(info.mip_dual_bound) if is_mip else (objective if optimal else float("nan"))
    if has_solution and is_mip:
        # After a MIP start, HiGHS (1.16) can report its objective and dual bound without the
        # objective offset its presolve took out; both miss the same amount, so put it back.
        shift = objective - float(info.objective_function_value)
        if abs(shift) > 1e-7 * max(1.0, abs(objective)):
            logger.debug("HiGHS reported objective off by %.6g; bound corrected", shift)
            bound += shift
    logger.debug("HiGHS %s: %s in %.3f s, obj %.6g, bound %.6g", lp.num_col_, text, elapsed,
                 objective, bound)
    if is_mip and progress is not None:
        progress(SolveProgress(label, elapsed, objective, bound,
                               _gap(objective, bound), int(info.mip_node_count), done=True))
    return MipOutcome(
        x=x,
        objective=objective,
        bound=bound,
        status=text,
        optimal=optimal,
        infeasible=infeasible,
        time_s=elapsed,
    )


def _gap(incumbent: float, bound: float) -> float:
    if not (math.isfinite(incumbent) and math.isfinite(bound)):
        return math.inf
    return abs(bound - incumbent) / max(abs(incumbent), 1e-12)


def _watch(h, progress: Callable[[SolveProgress], None], label: str, t0: float,
           maximize: bool) -> None:
    """Send HiGHS's branch-and-bound figures to ``progress`` from its MIP callbacks."""
    cb = highspy.cb

    def on_event(kind, message, data_out, data_in, user_data):
        primal = float(data_out.mip_primal_bound)
        if not math.isfinite(primal) or abs(primal) >= highspy.kHighsInf:
            primal = math.nan
        dual = float(data_out.mip_dual_bound)
        if not math.isfinite(dual) or abs(dual) >= highspy.kHighsInf:
            return  # the root LP is not solved yet
        progress(SolveProgress(label, time.perf_counter() - t0, primal, dual,
                               _gap(primal, dual), int(data_out.mip_node_count)))

    h.setCallback(on_event, None)
    h.startCallback(cb.HighsCallbackType.kCallbackMipInterrupt)
    h.startCallback(cb.HighsCallbackType.kCallbackMipImprovingSolution)
