"""Boundary checks with the register's conventions: pairs, sides, numbering, tolerances, levels.

Small hand-built geometries with known answers (see ``test_boundary``): town A west of line
0001 (x = 1000, digitised northwards, so A is on its left), B east of it.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Point, box

from geoplan.boundary import (
    MarkerNumbering,
    Tolerances,
    check_coverage,
    check_facility_admin_codes,
    check_lines_against_units,
    check_markers,
    inspect_boundaries,
    numbering_from,
    units_outline,
)
from geoplan.boundary.numbering import parse_number
from geoplan.errors import SchemaError
from geoplan.schema import validate_layer
from tests.test_boundary import CRS, REF, A, B, at, kinds, lines_frame, marker_rows, towns_frame


def _with_pair(serial: str, a_at, b_at, **extra):
    """Clean singles 001-003 on line 0001, and the pair ``serial`` A/B at the given points."""
    return marker_rows(
        ("0001001Q", "0001", (1000, 100), (1000, 100)),
        ("0001002Q", "0001", (1000, 300), (1000, 300)),
        ("0001003Q", "0001", (1000, 400), (1000, 400)),
        (f"0001{serial}A", "0001", a_at, a_at, extra),
        (f"0001{serial}B", "0001", b_at, b_at, extra),
    )


def _check(markers, **kw):
    return check_markers(markers, lines_frame(), reference_date=REF, units=towns_frame(), **kw)


# --------------------------------------------------------------------------- pairs and sides
def test_a_pair_on_both_banks_of_a_river_is_not_off_the_line():
    """The line follows a 60 m river; A stands on the west bank (A's side), B on the east."""
    found, table = _check(_with_pair("004", (970, 600), (1030, 600)))
    assert len(found) == 0
    assert table.set_index("marker_no").loc["0001004A", "distance_to_line_m"] == 30.0


def test_a_pair_on_one_side_of_the_line_is_off_it_and_a_stands_wrong():
    found, _ = _check(_with_pair("004", (1030, 600), (1060, 600)))
    assert kinds(found) == [("marker_wrong_side", "0001004A"), ("marker_off_line", "0001004A"),
                            ("marker_off_line", "0001004B")]
    wrong = found.iloc[0]
    assert wrong["detail"] == f"A 桩位于 {B} 一侧，应位于代码较小的 {A} 一侧"
    assert wrong["action"] == "核对界桩编号"
    assert wrong["marker_no"] == "0001004A"


def test_a_pair_standing_on_each_others_side_is_one_finding():
    found, table = _check(_with_pair("004", (1030, 600), (970, 600)))
    assert kinds(found) == [("marker_wrong_side", "0001:004")]
    assert found.iloc[0]["marker_no"] == "0001004A、0001004B"
    assert found.iloc[0]["row"] == "M4,M5"
    assert set(table.loc[table["problems"] != "", "marker_no"]) == {"0001004A", "0001004B"}


def test_a_member_on_the_line_does_not_excuse_the_other():
    found, _ = _check(_with_pair("004", (1000, 600), (1040, 600)))
    assert kinds(found) == [("marker_off_line", "0001004B")]


def test_sides_follow_the_line_where_it_strays_from_the_polygons():
    """Line 0001 pushed 50 m into B: a pair around the pushed stretch is still right."""
    pushed = LineString([(1000, 0), (1000, 300), (1050, 350), (1050, 650), (1000, 700),
                         (1000, 1000)])
    lines = lines_frame(ab=pushed)
    markers = _with_pair("004", (1040, 500), (1060, 500))  # both inside B's polygon
    found, _ = check_markers(markers, lines, reference_date=REF, units=towns_frame())
    assert "marker_wrong_side" not in set(found["kind"])


def test_no_side_check_without_units():
    markers = _with_pair("004", (1030, 600), (970, 600))
    found, _ = check_markers(markers, lines_frame(), reference_date=REF)
    assert len(found) == 0


# --------------------------------------------------------------------------- tolerances
def test_the_on_line_and_displacement_tolerances_are_settings():
    markers = marker_rows(
        ("0001001Q", "0001", (1000, 100), (1000, 100)),
        ("0001002Q", "0001", (1012, 300), (1012, 303)),  # 12 m off the line, moved 3 m
    )
    found, _ = _check(markers)
    assert kinds(found) == [("marker_displaced", "0001002Q"), ("marker_off_line", "0001002Q")]
    off = found.set_index("kind").loc["marker_off_line"]
    assert (off["value"], off["tolerance"], off["unit"]) == (12.0, 5.0, "m")
    loose, _ = _check(markers, tolerances={"marker_to_line_m": 15, "marker_displacement_m": 5})
    assert len(loose) == 0


def test_the_inspection_cycle_is_a_setting():
    markers = marker_rows(("0001001Q", "0001", (1000, 100), (1000, 100),
                           {"last_inspected": "2022-06-30"}))
    assert len(_check(markers)[0]) == 0
    found, _ = _check(markers, tolerances={"inspection_cycle_years": 3})
    assert kinds(found) == [("marker_overdue", "0001001Q")]
    assert found.iloc[0]["tolerance"] == 3
    assert found.iloc[0]["unit"] == "年"


# --------------------------------------------------------------------------- a point layer
def test_a_marker_layer_point_that_disagrees_with_the_register_is_a_finding():
    markers = marker_rows(
        ("0001001Q", "0001", (1000, 100), (1000, 100)),
        ("0001002Q", "0001", (1000, 300), (1000, 300)),
        ("0001003Q", "0001", (1000, 500), (1000, 508)),  # surveyed 8 m north
    )
    drawn = [at(Point(1000, 100.3)), at(Point(1003, 304)), at(Point(1000, 508))]
    layer = gpd.GeoDataFrame(markers, geometry=drawn, crs=CRS)
    found, _ = _check(layer)
    assert kinds(found) == [("marker_geometry_mismatch", "0001002Q"),
                            ("marker_displaced", "0001003Q")]  # drawn at its surveyed place
    mismatch = found.iloc[0]
    assert mismatch["value"] == pytest.approx(5.0)
    assert mismatch["tolerance"] == 0.5
    assert mismatch["action"] == "核对成果表"
    assert mismatch.geometry.equals(at(Point(1003, 304)))


# --------------------------------------------------------------------------- numbering
LEGACY = {"name": "某区旧成果表", "pattern": r"(?P<line>\d{4})-(?P<serial>\d{1,3})(?P<type>[AB]?)",
          "single": [""], "pair": ["A", "B"], "triple": [], "serial_pattern": None}


def test_a_register_numbered_by_its_own_convention():
    markers = marker_rows(
        ("0001-1", "0001", (1000, 100), (1000, 100)),
        ("0001-2A", "0001", (970, 300), (970, 300)),
        ("0001-2B", "0001", (1030, 300), (1030, 300)),
        ("0001-4", "0001", (1000, 500), (1000, 500)),
        ("0001-5C", "0001", (1000, 600), (1000, 600)),
        ("0001006Q", "0001", (1000, 700), (1000, 700)),  # GB/T, not this register's rule
    )
    found, table = _check(markers, numbering=LEGACY)
    assert kinds(found) == [("marker_number_malformed", "0001-5C"),
                            ("marker_number_malformed", "0001006Q"),
                            ("marker_sequence_gap", "0001:003")]
    rule = "不符合成果表的编号规则（某区旧成果表：无（单立）、A/B（同号双立））"
    assert rule in found.iloc[0]["detail"]
    assert list(table["marker_type"][:4]) == ["单立", "同号双立", "同号双立", "单立"]
    # the same register under GB/T 17796-2009: every number is malformed
    strict, _ = _check(markers)
    assert (strict["kind"] == "marker_number_malformed").sum() == 5


def test_numbering_conventions_are_checked():
    assert numbering_from("GB/T 17796-2009") == numbering_from(None)
    assert parse_number("0001-2B", numbering_from(LEGACY)) == {"line": "0001", "serial": 2,
                                                               "type": "B"}
    with pytest.raises(ValueError, match="unknown marker numbering 'GB 1999'"):
        numbering_from("GB 1999")
    with pytest.raises(ValueError, match="repeat"):
        MarkerNumbering(single=("A",), pair=("A", "B"))
    with pytest.raises(ValueError, match="serial"):
        MarkerNumbering(pattern=r"(?P<line>\d{4})\d{3}")
    with pytest.raises(ValueError, match="unknown marker numbering key"):
        numbering_from({"patern": "x"})


# --------------------------------------------------------------------------- levels
C1, C2 = "350201", "350202"


def _levels(west_edge_of_c2_towns=1000.0, east_edge_of_c1_towns=1000.0):
    """Two districts (6-digit codes) and their streets (9-digit codes) in one layer."""
    rows = [
        (C1, "甲区", "区", box(0, 0, 1000, 1000)),
        (C2, "乙区", "区", box(1000, 0, 2000, 1000)),
        (f"{C1}001", "甲一街道", "街道", box(0, 0, east_edge_of_c1_towns, 500)),
        (f"{C1}002", "甲二街道", "街道", box(0, 500, east_edge_of_c1_towns, 1000)),
        (f"{C2}001", "乙一街道", "街道", box(west_edge_of_c2_towns, 0, 2000, 1000)),
    ]
    return gpd.GeoDataFrame({"code": [r[0] for r in rows], "name": [r[1] for r in rows],
                             "level": [r[2] for r in rows]},
                            geometry=[at(r[3]) for r in rows], crs=CRS)


def _level_lines(county_codes=(C1, C2), street_line_end=1000.0):
    rows = [("0001", "县级", *county_codes, LineString([(1000, 0), (1000, 1000)])),
            ("0002", "乡级", f"{C1}001", f"{C1}002",
             LineString([(0, 500), (street_line_end, 500)]))]
    return gpd.GeoDataFrame({"line_code": [r[0] for r in rows], "level": [r[1] for r in rows],
                             "left_code": [r[2] for r in rows], "right_code": [r[3] for r in rows]},
                            geometry=[at(r[4]) for r in rows], crs=CRS)


def test_county_and_town_levels_in_one_layer_are_clean():
    units = validate_layer(_levels(), "admin_units")
    result = inspect_boundaries(units=units, lines=_level_lines(), reference_date=REF)
    assert len(result.findings) == 0
    assert list(result.lines["left_name"]) == ["甲区", "甲一街道"]
    assert list(result.lines["hausdorff_m"]) == [0.0, 0.0]


def test_a_county_line_is_checked_against_the_counties_not_their_towns():
    """Streets digitised 40 m short of the district boundary on both sides: an 80 m gap."""
    units = _levels(west_edge_of_c2_towns=1040.0, east_edge_of_c1_towns=960.0)
    lines = _level_lines(county_codes=(f"{C1}000000", f"{C2}000000"),  # padded to 12 digits
                         street_line_end=960.0)
    found, deviation = check_lines_against_units(lines, units)
    assert len(found) == 0
    assert deviation["hausdorff_m"].max() == 0.0
    result = inspect_boundaries(units=units, lines=lines, reference_date=REF)
    gaps = result.findings[result.findings["kind"] == "topology_gap"]
    assert list(gaps["subject"]) == [f"{C1}001|{C1}002|{C2}001"]  # at the street level only
    assert gaps.iloc[0]["value"] == pytest.approx(80 * 1000)
    # without the districts, the line is compared with the union of their streets
    towns_only = units[units["code"].str.len() == 9]
    found, _ = check_lines_against_units(lines, towns_only)
    assert kinds(found) == [("line_not_touching", "0001")]
    assert found.iloc[0]["value"] == pytest.approx(40.0)


def test_a_street_outside_its_district_is_not_nested():
    units = _levels(west_edge_of_c2_towns=1000.0)
    units.loc[2, "geometry"] = at(box(0, 0, 1100, 500))  # 350201001 reaches 100 m into 350202
    result = inspect_boundaries(units=units, lines=_level_lines(), reference_date=REF)
    assert set(kinds(result.findings)) == {("not_nested", f"{C1}001"),
                                           ("topology_overlap", f"{C1}001|{C2}001")}
    nested = result.findings.set_index("kind").loc["not_nested"]
    assert nested["value"] == pytest.approx(100 * 500)


def test_an_empty_unit_layer_is_a_clear_error_not_a_gap():
    empty = towns_frame().iloc[:0]
    with pytest.raises(SchemaError, match="the layer has no units"):
        inspect_boundaries(units=empty, lines=lines_frame(), reference_date=REF,
                           study_area=at(box(0, 0, 2000, 2000)))
    with pytest.raises(SchemaError, match="the layer has no units"):
        check_coverage(empty, study_area=at(box(0, 0, 2000, 2000)))
    with pytest.raises(SchemaError, match="the layer has no units"):
        units_outline(empty)
    with pytest.raises(ValueError, match="units="):
        inspect_boundaries(units=towns_frame(), towns=towns_frame(), lines=lines_frame(),
                           reference_date=REF)


def test_facility_codes_of_any_level_are_compared_at_every_level():
    units = validate_layer(_levels(), "admin_units")
    facilities = gpd.GeoDataFrame(
        {"facility_id": ["F1", "F2", "F3", "F4"],
         "admin_code": [C1, f"{C1}002", "3502", C2]},
        geometry=[at(Point(100, 100)), at(Point(100, 700)), at(Point(1500, 500)),
                  at(Point(100, 200))], crs=CRS)
    found = check_facility_admin_codes(facilities, units)
    assert kinds(found) == [("facility_admin_mismatch", "F4")]
    assert (found.iloc[0]["unit_a"], found.iloc[0]["unit_b"]) == (C2, f"{C1}001")


# --------------------------------------------------------------------------- the outline
def test_the_outline_of_the_units_is_valid_and_keeps_their_gaps_inside():
    notch = box(1000, 200, 1020, 700)  # a gap between A and B
    sliver = box(1999.9995, 0, 2000, 400)  # a hair-thin notch on the outer edge
    towns = towns_frame(b=box(1000, 0, 2000, 1000).difference(notch).difference(sliver))
    outline = units_outline(towns)
    assert validate_layer(outline, "study_area") is not None
    assert outline.iloc[0]["code"] == "350582"
    assert len(outline.geometry.iloc[0].interiors) == 0
    # the hair-thin notch on the outer edge may be closed, nothing more
    assert 2000 * 2000 - 0.0005 * 400 - 1e-3 <= outline.geometry.iloc[0].area <= 2000 * 2000 + 1e-3
    gaps = check_coverage(towns, study_area=outline.geometry.iloc[0])
    assert kinds(gaps) == [("topology_gap", f"{A}|{B}")]
    assert gaps.iloc[0]["value"] == pytest.approx(10_000.0)


def test_the_outline_of_overlapping_invalid_units_is_made_valid():
    bow = shapely.Polygon([(0, 0), (1000, 1000), (1000, 0), (0, 1000)])  # self-intersecting
    towns = towns_frame(a=bow)
    outline = units_outline(towns).geometry.iloc[0]
    assert outline.is_valid
    assert outline.geom_type in ("Polygon", "MultiPolygon")
    assert np.isclose(outline.area, 2000 * 2000 - 2 * 250_000)


def test_findings_name_both_units_of_their_line():
    towns = towns_frame(b=box(1000, 0, 2000, 1000).difference(box(1000, 200, 1020, 700)))
    markers = marker_rows(("0003001Q", "0003", (1500, 1000), (1500, 1000), {"custodian": None}))
    result = inspect_boundaries(units=towns, lines=lines_frame(), markers=markers,
                                reference_date=REF)
    f = result.findings.set_index("kind")
    gap = f.loc["topology_gap"]
    assert (gap["unit_a"], gap["unit_b"], gap["unit"], gap["action"]) == (A, B, "m²", "核实权属")
    custodian = f.loc["marker_no_custodian"]
    assert (custodian["unit_a"], custodian["unit_b"]) == (B, "350582003")
    assert custodian["marker_no"] == "0003001Q"
    assert pd.isna(custodian["value"])


def test_the_study_file_boundary_section():
    from geoplan.study.config import BoundarySection

    default = BoundarySection()
    assert default.tolerances() == Tolerances()
    assert default.marker_numbering() == MarkerNumbering()
    own = BoundarySection.model_validate({
        "marker_to_line_m": 8, "inspection_cycle_years": 3,
        "numbering": {"name": "某区旧成果表", "pattern": LEGACY["pattern"], "single": [""],
                      "pair": ["A", "B"]}})
    assert own.tolerances().marker_to_line_m == 8
    assert own.tolerances().inspection_cycle_years == 3
    assert parse_number("0001-2B", own.marker_numbering())["type"] == "B"
    with pytest.raises(ValueError, match="serial"):
        BoundarySection.model_validate({"numbering": {"pattern": r"\d{7}"}})
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        BoundarySection.model_validate({"marker_to_line_m": -1})
    with pytest.raises(ValueError, match="Extra inputs"):
        BoundarySection.model_validate({"marker_to_line": 5})
