"""Boundary joint-inspection checks on small hand-built geometries with known answers."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely import affinity
from shapely.geometry import LineString, Point, box

from geoplan.boundary import (
    FINDING_COLUMNS,
    Tolerances,
    check_coverage,
    check_facility_admin_codes,
    check_line_versions,
    check_lines_against_units,
    check_markers,
    check_nesting,
    check_straddling_features,
    inspect_boundaries,
    inspection_plan,
    inspection_schedule,
    parse_marker_no,
)
from geoplan.boundary.findings import finding, tolerances_from
from geoplan.errors import CRSError, SchemaError

CRS = "EPSG:4549"
X0, Y0 = 500_000.0, 2_700_000.0
A, B, C = "350582001", "350582002", "350582003"
REF = "2025-12-31"


def at(geom):
    """Move a geometry built around (0, 0) into Jinjiang's Gauss-Krüger zone."""
    return affinity.translate(geom, X0, Y0)


def xy(x, y):
    return X0 + x, Y0 + y


def towns_frame(a=None, b=None, c=None):
    """Three towns: A west, B east (sharing x=1000, y 0..1000), C north over both."""
    geoms = [
        a if a is not None else box(0, 0, 1000, 1000),
        b if b is not None else box(1000, 0, 2000, 1000),
        c if c is not None else box(0, 1000, 2000, 2000),
    ]
    return gpd.GeoDataFrame(
        {"code": [A, B, C], "name": ["甲街道", "乙镇", "丙镇"], "level": "town"},
        geometry=[at(g) for g in geoms],
        index=pd.Index([A, B, C]),
        crs=CRS,
    )


def lines_frame(ab=None, extra=()):
    rows = [
        ("0001", A, B, ab if ab is not None else LineString([(1000, 0), (1000, 1000)])),
        ("0002", A, C, LineString([(0, 1000), (1000, 1000)])),
        ("0003", B, C, LineString([(1000, 1000), (2000, 1000)])),
        *extra,
    ]
    return gpd.GeoDataFrame(
        {
            "line_code": [r[0] for r in rows],
            "name": [f"线{r[0]}" for r in rows],
            "level": "乡级",
            "left_code": [r[1] for r in rows],
            "right_code": [r[2] for r in rows],
            "version": "2021",
        },
        geometry=[at(r[3]) for r in rows],
        index=pd.Index([f"L{r[0]}" for r in rows]),
        crs=CRS,
    )


def marker_rows(*rows):
    """Marker table from (number, line, reg (x, y) or None, obs (x, y) or None[, overrides])."""
    out = []
    for spec in rows:
        number, code, reg, obs, *extra = spec
        rec = {
            "marker_no": number,
            "line_code": code,
            "x_reg": np.nan if reg is None else xy(*reg)[0],
            "y_reg": np.nan if reg is None else xy(*reg)[1],
            "x_obs": np.nan if obs is None else xy(*obs)[0],
            "y_obs": np.nan if obs is None else xy(*obs)[1],
            "condition": "完好",
            "custodian": "张三",
            "last_inspected": pd.Timestamp("2023-05-01"),
        }
        rec.update(extra[0] if extra else {})
        out.append(rec)
    return pd.DataFrame(out, index=pd.Index([f"M{i + 1}" for i in range(len(out))]))


def clean_markers():
    return marker_rows(
        ("0001001Q", "0001", (1000, 100), (1000, 100)),
        ("0001002Q", "0001", (1000, 500), (1000, 500)),
        ("0001003Q", "0001", (1000, 900), (1000, 900)),
    )


def kinds(findings):
    """(kind, subject) pairs in table order (the table is sorted by kind, then subject)."""
    return list(zip(findings["kind"], findings["subject"], strict=True))


# ----------------------------------------------------------------- topology


def test_clean_towns_have_no_topology_findings():
    found = check_coverage(towns_frame(), study_area=at(box(0, 0, 2000, 2000)))
    assert len(found) == 0
    assert list(found.columns) == [*FINDING_COLUMNS, "geometry"]


