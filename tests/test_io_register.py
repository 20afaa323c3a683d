"""Readers keep what a file says: numbers as read, converted once, straight to the study CRS.

A layer already in the study's metric CRS comes back bit for bit; a layer in another system
is transformed in one PROJ step (no detour through EPSG:4490); a marker register's
registered (登记坐标) and surveyed (实测坐标) coordinates survive a read and a write-back
unchanged, and a point layer's own geometry is kept beside them.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from geoplan import io as gio

GK = 4548  # CGCS2000 3-degree Gauss-Krüger, CM 117E (Xiamen)
RNG = np.random.default_rng(3502)


def _units_gk() -> gpd.GeoDataFrame:
    """Two adjacent quadrilaterals with awkward (non-round) vertices, sharing an edge."""
    x0, y0 = 590_123.456789123, 2_710_987.654321987
    a, b = (x0 + 1234.56789012345, y0 + 17.0000000001), (x0 + 1301.1, y0 + 2222.22222222)
    west = shapely.Polygon([(x0, y0), a, b, (x0 - 3.3, y0 + 2000.7)])
    east = shapely.Polygon([a, (x0 + 2500.123, y0 - 5.5), (x0 + 2600.9, y0 + 2100.1), b])
    return gpd.GeoDataFrame({"code": ["350211", "350212"], "name": ["集美区", "同安区"]},
                            geometry=[west, east], crs=GK)


def _coords(gdf: gpd.GeoDataFrame) -> np.ndarray:
    return shapely.get_coordinates(np.asarray(gdf.geometry.array, dtype=object))


@pytest.mark.parametrize("declared", ["EPSG:4548", "cgcs2000"])
def test_a_layer_already_in_the_study_crs_comes_back_bit_for_bit(tmp_path: Path,
                                                                 declared: str) -> None:
    units = _units_gk()
    path = tmp_path / "units.gpkg"
    units.to_file(path)
    got = gio.read_admin_units(path, declared, to_crs=GK)
    assert got.crs.to_epsg() == GK
    assert np.array_equal(_coords(got), _coords(units))  # exact, not approximately
    assert "unchanged" in got.attrs["geoplan"]["conversion"]
    again = gio.reproject_layer(got, GK)  # the study loader's step is a no-op too
    assert np.array_equal(_coords(again), _coords(units))
    # the shared edge stays shared: no gap or overlap appears
    assert shapely.intersection(*got.geometry).geom_type == "LineString"


def test_a_layer_in_another_system_is_transformed_once_straight(tmp_path: Path) -> None:
    units = _units_gk().to_crs(4549)  # the neighbouring zone
    path = tmp_path / "units.gpkg"
    units.to_file(path)
    got = gio.read_admin_units(path, "EPSG:4549", to_crs=GK)
    c = _coords(units)
    x, y = Transformer.from_crs(4549, GK, always_xy=True).transform(c[:, 0], c[:, 1])
    assert np.array_equal(_coords(got), np.column_stack([x, y]))
    assert got.attrs["geoplan"]["conversion"] == "EPSG:4549 → EPSG:4548 (PROJ, one step)"
    # the default is still CGCS2000 longitude/latitude
    assert gio.read_admin_units(path, "EPSG:4549").crs.to_epsg() == 4490


def _register(path: Path, rows: list[list[object]]) -> Path:
    """A 界桩成果表 as a bureau keeps it: a title, 登记坐标/实测坐标 merged over X(北)/Y(东)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "界桩成果表"
    ws.append(["厦门市区级行政区域界线界桩成果表（CGCS2000，3度带，中央子午线117°）"])
    ws.merge_cells("A1:K1")
    ws.append(["序号", "界桩编号", "界线编码", "登记坐标", None, "实测坐标", None, "界桩类型",
               "状况", "管护员", "上次检查日期"])
    ws.append([None, None, None, "X(北)", "Y(东)", "X(北)", "Y(东)"])
    ws.merge_cells("D2:E2")
    ws.merge_cells("F2:G2")
    for k, row in enumerate(rows, start=1):
        ws.append([k, *row])
    wb.save(path)
    return path


def _register_rows(n: int = 40) -> tuple[list[list[object]], np.ndarray]:
    east = np.round(RNG.uniform(585_000, 615_000, n), 3)  # a register keeps millimetres
    north = np.round(RNG.uniform(2_705_000, 2_740_000, n), 3)
    obs_e, obs_n = np.round(east + RNG.normal(0, 0.2, n), 3), np.round(north + 0.1, 3)
    rows = [[f"3521{k + 1:03d}Q", "3521", north[k], east[k], obs_n[k], obs_e[k], "单立",
             "完好", "陈明", "2023-05-01"] for k in range(n)]
    return rows, np.column_stack([east, north, obs_e, obs_n])


def test_a_register_read_and_written_back_keeps_its_coordinates_bit_for_bit(
        tmp_path: Path) -> None:
    rows, xy = _register_rows()
    path = _register(tmp_path / "界桩成果表.xlsx", rows)
    markers = gio.read_boundary_markers(path, "EPSG:4548", to_crs=GK)
    cols = ["x_reg", "y_reg", "x_obs", "y_obs"]
    assert np.array_equal(markers[cols].to_numpy(dtype=float), xy)  # X(北) is the northing
    reg = markers.geometry
    assert np.array_equal(np.column_stack([reg.x, reg.y]), xy[:, :2])
    out = gio.write_layers_gpkg({"boundary_markers": markers}, tmp_path / "back.gpkg")
    again = gio.read_boundary_markers(out, "EPSG:4548", to_crs=GK)
    assert list(again.index) == list(markers.index)
    assert np.array_equal(again[cols].to_numpy(dtype=float), xy)
    assert "x_geom" not in again.columns or np.array_equal(
        again[["x_geom", "y_geom"]].to_numpy(dtype=float), xy[:, :2])


