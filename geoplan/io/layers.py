"""Reading and writing layers: GeoPackage, GeoJSON, Shapefile, Excel, CSV, GeoTIFF.

Every reader takes the layer's *declared* coordinate system (``coords``: ``"wgs84"``,
``"cgcs2000"``, ``"gcj02"``, ``"bd09"`` or ``"EPSG:n"``; undeclared is a
:class:`~geoplan.errors.CRSError`, never a guess), maps Chinese and English headers to the
contract names (经度 → lon, 名称 → name, 床位数 → beds …; see :mod:`geoplan.io._headers`),
converts the numbers once, straight to ``to_crs`` (the study's metric CRS; default CGCS2000
lon/lat EPSG:4490; GCJ-02/BD-09 offsets removed; a layer already in ``to_crs`` is left bit
for bit as read) and validates the layer against its contract
(:func:`geoplan.schema.validate_layer`), reporting every problem at once. Provenance (file,
declared coordinates, conversion, encoding, header mapping) is kept in
``gdf.attrs["geoplan"]``.

Shapefiles without a ``.cpg`` whose ``.dbf`` is GBK (the usual Chinese-Windows export) are
detected by their garbled text and re-read as GBK, with a warning (also inside a ``.zip``);
field names cut at the 10-byte limit (``facility_i``, ``行政区划代``) are recognised. A GeoJSON
file without a ``"crs"`` member has no CRS of its own (GDAL's WGS 84 default is not taken for
a declaration); opening vector files is :mod:`geoplan.io._vectors`. Numbers that cannot be in
the declared system are refused with their rows: metres declared as degrees, degrees
declared as metres, and Gauss-Krüger eastings whose zone prefix does not match the CRS.
Boundary markers are the exception: a bad row is kept and noted (see
:func:`read_boundary_markers`; :mod:`geoplan.io._markers` for marker point layers).

Writes go through :func:`atomic_write`: a temporary file in the target folder, moved into
place only when complete, so a failed run never leaves a truncated output.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS, Transformer

from geoplan._text import id_text
from geoplan.crs import CGCS2000_EPSG, from_declared, parse_coords, same_crs, to_metric
from geoplan.errors import OutputError, Problem, SchemaError, layer_docs, pointing_to_docs
from geoplan.io import _headers, _tables
from geoplan.io._coordinate_checks import (
    conversion_note,
    crs_label,
    numbers_problems,
    unconverted_problems,
)
from geoplan.io._markers import _keep_marker_rows, _vector_markers
from geoplan.io._vectors import _read_vector
from geoplan.io._window import Window, keep_in_window, storage_crs, window_in
from geoplan.io.atomic import atomic_write
from geoplan.schema import FACILITY_TYPES, facility_type_key
from geoplan.schema.contracts import LAYER_CONTRACTS, unique_labels, validate_layer

__all__ = [
    "read_admin_units",
    "read_boundary_lines",
    "read_boundary_markers",
    "read_facilities",
    "read_inspection_rounds",
    "read_layer",
    "read_population",
    "read_table",
    "reproject_layer",
    "write_layers_gpkg",
]

logger = logging.getLogger(__name__)

TABLE_SUFFIXES = (".xlsx", ".xlsm", ".csv", ".txt")
RASTER_SUFFIXES = (".tif", ".tiff")
_MARKER_XY = (("x_reg", "y_reg"), ("x_obs", "y_obs"), ("x_geom", "y_geom"))
POPULATION_BANDS = ("pop", "households", "pop_60plus", "pop_80plus")


# --------------------------------------------------------------------------- writing
def _index_is_id(df: pd.DataFrame) -> bool:
    index = pd.Index(df.index).astype(str)
    return any(c.id_column in df.columns
               and np.array_equal(df[c.id_column].astype(str).to_numpy(), index.to_numpy())
               for c in LAYER_CONTRACTS.values() if c.id_column)


def write_layers_gpkg(layers: Mapping[str, pd.DataFrame], path: str | os.PathLike[str], *,
                      metadata: Mapping[str, Any] | None = None) -> Path:
    """Write several layers (and plain tables) into one GeoPackage, atomically.

    Parameters
    ----------
    layers
        ``{layer name: GeoDataFrame or DataFrame}``; DataFrames become attribute tables.
        A string-id index that repeats the contract id column is not written twice.
    path
        Output ``.gpkg``; replaced as a whole only when every layer is written.
    metadata
        Layer metadata as text, either ``{layer name: {key: value}}`` or one ``{key: value}``
        applied to every layer, e.g. ``{"synthetic": "true", "source": "make_demo.py"}``.
        Each layer's ``attrs["geoplan"]`` provenance is added under ``"geoplan"`` (JSON).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    OutputError
        If ``layers`` is empty.
    """
    if not layers:
        msg = "write_layers_gpkg: no layers to write"
        raise OutputError(msg)
    metadata = dict(metadata or {})
    per_layer = all(isinstance(v, Mapping) for v in metadata.values()) and metadata
    with atomic_write(path) as tmp:
        for name, frame in layers.items():
            meta = dict(metadata.get(name, {}) if per_layer else metadata)
            if frame.attrs.get("geoplan"):
                meta.setdefault("geoplan", json.dumps(frame.attrs["geoplan"], ensure_ascii=False,
                                                      default=str))
            meta = {str(k): str(v) for k, v in meta.items()} or None
            index = False if _index_is_id(frame) or isinstance(frame.index, pd.RangeIndex) else None
            if isinstance(frame, gpd.GeoDataFrame):
                frame.to_file(tmp, layer=name, driver="GPKG", index=index, layer_metadata=meta)
            else:
                table = frame if index is False else frame.reset_index()
                pyogrio.write_dataframe(table, tmp, layer=name, driver="GPKG",
                                        layer_metadata=meta)
    logger.info("wrote %d layer(s) to %s", len(layers), path)
    return Path(path)


# --------------------------------------------------------------------------- row labels
def _row_labels(gdf: pd.DataFrame, kind: str) -> list[str]:
    id_col = LAYER_CONTRACTS[kind].id_column
    ids = [id_text(v) for v in gdf[id_col].astype(object)] if id_col in gdf.columns else []
    if kind == "boundary_markers":  # unique, as validate_layer labels them
        return unique_labels(ids or [None] * len(gdf), gdf.index)
    return [i if i is not None else f"#{pos}" for pos, i in enumerate(ids)] or [
        f"#{pos}" for pos in range(len(gdf))]


# --------------------------------------------------------------------------- read_layer
def read_layer(path: str | os.PathLike[str], kind: str, coords: str | int | None, *,
               layer: str | int | None = None, sheet: str | int | None = None,
               encoding: str | None = None, columns: Mapping[str, str] | None = None,
               x_axis: str | None = None,
               study_area: gpd.GeoDataFrame | None = None,
               facility_type: str | None = None,
               type_aliases: Mapping[str, str] | None = None,
               to_crs: CRS | int | str | None = None,
               window: Window | None = None,
               window_crs: str | int | None = None) -> gpd.GeoDataFrame:
    """Read, convert (once, straight to ``to_crs``) and validate one layer.

    Parameters
    ----------
    path
        ``.gpkg``, ``.geojson``/``.json``, ``.shp`` (or any GDAL vector format), ``.xlsx``,
        ``.csv``. Tables hold points in coordinate columns (经度/纬度, lng/lat, X/Y …).
    kind
        Layer kind: ``facilities``, ``admin_units``, ``population``, ``boundary_lines``,
        ``boundary_markers``, ``study_area``, ``projects``.
    coords
        Declared coordinate system: ``"wgs84"``, ``"cgcs2000"``, ``"gcj02"``, ``"bd09"`` or
        ``"EPSG:n"``. Required.
    layer
        Layer name (or number) inside a GeoPackage; needed when the file holds several
        spatial layers and none is named after ``kind``.
    sheet
        Excel sheet name or number (default: the first sheet).
    encoding
        Force a text encoding (Shapefile ``.dbf``, CSV); by default a ``.cpg`` is trusted,
        a garbled Shapefile is re-read as GBK with a warning, and CSV is UTF-8 or GBK.
    columns
        ``{header in the file: contract name}`` overriding the built-in synonyms.
    x_axis
        For projected tables: ``"north"`` if column X holds the northing (survey
        convention), ``"east"`` otherwise. Needed only when neither the headers nor the
        magnitudes tell.
    study_area
        If given, facilities and population outside it are reported.
    facility_type
        Facilities only: the one type of every row (a key such as ``"senior_canteen"`` or a
        name such as ``"长者食堂"``). The file's own 类型 column, if any, is then kept as it
        is under its header and not read as the type.
    type_aliases
        Facilities only: the study's own type names, ``{name: key}``.
    to_crs
        The CRS to return the layer in, normally the study's metric CRS (default EPSG:4490,
        CGCS2000 longitude/latitude). The numbers are transformed once, straight from the
        declared system: a layer already in ``to_crs`` keeps its coordinates bit for bit.
    window
        Keep only the features intersecting this: a shapely geometry, a GeoSeries/
        GeoDataFrame (its own CRS) or a bbox ``(xmin, ymin, xmax, ymax)``, as for
        :func:`geoplan.io.read_postgis_layer`. For vector files its bbox, in the numbers the
        file stores, is handed to GDAL (only those features are read and validated) and the
        features are then tested exactly; tables and rasters are filtered after reading.
    window_crs
        CRS of a bare geometry or bbox window (default EPSG:4490).

    Returns
    -------
    GeoDataFrame
        In ``to_crs``, index = string id, contract column names; ``attrs["geoplan"]`` holds
        the provenance (declared coordinates and the conversion applied).

    Raises
    ------
    CRSError
        If ``coords`` is missing or unknown, or contradicts the file's own CRS.
    SchemaError
        With every problem of the layer (see :func:`geoplan.schema.validate_layer`), plus
        unparseable or swapped coordinates in tables, coordinates that cannot be in the
        declared system, and unreadable files, layers or sheets.
    FileNotFoundError
        If the file does not exist.

    Examples
    --------
    >>> from geoplan.datasets import byod_dir
    >>> town = read_layer(byod_dir() / "town.geojson", "admin_units", "cgcs2000")
    >>> town[["name", "level", "kind"]].values.tolist(), town.crs.to_epsg()
    ([['莲湖街道', 'town', '街道']], 4490)
    """
    with pointing_to_docs(layer_docs(kind) if kind in LAYER_CONTRACTS else "docs/layers.md"):
        return _read_layer(Path(path), kind, coords, layer=layer, sheet=sheet, encoding=encoding,
                           columns=columns, x_axis=x_axis, study_area=study_area,
                           facility_type=facility_type, type_aliases=type_aliases,
                           to_crs=to_crs, window=window, window_crs=window_crs)


def _read_layer(path: Path, kind: str, coords: str | int | None, *, layer: str | int | None,
                sheet: str | int | None, encoding: str | None,
                columns: Mapping[str, str] | None, x_axis: str | None,
                study_area: gpd.GeoDataFrame | None, facility_type: str | None,
                type_aliases: Mapping[str, str] | None,
                to_crs: CRS | int | str | None, window: Window | None = None,
                window_crs: str | int | None = None) -> gpd.GeoDataFrame:
    declared = parse_coords(coords)
    if not path.exists():
        msg = f"{kind}: file not found: {path}"
        raise FileNotFoundError(msg)
    what = f"{kind} ({path.name}{f', {layer}' if layer else ''}{f', {sheet}' if sheet else ''})"
    suffix = path.suffix.lower()
    problems: list[Problem] = []
    if suffix == ".xls":
        raise SchemaError(what, [Problem("old .xls workbooks are not read; save the sheet as "
                                         ".xlsx (or CSV) in Excel/WPS")])
    if suffix in RASTER_SUFFIXES:
        if kind != "population":
            raise SchemaError(what, [Problem("only population layers can be read from a raster")])
        return read_population(path, coords, study_area=study_area, to_crs=to_crs,
                               window=window, window_crs=window_crs)
    target = CRS.from_user_input(CGCS2000_EPSG if to_crs is None else to_crs)
    axes: dict[str, str | None] = {}
    if suffix in TABLE_SUFFIXES:
        gdf, problems, info = _tables.table_layer(path, kind, declared, sheet=sheet,
                                                  encoding=encoding, columns=columns,
                                                  x_axis=x_axis, what=what, crs=target)
    else:
        window_for = None if window is None else (
            lambda stored: window_in(window, window_crs, declared, storage_crs(declared, stored)))
        gdf, info = _read_vector(path, layer, encoding, kind, what, window_for)
        gdf, axes = _vector_headers(gdf, kind, columns, info,
                                    truncated=info["driver"] == "ESRI Shapefile")
    if facility_type is not None:
        gdf = _declare_type(gdf, facility_type, type_aliases, info, what)
    out = _converted_layer(gdf, kind, declared, what, info, problems,
                           source=path.name, study_area=study_area,
                           vector=suffix not in TABLE_SUFFIXES,
                           extra={"layer": layer} if layer is not None else {},
                           type_aliases=type_aliases, to_crs=target, axes=axes,
                           x_axis=x_axis)
    if suffix in TABLE_SUFFIXES and window is not None:
        out = keep_in_window(out, window, window_crs)
        out.attrs["geoplan"]["window"] = "rows filtered after reading the table"
    return out


def _vector_headers(gdf: gpd.GeoDataFrame, kind: str, columns: Mapping[str, str] | None,
                    info: dict[str, Any], *, truncated: bool = False
                    ) -> tuple[gpd.GeoDataFrame, dict[str, str | None]]:
    """Map a vector layer's headers to the contract names (noting them in ``info``).

    Returns the renamed layer and the axis each coordinate header names.
    """
    renames, axes = _headers.map_headers(list(gdf.columns), kind, dict(columns or {}),
                                         truncated=truncated)
    renames = {k: v for k, v in renames.items() if v not in ("lon", "lat")}
    info["columns"] = {str(k): v for k, v in renames.items() if str(k) != v}
    return _tables.complete(_headers.rename(gdf, renames), kind, None), axes


def _converted_layer(gdf: gpd.GeoDataFrame, kind: str, declared: str, what: str,
                     info: dict[str, Any], problems: list[Problem], *, source: str,
                     study_area: gpd.GeoDataFrame | None, vector: bool,
                     extra: dict[str, Any], type_aliases: Mapping[str, str] | None = None,
                     to_crs: CRS | int | str | None = None,
                     axes: Mapping[str, str | None] | None = None,
                     x_axis: str | None = None) -> gpd.GeoDataFrame:
    """Check the numbers against the declared CRS, convert once to ``to_crs`` and validate.

    Shared by every reader (files here, PostGIS in :mod:`geoplan.io.postgis`): ``gdf`` has
    contract column names and its own CRS (or none); ``problems`` are those found while
    reading; the provenance goes to ``attrs["geoplan"]`` (``source``, ``info``, ``extra``).
    """
    target = CRS.from_user_input(CGCS2000_EPSG if to_crs is None else to_crs)
    labels = _row_labels(gdf, kind)
    reported = {p.row for p in problems if p.row is not None}
    numbers = [p for p in numbers_problems(gdf, declared, labels) if p.row not in reported]
    problems = list(problems)
    if kind == "boundary_markers" and vector:
        gdf, marker_problems = _vector_markers(gdf, declared, target, axes=dict(axes or {}),
                                               x_axis=x_axis, labels=labels, what=what)
        problems += marker_problems
    before, gdf = gdf, from_declared(gdf, declared, target)
    problems += numbers
    reported = {p.row for p in problems if p.row is not None}
    problems += [p for p in unconverted_problems(before, gdf, declared, labels)
                 if p.row not in reported]
    if kind == "boundary_markers":
        problems = _keep_marker_rows(gdf, problems, labels)
    reported = {p.row for p in problems if p.row is not None}
    try:  # with implausible numbers, "outside the study area" would only repeat them
        out = validate_layer(gdf, kind, study_area=None if numbers else study_area, what=what,
                             type_aliases=type_aliases)
    except SchemaError as exc:
        more = [p for p in exc.problems if not (p.row in reported and p.column == "geometry")]
        raise SchemaError(what, problems + more) from None
    if problems:
        raise SchemaError(what, problems)
    out.attrs["geoplan"] = {
        "kind": kind, "source": source, "declared_coords": declared,
        "conversion": conversion_note(declared, before.crs, target),
        "crs": crs_label(target),
        **{k: v for k, v in info.items() if v not in (None, {}, "")}, **extra,
    }
    logger.info("read %s: %d rows, declared %s", what, len(out), declared)
    return out


def _declare_type(gdf: gpd.GeoDataFrame, facility_type: str,
                  aliases: Mapping[str, str] | None, info: dict[str, Any],
                  what: str) -> gpd.GeoDataFrame:
    """Give every row the layer's declared type; keep the file's own type column as it was."""
    key = facility_type_key(facility_type, aliases)
    if key is None:
        raise SchemaError(what, [Problem(
            f"unknown facility type {facility_type!r} declared for the layer; known: "
            f"{', '.join(FACILITY_TYPES)}", None, "facility_type")])
    out = gdf.copy()
    if "facility_type" in out.columns:
        header = next((h for h, v in info.get("columns", {}).items() if v == "facility_type"),
                      "类型")
        out = out.rename(columns={"facility_type": f"{header}(原表)"})
        info["columns"] = {h: v for h, v in info.get("columns", {}).items()
                           if v != "facility_type"}
    out["facility_type"] = key
    info["facility_type"] = key
    return out


def reproject_layer(gdf: gpd.GeoDataFrame, epsg: int) -> gpd.GeoDataFrame:
    """Project a layer to a metric CRS, keeping boundary-marker x/y columns in step.

    Parameters
    ----------
    gdf
        A layer with a CRS; marker columns ``x_reg``/``y_reg``/``x_obs``/``y_obs``/
        ``x_geom``/``y_geom``, if present, are in the layer's CRS and are transformed too.
    epsg
        Target projected EPSG code (the study's Gauss-Krüger zone).

    Returns
    -------
    GeoDataFrame
        A new frame in ``EPSG:epsg``; ``attrs["geoplan"]["metric_crs"]`` is set. A layer
        already in ``EPSG:epsg`` keeps its coordinates and columns bit for bit.

    Raises
    ------
    CRSError
        If the layer has no CRS or the target is not metric.
    """
    out = to_metric(gdf, epsg)
    if len(out) and not same_crs(gdf.crs, epsg):
        transformer = Transformer.from_crs(gdf.crs, epsg, always_xy=True)
        for xc, yc in _MARKER_XY:
            if xc in out.columns and yc in out.columns:
                x = out[xc].to_numpy(dtype=float)
                y = out[yc].to_numpy(dtype=float)
                ok = np.isfinite(x) & np.isfinite(y)
                nx, ny = np.full(len(x), np.nan), np.full(len(y), np.nan)
                if ok.any():
                    nx[ok], ny[ok] = transformer.transform(x[ok], y[ok])
                out[xc], out[yc] = nx, ny
    out.attrs = {**gdf.attrs, "geoplan": {**gdf.attrs.get("geoplan", {}),
                                          "metric_crs": f"EPSG:{epsg}"}}
    return out


# --------------------------------------------------------------------------- wrappers
def read_facilities(path: str | os.PathLike[str], coords: str | int | None,
                    **kwargs: Any) -> gpd.GeoDataFrame:
    """Read a facility layer or table (养老服务站, 长者食堂, 骨灰堂 …); see :func:`read_layer`.

    Types written in Chinese (幸福院, 长者服务站, 养老驿站, 助餐点, 骨灰堂 …) become registry
    keys; a table of one type needs no 类型 column when ``facility_type=`` declares it;
    已建/在建/规划/拟建 become ``existing``/``building``/``planned``/``proposed``; a missing
    status means ``existing``; ids ``F<row>`` are generated when the table has no 编号 column.

    Examples
    --------
    >>> from geoplan.datasets import data_dir
    >>> canteens = read_facilities(data_dir() / "facilities" / "senior_canteens_gcj02.xlsx",
    ...                            "gcj02", facility_type="长者食堂")
    >>> canteens["facility_type"].unique().tolist()
    ['senior_canteen']
    """
    return read_layer(path, "facilities", coords, **kwargs)


def read_admin_units(path: str | os.PathLike[str], coords: str | int | None,
                     **kwargs: Any) -> gpd.GeoDataFrame:
    """Read admin unit polygons of any level; ``level`` and ``kind`` are inferred if absent.

    The level comes from the code's significant digits: 2 a province, 4 a city (also
    ``350200``), 6 a county-level unit (区/县/县级市), 9 a township-level unit
    (街道/镇/乡/经济开发区), 12 a village (社区/村); codes padded with zeros to 12 digits
    count at their own level (``350203000000`` is a district). See :func:`read_layer`.

    Examples
    --------
    A 社区 shapefile exported on Chinese Windows (GBK ``.dbf``, no ``.cpg``):


    >>> import warnings
    >>> from geoplan.datasets import byod_dir
    >>> with warnings.catch_warnings(record=True):
    ...     communities = read_admin_units(byod_dir() / "communities.shp", "cgcs2000")
    >>> communities["name"].tolist()[:3], communities["level"].unique().tolist()
    (['东坪社区', '莲溪社区', '湖光社区'], ['village'])
    >>> communities.attrs["geoplan"]["encoding"]
    'GBK (detected, no .cpg)'
    """
    return read_layer(path, "admin_units", coords, **kwargs)


def read_boundary_lines(path: str | os.PathLike[str], coords: str | int | None,
                        **kwargs: Any) -> gpd.GeoDataFrame:
    """Read boundary lines (``line_code``, ``left_code``, ``right_code`` …).

    See :func:`read_layer`.

    Examples
    --------
    >>> from geoplan.datasets import data_dir
    >>> lines = read_boundary_lines(data_dir() / "boundaries" / "boundary_lines.gpkg", "cgcs2000",
    ...                             layer="boundary_lines")
    >>> len(lines), lines.index[0], lines[["left_code", "right_code"]].iloc[0].tolist()
    (44, '0001', ['350582002', '350582001'])
    """
    return read_layer(path, "boundary_lines", coords, **kwargs)


def read_boundary_markers(path: str | os.PathLike[str], coords: str | int | None,
                          **kwargs: Any) -> gpd.GeoDataFrame:
    """Read boundary markers (界桩登记表 / 界桩成果表), e.g. an Excel sheet.

    Chinese headers are recognised: 界桩编号, 界线编码, 登记X(东), 登记Y(北), 实测X(东),
    实测Y(北), 界桩类型 (or 类型), 状况, 管护员, 上次检查日期 (dates, Excel serial numbers or
    text such as ``2023年5月1日``). A merged 登记坐标 / 实测坐标 header over X(北)/Y(东)
    columns is understood (survey tables put the northing in X).

    The register's numbers are kept: the registered (``x_reg``, ``y_reg``, 登记坐标) and
    surveyed (``x_obs``, ``y_obs``, 实测坐标) coordinates are read as written and converted
    once, straight from the declared system to ``to_crs`` (pass the study's metric CRS); a
    register already in ``to_crs`` keeps them bit for bit. The geometry is the registered
    position (the surveyed one if unregistered). A point layer (GeoPackage, Shapefile) with
    registered columns keeps its own point as ``x_geom``/``y_geom``: the boundary checks
    compare it with the register (``marker_geometry_mismatch``); without registered columns
    its point is the registered position. Markers with no position are kept with an empty
    point and ``coords_missing=True``, so the boundary checks can report them. See
    :func:`read_layer` (``x_axis`` for survey tables whose headers do not say X(北)/Y(东)).

    One bad row does not stop the read: a missing 界桩编号 (the row is labelled
    ``row <Excel row>``), coordinates that cannot be read, are out of range or cannot be
    converted, and dates that cannot be read are kept empty and described in the
    ``read_problems`` column (``column: message`` lines), which
    :func:`geoplan.boundary.check_markers` turns into findings with the row. Still raised
    (:class:`~geoplan.errors.SchemaError`): no 界桩编号 column, no coordinate columns, no row
    with usable coordinates while some have coordinate problems (a wrong declaration), and
    problems in other columns (e.g. garbled text); an undeclared CRS is a ``CRSError``.

    Examples
    --------
    >>> from geoplan.datasets import data_dir
    >>> markers = read_boundary_markers(data_dir() / "boundaries" / "boundary_markers.xlsx",
    ...                                 "EPSG:4549", to_crs=4549)
    >>> len(markers), markers.index[0], markers[["line_code", "marker_type"]].iloc[0].tolist()
    (231, '0001001Q', ['0001', '单立'])
    """
    return read_layer(path, "boundary_markers", coords, **kwargs)


def read_population(path: str | os.PathLike[str], coords: str | int | None, *,
                    source: str | None = None, year: int | None = None,
                    geometry: str = "cell", bands: tuple[str, ...] | None = None,
                    study_area: gpd.GeoDataFrame | None = None,
                    to_crs: CRS | int | str | None = None,
                    window: Window | None = None, window_crs: str | int | None = None,
                    **kwargs: Any) -> gpd.GeoDataFrame:
    """Read a population grid: a GeoTIFF (one cell per non-zero pixel) or a vector/table layer.

    Parameters
    ----------
    path
        ``.tif``: bands named by their descriptions (``pop``, ``households``,
        ``pop_60plus``, ``pop_80plus``) or, without descriptions, in that order. Other
        suffixes are read with :func:`read_layer`.
    coords
        Declared coordinate system (must agree with the raster's own CRS).
    source, year
        Where the counts come from and their year; stored in ``attrs["geoplan"]``
        (defaults: the raster's ``source``/``year`` tags).
    geometry
        Raster only: ``"cell"`` (pixel polygons) or ``"point"`` (pixel centres).
    bands
        Raster only: band names overriding the descriptions.
    study_area
        Optional outline; cells outside it are reported.
    to_crs
        The CRS to return the grid in (default EPSG:4490), converted once from the
        declared system (see :func:`read_layer`).
    window, window_crs
        Keep only the cells intersecting this window (see :func:`read_layer`; a raster's
        cells are filtered after reading).
    **kwargs
        Passed to :func:`read_layer` for vector files and tables.

    Returns
    -------
    GeoDataFrame
        In ``to_crs``, index = ``cell_id`` (``r<row>c<col>`` for rasters).

    Raises
    ------
    CRSError, SchemaError, FileNotFoundError
        As :func:`read_layer`; SchemaError also for an unknown ``geometry`` value.

    Examples
    --------
    A GeoPackage grid with Chinese headers (人口, 60岁以上 …) in Gauss-Krüger metres:


    >>> from geoplan.datasets import byod_dir
    >>> cells = read_population(byod_dir() / "population.gpkg", "EPSG:4548", to_crs=4548)
    >>> len(cells), int(cells["pop"].sum()), int(cells["pop_60plus"].sum())
    (432, 67951, 12855)
    """
    path = Path(path)
    if path.suffix.lower() not in RASTER_SUFFIXES:
        gdf = read_layer(path, "population", coords, study_area=study_area, to_crs=to_crs,
                         window=window, window_crs=window_crs, **kwargs)
    else:
        with pointing_to_docs(layer_docs("population")):
            gdf = _read_population_raster(path, coords, geometry=geometry, bands=bands,
                                          study_area=study_area, to_crs=to_crs)
        if window is not None:
            gdf = keep_in_window(gdf, window, window_crs)
            gdf.attrs["geoplan"]["window"] = "cells filtered after reading the raster"
    meta = gdf.attrs["geoplan"]
    tags = meta.pop("tags", {})
    meta["source"] = source or tags.get("source") or meta.get("source")
    meta["year"] = year if year is not None else tags.get("year")
    meta["file"] = str(path)
    return gdf


def _read_population_raster(path: Path, coords: str | int | None, *, geometry: str,
                            bands: tuple[str, ...] | None,
                            study_area: gpd.GeoDataFrame | None,
                            to_crs: CRS | int | str | None) -> gpd.GeoDataFrame:
    import rasterio

    declared = parse_coords(coords)
    if not path.exists():
        msg = f"population: file not found: {path}"
        raise FileNotFoundError(msg)
    what = f"population ({path.name})"
    if geometry not in ("cell", "point"):
        raise SchemaError(what, [Problem(f"geometry must be 'cell' or 'point', got {geometry!r}")])
    try:
        with rasterio.open(path) as src:
            data = src.read(masked=True).astype(float).filled(np.nan)
            names = list(bands or [d or POPULATION_BANDS[i] if i < len(POPULATION_BANDS) else
                                   (d or f"band_{i + 1}") for i, d in enumerate(src.descriptions)])
            transform, crs, tags = src.transform, src.crs, src.tags()
    except rasterio.errors.RasterioError as exc:
        raise SchemaError(what, [Problem(
            f"not a readable raster: {str(exc).replace(str(path), path.name)} (truncated or "
            "not a GeoTIFF?)")]) from None
    if len(names) != data.shape[0]:
        raise SchemaError(what, [Problem(f"{data.shape[0]} bands but {len(names)} names")])
    keep = np.any(np.nan_to_num(data) != 0, axis=0)
    rows, cols = np.nonzero(keep)
    def corner(dc: float, dr: float) -> np.ndarray:  # pixel (col, row) -> map (x, y)
        c, r = cols + dc, rows + dr
        return np.stack([transform.a * c + transform.b * r + transform.c,
                         transform.d * c + transform.e * r + transform.f], axis=-1)

    if geometry == "point":
        geoms = shapely.points(corner(0.5, 0.5))
    else:
        ring = np.stack([corner(dc, dr) for dc, dr in ((0, 0), (1, 0), (1, 1), (0, 1))], axis=1)
        geoms = shapely.polygons(ring)
    table = {"cell_id": [f"r{r}c{c}" for r, c in zip(rows, cols, strict=True)]}
    for i, name in enumerate(names):
        table[name] = data[i, rows, cols]
    gdf = gpd.GeoDataFrame(table, geometry=geoms, crs=crs.to_wkt() if crs else None)
    target = CRS.from_user_input(CGCS2000_EPSG if to_crs is None else to_crs)
    source_crs = gdf.crs
    gdf = validate_layer(from_declared(gdf, declared, target), "population",
                         study_area=study_area, what=what)
    gdf.attrs["geoplan"] = {
        "kind": "population", "source": Path(path).name, "declared_coords": declared,
        "conversion": conversion_note(declared, source_crs, target),
        "crs": crs_label(target), "bands": names, "tags": tags, "pixels_kept": int(keep.sum()),
    }
    logger.info("read %s: %d non-zero pixels of %d", what, int(keep.sum()), keep.size)
    return gdf


def read_inspection_rounds(path: str | os.PathLike[str], *, sheet: str | int | None = None,
                           encoding: str | None = None,
                           columns: dict[str, str] | None = None) -> pd.DataFrame:
    """Read the joint-inspection rounds of the boundary lines (联检记录).

    Chinese or English headers are recognised (界线编码 → ``line_code``, 联检轮次 →
    ``round_no``, 联检日期 → ``inspected_on``, 联检结论 → ``findings``, 是否签订协议 →
    ``agreement_signed``); ``columns`` maps any other header. Cells stay as written: dates
    and round numbers (``第四轮``) are read by the inspection checks, which report the rows
    they cannot read.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    SchemaError
        If no header means the line code or the inspection date.

    Examples
    --------
    >>> from geoplan.datasets import data_dir
    >>> rounds = read_inspection_rounds(data_dir() / "boundaries" / "inspection_rounds.csv")
    >>> rounds.columns.tolist()[:3], len(rounds)
    (['line_code', 'round_no', 'inspected_on'], 88)
    """
    table = read_table(path, sheet=sheet, encoding=encoding)
    renames, _ = _headers.map_headers(list(table.columns), "inspection_rounds", columns)
    table = table.rename(columns=renames)
    missing = [c for c in ("line_code", "inspected_on") if c not in table.columns]
    if missing:
        found = ", ".join(map(str, table.columns))
        raise SchemaError(f"inspection rounds {Path(path).name}", [
            Problem(f"no column for {c} (headers found: {found}); pass columns={{header: "
                    f"{c!r}}}", column=c) for c in missing])
    return table


def read_table(path: str | os.PathLike[str], *, sheet: str | int | None = None,
               encoding: str | None = None) -> pd.DataFrame:
    """Read a plain table (Excel sheet or CSV, no geometry) with its headers as written.

    Used for tables such as an inspection-round schedule. Cells are text; the header is
    the first row (title rows above it are not detected here).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    SchemaError
        If the file cannot be read (not a workbook, not UTF-8/GBK text, a broken CSV).

    Examples
    --------
    >>> from geoplan.datasets import byod_dir
    >>> table = read_table(byod_dir() / "facilities_gcj02.xlsx")
    >>> table.shape  # the title row is the header here; read_facilities skips it
    (19, 11)
    """
    path = Path(path)
    if not path.exists():
        msg = f"table not found: {path}"
        raise FileNotFoundError(msg)
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            return pd.read_excel(path, sheet_name=0 if sheet is None else sheet, dtype=str,
                                 engine="openpyxl")
        if path.suffix.lower() == ".gpkg":
            return pyogrio.read_dataframe(path, layer=sheet, read_geometry=False)
        return _tables.read_csv_text(path, encoding)
    except (ValueError, KeyError, OSError, zipfile.BadZipFile, LookupError,
            pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        # UnicodeDecodeError and pandas' ParserError/EmptyDataError are ValueErrors
        raise SchemaError(f"table {path.name}", [Problem(
            f"cannot read the table ({type(exc).__name__}: {exc}); save it as .xlsx or as "
            "a UTF-8/GBK CSV")]) from None
