"""PostGIS layers in and out, against the real PostgreSQL 15 + PostGIS 3 of ``make postgis``.

The server is the project's own (``make test`` starts it); these tests fail, never skip,
when it is not running. Each test works in its own schema, dropped afterwards.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely

from geoplan.access import coverage_by_unit, nearest_facility_time
from geoplan.crs import gk_zone_epsg, wgs84_to_gcj02
from geoplan.errors import CRSError, DatabaseError, OutputError, SchemaError
from geoplan.io import read_facilities, read_postgis_layer, write_postgis_table
from geoplan.network import walk_network_from_file

REPO = Path(__file__).resolve().parents[1]
SERVICE_FILE = REPO / ".cache" / "pg_service.conf"
DEMO_FACILITIES = REPO / "data" / "facilities" / "facilities.gpkg"


@pytest.fixture
def schema(monkeypatch):
    """A fresh schema on the test server, reached through the service file (PGSERVICE)."""
    if not SERVICE_FILE.is_file():
        pytest.fail(f"no PostGIS test server ({SERVICE_FILE} missing): run `make postgis`")
    for var in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PGSERVICEFILE", str(SERVICE_FILE))
    monkeypatch.setenv("PGSERVICE", "geoplan_test")
    name = f"t_{uuid.uuid4().hex[:10]}"
    try:
        conn = psycopg.connect("", autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.fail(f"the PostGIS test server is not running ({exc}): run `make postgis`")
    with conn:
        conn.execute(f"CREATE SCHEMA {name}")
        yield name
        conn.execute(f"DROP SCHEMA {name} CASCADE")


def _sql(query: str, params=None) -> list[tuple]:
    with psycopg.connect("") as conn:
        return conn.execute(query, params).fetchall()


@pytest.fixture(scope="module")
def raw_facilities() -> gpd.GeoDataFrame:
    return gpd.read_file(DEMO_FACILITIES, layer="facilities")


def test_a_table_reads_exactly_like_the_file(schema, raw_facilities):
    write_postgis_table(raw_facilities, f"{schema}.facilities", index=False)
    from_file = read_facilities(DEMO_FACILITIES, "cgcs2000", layer="facilities")
    from_db = read_postgis_layer("facilities", "cgcs2000", table=f"{schema}.facilities")
    assert from_db.crs == from_file.crs
    pd.testing.assert_frame_equal(from_db.drop(columns="geometry"),
                                  from_file.drop(columns="geometry"))
    assert from_db.geometry.geom_equals_exact(from_file.geometry, 0.0).all()
    # a layer written back (its id column is its index) reads back the same
    write_postgis_table(from_file, f"{schema}.facilities_copy")
    assert _sql("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
                " AND a.attnum = ANY(i.indkey) WHERE i.indisprimary AND i.indrelid = %s::regclass",
                (f"{schema}.facilities_copy",)) == [("facility_id",)]
    copy = read_postgis_layer("facilities", "cgcs2000", table=f"{schema}.facilities_copy")
    pd.testing.assert_frame_equal(copy.drop(columns="geometry"),
                                  from_file.drop(columns="geometry"))
    meta = from_db.attrs["geoplan"]
    assert meta["source"] == f"PostGIS table {schema}.facilities"
    assert meta["srid"] == 4490
    assert meta["database"] == "geoplan_test"
    assert "service" not in str(meta)
    assert "host" not in str(meta)


def test_the_window_is_pushed_into_sql_and_uses_the_spatial_index(schema, raw_facilities):
    table = f"{schema}.facilities"
    write_postgis_table(raw_facilities, table, index=False)
    metric = raw_facilities.to_crs(4549)
    cx, cy = metric.geometry.union_all().centroid.coords[0]
    window = gpd.GeoSeries([shapely.Point(cx, cy).buffer(3000.0)], crs=4549)
    inside = metric.geometry.intersects(window.iloc[0]).to_numpy()
    assert 20 < inside.sum() < len(metric) - 20

    def index_scans() -> int:
        _sql("SELECT pg_stat_clear_snapshot()")
        return _sql("SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes "
                    "WHERE schemaname = %s AND indexrelname LIKE %s", (schema, "%geometry%"))[0][0]

    before = index_scans()
    got = read_postgis_layer("facilities", "cgcs2000", table=table, window=window)
    assert sorted(got.index) == sorted(raw_facilities.loc[inside, "facility_id"])
    assert got.attrs["geoplan"]["window"].startswith("pushed into SQL")
    for _ in range(50):  # the reading session's statistics arrive when it ends
        if index_scans() > before:
            break
        _sql("SELECT pg_sleep(0.1)")
    assert index_scans() > before
    # a query and a bbox window in lon/lat select the same features
    x0, y0, x1, y1 = window.to_crs(4490).total_bounds
    boxed = read_postgis_layer(
        "facilities", "cgcs2000",
        query=f"SELECT * FROM {table} WHERE type <> 'no such type';",
        window=(x0, y0, x1, y1), window_crs="EPSG:4490")
    lonlat = raw_facilities.geometry
    in_box = ((lonlat.x >= x0) & (lonlat.x <= x1) & (lonlat.y >= y0) & (lonlat.y <= y1))
    assert sorted(boxed.index) == sorted(raw_facilities.loc[in_box.to_numpy(), "facility_id"])


def test_gcj02_numbers_are_converted_and_windowed_in_their_own_coordinates(schema,
                                                                         raw_facilities):
    lon, lat = raw_facilities.geometry.x.to_numpy(), raw_facilities.geometry.y.to_numpy()
    glon, glat = wgs84_to_gcj02(lon, lat)  # as 高德 would list them
    gcj = raw_facilities.set_geometry(gpd.points_from_xy(glon, glat), crs=4326)
    write_postgis_table(gcj, f"{schema}.canteens", index=False)
    window = gpd.GeoSeries([shapely.box(*raw_facilities.to_crs(4549).total_bounds)
                            .centroid.buffer(2500.0)], crs=4549)
    got = read_postgis_layer("facilities", "gcj02", table=f"{schema}.canteens", window=window)
    expected = raw_facilities.to_crs(4549).geometry.intersects(window.iloc[0]).to_numpy()
    assert sorted(got.index) == sorted(raw_facilities.loc[expected, "facility_id"])
    truth = raw_facilities.set_index("facility_id").loc[got.index].to_crs(4549)
    assert got.to_crs(4549).geometry.distance(truth.geometry, align=True).max() < 0.01
    assert got.attrs["geoplan"]["declared_coords"] == "gcj02"


def test_the_declaration_is_the_srid_or_checked_against_it(schema, raw_facilities):
    table = f"{schema}.facilities"
    write_postgis_table(raw_facilities.to_crs(4549), table, index=False)
    undeclared = read_postgis_layer("facilities", None, table=table)  # the SRID declares
    assert undeclared.attrs["geoplan"]["declared_coords"] == "EPSG:4549"
    assert len(undeclared) == len(raw_facilities)
    with pytest.raises(CRSError, match="contradicts"):
        read_postgis_layer("facilities", "EPSG:4326", table=table)
    assert len(read_postgis_layer("facilities", "EPSG:4549", table=table)) == len(raw_facilities)
    # SRID 0 ("not stated"): the declaration decides, and degrees declared as metres are refused
    write_postgis_table(raw_facilities.set_crs(None, allow_override=True), f"{schema}.bare",
                        index=False)
    assert _sql(f"SELECT DISTINCT ST_SRID(geometry) FROM {schema}.bare") == [(0,)]
    assert len(read_postgis_layer("facilities", "cgcs2000", table=f"{schema}.bare")) == 1446
    with pytest.raises(CRSError, match="SRID 0"):  # nothing declares it
        read_postgis_layer("facilities", None, table=f"{schema}.bare")
    with pytest.raises(SchemaError, match="look like degrees"):
        read_postgis_layer("facilities", "EPSG:4549", table=f"{schema}.bare")


def test_bad_sources_are_named(schema, raw_facilities):
    table = f"{schema}.facilities"
    write_postgis_table(raw_facilities, table, index=False)
    with pytest.raises(SchemaError, match="does not exist"):
        read_postgis_layer("facilities", "cgcs2000", table=f"{schema}.nothing")
    with pytest.raises(SchemaError, match="syntax error"):
        read_postgis_layer("facilities", "cgcs2000", query=f"SELEC * FROM {table}")
    with pytest.raises(SchemaError, match="exactly one of"):
        read_postgis_layer("facilities", "cgcs2000")
    with pytest.raises(SchemaError, match="2 geometry columns"):
        read_postgis_layer("facilities", "cgcs2000",
                           query=f"SELECT *, ST_Buffer(geometry, 0.01) AS area FROM {table}")
    two = read_postgis_layer("facilities", "cgcs2000", geometry_column="geometry",
                             query=f"SELECT *, ST_Buffer(geometry, 0.01) AS area FROM {table}")
    assert len(two) == len(raw_facilities)
    with pytest.raises(SchemaError, match="several SRIDs"):
        read_postgis_layer("facilities", "cgcs2000", query=(
            f"SELECT facility_id, type, name, geometry FROM {table} WHERE facility_id < 'F5' "
            f"UNION ALL SELECT facility_id, type, name, ST_Transform(geometry, 4549) FROM {table} "
            "WHERE facility_id >= 'F5'"))
    with pytest.raises(DatabaseError, match="cannot connect"):
        read_postgis_layer("facilities", "cgcs2000", table=table,
                           dsn="host=/nonexistent-socket-dir port=1 dbname=x connect_timeout=2")


def test_a_dsn_given_in_code_needs_no_environment(schema, raw_facilities, monkeypatch):
    table = f"{schema}.facilities"
    write_postgis_table(raw_facilities.iloc[:10], table, index=False)
    entries = dict(line.split("=", 1) for line in SERVICE_FILE.read_text().splitlines()
                   if "=" in line)
    monkeypatch.delenv("PGSERVICE")
    monkeypatch.delenv("PGSERVICEFILE")
    dsn = " ".join(f"{k}={v}" for k, v in entries.items())
    assert len(read_postgis_layer("facilities", "cgcs2000", table=table, dsn=dsn)) == 10


def test_written_tables_keep_types_names_and_geometry(schema):
    frame = gpd.GeoDataFrame(
        {"覆盖率": [0.5, np.nan, 1.0], "人数": [10, 20, 30], "达标": [True, False, True],
         "名称": ["甲", None, "丙"],
         "日期": pd.to_datetime(["2025-01-01", "2025-06-30", None])},
        geometry=[shapely.Point(118.5, 24.7), None, shapely.Point(118.6, 24.8)], crs=4490,
        index=pd.Index(["u1", "u2", "u3"], name="code"))
    original = frame.copy()
    table = f"{schema}.结果"
    assert write_postgis_table(frame, table) == table
    pd.testing.assert_frame_equal(frame, original)  # the input is untouched
    rows = _sql(f'SELECT code, "覆盖率", "人数", "达标", "名称", "日期", ST_AsText(geometry) '
                f'FROM {schema}."结果" ORDER BY code')
    assert rows[0][:5] == ("u1", 0.5, 10, True, "甲")
    assert rows[1][1] is None  # NaN is written as NULL
    assert rows[1][4] is None
    assert rows[2][5] is None
    assert rows[1][6] is None
    assert rows[2][6] == "POINT(118.6 24.8)"
    assert _sql("SELECT type, srid FROM geometry_columns WHERE f_table_schema = %s",
                (schema,)) == [("POINT", 4490)]
    assert _sql(f"SELECT count(*) FROM pg_indexes WHERE schemaname = '{schema}' "
                "AND indexdef ILIKE '%gist%'") == [(1,)]
    with pytest.raises(OutputError, match="exists"):
        write_postgis_table(frame, table)
    write_postgis_table(frame.iloc[:1], table, if_exists="replace")
    assert _sql(f'SELECT count(*) FROM {schema}."结果"') == [(1,)]
    write_postgis_table(frame.iloc[1:], table, if_exists="append")
    assert _sql(f'SELECT count(*) FROM {schema}."结果"') == [(3,)]
    with pytest.raises(DatabaseError, match="duplicate key"):  # the index is the primary key
        write_postgis_table(frame.iloc[:1], table, if_exists="append")
    assert _sql(f'SELECT count(*) FROM {schema}."结果"') == [(3,)]  # nothing half written
    plain = pd.DataFrame({"a": [1, 2]})
    write_postgis_table(plain, f"{schema}.plain", index=False)
    assert _sql(f"SELECT a FROM {schema}.plain ORDER BY a") == [(1,), (2,)]
    with pytest.raises(OutputError, match="63 bytes"):
        write_postgis_table(pd.DataFrame({"很长的列名" * 5: [1]}), f"{schema}.long")
    with pytest.raises(OutputError, match="if_exists"):
        write_postgis_table(plain, f"{schema}.plain", if_exists="merge")


def test_facilities_and_units_from_postgis_run_and_results_go_back(schema, futian_graphml):
    """A coverage run whose facilities and units live in PostGIS, its table written back."""
    network = walk_network_from_file(futian_graphml, coords="wgs84",
                                     metric_epsg=gk_zone_epsg(114.02))
    rng = np.random.default_rng(5)
    lengths = network.edges["length_m"].to_numpy()
    e = rng.choice(len(lengths), 400, p=lengths / lengths.sum())
    xy = shapely.get_coordinates(shapely.line_interpolate_point(
        network.edge_lines[e], rng.random(400), normalized=True))
    facilities = gpd.GeoDataFrame(
        {"设施编号": [f"F{i:03d}" for i in range(20)], "类型": ["养老服务站"] * 20,
         "名称": [f"站{i}" for i in range(20)]},
        geometry=shapely.points(xy[:20]), crs=network.crs).to_crs(4326)
    x0, y0 = network.node_xy.min(axis=0) - 50
    x1, y1 = network.node_xy.max(axis=0) + 50
    xm = (x0 + x1) / 2
    units = gpd.GeoDataFrame(
        {"code": ["440304001", "440304002"], "name": ["园岭街道", "华富街道"],
         "level": ["town", "town"]},
        geometry=[shapely.box(x0, y0, xm, y1), shapely.box(xm, y0, x1, y1)],
        crs=network.crs).to_crs(4326)
    write_postgis_table(facilities, f"{schema}.facilities", index=False)
    write_postgis_table(units, f"{schema}.admin_units", index=False)
    window = gpd.GeoSeries([shapely.box(x0, y0, x1, y1)], crs=network.crs)
    fac = read_postgis_layer("facilities", "wgs84", table=f"{schema}.facilities",
                             window=window).to_crs(network.crs)
    towns = read_postgis_layer("admin_units", "wgs84", table=f"{schema}.admin_units",
                               window=window).to_crs(network.crs)
    assert set(fac["facility_type"]) == {"elderly_station"}  # Chinese headers and types mapped
    demand = gpd.GeoDataFrame({"pop": rng.integers(1, 50, 380).astype(float)},
                              geometry=shapely.points(xy[20:] + 15.0), crs=network.crs,
                              index=pd.Index([f"c{i}" for i in range(380)], name="cell_id"))
    table = coverage_by_unit(network, demand, fac, towns, measures=("pop",))
    nearest = nearest_facility_time(network, demand, fac)
    write_postgis_table(table, f"{schema}.coverage", index=False)
    write_postgis_table(demand.join(nearest), f"{schema}.nearest")
    back = pd.DataFrame(_sql(f"SELECT level, code, tier_min, pop_covered FROM {schema}.coverage "
                             "ORDER BY level, code, tier_min"),
                        columns=["level", "code", "tier_min", "pop_covered"])
    expected = table.sort_values(["level", "code", "tier_min"])
    np.testing.assert_allclose(back["pop_covered"], expected["pop_covered"])
    assert _sql(f"SELECT count(*), count(elderly_station_dist_m) FROM {schema}.nearest") == [
        (380, int(nearest["elderly_station_dist_m"].notna().sum()))]
