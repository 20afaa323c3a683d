"""PostGIS as a layer source and sink: read a table or query inside a window, write tables.

:func:`read_postgis_layer` reads a layer from a PostGIS table or an SQL query, keeping only
the features that intersect a spatial window. The window is pushed into the SQL: it is
transformed to the coordinates the column stores (edges densified first, GCJ-02/BD-09
offsets applied for such layers; :mod:`geoplan.io._window`, shared with the file readers)
and compared with ``&&`` and ``ST_Intersects`` as a constant geometry in the column's SRID,
so the spatial index does the work. The layer then goes through the same steps as a file
(:func:`geoplan.io.read_layer`): the declared coordinate system, or without one the
column's SRID (SRID 0 means "not stated" and then needs a declaration; a declaration must
agree with a stated SRID), headers mapped, GCJ-02/BD-09 undone, the layer returned in
``to_crs`` and every problem reported at once, its rows named by the id column, else the
table's primary key, else the row number.

:func:`write_postgis_table` writes a result frame (with or without geometry) as a table in
one transaction: a replaced table is swapped whole, never seen half written.
:func:`write_postgis_tables` writes the tables of a run into one schema in one
transaction: all of them replace the earlier ones, or none does.

Connections: a ``dsn`` (``"postgresql://host/db"``, ``"service=mine"``,
``"host=/run/postgresql dbname=gis"``) or, without one, libpq's environment: ``PGHOST``,
``PGPORT``, ``PGDATABASE``, ``PGUSER``, ``PGPASSWORD``, ``PGSERVICE`` with ``PGSERVICEFILE``
(or ``~/.pg_service.conf``) and ``~/.pgpass``. A dsn holding a password is refused
(:func:`check_dsn`): credentials never come from a study file, and no connection string is
kept in a layer's provenance.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.numeric import FloatLoader
from pyproj import CRS

from geoplan._text import id_text
from geoplan.crs import parse_coords
from geoplan.errors import (
    CRSError,
    DatabaseError,
    GeoplanError,
    OutputError,
    Problem,
    SchemaError,
    layer_docs,
    pointing_to_docs,
)
from geoplan.io._headers import map_headers
from geoplan.io._tables import ID_PREFIX
from geoplan.io._window import Window, storage_crs, window_in
from geoplan.io.layers import _converted_layer, _declare_type, _vector_headers
from geoplan.schema.contracts import LAYER_CONTRACTS

logger = logging.getLogger(__name__)

__all__ = ["check_dsn", "postgis_target_problems", "read_postgis_layer", "write_postgis_table",
           "write_postgis_tables"]

_MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1
_WKB = "__geoplan_wkb"
_SRID = "__geoplan_srid"


#: Seconds to wait for a server that does not answer, unless the dsn or PGCONNECT_TIMEOUT say.
CONNECT_TIMEOUT_S = 10


# --------------------------------------------------------------------------- connections
def check_dsn(dsn: str | None) -> None:
    """Refuse a connection string that cannot be parsed or that holds a password.

    A password belongs in ``~/.pgpass``, ``PGPASSWORD`` or a service file
    (``PGSERVICEFILE``), never in a study file or code that is shared.

    Raises
    ------
    DatabaseError
        Naming what is wrong (never repeating the password).
    """
    if not dsn:
        return
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        msg = ("the dsn is not a PostgreSQL connection string; write it as "
               "\"service=name\", \"postgresql://host/dbname\" or \"host=... dbname=...\"")
        raise DatabaseError(msg) from None
    if params.get("password"):
        msg = ("the dsn holds a password: a password never goes in the study file or the "
               "dsn; put it in ~/.pgpass, the PGPASSWORD variable or a service file "
               "(PGSERVICEFILE/PGSERVICE) / 连接串中不得含密码")
        raise DatabaseError(msg)


def _connect(dsn: str | None) -> psycopg.Connection:
    """Connect with ``dsn`` or libpq's environment (PG* variables, service file, .pgpass)."""
    check_dsn(dsn)
    timeout = {} if "connect_timeout" in conninfo_to_dict(dsn or "") or os.environ.get(
        "PGCONNECT_TIMEOUT") else {"connect_timeout": CONNECT_TIMEOUT_S}
    try:
        conn = psycopg.connect(dsn or "", **timeout)
    except psycopg.Error as exc:
        where = "the given dsn" if dsn else "the PG* environment / service file"
        msg = (f"cannot connect to PostgreSQL with {where}: {str(exc).strip()}; set "
               "PGSERVICE (with a service file) or PGHOST/PGDATABASE/PGUSER, or pass dsn=")
        raise DatabaseError(msg) from None
    conn.adapters.register_loader("numeric", FloatLoader)  # numeric columns as floats
    return conn