def test_gap_of_known_area_between_two_towns():
    notch = box(1000, 200, 1020, 700)  # 20 m x 500 m = 10,000 m2 cut out of B
    towns = towns_frame(b=box(1000, 0, 2000, 1000).difference(notch))
    found = check_coverage(towns, lines=lines_frame())
    assert kinds(found) == [("topology_gap", f"{A}|{B}")]
    gap = found.iloc[0]
    assert gap["value"] == pytest.approx(10_000.0)
    assert gap["line_code"] == "0001"
    assert gap["row"] == f"{A},{B}"
    assert gap.geometry.area == pytest.approx(10_000.0)
    assert "缝隙面积 10,000 m²" in gap["detail"]


def test_gap_on_the_outer_edge_needs_the_study_area():
    # a 10 m x 900 m strip missing on the east edge, touching only B
    towns = towns_frame(b=box(1000, 0, 2000, 1000).difference(box(1990, 0, 2000, 900)))
    assert len(check_coverage(towns)) == 0
    found = check_coverage(towns, study_area=at(box(0, 0, 2000, 2000)))
    assert kinds(found) == [("topology_gap", B)]
    assert found.iloc[0]["value"] == pytest.approx(9_000.0)


def test_overlap_of_known_area():
    towns = towns_frame(a=box(0, 0, 1000, 1000).union(box(1000, 300, 1030, 600)))
    found = check_coverage(towns, lines=lines_frame())
    assert kinds(found) == [("topology_overlap", f"{A}|{B}")]
    assert found.iloc[0]["value"] == pytest.approx(9_000.0)
    assert found.iloc[0]["line_code"] == "0001"


def test_thin_gap_is_a_sliver_and_tiny_one_is_ignored():
    sliver = box(1000, 200, 1000.5, 700)  # 0.5 m wide, 250 m2
    found = check_coverage(towns_frame(b=box(1000, 0, 2000, 1000).difference(sliver)))
    assert kinds(found) == [("topology_sliver", f"{A}|{B}")]
    assert found.iloc[0]["value"] == pytest.approx(0.5, abs=0.01)
    speck = box(1000, 200, 1000.5, 201)  # 0.5 m2 < 1 m2
    assert len(check_coverage(towns_frame(b=box(1000, 0, 2000, 1000).difference(speck)))) == 0


def villages_frame(v3=None):
    geoms = [box(0, 0, 500, 1000), box(500, 0, 1000, 1000), v3 or box(1000, 0, 2000, 1000)]
    codes = [A + "001", A + "002", B + "001"]
    return gpd.GeoDataFrame(
        {"code": codes, "parent_code": [A, A, B], "level": "village"},
        geometry=[at(g) for g in geoms],
        index=pd.Index(codes),
        crs=CRS,
    )


def test_village_sticking_out_of_its_town():
    assert len(check_nesting(villages_frame(), towns_frame())) == 0
    found = check_nesting(villages_frame(box(950, 0, 2000, 1000)), towns_frame())
    assert kinds(found) == [("not_nested", B + "001")]
    assert found.iloc[0]["value"] == pytest.approx(50_000.0)
    assert found.iloc[0]["row"] == B + "001"


def test_village_still_covering_its_towns_gap_is_reported_once():
    notch = box(1000, 200, 1020, 700)  # B lost a strip; its village B001 still covers it
    towns = towns_frame(b=box(1000, 0, 2000, 1000).difference(notch))
    alone = check_nesting(villages_frame(), towns)
    assert kinds(alone) == [("not_nested", B + "001")]
    assert alone.iloc[0]["value"] == pytest.approx(10_000.0)
    assert len(check_nesting(villages_frame(), towns, exclude=at(notch))) == 0
    result = inspect_boundaries(
        towns=towns, villages=villages_frame(), lines=lines_frame(), reference_date=REF
    )
    assert kinds(result.findings) == [("topology_gap", f"{A}|{B}")]


def test_village_with_unknown_parent():
    villages = villages_frame()
    villages.loc[B + "001", "parent_code"] = "350582999"
    found = check_nesting(villages, towns_frame())
    assert kinds(found) == [("unit_unknown_parent", B + "001")]


# ----------------------------------------------------------------- lines


