"""Inspection workbook and archive folder written from a small hand-built inspection."""

from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from openpyxl import load_workbook
from pyproj import Transformer
from shapely.geometry import LineString, box

from geoplan.boundary import finding_layers, inspect_boundaries
from geoplan.boundary.fieldlist import field_list
from geoplan.report.boundary import (
    archive_by_line,
    findings_layer,
    inspection_sheets,
    write_findings_kml,
    write_inspection_workbook,
)
from tests.test_boundary import (
    PUSHED,
    REF,
    A,
    B,
    clean_markers,
    lines_frame,
    rounds_frame,
    towns_frame,
)


@pytest.fixture(scope="module")
def inspection():
    notch = box(1000, 200, 1020, 700)
    towns = towns_frame(b=box(1000, 0, 2000, 1000).difference(notch))
    lines = lines_frame(ab=PUSHED, extra=[("0999", A, B, LineString([(5000, 5000), (5000, 6000)]))])
    markers = clean_markers()
    markers.loc["M1", "condition"] = "丢失"
    markers.loc["M3", ["x_reg", "y_reg"]] = [float("nan"), float("nan")]
    previous = lines_frame()
    result = inspect_boundaries(
        towns=towns,
        lines=lines,
        previous_lines=previous,
        markers=markers,
        rounds=rounds_frame(),
        reference_date=REF,
        plan_year=2026,
    )
    return result, lines, markers, previous


def test_sheets_have_chinese_headers_and_one_row_per_item(inspection):
    result = inspection[0]
    sheets = inspection_sheets(result)
    assert list(sheets) == ["界线一览", "界桩检查表", "问题清单", "联检计划"]
    summary = sheets["界线一览"]
    assert {"界线名称", "界线编码", "最近联检轮次", "下轮联检到期", "问题数"} <= set(
        summary.columns
    )
    assert len(summary) == 4
    assert len(sheets["问题清单"]) == len(result.findings)
    assert set(sheets["问题清单"]["问题类型"]) >= {"政区缝隙", "界线偏离政区共有边", "界桩状况异常"}
    one = inspection_sheets(result, line_code="0001")
    assert one["界线一览"]["界线编码"].tolist() == ["0001"]
    assert len(one["界桩检查表"]) == 3
    assert set(one["问题清单"]["界线编码"]) == {"0001"}


