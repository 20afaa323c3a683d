"""Files shaped like a planner's load with the right types, names and coordinates.

The examples in ``data/byod/`` are made by ``data/make_byod.py`` from known CGCS2000 points
(:func:`make_byod.facility_points`): a GCJ-02 Excel register with a title row, Chinese
headers and local type names, and a GBK shapefile of communities without ``.cpg``. They
must come back through the public readers, through ``geoplan.load_study`` and through
``geoplan run`` with every type, name and code right and every point within 1 m of the
point the generator started from.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import geoplan
from geoplan.errors import SchemaError
from geoplan.io import read_admin_units, read_facilities

REPO = Path(__file__).resolve().parents[1]
BYOD = REPO / "data" / "byod"
sys.path.insert(0, str(REPO / "data"))
import make_byod  # noqa: E402

#: What each local name in the register means (the last one is the study's own name).
LOCAL_TYPES = {
    "长者服务站": "elderly_station", "颐康之家": "elderly_station", "养老驿站": "elderly_station",
    "颐康中心": "care_center", "老年助餐点": "senior_canteen", "长者食堂": "senior_canteen",
    "助餐服务点": "senior_canteen", "社工站": "social_work_station",
    "日间照料中心": "day_care_center", "颐养之家": "elderly_station",
}
STATUSES = {"已建": "existing", "在建": "building", "规划": "planned"}
OWN_NAMES = {"颐养之家": "elderly_station"}
METRIC = make_byod.METRIC_EPSG


@pytest.fixture(scope="module")
def truth() -> gpd.GeoDataFrame:
    """The facilities as the generator made them, indexed by their 序号 as text."""
    points = make_byod.facility_points()
    return points.set_index(points["序号"].astype(str))


def _check_facilities(facilities: gpd.GeoDataFrame, truth: gpd.GeoDataFrame) -> None:
    assert sorted(facilities.index) == sorted(truth.index)
    facilities = facilities.loc[truth.index]
    assert facilities["name"].tolist() == truth["名称"].tolist()
    assert facilities["facility_type"].tolist() == truth["类型"].map(LOCAL_TYPES).tolist()
    assert facilities["status"].tolist() == truth["状态"].map(STATUSES).tolist()
    np.testing.assert_array_equal(facilities["beds"].to_numpy(dtype=float),
                                  truth["床位数"].to_numpy(dtype=float))
    np.testing.assert_array_equal(facilities["floor_area_m2"].to_numpy(dtype=float),
                                  truth["建筑面积(㎡)"].to_numpy(dtype=float))
    error_m = shapely.distance(facilities.to_crs(METRIC).geometry.to_numpy(),
                               truth.to_crs(METRIC).geometry.to_numpy())
    assert error_m.max() < 1.0, error_m
    # and the offset that was removed is the real one (hundreds of metres), not nothing
    as_written = pd.read_excel(BYOD / "facilities_gcj02.xlsx", header=1, dtype={"序号": str})
    taken_as_wgs84 = gpd.GeoSeries.from_xy(as_written["经度"], as_written["纬度"], crs=4490)
    offset_m = shapely.distance(taken_as_wgs84.to_crs(METRIC).to_numpy(),
                                truth.loc[as_written["序号"]].to_crs(METRIC).geometry.to_numpy())
    assert offset_m.min() > 100.0


def _check_communities(communities: gpd.GeoDataFrame) -> None:
    made = make_byod.community_polygons()
    assert communities.index.tolist() == made["区划代码"].tolist()
    assert communities["name"].tolist() == made["名称"].tolist()
    assert communities["code"].tolist() == made["区划代码"].tolist()
    assert (communities["level"] == "village").all()
    assert (communities["kind"] == "社区").all()
    assert communities["households"].tolist() == made["户数"].tolist()
    error_m = shapely.hausdorff_distance(communities.to_crs(METRIC).geometry.to_numpy(),
                                         made.geometry.to_numpy())
    assert error_m.max() < 1.0, error_m


def test_the_gcj02_register_reads_right_through_the_public_reader(truth):
    facilities = read_facilities(BYOD / "facilities_gcj02.xlsx", "gcj02",
                                 type_aliases=OWN_NAMES, to_crs=METRIC)
    _check_facilities(facilities, truth)
    meta = facilities.attrs["geoplan"]
    assert meta["declared_coords"] == "gcj02"
    assert meta["header_row"] == 2  # the title row above the headers was skipped
    assert meta["columns"]["经度"] == "lon"


def test_a_local_name_the_study_does_not_give_is_reported_with_its_rows():
    with pytest.raises(SchemaError) as caught:
        read_facilities(BYOD / "facilities_gcj02.xlsx", "gcj02")
    problems = caught.value.problems
    assert len(problems) == 1
    assert "'颐养之家'" in problems[0].message
    assert "1 row(s): 8" in problems[0].message
    assert "docs/layers.md#facilities" in str(caught.value)


def test_the_gbk_shapefile_without_cpg_reads_right_through_the_public_reader():
    assert not (BYOD / "communities.cpg").exists()
    with pytest.warns(UserWarning, match="GBK"):
        communities = read_admin_units(BYOD / "communities.shp", "cgcs2000", to_crs=METRIC)
    _check_communities(communities)
    assert communities.attrs["geoplan"]["encoding"] == "GBK (detected, no .cpg)"


def test_the_example_study_loads_both_files_right(truth):
    study = geoplan.load_study(BYOD / "study.toml")
    assert study.metric_epsg == METRIC
    _check_facilities(study.facilities, truth)
    _check_communities(study.villages)
    assert study.towns["name"].tolist() == [make_byod.TOWN_NAME]
    assert len(study.population) == 24 * 18


@pytest.mark.slow
def test_geoplan_run_on_the_example_study_writes_them_right(truth, tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("geoplan")), "run", str(BYOD / "study.toml"),
         "--out", str(out)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    written = gpd.read_file(out / "layers.gpkg", layer="facilities")
    written = written.set_index(written["facility_id"].astype(str))
    _check_facilities(written, truth)
    assert (out / "map.html").is_file()
    assert (out / "report.xlsx").is_file()


def test_the_committed_examples_are_what_the_generator_makes(tmp_path):
    make_byod.main(tmp_path)
    made = sorted(p.name for p in tmp_path.iterdir())
    shipped = sorted(p.name for p in BYOD.iterdir() if p.name != "study.toml")
    assert made == shipped
    for name in made:
        assert (tmp_path / name).read_bytes() == (BYOD / name).read_bytes(), name
    assert sum(p.stat().st_size for p in BYOD.iterdir()) < 1_000_000