def test_clean_lines_follow_the_shared_edges():
    found, table = check_lines_against_units(lines_frame(), towns_frame())
    assert len(found) == 0
    assert table["hausdorff_m"].max() == pytest.approx(0.0, abs=1e-6)
    assert table.set_index("line_code")["length_m"].to_dict() == {
        "0001": 1000.0,
        "0002": 1000.0,
        "0003": 1000.0,
    }


PUSHED = LineString([(1000, 0), (1000, 300), (1050, 300), (1050, 700), (1000, 700), (1000, 1000)])


def test_line_pushed_50_m_into_one_town():
    found, table = check_lines_against_units(lines_frame(ab=PUSHED), towns_frame())
    assert kinds(found) == [("line_polygon_deviation", "0001")]
    hit = found.iloc[0]
    assert hit["value"] == pytest.approx(50.0)
    assert hit["row"] == "L0001"
    # the sliver between line and shared edge is 50 m x 400 m, all inside B (the right side)
    assert f"左侧({A}) 0 m²，右侧({B}) 20,000 m²" in hit["detail"]
    stats = table.set_index("line_code").loc["0001"]
    assert stats["hausdorff_m"] == pytest.approx(50.0)
    # 400 m of the line lies 50 m off, 2 x 50 m crosses over at 0..50 m: mean = 22,500 / 1,100
    assert stats["mean_deviation_m"] == pytest.approx(22_500 / 1_100, rel=1e-6)


def test_line_shifted_as_a_whole_by_50_m():
    shifted = LineString([(1050, 0), (1050, 1000)])
    found, table = check_lines_against_units(lines_frame(ab=shifted), towns_frame())
    assert kinds(found) == [("line_polygon_deviation", "0001")]
    assert found.iloc[0]["value"] == pytest.approx(50.0)
    # 50 m off everywhere, except its first 50 m which approach B's outer edge (y = 0):
    # (50 x 50 / 2 + 950 x 50) / 1000 = 48.75 m
    assert table.set_index("line_code").loc["0001", "mean_deviation_m"] == pytest.approx(48.75)


def test_line_following_one_side_of_a_gap_is_not_a_line_finding():
    notch = box(1000, 200, 1020, 700)
    towns = towns_frame(b=box(1000, 0, 2000, 1000).difference(notch))
    found, _ = check_lines_against_units(lines_frame(), towns)
    assert len(found) == 0


def test_line_touching_neither_polygon_is_a_finding_not_a_crash():
    far = ("0999", A, B, LineString([(5000, 5000), (5000, 6000)]))
    found, table = check_lines_against_units(lines_frame(extra=[far]), towns_frame())
    assert kinds(found) == [("line_not_touching", "0999")]
    assert found.iloc[0]["row"] == "L0999"
    assert found.iloc[0]["value"] > 3000
    assert np.isnan(table.set_index("line_code").loc["0999", "hausdorff_m"])


def test_line_between_unknown_or_non_adjacent_units():
    d_code = "350582004"
    towns = pd.concat(
        [
            towns_frame(),
            gpd.GeoDataFrame(
                {"code": [d_code], "name": ["丁镇"]},
                geometry=[at(box(3000, 0, 4000, 1000))],
                index=pd.Index([d_code]),
                crs=CRS,
            ),
        ]
    )
    extra = [
        ("0998", B, d_code, LineString([(2000, 0), (2000, 1000)])),
        ("0997", A, "350582777", LineString([(0, 0), (0, 1000)])),
    ]
    found, _ = check_lines_against_units(lines_frame(extra=extra), towns)
    assert kinds(found) == [("line_unknown_unit", "0997"), ("line_units_not_adjacent", "0998")]


def test_version_change_by_50_m():
    previous = lines_frame(ab=PUSHED)
    previous["version"] = "2016"
    found, table = check_line_versions(lines_frame(), previous, units=towns_frame())
    assert kinds(found) == [("line_version_change", "0001")]
    hit = found.iloc[0]
    assert hit["value"] == pytest.approx(50.0)
    assert "与 2016 版相比" in hit["detail"]
    assert "两版之间面积 20,000 m²" in hit["detail"]
    assert set(table["line_code"]) == {"0001", "0002", "0003"}
    same, _ = check_line_versions(lines_frame(), lines_frame())
    assert len(same) == 0


