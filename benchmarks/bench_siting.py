"""Benchmark: maximal covering on walking-network reach matrices, geoplan versus spopt.

The figures of issue 19 (siting at the planner's pace), each in one run:

- ``seeds``: MCLP p = 20 on ``synthetic_siting_instance(2000, 300, seed=s)`` for s = 0…12,
  geoplan exact against spopt 0.7 ``MCLP.from_cost_matrix(...).solve(PULP_CBC_CMD)`` on the
  same coverage, interleaved seed by seed (spopt in a child process with a time cap); both
  must be proven optimal with equal objectives. Prints every seed, the median ratio, the
  worst ratio and geoplan's median time.
- ``curve``: ``coverage_curve`` p = 1…40 on seed 2 (exact at every p), against independent
  spopt solves at seven values of p, checked point by point.
- ``county``: 10,000 cells × 2,000 candidates, p = 50, 60 s limit: proven optimal or the gap.

The load average is printed before and after each section: on a shared machine wall
seconds are noisy, so compare ratios measured in the same run.

Older figures (issue 5), section ``legacy``: Instance A: 10,000 demand cells x 2,000
candidates, p = 20, reach within 1,000 m on a synthetic street grid (limited Dijkstra, scipy
csgraph). Measured in one run:

- geoplan exact (HiGHS on the sparse model, after preprocessing and Lagrangian fixing);
- geoplan greedy + swap (the heuristic alone, and the full ``method="greedy"`` call with its
  Lagrangian bound);
- spopt 0.7 ``MCLP.from_cost_matrix`` + ``solve(PULP_CBC_CMD)`` on the same matrix (dense cost
  matrix, the way spopt takes it), in a child process with a time cap.

Instance B: 50,000 x 5,000, p = 50: geoplan exact with a time limit, reporting the gap and the
peak memory of the process that solved it.

Usage: ``python benchmarks/bench_siting.py [--only seeds,curve,county,legacy] [--quick]
[--spopt-timeout-s 900]``
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
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


def _run_spopt(n_d, n_c, p, seed, time_limit_s, queue):
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
    model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s))
    t_solve = time.perf_counter() - t0
    obj = float(pulp.value(model.problem.objective))
    queue.put({"spopt_solve_s": t_solve, "spopt_obj": obj, "spopt_peak_mb": _peak_mb()})


def _child(target, args, timeout_s):
    # spawn, not fork: a child forked after HiGHS ran in this process can hang on HiGHS's
    # thread pool
    ctx = mp.get_context("spawn")
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


def _machine() -> str:
    """CPU model, cores, memory, date and the versions compared (for the README)."""
    import datetime
    import platform
    from importlib.metadata import version

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem_gb = float("nan")
    versions = []
    for name in ("geoplan", "highspy", "spopt", "pulp"):
        try:
            versions.append(f"{name} {version(name)}")
        except Exception:
            versions.append(f"{name} -")
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{today}; {model}, {os.cpu_count()} cores, {mem_gb:.0f} GB; Python "
            f"{platform.python_version()}; " + ", ".join(versions))


def _verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def _spopt_solve(inst, p: int, time_limit_s: float, queue) -> None:
    """spopt 0.7 MCLP on the same coverage (dense cost matrix, the way spopt takes it).

    CBC gets the cap as its own time limit, so a capped run leaves no solver behind.
    """
    import pulp
    from spopt.locate import MCLP

    t0 = time.perf_counter()
    n_c, n_d = inst.reach.shape
    cost = np.full((n_d, n_c), 1e9)
    r = inst.reach.tocoo()
    cost[r.col, r.row] = r.data
    model = MCLP.from_cost_matrix(cost, inst.pop_60plus, service_radius=inst.max_m,
                                  p_facilities=p)
    model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s))
    proven = model.problem.sol_status == pulp.LpSolutionOptimal
    queue.put({"spopt_solve_s": time.perf_counter() - t0,
               "spopt_obj": float(pulp.value(model.problem.objective)),
               "spopt_status": "Optimal" if proven else "capped",
               "capped": not proven})


def _spopt_capped(inst, p: int, timeout_s: float) -> dict:
    """Run :func:`_spopt_solve` in a child process with CBC limited to ``timeout_s``."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_spopt_solve, args=(inst, p, timeout_s, q))
    t0 = time.perf_counter()
    proc.start()
    try:
        out = q.get(timeout=timeout_s + 300)  # model build and start-up come on top
    except Exception:
        out = {"capped": True}
    proc.join(timeout=5)
    if proc.is_alive():
        proc.kill()
        proc.join()
    out["wall_s"] = time.perf_counter() - t0
    return out


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a))


