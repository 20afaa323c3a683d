"""Vector files: GeoJSON without a CRS, degrees vs metres, layers, zipped and cut Shapefiles."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from geoplan import io as gio
from geoplan.errors import CRSError, SchemaError

JINJIANG_4549 = (555_000.0, 2_741_000.0)  # a point in Jinjiang, EPSG:4549 metres


def _facilities(crs: int | None = 4490) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"facility_id": ["S1", "S2"], "name": ["青华站", "梅峰站"], "type": ["社工站", "幸福院"]},
        geometry=[shapely.Point(118.55, 24.78), shapely.Point(118.56, 24.79)], crs=crs)


def _geojson(path: Path, xy: tuple[float, float], crs: str | None = None) -> Path:
    collection: dict[str, object] = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"facility_id": "S1", "name": "青华站", "type": "社工站"},
        "geometry": {"type": "Point", "coordinates": list(xy)}}]}
    if crs:
        collection["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    return path


def test_geojson_without_crs_member_takes_the_declaration(tmp_path: Path) -> None:
    path = _geojson(tmp_path / "metres.geojson", JINJIANG_4549)
    fac = gio.read_facilities(path, "EPSG:4549")
    want = gpd.GeoSeries([shapely.Point(JINJIANG_4549)], crs=4549).to_crs(4490).iloc[0]
    assert fac.geometry.iloc[0].distance(want) < 1e-9
    assert fac.attrs["geoplan"]["file_crs"] == "none (GeoJSON without a crs member)"
    named = _geojson(tmp_path / "named.geojson", JINJIANG_4549, "urn:ogc:def:crs:EPSG::4549")
    assert gio.read_facilities(named, "EPSG:4549").geometry.iloc[0].distance(want) < 1e-9
    with pytest.raises(CRSError, match="contradicts the declared 'wgs84'"):
        gio.read_facilities(named, "wgs84")


@pytest.mark.parametrize("declared", ["wgs84", "cgcs2000", "gcj02", "bd09"])
def test_metres_declared_as_degrees_are_refused(tmp_path: Path, declared: str) -> None:
    path = _geojson(tmp_path / "metres.geojson", JINJIANG_4549)
    with pytest.raises(SchemaError) as info:
        gio.read_facilities(path, declared)
    [problem] = info.value.problems
    assert (problem.row, problem.column) == ("S1", "geometry")
    assert problem.message.startswith("coordinates are not degrees (x=555000, y=2.741e+06)")


def test_degrees_declared_as_metres_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.gpkg"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyogrio warns that the file has no CRS
        _facilities(crs=None).to_file(path)
    with pytest.raises(SchemaError, match="these look like degrees, but the layer is EPSG:4549"):
        gio.read_facilities(path, "EPSG:4549")
    csv = tmp_path / "degrees.csv"
    csv.write_text("名称,类型,X,Y\n甲,社工站,118.55,24.78\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="look like degrees"):
        gio.read_facilities(csv, "EPSG:4549", x_axis="east")
    assert len(gio.read_facilities(path, "cgcs2000", study_area=None)) == 2


def test_study_area_check_is_not_repeated_for_implausible_numbers(tmp_path: Path) -> None:
    path = _geojson(tmp_path / "metres.geojson", JINJIANG_4549)
    area = gpd.GeoDataFrame(geometry=[shapely.box(118.4, 24.6, 118.7, 24.9)], crs=4490)
    with pytest.raises(SchemaError) as info:
        gio.read_facilities(path, "wgs84", study_area=area)
    assert len(info.value.problems) == 1
    assert "outside the study area" not in str(info.value)


def test_zone_prefix_mismatch_names_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "zone40.gpkg"
    gdf = _facilities().to_crs(4549).set_crs(4528, allow_override=True)  # 带号 CRS, no prefix
    gdf.to_file(path)
    with pytest.raises(SchemaError) as info:
        gio.read_facilities(path, "EPSG:4528")
    assert [(p.row, p.column) for p in info.value.problems] == [("S1", "geometry"),
                                                                ("S2", "geometry")]
    assert "with the zone prefix, e.g. 40 500 000 m, needs EPSG:4513" in str(info.value)


def test_geopackage_layer_choice(tmp_path: Path) -> None:
    path = tmp_path / "many.gpkg"
    _facilities().to_file(path, layer="stations")
    _facilities().to_file(path, layer="canteens")
    with pytest.raises(SchemaError, match=r"holds 2 spatial layers \(stations, canteens\)"):
        gio.read_facilities(path, "cgcs2000")
    with pytest.raises(SchemaError, match="no layer 'clinics'; layers: stations, canteens"):
        gio.read_facilities(path, "cgcs2000", layer="clinics")
    with pytest.raises(SchemaError, match="no layer number 5"):
        gio.read_facilities(path, "cgcs2000", layer=5)
    assert len(gio.read_facilities(path, "cgcs2000", layer=1)) == 2
    _facilities().to_file(path, layer="facilities")
    fac = gio.read_facilities(path, "cgcs2000")  # the layer named after the kind
    assert fac.attrs["geoplan"]["source"] == path.name  # the file, not this machine's path


def test_attribute_tables_do_not_count_as_layers(tmp_path: Path) -> None:
    path = tmp_path / "qgis.gpkg"
    _facilities().to_file(path, layer="stations")
    styles = pd.DataFrame({"styleName": ["default"]})  # what QGIS stores beside the layers
    pyogrio.write_dataframe(styles, path, layer="layer_styles", driver="GPKG")
    assert len(gio.read_facilities(path, "cgcs2000")) == 2


def test_unreadable_vector_file_is_a_schema_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.gpkg"
    path.write_text("not a geopackage", encoding="utf-8")
    with pytest.raises(SchemaError, match="not a readable vector file"):
        gio.read_facilities(path, "wgs84")


def test_zipped_gbk_shapefile_without_cpg(tmp_path: Path) -> None:
    gdf = _facilities().rename(columns={"name": "名称", "type": "类型"})
    gdf["名称"] = ["青阳街道居家养老服务站", "梅岭街道社工站"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GDAL warns that it cuts facility_id
        gdf.to_file(tmp_path / "设施.shp", encoding="GBK")
    archive = tmp_path / "设施.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for part in tmp_path.glob("设施.*"):
            if part.suffix not in (".cpg", ".zip"):
                out.write(part, part.name)
    with pytest.warns(UserWarning, match="no .cpg and its .dbf is GBK"):
        fac = gio.read_facilities(archive, "cgcs2000")
    assert fac["name"].tolist() == ["青阳街道居家养老服务站", "梅岭街道社工站"]
    with zipfile.ZipFile(archive, "a") as out:
        out.write(tmp_path / "设施.cpg", "设施.cpg")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gio.read_facilities(archive, "cgcs2000")["name"].iloc[1] == "梅岭街道社工站"


def test_shapefile_field_names_cut_at_ten_bytes(tmp_path: Path) -> None:
    fac = _facilities()
    fac["floor_area_m2"] = [120.0, 80.5]
    fac["nursing_beds"] = [0, 4]
    fac["beds"] = [10, 12]
    path = tmp_path / "fac.shp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GDAL warns that it cuts the names
        fac.to_file(path)
    assert "facility_i" in gpd.read_file(path).columns
    back = gio.read_facilities(path, "cgcs2000")
    assert list(back.index) == ["S1", "S2"]  # not generated F1, F2
    assert back["floor_area_m2"].tolist() == [120.0, 80.5]
    assert back["nursing_beds"].tolist() == [0, 4]

    towns = gpd.GeoDataFrame({"行政区划代码": ["350582001"], "名称": ["青阳街道"]},
                             geometry=[shapely.box(118.5, 24.7, 118.55, 24.75)], crs=4490)
    gbk = tmp_path / "towns.shp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        towns.to_file(gbk, encoding="GBK")
    assert "行政区划代" in gpd.read_file(gbk, encoding="GBK").columns
    units = gio.read_admin_units(gbk, "cgcs2000")
    assert units["code"].tolist() == ["350582001"]
    assert units["level"].tolist() == ["town"]


def test_one_part_multipoints_become_points(tmp_path: Path) -> None:
    fac = _facilities()
    fac.geometry = [shapely.MultiPoint([(118.55, 24.78)]), shapely.Point(118.56, 24.79)]
    path = tmp_path / "multi.gpkg"
    fac.to_file(path)
    back = gio.read_facilities(path, "cgcs2000")
    assert back.geom_type.tolist() == ["Point", "Point"]
    assert np.allclose(shapely.get_coordinates(back.geometry.values)[0], (118.55, 24.78))
    fac.geometry = [shapely.MultiPoint([(118.55, 24.78), (118.56, 24.78)]),
                    shapely.Point(118.56, 24.79)]
    fac.to_file(path)
    with pytest.raises(SchemaError, match="geometry type MultiPoint not allowed"):
        gio.read_facilities(path, "cgcs2000")


def test_gbk_shapefile_with_a_wrong_utf8_cpg(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"编号": ["A1"], "名称": ["青阳街道居家养老服务站"], "类型": ["幸福院"]},
                           geometry=[shapely.Point(118.55, 24.78)], crs=4490)
    path = tmp_path / "stations.shp"
    gdf.to_file(path, encoding="GBK")
    path.with_suffix(".cpg").write_text("UTF-8", encoding="ascii")  # copied from another file
    with pytest.raises(UnicodeDecodeError):
        gpd.read_file(path)
    with pytest.warns(UserWarning, match="not in the code page its .cpg names"):
        fac = gio.read_facilities(path, "cgcs2000")
    assert fac[["name", "facility_type"]].iloc[0].tolist() == [
        "青阳街道居家养老服务站", "elderly_station"]
    with pytest.raises(SchemaError, match="cannot read layer 'stations'"):
        gio.read_facilities(path, "cgcs2000", encoding="UTF-8")