def test_version_change_within_tolerance_is_not_flagged():
    nudged = LineString(
        [(1000, 0), (1000, 300), (1008, 300), (1008, 700), (1000, 700), (1000, 1000)]
    )
    found, table = check_line_versions(lines_frame(), lines_frame(ab=nudged))
    assert len(found) == 0
    assert table.set_index("line_code").loc["0001", "version_hausdorff_m"] == pytest.approx(8.0)


# ----------------------------------------------------------------- markers


def test_parse_marker_numbers():
    assert parse_marker_no("0003012B") == {"line": "0003", "serial": 12, "type": "B"}
    for letter in "QABCDE":  # GB/T 17796-2009 type codes
        assert parse_marker_no(f"0003012{letter}")["type"] == letter
    for bad in ("000312B", "0003012F", "0003012q", "0003000Q", "0003012", "00030120A", "", None):
        assert parse_marker_no(bad) is None


def test_clean_markers_have_no_findings():
    found, table = check_markers(clean_markers(), lines_frame(), reference_date=REF)
    assert len(found) == 0
    assert table["problems"].tolist() == ["", "", ""]
    assert table["marker_type"].tolist() == ["单立", "单立", "单立"]


def test_marker_displaced_by_a_known_distance():
    markers = clean_markers()
    markers.loc["M2", ["x_obs", "y_obs"]] = xy(1003, 504)  # 5 m away (3-4-5)
    found, table = check_markers(markers, lines_frame(), reference_date=REF)
    assert kinds(found) == [("marker_displaced", "0001002Q")]
    assert found.iloc[0]["value"] == pytest.approx(5.0)
    assert found.iloc[0]["row"] == "M2"
    assert table.loc[1, "displacement_m"] == pytest.approx(5.0)


def test_marker_registered_off_its_line():
    markers = clean_markers()
    markers.loc["M2", ["x_reg", "x_obs"]] = X0 + 1040.0
    found, _ = check_markers(markers, lines_frame(), reference_date=REF)
    assert kinds(found) == [("marker_off_line", "0001002Q")]
    assert found.iloc[0]["value"] == pytest.approx(40.0)


def test_bad_marker_rows_are_findings_with_their_row():
    markers = marker_rows(
        ("0001001Q", "0001", (1000, 100), (1000, 100)),
        ("000102A", "0001", (1000, 300), (1000, 300)),  # 7 characters
        ("0001003F", "0001", (1000, 500), (1000, 500)),  # wrong type letter
        ("0001004Q", "0001", None, (1000, 700)),  # no registered coordinates
        ("0001005Q", "0001", None, None),  # no coordinates at all
        ("0888001Q", "0888", (1000, 900), (1000, 900)),  # unknown line
    )
    found, table = check_markers(markers, lines_frame(), reference_date=REF)
    assert kinds(found) == [
        ("marker_number_malformed", "0001003F"),
        ("marker_number_malformed", "000102A"),
        ("marker_sequence_gap", "0001:002"),
        ("marker_no_coordinates", "0001004Q"),
        ("marker_no_coordinates", "0001005Q"),
        ("marker_unknown_line", "0888001Q"),
    ]
    by_subject = found.set_index("subject")
    assert by_subject.loc["000102A", "row"] == "M2"
    assert by_subject.loc["0888001Q", "row"] == "M6"
    assert by_subject.loc["0001005Q", "geometry"] is None
    assert by_subject.loc["0001004Q", "geometry"].equals(Point(xy(1000, 700)))
    assert "类型码“F”不是 Q（单立）、A/B（同号双立）、C/D/E（同号三立）" in by_subject.loc[
        "0001003F", "detail"]
    assert "实为 7 位" in by_subject.loc["000102A", "detail"]
    assert len(table) == 6


