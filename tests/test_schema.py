"""Layer contracts, the facility-type registry and one-pass validation."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pandas.testing import assert_frame_equal

from geoplan.errors import SchemaError
from geoplan.schema import (
    FACILITY_TYPES,
    LAYER_CONTRACTS,
    facility_type_key,
    mojibake_encoding,
    status_key,
    validate_layer,
)

# Jinjiang, CGCS2000 lon/lat
AREA = gpd.GeoDataFrame({"code": ["350582"], "name": ["晋江市"]},
                        geometry=[shapely.box(118.45, 24.60, 118.70, 24.90)], crs=4490)


def facilities(**overrides: object) -> gpd.GeoDataFrame:
    data = {
        "facility_id": ["F1", "F2", "F3"],
        "facility_type": ["elderly_station", "senior_canteen", "columbarium"],
        "name": ["青阳街道养老服务站", "梅岭长者食堂", "磁灶骨灰堂"],
        "beds": [10, None, None],
        "niches_total": [None, None, 3000],
        "admin_code": ["350582001", "350582002", "350582104"],
        "note": ["extra", "columns", "pass"],
    }
    geoms = [shapely.Point(118.55, 24.78), shapely.Point(118.56, 24.79), shapely.Point(118.5, 24.7)]
    data.update(overrides)
    geometry = data.pop("geometry", geoms)
    return gpd.GeoDataFrame(data, geometry=geometry, crs=4490)


def problems_of(gdf: gpd.GeoDataFrame, kind: str, **kw: object) -> list[tuple[object, object, str]]:
    with pytest.raises(SchemaError) as info:
        validate_layer(gdf, kind, **kw)
    return [(p.row, p.column, p.message) for p in info.value.problems]


# --------------------------------------------------------------------------- registry
def test_registry_holds_the_contract_types_with_chinese_names() -> None:
    expected = {
        "elderly_station": "居家养老服务站", "senior_canteen": "长者食堂/助餐点",
        "columbarium": "公益性骨灰堂", "social_work_station": "乡镇(街道)社工站",
        "day_care_center": "日间照料中心", "nursing_home": "养老机构/敬老院",
        "community_center": "社区综合服务设施", "children_home": "儿童之家",
        "health_station": "社区卫生服务站", "minor_protection_station": "未成年人保护工作站",
        "care_center": "街道(镇)综合养老服务中心",
    }
    assert {k: v.name_zh for k, v in FACILITY_TYPES.items()} == expected
    name_zh, capacity = FACILITY_TYPES["nursing_home"]
    assert name_zh == "养老机构/敬老院"
    assert capacity == ("beds", "nursing_beds", "floor_area_m2")
    assert FACILITY_TYPES["columbarium"].capacity_columns[:2] == ("niches_total", "niches_used")
    assert FACILITY_TYPES["senior_canteen"].name_en == "senior canteen / meal point"
    assert "幸福院" in FACILITY_TYPES["elderly_station"].aliases


@pytest.mark.parametrize(("text", "key"), [
    ("居家养老服务站", "elderly_station"), ("养老服务站", "elderly_station"),
    ("幸福院", "elderly_station"), ("长者食堂", "senior_canteen"), ("助餐点", "senior_canteen"),
    ("老年食堂", "senior_canteen"), ("骨灰堂", "columbarium"), ("公益性骨灰堂", "columbarium"),
    ("公益性安葬设施", "columbarium"), ("乡镇（街道）社工站", "social_work_station"),
    ("敬老院", "nursing_home"), (" Day care centre ", "day_care_center"),
    ("columbarium", "columbarium"), ("菜市场", None), (None, None),
])
def test_facility_type_aliases(text: object, key: str | None) -> None:
    assert facility_type_key(text) == key


@pytest.mark.parametrize(("text", "key"), [
    ("已建", "existing"), ("在建", "building"), ("规划", "planned"), ("拟建", "proposed"),
    ("停用", "closed"), ("existing", "existing"), ("maybe", None),
])
def test_status_words(text: str, key: str | None) -> None:
    assert status_key(text) == key


def test_mojibake_detection() -> None:
    assert mojibake_encoding("鹭江街道".encode("gbk").decode("latin-1")) == "gbk"
    assert mojibake_encoding("名称".encode().decode("latin-1")) == "utf-8"
    assert mojibake_encoding("Ãû³Æ") == "gbk"
    for fine in ("café", "Zürich", "São Paulo", "鹭江街道", "plain", None, 3.0):
        assert mojibake_encoding(fine) is None


# --------------------------------------------------------------------------- happy path
def test_valid_layer_returns_a_new_frame_indexed_by_string_ids() -> None:
    gdf = facilities(facility_type=["幸福院", "助餐点", "骨灰堂"], status=["已建", "在建", "拟建"])
    before = gdf.copy()
    out = validate_layer(gdf, "facilities", study_area=AREA)
    assert_frame_equal(gdf, before)  # the input is not modified
    assert out is not gdf
    assert list(out.index) == ["F1", "F2", "F3"]
    assert out.index.name is None
    assert list(out["facility_type"]) == ["elderly_station", "senior_canteen", "columbarium"]
    assert list(out["status"]) == ["existing", "building", "proposed"]
    assert list(out["note"]) == ["extra", "columns", "pass"]  # extra column passes through
    assert np.isnan(out.loc["F1", "seats"])  # missing capacity columns are added as NaN
    assert out.loc["F3", "niches_total"] == 3000


def test_missing_status_means_existing_and_counts_become_integers() -> None:
    pop = gpd.GeoDataFrame({"cell_id": [1, 2], "pop": ["12", "1,024"], "households": [5.0, 400.0]},
                           geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)],
                           crs=4549)
    out = validate_layer(pop, "population")
    assert out["pop"].dtype == np.int64
    assert list(out["pop"]) == [12, 1024]
    assert list(out.index) == ["1", "2"]
    fac = validate_layer(facilities(), "facilities")
    assert set(fac["status"]) == {"existing"}


# --------------------------------------------------------------------------- one test per problem
def test_missing_required_column() -> None:
    gdf = facilities().drop(columns=["name"])
    assert (None, "name", "missing required column") in problems_of(gdf, "facilities")


def test_missing_id_column() -> None:
    gdf = facilities().drop(columns=["facility_id"])
    assert (None, "facility_id", "missing required id column") in problems_of(gdf, "facilities")


def test_missing_id_value_is_reported_by_position() -> None:
    gdf = facilities(facility_id=["F1", None, "F3"])
    assert ("#1", "facility_id", "missing id") in problems_of(gdf, "facilities")


def test_text_in_a_number_column_names_the_row() -> None:
    gdf = facilities(beds=["10", "约20张", "３０"])
    assert problems_of(gdf, "facilities") == [("F2", "beds", "not a number: '约20张'")]


def test_invalid_geometry_gives_the_reason() -> None:
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    units = gpd.GeoDataFrame({"code": ["350582001"], "name": ["青阳街道"], "level": ["town"]},
                             geometry=[bowtie], crs=4549)
    [(row, col, msg)] = problems_of(units, "admin_units")
    assert (row, col) == ("350582001", "geometry")
    assert msg.startswith("invalid geometry: Self-intersection")


def test_empty_and_missing_geometry() -> None:
    gdf = facilities(geometry=[shapely.Point(118.55, 24.78), shapely.Point(), None])
    found = problems_of(gdf, "facilities")
    assert ("F2", "geometry", "empty geometry") in found
    assert ("F3", "geometry", "missing geometry (no coordinates)") in found


def test_wrong_geometry_type() -> None:
    gdf = facilities(geometry=[shapely.Point(118.55, 24.78), shapely.Point(118.5, 24.7),
                               shapely.box(118.5, 24.7, 118.51, 24.71)])
    assert problems_of(gdf, "facilities") == [
        ("F3", "geometry", "geometry type Polygon not allowed; expected Point")]


def test_duplicate_ids_name_every_row() -> None:
    gdf = facilities(facility_id=["F1", "F1", "F3"])
    assert problems_of(gdf, "facilities") == [
        ("F1", "facility_id", "duplicate id 'F1' in 2 rows (index 0, 1)")]


def test_points_outside_the_study_area() -> None:
    # 0.01° of longitude at 24.8°N is ~1 km; a point 20 m outside is within the tolerance
    gdf = facilities(geometry=[shapely.Point(118.55, 24.78), shapely.Point(118.7102, 24.8),
                               shapely.Point(118.7002, 24.8)])
    [(row, col, msg)] = problems_of(gdf, "facilities", study_area=AREA)
    assert (row, col) == ("F2", "geometry")
    assert msg.startswith("outside the study area by 1,0")


def test_negative_counts_and_capacities() -> None:
    gdf = facilities(beds=[-1, None, None])
    assert problems_of(gdf, "facilities") == [("F1", "beds", "negative value -1")]


def test_unknown_facility_type_lists_the_known_keys() -> None:
    gdf = facilities(facility_type=["幸福院", "菜市场", "columbarium"])
    [(row, col, msg)] = problems_of(gdf, "facilities")
    assert (row, col) == ("F2", "facility_type")
    assert "unknown facility type '菜市场'" in msg
    assert all(key in msg for key in FACILITY_TYPES)


def test_unknown_status() -> None:
    gdf = facilities(status=["已建", "待定", None])
    [(row, col, msg)] = problems_of(gdf, "facilities")
    assert (row, col) == ("F2", "status")
    assert msg.startswith("unknown status '待定'; allowed: existing (已建)")


def test_admin_codes_of_the_wrong_length() -> None:
    gdf = facilities(admin_code=["35058200", "350582002", "35058210a"])
    found = problems_of(gdf, "facilities")
    expected = "should be 2, 4, 6, 9 or 12 digits"
    assert found == [("F1", "admin_code", f"admin code '35058200' {expected}"),
                     ("F3", "admin_code", f"admin code '35058210a' {expected}")]


def test_codes_of_every_level_are_accepted_everywhere() -> None:
    """Province 35, city 3502, district 350203, street 350203001, community: all read."""
    codes = ["35", "3502", "350203", "350203001", "350203001001"]
    gdf = validate_layer(facilities(admin_code=codes[2:]), "facilities")
    assert list(gdf["admin_code"]) == codes[2:]
    box = shapely.box(0, 0, 10, 10)
    units = gpd.GeoDataFrame(
        {"code": [*codes, "350200", "350000"], "name": ["福建省", "厦门市", "思明区", "中华街道",
                                                      "某社区", "厦门市", "福建省"],
         "level": ["省", "地级市", "区", "街道", "社区", "市", "province"]},
        geometry=[box] * 7, crs=4549)
    ok = validate_layer(units, "admin_units")
    assert list(ok["level"]) == ["province", "city", "county", "town", "village", "city",
                                 "province"]
    bad = units.assign(level=["县", "街道", "区", "街道", "社区", "市", "省"])
    assert problems_of(bad, "admin_units") == [
        ("35", "code", "admin code '35' should be 6 or 12 digits"),
        ("3502", "code", "admin code '3502' should be 9 or 12 digits")]
    lines = gpd.GeoDataFrame({"line_code": ["0001", "0002"], "left_code": ["35", "3502"],
                              "right_code": ["36", "3505"]},
                             geometry=[shapely.LineString([(0, 0), (1, 1)])] * 2, crs=4549)
    assert list(validate_layer(lines, "boundary_lines")["left_code"]) == ["35", "3502"]


def test_admin_code_length_follows_the_level() -> None:
    box = shapely.box(0, 0, 10, 10)
    units = gpd.GeoDataFrame(
        {"code": ["350582001", "350582001001", "350582101"], "name": ["青阳街道", "某社区", "某村"],
         "level": ["街道", "社区", "village"]}, geometry=[box] * 3, crs=4549)
    assert problems_of(units, "admin_units") == [
        ("350582101", "code", "admin code '350582101' should be 12 digits")]
    ok = validate_layer(units.iloc[:2], "admin_units")
    assert list(ok["level"]) == ["town", "village"]


def test_unknown_admin_level() -> None:
    units = gpd.GeoDataFrame({"code": ["350582001"], "name": ["青阳"], "level": ["片区"]},
                             geometry=[shapely.box(0, 0, 1, 1)], crs=4549)
    [(row, col, msg)] = problems_of(units, "admin_units")
    assert (row, col) == ("350582001", "level")
    assert msg.startswith("unknown level '片区'; allowed: province (省), city (市)")


def test_mojibake_values_and_column_names() -> None:
    garbled = "青阳街道养老服务站".encode("gbk").decode("latin-1")
    gdf = facilities(name=[garbled, "梅岭长者食堂", "磁灶骨灰堂"])
    gdf["ËùÊô"] = "x"  # 所属 as GBK bytes read as Latin-1
    found = problems_of(gdf, "facilities")
    assert found[0][:2] == (None, "ËùÊô")
    assert "reads '所属'" in found[0][2]
    assert found[1][:2] == ("F1", "name")
    assert "garbled text" in found[1][2]
    assert "encoding='GBK'" in found[1][2]


def test_nan_population_is_reported() -> None:
    cells = [shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)]
    pop = gpd.GeoDataFrame({"cell_id": ["a", "b"], "pop": [10, np.nan],
                            "pop_60plus": [np.nan, 1]}, geometry=cells, crs=4549)
    assert problems_of(pop, "population") == [("b", "pop", "missing value (NaN)"),
                                              ("a", "pop_60plus", "missing value (NaN)")]


def test_layer_without_crs() -> None:
    gdf = facilities().set_crs(None, allow_override=True)
    found = problems_of(gdf, "facilities")
    assert (None, None, "layer has no CRS; declare its coordinates") in found


def test_unknown_kind_and_non_geodataframe() -> None:
    with pytest.raises(SchemaError, match="unknown layer kind 'shops'"):
        validate_layer(facilities(), "shops")
    with pytest.raises(SchemaError, match="expected a GeoDataFrame, got DataFrame"):
        validate_layer(pd.DataFrame({"a": [1]}), "facilities")


def test_layer_without_geometry_column() -> None:
    gdf = gpd.GeoDataFrame({"facility_id": ["F1"], "facility_type": ["幸福院"], "name": ["x"]})
    assert (None, "geometry", "layer has no geometry column") in problems_of(gdf, "facilities")


def test_empty_study_area() -> None:
    empty = AREA.iloc[:0]
    assert (None, None, "the study area has no features") in problems_of(empty, "study_area")


# --------------------------------------------------------------------------- all at once
def test_several_problems_are_reported_at_once_with_rows_and_columns() -> None:
    gdf = facilities(
        facility_id=["F1", "F1", "F3"],
        facility_type=["幸福院", "菜市场", "骨灰堂"],
        beds=["abc", -2, None],
        admin_code=["35058", "350582002", "350582104"],
        geometry=[shapely.Point(118.55, 24.78), None, shapely.Point(120.0, 26.0)],
    ).drop(columns=["name"])
    before = gdf.copy()
    with pytest.raises(SchemaError) as info:
        validate_layer(gdf, "facilities", study_area=AREA, what="facilities (养老.xlsx)")
    err = info.value
    assert_frame_equal(gdf, before)
    found = {(p.row, p.column) for p in err.problems}
    assert found == {
        ("F1", "facility_id"), (None, "name"), ("F1", "facility_type"), ("F1", "beds"),
        ("F1", "admin_code"), ("F1", "geometry"), ("F3", "geometry"),
    }
    assert len(err.problems) == 8  # one duplicate id, beds twice (text, negative)
    text = str(err)
    assert text.startswith("facilities (养老.xlsx): 8 problem(s)")
    assert "row 'F1', column 'beds': not a number: 'abc'" in text
    assert "row 'F1', column 'beds': negative value -2" in text
    assert "outside the study area by" in text


# --------------------------------------------------------------------------- boundary markers
def test_markers_keep_duplicates_and_missing_coordinates_as_flags() -> None:
    markers = gpd.GeoDataFrame(
        {"marker_no": ["0001001A", "0001001A", "0001002B"], "line_code": ["0001"] * 3,
         "coords_missing": [False, False, True],
         "last_inspected": ["2024-03-01", None, "2023/5/6"]},
        geometry=[shapely.Point(500000, 2740000), shapely.Point(500010, 2740000), shapely.Point()],
        crs=4549)
    out = validate_layer(markers, "boundary_markers")
    assert list(out.index) == ["0001001A", "0001001A#2", "0001002B"]
    assert list(out["duplicate_id"]) == [True, True, False]
    assert list(out["coords_missing"]) == [False, False, True]
    assert out["last_inspected"].iloc[0] == pd.Timestamp("2024-03-01")
    # an empty point is only accepted when flagged
    markers["coords_missing"] = False
    assert problems_of(markers, "boundary_markers") == [("0001002B", "geometry", "empty geometry")]


def test_marker_cells_that_cannot_be_read_are_kept_empty_and_noted() -> None:
    # the boundary checks report them with their row; one bad cell must not stop a run
    markers = gpd.GeoDataFrame(
        {"marker_no": ["0001001Q", None, "0001003Q"], "x_reg": [500000.0, "abc", 500000.0],
         "last_inspected": ["去年", "2023年5月1日", 45047]},
        geometry=[shapely.Point(500000, 2700000)] * 3, index=[2, 3, 4], crs=4549)
    out = validate_layer(markers, "boundary_markers")
    assert list(out.index) == ["0001001Q", "row 3", "0001003Q"]
    assert pd.isna(out.loc["0001001Q", "last_inspected"])
    assert list(out["last_inspected"].iloc[1:]) == [pd.Timestamp("2023-05-01")] * 2
    assert np.isnan(out.loc["row 3", "x_reg"])
    assert pd.isna(out.loc["row 3", "marker_no"])
    assert out.loc["0001001Q", "read_problems"] == "last_inspected: not a date: '去年'"
    assert out.loc["row 3", "read_problems"].splitlines() == [
        "marker_no: missing id", "x_reg: not a number: 'abc'"]
    assert pd.isna(out.loc["0001003Q", "read_problems"])
    assert list(out["coords_missing"]) == [False, False, False]  # derived from the geometry


def test_marker_problems_outside_the_noted_cells_still_raise() -> None:
    garbled = "张三".encode("gbk").decode("latin-1")  # a GBK file read as Latin-1
    markers = gpd.GeoDataFrame({"marker_no": ["0001001Q"], "custodian": [garbled]},
                               geometry=[shapely.Point(1, 1)], crs=4549)
    found = problems_of(markers, "boundary_markers")
    assert [(r, c) for r, c, _ in found] == [("0001001Q", "custodian")]
    no_numbers = gpd.GeoDataFrame({"line_code": ["0001"]}, geometry=[shapely.Point(1, 1)],
                                  crs=4549)
    assert problems_of(no_numbers, "boundary_markers") == [
        (None, "marker_no", "missing required id column")]


def test_every_contract_names_its_geometry_types() -> None:
    assert set(LAYER_CONTRACTS) == {"admin_units", "facilities", "population", "boundary_lines",
                                    "boundary_markers", "study_area", "projects",
                                    "candidate_sites", "exclusion_zones"}
    lines = gpd.GeoDataFrame({"line_code": ["0001"], "left_code": ["350582001"],
                              "right_code": ["350582002"]},
                             geometry=[shapely.LineString([(0, 0), (1, 1)])], crs=4549)
    assert list(validate_layer(lines, "boundary_lines").index) == ["0001"]


# --------------------------------------------------------------------------- review fixes
def test_infinite_numbers_are_reported() -> None:
    gdf = facilities(beds=[10, np.inf, None])
    assert problems_of(gdf, "facilities") == [("F2", "beds", "not a finite number: inf")]


def test_counts_larger_than_the_count_they_belong_to() -> None:
    gdf = facilities(beds=[10, None, None], nursing_beds=[12, None, None],
                     niches_used=[None, None, 3500])
    assert problems_of(gdf, "facilities") == [
        ("F1", "nursing_beds", "nursing_beds 12 is larger than beds 10"),
        ("F3", "niches_used", "niches_used 3500 is larger than niches_total 3000")]
    cells = gpd.GeoDataFrame(
        {"cell_id": ["c1", "c2", "c3"], "pop": [100, 10, -1], "households": [30, 4, 0],
         "pop_60plus": [20, 12, 0], "pop_80plus": [25, 2, 0]},
        geometry=[shapely.box(0, 0, 100, 100)] * 3, crs=4549)
    assert problems_of(cells, "population") == [
        ("c3", "pop", "negative value -1"),
        ("c2", "pop_60plus", "pop_60plus 12 is larger than pop 10"),
        ("c1", "pop_80plus", "pop_80plus 25 is larger than pop_60plus 20")]
    only_80 = cells.drop(columns=["pop_60plus"]).iloc[:2].assign(pop=[20, 10])
    assert problems_of(only_80, "population") == [
        ("c1", "pop_80plus", "pop_80plus 25 is larger than pop 20")]
    assert validate_layer(only_80.iloc[1:], "population")["pop_80plus"].tolist() == [2]


def test_one_part_multipoint_facilities_are_points() -> None:
    gdf = facilities(geometry=[shapely.MultiPoint([(118.55, 24.78)]), shapely.Point(118.56, 24.79),
                               shapely.MultiPoint([(118.5, 24.7), (118.51, 24.7)])])
    assert problems_of(gdf, "facilities") == [
        ("F3", "geometry", "geometry type MultiPoint not allowed; expected Point")]
    out = validate_layer(gdf.iloc[:2], "facilities")
    assert out.geom_type.tolist() == ["Point", "Point"]
    assert gdf.geom_type.iloc[0] == "MultiPoint"  # the input is not modified


# --------------------------------------------------------------------------- type names
@pytest.mark.parametrize(("name", "key"), [
    ("长者服务站", "elderly_station"), ("颐康之家", "elderly_station"),
    ("颐康中心", "care_center"), ("养老驿站", "elderly_station"),
    ("日间照料中心", "day_care_center"), ("农村幸福院", "elderly_station"),
    ("长者食堂", "senior_canteen"), ("老年助餐点", "senior_canteen"),
    ("助餐服务点", "senior_canteen"), ("长者饭堂", "senior_canteen"),
    ("社工站", "social_work_station"), ("社会工作服务站", "social_work_station"),
    ("公益性骨灰堂", "columbarium"), ("Senior canteen / meal point", "senior_canteen"),
])
def test_names_planners_use_across_provinces(name: str, key: str) -> None:
    assert facility_type_key(name) == key


def test_unknown_type_names_are_reported_once_each_with_count_and_examples() -> None:
    gdf = facilities(facility_id=[f"F{i}" for i in range(6)],
                     facility_type=["老人之家"] * 4 + ["菜市场", "幸福院"],
                     name=list("abcdef"), beds=[1] * 6, niches_total=[None] * 6,
                     admin_code=["350582001"] * 6, note=[""] * 6,
                     geometry=[shapely.Point(118.55, 24.78)] * 6)
    found = problems_of(gdf, "facilities")
    assert [(row, col) for row, col, _ in found] == [("F0", "facility_type"),
                                                    ("F4", "facility_type")]
    assert "'老人之家'" in found[0][2]
    assert "4 row(s): F0, F1, F2, …" in found[0][2]
    assert "[types.aliases]" in found[0][2]
    out = validate_layer(gdf, "facilities", type_aliases={"老人之家": "居家养老服务站",
                                                          "菜市场": "senior_canteen"})
    assert out["facility_type"].tolist() == ["elderly_station"] * 4 + [
        "senior_canteen", "elderly_station"]
