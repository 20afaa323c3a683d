"""A partitioned run whose admin units and facilities live in PostGIS.

The two-county synthetic study of ``test_partitions`` (石狮市 and 晋江市, real outlines and
census) with its units and facilities loaded into the test server of ``make postgis``: each
partition reads them through the SQL window (:func:`geoplan.study.read_study_layer`), and
the merged numbers must equal the single-process run from the files. Fails, never skips,
when the server is not running.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import geopandas as gpd
import pandas as pd
import psycopg
import pytest

from geoplan.datasets.province import write_province_study
from geoplan.io import write_postgis_table
from geoplan.study import load_study, read_study_config
from geoplan.study.partitions import coverage_single_process, run_partitioned_coverage

pytestmark = pytest.mark.xdist_group("postgis_partitions")

REPO = Path(__file__).resolve().parents[1]
SERVICE_FILE = REPO / ".cache" / "pg_service.conf"
COUNTIES = ("350581", "350582")
KEY = ["level", "code", "facility_type", "tier_min"]


@pytest.fixture(scope="module")
def studies(tmp_path_factory, shared_data):
    """The two-county study from files, and the same with units and facilities in PostGIS."""
    if not SERVICE_FILE.is_file():
        pytest.fail(f"no PostGIS test server ({SERVICE_FILE} missing): run `make postgis`")
    folder = tmp_path_factory.mktemp("pgprovince")
    files = write_province_study(folder, "35", counties=COUNTIES, cell_m=400.0,
                                 rural_spacing_m=900.0, urban_spacing_m=(220.0, 320.0),
                                 village_km2=25.0, shared=shared_data)
    text = files.read_text(encoding="utf-8").replace(
        "[compute]", "[compute]\nprocesses = false\nworkers = 2", 1)
    files.write_text(text, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD"):
            mp.delenv(var, raising=False)
        mp.setenv("PGSERVICEFILE", str(SERVICE_FILE))
        mp.setenv("PGSERVICE", "geoplan_test")
        try:
            conn = psycopg.connect("", autocommit=True)
        except psycopg.OperationalError as exc:
            pytest.fail(f"the PostGIS test server is not running ({exc}): run `make postgis`")
        schema = f"p_{uuid.uuid4().hex[:10]}"
        with conn:
            conn.execute(f"CREATE SCHEMA {schema}")
            for name, path in (("admin_units", "boundaries/admin_units.gpkg"),
                               ("facilities", "facilities/facilities.gpkg")):
                write_postgis_table(gpd.read_file(folder / path, layer=name),
                                    f"{schema}.{name}", index=False)
                old = f'[layers.{name}]\npath = "{path}"\nlayer = "{name}"\n'
                assert old in text
                text = text.replace(old, f'[layers.{name}]\ntable = "{schema}.{name}"\n')
            database = folder / "postgis.toml"
            database.write_text(text, encoding="utf-8")
            yield files, database
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(KEY).reset_index(drop=True)


def test_a_partitioned_run_from_postgis_equals_the_single_process_run(studies):
    files, database = studies
    config = read_study_config(database)
    assert config.layers["facilities"].in_database
    assert config.layers["admin_units"].in_database
    run = run_partitioned_coverage(database, max_partition_km2=250)
    assert any(p.level == "town" for p in run.partitions)  # 晋江市 split by its 镇街
    everything = len(load_study(database).facilities)
    read = run.stats["facilities"]  # each partition read its window from the table
    assert (read > 0).all()
    assert read.max() < everything
    single = coverage_single_process(load_study(files))
    assert single["pop_covered"].sum() > 0
    pd.testing.assert_frame_equal(_sorted(run.coverage), _sorted(single), check_dtype=False)
