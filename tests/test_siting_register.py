"""The register of proposed sites: ids a planner can say, places a surveyor can find.

A small study (``small_study``: two 镇街 with one 社区 each, a 250 m street grid, one
existing 居家养老服务站) runs its siting step for two types; every check recomputes what the
register says from the layers with other code (pyproj, shapely, the coverage tables, the
walking distances of the existing sites).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
import small_study as ss
from deliverable_checks import check_print_setup
from header_checks import machine_headers
from pyproj import Transformer

from geoplan.access import nearest_facility_time, reach_matrix
from geoplan.crs import gcj02_to_wgs84, wgs84_to_gcj02
from geoplan.errors import OutputError, SchemaError
from geoplan.io import write_points_kml
from geoplan.siting import register_headers_zh, site_register
from geoplan.siting.register import site_id_text
from geoplan.study.pipeline import run_study
from geoplan.study.preflight import prepare_run

STUDY = ss.STUDY_TOML.replace('path = "streets.gpkg"', 'path = "grid.gpkg"').replace(
    '[standards]\nprofile = "fujian"\n', '').replace(
    "tiers_min = [5, 15]", "tiers_min = [5, 10, 15]") + """
[coverage]

[siting]
n_candidates = 12

[siting.types.elderly_station]
new_sites = 4

