"""Reading and writing layers: GBK shapefiles, Excel/CSV tables, rasters, atomic writes."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import prcoords
import pyogrio
import pytest
import shapely
from pandas.testing import assert_frame_equal

from geoplan import io as gio
from geoplan.errors import CRSError, OutputError, SchemaError
from geoplan.io._tables import parse_coordinate
from geoplan.io.layers import POPULATION_BANDS

WGS_LON, WGS_LAT = 118.5521, 24.7812  # a point in Jinjiang (青阳街道)
AREA = gpd.GeoDataFrame({"code": ["350582"]}, geometry=[shapely.box(118.45, 24.6, 118.7, 24.9)],
                        crs=4490)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _metres_between(a: shapely.Point, lon: float, lat: float) -> float:
    pts = gpd.GeoSeries([a, shapely.Point(lon, lat)], crs=4490).to_crs(4549)
    return float(pts.iloc[0].distance(pts.iloc[1]))


def _write_excel(path: Path, frame: pd.DataFrame, *, title: str | None = None,
                 sheet: str = "Sheet1") -> Path:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        start = 0
        if title:
            pd.DataFrame([[title]]).to_excel(writer, sheet_name=sheet, header=False, index=False)
            start = 2
        frame.to_excel(writer, sheet_name=sheet, startrow=start, index=False)
    return path


# --------------------------------------------------------------------------- atomic_write
def test_atomic_write_replaces_the_file_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out" / "summary.csv"
    with gio.atomic_write(target) as tmp:
        assert tmp.parent.parent == target.parent
        assert tmp.name == "summary.csv"
        assert not target.exists()  # nothing visible until the block succeeds
        tmp.write_text("a,b\n1,2\n", encoding="utf-8")
    assert target.read_text(encoding="utf-8") == "a,b\n1,2\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["summary.csv"]


def test_atomic_write_keeps_the_previous_file_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "summary.csv"
    target.write_text("previous run\n", encoding="utf-8")
    def failing_writer() -> None:
        with gio.atomic_write(target) as tmp:
            tmp.write_text("half a fi", encoding="utf-8")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        failing_writer()
    assert target.read_text(encoding="utf-8") == "previous run\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.csv"]  # temp folder removed


def test_atomic_write_refuses_an_empty_result(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="nothing was written"), \
            gio.atomic_write(tmp_path / "x.gpkg"):
        pass
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- shapefiles
def _gbk_shapefile(folder: Path, *, keep_cpg: bool) -> Path:
    gdf = gpd.GeoDataFrame(
        {"名称": ["鹭江街道老年人日间照料中心", "青阳街道长者食堂"],
         "类型": ["日间照料中心", "助餐点"],
         "床位数": [20, 0], "所属镇街": ["青阳街道", "青阳街道"]},
        geometry=[shapely.Point(118.55, 24.78), shapely.Point(118.56, 24.79)], crs=4490)
    path = folder / "设施.shp"
    gdf.to_file(path, encoding="GBK")
    if not keep_cpg:
        path.with_suffix(".cpg").unlink()
    return path


def test_gbk_shapefile_without_cpg_is_detected_and_reread(tmp_path: Path) -> None:
    path = _gbk_shapefile(tmp_path, keep_cpg=False)
    raw = gpd.read_file(path)  # what plain geopandas gives: silent garbage
    assert "名称" not in raw.columns
    digests = {p.name: _digest(p) for p in tmp_path.iterdir()}
    with pytest.warns(UserWarning, match="检测到GBK编码（无.cpg文件）"):
        fac = gio.read_facilities(path, "cgcs2000")
    assert list(fac["name"]) == ["鹭江街道老年人日间照料中心", "青阳街道长者食堂"]
    assert list(fac["facility_type"]) == ["day_care_center", "senior_canteen"]
    assert list(fac["beds"]) == [20, 0]
    assert list(fac["admin_name"]) == ["青阳街道", "青阳街道"]
    assert fac.attrs["geoplan"]["encoding"] == "GBK (detected, no .cpg)"
    assert {p.name: _digest(p) for p in tmp_path.iterdir()} == digests  # inputs untouched


def test_gbk_shapefile_with_cpg_reads_without_warning(tmp_path: Path) -> None:
    path = _gbk_shapefile(tmp_path, keep_cpg=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fac = gio.read_facilities(path, "wgs84")
    assert fac.loc["F1", "name"] == "鹭江街道老年人日间照料中心"
    assert "encoding" not in fac.attrs["geoplan"]


def test_explicit_encoding_overrides_detection(tmp_path: Path) -> None:
    path = _gbk_shapefile(tmp_path, keep_cpg=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fac = gio.read_facilities(path, "cgcs2000", encoding="GBK")
    assert fac.loc["F2", "name"] == "青阳街道长者食堂"


def test_garbled_layer_read_without_the_reader_is_caught_by_validation(tmp_path: Path) -> None:
    from geoplan.schema import validate_layer

    raw = gpd.read_file(_gbk_shapefile(tmp_path, keep_cpg=False))
    with pytest.raises(SchemaError, match="garbled column name, reads '名称' as GBK"):
        validate_layer(raw, "facilities")


# --------------------------------------------------------------------------- Excel / CSV
def test_excel_with_chinese_headers_and_gcj02_lands_on_the_wgs_point(tmp_path: Path) -> None:
    gcj = prcoords.wgs_gcj(prcoords.Coords(WGS_LAT, WGS_LON))  # independent implementation
    table = pd.DataFrame({
        "序号": ["1", "2"], "机构名称": ["青阳街道长者食堂", "梅岭街道助餐点"],
        "设施类型": ["长者食堂", "助餐点"], "经度": [f"{gcj.lon:.8f}", "118°35′24″"],
        "纬度": [f"{gcj.lat:.8f}", "２４.８"], "餐位": ["１２０", "1,050"],
        "状态": ["已建", "规划"],
        "备注": ["", "新建"],
    })
    path = _write_excel(tmp_path / "长者食堂.xlsx", table, title="晋江市长者食堂一览表",
                        sheet="长者食堂")
    digest = _digest(path)
    fac = gio.read_facilities(path, "gcj02", sheet="长者食堂", study_area=AREA)
    assert _digest(path) == digest
    assert fac.crs.to_epsg() == 4490
    assert _metres_between(fac.geometry.loc["1"], WGS_LON, WGS_LAT) < 1.0
    assert list(fac["seats"]) == [120, 1050]
    assert list(fac["status"]) == ["existing", "planned"]
    assert list(fac["备注"].fillna("")) == ["", "新建"]
    meta = fac.attrs["geoplan"]
    assert meta["declared_coords"] == "gcj02"
    assert meta["header_row"] == 3
    assert meta["columns"]["经度"] == "lon"
    assert "lon" not in fac.columns  # the geometry is the only position


def test_csv_in_gbk_with_dms_coordinates(tmp_path: Path) -> None:
    text = ("编号,名称,类型,东经,北纬,床位数\n"
            "N1,安海镇敬老院,敬老院,118°27′36″,24°43′12″,120\n"
            "N2,龙湖镇敬老院,养老院,118度36分0秒,24度37分48秒,80\n")
    path = tmp_path / "敬老院.csv"
    path.write_bytes(text.encode("gbk"))
    fac = gio.read_facilities(path, "wgs84")
    assert fac.attrs["geoplan"]["encoding"] == "gbk"
    assert list(fac["name"]) == ["安海镇敬老院", "龙湖镇敬老院"]
    assert list(fac["facility_type"]) == ["nursing_home", "nursing_home"]
    assert fac.geometry.loc["N1"].x == pytest.approx(118.46)
    assert fac.geometry.loc["N1"].y == pytest.approx(24.72)
    assert fac.geometry.loc["N2"].y == pytest.approx(24.63)


def test_csv_in_utf8_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "stations.csv"
    path.write_bytes("\ufeffname,type,lng,lat\n站点甲,幸福院,118.55,24.78\n".encode())
    fac = gio.read_facilities(path, "cgcs2000")
    assert fac.attrs["geoplan"]["encoding"] == "utf-8-sig"
    assert list(fac.index) == ["F2"]  # no id column: generated from the CSV row number
    assert fac.loc["F2", "facility_type"] == "elderly_station"


@pytest.mark.parametrize(("text", "value"), [
    ("118°05′24″", 118.09), ("118°5'24\"E", 118.09), ("１１８．０９", 118.09),
    ("东经118度05分24秒", 118.09), ("24°47.5′N", 24 + 47.5 / 60), ("118°05′24″W", -118.09),
    (" 2,760,123.5 ", 2760123.5), ("", math.nan), (118.09, 118.09),
])
def test_parse_coordinate(text: object, value: float) -> None:
    result = parse_coordinate(text)
    assert (math.isnan(result) and math.isnan(value)) or result == pytest.approx(value)


@pytest.mark.parametrize(("text", "message"), [
    ("118°65′00″", "minutes/seconds must be < 60"), ("东经", "not a coordinate"),
    ("118.5.3", "not a coordinate"),
])
def test_parse_coordinate_rejects_garbage(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_coordinate(text)


def test_unparseable_and_missing_coordinates_are_reported_per_row(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("编号,名称,类型,经度,纬度\nA,甲,幸福院,118.5,24.7\nB,乙,幸福院,东经,24.7\n"
                    "C,丙,幸福院,,\nD,丁,幸福院,118.5,\n", encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        gio.read_facilities(path, "wgs84")
    found = [(p.row, p.column, p.message) for p in info.value.problems]
    assert found == [("B", "lon", "not a coordinate: '东经'"),
                     ("D", "lat", "only one of the two coordinates is given"),
                     ("C", "lon", "no coordinates")]


def test_undeclared_coordinates_are_an_error(tmp_path: Path) -> None:
    path = _gbk_shapefile(tmp_path, keep_cpg=True)
    with pytest.raises(CRSError, match="coordinate system not declared"):
        gio.read_facilities(path, None)
    with pytest.raises(CRSError, match="unknown coordinate system 'lonlat'"):
        gio.read_facilities(path, "lonlat")


def test_declaration_contradicting_the_file_crs_is_an_error(tmp_path: Path) -> None:
    path = _gbk_shapefile(tmp_path, keep_cpg=True)  # the file says EPSG:4490
    with pytest.raises(CRSError, match="contradicts the declared 'EPSG:4549'"):
        gio.read_facilities(path, "EPSG:4549")


def test_swapped_lon_lat_columns_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("名称,类型,经度,纬度\n甲,幸福院,24.78,118.55\n乙,幸福院,118.55,24.78\n",
                    encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        gio.read_facilities(path, "wgs84")
    [problem] = info.value.problems
    assert problem.row == "F2"
    assert "coordinates look swapped (lon=24.78, lat=118.55)" in problem.message


def test_out_of_range_coordinates(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("名称,类型,lng,lat\n甲,幸福院,218.5,24.7\n", encoding="utf-8")
    with pytest.raises(SchemaError,
                       match=r"coordinates out of range for degrees \(lon=218.5, lat=24.7\)"):
        gio.read_facilities(path, "wgs84")


def test_explicit_column_mapping(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("站名,种类,E,N\n甲,幸福院,118.55,24.78\n", encoding="utf-8")
    fac = gio.read_facilities(path, "wgs84",
                              columns={"站名": "name", "种类": "facility_type", "E": "lon",
                                       "N": "lat"})
    assert fac.iloc[0]["name"] == "甲"
    assert fac.geometry.iloc[0].equals(shapely.Point(118.55, 24.78))


def test_table_without_coordinate_columns(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("名称,类型,地址\n甲,幸福院,青阳街道\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="no coordinate columns found"):
        gio.read_facilities(path, "wgs84")


def test_admin_units_cannot_come_from_a_table(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text("区划代码,名称,经度,纬度\n350582001,青阳街道,118.5,24.7\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="a table can only hold points"):
        gio.read_admin_units(path, "wgs84")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="facilities: file not found"):
        gio.read_facilities(tmp_path / "nope.xlsx", "wgs84")


# --------------------------------------------------------------------------- projected X/Y
def _survey_points() -> tuple[np.ndarray, np.ndarray]:
    pts = gpd.GeoSeries.from_xy([118.55, 118.60], [24.78, 24.70], crs=4490).to_crs(4549)
    return pts.x.to_numpy(), pts.y.to_numpy()


def test_survey_table_x_is_northing_by_magnitude(tmp_path: Path) -> None:
    east, north = _survey_points()
    path = tmp_path / "f.csv"
    path.write_text("名称,类型,X,Y\n" + "".join(
        f"站{i},幸福院,{n:.2f},{e:.2f}\n"
        for i, (e, n) in enumerate(zip(east, north, strict=True))),
        encoding="utf-8")
    fac = gio.read_facilities(path, "EPSG:4549")
    assert _metres_between(fac.geometry.iloc[0], 118.55, 24.78) < 0.01


def test_ambiguous_projected_axes_need_x_axis(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("名称,类型,X,Y\n甲,幸福院,2741000,2742000\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="cannot tell which of 'lon'/'lat' is the northing"):
        gio.read_facilities(path, "EPSG:4549")
    with pytest.raises(SchemaError, match="x_axis must be 'east' or 'north'"):
        gio.read_facilities(path, "EPSG:4549", x_axis="up")
    east, north = _survey_points()
    path.write_text(f"名称,类型,X,Y\n甲,幸福院,{east[0]:.2f},{north[0]:.2f}\n", encoding="utf-8")
    fac = gio.read_facilities(path, "EPSG:4549", x_axis="east")
    assert _metres_between(fac.geometry.iloc[0], 118.55, 24.78) < 0.01


# --------------------------------------------------------------------------- boundary markers
def test_marker_excel_keeps_markers_without_coordinates(tmp_path: Path) -> None:
    east, north = _survey_points()
    table = pd.DataFrame({
        "界桩编号": ["0001001A", "0001002B", "0001003A"], "界线编码": ["0001"] * 3,
        "登记X(东)": [east[0], None, east[1]], "登记Y(北)": [north[0], None, north[1]],
        "实测X(东)": [east[0] + 12.0, None, None], "实测Y(北)": [north[0], None, None],
        "界桩类型": ["单立", "双立", "单立"], "状况": ["完好", "丢失", "完好"],
        "管护员": ["陈明", None, "林芳"],
        "上次检查日期": [dt.datetime(2024, 3, 1), "2021-06-30", None],  # a date cell and text
    })
    path = _write_excel(tmp_path / "界桩成果表.xlsx", table)
    markers = gio.read_boundary_markers(path, "EPSG:4549")
    assert list(markers.index) == ["0001001A", "0001002B", "0001003A"]
    assert list(markers["coords_missing"]) == [False, True, False]
    assert markers.geometry.loc["0001002B"].is_empty
    assert markers.loc["0001001A", "condition"] == "完好"
    assert markers.loc["0001002B", "last_inspected"] == pd.Timestamp("2021-06-30")
    assert markers.loc["0001001A", "last_inspected"] == pd.Timestamp("2024-03-01")
    assert markers.crs.to_epsg() == 4490
    metric = gio.reproject_layer(markers, 4549)
    assert metric.loc["0001001A", "x_obs"] - metric.loc["0001001A", "x_reg"] == pytest.approx(
        12.0, abs=1e-3)
    assert metric.loc["0001003A", "y_reg"] == pytest.approx(north[1], abs=1e-3)
    assert np.isnan(metric.loc["0001003A", "x_obs"])
    assert metric.attrs["geoplan"]["metric_crs"] == "EPSG:4549"


def test_marker_rows_with_unreadable_cells_reach_the_boundary_checks(tmp_path: Path) -> None:
    from geoplan.boundary import check_markers

    east, north = _survey_points()
    e, n = f"{east[0]:.2f}", f"{north[0]:.2f}"
    table = pd.DataFrame({  # 类型 is the marker type here, not a facility type
        "界桩编号": ["0001001Q", "0001002Q", None, "0001004Q"], "界线编码": ["0001"] * 4,
        "登记X(东)": [e, e[:2] + "O" + e[3:], e, e], "登记Y(北)": [n, n, n, n],
        "实测X(东)": [e, e, "abc", e], "实测Y(北)": [n, n, n, n],
        "类型": ["单立", "单立", "单立", "双立"], "状况": ["完好"] * 4, "管护员": ["陈明"] * 4,
        "上次检查日期": [45047, "2023年5月1日", dt.datetime(2023, 5, 1), "去年"],
    })
    path = _write_excel(tmp_path / "界桩成果表.xlsx", table)
    markers = gio.read_boundary_markers(path, "EPSG:4549")  # no SchemaError for bad cells
    assert list(markers.index) == ["0001001Q", "0001002Q", "row 4", "0001004Q"]
    assert list(markers["marker_type"]) == ["单立", "单立", "单立", "双立"]
    assert "type" not in markers.columns
    assert list(markers["last_inspected"].iloc[:3]) == [pd.Timestamp("2023-05-01")] * 3
    assert pd.isna(markers.loc["0001004Q", "last_inspected"])
    assert np.isnan(markers.loc["0001002Q", "x_reg"])
    assert not markers.loc["0001002Q", "coords_missing"]  # placed at its surveyed position
    assert np.isnan(markers.loc["row 4", "x_obs"])
    metric = gio.reproject_layer(markers, 4549)
    lines = gpd.GeoDataFrame({"line_code": ["0001"]}, geometry=[shapely.LineString(
        [(east[0], north[0] - 100), (east[0], north[0] + 100)])], crs=4549)
    found, _ = check_markers(metric, lines, reference_date="2025-12-31")
    rows = found["row"].fillna("-")
    got = dict(zip(zip(found["kind"], rows, strict=True), found["detail"], strict=True))
    assert set(got) == {
        ("marker_no_coordinates", "0001002Q"), ("marker_number_malformed", "row 4"),
        ("marker_bad_value", "row 4"), ("marker_overdue", "0001004Q"),
        ("marker_type_mismatch", "0001004Q"), ("marker_sequence_gap", "-")}  # 003 unnumbered
    assert f"{e[:2]}O{e[3:]}" in got[("marker_no_coordinates", "0001002Q")]
    assert "'abc'" in got[("marker_bad_value", "row 4")]
    assert "'去年'" in got[("marker_overdue", "0001004Q")]
    assert got[("marker_number_malformed", "row 4")] == "缺少界桩编号"


def test_marker_table_without_any_usable_position_or_numbers_still_fails(tmp_path: Path) -> None:
    east, north = _survey_points()
    table = pd.DataFrame({"界桩编号": ["0001001Q", "0001002Q"], "登记X(东)": east,
                          "登记Y(北)": north})
    path = _write_excel(tmp_path / "m.xlsx", table)
    with pytest.raises(SchemaError, match="coordinates out of range") as info:
        gio.read_boundary_markers(path, "wgs84")  # metres declared as degrees: every row
    assert {p.row for p in info.value.problems} == {"0001001Q", "0001002Q"}
    path = _write_excel(tmp_path / "n.xlsx", table.drop(columns="界桩编号").assign(状况="完好"))
    with pytest.raises(SchemaError, match="missing required id column"):
        gio.read_boundary_markers(path, "EPSG:4549")
    path = _write_excel(tmp_path / "o.xlsx", table[["界桩编号"]].assign(状况="完好"))
    with pytest.raises(SchemaError, match="no coordinate columns"):
        gio.read_boundary_markers(path, "EPSG:4549")
    with pytest.raises(CRSError):
        gio.read_boundary_markers(path, None)


def test_marker_type_header_prefers_jiezhuang_leixing_over_leixing(tmp_path: Path) -> None:
    east, north = _survey_points()
    table = pd.DataFrame({"界桩编号": ["0001001Q"], "登记X(东)": east[:1], "登记Y(北)": north[:1],
                          "类型": ["混凝土"], "界桩类型": ["单立"]})
    markers = gio.read_boundary_markers(_write_excel(tmp_path / "m.xlsx", table), "EPSG:4549")
    assert markers.iloc[0]["marker_type"] == "单立"
    assert markers.iloc[0]["类型"] == "混凝土"


def test_marker_points_that_cannot_be_in_the_declared_crs_are_noted(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {"界桩编号": ["0001001Q", "0001002Q", "0001003Q"], "实测X": [118.5, 118.6, None],
         "实测Y": [24.7, 24.7, None]},
        geometry=[shapely.Point(118.5, 24.7), shapely.Point(500000, 2700000),
                  shapely.Point(1e30, 1e30)], crs=4326)
    path = tmp_path / "markers.gpkg"
    gdf.to_file(path)
    markers = gio.read_boundary_markers(path, "wgs84")
    assert list(markers["coords_missing"]) == [False, False, True]
    assert np.isnan(markers.loc["0001002Q", "x_reg"])
    assert markers.geometry.loc["0001002Q"].equals(shapely.Point(118.6, 24.7))  # surveyed
    assert markers.loc["0001003Q", "read_problems"].startswith("x_reg: coordinates are not")


def test_marker_point_layer_gets_xy_columns(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"界桩编号": ["0001001A", "0001002A"], "实测X": [500010.0, None],
                            "实测Y": [2740000.0, None]},
                           geometry=[shapely.Point(500000, 2740000), None], crs=4549)
    path = tmp_path / "markers.gpkg"
    gdf.to_file(path)
    markers = gio.reproject_layer(gio.read_boundary_markers(path, "EPSG:4549"), 4549)
    assert list(markers["coords_missing"]) == [False, True]
    assert markers.loc["0001001A", "x_reg"] == pytest.approx(500000, abs=1e-3)
    assert markers.loc["0001001A", "x_obs"] == pytest.approx(500010, abs=1e-3)


# --------------------------------------------------------------------------- admin units
def test_admin_units_infer_level_and_kind(tmp_path: Path) -> None:
    box = shapely.box(118.5, 24.7, 118.6, 24.8)
    gdf = gpd.GeoDataFrame({"区划代码": ["350582001", "350582101000", "350582101201"],
                            "名称": ["青阳街道", "陈埭镇", "岸兜村"],
                            "户数": ["1,200", "800", "90"]},
                           geometry=[box] * 3, crs=4490)
    path = tmp_path / "units.geojson"
    gdf.to_file(path)
    units = gio.read_admin_units(path, "cgcs2000")
    assert list(units["level"]) == ["town", "town", "village"]
    assert list(units["kind"]) == ["街道", "镇", "村"]
    assert list(units["households"]) == [1200, 800, 90]


# --------------------------------------------------------------------------- population
def _population_tif(path: Path, *, described: bool = True) -> np.ndarray:
    import rasterio
    from rasterio.transform import Affine

    bands = np.zeros((4, 3, 4), dtype="float32")
    bands[0] = [[0, 10, 20, 0], [5, 0, 0, 7], [0, 0, 0, 1]]
    bands[1] = np.round(bands[0] / 2.5)
    bands[2] = np.floor(bands[0] / 5)
    bands[3] = np.floor(bands[0] / 10)
    profile = {"driver": "GTiff", "width": 4, "height": 3, "count": 4, "dtype": "float32",
               "crs": "EPSG:4549", "transform": Affine(100, 0, 540000, 0, -100, 2742000),
               "nodata": -1}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands)
        if described:
            for i, name in enumerate(POPULATION_BANDS, start=1):
                dst.set_band_description(i, name)
        dst.update_tags(source="test grid", year="2020")
    return bands


def test_population_raster_gives_one_cell_per_nonzero_pixel(tmp_path: Path) -> None:
    path = tmp_path / "pop.tif"
    bands = _population_tif(path)
    pop = gio.read_population(path, "EPSG:4549", year=2020)
    assert len(pop) == 5
    assert pop["pop"].sum() == bands[0].sum() == 43
    assert pop["pop_60plus"].sum() == bands[2].sum()
    assert pop["pop"].dtype == np.int64
    assert pop.loc["r0c1", "pop"] == 10
    cell = gio.reproject_layer(pop, 4549).geometry.loc["r0c1"]
    assert cell.area == pytest.approx(10_000, rel=1e-6)
    assert cell.bounds == pytest.approx((540100, 2741900, 540200, 2742000), abs=1e-3)
    meta = pop.attrs["geoplan"]
    assert meta["source"] == "test grid"
    assert meta["year"] == 2020
    assert meta["bands"] == list(POPULATION_BANDS)


def test_population_raster_as_points_and_without_band_names(tmp_path: Path) -> None:
    path = tmp_path / "pop.tif"
    _population_tif(path, described=False)
    pop = gio.read_population(path, "EPSG:4549", geometry="point", source="WorldPop-like")
    assert set(pop.geometry.geom_type) == {"Point"}
    assert pop.attrs["geoplan"]["source"] == "WorldPop-like"
    assert pop.attrs["geoplan"]["year"] == "2020"  # from the raster tag
    with pytest.raises(SchemaError, match="geometry must be 'cell' or 'point'"):
        gio.read_population(path, "EPSG:4549", geometry="hexagon")
    with pytest.raises(CRSError, match="contradicts the declared 'EPSG:4548'"):
        gio.read_population(path, "EPSG:4548")


def test_population_vector_points_from_csv(tmp_path: Path) -> None:
    path = tmp_path / "pop.csv"
    path.write_text("格网编号,常住人口,家庭户数,60岁以上,80岁以上,经度,纬度\n"
                    "G1,120,45,20,3,118.55,24.78\nG2,80,30,9,1,118.56,24.78\n", encoding="utf-8")
    pop = gio.read_population(path, "wgs84", source="census 2020", year=2020)
    assert list(pop.index) == ["G1", "G2"]
    assert pop["pop_80plus"].sum() == 4
    assert pop.attrs["geoplan"]["year"] == 2020


# --------------------------------------------------------------------------- GeoPackage output
def test_write_layers_gpkg_with_metadata_and_read_back(tmp_path: Path) -> None:
    fac = gio.read_facilities(_gbk_shapefile(tmp_path, keep_cpg=True), "cgcs2000")
    before = fac.copy()
    summary = pd.DataFrame({"town": ["青阳街道"], "facilities": [2]})
    out = tmp_path / "out" / "demo.gpkg"
    gio.write_layers_gpkg({"facilities": fac, "summary": summary}, out,
                          metadata={"facilities": {"synthetic": "true", "source": "test"}})
    assert_frame_equal(fac, before)
    assert {name for name, _ in pyogrio.list_layers(out)} == {"facilities", "summary"}
    meta = pyogrio.read_info(out, layer="facilities")["layer_metadata"]
    assert meta["synthetic"] == "true"
    assert "declared_coords" in meta["geoplan"]
    back = gio.read_facilities(out, "cgcs2000", layer="facilities")
    assert list(back.index) == ["F1", "F2"]
    assert "index" not in back.columns  # the id index is not written twice
    assert back.attrs["geoplan"]["metadata"]["source"] == "test"
    table = gio.read_table(out, sheet="summary")
    assert table.loc[0, "town"] == "青阳街道"


def test_write_layers_gpkg_failure_leaves_the_previous_file(tmp_path: Path) -> None:
    out = tmp_path / "demo.gpkg"
    good = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)], crs=4549)
    gio.write_layers_gpkg({"good": good}, out, metadata={"run": "1"})
    digest = _digest(out)
    bad = pd.concat([good, good[["a"]]], axis=1)  # duplicate column names cannot be written
    with pytest.raises(ValueError, match="duplicated column names"):
        gio.write_layers_gpkg({"good": good, "bad": bad}, out)
    assert _digest(out) == digest
    assert [p.name for p in tmp_path.iterdir()] == ["demo.gpkg"]
    with pytest.raises(OutputError, match="no layers to write"):
        gio.write_layers_gpkg({}, out)


def test_read_table_csv_and_excel(tmp_path: Path) -> None:
    csv = tmp_path / "rounds.csv"
    csv.write_bytes("界线编码,联检轮次\n0001,第五轮\n".encode("gbk"))
    assert gio.read_table(csv).loc[0, "联检轮次"] == "第五轮"
    xlsx = _write_excel(tmp_path / "rounds.xlsx", pd.DataFrame({"界线编码": ["0001"]}))
    assert gio.read_table(xlsx).loc[0, "界线编码"] == "0001"
    with pytest.raises(FileNotFoundError, match="table not found"):
        gio.read_table(tmp_path / "nope.csv")


# --------------------------------------------------------------------------- real data
def test_real_admin_code_list_utf8_bom_csv(shared_data: Path) -> None:
    codes = gio.read_table(shared_data / "admin" / "admin-codes-level4.csv")
    assert codes.columns[0] == "id"  # the BOM is not part of the first header
    jinjiang = codes.loc[codes["pid"] == "350582"]
    assert len(jinjiang) == 20  # 6 街道, 13 镇, 1 经济开发区
    assert jinjiang.set_index("id").loc["350582001", "ext_name"] == "青阳街道"


def test_atomic_write_refuses_a_folder_or_an_impossible_parent(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(OutputError, match="it is a folder"), gio.atomic_write(tmp_path / "out"):
        pass
    blocker = tmp_path / "file.txt"
    blocker.write_text("earlier", encoding="utf-8")
    with pytest.raises(OutputError, match="cannot write"), \
            gio.atomic_write(blocker / "summary.csv"):
        pass
    assert blocker.read_text(encoding="utf-8") == "earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "out"]
