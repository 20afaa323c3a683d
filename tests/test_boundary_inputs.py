"""Boundary checks on inputs unlike the demo: messy marker and round tables, odd geometries."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point, Polygon, box

from geoplan._text import parse_date
from geoplan.boundary import (
    check_coverage,
    check_facility_admin_codes,
    check_line_versions,
    check_lines_against_units,
    check_markers,
    check_rounds,
    inspect_boundaries,
    inspection_schedule,
    parse_marker_no,
)
from geoplan.errors import CRSError, SchemaError
from geoplan.report import archive_by_line
from tests.test_boundary import (
    CRS,
    REF,
    X0,
    Y0,
    A,
    B,
    C,
    at,
    clean_markers,
    kinds,
    lines_frame,
    marker_rows,
    towns_frame,
    xy,
)

# ----------------------------------------------------------------- marker tables


def test_excel_dates_serials_and_chinese_text_are_read():
    assert parse_date(44197) == pd.Timestamp("2021-01-01")  # Excel serial day number
    assert parse_date("44197") == pd.Timestamp("2021-01-01")
    assert parse_date("2023年5月1日") == pd.Timestamp("2023-05-01")
    assert parse_date("2023 年 5 月 1 日") == pd.Timestamp("2023-05-01")
    assert parse_date("2023.5.1") == pd.Timestamp("2023-05-01")
    assert parse_date(20230501) == pd.Timestamp("2023-05-01")
    assert parse_date(dt.datetime(2023, 5, 1, 15, 30)) == pd.Timestamp("2023-05-01")
    assert parse_date("2021-03-04 10:00:00") == pd.Timestamp("2021-03-04")
    for bad in ("不详", "", None, float("nan"), "2021-13-01", True):
        assert pd.isna(parse_date(bad))


def test_year_only_dates_are_years_not_excel_days():
    # a bare year is not Excel day 2016 (1905-07-08); year.month is the first of the month
    assert parse_date("2016") == parse_date(2016) == pd.Timestamp("2016-01-01")
    assert parse_date("2016年") == pd.Timestamp("2016-01-01")
    assert parse_date("2016.5") == parse_date("2016年5月") == pd.Timestamp("2016-05-01")
    assert pd.isna(parse_date(2016.5))  # a float in the year range is ambiguous
    assert parse_date(42000) == pd.Timestamp("2014-12-27")  # Excel serials still work


def test_marker_dates_as_excel_serials_and_text():
    markers = marker_rows(
        ("0001001Q", "0001", (1000, 100), (1000, 100), {"last_inspected": 43800}),  # 2019-12-01
        ("0001002Q", "0001", (1000, 300), (1000, 300), {"last_inspected": "2023年5月1日"}),
        ("0001003Q", "0001", (1000, 500), (1000, 500), {"last_inspected": "不详"}),
    )
    found, table = check_markers(markers, lines_frame(), reference_date=REF)
    assert kinds(found) == [("marker_overdue", "0001001Q"), ("marker_overdue", "0001003Q")]
    by = found.set_index("subject")
    assert "上次检查 2019-12-01" in by.loc["0001001Q", "detail"]
    assert by.loc["0001003Q", "detail"] == "上次检查日期无法识别（“不详”）"
    assert table["last_inspected"].tolist()[:2] == [
        pd.Timestamp("2019-12-01"),
        pd.Timestamp("2023-05-01"),
    ]


def test_marker_overdue_on_the_anniversary_matches_the_round_schedule():
    # 2019-02-28 + 5 years = 2024-02-28: overdue on 2024-02-29 (leap day), both for
    # the marker and for a line whose last round was that day
    markers = marker_rows(
        ("0001001Q", "0001", (1000, 100), (1000, 100), {"last_inspected": "2019-02-28"}),
        ("0001002Q", "0001", (1000, 300), (1000, 300), {"last_inspected": "2019-02-29"}),
    )
    rounds = pd.DataFrame({"line_code": ["0001"], "round_no": [3], "inspected_on": ["2019-02-28"]})
    for ref, overdue in (("2024-02-28", False), ("2024-02-29", True)):
        found, _ = check_markers(markers, lines_frame(), reference_date=ref)
        late = set(found.loc[found["kind"] == "marker_overdue", "subject"])
        assert late == ({"0001001Q", "0001002Q"} if overdue else {"0001002Q"})
        schedule = inspection_schedule(lines_frame(), rounds, reference_date=ref)
        assert schedule.set_index("line_code").loc["0001", "overdue"] == overdue


def test_marker_coordinates_as_text_infinite_or_swapped():
    markers = clean_markers()
    markers["x_reg"] = markers["x_reg"].astype(object)
    markers.loc["M1", "x_reg"] = f"{X0 + 1000:,.1f}"  # "501,000.0" typed as text
    markers.loc["M2", "x_reg"] = "abc"
    markers.loc["M3", "y_reg"] = float("inf")
    found, table = check_markers(markers, lines_frame(), reference_date=REF)
    assert kinds(found) == [
        ("marker_no_coordinates", "0001002Q"),
        ("marker_no_coordinates", "0001003Q"),
    ]
    assert "“abc”" in found.iloc[0]["detail"]
    assert table.loc[0, "distance_to_line_m"] == pytest.approx(0.0)
    swapped = clean_markers()
    swapped.loc["M2", ["x_reg", "y_reg"]] = [Y0 + 500, X0 + 1000]  # X holds the northing
    swapped.loc["M2", ["x_obs", "y_obs"]] = [Y0 + 500, X0 + 1000]
    found, _ = check_markers(swapped, lines_frame(), reference_date=REF)
    assert kinds(found) == [("marker_off_line", "0001002Q")]
    assert "坐标列可能颠倒" in found.iloc[0]["detail"]


def test_marker_line_codes_as_text_without_zeros_and_int_line_layer():
    lines = lines_frame()
    lines["line_code"] = [1, 2, 3]  # the line layer came from a table with number cells
    markers = clean_markers()
    markers["line_code"] = ["1", "1", "1"]
    found, table = check_markers(markers, lines, reference_date=REF)
    assert len(found) == 0
    assert set(table["line_code"]) == {"0001"}


def test_marker_number_serial_must_be_ascii_and_condition_spacing():
    assert parse_marker_no("0001００1A") is None  # full-width digits in the serial
    markers = clean_markers()
    markers.loc["M1", "condition"] = "完 好"
    markers.loc["M2", "condition"] = " 丢 失 "
    found, table = check_markers(markers, lines_frame(), reference_date=REF)
    assert kinds(found) == [("marker_condition", "0001002Q")]
    assert table["condition"].tolist() == ["完好", "丢失", "完好"]
    markers.loc["M3", "marker_no"] = "０００１００３Ｑ"  # typed with a Chinese input method
    found, _ = check_markers(markers, lines_frame(), reference_date=REF)
    malformed = found[found["kind"] == "marker_number_malformed"].iloc[0]
    assert "含全角字符" in malformed["detail"]


# ----------------------------------------------------------------- rounds


def test_round_numbers_in_chinese_and_undated_rounds_are_reported():
    rounds = pd.DataFrame(
        {
            "line_code": [1, 1, 2],
            "round_no": ["第三轮", "第四轮", "2"],
            "inspected_on": ["2016年6月1日", 44348, "不详"],  # 44348 = 2021-06-01
        }
    )
    schedule = inspection_schedule(lines_frame(), rounds, reference_date=REF)
    s = schedule.set_index("line_code")
    assert s.loc["0001", "last_round_no"] == 4
    assert s.loc["0001", "next_due"] == pd.Timestamp("2026-06-01")
    assert s.loc["0002", "rounds_done"] == 0
    found = check_rounds(schedule, rounds, lines_frame(), reference_date=REF)
    assert kinds(found) == [("round_bad_date", "0002")]
    assert found.iloc[0]["row"] == "2"
    assert "“不详”" in found.iloc[0]["detail"]


# ----------------------------------------------------------------- geometry


def test_enclave_with_its_own_line_is_not_a_deviation():
    hole = box(300, 300, 500, 500)  # an enclave (飞地) of C inside A
    towns = towns_frame(a=box(0, 0, 1000, 1000).difference(hole), c=None)
    towns.loc[C, "geometry"] = at(MultiPolygon([box(0, 1000, 2000, 2000), hole]))
    lines = lines_frame(extra=[("0004", A, C, hole.exterior)])
    found, table = check_lines_against_units(lines, towns)
    assert len(found) == 0
    assert table["hausdorff_m"].max() == pytest.approx(0.0, abs=1e-6)
    assert len(check_coverage(towns, study_area=at(box(0, 0, 2000, 2000)))) == 0


def test_units_a_few_metres_apart_are_still_adjacent():
    # B's west edge digitised 3 m east of A's: a gap, but the line still has its two units
    towns = towns_frame(b=box(1003, 0, 2000, 1000), c=box(0, 1000, 2000, 2000))
    found, table = check_lines_against_units(lines_frame(), towns)
    assert len(found) == 0
    assert table.set_index("line_code").loc["0001", "hausdorff_m"] == pytest.approx(3.0)
    gaps = check_coverage(towns, lines=lines_frame(), study_area=at(box(0, 0, 2000, 2000)))
    assert kinds(gaps) == [("topology_gap", f"{A}|{B}|{C}")]  # C closes it at the top
    assert gaps.iloc[0]["value"] == pytest.approx(3_000.0)


def test_units_touching_at_a_single_point_are_not_adjacent():
    d = "350582004"
    towns = pd.concat(
        [
            towns_frame(),
            gpd.GeoDataFrame(
                {"code": [d], "name": ["丁镇"]},
                geometry=[at(box(2000, 2000, 3000, 3000))],  # touches C at (2000, 2000) only
                index=pd.Index([d]),
                crs=CRS,
            ),
        ]
    )
    lines = lines_frame(extra=[("0005", C, d, LineString([(1995, 1995), (2005, 2005)]))])
    found, _ = check_lines_against_units(lines, towns)
    assert kinds(found) == [("line_units_not_adjacent", "0005")]
    assert len(check_coverage(towns)) == 0


def test_invalid_unit_polygon_is_repaired_and_reported():
    bowtie = Polygon([(1000, 0), (2000, 1000), (2000, 0), (1000, 1000)])
    towns = towns_frame(b=bowtie)
    result = inspect_boundaries(towns=towns, lines=lines_frame(), reference_date=REF)
    assert ("unit_invalid_geometry", B) in kinds(result.findings)
    assert (
        "Self-intersection"
        in result.findings.set_index("kind").loc["unit_invalid_geometry", "detail"]
    )


def test_unit_without_geometry_is_a_schema_error():
    towns = towns_frame()
    towns.loc[B, "geometry"] = None
    with pytest.raises(SchemaError, match="missing or empty geometry"):
        check_coverage(towns)


def test_line_without_geometry_or_with_a_repeated_code_is_a_finding():
    lines = lines_frame(
        extra=[
            ("0004", A, B, LineString([(0, 0), (1, 1)])),
            ("0001", A, B, LineString([(1000, 0), (1000, 1000)])),
        ]
    )
    lines.loc["L0004", "geometry"] = None
    result = inspect_boundaries(
        towns=towns_frame(),
        lines=lines,
        reference_date="2025-01-01",
        rounds=pd.DataFrame(
            {
                "line_code": ["0001", "0002", "0003", "0004"],
                "round_no": 1,
                "inspected_on": "2024-01-01",
            }
        ),
    )
    assert kinds(result.findings) == [("line_no_geometry", "0004"), ("line_duplicate_code", "0001")]
    assert result.findings.iloc[0]["row"] == "L0004"
    assert len(result.schedule) == 4  # one row per line code
    assert result.lines["line_code"].tolist().count("0001") == 2


# ----------------------------------------------------------------- features and outputs


def test_facility_codes_read_as_numbers_or_at_another_level():
    facilities = gpd.GeoDataFrame(
        {
            "facility_id": ["F1", "F2", "F3", "F4"],
            "admin_code": [350582001.0, 350582001001, "350582", "350582002"],
        },
        geometry=[Point(xy(500, 500))] * 4,
        crs=CRS,
    )
    found = check_facility_admin_codes(facilities, towns_frame())
    assert kinds(found) == [("facility_admin_mismatch", "F4")]
    counties = towns_frame().assign(code=["350582", "350583", "350581"])
    found = check_facility_admin_codes(facilities, counties)
    assert len(found) == 0


def test_archive_of_lines_with_numeric_codes(tmp_path):
    lines = lines_frame()
    lines["line_code"] = [1, 2, 3]
    lines["left_code"] = [int(c) for c in lines["left_code"]]
    markers = clean_markers().assign(line_code=1)
    result = inspect_boundaries(
        towns=towns_frame(), lines=lines, markers=markers, reference_date=REF
    )
    assert len(result.findings) == 0
    out = archive_by_line(result, lines, markers, tmp_path / "archive")
    layers = dict(pyogrio.list_layers(out / "0001_线0001.gpkg"))
    assert {"界线", "界桩"} <= set(layers)
    got = gpd.read_file(out / "0001_线0001.gpkg", layer="界线")
    assert got["line_code"].tolist() == ["0001"]
    assert len(gpd.read_file(out / "0001_线0001.gpkg", layer="界桩")) == 3


# ----------------------------------------------------------------- refused inputs


def test_study_area_in_another_crs_is_refused():
    area = gpd.GeoDataFrame(geometry=[at(box(0, 0, 2000, 2000))], crs=CRS).to_crs("EPSG:4548")
    with pytest.raises(CRSError, match="study area"):
        inspect_boundaries(
            towns=towns_frame(), lines=lines_frame(), study_area=area, reference_date=REF
        )


def test_marker_table_in_degrees_is_refused():
    markers = clean_markers()
    markers[["x_reg", "x_obs"]] = 118.55
    markers[["y_reg", "y_obs"]] = 24.78
    with pytest.raises(CRSError, match="longitude/latitude degrees"):
        check_markers(markers, lines_frame(), reference_date=REF)


def test_rounds_and_lines_without_their_key_columns_are_schema_errors():
    rounds = pd.DataFrame({"line": ["0001"], "round_no": [1], "inspected_on": ["2021-01-01"]})
    with pytest.raises(SchemaError, match="column 'line_code': missing column"):
        inspection_schedule(lines_frame(), rounds, reference_date=REF)
    with pytest.raises(SchemaError, match="column 'left_code': missing column"):
        inspect_boundaries(
            towns=towns_frame(), lines=lines_frame().drop(columns="left_code"), reference_date=REF
        )


def test_line_deviation_finding_carries_its_sliver_polygons():
    pushed = LineString(
        [(1000, 0), (1000, 300), (1050, 300), (1050, 700), (1000, 700), (1000, 1000)]
    )
    found, _ = check_lines_against_units(lines_frame(ab=pushed), towns_frame())
    geom = found.iloc[0].geometry
    polygons = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon"]
    assert [p.area for p in polygons] == [pytest.approx(50 * 400)]
    assert polygons[0].within(towns_frame().geometry[B].buffer(0.01))


def test_county_level_line_against_township_units():
    towns = towns_frame().assign(code=[A, B, "350583001"])  # C now lies in the next county
    county = [("0010", "350582", "350583", LineString([(0, 1000), (2000, 1000)]))]
    lines = lines_frame(extra=county).iloc[[3]]
    found, table = check_lines_against_units(lines, towns)
    assert len(found) == 0
    assert table["hausdorff_m"].iloc[0] == pytest.approx(0.0, abs=1e-6)
    bent = [("0010", "350582", "350583", LineString([(0, 1000), (1000, 1060), (2000, 1000)]))]
    found, _ = check_lines_against_units(lines_frame(extra=bent).iloc[[3]], towns)
    assert kinds(found) == [("line_polygon_deviation", "0010")]
    assert found.iloc[0]["value"] == pytest.approx(60.0)


def test_marker_point_layer_without_coordinate_columns():
    table = clean_markers()
    layer = gpd.GeoDataFrame(
        table.drop(columns=["x_reg", "y_reg"]),
        geometry=gpd.points_from_xy(table["x_reg"], table["y_reg"]),
        crs=CRS,
    )
    layer.loc["M2", "geometry"] = None
    found, _ = check_markers(layer, lines_frame(), reference_date=REF)
    assert kinds(found) == [("marker_no_coordinates", "0001002Q")]


def test_version_digitised_in_the_opposite_direction():
    pushed = LineString(
        [(1000, 0), (1000, 300), (1050, 300), (1050, 700), (1000, 700), (1000, 1000)]
    )
    old = lines_frame(ab=pushed).assign(version="2016")
    found, _ = check_line_versions(lines_frame(), old, units=towns_frame())
    reversed_old = old.assign(geometry=old.geometry.reverse())
    again, table = check_line_versions(lines_frame(), reversed_old, units=towns_frame())
    assert kinds(again) == [("line_version_change", "0001")]
    assert again.iloc[0]["value"] == pytest.approx(found.iloc[0]["value"])
    assert again.iloc[0]["detail"] == found.iloc[0]["detail"]
    assert table.set_index("line_code").loc["0002", "version_hausdorff_m"] == 0.0


def test_multilinestring_lines_and_an_empty_line_layer():
    split = MultiLineString([[(1000, 0), (1000, 400)], [(1000, 400), (1000, 1000)]])
    found, table = check_lines_against_units(lines_frame(ab=split), towns_frame())
    assert len(found) == 0
    assert table.set_index("line_code").loc["0001", "length_m"] == pytest.approx(1000.0)
    stray = MultiLineString([[(1000, 0), (1000, 1000)], [(1300, 400), (1300, 600)]])
    found, _ = check_lines_against_units(lines_frame(ab=stray), towns_frame())
    assert kinds(found) == [("line_polygon_deviation", "0001")]
    assert found.iloc[0]["value"] == pytest.approx(300.0)
    markers = clean_markers()
    markers.loc["M2", ["x_reg", "x_obs"]] = X0 + 1300.0
    markers.loc["M2", ["y_reg", "y_obs"]] = Y0 + 450.0
    found, _ = check_markers(markers, lines_frame(ab=stray), reference_date=REF)
    assert len(found) == 0  # on the line's second part
    result = inspect_boundaries(
        towns=towns_frame(), lines=lines_frame().iloc[:0], reference_date=REF
    )
    assert len(result.findings) == 0
    assert len(result.lines) == 0
    assert len(result.plan) == 0