[siting.types.social_work_station]
new_sites = 2
"""
KML = "{http://www.opengis.net/kml/2.2}"
TIERS = (5.0, 10.0, 15.0)
COUNTS = ("pop", "households", "pop_60plus", "pop_80plus")


def write_population(path: Path) -> None:
    """People over both 镇街: 250 m cells, denser towards the middle, a few empty."""
    import rasterio
    from rasterio.transform import Affine

    x0, y0 = ss.metric(118.505, 24.815)
    rng = np.random.default_rng(14)
    rows, cols = 30, 36
    yy, xx = np.mgrid[0:rows, 0:cols]
    density = np.exp(-((xx - cols / 2) ** 2 + (yy - rows / 2) ** 2) / 150.0)
    pop = np.round(rng.poisson(200 * density + 5) * (rng.random((rows, cols)) > 0.1))
    bands = np.stack([pop, np.round(pop / 2.6), np.round(pop / 5), np.round(pop / 30)])
    profile = {"driver": "GTiff", "width": cols, "height": rows, "count": 4,
               "dtype": "float32", "crs": f"EPSG:{ss.EPSG}",
               "transform": Affine(250, 0, x0, 0, -250, y0)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands.astype("float32"))
        for i, name in enumerate(COUNTS, start=1):
            dst.set_band_description(i, name)


@pytest.fixture(scope="module")
def sited(tmp_path_factory):
    folder = tmp_path_factory.mktemp("register")
    ss.build_study_files(folder)
    write_population(folder / "pop.tif")
    ss.build_grid_network(folder)
    (folder / "study.toml").write_text(STUDY, encoding="utf-8")
    study, plan = prepare_run(folder / "study.toml")
    run = run_study(study, folder / "out", plan=plan)
    return study, run, folder / "out"


def test_every_site_has_a_readable_unique_id(sited):
    _, run, _ = sited
    reg = run.site_register
    assert len(reg) == 6
    assert reg.index.is_unique
    assert reg["site_id"].is_unique
    assert (reg.index == reg["site_id"]).all()
    pattern = re.compile(r"^(?P<town>[^-]+)-(?P<kind>养老服务站|社工站)-(?P<n>\d{2})$")
    for site_id, town in zip(reg["site_id"], reg["town_name"], strict=True):
        found = pattern.match(site_id)
        assert found, site_id
        assert found["town"] == town
    # numbered within 镇街 and type in rank order: 01, 02 … with no gap
    for (_, _), group in reg.groupby(["facility_type", "town_name"]):
        numbers = group.sort_values("rank")["site_id"].str[-2:].astype(int).tolist()
        assert numbers == list(range(1, len(group) + 1))
    assert not reg["site_id"].str.contains("cluster").any()
    assert reg["candidate_id"].str.startswith("cluster-").all()  # the old id, kept


def test_coordinates_round_trip_within_a_metre(sited):
    study, run, _ = sited
    reg = run.site_register
    assert reg.crs.to_epsg() == study.metric_epsg == 4549
    assert reg["gk_crs"].str.contains("EPSG:4549").all()
    assert np.allclose(reg["x_east_m"], reg.geometry.x, atol=0.01)
    assert np.allclose(reg["y_north_m"], reg.geometry.y, atol=0.01)
    to_wgs = Transformer.from_crs(4549, 4326, always_xy=True)
    lon, lat = to_wgs.transform(reg["x_east_m"].to_numpy(), reg["y_north_m"].to_numpy())
    back = Transformer.from_crs(4326, 4549, always_xy=True)
    x, y = back.transform(reg["lon_wgs84"].to_numpy(), reg["lat_wgs84"].to_numpy())
    assert np.hypot(x - reg["x_east_m"], y - reg["y_north_m"]).max() < 1.0
    assert np.abs(lon - reg["lon_wgs84"]).max() < 1e-5
    assert np.abs(lat - reg["lat_wgs84"]).max() < 1e-5
    # GCJ-02 is geoplan.crs's, and converts back to the same WGS 84 point within a metre
    glon, glat = wgs84_to_gcj02(reg["lon_wgs84"].to_numpy(), reg["lat_wgs84"].to_numpy())
    assert np.allclose(glon, reg["lon_gcj02"], atol=1e-6)
    assert np.allclose(glat, reg["lat_gcj02"], atol=1e-6)
    wlon, wlat = gcj02_to_wgs84(reg["lon_gcj02"].to_numpy(), reg["lat_gcj02"].to_numpy())
    x2, y2 = back.transform(wlon, wlat)
    assert np.hypot(x2 - reg["x_east_m"], y2 - reg["y_north_m"]).max() < 1.0
    # the offset is real here (mainland China): hundreds of metres, not zero
    gx, gy = back.transform(reg["lon_gcj02"].to_numpy(), reg["lat_gcj02"].to_numpy())
    assert np.hypot(gx - reg["x_east_m"], gy - reg["y_north_m"]).min() > 100


def test_each_site_lies_in_its_town_and_village(sited):
    study, run, _ = sited
    reg = run.site_register
    for level in ("town", "village"):
        units = study.admin_units[study.admin_units["level"].eq(level)]
        for _, site in reg.iterrows():
            inside = units[units.geometry.contains(site.geometry)]
            assert len(inside) == 1, site["site_id"]
            assert site[f"{level}_code"] == str(inside["code"].iloc[0])
            assert site[f"{level}_name"] == inside["name"].iloc[0]


def test_newly_covered_per_tier_add_up_to_the_gain_of_the_whole_set(sited):
    study, run, _ = sited
    network = study.network()
    cells = run.denominators.population  # the one denominator per unit every output uses
    assert cells["households"].sum() == 800  # the 社区/村 register's, not the grid's
    facilities = study.facilities
    fixed = facilities[facilities["status"].isin(("existing", "building"))]
    reg = run.site_register
    checked = 0
    for facility_type, sites in reg.groupby("facility_type"):
        before = fixed[fixed["facility_type"].eq(facility_type)]
        proposed = gpd.GeoDataFrame(
            {"facility_type": facility_type, "status": "existing"},
            index=pd.Index(sites["site_id"].to_list()), geometry=sites.geometry.to_numpy(),
            crs=sites.crs)
        after = pd.concat([before[["facility_type", "status", "geometry"]], proposed])
        kwargs = {"speed_m_per_min": study.speed_m_per_min, "max_minutes": 15,
                  "types": [facility_type]}
        dist_after = nearest_facility_time(network, cells, after, **kwargs)
        dist_before = (nearest_facility_time(network, cells, before, **kwargs)
                       if len(before) else None)
        for tier, reach_m in zip(study.tiers_min, study.tier_distances_m, strict=True):
            covered_after = (dist_after[f"{facility_type}_dist_m"] <= reach_m).to_numpy()
            covered_before = (np.zeros(len(cells), bool) if dist_before is None else
                              (dist_before[f"{facility_type}_dist_m"] <= reach_m).to_numpy())
            for count in COUNTS:
                gain = cells[count].to_numpy(float)[covered_after].sum() \
                    - cells[count].to_numpy(float)[covered_before].sum()
                column = f"new_{count}_{tier:g}min"
                assert sites[column].sum() == pytest.approx(gain, abs=1e-4), column
                assert (sites[column] >= 0).all()
                checked += gain > 0
    assert checked >= 8  # the sites do cover someone new, in both types and several tiers


def test_nearest_existing_facility_is_the_closest_by_walking(sited):
    study, run, _ = sited
    reg = run.site_register
    stations = reg[reg["facility_type"].eq("elderly_station")]
    fixed = study.facilities[study.facilities["facility_type"].eq("elderly_station")]
    assert list(fixed.index) == ["S1"]
    walk = reach_matrix(study.network(), fixed, stations, 50_000).toarray()
    assert (stations["nearest_id"] == "S1").all()
    assert (stations["nearest_name"] == "青华站").all()
    assert (stations["nearest_status"] == "已建").all()
    assert np.allclose(stations["nearest_dist_m"], walk[0], atol=1.0)
    assert np.allclose(stations["nearest_time_min"], walk[0] / 70.0, atol=0.1)
    # no social-work station exists: nothing is named, nothing is made up
    social = reg[reg["facility_type"].eq("social_work_station")]
    assert social["nearest_id"].isna().all()
    assert social["nearest_dist_m"].isna().all()


def test_the_workbook_sheet_is_chinese_and_prints(sited):
    _, run, out = sited
    book = out / "report.xlsx"
    assert "建议选址" in pd.ExcelFile(book).sheet_names
    assert not [n for n in pd.ExcelFile(book).sheet_names if n.startswith("选址-")]
    sheet = pd.read_excel(book, sheet_name="建议选址", dtype={"镇街代码": str, "社区/村代码": str})
    assert sheet["选址编号"].tolist() == run.site_register["site_id"].tolist()
    assert {"所在镇街", "所在社区/村", "经度（WGS84）", "纬度（GCJ-02，高德地图查询用）",
            "X 东坐标（米）", "15分钟新增覆盖60岁以上人口", "5分钟新增覆盖常住人口",
            "最近现有同类设施名称", "至最近同类设施步行距离（米）"} <= set(sheet.columns)
    assert sheet["社区/村代码"].str.len().eq(12).all()
    assert np.allclose(sheet["经度（WGS84）"], run.site_register["lon_wgs84"], atol=1e-7)
    ws = openpyxl.load_workbook(book)["建议选址"]
    column = [c.value for c in ws[1]].index("经度（WGS84）") + 1
    assert ws.cell(row=2, column=column).number_format == "0.0000000"
    check_print_setup(book)
    assert [h for h in machine_headers(out) if "建议选址" in h] == []


def test_the_kml_has_a_placemark_per_site_at_its_wgs84_point(sited):
    _, run, out = sited
    reg = run.site_register
    root = ET.parse(out / "siting.kml").getroot()
    marks = root.findall(f".//{KML}Placemark")
    assert len(marks) == len(reg)
    folders = [f.findtext(f"{KML}name") for f in root.iter(f"{KML}Folder")]
    assert folders == ["居家养老服务站", "乡镇(街道)社工站"]
    for mark in marks:
        name = mark.findtext(f"{KML}name")
        lon, lat, _ = (float(v) for v in mark.findtext(f".//{KML}coordinates").split(","))
        site = reg.loc[name]
        assert lon == pytest.approx(site["lon_wgs84"], abs=1e-7)
        assert lat == pytest.approx(site["lat_wgs84"], abs=1e-7)
        description = mark.findtext(f"{KML}description")
        assert "所在社区/村" in description
        assert site["village_name"] in description
        assert "经度（GCJ-02，高德地图查询用）" in description
        data = {d.get("name"): d.findtext(f"{KML}value")
                for d in mark.iter(f"{KML}Data")}
        assert data["town_name"] == site["town_name"]
        assert float(data["lat_gcj02"]) == pytest.approx(site["lat_gcj02"], abs=1e-7)


def test_the_geopackage_reads_back_with_machine_names(sited):
    study, run, out = sited
    layer = gpd.read_file(out / "siting.gpkg", layer="proposed_sites")
    reg = run.site_register
    assert layer["site_id"].tolist() == reg["site_id"].tolist()
    assert layer.crs.to_epsg() == study.metric_epsg
    assert all(re.fullmatch(r"[a-z0-9_]+", c) for c in layer.columns)
    assert {"town_name", "village_code", "lon_gcj02", "new_pop_60plus_10min",
            "nearest_dist_m"} <= set(layer.columns)
    assert shapely.equals_exact(layer.geometry.to_numpy(), reg.geometry.to_numpy(),
                                tolerance=1e-6).all()
    # the map labels the sites by the readable id
    html = (out / "map.html").read_text(encoding="utf-8")
    first = reg.loc[reg["facility_type"].eq("elderly_station"), "site_id"].iloc[0]
    assert first in html or first.encode("ascii", "backslashreplace").decode() in html


def test_lang_en_writes_machine_names_in_the_sheet_and_kml(sited, tmp_path):
    study, _, _ = sited
    run_study(study, tmp_path / "en", lang="en")
    sheet = pd.read_excel(tmp_path / "en" / "report.xlsx", sheet_name="建议选址")
    assert {"site_id", "town_name", "lon_wgs84", "new_pop_15min"} <= set(sheet.columns)
    text = (tmp_path / "en" / "siting.kml").read_text(encoding="utf-8")
    assert "<displayName>lon_gcj02</displayName>" in text


# --------------------------------------------------------------------------- the function
def _cells() -> pd.DataFrame:
    return pd.DataFrame({"pop": [100, 50, 30, 20], "pop_60plus": [10, 5, 3, 2]})


def _units() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": ["1", "2", "11", "21"], "name": ["甲街道", "乙镇", "甲社区", "乙村"],
         "level": ["town", "town", "village", "village"], "parent_code": [None, None, "1", "2"]},
        geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000),
                  shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000)],
        crs=4549).set_geometry("geometry")


def test_ids_number_within_town_and_type_in_rank_order():
    x0, y0 = 500_000.0, 2_700_000.0
    units = _units().set_geometry(_units().geometry.translate(x0, y0))
    xs = [100, 1500, 300, 1700, 5000]
    sites = gpd.GeoDataFrame(geometry=gpd.points_from_xy([x0 + x for x in xs], [y0 + 500] * 5),
                             index=[f"c{i}" for i in range(5)], crs=4549)
    reach = sp.csr_matrix(np.array([[100, 0, 0, 0], [0, 100, 0, 0], [50, 0, 400, 0],
                                    [0, 0, 0, 0], [0, 0, 0, 800]], float))
    reg = site_register(sites, _cells(), reach, {5: 300, 15: 900},
                        facility_type="senior_canteen", units=units)
    assert reg.index.tolist() == ["甲街道-长者食堂-01", "乙镇-长者食堂-01", "甲街道-长者食堂-02",
                                  "乙镇-长者食堂-02", "镇街外-长者食堂-01"]
    assert reg["village_name"].tolist()[:4] == ["甲社区", "乙村", "甲社区", "乙村"]
    assert reg[["town_code", "town_name", "village_code", "village_name"]].iloc[4].isna().all()
    # the third site reaches cell 0 too, but the first covers it already: not new
    assert reg["new_pop_5min"].tolist() == [100, 50, 0, 0, 0]
    assert reg["new_pop_15min"].tolist() == [100, 50, 30, 0, 20]
    headers = register_headers_zh([5, 15], ["pop"])
    assert headers["new_pop_5min"] == "5分钟新增覆盖常住人口"
    assert all(not re.fullmatch(r"[a-z0-9_]+", h) for h in headers.values())


def test_existing_coverage_is_not_new_and_ids_widen_past_99():
    n = 120
    sites = gpd.GeoDataFrame(geometry=gpd.points_from_xy(np.arange(n) * 10.0 + 500_000,
                                                         np.full(n, 2_700_000.0)), crs=4549)
    reach = sp.csr_matrix(np.ones((n, 4)) * 100.0)
    existing = sp.csr_matrix(np.array([[100.0, 100.0, 0, 0]]))
    reg = site_register(sites, _cells(), reach, {5: 300}, facility_type="elderly_station",
                        existing_reach=existing)
    assert reg["new_pop_5min"].tolist()[:2] == [50, 0]  # cells 0, 1 are covered already
    assert reg.index[0] == "养老服务站-001"
    assert reg.index[-1] == "养老服务站-120"


def test_same_town_names_under_two_codes_stay_apart():
    assert site_id_text("", "columbarium", 3) == "骨灰堂-03"
    units = _units().assign(name=["同名街道", "同名街道", "甲社区", "乙村"])
    sites = gpd.GeoDataFrame(geometry=gpd.points_from_xy([500.0, 1500.0], [500.0, 500.0]),
                             crs=4549)
    reg = site_register(sites, _cells(), sp.csr_matrix((2, 4)), {5: 300},
                        facility_type="elderly_station", units=units)
    assert reg.index.is_unique
    assert reg.index.tolist() == ["同名街道（1）-养老服务站-01", "同名街道（2）-养老服务站-01"]


def test_a_register_needs_one_reach_row_per_site_and_metres():
    sites = gpd.GeoDataFrame(geometry=gpd.points_from_xy([500.0], [500.0]), crs=4549)
    with pytest.raises(SchemaError, match="2 rows for 1 sites"):
        site_register(sites, _cells(), sp.csr_matrix((2, 4)), {5: 300},
                      facility_type="elderly_station")
    with pytest.raises(SchemaError, match="unknown facility type"):
        site_register(sites, _cells(), sp.csr_matrix((1, 4)), {5: 300}, facility_type="x")
    from geoplan.errors import CRSError

    with pytest.raises(CRSError):
        site_register(sites.set_crs(4490, allow_override=True), _cells(),
                      sp.csr_matrix((1, 4)), {5: 300}, facility_type="elderly_station")


def test_kml_writer_refuses_what_it_cannot_place(tmp_path: Path):
    sites = gpd.GeoDataFrame({"site_id": ["a"]}, geometry=[shapely.Point(0, 0)])
    with pytest.raises(OutputError, match="no coordinate system"):
        write_points_kml(sites, tmp_path / "a.kml", name_column="site_id", fields={})
    with pytest.raises(OutputError, match="missing column"):
        write_points_kml(sites.set_crs(4326), tmp_path / "a.kml", name_column="x", fields={})
    empty = gpd.GeoDataFrame({"site_id": ["a"]}, geometry=[shapely.Point()], crs=4326)
    with pytest.raises(OutputError, match="without a location"):
        write_points_kml(empty, tmp_path / "a.kml", name_column="site_id", fields={})
    assert not (tmp_path / "a.kml").exists()


# --------------------------------------------------------------------------- real-file shapes
def test_byod_register_agrees_with_the_planners_own_files(tmp_path):
    """The files a planner hands over (GBK shapefile, GCJ-02 register) locate the same sites."""
    from geoplan.datasets import byod_dir

    folder = byod_dir()
    study, plan = prepare_run(folder / "study.toml")
    run = run_study(study, tmp_path / "out", plan=plan)
    reg = run.site_register
    assert len(reg) == 2
    assert reg["site_id"].str.fullmatch(r"莲湖街道-养老服务站-0[12]").all()
    # 社区 by point in polygon on the GBK shapefile itself, in its own lon/lat (CGCS2000)
    communities = gpd.read_file(folder / "communities.shp", encoding="gbk")
    town = gpd.read_file(folder / "town.geojson")
    for _, site in reg.iterrows():
        point = shapely.Point(site["lon_wgs84"], site["lat_wgs84"])
        inside = communities[communities.geometry.contains(point)]
        assert inside["名称"].tolist() == [site["village_name"]]
        assert inside["区划代码"].astype(str).tolist() == [site["village_code"]]
        assert town.geometry.contains(point).tolist() == [True]
        assert site["town_name"] == town["名称"].iloc[0]
    # the nearest existing station comes from the GCJ-02 register, named as it names it
    register = pd.read_excel(folder / "facilities_gcj02.xlsx", sheet_name="养老服务设施",
                             header=None).astype(str)
    assert reg["nearest_name"].notna().all()
    for name in reg["nearest_name"]:
        assert register.eq(name).any().any(), name
    # the KML and the GCJ-02 columns agree through geoplan.crs, within a metre
    root = ET.parse(tmp_path / "out" / "siting.kml").getroot()
    for mark in root.iter(f"{KML}Placemark"):
        site = reg.loc[mark.findtext(f"{KML}name")]
        lon, lat, _ = (float(v) for v in mark.findtext(f".//{KML}coordinates").split(","))
        glon, glat = wgs84_to_gcj02(lon, lat)
        east_m = (float(glon) - site["lon_gcj02"]) * 111_320 * np.cos(np.radians(lat))
        north_m = (float(glat) - site["lat_gcj02"]) * 110_540
        assert np.hypot(east_m, north_m) < 1.0
