"""Golden test: on the demo study every planted boundary defect is found, and nothing else."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest
from openpyxl import load_workbook

from geoplan.boundary import inspect_boundaries
from geoplan.boundary_report import write_inspection_workbook
from geoplan.datasets import data_dir, load_demo
from geoplan.io import read_boundary_lines, reproject_layer


@pytest.fixture(scope="module")
def demo_inspection():
    study = load_demo()
    folder = data_dir() / "boundaries"
    previous = read_boundary_lines(
        folder / "boundary_lines.gpkg", "cgcs2000", layer="boundary_lines_previous"
    )
    previous = reproject_layer(previous, study.metric_epsg)
    result = inspect_boundaries(
        towns=study.towns,
        villages=study.villages,
        lines=study.boundary_lines,
        previous_lines=previous,
        markers=study.boundary_markers,
        rounds=study.inspection_rounds,
        facilities=study.facilities,
        projects=study.projects,
        study_area=study.study_area,
        reference_date=study.reference_date,
    )
    planted = pd.read_csv(folder / "planted_defects.csv", dtype=str)
    return study, result, planted


@pytest.mark.slow
def test_every_planted_defect_is_found_and_nothing_else(demo_inspection):
    _, result, planted = demo_inspection
    found = Counter(zip(result.findings["kind"], result.findings["subject"], strict=True))
    expected = Counter(zip(planted["check"], planted["subject"], strict=True))
    missed = expected - found
    extra = found - expected
    assert not missed, f"planted defects not found: {sorted(missed)}"
    assert not extra, f"flagged but not planted: {sorted(extra)}"


@pytest.mark.slow
def test_demo_findings_carry_measures_rows_and_locations(demo_inspection):
    study, result, _ = demo_inspection
    f = result.findings.set_index("kind")
    gap = f.loc[["topology_gap"]].iloc[0]
    assert 2_000 <= gap["value"] <= 20_000
    assert gap.geometry.area == pytest.approx(gap["value"])
    overlap = f.loc[["topology_overlap"]].iloc[0]
    assert 2_000 <= overlap["value"] <= 20_000
    assert f.loc[["not_nested"]].iloc[0]["value"] > 5_000
    assert 40 <= f.loc[["line_polygon_deviation"]].iloc[0]["value"] <= 80
    assert 30 <= f.loc[["line_version_change"]].iloc[0]["value"] <= 80
    assert 5 <= f.loc[["marker_displaced"]].iloc[0]["value"] <= 20
    assert 30 <= f.loc[["marker_off_line"]].iloc[0]["value"] <= 100
    # marker findings name the row of the marker table they come from
    marker_rows = f.loc[f.index.str.startswith("marker_") & (f.index != "marker_sequence_gap")]
    assert set(marker_rows["row"]) <= {str(i) for i in study.boundary_markers.index}
    # every line is in the summary and the schedule; the overdue one is in the plan
    assert len(result.lines) == len(study.boundary_lines)
    overdue = f.loc[["round_overdue"]].iloc[0]["subject"]
    assert overdue in set(result.plan["line_code"])
    assert result.schedule.set_index("line_code").loc[overdue, "overdue"]


@pytest.mark.slow
def test_demo_inspection_workbook(demo_inspection, tmp_path):
    _, result, planted = demo_inspection
    path = write_inspection_workbook(result, tmp_path / "联检报告.xlsx")
    wb = load_workbook(path, read_only=True)
    assert wb.sheetnames == ["界线一览", "界桩检查表", "问题清单", "联检计划"]
    rows = list(wb["问题清单"].values)
    assert len(rows) == len(planted) + 1
    assert rows[0][:2] == ("问题编号", "问题类型")
    assert len(list(wb["界线一览"].values)) == len(result.lines) + 1
