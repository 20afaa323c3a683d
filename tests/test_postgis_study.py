"""A study whose units and facilities live in PostGIS: it runs, equals the file run, writes back.

Against the real PostgreSQL 15 + PostGIS 3 of ``make postgis`` (``make test`` starts it);
these tests fail, never skip, when it is not running. The small study (``small_study``)
is run twice: from its files, and with its 镇街, 社区/村 and facilities loaded into PostGIS
tables; the numbers must be the same, and the result tables written back must hold them.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely
import small_study as ss
from typer.testing import CliRunner

from geoplan.cli import app
from geoplan.errors import DatabaseError, OutputError, SchemaError, StudyConfigError
from geoplan.io import read_postgis_layer, write_postgis_table
from geoplan.study import read_study_config, read_study_kind, read_study_layer
from geoplan.study.pipeline import run_study
from geoplan.study.preflight import prepare_run

#: One worker runs the module (``make test`` runs ``-n 2 --dist loadgroup``), so the study
#: runs once per test session rather than once per worker.
pytestmark = pytest.mark.xdist_group("postgis_study")

REPO = Path(__file__).resolve().parents[1]
SERVICE_FILE = REPO / ".cache" / "pg_service.conf"
PG_ENV = {"PGSERVICEFILE": str(SERVICE_FILE), "PGSERVICE": "geoplan_test"}

FILE_STUDY = ss.STUDY_TOML.replace('profile = "fujian"', 'profile = "jinjiang"\n\n[coverage]'
                                   ).replace('path = "streets.gpkg"', 'path = "grid.gpkg"') + """
[boundary]

[siting]
n_candidates = 4

