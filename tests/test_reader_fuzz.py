"""Property-based fuzzing of the readers: whatever the bytes, a GeoplanError or a valid layer.

Random bytes, truncated real files, and tables with random headers, encodings and
coordinates are read with geoplan's public readers. Each read either returns a layer that
passes its contract or raises a :class:`~geoplan.errors.GeoplanError` (a planner's message);
anything else (a ``KeyError`` from deep inside, a GDAL error, a crash) is a bug. Derandomised,
so CI explores the same cases every run.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
import small_study as ss
from hypothesis import HealthCheck, given, settings

from geoplan.errors import GeoplanError
from geoplan.io import (
    read_admin_units,
    read_boundary_markers,
    read_facilities,
    read_inspection_rounds,
    read_population,
)
from geoplan.network import walk_network_from_file
from geoplan.schema import validate_layer

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

SUFFIXES = (".xlsx", ".csv", ".gpkg", ".geojson", ".shp", ".tif", ".osm", ".graphml")
READERS = {
    ".xlsx": lambda p: read_facilities(p, "wgs84"),
    ".csv": lambda p: read_facilities(p, "gcj02"),
    ".gpkg": lambda p: read_admin_units(p, "cgcs2000"),
    ".geojson": lambda p: read_facilities(p, "wgs84"),
    ".shp": lambda p: read_admin_units(p, "cgcs2000"),
    ".tif": lambda p: read_population(p, "EPSG:4549"),
    ".osm": lambda p: walk_network_from_file(p, coords="wgs84"),
    ".graphml": lambda p: walk_network_from_file(p),
}


def _answer(call):
    """Call ``call``; a GeoplanError is an answer (returned), anything else is a bug."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return call()
        except GeoplanError as exc:
            return exc


def _read(path: Path):
    result = _answer(lambda: READERS[path.suffix](path))
    if isinstance(result, GeoplanError):
        assert str(result).strip()  # it says something
    return result


@pytest.fixture(scope="module")
def real_files(tmp_path_factory) -> dict[str, bytes]:
    """Valid files of every suffix, whose prefixes are fed to the readers."""
    folder = tmp_path_factory.mktemp("fuzz_real")
    ss.build_study_files(folder)
    grid = ss.build_grid_network(folder)
    table = pd.DataFrame({"名称": ["甲站", "乙站"], "类型": ["养老服务站", "长者食堂"],
                          "经度": [118.52, 118.53], "纬度": [24.78, 24.79]})
    table.to_excel(folder / "f.xlsx", index=False)
    (folder / "f.csv").write_text(table.to_csv(index=False), encoding="utf-8")
    import geopandas as gpd

    units = gpd.read_file(folder / "boundaries" / "units.gpkg", layer="towns")
    units.to_file(folder / "u.shp")
    gpd.read_file(folder / "facilities" / "facilities.gpkg").to_file(
        folder / "f.geojson", driver="GeoJSON")
    return {
        ".xlsx": (folder / "f.xlsx").read_bytes(), ".csv": (folder / "f.csv").read_bytes(),
        ".gpkg": (folder / "boundaries" / "units.gpkg").read_bytes(),
        ".geojson": (folder / "f.geojson").read_bytes(),
        ".shp": (folder / "u.shp").read_bytes(), ".tif": (folder / "pop.tif").read_bytes(),
        ".graphml": b'<?xml version="1.0"?><graphml><graph edgedefault="directed">'
                    b'<node id="1"/></graph></graphml>',
        ".osm": b"<?xml version='1.0'?><osm version='0.6'><node id='1' lat='24.78' "
                b"lon='118.52'/></osm>",
        "grid": grid.read_bytes(),
    }


@FUZZ
@given(suffix=st.sampled_from(SUFFIXES), data=st.binary(min_size=0, max_size=2048))
def test_random_bytes_are_refused_with_a_message(tmp_path, suffix, data):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    _read(path)


@FUZZ
@given(suffix=st.sampled_from(SUFFIXES), share=st.floats(0.0, 0.999))
def test_truncated_files_are_refused_with_a_message(tmp_path, real_files, suffix, share):
    whole = real_files[suffix]
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(whole[:int(len(whole) * share)])
    _read(path)


@FUZZ
@given(share=st.floats(0.0, 0.999))
def test_a_truncated_network_file_is_a_network_error(tmp_path, real_files, share):
    whole = real_files["grid"]
    path = tmp_path / "grid.gpkg"
    path.write_bytes(whole[:int(len(whole) * share)])
    result = _answer(lambda: walk_network_from_file(path, coords="EPSG:4549"))
    if isinstance(result, GeoplanError):
        assert "grid.gpkg" in str(result)


HEADERS = st.sampled_from(["名称", "类型", "经度", "纬度", "lng", "lat", "X", "Y", "床位数",
                           "状态", "编号", "所属镇街", "建筑面积", "界桩编号", "登记X(东)",
                           "登记Y(北)", "联检日期", "界线编码", "", " ", "名称", "经度"])
CELLS = st.one_of(st.none(), st.integers(-10**12, 10**12),
                  st.floats(allow_nan=True, allow_infinity=True),
                  st.text(max_size=12), st.sampled_from(["118°31′24″", "东经118.5", "２４．７８",
                                                         "=1+1", "养老服务站", "已建", "1,234"]))


@FUZZ
@given(headers=st.lists(st.one_of(HEADERS, st.text(max_size=8)), min_size=1, max_size=7),
       rows=st.integers(0, 6), data=st.data(),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "gbk", "utf-16"]),
       kind=st.sampled_from(["facilities", "markers", "rounds"]))
def test_tables_with_random_headers_encodings_and_cells(tmp_path, headers, rows, data,
                                                        encoding, kind):
    table = pd.DataFrame({f"c{i}": [data.draw(CELLS) for _ in range(rows)]
                          for i in range(len(headers))})
    table.columns = headers
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    path = tmp_path / "t.csv"
    try:
        path.write_bytes(buffer.getvalue().encode(encoding))
    except UnicodeEncodeError:
        path.write_bytes(buffer.getvalue().encode("utf-8"))
    readers = {"facilities": lambda p: read_facilities(p, "wgs84"),
               "markers": lambda p: read_boundary_markers(p, "EPSG:4549"),
               "rounds": read_inspection_rounds}
    out = _answer(lambda: readers[kind](path))
    if isinstance(out, GeoplanError):
        assert str(out).strip()
        return
    if kind == "facilities":  # what comes back passes its own contract again
        validate_layer(out, "facilities")
        assert np.isfinite(out.geometry.x).all()