def test_lower_case_codes_serial_000_and_a_missing_number_are_malformed():
    markers = marker_rows(
        ("0001001q", "0001", (1000, 100), (1000, 100)),
        ("0001000Q", "0001", (1000, 200), (1000, 200)),
        (None, "0001", (1000, 300), (1000, 300)),
    )
    markers.index = pd.Index(["row 2", "row 3", "row 4"])  # as read from Excel
    found, _ = check_markers(markers, lines_frame(), reference_date=REF)
    assert set(found["kind"]) == {"marker_number_malformed"}
    by = found.set_index("row")["detail"]
    assert by["row 2"].endswith("（类型码须大写）")
    assert by["row 3"].endswith("序号应从 001 起")
    assert by["row 4"] == "缺少界桩编号"
    assert found.set_index("row").loc["row 4", "subject"] == "(无编号 row 4)"


def test_pairs_and_triples_share_a_serial_per_gb_t_17796():
    markers = marker_rows(
        ("0001001Q", "0001", (1000, 100), (1000, 100), {"marker_type": "单立"}),
        ("0001002A", "0001", (1002, 200), (1002, 200), {"marker_type": "同号双立"}),
        ("0001002B", "0001", (998, 200), (998, 200), {"marker_type": "双立"}),
        ("0001003C", "0001", (1002, 300), (1002, 300), {"marker_type": "三立"}),
        ("0001003D", "0001", (998, 300), (998, 300), {"marker_type": "同号三立"}),
        ("0001003E", "0001", (1000, 302), (1000, 302), {"marker_type": " 三 立 "}),
    )
    found, table = check_markers(markers, lines_frame(), reference_date=REF)
    assert len(found) == 0
    assert table["marker_type"].tolist() == ["单立", *["同号双立"] * 2, *["同号三立"] * 3]


def test_incomplete_groups_conflicting_types_and_repeated_codes():
    markers = marker_rows(
        ("0001001A", "0001", (1000, 100), (1000, 100)),  # A without B
        ("0001002C", "0001", (1000, 200), (1000, 200)),  # C, D without E
        ("0001002D", "0001", (1000, 200), (1000, 200)),
        ("0001003Q", "0001", (1000, 300), (1000, 300)),  # Q and a pair on one serial
        ("0001003A", "0001", (1000, 300), (1000, 300)),
        ("0001003B", "0001", (1000, 300), (1000, 300)),
        ("0001004Q", "0001", (1000, 400), (1000, 400)),  # the same number twice
        ("0001004Q", "0001", (1000, 410), (1000, 410)),
        ("0001005B", "0001", (1000, 500), (1000, 500)),  # B twice, no A
        ("0001005B", "0001", (1000, 510), (1000, 510)),
    )
    found, table = check_markers(markers, lines_frame(), reference_date=REF)
    assert kinds(found) == [
        ("marker_duplicate", "0001004Q"),
        ("marker_duplicate", "0001005B"),
        ("marker_group_incomplete", "0001:001"),
        ("marker_group_incomplete", "0001:002"),
        ("marker_group_incomplete", "0001:005"),
        ("marker_type_conflict", "0001:003"),
    ]
    by = found.set_index("subject")
    assert by.loc["0001:001", "detail"].endswith("缺少 B")
    assert by.loc["0001:002", "detail"].endswith("缺少 E")
    assert by.loc["0001:002", "row"] == "M2,M3"
    assert by.loc["0001:003", "row"] == "M4,M5,M6"
    assert "单立与同号双立" in by.loc["0001:003", "detail"]
    assert found.set_index("kind").loc["marker_duplicate", "row"].tolist() == ["M8", "M10"]
    assert table["problems"].tolist()[3:6] == ["同一序号界桩类型冲突"] * 3
    assert table.loc[7, "problems"] == "界桩编号重复"


def test_a_serial_repeated_with_the_same_code_on_another_number_is_a_duplicate():
    # 0002001Q filed under line 0001: its number names another line, and serial 001 Q is taken
    markers = marker_rows(
        ("0001001Q", "0001", (1000, 100), (1000, 100)),
        ("0002001Q", "0001", (1000, 150), (1000, 150)),
    )
    found, _ = check_markers(markers, lines_frame(), reference_date=REF)
    assert kinds(found) == [
        ("marker_line_mismatch", "0002001Q"),
        ("marker_duplicate", "0002001Q"),
    ]
    assert found.iloc[1]["row"] == "M2"


