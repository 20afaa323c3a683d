"""Smoke test: the access benchmark runs in --quick mode and prints its table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_access.py"


def test_bench_access_quick_prints_the_table(shared_data):
    out = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    for needle in ("calibration", "once per process", "nearest_facility_time, first call",
                   "snapping alone: geoplan", "snapping alone: floor", "search step: geoplan",
                   "raw scipy dijkstra", "networkx multi_source_dijkstra_path_length",
                   "ego_graph per facility", "coverage_by_unit, first call",
                   "service_areas, first call", "pgRouting: pgr_drivingDistance",
                   "reach_matrix, first call", "pipeline:", "peak RSS", "Futian OSM (real)"):
        assert needle in text, needle
    assert "pgRouting not run" not in text  # make test starts the database
    # every table row carries wall and CPU seconds
    rows = [line for line in text.splitlines() if line.startswith(("synthetic", "Futian", "  "))]
    rows = [line for line in rows if re.search(r" \d+\.\d{3} +\d+\.\d{3}( |$)", line)]
    assert len(rows) >= 30
    for line in rows:
        wall, cpu = map(float, re.search(r" (\d+\.\d{3}) +(\d+\.\d{3})( |$)", line).groups()[:2])
        assert wall >= 0.0
        assert cpu >= 0.0
