"""Planners' Excel/CSV tables: merged headers, total rows, sheets, delimiters, units, 经纬度."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import prcoords
import pytest

from geoplan import io as gio
from geoplan.errors import SchemaError
from geoplan.io._tables import parse_coordinate

TYPES = ["居家养老服务站", "长者食堂"]


def _problems(info: pytest.ExceptionInfo[SchemaError]) -> list[tuple[object, object, str]]:
    return [(p.row, p.column, p.message) for p in info.value.problems]


def test_two_level_header_under_merged_cells(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["晋江市养老服务站一览表"])
    sheet.merge_cells("A1:E1")
    sheet.append(["序号", "名称", "类型", "坐标", None])
    sheet.append([None, None, None, "经度", "纬度"])
    for cells in ("A2:A3", "B2:B3", "C2:C3", "D2:E2"):
        sheet.merge_cells(cells)
    sheet.append([1, "青华站", TYPES[0], 118.55, 24.78])
    sheet.append([2, "梅峰食堂", TYPES[1], 118.56, 24.79])
    path = tmp_path / "stations.xlsx"
    book.save(path)
    fac = gio.read_facilities(path, "wgs84")
    assert list(fac.index) == ["1", "2"]
    assert [(p.x, p.y) for p in fac.geometry] == [(118.55, 24.78), (118.56, 24.79)]
    assert fac.attrs["geoplan"]["header_row"] == 3


def test_merged_parent_header_qualifies_marker_columns(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["界桩编号", "登记坐标", None, "实测坐标", None])
    sheet.merge_cells("B1:C1")
    sheet.merge_cells("D1:E1")
    sheet.append([None, "X(东)", "Y(北)", "X(东)", "Y(北)"])
    sheet.append(["0001001A", 555000.0, 2741000.0, 555003.0, 2741004.0])
    path = tmp_path / "markers.xlsx"
    book.save(path)
    markers = gio.reproject_layer(gio.read_boundary_markers(path, "EPSG:4549"), 4549)
    row = markers.loc["0001001A"]
    assert (row["x_reg"], row["y_reg"]) == pytest.approx((555000.0, 2741000.0), abs=1e-6)
    assert (row["x_obs"], row["y_obs"]) == pytest.approx((555003.0, 2741004.0), abs=1e-6)


def test_total_and_note_rows_are_skipped_with_a_warning(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["序号", "名称", "类型", "经度", "纬度", "床位数"])
    sheet.append([1, "甲站", TYPES[0], 118.55, 24.78, 10])
    sheet.append([2, "乙院", "养老院", 118.56, 24.79, 20])
    sheet.append(["合计", None, None, None, None, 30])
    sheet.append(["注：坐标为 WGS84"])
    path = tmp_path / "with_total.xlsx"
    book.save(path)
    with pytest.warns(UserWarning, match=r"skipped 2 total/note row\(s\).*rows 4, 5"):
        fac = gio.read_facilities(path, "wgs84")
    assert list(fac.index) == ["1", "2"]
    assert fac["beds"].sum() == 30
    assert fac.attrs["geoplan"]["skipped_rows"] == [4, 5]


def test_a_total_row_with_coordinates_is_kept_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("名称,类型,经度,纬度\n合计,社工站,118.55,24.78\n", encoding="utf-8")
    fac = gio.read_facilities(path, "wgs84")  # a feature named 合计 is still a feature
    assert fac["name"].tolist() == ["合计"]


def test_missing_sheet_and_unreadable_workbook_are_schema_errors(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    table = pd.DataFrame({"名称": ["甲"], "类型": ["社工站"], "经度": [118.55], "纬度": [24.78]})
    table.to_excel(path, sheet_name="设施", index=False)
    assert len(gio.read_facilities(path, "wgs84", sheet="设施")) == 1
    with pytest.raises(SchemaError, match="no sheet '长者食堂'; sheets: 设施"):
        gio.read_facilities(path, "wgs84", sheet="长者食堂")
    with pytest.raises(SchemaError, match="no sheet 3; sheets: 设施"):
        gio.read_facilities(path, "wgs84", sheet=3)
    fake = tmp_path / "fake.xlsx"
    fake.write_text("名称,经度\n", encoding="utf-8")
    with pytest.raises(SchemaError, match=r"not a readable Excel workbook"):
        gio.read_facilities(fake, "wgs84")


def test_empty_csv_and_unknown_encoding(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(SchemaError, match="the file is empty"):
        gio.read_facilities(empty, "wgs84")
    path = tmp_path / "one.csv"
    path.write_text("名称,类型,经度,纬度\n甲,社工站,118.55,24.78\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="cannot decode"):
        gio.read_facilities(path, "wgs84", encoding="no-such-codec")


@pytest.mark.parametrize("sep", ["\t", ";", "|"])
def test_tab_semicolon_and_bar_separated_text(tmp_path: Path, sep: str) -> None:
    path = tmp_path / "stations.txt"
    rows = [["名称", "类型", "经度", "纬度"], ["甲站", "社工站", "118.55", "24.78"]]
    path.write_text("\n".join(sep.join(r) for r in rows) + "\n", encoding="gbk")
    fac = gio.read_facilities(path, "wgs84")
    assert fac["facility_type"].tolist() == ["social_work_station"]
    assert (fac.geometry.iloc[0].x, fac.geometry.iloc[0].y) == (118.55, 24.78)


def test_a_contract_header_twice_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("名称,名称,类型,经度,纬度,备注,备注\n甲,乙,社工站,118.55,24.78,a,b\n",
                    encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        gio.read_facilities(path, "wgs84")
    assert _problems(info) == [
        (None, "名称", "header '名称' appears in 2 columns; rename or delete the extra ones")]
    path.write_text("名称,类型,经度,纬度,备注,备注\n甲,社工站,118.55,24.78,a,b\n",
                    encoding="utf-8")
    fac = gio.read_facilities(path, "wgs84")  # repeated free-text columns are kept apart
    assert fac[["备注", "备注.2"]].iloc[0].tolist() == ["a", "b"]


def test_numbers_with_units_are_read(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text("名称,类型,经度,纬度,床位数,建筑面积（㎡）\n"
                    "甲院,敬老院,118.55,24.78,\"1,200张\",350.5㎡\n"
                    "乙院,敬老院,118.56,24.79,３０床,200 平方米\n"
                    "丙院,敬老院,118.57,24.80,约30,20-30\n", encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        gio.read_facilities(path, "wgs84")
    assert _problems(info) == [("F4", "beds", "not a number: '约30'"),
                               ("F4", "floor_area_m2", "not a number: '20-30'")]
    path.write_text("\n".join(path.read_text(encoding="utf-8").splitlines()[:3]) + "\n",
                    encoding="utf-8")
    fac = gio.read_facilities(path, "wgs84")
    assert fac["beds"].tolist() == [1200, 30]
    assert fac["floor_area_m2"].tolist() == [350.5, 200.0]


@pytest.mark.parametrize(
    ("text", "value"),
    [("118:33:00", 118.55), ("118:33:36E", 118.56), ("118.55E", 118.55), ("N24.78", 24.78),
     ("东经118.55", 118.55), ("12.5W", -12.5)],
)
def test_parse_coordinate_colons_and_bare_hemispheres(text: str, value: float) -> None:
    assert parse_coordinate(text) == pytest.approx(value, abs=1e-12)


def test_combined_lnglat_column_from_amap(tmp_path: Path) -> None:
    wgs = [(118.5521, 24.7812), (118.5612, 24.7903)]
    gcj = [prcoords.wgs_gcj(prcoords.Coords(lat, lon)) for lon, lat in wgs]
    path = tmp_path / "amap.xlsx"
    pd.DataFrame({"名称": ["甲", "乙"], "类型": TYPES,
                  "经纬度": [f"{gcj[0].lon:.7f},{gcj[0].lat:.7f}",
                             f"{gcj[1].lon:.7f}，{gcj[1].lat:.7f}"]}).to_excel(path, index=False)
    fac = gio.read_facilities(path, "gcj02")
    for point, (lon, lat) in zip(fac.geometry, wgs, strict=True):
        assert point.x == pytest.approx(lon, abs=2e-6)
        assert point.y == pytest.approx(lat, abs=2e-6)
    assert fac.attrs["geoplan"]["combined_coordinates"] == "经纬度 (longitude first)"


def test_combined_column_latitude_first_and_bad_pairs(tmp_path: Path) -> None:
    path = tmp_path / "google.csv"
    path.write_text("名称,类型,坐标\n甲,社工站,\"24.78, 118.55\"\n乙,社工站,\"24.79, 118.56\"\n",
                    encoding="utf-8")
    fac = gio.read_facilities(path, "wgs84")
    assert [(p.x, p.y) for p in fac.geometry] == [(118.55, 24.78), (118.56, 24.79)]
    path.write_text("名称,类型,经纬度\n甲,社工站,\"118.55,24.78\"\n乙,社工站,\"24.79,118.56\"\n"
                    "丙,社工站,abc\n丁,社工站,\"118.57,24.80,3\"\n", encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        gio.read_facilities(path, "wgs84")
    found = {(row, col) for row, col, _msg in _problems(info)}
    assert found == {("F3", "经纬度"), ("F4", "经纬度"), ("F5", "经纬度")}
    assert "other order than the rest" in str(info.value)


def test_old_xls_workbooks_are_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504)  # an OLE2 header
    with pytest.raises(SchemaError, match=r"old \.xls workbooks are not read; save the sheet as "
                                          r"\.xlsx"):
        gio.read_facilities(path, "wgs84")


def test_read_table_sniffs_the_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "rounds.txt"
    path.write_text("line_code\tround\tdue\n0001\t第五轮\t2026-06-30\n", encoding="gbk")
    table = gio.read_table(path)
    assert table.columns.tolist() == ["line_code", "round", "due"]
    assert table.loc[0, "line_code"] == "0001"


def test_csv_with_a_title_line_without_trailing_commas(tmp_path: Path) -> None:
    # hand-written CSVs often have a bare title line; pandas alone fails to tokenise them
    path = tmp_path / "界桩.csv"
    path.write_text(
        "晋江市乡级界线界桩成果表\n桩号,所属界线,类型,X(东),Y(北),检查日期\n"
        "0001001Q,0001,单立,355000.12,2740000.5,2023.5.1\n"
        ",0001,单立,355010.12,2740000.5,45047\n",
        encoding="gbk",
    )
    markers = gio.read_boundary_markers(path, "EPSG:4549")
    assert list(markers.index) == ["0001001Q", "row 4"]  # the CSV line of the unnumbered one
    assert list(markers["marker_type"]) == ["单立", "单立"]
    assert list(markers["last_inspected"]) == [pd.Timestamp("2023-05-01")] * 2
    assert markers.loc["row 4", "read_problems"] == "marker_no: missing id"