def _qualified(name: str) -> sql.Composable:
    """``schema.table`` or ``table`` as a quoted SQL identifier."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise SchemaError("postgis", [Problem(f"table name {name!r}: give 'table' or "
                                              "'schema.table'")])
    return sql.Identifier(*parts)


def _statement_error(exc: psycopg.Error, what: str) -> GeoplanError:
    """Map a failed statement: missing table/column, bad SQL -> SchemaError; else DatabaseError."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn
                  | psycopg.errors.SyntaxError | psycopg.errors.UndefinedFunction
                  | psycopg.errors.InvalidSchemaName):
        return SchemaError(what, [Problem(text)])
    return DatabaseError(f"{what}: {text}")


# --------------------------------------------------------------------------- reading
def _crs_of_srid(cur: psycopg.Cursor, srid: int, what: str) -> CRS | None:
    if srid == 0:
        return None
    cur.execute("SELECT auth_name, auth_srid, srtext FROM spatial_ref_sys WHERE srid = %s",
                (srid,))
    row = cur.fetchone()
    if row is None:
        raise SchemaError(what, [Problem(f"SRID {srid} is not in spatial_ref_sys")])
    auth, code, wkt = row
    return CRS.from_epsg(code) if str(auth).upper() == "EPSG" else CRS.from_wkt(wkt)


def _geometry_column(description: list[Any], geometry_oid: int, wanted: str | None,
                     what: str) -> str:
    names = [d.name for d in description]
    geoms = [d.name for d in description if d.type_code == geometry_oid]
    if wanted is not None:
        if wanted not in names:
            raise SchemaError(what, [Problem("column missing", column=wanted)])
        if wanted not in geoms:
            raise SchemaError(what, [Problem("not a PostGIS geometry column", column=wanted)])
        return wanted
    if len(geoms) != 1:
        found = ", ".join(geoms) or "none"
        raise SchemaError(what, [Problem(f"{len(geoms)} geometry columns ({found}); name the "
                                         "layer's with geometry_column=")])
    return geoms[0]


def _declared_of_srid(srid: int, column_crs: CRS | None, what: str) -> str:
    """Return the declaration a column's SRID makes (``cgcs2000``, ``wgs84``, ``EPSG:n``)."""
    epsg = None if column_crs is None else column_crs.to_epsg()
    if srid == 0 or epsg is None:
        stated = "SRID 0 (not stated)" if srid == 0 else f"SRID {srid} (no EPSG code)"
        raise CRSError(f"{what}: the geometry column has {stated}; declare the layer's "
                       "coordinate system (coords = \"cgcs2000\", \"wgs84\", \"gcj02\", "
                       "\"EPSG:n\" …)")
    return parse_coords(f"EPSG:{epsg}")


def _primary_key(cur: psycopg.Cursor, table: str | None) -> str | None:
    """Return the one column of a table's primary key (``None`` for a query or a composite key)."""
    if table is None:
        return None
    cur.execute("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = "
                "i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indisprimary AND "
                "i.indrelid = to_regclass(%s)", (_qualified(table).as_string(cur),))
    rows = cur.fetchall()
    return rows[0][0] if len(rows) == 1 else None


