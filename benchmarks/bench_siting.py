"""Benchmark: maximal covering on walking-network reach matrices, geoplan versus spopt.

Instance A (issue 5): 10,000 demand cells x 2,000 candidates, p = 20, reach within 1,000 m on a
synthetic street grid (limited Dijkstra, scipy csgraph). Measured in one run:

- geoplan exact (HiGHS on the sparse model, after preprocessing and Lagrangian fixing);
- geoplan greedy + swap (the heuristic alone, and the full ``method="greedy"`` call with its
  Lagrangian bound);
- spopt 0.7 ``MCLP.from_cost_matrix`` + ``solve(PULP_CBC_CMD)`` on the same matrix (dense cost
  matrix, the way spopt takes it), in a child process with a time cap.

Instance B: 50,000 x 5,000, p = 50: geoplan exact with a time limit, reporting the gap and the
peak memory of the process that solved it.

Usage: ``python benchmarks/bench_siting.py [--quick] [--spopt-timeout-s 900]``
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time

import numpy as np

from geoplan import siting
from geoplan.datasets.siting_instances import synthetic_siting_instance
from geoplan.siting.base import coverage_from_reach, merge_identical_columns
from geoplan.siting.greedy import greedy_mclp, swap_mclp


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _run_geoplan(n_d, n_c, p, seed, time_limit_s, queue):
    t0 = time.perf_counter()
    inst = synthetic_siting_instance(n_d, n_c, seed=seed)
    t_build = time.perf_counter() - t0
    w = inst.pop_60plus
    out = {"n_demand": n_d, "n_candidates": n_c, "p": p, "nnz": inst.reach.nnz,
           "build_s": t_build}
    t0 = time.perf_counter()
    C = coverage_from_reach(inst.reach)
    Ct, wm, _ = merge_identical_columns(C, w)
    import scipy.sparse as sp

    cover = sp.csr_matrix(Ct.T)
    sel = swap_mclp(cover, Ct, wm, greedy_mclp(cover, Ct, wm, p))
    out["greedy_swap_s"] = time.perf_counter() - t0
    out["greedy_swap_obj"] = float(w[np.asarray(C[sel].sum(axis=0)).ravel() > 0].sum())
    g = siting.mclp(inst.reach, w, p, method="greedy")
    out.update(greedy_call_s=g.time_s, greedy_obj=g.objective, greedy_bound=g.bound,
               greedy_gap=g.gap)
    e = siting.mclp(inst.reach, w, p, method="exact", time_limit_s=time_limit_s)
    out.update(exact_s=e.time_s, exact_obj=e.objective, exact_bound=e.bound, exact_gap=e.gap,
               exact_status=e.status, exact_notes="; ".join(e.notes))
    out["peak_mb"] = _peak_mb()
    queue.put(out)


def _run_spopt(n_d, n_c, p, seed, queue):
    import pulp
    from spopt.locate import MCLP

    inst = synthetic_siting_instance(n_d, n_c, seed=seed)
    w = inst.pop_60plus
    t0 = time.perf_counter()
    cost = np.full((n_d, n_c), 1e9)
    r = inst.reach.tocoo()
    cost[r.col, r.row] = r.data
    model = MCLP.from_cost_matrix(cost, w, service_radius=inst.max_m, p_facilities=p)
    t_build = time.perf_counter() - t0
    queue.put({"spopt_build_s": t_build})
    t0 = time.perf_counter()
    model.solve(pulp.PULP_CBC_CMD(msg=False))
    t_solve = time.perf_counter() - t0
    obj = float(pulp.value(model.problem.objective))
    queue.put({"spopt_solve_s": t_solve, "spopt_obj": obj, "spopt_peak_mb": _peak_mb()})


def _child(target, args, timeout_s):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, q))
    t0 = time.perf_counter()
    proc.start()
    result: dict = {}
    while True:
        left = timeout_s - (time.perf_counter() - t0)
        try:
            result.update(q.get(timeout=max(left, 0.1)))
        except Exception:
            break
        if "spopt_solve_s" in result or "exact_s" in result:
            break
    proc.join(timeout=5)
    if proc.is_alive():
        proc.kill()
        proc.join()
        result["capped_at_s"] = timeout_s
    result["wall_s"] = time.perf_counter() - t0
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small instances (smoke test, < 30 s)")
    ap.add_argument("--spopt-timeout-s", type=float, default=900.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if args.quick:
        a, b = (1000, 200, 8), (3000, 400, 10)
        limit_b = 5.0
    else:
        a, b = (10_000, 2_000, 20), (50_000, 5_000, 50)
        limit_b = 45.0
    print(f"== instance A: {a[0]} demand x {a[1]} candidates, p = {a[2]}, reach <= 1000 m")
    ga = _child(_run_geoplan, (*a, args.seed, 120.0), 600)
    print(f"reach nnz {ga['nnz']:,}, instance build {ga['build_s']:.2f} s")
    sa = _child(_run_spopt, (*a, args.seed), args.spopt_timeout_s)
    rows = [
        ("geoplan exact (HiGHS)", ga["exact_s"], ga["exact_obj"], ga["exact_gap"],
         ga["exact_status"]),
        ("geoplan greedy+swap (heuristic only)", ga["greedy_swap_s"], ga["greedy_swap_obj"],
         (ga["exact_obj"] - ga["greedy_swap_obj"]) / ga["exact_obj"], "vs exact optimum"),
        ("geoplan method='greedy' (+ bound)", ga["greedy_call_s"], ga["greedy_obj"],
         ga["greedy_gap"], "gap from Lagrangian bound"),
    ]
    if "spopt_solve_s" in sa:
        sp_t = sa["spopt_build_s"] + sa["spopt_solve_s"]
        rows.append(("spopt MCLP + PuLP/CBC", sp_t, sa["spopt_obj"], float("nan"),
                     f"build {sa['spopt_build_s']:.1f} s + solve {sa['spopt_solve_s']:.1f} s"))
    else:
        sp_t = sa["wall_s"]
        rows.append(("spopt MCLP + PuLP/CBC", sp_t, float("nan"), float("nan"),
                     f"CAPPED: not finished after {args.spopt_timeout_s:.0f} s"))
    print(f"{'method':40s} {'time_s':>9s} {'objective':>12s} {'gap':>9s}  note")
    for name, t, obj, gap, note in rows:
        print(f"{name:40s} {t:9.3f} {obj:12.1f} {gap:9.5f}  {note}")
    print(f"ratio spopt / geoplan exact: {sp_t / ga['exact_s']:.1f}x"
          + (" (lower bound: spopt capped)" if "spopt_solve_s" not in sa else ""))
    if "spopt_obj" in sa:
        same = abs(sa["spopt_obj"] - ga["exact_obj"]) <= 1e-6 * max(1.0, ga["exact_obj"])
        print(f"objectives equal: {same}")
    short = 100 * (ga["exact_obj"] - ga["greedy_swap_obj"]) / ga["exact_obj"]
    print(f"greedy+swap within {short:.2f} % of the optimum in {ga['greedy_swap_s']:.3f} s")
    print(f"\n== instance B: {b[0]} demand x {b[1]} candidates, p = {b[2]}, time limit {limit_b} s")
    gb = _child(_run_geoplan, (*b, args.seed, limit_b), 900)
    print(f"reach nnz {gb['nnz']:,}, instance build {gb['build_s']:.2f} s")
    print(f"exact: {gb['exact_s']:.2f} s, objective {gb['exact_obj']:.1f}, bound "
          f"{gb['exact_bound']:.1f}, gap {gb['exact_gap']:.5f}, status {gb['exact_status']}")
    print(f"greedy+swap: {gb['greedy_swap_s']:.3f} s, objective {gb['greedy_swap_obj']:.1f}; "
          f"method='greedy' {gb['greedy_call_s']:.2f} s, gap {gb['greedy_gap']:.5f}")
    print(f"peak memory of the solving process: {gb['peak_mb']:.0f} MB")
    print(f"notes: {gb['exact_notes']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
