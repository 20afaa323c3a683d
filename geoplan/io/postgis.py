"""PostGIS as a layer source and sink: read a table or query inside a window, write tables.

:func:`read_postgis_layer` reads a layer from a PostGIS table or an SQL query, keeping only
the features that intersect a spatial window. The window is pushed into the SQL: it is
transformed to the coordinates the column stores (edges densified first, GCJ-02/BD-09
offsets applied for such layers) and compared with ``&&`` and ``ST_Intersects`` as a
constant geometry in the column's SRID, so the spatial index does the work. The layer then
goes through the same steps as a file (:func:`geoplan.io.read_layer`): the *declared*
coordinate system is required (the column's SRID, if set, must agree with it; SRID 0 means
"not stated"), headers are mapped, GCJ-02/BD-09 are undone, the layer is returned in
CGCS2000 (EPSG:4490) and every problem is reported at once.

:func:`write_postgis_table` writes a result frame (with or without geometry) as a table in
one transaction: a replaced table is swapped whole, never seen half written.

Connections: a ``dsn`` given in code (``"postgresql://host/db"``, ``"service=mine"``,
``"host=/run/postgresql dbname=gis"``) or, without one, libpq's environment: ``PGHOST``,
``PGPORT``, ``PGDATABASE``, ``PGUSER``, ``PGPASSWORD``, ``PGSERVICE`` with ``PGSERVICEFILE``
(or ``~/.pg_service.conf``) and ``~/.pgpass``. Credentials never come from a study file, and
no connection string is kept in a layer's provenance.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql
from psycopg.types.numeric import FloatLoader
from pyproj import CRS, Transformer

from geoplan.crs import BD09, CGCS2000, GCJ02, WGS84, parse_coords, wgs84_to_bd09, wgs84_to_gcj02
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
from geoplan.io.layers import _converted_layer, _vector_headers

logger = logging.getLogger(__name__)

__all__ = ["read_postgis_layer", "write_postgis_table"]

#: Window edges are cut into pieces of at most this share of the window's size before they
#: are transformed, so the curved image of a straight edge is followed closely.
WINDOW_DENSIFY = 1 / 256
_MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1
_WKB = "__geoplan_wkb"
_SRID = "__geoplan_srid"

Window = shapely.Geometry | gpd.GeoSeries | gpd.GeoDataFrame | tuple[float, float, float, float]


# --------------------------------------------------------------------------- connections
def _connect(dsn: str | None) -> psycopg.Connection:
    """Connect with ``dsn`` or libpq's environment (PG* variables, service file, .pgpass)."""
    try:
        conn = psycopg.connect(dsn or "")
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


def _storage_crs(declared: str, column_crs: CRS | None) -> CRS:
    """Return the CRS whose numbers the column holds (lon/lat for GCJ-02/BD-09 layers)."""
    if declared in (GCJ02, BD09):
        return CRS.from_epsg(4326)
    if column_crs is not None:
        return column_crs
    if declared == WGS84:
        return CRS.from_epsg(4326)
    if declared == CGCS2000:
        return CRS.from_epsg(4490)
    return CRS.from_user_input(declared)


def _window_geometry(window: Window, window_crs: str | int | None) -> tuple[Any, CRS]:
    """Return the window as one shapely geometry and its CRS."""
    if isinstance(window, gpd.GeoDataFrame | gpd.GeoSeries):
        if window.crs is None:
            raise CRSError("the window has no CRS; set one (e.g. the study's EPSG:4549)")
        if window_crs is not None and not CRS.from_user_input(window_crs).equals(window.crs):
            raise CRSError(f"window_crs={window_crs!r} contradicts the window's own CRS")
        return shapely.union_all(window.geometry.to_numpy()), CRS.from_user_input(window.crs)
    crs = CRS.from_user_input(window_crs if window_crs is not None else 4490)
    if isinstance(window, tuple | list) and len(window) == 4:
        xmin, ymin, xmax, ymax = (float(v) for v in window)
        if not (xmin <= xmax and ymin <= ymax):
            raise SchemaError("window", [Problem(f"bbox {tuple(window)} is not "
                                                 "(xmin, ymin, xmax, ymax)")])
        return shapely.box(xmin, ymin, xmax, ymax), crs
    if isinstance(window, shapely.Geometry):
        return window, crs
    raise SchemaError("window", [Problem("give a shapely geometry, a GeoSeries/GeoDataFrame "
                                         "or a bbox (xmin, ymin, xmax, ymax)")])


def _window_in_storage(window: Window, window_crs: str | int | None, declared: str,
                       column_crs: CRS | None) -> Any:
    """Return the window in the numbers the column stores (densified, transformed, offset)."""
    geom, crs = _window_geometry(window, window_crs)
    if geom is None or shapely.is_empty(geom) or not shapely.is_valid(geom):
        raise SchemaError("window", [Problem("the window is empty or not a valid geometry")])
    x0, y0, x1, y1 = shapely.bounds(geom)
    size = max(x1 - x0, y1 - y0)
    if size > 0:
        geom = shapely.segmentize(geom, size * WINDOW_DENSIFY)
    target = _storage_crs(declared, column_crs)
    if not crs.equals(target):
        transformer = Transformer.from_crs(crs, target, always_xy=True)
        geom = shapely.transform(geom, lambda xy: np.column_stack(
            transformer.transform(xy[:, 0], xy[:, 1])))
    if declared in (GCJ02, BD09):  # true lon/lat -> the offset numbers stored
        forward = wgs84_to_gcj02 if declared == GCJ02 else wgs84_to_bd09
        geom = shapely.transform(geom, lambda xy: np.column_stack(forward(xy[:, 0], xy[:, 1])))
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        raise CRSError("the window cannot be transformed to the layer's coordinates "
                       f"({target.name}); is its CRS right?")
    return shapely.make_valid(geom)


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