def _fetch(conn: psycopg.Connection, source: sql.Composable, what: str, declared: str | None,
           geometry_column: str | None, window: Window | None,
           window_crs: str | int | None, table: str | None,
           ) -> tuple[gpd.GeoDataFrame, dict[str, Any], str]:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regtype('geometry')::oid")
        geometry_oid = cur.fetchone()[0]
        if geometry_oid is None:
            raise SchemaError(what, [Problem("the database has no PostGIS "
                                             "(CREATE EXTENSION postgis)")])
        cur.execute(sql.SQL("SELECT * FROM ({}) AS q LIMIT 0").format(source))
        description = list(cur.description)
        geom_col = _geometry_column(description, geometry_oid, geometry_column, what)
        g = sql.SQL("q.{}").format(sql.Identifier(geom_col))
        cur.execute(sql.SQL("SELECT ST_SRID({g}) FROM ({src}) AS q WHERE {g} IS NOT NULL "
                            "LIMIT 1").format(g=g, src=source))
        row = cur.fetchone()
        srid = int(row[0]) if row else 0
        column_crs = _crs_of_srid(cur, srid, what)
        if declared is None:
            declared = _declared_of_srid(srid, column_crs, what)
        info: dict[str, Any] = {"driver": "PostGIS", "geometry_column": geom_col,
                                "srid": srid, "database": conn.info.dbname,
                                "primary_key": _primary_key(cur, table)}
        others = [sql.SQL("q.{}").format(sql.Identifier(d.name)) for d in description
                  if d.name != geom_col]
        select = sql.SQL(", ").join([*others, sql.SQL("ST_AsBinary({g}) AS {w}, "
                                                      "ST_SRID({g}) AS {s}").format(
            g=g, w=sql.Identifier(_WKB), s=sql.Identifier(_SRID))])

        def statement(wkb_hex: str | None) -> sql.Composed:
            where = sql.SQL("")
            if wkb_hex is not None:
                shape = sql.SQL("ST_GeomFromWKB(decode({}, 'hex'), {})").format(
                    sql.Literal(wkb_hex), sql.Literal(srid))
                where = sql.SQL(" WHERE {g} && {w} AND ST_Intersects({g}, {w})").format(
                    g=g, w=shape)
            return sql.SQL("SELECT {sel} FROM ({src}) AS q{where}").format(
                sel=select, src=source, where=where)

        wkb_hex = shown = None
        if window is not None:
            stored = window_in(window, window_crs, declared, storage_crs(declared, column_crs))
            wkb_hex = shapely.to_wkb(stored, hex=True)
            shown = f"<the window, {shapely.get_num_coordinates(stored)} vertices>"
            info["window"] = "pushed into SQL (&& and ST_Intersects)"
        run = statement(wkb_hex)
        info["sql"] = statement(shown).as_string(conn)  # the window elided: provenance
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("SQL of %s: %s", what, run.as_string(conn))
        cur.execute(run)
        names = [d.name for d in cur.description]
        frame = pd.DataFrame(cur.fetchall(), columns=names)
    srids = pd.unique(frame.loc[frame[_WKB].notna(), _SRID])
    if len(srids) > 1:
        raise SchemaError(what, [Problem(f"geometries in several SRIDs ({sorted(srids)}); "
                                         "transform them to one in the query",
                                         column=geom_col)])
    geoms = shapely.from_wkb([None if b is None else bytes(b) for b in frame[_WKB]])
    frame = frame.drop(columns=[_WKB, _SRID])
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=column_crs), info, declared


