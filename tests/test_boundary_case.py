"""The Xiamen case: real district polygons, a bureau's files, planted defects, found exactly.

The case (``tests/boundary_case.py``) is written to files as a bureau keeps them; they are
read back with geoplan's own readers, converted once to the study's metric CRS, and
inspected with the study file's ``[boundary]`` settings. Every planted defect must be found,
with the measure taken while planting it, and nothing else.
"""

from __future__ import annotations

import tomllib
import warnings
from collections import Counter

import numpy as np
import pandas as pd
import pyogrio
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from geoplan import io as gio
from geoplan.boundary import inspect_boundaries
from geoplan.boundary.fieldlist import field_list
from geoplan.cli import app
from geoplan.report import archive_by_line
from geoplan.study import load_study
from geoplan.study.config import BoundarySection, LayerConfig
from geoplan.study.pipeline import run_study
from geoplan.study.preflight import prepare_run
from tests.boundary_case import GK, REFERENCE_DATE, build_case

runner = CliRunner()


@pytest.fixture(scope="module")
def case(shared_data, tmp_path_factory):
    return build_case(shared_data, tmp_path_factory.mktemp("xiamen"), study_area=True)


def _read(case):
    """Every layer read back with geoplan's readers, straight to the study CRS."""
    files = case.files
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*note row", category=UserWarning)
        markers = gio.read_boundary_markers(files["markers"], "EPSG:4548", sheet="界桩成果表",
                                            to_crs=GK)
    return {
        "units": gio.read_admin_units(files["units"], "cgcs2000", to_crs=GK),
        "lines": gio.read_boundary_lines(files["lines"], "EPSG:4548", to_crs=GK),
        "previous_lines": gio.read_boundary_lines(files["previous"], "EPSG:4548", to_crs=GK),
        "markers": markers,
        "facilities": gio.read_facilities(files["facilities"], "gcj02", to_crs=GK),
        "rounds": gio.read_inspection_rounds(files["rounds"]),
    }


@pytest.fixture(scope="module")
def inspected(case):
    settings = tomllib.loads(case.files["study"].read_text(encoding="utf-8"))["boundary"]
    boundary = BoundarySection.model_validate(settings)
    layers = _read(case)
    result = inspect_boundaries(**layers, reference_date=REFERENCE_DATE,
                                tolerances=boundary.tolerances(),
                                numbering=boundary.marker_numbering())
    return layers, result


def _found(findings):
    return Counter(zip(findings["kind"], findings["subject"], strict=True))


@pytest.mark.slow
def test_every_planted_defect_is_found_and_nothing_else(case, inspected):
    _, result = inspected
    expected = Counter(zip(case.planted["check"], case.planted["subject"], strict=True))
    found = _found(result.findings)
    assert not expected - found, f"planted but not found: {sorted(expected - found)}"
    assert not found - expected, f"found but not planted: {sorted(found - expected)}"
    assert len(case.planted) == 18


@pytest.mark.slow
def test_the_measures_are_those_taken_when_planting(case, inspected):
    _, result = inspected
    f = result.findings.set_index("kind")
    m = case.measured
    # converted once from CGCS2000 longitude/latitude: areas agree to 10 cm²
    assert f.loc["topology_gap", "value"] == pytest.approx(m["gap_m2"], abs=1e-3)
    assert f.loc["topology_overlap", "value"] == pytest.approx(m["overlap_m2"], abs=1e-3)
    assert f.loc["line_polygon_deviation", "value"] == pytest.approx(m["deviation_m"], abs=1e-6)
    assert f.loc["line_version_change", "value"] == pytest.approx(m["version_change_m"],
                                                                  abs=1e-6)
    # the register's numbers are used as written (EPSG:4548, no conversion): exact
    assert f.loc["marker_displaced", "value"] == m["displaced_m"]
    assert f.loc["marker_off_line", "value"] == m["off_line_m"]
    assert f.loc["marker_off_line", "tolerance"] == 5.0
    # the overdue line: 6.2 years since its round of 2019-11-05, against the 5-year cycle
    overdue = f.loc["round_overdue"]
    assert (round(overdue["value"], 2), overdue["tolerance"], overdue["unit"]) == (6.15, 5.0, "年")


@pytest.mark.slow
def test_the_register_is_read_bit_for_bit(case, inspected):
    layers, _ = inspected
    markers = layers["markers"]
    written = case.registered.drop_duplicates("界桩编号").set_index("界桩编号")
    got = markers.drop_duplicates("marker_no").set_index("marker_no")
    assert np.array_equal(got.loc[written.index, "x_reg"].to_numpy(), written["登记Y"].to_numpy())
    assert np.array_equal(got.loc[written.index, "y_reg"].to_numpy(), written["登记X"].to_numpy())
    assert np.array_equal(got.loc[written.index, "x_obs"].to_numpy(), written["实测Y"].to_numpy())
    unchanged = "(unchanged: the numbers as read)"
    assert layers["lines"].attrs["geoplan"]["conversion"].endswith(unchanged)


