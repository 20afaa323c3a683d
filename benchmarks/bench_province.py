"""Benchmark a province-scale coverage run: partitioned on Dask, and in one process where it fits.

On the synthetic province study of :mod:`geoplan.datasets.province` (real county outlines and
2020 census totals; synthetic 镇街/社区村, 500 m population grid, streets, facilities), it

- runs the coverage step partitioned per county on a LocalCluster (``--workers`` workers,
  each limited to ``--memory-limit``) and prints the wall time, the peak memory of each
  worker process and of the client, partitions per second and per-partition figures;
- runs the same study in one process (a fresh subprocess: ``load_study`` + coverage), when
  the memory it would need, projected from the partitions, fits in the machine; prints its
  wall time and peak memory, and checks that both runs give the same numbers;
- projects from the measured figures the time for 2,846 counties (the whole country) on 1,
  8 and 64 workers, and the network size at which one process runs out of memory.

Usage::

    python benchmarks/bench_province.py                       # Fujian (35), 2 workers
    python benchmarks/bench_province.py --counties 350581,350582 --workers 2   # quick
    python benchmarks/bench_province.py --no-single           # partitioned only

The generated study is cached (``GEOPLAN_CACHE_DIR``); its generation time is printed apart.
Timings are wall-clock seconds on whatever machine runs this; on a shared machine they are
noisy (the report says the load average at the start and the end).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

GB = 1e9
#: County-level units in China (2,846 in the 2020 census year), the ministry's whole run.
NATIONAL_COUNTIES = 2846
#: Land area of China (km²), for the projection by area.
NATIONAL_KM2 = 9.6e6


def _machine() -> str:
    import psutil

    load = os.getloadavg()
    return (f"{platform.node() or 'machine'}: {os.cpu_count()} cores, "
            f"{psutil.virtual_memory().total / GB:.1f} GB, Python {platform.python_version()}, "
            f"load average {load[0]:.2f}")


def _single_process(study: Path) -> dict:
    """Run the whole study in a fresh process; return its wall time, peak memory, table."""
    code = f"""
import json, resource, time, sys
t = time.perf_counter()
from geoplan.study import load_study
from geoplan.study.partitions import coverage_single_process
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
study = load_study({str(study)!r})
net = study.network()
table = coverage_single_process(study)
table.to_pickle(sys.argv[1])
print(json.dumps({{"wall_s": time.perf_counter() - t,
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "base_rss_bytes": base, "nodes": int(net.n_nodes),
                  "edges": int(len(net.edges)), "cells": int(len(study.population))}}))