def _key_as_id(gdf: gpd.GeoDataFrame, kind: str, columns: Mapping[str, str] | None,
               key: str | None) -> gpd.GeoDataFrame:
    """Use a table's primary key as the layer's id when no column names the id (rows by key)."""
    id_col = LAYER_CONTRACTS[kind].id_column if kind in LAYER_CONTRACTS else None
    if key is None or id_col is None or id_col in gdf.columns or key not in gdf.columns:
        return gdf
    renames, _ = map_headers(list(gdf.columns), kind, dict(columns or {}))
    if id_col in renames.values() or kind not in ID_PREFIX:
        return gdf  # a column holds the id, or the id is meaningful (an admin code …)
    out = gdf.copy()
    out.insert(0, id_col, [id_text(v) for v in gdf[key].astype(object)])
    return out


def read_postgis_layer(
    kind: str,
    coords: str | int | None,
    *,
    table: str | None = None,
    query: str | None = None,
    dsn: str | None = None,
    geometry_column: str | None = None,
    window: Window | None = None,
    window_crs: str | int | None = None,
    columns: Mapping[str, str] | None = None,
    study_area: gpd.GeoDataFrame | None = None,
    to_crs: str | int | None = None,
    facility_type: str | None = None,
    type_aliases: Mapping[str, str] | None = None,
) -> gpd.GeoDataFrame:
    """Read, convert (once, to ``to_crs``; default EPSG:4490) and validate one PostGIS layer.

    Parameters
    ----------
    kind
        Layer kind, as for :func:`geoplan.io.read_layer` (``facilities``, ``admin_units``,
        ``population``, ``boundary_lines``, ``boundary_markers``, ``study_area``, …).
    coords
        Declared coordinate system of the stored numbers: ``"wgs84"``, ``"cgcs2000"``,
        ``"gcj02"``, ``"bd09"`` or ``"EPSG:n"``; a column SRID other than 0 must agree with
        it (lon/lat SRIDs such as 4326 for GCJ-02/BD-09 numbers). ``None``: the geometry
        column's SRID is the declaration (EPSG:4490 is ``cgcs2000``, 4326 ``wgs84``); a
        column with SRID 0 then needs ``coords``.
    table
        ``"table"`` or ``"schema.table"``. Its one-column primary key names the rows of
        facilities, population cells, projects … that have no id column of their own.
    query
        Instead of ``table``: an SQL ``SELECT`` whose rows are the layer (it runs as a
        subquery, so the window filter reaches the table's index for simple queries).
    dsn
        Connection string without a password (``"service=mine"``, ``"postgresql://host/db"``,
        ``"host=/run/postgresql dbname=gis"``); default: libpq's environment
        (``PGSERVICE``, ``PGHOST`` …).
    geometry_column
        The geometry column, when the source has several.
    window
        Keep only features intersecting this: a shapely geometry, a GeoSeries/GeoDataFrame
        (its CRS is used; several shapes are merged) or a bbox ``(xmin, ymin, xmax, ymax)``.
        It is pushed into the SQL (``&&`` and ``ST_Intersects`` against the window in the
        column's SRID), so the spatial index does the work.
    window_crs
        CRS of a bare geometry or bbox window (default EPSG:4490, the CRS layers are
        returned in).
    columns
        ``{header in the table: contract name}`` overriding the built-in synonyms.
    study_area
        If given, facilities and population outside it are reported.
    to_crs
        The CRS to return the layer in (the study's metric CRS), as in
        :func:`geoplan.io.read_layer`.
    facility_type, type_aliases
        Facilities only, as in :func:`geoplan.io.read_layer`.

    Returns
    -------
    geopandas.GeoDataFrame
        In ``to_crs`` with contract column names; ``attrs["geoplan"]`` holds the provenance
        (table or ``"query"``, database name, SRID, primary key, window, the SQL run with
        the window's geometry elided — logged whole at DEBUG level; never the connection
        string).

    Raises
    ------
    CRSError
        If ``coords`` is unknown, contradicts the column's SRID, or is missing for a column
        with SRID 0, or the window has no CRS.
    SchemaError
        With every problem of the layer, or a missing table/column, bad SQL, no or several
        geometry columns, geometries in several SRIDs, a malformed window.
    DatabaseError
        If the database cannot be reached or refuses the query for another reason, or
        ``dsn`` holds a password.
    """
    declared = None if coords is None else parse_coords(coords)
    if (table is None) == (query is None):
        raise SchemaError(kind, [Problem("give exactly one of table= or query=")])
    if table is not None:
        source = sql.SQL("SELECT * FROM {}").format(_qualified(table))
        label = f"table {table}"
    else:
        source = sql.SQL(query.strip().rstrip(";"))  # the caller's own SQL, by design
        label = "query"
    what = f"{kind} (PostGIS {label})"
    with _connect(dsn) as conn:
        try:
            gdf, info, declared = _fetch(conn, source, what, declared, geometry_column, window,
                                         window_crs, table)
        except psycopg.Error as exc:
            raise _statement_error(exc, what) from None
    gdf = _key_as_id(gdf, kind, columns, info["primary_key"])
    gdf, axes = _vector_headers(gdf, kind, columns, info)
    if facility_type is not None:
        gdf = _declare_type(gdf, facility_type, type_aliases, info, what)
    extra = {"table": table} if table is not None else {"query": query}
    with pointing_to_docs(layer_docs(kind)):
        return _converted_layer(gdf, kind, declared, what, info, [],
                                source=f"PostGIS {label}", study_area=study_area, vector=True,
                                extra=extra, type_aliases=type_aliases, to_crs=to_crs,
                                axes=axes)