def test_a_register_in_longitude_latitude_is_converted_once(tmp_path: Path) -> None:
    rows, xy = _register_rows(10)
    to_lonlat = Transformer.from_crs(GK, 4490, always_xy=True)
    lon, lat = (np.round(v, 9) for v in to_lonlat.transform(xy[:, 0], xy[:, 1]))
    for row, x, y in zip(rows, lon, lat, strict=True):
        row[2:6] = [y, x, None, None]
    path = _register(tmp_path / "界桩成果表.xlsx", rows)
    # in longitude/latitude the register's X(北)/Y(东) are latitude/longitude
    markers = gio.read_boundary_markers(path, "cgcs2000", to_crs=GK)
    x, y = Transformer.from_crs(4490, GK, always_xy=True).transform(lon, lat)
    assert np.array_equal(markers["x_reg"].to_numpy(dtype=float), np.asarray(x))
    assert np.array_equal(markers["y_reg"].to_numpy(dtype=float), np.asarray(y))
    assert np.abs(markers["x_reg"].to_numpy(dtype=float) - xy[:, 0]).max() < 1e-3


def test_a_marker_point_layer_keeps_its_register_columns_and_its_own_point(
        tmp_path: Path) -> None:
    east = np.array([600_000.125, 600_500.5, 601_000.875])
    north = np.array([2_720_000.25, 2_720_300.75, 2_720_600.5])
    drawn = [shapely.Point(e, n) for e, n in zip(east, north, strict=True)]
    drawn[1] = shapely.Point(east[1] + 3.0, north[1] - 4.0)  # drawn 5 m off the register
    layer = gpd.GeoDataFrame(
        {"界桩编号": ["3521001Q", "3521002Q", "3521003Q"], "界线编码": ["3521"] * 3,
         "登记X(北)": north, "登记Y(东)": east, "状况": ["完好"] * 3},
        geometry=drawn, crs=GK)
    path = tmp_path / "界桩.gpkg"
    layer.to_file(path)
    markers = gio.read_boundary_markers(path, "EPSG:4548", to_crs=GK)
    assert np.array_equal(markers["x_reg"].to_numpy(dtype=float), east)  # not the drawn point
    assert np.array_equal(markers["y_reg"].to_numpy(dtype=float), north)
    assert markers.loc["3521002Q", "x_geom"] == east[1] + 3.0
    assert markers.loc["3521002Q", "y_geom"] == north[1] - 4.0
    assert markers.geometry.loc["3521002Q"].equals(shapely.Point(east[1], north[1]))
    # without register columns, the drawn point is the registered position
    bare = tmp_path / "bare.gpkg"
    layer.drop(columns=["登记X(北)", "登记Y(东)"]).to_file(bare)
    plain = gio.read_boundary_markers(bare, "EPSG:4548", to_crs=GK)
    assert plain.loc["3521002Q", "x_reg"] == east[1] + 3.0
    assert "x_geom" not in plain.columns


def test_a_facility_exactly_on_a_shared_edge_stays_on_it(tmp_path: Path) -> None:
    units = _units_gk()
    edge = shapely.intersection(*units.geometry)
    vertex = shapely.get_coordinates(edge)[0]
    table = pd.DataFrame({"名称": ["界上站"], "类型": ["居家养老服务站"],
                          "X(北)": [vertex[1]], "Y(东)": [vertex[0]],
                          "所属区划代码": ["350211"]})
    path = tmp_path / "设施.xlsx"
    table.to_excel(path, index=False)
    fac = gio.read_facilities(path, "EPSG:4548", to_crs=GK)
    point = fac.geometry.iloc[0]
    assert (point.x, point.y) == (vertex[0], vertex[1])
    assert all(g.intersects(point) for g in units.geometry)
    assert fac["admin_code"].iloc[0] == "350211"  # a six-digit district code is accepted


def test_a_marker_layer_point_in_the_wrong_units_is_a_finding_and_the_register_survives(
        tmp_path: Path) -> None:
    from geoplan.boundary import check_markers

    east = np.array([600_000.125, 600_500.5])
    north = np.array([2_720_000.25, 2_720_300.75])
    layer = gpd.GeoDataFrame(
        {"界桩编号": ["3521001Q", "3521002Q"], "界线编码": ["3521"] * 2,
         "登记X(北)": north, "登记Y(东)": east, "状况": ["完好"] * 2, "管护员": ["陈明"] * 2,
         "上次检查日期": ["2024-03-01"] * 2},
        geometry=[shapely.Point(east[0], north[0]), shapely.Point(118.1, 24.5)], crs=GK)
    path = tmp_path / "界桩.gpkg"
    layer.to_file(path)
    markers = gio.read_boundary_markers(path, "EPSG:4548", to_crs=GK)
    assert markers.loc["3521002Q", "x_reg"] == east[1]  # the register survives
    assert markers.loc["3521002Q", "x_geom"] == 118.1  # the point as drawn (degrees)
    assert markers.geometry.loc["3521002Q"].equals(shapely.Point(east[1], north[1]))
    line = gpd.GeoDataFrame({"line_code": ["3521"]}, geometry=[shapely.LineString(
        [(east[0], north[0]), (east[1], north[1])])], crs=GK)
    found, _ = check_markers(markers, line, reference_date="2025-12-31")
    assert list(zip(found["kind"], found["subject"], strict=True)) == [
        ("marker_geometry_mismatch", "3521002Q")]
    assert found.iloc[0]["value"] > 2_000_000