"""
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-province-{os.getpid()}.pkl"
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["table"] = pd.read_pickle(out)
    out.unlink(missing_ok=True)
    return result


def projections(stats: pd.DataFrame, wall_s: float, n_workers: int) -> dict:
    """Project the measured run to 2,846 counties on 1, 8 and 64 workers.

    Two bases: the mean worker-seconds per county measured (counties like this province's),
    and the worker-seconds per km² (the country's land area at this province's density, an
    upper bound for the sparse west). The fixed cost (cluster start, planning, merging) is
    the wall time not spent in partitions at the measured parallelism.
    """
    counties = stats["partition"].str.split("-").str[0].nunique()
    busy_s = float(stats["seconds"].sum())
    per_county = busy_s / counties
    per_km2 = busy_s / float(stats["area_km2"].sum())
    fixed = max(0.0, wall_s - busy_s / n_workers)
    out = {}
    for workers in (1, 8, 64):
        out[workers] = {"by_county_s": fixed + NATIONAL_COUNTIES * per_county / workers,
                        "by_area_s": fixed + NATIONAL_KM2 * per_km2 / workers}
    return {"per_county_s": per_county, "per_km2_s": per_km2, "fixed_s": fixed,
            "workers": out}


def single_process_need(stats: pd.DataFrame, study: Path) -> tuple[float, float]:
    """Project one process's peak memory from the largest partition: (bytes, nodes).

    Memory per node = (the largest partition's worker peak - that worker's memory when its
    first partition started) / the partition's nodes; the whole network's nodes are its
    street count times the partitions' nodes-per-street ratio.
    """
    import pyogrio

    from geoplan.study.config import read_study_config

    config = read_study_config(study)
    edges = pyogrio.read_info(config.network.path)["features"]
    nodes = edges * stats["nodes"].sum() / stats["edges"].sum()
    big = stats.sort_values("nodes").iloc[-1]
    base = stats.loc[stats["pid"] == big["pid"], "start_rss_bytes"].min()
    per_node = (big["peak_rss_bytes"] - base) / big["nodes"]
    return base + per_node * nodes, nodes


def oom_point(peak_rss_bytes: int, base_rss_bytes: int, nodes: int, cells: int,
              memory_bytes: float) -> dict:
    """Network size (nodes, with cells in the measured ratio) at which one process runs out.

    The memory above the interpreter's baseline is taken as linear in the network and the
    cells together (the ratio of cells to nodes kept as measured).
    """
    per_node = (peak_rss_bytes - base_rss_bytes) / nodes
    max_nodes = (memory_bytes - base_rss_bytes) / per_node
    return {"bytes_per_node": per_node, "max_nodes": max_nodes,
            "max_cells": max_nodes * cells / nodes}


def _h(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--province", default="35")
    parser.add_argument("--counties", default=None, help="only these county codes (comma)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="4GB", help="per worker")
    parser.add_argument("--no-single", action="store_true", help="skip the one-process run")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    import psutil
    from dask.utils import parse_bytes

    from geoplan.datasets.province import province_study_path
    from geoplan.study.partitions import run_partitioned_coverage

    print(f"machine: {_machine()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    counties = args.counties.split(",") if args.counties else None
    started = time.perf_counter()
    study = province_study_path(args.province, counties=counties)
    print(f"study: {study} (ready in {time.perf_counter() - started:.1f} s; generated once)")

    run = run_partitioned_coverage(study, workers=args.workers, memory_limit=args.memory_limit)
    stats = run.stats
    limit = parse_bytes(args.memory_limit)
    peaks = stats.groupby("pid")["peak_rss_bytes"].max()
    print(f"\npartitioned: {len(run.partitions)} partitions "
          f"({(stats['level'] == 'town').sum()} of them 镇街 groups of large counties), "
          f"{stats['cells'].sum():,} cells, {stats['nodes'].sum():,.0f} nodes read "
          f"(windows overlap), on {len(run.workers)} workers limited to {limit / GB:.1f} GB")
    print(f"  wall time            {run.wall_s:8.1f} s")
    print(f"  partitions per s     {len(run.partitions) / run.wall_s:8.2f}")
    for pid, peak in peaks.items():
        print(f"  worker {pid:<8d} peak {peak / GB:6.2f} GB "
              f"({'under' if peak < limit else 'OVER'} its {limit / GB:.1f} GB limit)")
    print(f"  client peak          {run.client_peak_rss_bytes / GB:8.2f} GB")
    biggest = stats.sort_values("nodes", ascending=False).iloc[0]
    print(f"  largest partition    {biggest['partition']} ({biggest['nodes']:,.0f} nodes, "
          f"{biggest['cells']:,} cells, {biggest['seconds']:.1f} s)")
    print(f"  partition seconds    median {stats['seconds'].median():.1f}, "
          f"max {stats['seconds'].max():.1f}, sum {stats['seconds'].sum():.0f}")

    figures = {"partitioned": {"wall_s": run.wall_s, "partitions": len(run.partitions),
                               "worker_peak_gb": [p / GB for p in peaks],
                               "client_peak_gb": run.client_peak_rss_bytes / GB,
                               "limit_gb": limit / GB}}
    proj = projections(stats, run.wall_s, len(run.workers))
    figures["projection"] = proj
    print(f"\nprojection to {NATIONAL_COUNTIES:,} counties (measured {proj['per_county_s']:.1f} "
          f"worker-s per county, {proj['per_km2_s'] * 1000:.2f} worker-ms per km², "
          f"{proj['fixed_s']:.0f} s fixed):")
    for workers, p in proj["workers"].items():
        print(f"  {workers:3d} workers: {_h(p['by_county_s']):>8s} (counties like these), "
              f"{_h(p['by_area_s']):>8s} (the country's area at this density)")

    if not args.no_single:
        memory = psutil.virtual_memory().total
        need, nodes = single_process_need(stats, study)
        print(f"\nsingle process: {nodes / 1e6:.2f} M nodes (from the street file); projected "
              f"from the largest partition to need about {need / GB:.1f} GB "
              f"(of {memory / GB:.1f} GB, {psutil.virtual_memory().available / GB:.1f} GB "
              "free)")
        if need < 0.7 * psutil.virtual_memory().available:
            single = _single_process(study)
            if "error" in single:
                print(f"  failed: {single['error']}")
            else:
                same = run.coverage.sort_values(["level", "code", "facility_type", "tier_min"])
                other = single["table"].sort_values(["level", "code", "facility_type",
                                                     "tier_min"])
                pd.testing.assert_frame_equal(same.reset_index(drop=True),
                                              other.reset_index(drop=True), check_dtype=False)
                print(f"  {single['nodes']:,} nodes, {single['cells']:,} cells")
                print(f"  wall time            {single['wall_s']:8.1f} s")
                print(f"  peak memory          {single['peak_rss_bytes'] / GB:8.2f} GB")
                print("  same numbers as the partitioned run: yes")
                oom = oom_point(single["peak_rss_bytes"], single["base_rss_bytes"],
                                single["nodes"], single["cells"], memory)
                print(f"  {oom['bytes_per_node']:,.0f} bytes per node (cells in the measured "
                      f"ratio): one process of {memory / GB:.0f} GB runs out at about "
                      f"{oom['max_nodes'] / 1e6:.1f} M nodes and {oom['max_cells'] / 1e6:.1f} "
                      f"M cells ({oom['max_nodes'] / single['nodes']:.1f}x this study)")
                figures["single"] = {k: v for k, v in single.items() if k != "table"}
                figures["single_oom"] = oom
        else:
            print("  skipped: it would not fit")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2, default=float), encoding="utf-8")


if __name__ == "__main__":
    main()
    sys.exit(0)