# --------------------------------------------------------------------------- writing
def postgis_target_problems(schema: str, *, dsn: str | None = None) -> list[str]:
    """Return why tables could not be written into ``schema`` (an empty list: they can).

    Checks that the database answers, has PostGIS, and lets the user create tables in the
    schema (or create the schema, when it does not exist yet). Writes nothing.
    """
    try:
        with _connect(dsn) as conn:
            ok_postgis = conn.execute("SELECT to_regtype('geometry') IS NOT NULL").fetchone()[0]
            exists = conn.execute("SELECT to_regnamespace(%s) IS NOT NULL",
                                  (sql.Identifier(schema).as_string(conn),)).fetchone()[0]
            if exists:
                may = conn.execute("SELECT has_schema_privilege(%s, 'CREATE')",
                                   (schema,)).fetchone()[0]
            else:
                may = conn.execute("SELECT has_database_privilege(current_database(), "
                                   "'CREATE')").fetchone()[0]
    except (DatabaseError, psycopg.Error) as exc:
        return [str(exc).strip()]
    problems = [] if ok_postgis else ["the database has no PostGIS (CREATE EXTENSION postgis)"]
    if not may:
        what = f"create tables in schema {schema}" if exists else f"create schema {schema}"
        problems.append(f"the database user may not {what}")
    return problems


def _sql_type(series: pd.Series) -> str:
    dtype = series.dtype
    if isinstance(dtype, gpd.array.GeometryDtype):
        return "geometry"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(dtype):
        return "double precision"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "timestamptz"
    if pd.api.types.is_datetime64_dtype(dtype):
        return "timestamp"
    return "text"


def _geometry_sql_type(series: gpd.GeoSeries, name: str) -> tuple[str, int]:
    srid = 0
    if series.crs is not None:
        epsg = CRS.from_user_input(series.crs).to_epsg()
        if epsg is None:
            raise OutputError(f"column {name!r}: its CRS has no EPSG code ({series.crs.name}); "
                              "project it to an EPSG CRS before writing")
        srid = int(epsg)
    kinds = pd.unique(series.geom_type.dropna())
    kind = kinds[0] if len(kinds) == 1 else "Geometry"
    return f"geometry({kind}, {srid})", srid


