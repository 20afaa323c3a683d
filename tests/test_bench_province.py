"""Smoke test: the province benchmark runs on one county and prints every figure it promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_province.py"


def test_bench_province_prints_the_figures_and_the_projection(shared_data, tmp_path):
    env = os.environ | {"GEOPLAN_CACHE_DIR": str(tmp_path / "cache"),
                        "GEOPLAN_SHARED_DATA": str(shared_data)}
    figures = tmp_path / "figures.json"
    out = subprocess.run([sys.executable, str(BENCH), "--counties", "350581", "--workers", "1",
                          "--memory-limit", "2GB", "--json", str(figures)],
                         capture_output=True, text=True, timeout=600, check=False, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    for needle in ("machine:", "wall time", "partitions per s", "client peak",
                   "under its 2.0 GB limit", "projection to 2,846 counties", "  1 workers:",
                   "  8 workers:", " 64 workers:", "same numbers as the partitioned run: yes",
                   "runs out at about", "load average at the end"):
        assert needle in text, needle
    data = json.loads(figures.read_text(encoding="utf-8"))
    workers = data["projection"]["workers"]
    assert workers["1"]["by_county_s"] > workers["8"]["by_county_s"] > \
        workers["64"]["by_county_s"] > 0
    assert data["single_oom"]["max_nodes"] > data["single"]["nodes"]