def bench_seeds(seeds, p: int, timeout_s: float, n_d: int = 2000, n_c: int = 300) -> None:
    print(f"\n== MCLP p = {p} on synthetic_siting_instance({n_d}, {n_c}, seed=s), s = "
          f"{seeds[0]}..{seeds[-1]}: geoplan exact vs spopt MCLP + PuLP/CBC "
          f"(cap {timeout_s:.0f} s)")
    print(_load())
    print(f"{'seed':>4s} {'geoplan_s':>9s} {'status':>8s} {'spopt_s':>9s} {'CBC':>8s} "
          f"{'ratio':>7s}  objectives")
    g_times, ratios, capped, proven, cpu = [], [], 0, 0, []
    for s in seeds:
        inst = synthetic_siting_instance(n_d, n_c, seed=s)
        c0 = time.process_time()
        g = siting.mclp(inst.reach, inst.pop_60plus, p, time_limit_s=300.0)
        cpu.append(time.process_time() - c0)
        proven += bool(g.proven_optimal)
        o = _spopt_capped(inst, p, timeout_s)
        g_times.append(g.time_s)
        if o["capped"]:
            capped += 1
            sp_t = o.get("spopt_solve_s", o["wall_s"])
            ratio = sp_t / g.time_s
            note = f"spopt CAPPED: CBC not done after {timeout_s:.0f} s (ratio is a lower bound)"
            st = "capped"
        else:
            sp_t, st = o["spopt_solve_s"], o["spopt_status"]
            ratio = sp_t / g.time_s
            note = (f"equal ({g.objective:.0f})" if _same(g.objective, o["spopt_obj"]) else
                    f"DIFFER: geoplan {g.objective:.1f}, spopt {o['spopt_obj']:.1f}")
        ratios.append(ratio)
        status = "optimal" if g.proven_optimal else f"gap {g.gap:.2e}"
        print(f"{s:4d} {g.time_s:9.2f} {status:>8s} {sp_t:9.2f} {st:>8s} {ratio:6.1f}x  {note}"
              f" (geoplan CPU {cpu[-1]:.2f} s)", flush=True)
    print(f"geoplan median {np.median(g_times):.2f} s (slowest {max(g_times):.2f} s; CPU median "
          f"{np.median(cpu):.2f} s, slowest {max(cpu):.2f} s); "
          f"spopt / geoplan: median {np.median(ratios):.1f}x, worst {min(ratios):.1f}x"
          + (f"; {capped} spopt run(s) capped" if capped else ""))
    print(f"targets: median ratio >= 10x: {_verdict(np.median(ratios) >= 10)}; no seed below "
          f"3x: {_verdict(min(ratios) >= 3)}; geoplan median < 2 s: "
          f"{_verdict(np.median(g_times) < 2)}; all {len(seeds)} proven optimal: "
          f"{_verdict(proven == len(seeds))}")
    print(_load())