def _column_values(series: pd.Series, sql_type: str, srid: int) -> list[Any]:
    """Python values for COPY: None for missing, EWKB hex for geometries."""
    if sql_type.startswith("geometry"):
        geoms = shapely.set_srid(np.asarray(series.array, dtype=object), srid)
        hexes = shapely.to_wkb(geoms, hex=True, include_srid=True)
        return [None if h is None else h for h in hexes]
    missing = series.isna().to_numpy()
    if sql_type == "text":
        values = [str(v) for v in series.to_numpy(dtype=object)]
    elif sql_type in ("timestamp", "timestamptz"):
        values = list(series.dt.to_pydatetime())
    else:
        values = series.to_numpy(dtype=object).tolist()
    return [None if m else v for v, m in zip(values, missing, strict=True)]


def write_postgis_table(
    frame: pd.DataFrame,
    table: str,
    *,
    dsn: str | None = None,
    if_exists: str = "fail",
    index: bool = True,
) -> str:
    """Write a frame (a GeoDataFrame or a plain table) to PostGIS as a table.

    Column types follow the data: booleans, integers (``bigint``), floats (``double
    precision``; NaN becomes NULL), datetimes, text (anything else, as text), geometries
    (``geometry(type, srid)`` with the layer's EPSG code as SRID, and a GiST index). The
    frame's index becomes the first column (named after the index, or ``id``), unless a
    column already holds it (a layer's ``facility_id``, ``code`` …), and is the primary key
    when its values are unique (a MultiIndex becomes one column per level). Everything
    happens in one transaction.

    Parameters
    ----------
    frame
        The frame to write (not modified).
    table
        ``"table"`` or ``"schema.table"`` (the schema must exist).
    dsn
        Connection string; default: libpq's environment (``PGSERVICE``, ``PGHOST`` …).
    if_exists
        ``"fail"`` (default), ``"replace"`` (the old table is swapped for the new one in
        the same transaction) or ``"append"`` (rows added to the existing table).
    index
        Write the index as a column (the default); ``False`` leaves it out.

    Returns
    -------
    str
        The table written, as given.

    Raises
    ------
    OutputError
        If the table exists and ``if_exists="fail"``, ``if_exists`` is unknown, a column
        name is empty, repeated or longer than PostgreSQL's 63 bytes, or a CRS has no EPSG
        code.
    DatabaseError
        If the database cannot be reached or refuses the write (nothing is written then).
    """
    if if_exists not in ("fail", "replace", "append"):
        raise OutputError(f"if_exists must be 'fail', 'replace' or 'append', got {if_exists!r}")
    prepared = _prepared(frame, table, index)
    with _connect(dsn) as conn:
        try:
            _write(conn, _qualified(table), table, *prepared, if_exists=if_exists)
        except psycopg.Error as exc:
            raise DatabaseError(f"writing {table}: {str(exc).strip()}") from None
    logger.info("wrote %d rows to PostGIS table %s", len(frame), table)
    return table


def write_postgis_tables(
    frames: Mapping[str, pd.DataFrame],
    schema: str,
    *,
    dsn: str | None = None,
    comment: str | None = None,
) -> list[str]:
    """Write several frames as tables of one schema in one transaction: all of them, or none.

    The schema is created if missing. Each table replaces an earlier one of the same name,
    inside the same transaction, so readers see the earlier tables until every new one is
    written and then all the new ones at once; a failure leaves the earlier tables as they
    were. Tables of the schema that are not in ``frames`` are left alone.

    Parameters
    ----------
    frames
        ``{table name: frame}`` (names without the schema); each written as
        :func:`write_postgis_table` would (the index as a column unless a column holds it,
        a RangeIndex left out).
    schema
        The schema to write into.
    dsn
        Connection string without a password; default: libpq's environment.
    comment
        Set as the comment of every table written (``COMMENT ON TABLE``), e.g. the run's
        provenance as JSON.

    Returns
    -------
    list of str
        The tables written, as ``schema.table``.

    Raises
    ------
    OutputError
        If a name is not valid, or a frame cannot be written (see :func:`write_postgis_table`).
    DatabaseError
        If the database cannot be reached or refuses a statement (nothing is written then).
    """
    if not frames:
        raise OutputError("write_postgis_tables: no tables to write")
    names = [f"{schema}.{name}" for name in frames]
    prepared = [_prepared(frame, table, not isinstance(frame.index, pd.RangeIndex))
                for table, frame in zip(names, frames.values(), strict=True)]
    with _connect(dsn) as conn:  # one transaction, committed when the block ends
        try:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(schema)))
            for table, args in zip(names, prepared, strict=True):
                _write(conn, _qualified(table), table, *args, if_exists="replace")
                if comment is not None:
                    conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(
                        _qualified(table), sql.Literal(comment)))
        except psycopg.Error as exc:
            raise DatabaseError(f"writing the tables of schema {schema}: "
                                f"{str(exc).strip()}") from None
    logger.info("wrote %d tables to PostGIS schema %s", len(names), schema)
    return names