@pytest.mark.slow
def test_the_field_list_tells_the_team_where_to_go_and_what_to_do(case, inspected, tmp_path):
    layers, result = inspected
    table = field_list(result)
    assert len(table) == len(case.planted)
    assert table["action"].str.len().gt(0).all()
    placed = table["geometry"].notna()
    assert placed.all()
    # Xiamen: 24.4–24.9 N, 117.9–118.5 E; X (northing) ~2.7e6 m, Y (easting) ~0.6e6 m
    assert table["lon"].between(117.8, 118.6).all()
    assert table["lat"].between(24.3, 25.0).all()
    assert table["gk_x_m"].between(2.69e6, 2.77e6).all()
    assert (table["gk_crs"].str.contains("EPSG:4548")).all()
    lost = table[table["subject"] == "3521003Q"].iloc[0]
    assert (lost["action"], lost["unit_a_text"], lost["unit_b_text"]) == (
        "补设", "350203 思明区", "350206 湖里区")
    reg = layers["markers"].loc["3521003Q"]
    assert (lost["gk_x_m"], lost["gk_y_m"]) == (reg["y_reg"], reg["x_reg"])
    out = archive_by_line(result, layers["lines"], layers["markers"], tmp_path / "联检成果归档",
                          previous_lines=layers["previous_lines"])
    for code in ("3521", "3522", "3523", "3524"):
        stem = next(p.stem for p in out.glob(f"{code}_*.xlsx"))
        book = load_workbook(out / f"{stem}.xlsx", read_only=True)
        rows = list(book["问题清单"].values)
        mine = table[table["line_code"] == code]
        assert len(rows) == len(mine) + 1
        assert pyogrio.read_info(out / f"{stem}.gpkg", layer="问题清单")["features"] == len(mine)
        assert len(pyogrio.read_dataframe(out / f"{stem}.kml")) == len(mine)
    assert len(pyogrio.read_dataframe(out / "问题清单.kml")) == len(table)


@pytest.mark.slow
def test_the_study_file_loads_and_gives_the_same_findings(case, inspected):
    """The layers through the study loader: the same numbers, so the same findings."""
    layers, result = inspected
    for name in ("admin_units", "boundary_lines", "boundary_markers", "facilities"):
        text = case.files["study"].read_text(encoding="utf-8")
        raw = tomllib.loads(text)["layers"][name]
        LayerConfig.model_validate(raw, context={"base_dir": case.folder})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*note row", category=UserWarning)
        study = load_study(case.files["study"])
    assert study.metric_epsg == GK
    for mine, theirs in ((study.boundary_lines, layers["lines"]),
                         (study.boundary_markers, layers["markers"])):
        pd.testing.assert_series_equal(mine.geometry.get_coordinates()["x"],
                                       theirs.geometry.get_coordinates()["x"])
    boundary = study.config.boundary
    again = inspect_boundaries(
        units=study.admin_units, lines=study.boundary_lines,
        previous_lines=study.previous_boundary_lines, markers=study.boundary_markers,
        rounds=study.inspection_rounds, facilities=study.facilities,
        study_area=study.study_area, reference_date=study.reference_date,
        tolerances=boundary.tolerances(), numbering=boundary.marker_numbering())
    assert _found(again.findings) == _found(result.findings)


@pytest.mark.slow
def test_geoplan_run_on_the_inspection_only_study_finds_the_same(shared_data, tmp_path,
                                                                 inspected):
    """The study as a bureau would run it: units, lines, markers; no network, no population."""
    case = build_case(shared_data, tmp_path / "case", study_area=False)
    raw = tomllib.loads(case.files["study"].read_text(encoding="utf-8"))
    assert "network" not in raw
    assert set(raw["layers"]) == {"admin_units", "boundary_lines", "boundary_lines_previous",
                                  "boundary_markers", "facilities"}
    _, result = inspected
    for command in ("run", "inspect"):
        out = tmp_path / command
        ran = runner.invoke(app, [command, str(case.files["study"]), "--out", str(out)])
        assert ran.exit_code == 0, ran.output
        sheet = pd.read_excel(out / "boundary" / "联检报告.xlsx", sheet_name="问题清单")
        assert len(sheet) == len(result.findings)
    study, plan = prepare_run(case.files["study"])
    assert plan.steps == ("boundary",)
    again = run_study(study, tmp_path / "api", plan=plan)
    assert _found(again.inspection.findings) == _found(result.findings)