def bench_curve(seed: int, ps, spopt_ps, timeout_s: float, n_d: int = 2000,
                n_c: int = 300) -> None:
    print(f"\n== coverage curve p = {ps[0]}..{ps[-1]} on synthetic_siting_instance({n_d}, "
          f"{n_c}, seed={seed}) vs {len(spopt_ps)} independent spopt solves")
    print(_load())
    inst = synthetic_siting_instance(n_d, n_c, seed=seed)
    cv = siting.coverage_curve(inst.reach, inst.pop_60plus, ps, time_limit_s=120.0)
    t = cv.table
    n_proven = int(t["proven_optimal"].sum())
    print(f"geoplan coverage_curve: {cv.time_s:.2f} s for {len(t)} points, {n_proven} proven "
          f"optimal; LSCP point: {len(cv.lscp.selected) if cv.lscp is not None else '-'} sites")
    slow = t.sort_values("seconds", ascending=False).head(6)
    print("slowest points: " + ", ".join(f"p={int(r.p)} {r.seconds:.2f} s"
                                          for r in slow.itertuples()))
    sp_total, all_same = 0.0, True
    for p in spopt_ps:
        o = _spopt_capped(inst, p, timeout_s)
        got = float(t.loc[t["p"] == p, "covered_weight"].iloc[0])
        if o["capped"]:
            sp_total += o.get("spopt_solve_s", o["wall_s"])
            all_same = False
            print(f"  spopt p={p}: CAPPED, CBC not done after {timeout_s:.0f} s")
        else:
            sp_total += o["spopt_solve_s"]
            same = _same(got, o["spopt_obj"])
            all_same &= same
            print(f"  spopt p={p}: {o['spopt_solve_s']:.2f} s, {o['spopt_status']}, "
                  f"objective {'equal' if same else 'DIFFERS'} ({o['spopt_obj']:.0f} vs {got:.0f})",
                  flush=True)
    same_ps = float(t.loc[t["p"].isin(spopt_ps), "seconds"].sum())
    print(f"spopt, {len(spopt_ps)} independent solves: {sp_total:.1f} s; geoplan's whole curve "
          f"({len(t)} points): {cv.time_s:.1f} s (ratio {sp_total / cv.time_s:.2f}), its "
          f"{len(spopt_ps)} points alone: {same_ps:.1f} s (ratio {sp_total / same_ps:.1f}); "
          f"objectives equal at every p compared: {all_same}")
    print(f"target: the whole curve, exact at every p, under 10 s: "
          f"{_verdict(cv.time_s < 10 and n_proven == len(t))} ({cv.time_s:.1f} s, "
          f"{n_proven}/{len(t)} proven)")
    print(_load())


def bench_county(n_d: int, n_c: int, p: int, limit_s: float, seed: int = 0) -> None:
    print(f"\n== county-sized MCLP: {n_d} cells x {n_c} candidates, p = {p}, "
          f"limit {limit_s:.0f} s")
    print(_load())
    inst = synthetic_siting_instance(n_d, n_c, seed=seed)
    r = siting.mclp(inst.reach, inst.pop_60plus, p, time_limit_s=limit_s)
    print(f"geoplan exact: {r.time_s:.2f} s, objective {r.objective:.0f}, bound {r.bound:.0f}, "
          f"gap {100 * r.gap:.3f} %, {'proven optimal' if r.proven_optimal else r.status}")
    ok = r.time_s < 60 and (r.proven_optimal or r.gap <= 0.001)
    print(f"target: proven optimal, or within 0.1 % with the gap printed, in under 60 s: "
          f"{_verdict(ok)} ({r.time_s:.1f} s, gap {100 * r.gap:.3f} %)")
    print(_load())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small instances (smoke test)")
    ap.add_argument("--only", default="seeds,curve,county,legacy",
                    help="comma-separated sections: seeds, curve, county, legacy")
    ap.add_argument("--spopt-timeout-s", type=float, default=900.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    print(f"machine: {_machine()}")
    if args.quick:
        if "county" in only:
            bench_county(2000, 300, 10, 20.0)
        if "curve" in only:
            bench_curve(2, list(range(1, 11)), [3], 120.0, 400, 60)
        if "seeds" in only:
            bench_seeds([0], 8, 120.0, 400, 60)
    else:
        if "county" in only:
            bench_county(10_000, 2_000, 50, 60.0)
        if "curve" in only:
            bench_curve(2, list(range(1, 41)), [5, 10, 15, 20, 25, 30, 40],
                        args.spopt_timeout_s)
        if "seeds" in only:
            bench_seeds(list(range(13)), 20, args.spopt_timeout_s)
    if "legacy" not in only:
        return 0
    print(f"\n== legacy (issue 5); {_load()}")
    if args.quick:
        a, b = (1000, 200, 8), (3000, 400, 10)
        limit_b = 5.0
    else:
        a, b = (10_000, 2_000, 20), (50_000, 5_000, 50)
        limit_b = 45.0
    print(f"== instance A: {a[0]} demand x {a[1]} candidates, p = {a[2]}, reach <= 1000 m")
    ga = _child(_run_geoplan, (*a, args.seed, 120.0), 600)
    print(f"reach nnz {ga['nnz']:,}, instance build {ga['build_s']:.2f} s")
    sa = _child(_run_spopt, (*a, args.seed, args.spopt_timeout_s), args.spopt_timeout_s + 600)
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