[siting.types.social_work_station]
new_sites = 2
"""


def _sql(query: str, params=None) -> list[tuple]:
    with psycopg.connect("") as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description is not None else []


@pytest.fixture(scope="module")
def server():
    """The test server through its service file; yields a fresh schema name, dropped after."""
    if not SERVICE_FILE.is_file():
        pytest.fail(f"no PostGIS test server ({SERVICE_FILE} missing): run `make postgis`")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD"):
            mp.delenv(var, raising=False)
        for var, value in PG_ENV.items():
            mp.setenv(var, value)
        try:
            conn = psycopg.connect("", autocommit=True)
        except psycopg.OperationalError as exc:
            pytest.fail(f"the PostGIS test server is not running ({exc}): run `make postgis`")
        name = f"s_{uuid.uuid4().hex[:10]}"
        with conn:
            conn.execute(f"CREATE SCHEMA {name}")
            yield name
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
            conn.execute(f"DROP SCHEMA IF EXISTS {name}_out CASCADE")


def _db_study(folder: Path, schema: str) -> str:
    """The small study with its 镇街, 社区/村 and facilities read from PostGIS tables."""
    text = FILE_STUDY
    for section, table, coords in (("towns", "towns", None), ("villages", "villages",
                                                                 "cgcs2000")):
        old = (f'[layers.{section}]\npath = "boundaries/units.gpkg"\nlayer = "{section}"\n'
               'coords = "cgcs2000"\n')
        assert old in text
        new = f'[layers.{section}]\ntable = "{schema}.{table}"\n'
        text = text.replace(old, new + (f'coords = "{coords}"\n' if coords else ""))
    old = '[layers.facilities]\npath = "facilities/facilities.gpkg"\ncoords = "cgcs2000"\n'
    assert old in text
    text = text.replace(old, f'[layers.facilities]\ntable = "{schema}.facilities"\n')
    return text + f'\n[output.postgis]\nschema = "{schema}_out"\n'


@pytest.fixture(scope="module")
def runs(server, tmp_path_factory):
    """The small study run from its files and from PostGIS (same numbers expected)."""
    folder = tmp_path_factory.mktemp("pgstudy")
    ss.build_study_files(folder)
    ss.build_grid_network(folder)
    units = folder / "boundaries" / "units.gpkg"
    write_postgis_table(gpd.read_file(units, layer="towns"), f"{server}.towns", index=False)
    write_postgis_table(gpd.read_file(units, layer="villages"), f"{server}.villages",
                        index=False)
    write_postgis_table(gpd.read_file(folder / "facilities" / "facilities.gpkg"),
                        f"{server}.facilities", index=False)
    (folder / "files.toml").write_text(FILE_STUDY, encoding="utf-8")
    (folder / "db.toml").write_text(_db_study(folder, server), encoding="utf-8")
    study, plan = prepare_run(folder / "files.toml")
    from_files = run_study(study, folder / "out_files", plan=plan)
    study, plan = prepare_run(folder / "db.toml")
    from_db = run_study(study, folder / "out_db", plan=plan)
    return folder, from_files, from_db, study


def test_the_study_from_postgis_equals_the_study_from_files(runs):
    _, from_files, from_db, study = runs
    assert study.facilities.attrs["geoplan"]["parts"][0]["source"].startswith("PostGIS table")
    assert len(study.towns) == 2
    assert len(study.villages) == 2
    pd.testing.assert_frame_equal(from_db.coverage, from_files.coverage)
    pd.testing.assert_frame_equal(from_db.nearest, from_files.nearest)
    pd.testing.assert_frame_equal(from_db.summary, from_files.summary)
    pd.testing.assert_frame_equal(from_db.standards, from_files.standards)
    pd.testing.assert_frame_equal(from_db.proposals["social_work_station"],
                                  from_files.proposals["social_work_station"])
    pd.testing.assert_frame_equal(from_db.inspection.findings, from_files.inspection.findings)
    assert len(from_db.inspection.findings) > 0
    assert from_db.coverage["pop_covered"].sum() > 0  # a run that computes something
    assert not from_files.tables


def test_the_results_are_written_back_as_tables(runs, server):
    folder, _, run, study = runs
    out = f"{server}_out"
    assert set(run.tables) >= {f"{out}.{t}" for t in (
        "coverage_by_unit", "nearest_by_cell", "uncovered_cells", "service_areas",
        "summary_by_town", "standards", "proposed_social_work_station",
        "siting_gain_social_work_station", "boundary_findings", "geoplan_run")}
    back = pd.DataFrame(_sql(f"SELECT level, code, facility_type, tier_min, pop_total, "
                             f"pop_covered FROM {out}.coverage_by_unit"),
                        columns=["level", "code", "facility_type", "tier_min", "pop_total",
                                 "pop_covered"])
    keys = ["level", "code", "facility_type", "tier_min"]
    expected = run.coverage[[*keys, "pop_total", "pop_covered"]].sort_values(keys)
    back = back.sort_values(keys)
    assert len(back) == len(expected) > 0
    np.testing.assert_allclose(back["pop_covered"], expected["pop_covered"])
    np.testing.assert_allclose(back["pop_total"], expected["pop_total"])
    cells = _sql(f"SELECT count(*), min(ST_SRID(geometry)) FROM {out}.uncovered_cells")[0]
    assert cells == (len(run.gaps), study.metric_epsg)
    assert _sql(f"SELECT count(*) FROM {out}.nearest_by_cell") == [(len(study.population),)]
    columns = {r[0] for r in _sql("SELECT column_name FROM information_schema.columns WHERE "
                                  "table_schema = %s AND table_name = 'summary_by_town'",
                                  (out,))}
    assert {"code", "pop", "elderly_station"} <= columns  # machine-readable names
    record = dict(zip(["study", "steps", "tables"], _sql(
        f"SELECT study, steps, tables FROM {out}.geoplan_run")[0], strict=True))
    assert record["study"] == study.name
    assert json.loads(record["steps"]) == ["coverage", "standards", "siting", "boundary"]
    assert _sql(f"SELECT count(*) FROM {out}.proposed_social_work_station") == [(2,)]
    assert _sql(f"SELECT count(*) FROM {out}.boundary_findings") == [
        (len(run.inspection.findings),)]
    assert "coverage_by_unit" in json.loads(record["tables"])
    comment = _sql("SELECT obj_description(%s::regclass)", (f"{out}.coverage_by_unit",))[0][0]
    assert json.loads(comment)["study"] == study.name
    assert (folder / "out_db" / "coverage.gpkg").is_file()  # the folder is written as well


def test_a_failed_write_back_keeps_the_earlier_tables_and_outputs(runs, server):
    folder, _, _, _ = runs
    out = f"{server}_out"
    _sql(f"COMMENT ON TABLE {out}.coverage_by_unit IS 'the earlier run'")
    manifest = (folder / "out_db" / "geoplan-manifest.json").read_text(encoding="utf-8")
    # a view on the last table written makes its replacement fail, after the others
    _sql(f"CREATE VIEW {out}.keeps_run AS SELECT * FROM {out}.geoplan_run")
    try:
        study, plan = prepare_run(folder / "db.toml")
        with pytest.raises(OutputError, match="cannot write the results to PostGIS"):
            run_study(study, folder / "out_db", plan=plan)
    finally:
        _sql(f"DROP VIEW {out}.keeps_run")
    assert _sql("SELECT obj_description(%s::regclass)", (f"{out}.coverage_by_unit",)) == [
        ("the earlier run",)]
    assert (folder / "out_db" / "geoplan-manifest.json").read_text(encoding="utf-8") == manifest


def test_a_window_reads_only_what_intersects_it_from_either_source(runs, server):
    folder, _, _, study = runs
    for name in ("facilities", "villages"):
        config = read_study_config(folder / "db.toml")
        everything = read_study_layer(config, name, to_crs=study.metric_epsg)
        west = study.towns.loc["350582001"].geometry
        got = read_study_layer(config, name, to_crs=study.metric_epsg,
                               window=gpd.GeoSeries([west], crs=study.metric_epsg))
        from_file = read_study_layer(folder / "files.toml", name, to_crs=study.metric_epsg,
                                     window=gpd.GeoSeries([west], crs=study.metric_epsg))
        expected = everything.index[everything.geometry.intersects(west)]
        assert 0 < len(expected) < len(everything) or name == "villages"
        assert sorted(got.index) == sorted(expected)
        assert sorted(from_file.index) == sorted(expected)
        assert got.attrs["geoplan"]["window"].startswith("pushed into SQL")
        assert from_file.attrs["geoplan"]["window"].startswith("bbox handed to GDAL")
    # a table (GCJ-02 Excel) and a raster are filtered after reading, with the same meaning
    west = gpd.GeoSeries([study.towns.loc["350582001"].geometry], crs=study.metric_epsg)
    for name in ("canteens", "population"):
        everything = read_study_layer(folder / "files.toml", name, to_crs=study.metric_epsg)
        got = read_study_layer(folder / "files.toml", name, to_crs=study.metric_epsg,
                               window=west)
        expected = everything.index[everything.geometry.intersects(west.iloc[0])]
        assert sorted(got.index) == sorted(expected), name
        assert "after reading" in got.attrs["geoplan"]["window"]
    # every facility layer of the study, from PostGIS and Excel, joined
    both = read_study_kind(folder / "db.toml", "facilities", to_crs=study.metric_epsg,
                           window=west)
    assert sorted(both.index) == ["C1", "S1"]
    assert set(both["source_layer"]) == {"facilities", "canteens"}
    # a bbox in the study CRS, as a partition would pass it
    x0, y0, x1, y1 = study.towns.loc["350582002"].geometry.bounds
    east = read_study_layer(folder / "db.toml", "facilities", to_crs=study.metric_epsg,
                            window=(x0 + 1, y0, x1, y1))
    assert list(east.index) == ["S2"]


def test_the_windowed_sql_uses_the_spatial_index(server, caplog):
    rng = np.random.default_rng(17)
    lon, lat = 118.50 + rng.random(20000) * 0.1, 24.74 + rng.random(20000) * 0.08
    points = gpd.GeoDataFrame(
        {"gid": np.arange(20000), "type": "居家养老服务站",
         "name": [f"站{i}" for i in range(20000)]},
        geometry=gpd.points_from_xy(lon, lat), crs=4490).set_index("gid")
    write_postgis_table(points, f"{server}.many")
    _sql(f"ANALYZE {server}.many")
    window = gpd.GeoSeries([shapely.Point(118.55, 24.78).buffer(0.004)], crs=4490).to_crs(4549)
    with caplog.at_level(logging.DEBUG, logger="geoplan.io.postgis"):
        got = read_postgis_layer("facilities", None, table=f"{server}.many", window=window)
    inside = points.geometry.intersects(window.to_crs(4490).iloc[0]).to_numpy()
    assert 0 < inside.sum() < 400
    # rows named by the primary key: no facility_id column, so gid is the id
    assert sorted(got.index) == sorted(str(i) for i in points.index[inside])
    shown = got.attrs["geoplan"]["sql"]  # the provenance names the window, not its WKB
    assert "<the window, " in shown
    assert len(shown) < 1000
    statement = next(r.args[1] for r in caplog.records if r.msg.startswith("SQL of"))
    assert statement.replace(statement.split("decode('")[1].split("'")[0],
                             "") == shown.replace(shown.split("decode('")[1].split("'")[0], "")
    assert "ST_Intersects" in statement
    assert "&&" in statement
    plan = "\n".join(r[0] for r in _sql("EXPLAIN " + statement))
    assert "Index" in plan, plan
    assert "many_geometry" in plan, plan
    assert "Seq Scan" not in plan, plan


def test_bad_database_layers_are_layer_problems_in_validate_and_run(runs, server):
    folder, _, _, _ = runs
    text = (folder / "db.toml").read_text(encoding="utf-8")
    missing = folder / "missing.toml"
    missing.write_text(text.replace(f'table = "{server}.facilities"',
                                    f'table = "{server}.no_such_table"'), encoding="utf-8")
    with pytest.raises(SchemaError, match=r"no_such_table.*does not exist"):
        prepare_run(missing)
    _sql(f"CREATE TABLE {server}.flat AS SELECT facility_id, type, name FROM "
         f"{server}.facilities")
    flat = folder / "flat.toml"
    flat.write_text(text.replace(f'table = "{server}.facilities"', f'table = "{server}.flat"'),
                    encoding="utf-8")
    with pytest.raises(SchemaError, match="0 geometry columns"):
        prepare_run(flat)
    down = folder / "down.toml"
    down.write_text(text.replace(f'table = "{server}.facilities"',
                                 f'table = "{server}.facilities"\n'
                                 'dsn = "host=/nonexistent-socket-dir port=1 dbname=x"'),
                    encoding="utf-8")
    with pytest.raises(DatabaseError, match=r"layers\.facilities.*cannot connect"):
        prepare_run(down)
    secret = folder / "secret.toml"
    secret.write_text(text.replace(f'table = "{server}.facilities"',
                                   f'table = "{server}.facilities"\n'
                                   'dsn = "postgresql://planner:hunter2@localhost/gis"'),
                      encoding="utf-8")
    with pytest.raises(StudyConfigError, match=r"layers\.facilities\.dsn: the dsn holds a "
                       r"password") as info:
        prepare_run(secret)
    assert "hunter2" not in str(info.value)
    runner = CliRunner()
    for study, expect in ((missing, "does not exist"), (down, "cannot connect"),
                          (secret, "holds a password")):
        for command in ("validate", "run"):
            args = [command, str(study)] + (["--out", str(folder / "cli_out")]
                                           if command == "run" else [])
            done = runner.invoke(app, args, env=PG_ENV)
            assert done.exit_code == 3, (command, study.name, done.output)
            assert expect in done.output
            assert "hunter2" not in done.output
    assert not (folder / "cli_out").exists()


def test_an_unreachable_output_database_stops_validate(runs, server):
    folder, _, _, _ = runs
    text = (folder / "db.toml").read_text(encoding="utf-8")
    bad = folder / "bad_output.toml"
    bad.write_text(text.replace(f'schema = "{server}_out"', f'schema = "{server}_out"\n'
                                'dsn = "host=/nonexistent-socket-dir port=1 dbname=x"'),
                   encoding="utf-8")
    with pytest.raises(StudyConfigError, match=r"output\.postgis: cannot connect"):
        prepare_run(bad)


def test_the_study_file_keeps_database_keys_and_credentials_apart(tmp_path):
    (tmp_path / "towns.gpkg").write_bytes(b"")  # exists; never read here

    def problems(layer: str) -> str:
        path = tmp_path / "study.toml"
        path.write_text('[study]\nname = "t"\nadmin_code = "350582"\n\n[layers.towns]\n'
                        + layer, encoding="utf-8")
        with pytest.raises(StudyConfigError) as info:
            read_study_config(path)
        return str(info.value)

    assert "layers.towns: give table or sql, not both" in problems(
        'table = "a.towns"\nsql = "SELECT * FROM a.towns"\n')
    assert "layers.towns.path: give path (a file) or table (a PostGIS layer), not both" in (
        problems('table = "a.towns"\npath = "towns.gpkg"\n'))
    assert "layers.towns.path: path is required" in problems('coords = "cgcs2000"\n')
    assert "sheet: for files only" in problems('table = "a.towns"\nsheet = "x"\n')
    assert "dsn: for a PostGIS layer" in problems(
        'path = "towns.gpkg"\ncoords = "cgcs2000"\ndsn = "service=x"\n')
    text = problems('table = "a.towns"\npassword = "hunter2"\n')
    assert "layers.towns.password: a password never goes in the study file" in text
    assert "hunter2" not in text
    text = problems('table = "a.towns"\ndsn = "host=db user=p password=hunter2"\n')
    assert "layers.towns.dsn: the dsn holds a password" in text
    assert "hunter2" not in text
    text = problems('table = "a.towns"\n\n[output.postgis]\nschema = "r"\n'
                    'dsn = "postgresql://p:hunter2@db/gis"\n')
    assert "output.postgis.dsn: the dsn holds a password" in text
    assert "hunter2" not in text
    assert "layers.towns.coords: coords is required" in problems('path = "nowhere.gpkg"\n')


def test_rows_without_an_id_are_named_by_the_primary_key(server):
    frame = gpd.GeoDataFrame(
        {"gid": [7, 8, 9], "类型": ["居家养老服务站", "不知道是什么", "长者食堂"],
         "名称": ["甲站", "乙站", "丙站"]},
        geometry=[shapely.Point(118.52, 24.78), shapely.Point(118.53, 24.78),
                  shapely.Point(118.54, 24.78)], crs=4490).set_index("gid")
    write_postgis_table(frame, f"{server}.keyed")
    with pytest.raises(SchemaError, match=r"row '8'.*不知道是什么"):
        read_postgis_layer("facilities", None, table=f"{server}.keyed")
    good = read_postgis_layer("facilities", None, query=f"SELECT * FROM {server}.keyed "
                              "WHERE gid <> 8")  # a query has no key: rows by number
    assert list(good.index) == ["F1", "F2"]


def test_a_table_with_a_multiindex_is_written_one_column_per_level(server):
    frame = pd.DataFrame({"pop": [1.0, 2.0]}, index=pd.MultiIndex.from_tuples(
        [("town", "350582001"), ("town", "350582002")], names=["level", None]))
    write_postgis_table(frame, f"{server}.levels")
    assert _sql(f"SELECT level, level_1, pop FROM {server}.levels ORDER BY level_1") == [
        ("town", "350582001", 1.0), ("town", "350582002", 2.0)]