def _fetch(conn: psycopg.Connection, source: sql.Composable, what: str, declared: str,
           geometry_column: str | None, window: Window | None,
           window_crs: str | int | None) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
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
        where, params = sql.SQL(""), []
        info: dict[str, Any] = {"driver": "PostGIS", "geometry_column": geom_col,
                                "srid": srid, "database": conn.info.dbname}
        if window is not None:
            wkb = shapely.to_wkb(_window_in_storage(window, window_crs, declared, column_crs))
            where = sql.SQL(" WHERE {g} && ST_GeomFromWKB(%s, %s) "
                            "AND ST_Intersects({g}, ST_GeomFromWKB(%s, %s))").format(g=g)
            params = [wkb, srid, wkb, srid]
            info["window"] = "pushed into SQL (&& and ST_Intersects)"
        others = [sql.SQL("q.{}").format(sql.Identifier(d.name)) for d in description
                  if d.name != geom_col]
        select = sql.SQL(", ").join([*others, sql.SQL("ST_AsBinary({g}) AS {w}, "
                                                      "ST_SRID({g}) AS {s}").format(
            g=g, w=sql.Identifier(_WKB), s=sql.Identifier(_SRID))])
        cur.execute(sql.SQL("SELECT {sel} FROM ({src}) AS q{where}").format(
            sel=select, src=source, where=where), params)
        names = [d.name for d in cur.description]
        frame = pd.DataFrame(cur.fetchall(), columns=names)
    srids = pd.unique(frame.loc[frame[_WKB].notna(), _SRID])
    if len(srids) > 1:
        raise SchemaError(what, [Problem(f"geometries in several SRIDs ({sorted(srids)}); "
                                         "transform them to one in the query",
                                         column=geom_col)])
    geoms = shapely.from_wkb([None if b is None else bytes(b) for b in frame[_WKB]])
    frame = frame.drop(columns=[_WKB, _SRID])
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=column_crs), info


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
) -> gpd.GeoDataFrame:
    """Read, convert (once, to ``to_crs``; default EPSG:4490) and validate one PostGIS layer.

    Parameters
    ----------
    kind
        Layer kind, as for :func:`geoplan.io.read_layer` (``facilities``, ``admin_units``,
        ``population``, ``boundary_lines``, ``boundary_markers``, ``study_area``, …).
    coords
        Declared coordinate system of the stored numbers: ``"wgs84"``, ``"cgcs2000"``,
        ``"gcj02"``, ``"bd09"`` or ``"EPSG:n"``. Required; a column SRID other than 0 must
        agree with it (lon/lat SRIDs such as 4326 for GCJ-02/BD-09 numbers).
    table
        ``"table"`` or ``"schema.table"``.
    query
        Instead of ``table``: an SQL ``SELECT`` whose rows are the layer (it runs as a
        subquery, so the window filter reaches the table's index for simple queries).
    dsn
        Connection string; default: libpq's environment (``PGSERVICE``, ``PGHOST`` …).
    geometry_column
        The geometry column, when the source has several.
    window
        Keep only features intersecting this: a shapely geometry, a GeoSeries/GeoDataFrame
        (its CRS is used; several shapes are merged) or a bbox ``(xmin, ymin, xmax, ymax)``.
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

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:4490 with contract column names; ``attrs["geoplan"]`` holds the provenance
        (table or ``"query"``, database name, SRID, window; never the connection string).

    Raises
    ------
    CRSError
        If ``coords`` is missing or unknown, or contradicts the column's SRID, or the window
        has no CRS.
    SchemaError
        With every problem of the layer, or a missing table/column, bad SQL, no or several
        geometry columns, geometries in several SRIDs, a malformed window.
    DatabaseError
        If the database cannot be reached or refuses the query for another reason.
    """
    declared = parse_coords(coords)
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
            gdf, info = _fetch(conn, source, what, declared, geometry_column, window,
                               window_crs)
        except psycopg.Error as exc:
            raise _statement_error(exc, what) from None
    gdf, axes = _vector_headers(gdf, kind, columns, info)
    extra = {"table": table} if table is not None else {"query": query}
    with pointing_to_docs(layer_docs(kind)):
        return _converted_layer(gdf, kind, declared, what, info, [],
                                source=f"PostGIS {label}", study_area=study_area, vector=True,
                                extra=extra, to_crs=to_crs, axes=axes)


# --------------------------------------------------------------------------- writing
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
    when its values are unique. Everything happens in one transaction.

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
    data = frame.copy()
    key_col = None
    if index:  # the index as the first column, unless a column holds it already
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
    target = _qualified(table)
    key = key_col if key_col is not None and data[key_col].notna().all() \
        and data[key_col].is_unique else None
    with _connect(dsn) as conn:
        try:
            _write(conn, target, table, names, types, rows, if_exists, key)
        except psycopg.Error as exc:
            raise DatabaseError(f"writing {table}: {str(exc).strip()}") from None
    logger.info("wrote %d rows to PostGIS table %s", len(data), table)
    return table


def _write(conn: psycopg.Connection, target: sql.Composable, table: str, names: list[str],
           types: list[str], rows: Any, if_exists: str, key: str | None) -> None:
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