def _prepared(frame: pd.DataFrame, table: str, index: bool
              ) -> tuple[list[str], list[str], Any, str | None]:
    """Return a frame's column names, SQL types, rows for COPY and primary key column."""
    data = frame.copy()
    key_col = None
    if index and isinstance(data.index, pd.MultiIndex):  # its levels as the first columns
        names = [n if n is not None else f"level_{i}" for i, n in enumerate(data.index.names)]
        data = data.reset_index(names=names)
    elif index:  # the index as the first column, unless a column holds it already
        key_col = "id" if data.index.name is None else str(data.index.name)
        if data.index.name is None:
            geom = data.geometry.name if isinstance(data, gpd.GeoDataFrame) else None
            ids = pd.Series(data.index, index=data.index, dtype=object)
            same = [c for c in data.columns if c != geom and data[c].astype(object).equals(ids)]
            key_col = str(same[0]) if same else key_col
        if key_col not in data.columns:
            data = data.reset_index(names=key_col)
    names = [str(c) for c in data.columns]
    bad = [n for n in names if not n or len(n.encode("utf-8")) > _MAX_IDENTIFIER_BYTES]
    dup = sorted({n for n in names if names.count(n) > 1})
    if bad or dup:
        raise OutputError(f"cannot write {table}: column names must be 1-63 bytes and unique "
                          f"(too long or empty: {bad}; repeated: {dup})")
    types, srids = [], []
    for col in data.columns:
        t = _sql_type(data[col])
        srid = 0
        if t == "geometry":
            t, srid = _geometry_sql_type(gpd.GeoSeries(data[col]), str(col))
        types.append(t)
        srids.append(srid)
    rows = zip(*[_column_values(data[c], t, s)
                 for c, t, s in zip(data.columns, types, srids, strict=True)], strict=True)
    key = key_col if key_col is not None and data[key_col].notna().all() \
        and data[key_col].is_unique else None
    return names, types, rows, key


def _write(conn: psycopg.Connection, target: sql.Composable, table: str, names: list[str],
           types: list[str], rows: Any, key: str | None, *, if_exists: str) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (target.as_string(conn),))
        exists = cur.fetchone()[0]
        if exists and if_exists == "fail":
            raise OutputError(f"table {table} exists; pass if_exists='replace' or 'append'")
        if not exists or if_exists == "replace":
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
            cols = [sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t))
                    for n, t in zip(names, types, strict=True)]
            if key is not None:
                cols.append(sql.SQL("PRIMARY KEY ({})").format(sql.Identifier(key)))
            cur.execute(sql.SQL("CREATE TABLE {} ({})").format(target, sql.SQL(", ").join(cols)))
        copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
            target, sql.SQL(", ").join(sql.Identifier(n) for n in names))
        with cur.copy(copy) as out:
            for row in rows:
                out.write_row(row)
        if not exists or if_exists == "replace":
            for n, t in zip(names, types, strict=True):
                if t.startswith("geometry"):
                    cur.execute(sql.SQL("CREATE INDEX ON {} USING gist ({})").format(
                        target, sql.Identifier(n)))
