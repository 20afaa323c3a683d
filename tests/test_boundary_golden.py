"""Golden test: on the demo study every planted boundary defect is found, and nothing else."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest
from openpyxl import load_workbook

from geoplan.boundary import check_markers, inspect_boundaries
from geoplan.datasets import data_dir, load_demo
from geoplan.io import read_boundary_lines, reproject_layer
from geoplan.report import write_inspection_workbook


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
    rows = {r for cell in marker_rows["row"] for r in cell.split(",")}
    assert rows <= {str(i) for i in study.boundary_markers.index}
    # a pair or triple finding names every member's row
    conflict = f.loc[["marker_type_conflict"]].iloc[0]
    line, serial = conflict["subject"].split(":")
    members = study.boundary_markers.index[
        study.boundary_markers["marker_no"].str.startswith(line + serial)
    ]
    assert sorted(conflict["row"].split(",")) == sorted(members)
    assert len(members) == 2
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
    assert rows[0][:5] == ("问题编号", "界线编码", "界线名称", "严重程度", "问题类型")
    action = rows[0].index("建议措施")
    assert all(r[action] for r in rows[1:])  # every finding says what to do
    assert len(list(wb["界线一览"].values)) == len(result.lines) + 1


@pytest.mark.slow
def test_repairing_planted_marker_defects_removes_exactly_their_findings(demo_inspection):
    """The findings come from the data: repair planted marker rows, and only their findings go."""
    study, result, planted = demo_inspection
    subject = dict(
        planted.loc[planted["check"] != "marker_condition", ["check", "subject"]].to_numpy()
    )
    markers = study.boundary_markers.copy()
    number = markers["marker_no"]
    lost = planted.loc[planted["check"] == "marker_condition", "subject"]
    markers.loc[number.isin(lost), "condition"] = "完好"
    markers.loc[number == subject["marker_no_custodian"], "custodian"] = "蔡建国"
    markers.loc[number == subject["marker_overdue"], "last_inspected"] = pd.Timestamp("2024-03-01")
    moved = number == subject["marker_displaced"]
    markers.loc[moved, ["x_obs", "y_obs"]] = markers.loc[moved, ["x_reg", "y_reg"]].to_numpy()
    markers.loc[number == subject["marker_type_mismatch"], "marker_type"] = "单立"
    # the conflicting serial: its single marker becomes the B of the pair (GB/T 17796 A/B)
    conflict = number.str.startswith(subject["marker_type_conflict"].replace(":", ""))
    markers.loc[conflict & number.str.endswith("Q"), ["marker_no", "marker_type"]] = [
        subject["marker_type_conflict"].replace(":", "") + "B",
        "同号双立",
    ]
    found, _ = check_markers(markers, study.boundary_lines, reference_date=study.reference_date)
    mine = result.findings[result.findings["kind"].str.startswith("marker_")]
    before = Counter(zip(mine["kind"], mine["subject"], strict=True))
    after = Counter(zip(found["kind"], found["subject"], strict=True))
    repaired = [
        "marker_no_custodian",
        "marker_overdue",
        "marker_displaced",
        "marker_type_mismatch",
        "marker_type_conflict",
    ]
    expected = Counter({(k, subject[k]): 1 for k in repaired})
    expected.update({("marker_condition", s): 1 for s in lost})
    assert before - after == expected
    assert not after - before


@pytest.mark.slow
def test_towns_and_villages_in_one_units_layer_give_the_same_findings(demo_inspection):
    """``units=`` the whole admin layer: towns checked as towns, villages nested in them."""
    study, _, planted = demo_inspection
    again = inspect_boundaries(
        units=study.admin_units,
        lines=study.boundary_lines,
        previous_lines=study.previous_boundary_lines,
        markers=study.boundary_markers,
        rounds=study.inspection_rounds,
        facilities=study.facilities,
        projects=study.projects,
        study_area=study.study_area,
        reference_date=study.reference_date,
    )
    found = Counter(zip(again.findings["kind"], again.findings["subject"], strict=True))
    assert found == Counter(zip(planted["check"], planted["subject"], strict=True))
