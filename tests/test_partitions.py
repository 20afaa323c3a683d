"""Partitioned runs: a two-county synthetic study on the real outlines of 石狮市 and 晋江市.

The study is written by :func:`geoplan.datasets.province.write_province_study` from the real
county outlines and 2020 census in ``../shared/data`` (coarse settings, so it is small). A
partitioned run on a LocalCluster (two workers, threads) must give the single-process
numbers exactly, also with 晋江 split by 镇街, and people near the county line must count
facilities across it.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from geoplan.access import nearest_facility_time
from geoplan.cli import app
from geoplan.datasets.province import write_province_study
from geoplan.errors import StudyConfigError
from geoplan.study import load_study
from geoplan.study.config import read_study_config
from geoplan.study.partitions import (
    coverage_single_process,
    merge_coverage,
    partition_margin_m,
    plan_partitions,
    read_window,
    run_partitioned_coverage,
)

COUNTIES = ("350581", "350582")  # 石狮市 and its neighbour 晋江市
KEY = ["level", "code", "facility_type", "tier_min"]


@pytest.fixture(scope="module")
def two_counties(tmp_path_factory, shared_data):
    folder = tmp_path_factory.mktemp("province")
    study = write_province_study(folder, "35", counties=COUNTIES, cell_m=400.0,
                                 rural_spacing_m=900.0, urban_spacing_m=(220.0, 320.0),
                                 village_km2=25.0, shared=shared_data)
    text = study.read_text(encoding="utf-8")
    study.write_text(text.replace("[compute]", "[compute]\nprocesses = false\nworkers = 2", 1),
                     encoding="utf-8")
    return study


@pytest.fixture(scope="module")
def single(two_counties):
    return coverage_single_process(load_study(two_counties))


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(KEY).reset_index(drop=True)


def test_the_study_is_real_outlines_and_census_totals(two_counties, single):
    study = load_study(two_counties)
    counties = study.admin_units[study.admin_units["level"] == "county"]
    assert sorted(counties["code"]) == list(COUNTIES)
    assert sorted(counties["name"]) == ["晋江市", "石狮市"]
    total = single[single["level"].eq("county") & single["code"].eq("350582")]
    assert (total["pop_total"] == 2_061_551).all()  # the 2020 census of 晋江市
    assert (total["pop_60plus_total"] == 208_299).all()
    assert (single[single["level"].eq("county") & single["code"].eq("350582")][
        "households_total"] == 730_998).all()
    assert study.config.layers["facilities"].synthetic is True
    towns = study.admin_units[study.admin_units["level"] == "town"]
    assert "青阳街道" in set(towns["name"])  # the real 镇街 names of 晋江市


@pytest.mark.parametrize("max_km2", [2500.0, 250.0])
def test_partitioned_run_equals_the_single_process_run(two_counties, single, max_km2):
    run = run_partitioned_coverage(two_counties, max_partition_km2=max_km2)
    split = [p for p in run.partitions if p.level == "town"]
    assert bool(split) == (max_km2 < 663)  # 晋江市 (663 km²) is split by its 镇街 only then
    assert len(run.stats) == len(run.partitions)
    assert run.stats["cells"].sum() > 0
    assert (run.stats["peak_rss_bytes"] > 0).all()
    assert set(run.coverage["level"]) == {"study", "county", "town", "village"}
    pd.testing.assert_frame_equal(_sorted(run.coverage), _sorted(single), check_dtype=False)
    whole = run.coverage[run.coverage["level"] == "study"]
    counties = run.coverage[run.coverage["level"] == "county"]
    per_type = counties.groupby(["facility_type", "tier_min"])["pop_total"].sum()
    assert (whole.set_index(["facility_type", "tier_min"])["pop_total"] == per_type).all()


def test_people_near_the_county_line_count_facilities_across_it(two_counties):
    study = load_study(two_counties)
    existing = study.facilities[study.facilities["status"].eq("existing")]
    nearest = nearest_facility_time(study.network(), study.population, existing,
                                    types=["elderly_station"])
    home = study.population["admin_code"].astype(str)
    there = nearest["elderly_station_facility"].map(
        existing["admin_code"].astype(str).str[:6]).fillna(home)
    across = (home != there) & nearest["elderly_station_dist_m"].notna()
    assert across.sum() > 0  # so a run that cut the networks at the line would differ


def test_windows_short_of_the_margin_lose_people(two_counties, single, monkeypatch):
    from geoplan.study import partitions as part

    # partitions whose streets and stations stop 1 km inside their box, not 1.4 km beyond it
    monkeypatch.setattr(part, "_grow", lambda box, _margin: (
        box[0] + 1000, box[1] + 1000, box[2] - 1000, box[3] - 1000))
    cut = part.run_partitioned_coverage(two_counties, max_partition_km2=250)
    a, b = _sorted(cut.coverage), _sorted(single)
    assert a["pop_covered"].sum() < b["pop_covered"].sum()


def test_margin_is_the_longest_tier_plus_the_snapping_tolerance():
    assert partition_margin_m([5, 10, 15]) == 900 + 500
    assert partition_margin_m([5, 10, 20], speed_m_per_min=60) == 1200 + 500
    assert partition_margin_m([15], snap_tolerance_m=100) == 1000


def test_a_large_county_is_split_by_its_towns_each_town_once(two_counties):
    config = read_study_config(two_counties)
    units = read_window(config, "admin_units", None, 4549)
    plan = plan_partitions(units, max_partition_km2=250)
    towns = units[(units["level"] == "town") & units["parent_code"].eq("350582")]
    split = [c for p in plan if p.key.startswith("350582-") for c in p.codes]
    assert sorted(split) == sorted(towns["code"])
    assert plan[0].key == "350581"
    whole = plan_partitions(units, max_partition_km2=5000)
    assert [(p.key, p.level) for p in whole] == [("350581", "county"), ("350582", "county")]
    with pytest.raises(StudyConfigError, match=r"county or 镇街"):
        plan_partitions(units[units["level"] == "village"])


def test_a_window_reads_what_intersects_it(two_counties):
    config = read_study_config(two_counties)
    everything = read_window(config, "population", None, 4549)
    x0, y0, x1, y1 = everything.total_bounds
    box = (x0, y0, (x0 + x1) / 2, (y0 + y1) / 2)
    part = read_window(config, "population", box, 4549)
    expected = everything[everything.intersects(shapely.box(*box))]
    assert 0 < len(part) < len(everything)
    assert sorted(part.index) == sorted(expected.index)
    assert part.crs.to_epsg() == 4549


def test_merge_adds_counts_and_recomputes_shares():
    row = {"level": "town", "code": "1", "name": "甲", "facility_type": "elderly_station",
           "tier_min": 15.0, "reach_m": 900.0, "n_cells": 2, "pop_total": 10.0,
           "pop_covered": 5.0, "pop_share": 0.5, "pop_covered_straight": 6.0,
           "pop_share_straight": 0.6, "pop_detour_loss": 1.0}
    other = row | {"n_cells": 1, "pop_total": 30.0, "pop_covered": 0.0, "pop_share": 0.0,
                   "pop_covered_straight": 0.0, "pop_share_straight": 0.0,
                   "pop_detour_loss": 0.0}
    merged = merge_coverage([pd.DataFrame([row]), pd.DataFrame([other])])
    assert merged[["n_cells", "pop_total", "pop_covered"]].values.tolist() == [[3, 40, 5]]
    assert merged["pop_share"].iloc[0] == pytest.approx(5 / 40)
    with pytest.raises(StudyConfigError, match="no partition"):
        merge_coverage([])


def test_a_bad_memory_limit_is_a_study_file_error(two_counties):
    bad = two_counties.with_name("bad.toml")
    text = two_counties.read_text(encoding="utf-8").replace("processes = false",
                                                            'memory_limit = "lots"')
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(StudyConfigError, match=r"compute\.memory_limit"):
        read_study_config(bad)


def test_geoplan_run_writes_the_merged_outputs(two_counties, tmp_path, single):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(two_counties), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "分区计算 partitioned run" in result.output
    table = pd.read_csv(out / "coverage_by_unit.csv", encoding="utf-8-sig")
    assert len(table) == len(single)
    stats = pd.read_csv(out / "partitions.csv", encoding="utf-8-sig")
    assert len(stats) == 2
    assert (out / "report.xlsx").is_file()


def test_a_study_without_a_centreline_layer_cannot_be_partitioned():
    from geoplan.datasets import demo_study_path

    with pytest.raises(StudyConfigError, match="centreline layer"):
        run_partitioned_coverage(demo_study_path(), workers=1, processes=False)


def test_the_synthetic_labels_are_kept(two_counties):
    config = read_study_config(two_counties)
    names = gpd.read_file(config.layers["admin_units"].path)["name"]
    villages = names[names.str.endswith("（合成）")]
    assert len(villages) > 10


def test_geoplan_demo_province_runs_partitioned(tmp_path, monkeypatch, shared_data):
    monkeypatch.setenv("GEOPLAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GEOPLAN_SHARED_DATA", str(shared_data))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["demo", "--province", "35", "--counties", "350581",
                                      "--workers", "1", "--memory-limit", "2GB",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "合成省级研究 synthetic province study" in result.output
    assert "memory limit 2.0 GB" in result.output
    table = pd.read_csv(out / "coverage_by_unit.csv", encoding="utf-8-sig")
    whole = table[table.iloc[:, 0] == "study"]
    assert len(whole) > 0
    stats = pd.read_csv(out / "partitions.csv", encoding="utf-8-sig")
    assert stats["工作进程内存峰值（字节）"].max() < 2e9  # the worker stayed under it


def test_geoplan_demo_province_needs_a_province_code():
    result = CliRunner().invoke(app, ["demo", "--province", "fj"])
    assert result.exit_code == 2