def test_workbook_has_frozen_chinese_header(inspection, tmp_path):
    path = write_inspection_workbook(inspection[0], tmp_path / "联检报告.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames == ["界线一览", "界桩检查表", "问题清单", "联检计划"]
    ws = wb["问题清单"]
    assert ws.freeze_panes == "A2"
    header = [c.value for c in ws[1]]
    assert header == ["问题编号", "界线编码", "界线名称", "严重程度", "问题类型", "对象",
                      "界桩编号", "政区甲", "政区乙", "说明", "实测值", "容差", "单位", "建议措施",
                      "X坐标（北，m）", "Y坐标（东，m）", "平面坐标系", "经度（WGS84）",
                      "纬度（WGS84）", "类型代码", "所在行"]
    assert ws.max_row == len(inspection[0].findings) + 1
    formats = {h: ws.cell(row=2, column=k + 1).number_format for k, h in enumerate(header)}
    assert formats["X坐标（北，m）"] == "0.000"
    assert formats["经度（WGS84）"] == "0.0000000"
    markers = wb["界桩检查表"]
    assert markers["A1"].value == "界桩编号"


def test_finding_layers_split_by_geometry(inspection):
    layers = finding_layers(inspection[0].findings)
    # the gap, and the polygon enclosed between the pushed line and its earlier version
    assert set(layers["polygons"]["kind"]) == {"topology_gap", "line_version_change"}
    sliver = layers["polygons"][layers["polygons"]["kind"] == "line_version_change"]
    assert sliver.geometry.area.sum() == pytest.approx(50 * 400)
    assert set(layers["lines"]["kind"]) >= {"line_polygon_deviation", "line_not_touching"}
    # M2 (y = 500) now lies 50 m from the pushed line 0001
    assert set(layers["points"]["kind"]) == {
        "marker_condition",
        "marker_no_coordinates",
        "marker_off_line",
    }
    assert (layers["points"].geom_type == "Point").all()


def test_archive_has_a_workbook_and_a_geopackage_per_line(inspection, tmp_path):
    result, lines, markers, previous = inspection
    out = archive_by_line(result, lines, markers, tmp_path / "archive", previous_lines=previous)
    names = sorted(p.name for p in out.iterdir())
    assert {"联检报告.xlsx", "联检成果.gpkg", "清单.csv"} <= set(names)
    for code in ("0001", "0002", "0003", "0999"):
        assert f"{code}_线{code}.xlsx" in names
        assert f"{code}_线{code}.gpkg" in names
    layers = dict(pyogrio.list_layers(out / "0001_线0001.gpkg"))
    assert {"界线", "界线_上一版本", "界桩", "问题清单", "问题_线"} <= set(layers)
    got = gpd.read_file(out / "0001_线0001.gpkg", layer="界桩")
    assert got["marker_no"].tolist() == ["0001001Q", "0001002Q", "0001003Q"]
    assert got.geometry.isna().sum() + got.geometry.is_empty.sum() == 1  # the unregistered one
    manifest = pd.read_csv(out / "清单.csv", dtype=str)
    placed = field_list(result)
    placed = placed[placed["geometry"].notna()]
    with_findings = set(placed["line_code"].dropna()) & set(result.lines["line_code"])
    assert len(manifest) == 3 + 2 * 4 + len(with_findings)  # a KML for every line with findings
    assert set(manifest["文件"]) == set(names) - {"清单.csv"}
    for code in with_findings:
        kml = pyogrio.read_dataframe(out / f"{code}_线{code}.kml")
        assert len(kml) == (field_list(result, line_code=code)["geometry"].notna()).sum()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_failed_archive_leaves_the_earlier_one_intact(inspection, tmp_path):
    result, lines, markers, _ = inspection
    out = archive_by_line(result, lines, markers, tmp_path / "archive")
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(KeyError, match="line_code"):
        archive_by_line(result, lines, markers.drop(columns="line_code"), tmp_path / "archive")
    assert sorted(p.name for p in out.iterdir()) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_marker_sheet_keeps_its_headers_without_markers(tmp_path):
    result = inspect_boundaries(towns=towns_frame(), lines=lines_frame(), reference_date=REF)
    wb = load_workbook(write_inspection_workbook(result, tmp_path / "报告.xlsx"))
    assert [c.value for c in wb["界桩检查表"][1]][:3] == ["界桩编号", "界线编码", "界桩类型"]
    assert "与上一版最大偏移（m）" in [c.value for c in wb["界线一览"][1]]


def test_archive_failing_midway_leaves_the_earlier_one_intact(tmp_path):
    lines = lines_frame()
    result = inspect_boundaries(towns=towns_frame(), lines=lines, reference_date=REF)
    out = archive_by_line(result, lines, None, tmp_path / "archive")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken = lines.assign(bad=[1j, 2j, 3j])  # GeoPackage cannot store complex numbers
    with pytest.raises(NotImplementedError, match="complex"):
        archive_by_line(result, broken, None, tmp_path / "archive")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["archive"]


def test_line_names_with_control_characters_make_safe_file_names(tmp_path):
    lines = lines_frame()
    lines.loc["L0002", "name"] = "甲\x00乙/丙线"
    result = inspect_boundaries(towns=towns_frame(), lines=lines, reference_date=REF)
    out = archive_by_line(result, lines, None, tmp_path / "archive")
    assert (out / "0002_甲_乙_丙线.xlsx").exists()


def test_the_field_list_has_every_finding_sorted_by_line_and_severity(inspection):
    result = inspection[0]
    table = field_list(result)
    assert sorted(table["finding_id"]) == sorted(result.findings.index)
    codes = table["line_code"].tolist()
    with_line = [c for c in codes if isinstance(c, str)]
    assert codes[: len(with_line)] == sorted(with_line)  # by line, those without one last
    assert all(pd.isna(c) for c in codes[len(with_line):])
    findings = result.findings.copy()
    findings.loc["F0001", "line_code"] = None
    assert field_list(replace(result, findings=findings))["finding_id"].iloc[-1] == "F0001"
    for _, part in table[table["line_code"].notna()].groupby("line_code"):
        ranks = part["severity_zh"].map({"问题": 0, "提示": 1}).tolist()
        assert ranks == sorted(ranks)
    assert table["action"].str.len().gt(0).all()
    lost = table[(table["kind"] == "marker_condition")].iloc[0]
    assert (lost["action"], lost["marker_no"], lost["unit_a_text"], lost["unit_b_text"]) == (
        "补设", "0001001Q", "350582001 甲街道", "350582002 乙镇")


def test_the_field_list_places_every_finding_in_gauss_kruger_and_wgs84(inspection):
    result = inspection[0]
    table = field_list(result).set_index("finding_id")
    lost = result.findings[result.findings["kind"] == "marker_condition"].iloc[0]
    row = table.loc[lost.name]
    assert (row["gk_y_m"], row["gk_x_m"]) == (lost.geometry.x, lost.geometry.y)  # X = north
    assert row["gk_crs"] == "CGCS2000 / 3-degree Gauss-Kruger CM 120E (EPSG:4549)"
    lon, lat = Transformer.from_crs(4549, 4326, always_xy=True).transform(lost.geometry.x,
                                                                           lost.geometry.y)
    assert (row["lon"], row["lat"]) == (lon, lat)
    gap = result.findings[result.findings["kind"] == "topology_gap"].iloc[0]
    place = table.loc[gap.name, "geometry"]
    assert gap.geometry.contains(place)
    unplaced = table[table["geometry"].isna()]
    assert unplaced["lon"].isna().all()
    assert (unplaced["gk_crs"] == "").all()


def test_findings_as_kml_read_back_with_gdal(inspection, tmp_path):
    result = inspection[0]
    path = write_findings_kml(result, tmp_path / "问题清单.kml")
    back = pyogrio.read_dataframe(path)
    layer = findings_layer(result)
    assert len(back) == len(layer) == field_list(result)["geometry"].notna().sum()
    assert back.crs.to_epsg() == 4326
    first = layer.iloc[0]
    field = {c.lower(): c for c in back.columns}  # GDAL's KML or LIBKML reader
    assert back[field["name"]].iloc[0] == f"{first['问题编号']} {first['问题类型']} {first['对象']}"
    assert back[field["description"]].iloc[0].endswith(f"（建议：{first['建议措施']}）")
    assert back["建议措施"].tolist() == layer["建议措施"].tolist()
    xy = np.column_stack([back.geometry.x, back.geometry.y])
    expected = layer[["经度（WGS84）", "纬度（WGS84）"]].to_numpy(dtype=float)
    assert np.abs(xy - expected).max() < 1e-9
    assert path.read_text(encoding="utf-8").startswith("<?xml")


def test_kml_text_with_xml_characters_is_escaped(inspection, tmp_path):
    result = inspection[0]
    findings = result.findings.copy()
    findings.loc[findings.index[0], "detail"] = 'a<b & "c" </description>'
    odd = replace(result, findings=findings)
    back = pyogrio.read_dataframe(write_findings_kml(odd, tmp_path / "odd.kml"))
    assert 'a<b & "c" </description>' in set(back["说明"])


def test_the_field_list_reports_gauss_kruger_even_for_findings_in_another_crs(inspection):
    result = inspection[0]
    utm = replace(result, findings=result.findings.to_crs(32651))
    table = field_list(utm).set_index("finding_id")
    native = field_list(result).set_index("finding_id")
    assert (table["gk_crs"][table["geometry"].notna()].str.endswith("(EPSG:4549)")).all()
    both = native["geometry"].notna()
    # to UTM and back: the same place to well under a millimetre
    assert np.abs(table.loc[both, "gk_x_m"] - native.loc[both, "gk_x_m"]).max() < 1e-3
    assert np.abs(table.loc[both, "lon"] - native.loc[both, "lon"]).max() < 1e-8
    no_place = replace(result, findings=result.findings.assign(geometry=None).to_crs(32651))
    assert (field_list(no_place)["gk_crs"] == "").all()