def test_type_column_must_agree_with_the_type_code():
    markers = marker_rows(
        ("0001001Q", "0001", (1000, 100), (1000, 100), {"type": "双立"}),
        ("0001002A", "0001", (1000, 200), (1000, 200), {"type": "双立（同号双立）"}),
        ("0001002B", "0001", (1000, 200), (1000, 200), {"type": "double"}),
        ("0001003Q", "0001", (1000, 300), (1000, 300), {"type": "混凝土桩"}),
        ("0001004Q", "0001", (1000, 400), (1000, 400), {"type": None}),
    )
    found, table = check_markers(markers, lines_frame(), reference_date=REF)
    assert kinds(found) == [
        ("marker_type_mismatch", "0001001Q"),
        ("marker_type_mismatch", "0001003Q"),
    ]
    by = found.set_index("subject")
    assert by.loc["0001001Q", "severity"] == "error"
    assert by.loc["0001003Q", "severity"] == "warning"  # not a marker type at all
    assert table["marker_type"].tolist() == ["单立", "同号双立", "同号双立", "单立", "单立"]


def test_marker_duplicates_and_sequence_gaps():
    markers = marker_rows(
        ("0001001Q", "0001", (1000, 100), (1000, 100)),
        ("0001002Q", "0001", (1000, 200), (1000, 200)),
        ("0001002Q", "0001", (1000, 300), (1000, 300)),
        ("0001005Q", "0001", (1000, 600), (1000, 600)),
    )
    found, table = check_markers(markers, lines_frame(), reference_date=REF)
    assert kinds(found) == [
        ("marker_duplicate", "0001002Q"),
        ("marker_sequence_gap", "0001:003"),
        ("marker_sequence_gap", "0001:004"),
    ]
    dup = found[found["kind"] == "marker_duplicate"].iloc[0]
    assert dup["row"] == "M3"
    gap = found[found["subject"] == "0001:003"].iloc[0]
    assert gap.geometry.equals(Point(xy(1000, 400)))  # between 002 (y 200) and 005 (y 600)
    assert table.loc[2, "problems"] == "界桩编号重复"


def test_marker_condition_custodian_and_overdue_inspection():
    markers = marker_rows(
        ("0001001Q", "0001", (1000, 100), (1000, 100), {"condition": "丢失"}),
        ("0001002Q", "0001", (1000, 300), (1000, 300), {"condition": "损坏"}),
        ("0001003Q", "0001", (1000, 500), (1000, 500), {"custodian": "  "}),
        ("0001004Q", "0001", (1000, 600), (1000, 600), {"last_inspected": "2020-12-30"}),
        ("0001005Q", "0001", (1000, 700), (1000, 700), {"last_inspected": "2020-12-31"}),
        ("0001006Q", "0001", (1000, 800), (1000, 800), {"condition": "待查"}),
        ("0001007Q", "0001", (1000, 850), (1000, 850), {"condition": "倾斜"}),
        ("0001008Q", "0001", (1000, 900), (1000, 900), {"condition": "损毁"}),
    )
    found, _ = check_markers(markers, lines_frame(), reference_date=REF)
    assert kinds(found) == [
        ("marker_condition", "0001001Q"),
        ("marker_condition", "0001002Q"),
        ("marker_condition", "0001006Q"),
        ("marker_condition", "0001007Q"),
        ("marker_condition", "0001008Q"),
        ("marker_no_custodian", "0001003Q"),
        ("marker_overdue", "0001004Q"),
    ]
    by = found.set_index("subject")
    assert by.loc["0001006Q", "severity"] == "warning"  # a word that is not a condition
    # what the field team does depends on the condition
    assert [by.loc[f"000100{k}Q", "action"] for k in (1, 2, 6, 7, 8)] == [
        "补设", "修缮", "核实状况", "修缮", "更换"]
    assert by.loc["0001003Q", "action"] == "落实管护"
    overdue = found[found["kind"] == "marker_overdue"].iloc[0]
    assert overdue["value"] == pytest.approx(5.0, abs=0.01)


def test_marker_line_code_read_as_number_and_number_line_mismatch():
    markers = clean_markers()
    markers["line_code"] = [1, 1, 1]  # Excel turned "0001" into 1
    assert len(check_markers(markers, lines_frame(), reference_date=REF)[0]) == 0
    markers.loc["M3", "marker_no"] = "0002003Q"
    found, _ = check_markers(markers, lines_frame(), reference_date=REF)
    assert kinds(found) == [("marker_line_mismatch", "0002003Q")]


def test_marker_table_without_required_columns():
    with pytest.raises(SchemaError, match="column 'x_reg': missing column"):
        check_markers(clean_markers().drop(columns="x_reg"), lines_frame(), reference_date=REF)


# ----------------------------------------------------------------- features


def test_project_straddling_two_towns():
    projects = gpd.GeoDataFrame(
        {"project_id": ["P1", "P2", "P3"]},
        geometry=[
            at(box(900, 400, 1100, 500)),  # 10,000 m2 on each side of line 0001
            at(box(100, 100, 300, 300)),  # inside A
            at(box(990, 600, 1300, 700)),  # only 1,000 m2 in A (>= 50) and 31,000 in B
        ],
        crs=CRS,
    )
    found = check_straddling_features(projects, towns_frame(), lines=lines_frame())
    assert kinds(found) == [("feature_straddles", "P1"), ("feature_straddles", "P3")]
    p1 = found.set_index("subject").loc["P1"]
    assert p1["value"] == pytest.approx(10_000.0)
    assert p1["line_code"] == "0001"
    strict = check_straddling_features(
        projects, towns_frame(), tolerances={"straddle_min_m2": 2_000}
    )
    assert kinds(strict) == [("feature_straddles", "P1")]


def test_facility_recorded_in_the_wrong_town():
    facilities = gpd.GeoDataFrame(
        {
            "facility_id": ["F1", "F2", "F3", "F4"],
            "admin_code": [A, B, A + "002", None],  # F3 carries a village code of A
        },
        geometry=[
            Point(xy(500, 500)),
            Point(xy(500, 500)),
            Point(xy(600, 100)),
            Point(xy(1500, 1500)),
        ],
        crs=CRS,
    )
    found = check_facility_admin_codes(facilities, towns_frame())
    assert kinds(found) == [("facility_admin_mismatch", "F2"), ("facility_admin_mismatch", "F4")]
    assert "实际位于 350582001 甲街道" in found.iloc[0]["detail"]
    assert "缺少行政区划代码" in found.iloc[1]["detail"]


# ----------------------------------------------------------------- schedule


def rounds_frame():
    return pd.DataFrame(
        {
            "line_code": ["0001", "0001", "0002", "0777"],
            "round_no": [2, 3, 2, 1],
            "inspected_on": ["2016-06-01", "2021-06-01", "2015-05-01", "2020-01-01"],
            "findings": ["无", "无", "界桩 0002003A 损坏", ""],
            "agreement_signed": [True, True, "否", False],
        }
    )


def test_five_year_schedule_and_plan():
    schedule = inspection_schedule(lines_frame(), rounds_frame(), reference_date=REF)
    s = schedule.set_index("line_code")
    assert s.loc["0001", "next_due"] == pd.Timestamp("2026-06-01")
    assert s.loc["0001", "next_round_no"] == 4
    assert not s.loc["0001", "overdue"]
    assert s.loc["0002", "next_due"] == pd.Timestamp("2020-05-01")
    assert s.loc["0002", "overdue"]
    assert not s.loc["0002", "agreement_signed"]
    assert s.loc["0003", "next_due"] == pd.Timestamp(REF)  # never inspected: due now
    assert s.loc["0003", "rounds_done"] == 0
    plan_2025 = inspection_plan(schedule, 2025)
    assert plan_2025["line_code"].tolist() == ["0002", "0003"]
    plan_2026 = inspection_plan(schedule, 2026)
    assert plan_2026["line_code"].tolist() == ["0002", "0003", "0001"]


def test_inspect_boundaries_collects_every_check():
    notch = box(1000, 200, 1020, 700)
    towns = towns_frame(b=box(1000, 0, 2000, 1000).difference(notch))
    lines = lines_frame(extra=[("0999", A, B, LineString([(5000, 5000), (5000, 6000)]))])
    previous = lines_frame(ab=PUSHED)
    markers = clean_markers()
    markers.loc["M1", "condition"] = "丢失"
    result = inspect_boundaries(
        towns=towns,
        lines=lines,
        previous_lines=previous,
        markers=markers,
        rounds=rounds_frame(),
        reference_date=REF,
        plan_year=2026,
    )
    assert kinds(result.findings) == [
        ("topology_gap", f"{A}|{B}"),
        ("line_not_touching", "0999"),
        ("line_version_change", "0001"),
        ("marker_condition", "0001001Q"),
        ("round_overdue", "0002"),
        ("round_unknown_line", "0777"),
    ]
    assert result.findings.index.tolist() == [f"F{i:04d}" for i in range(1, 7)]
    summary = result.lines.set_index("line_code")
    assert summary.loc["0001", "n_markers"] == 3
    assert summary.loc["0001", "n_findings"] == 3
    assert summary.loc["0001", "left_name"] == "甲街道"
    assert result.plan["line_code"].tolist() == ["0002", "0003", "0999", "0001"]
    again = inspect_boundaries(
        towns=towns,
        lines=lines.iloc[::-1],
        previous_lines=previous,
        markers=markers.iloc[::-1],
        rounds=rounds_frame(),
        reference_date=REF,
        plan_year=2026,
    )
    pd.testing.assert_frame_equal(
        pd.DataFrame(again.findings.drop(columns="geometry")),
        pd.DataFrame(result.findings.drop(columns="geometry")),
    )


def test_inputs_are_not_modified():
    towns, lines, markers = towns_frame(), lines_frame(), clean_markers()
    before = (towns.copy(), lines.copy(), markers.copy())
    inspect_boundaries(towns=towns, lines=lines, markers=markers, reference_date=REF)
    pd.testing.assert_frame_equal(towns, before[0])
    pd.testing.assert_frame_equal(lines, before[1])
    pd.testing.assert_frame_equal(markers, before[2])


# ----------------------------------------------------------------- errors


def test_layers_in_degrees_are_refused():
    with pytest.raises(CRSError, match="degrees"):
        check_coverage(towns_frame().to_crs(4490))
    with pytest.raises(CRSError, match="degrees"):
        inspect_boundaries(
            towns=towns_frame(), lines=lines_frame().to_crs(4490), reference_date=REF
        )


def test_layers_in_different_crs_are_refused():
    with pytest.raises(CRSError, match="bring both"):
        check_lines_against_units(lines_frame().to_crs(32650), towns_frame())


def test_study_area_as_a_layer_and_default_plan_year():
    towns = towns_frame(b=box(1000, 0, 2000, 1000).difference(box(1990, 0, 2000, 900)))
    area = gpd.GeoDataFrame(geometry=[at(box(0, 0, 2000, 2000))], crs=CRS)
    result = inspect_boundaries(
        towns=towns, lines=lines_frame(), study_area=area, rounds=rounds_frame(), reference_date=REF
    )
    assert kinds(result.findings) == [
        ("topology_gap", B),
        ("round_overdue", "0002"),
        ("round_unknown_line", "0777"),
    ]
    assert result.plan_year == 2025
    assert result.plan["line_code"].tolist() == ["0002", "0003"]
    with pytest.raises(CRSError, match="degrees"):
        inspect_boundaries(
            towns=towns, lines=lines_frame(), study_area=area.to_crs(4490), reference_date=REF
        )


def test_unknown_finding_kind_is_refused():
    with pytest.raises(ValueError, match="unknown finding kind"):
        finding("topology_hole", "x", "y")


def test_bad_tolerances_and_dates():
    assert tolerances_from({"line_deviation_m": 20}).line_deviation_m == 20
    assert tolerances_from(None) == Tolerances()
    with pytest.raises(ValueError, match="unknown tolerance"):
        tolerances_from({"line_deviation": 20})
    with pytest.raises(ValueError, match=">= 0"):
        tolerances_from({"marker_to_line_m": -1})
    with pytest.raises(ValueError, match="reference_date must be a date"):
        inspection_schedule(lines_frame(), None, reference_date=None)
