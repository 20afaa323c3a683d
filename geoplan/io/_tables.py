"""Planners' tables (Excel, CSV): header rows, text numbers, DMS, and coordinate columns.

Used by :mod:`geoplan.io`, which declares and converts the coordinates. Tables are read as
text and parsed here, so numbers typed as text, full-width digits (１１８．５), thousands
separators and degree-minute-second strings (118°05′24″) all come out as numbers, and
whatever cannot be parsed is reported with its row. The header synonyms and their mapping
to contract names are in :mod:`geoplan.io._headers`.

Axis rules for coordinate columns (documented once, here):

- Headers that name the axis win: 经度/东经/lng/lon/longitude/东坐标/easting and any header
  qualified ``(东)``/``(E)`` is the east axis; 纬度/北纬/lat/latitude/北坐标/northing and
  ``(北)``/``(N)`` the north axis. ``登记X(东)``/``实测Y(北)`` are marker columns.
- Bare ``X``/``Y``/横坐标/纵坐标 are ambiguous. With a lon/lat declaration (wgs84, cgcs2000,
  gcj02, bd09) X is longitude. With a projected declaration (``EPSG:45xx``) Chinese survey
  tables put the northing in X, so geoplan uses ``x_axis=`` if given, else the magnitude of
  the values (a northing in China has 7 digits, ~2.0e6–6.0e6 m; a 3-degree Gauss-Krüger
  easting has 6 digits, or 8 with the zone prefix) and raises when both columns look alike.
- Columns that look swapped (longitudes in the latitude column) are an error, never
  silently swapped.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
import warnings
import zipfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geoplan._text import admin_code_level, csv_frame, decode_csv, id_text, parse_coordinate
from geoplan.crs.systems import from_declared
from geoplan.errors import Problem, SchemaError
from geoplan.io._headers import XY_FAMILIES, _norm, _split_header, map_headers, rename
from geoplan.schema.contracts import LAYER_CONTRACTS, note_row_problems, unique_labels

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- reading tables
def read_csv_text(path: Path, encoding: str | None = None) -> pd.DataFrame:
    """Read a CSV file (UTF-8, UTF-8 with BOM or GBK) as text cells with its first row as header."""
    text, _ = decode_csv(path.read_bytes(), encoding)
    return csv_frame(text)


def _read_cells(path: Path, sheet: str | int | None, encoding: str | None, what: str
                ) -> tuple[pd.DataFrame, str | None]:
    """Read every cell of an Excel sheet or CSV file as text (no header), or raise SchemaError."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            book = pd.ExcelFile(path, engine="openpyxl")
        except (ValueError, OSError, zipfile.BadZipFile, KeyError) as exc:
            raise SchemaError(what, [Problem(f"not a readable Excel workbook (.xlsx): {exc}")]
                              ) from None
        names = book.sheet_names
        if sheet is not None and sheet not in names and not (
                isinstance(sheet, int) and 0 <= sheet < len(names)):
            raise SchemaError(what, [Problem(f"no sheet {sheet!r}; sheets: {', '.join(names)}")])
        with book:
            cells = pd.read_excel(book, sheet_name=0 if sheet is None else sheet, header=None,
                                  dtype=str)
        return cells, None
    try:
        text, used = decode_csv(path.read_bytes(), encoding)
    except (LookupError, UnicodeDecodeError) as exc:
        raise SchemaError(what, [Problem(f"cannot decode the text file: {exc}")]) from None
    if not text.strip():
        raise SchemaError(what, [Problem("the file is empty")])
    options = {"header": None, "skip_blank_lines": False, "keep_default_na": False,
               "na_values": [""]}
    try:
        raw = csv_frame(text, **options)
    except pd.errors.ParserError:  # ragged rows, e.g. a title line without trailing commas
        width = max(max(line.count(d) for d in ",\t;|") for line in text.splitlines()) + 1
        try:
            raw = csv_frame(text, names=list(range(width)), **options)
        except pd.errors.ParserError as exc:  # e.g. a quote that is never closed
            raise SchemaError(what, [Problem(
                f"the CSV file cannot be parsed ({str(exc).strip()}): is a quote (\") left "
                "open? save it again from Excel/WPS as CSV")]) from None
    return raw, used


def _recognised(cells: list[object], kind: str) -> set[object]:
    return set(map_headers([c for c in cells if isinstance(c, str)], kind)[0])


def _text(cell: object) -> str | None:
    return cell.strip() if isinstance(cell, str) and cell.strip() else None


def _fold_headers(top: list[object], below: list[object], kind: str) -> list[object]:
    """Fold two header rows into one (``坐标`` merged over ``经度``/``纬度``).

    A recognised header under an unrecognised (merged) parent becomes parent + header if
    that is recognised (``登记坐标`` + ``X(东)`` -> ``登记X(东)``), else the header alone; an
    empty cell takes the other row's text.
    """
    known_top, known_below = _recognised(top, kind), _recognised(below, kind)
    cells: list[object] = []
    parent = None  # a merged cell's text is in its first column only
    for t, b in zip(top, below, strict=True):
        t, b = _text(t), _text(b)
        parent = t or parent
        if b is None:
            cells.append(t)
        elif b in known_below and t not in known_top:
            options = [f"{parent or ''}{b}", f"{(parent or '').replace('坐标', '')}{b}", b]
            cells.append(next(o for o in options if _recognised([o], kind)))
        else:
            cells.append(t if t in known_top else b)
    return cells


def read_raw_table(path: Path, *, kind: str, sheet: str | int | None = None,
                   encoding: str | None = None, what: str | None = None
                   ) -> tuple[pd.DataFrame, int, str | None]:
    """Read an Excel sheet or CSV file as text with the header row detected.

    Title rows above the header (merged cells such as "晋江市养老服务站一览表") are skipped:
    the header is the first of the first 15 rows with at least two recognised headers. A
    second header row under merged cells (``坐标`` over ``经度``/``纬度``) is folded into it.

    Returns
    -------
    table
        All cells as text (missing = NaN), header row as columns, index = the row number
        a planner sees in Excel (1-based, counting the header and title rows).
    header_row
        1-based row number of the (last) header row.
    encoding
        The CSV encoding used (``None`` for Excel).

    Raises
    ------
    SchemaError
        If the file or sheet cannot be read, or a recognised header appears twice.
    """
    what = what or path.name
    raw, used = _read_cells(path, sheet, encoding, what)
    raw = raw.dropna(how="all", axis=1)
    header_pos = 0
    for pos in range(min(len(raw), 15)):
        if len(_recognised(raw.iloc[pos].tolist(), kind)) >= 2:
            header_pos = pos
            break
    cells = raw.iloc[header_pos].tolist() if len(raw) else []
    known = len(_recognised(cells, kind))
    if header_pos > 0:  # a merged parent row above the detected header
        folded = _fold_headers(raw.iloc[header_pos - 1].tolist(), cells, kind)
        if len(_recognised(folded, kind)) > known:
            cells, known = folded, len(_recognised(folded, kind))
    if header_pos + 1 < len(raw):  # a second header row below it
        folded = _fold_headers(cells, raw.iloc[header_pos + 1].tolist(), kind)
        if len(_recognised(folded, kind)) > known:
            cells, header_pos = folded, header_pos + 1
    headers = [c.strip() if isinstance(c, str) and c.strip() else f"column_{j + 1}"
               for j, c in enumerate(cells)]
    repeated = [h for h, n in Counter(headers).items() if n > 1]
    mapped = _recognised(repeated, kind)
    if mapped:
        raise SchemaError(what, [Problem(f"header {h!r} appears in {headers.count(h)} columns; "
                                         "rename or delete the extra ones", None, h)
                                 for h in repeated if h in mapped])
    seen: Counter[str] = Counter()
    for j, h in enumerate(headers):  # other repeats (e.g. two 备注 columns) get a suffix
        seen[h] += 1
        if seen[h] > 1:
            headers[j] = f"{h}.{seen[h]}"
    first = header_pos + 1
    body = raw.iloc[first:].copy()
    body.columns = headers
    body.index = pd.RangeIndex(first + 1, first + 1 + len(body))
    body = body.dropna(how="all")
    body = body.map(lambda v: v.strip() if isinstance(v, str) else v)
    return body, first, used


# --------------------------------------------------------------------------- coordinates
def parse_coordinates(values: pd.Series, column: str, labels: list[str]
                      ) -> tuple[np.ndarray, list[Problem]]:
    """Parse a column of coordinates; return floats (NaN where bad) and the problems."""
    out = np.full(len(values), np.nan)
    problems = []
    for i, value in enumerate(values.astype(object)):
        try:
            out[i] = parse_coordinate(value)
        except ValueError as exc:
            problems.append(Problem(str(exc), labels[i], column))
    return out, problems


def _northing_like(v: np.ndarray) -> bool:
    v = np.abs(v[np.isfinite(v)])
    return v.size > 0 and bool(np.all((v >= 1e6) & (v < 1e7)))


def east_north(x: np.ndarray, y: np.ndarray, *, columns: tuple[str, str],
               axes: tuple[str | None, str | None], projected: bool, x_axis: str | None,
               labels: list[str], what: str) -> tuple[np.ndarray, np.ndarray, list[Problem]]:
    """Decide which column is east and which north; check ranges and swapped rows.

    Parameters
    ----------
    x, y
        Parsed values of the x-ish (lon, X) and y-ish (lat, Y) columns.
    columns
        Their header names (for messages).
    axes
        Axis hints from the headers (``'east'``/``'north'``/``None``).
    projected
        Whether the declared CRS is projected (metres) rather than lon/lat.
    x_axis
        ``'east'`` or ``'north'``: what the X column holds, when the headers do not say.
    labels
        Row ids for messages.
    what
        Layer description for a raised error.

    Returns
    -------
    east, north, problems

    Raises
    ------
    SchemaError
        If a projected table's axes cannot be told apart.
    """
    problems: list[Problem] = []
    cx, cy = columns
    if axes[0] == "north" or axes[1] == "east":
        x_is = "north"
    elif axes[0] == "east" or axes[1] == "north":
        x_is = "east"
    elif x_axis is not None:
        if x_axis not in ("east", "north"):
            raise SchemaError(what, [Problem(f"x_axis must be 'east' or 'north', got {x_axis!r}")])
        x_is = x_axis
    elif not projected:
        x_is = "east"
    elif _northing_like(x) and not _northing_like(y):
        x_is = "north"
    elif _northing_like(y) and not _northing_like(x):
        x_is = "east"
    else:
        raise SchemaError(what, [Problem(
            f"cannot tell which of {cx!r}/{cy!r} is the northing: label the headers X(东)/Y(北) "
            "or pass x_axis='north' (survey convention, X = northing) or x_axis='east'")])
    east, north = (x, y) if x_is == "east" else (y, x)
    ce, cn = (cx, cy) if x_is == "east" else (cy, cx)
    both = np.isfinite(east) & np.isfinite(north)
    if projected:
        swapped = both & (np.abs(east) >= 1e6) & (np.abs(east) < 1e7) & (
            (np.abs(north) < 1e6) | (np.abs(north) >= 1e7))
        bad = np.zeros(len(east), dtype=bool)
    else:
        swapped = both & (((np.abs(north) > 90) & (np.abs(east) <= 90))
                          | ((east >= 3) & (east <= 54) & (north >= 73) & (north <= 136)))
        bad = both & ~swapped & ((np.abs(east) > 180) | (np.abs(north) > 90))
    for i in np.flatnonzero(swapped):
        problems.append(Problem(f"coordinates look swapped ({ce}={east[i]:g}, {cn}={north[i]:g}): "
                                "check the column order; geoplan does not swap silently",
                                labels[i], ce))
    metres = bad & (np.abs(east) > 1000) & (np.abs(north) > 1000)
    for i in np.flatnonzero(bad):
        hint = ("; these look like metres: declare the projected CRS they are in (e.g. "
                "coords = \"EPSG:4549\")" if metres[i] else "")
        problems.append(Problem(f"coordinates out of range for degrees ({ce}={east[i]:g}, "
                                f"{cn}={north[i]:g}){hint}", labels[i], ce))
    east = np.where(swapped | bad, np.nan, east)
    north = np.where(swapped | bad, np.nan, north)
    half = np.isfinite(east) != np.isfinite(north)
    for i in np.flatnonzero(half):
        problems.append(Problem("only one of the two coordinates is given", labels[i],
                                ce if not np.isfinite(east[i]) else cn))
    return east, north, problems


# --------------------------------------------------------------------------- layers from tables
_TOTAL_ROW = re.compile(r"^(合计|总计|小计|共计|总数)(\s*[:：(（].*)?$")
_NOTE_ROW = re.compile(r"^(注|备注|说明|附注|数据来源|资料来源|填表人|制表人|填报单位|制表单位"
                       r"|审核人)\s*[:：]")
_XY_COLUMNS = ("lon", "lat", "x_reg", "y_reg", "x_obs", "y_obs")


def summary_rows(df: pd.DataFrame) -> list[object]:
    """Rows that are a table's total (合计) or notes (注：…), not features: no coordinates.

    A row counts when its first non-empty cell is 合计/总计/小计/共计 (optionally with a
    qualifier) or starts a note (注：, 备注：, 数据来源：…), and it has no coordinate value.
    """
    if not len(df.columns):
        return []
    text = df.astype(object).map(lambda v: _norm(v) if isinstance(v, str) and v.strip()
                                 else None)
    first = text.bfill(axis=1).iloc[:, 0]
    coords = [c for c in _XY_COLUMNS if c in df.columns]
    no_xy = text[coords].isna().all(axis=1) if coords else pd.Series(True, index=df.index)
    marked = first.map(lambda v: isinstance(v, str) and bool(_TOTAL_ROW.match(v)
                                                             or _NOTE_ROW.match(v)))
    return list(df.index[marked & no_xy])
ID_PREFIX = {"facilities": "F", "population": "C", "projects": "P", "candidate_sites": "S",
             "exclusion_zones": "Z"}
POINT_KINDS = ("facilities", "population", "boundary_markers", "candidate_sites")



# --------------------------------------------------------------------------- completion
def _admin_level_from_code(code: object) -> str | None:
    return admin_code_level(str(code)) if code is not None else None


_KIND_SUFFIXES = ("经济开发区", "开发区", "街道", "镇", "乡", "社区", "居委会", "村")


def _admin_kind_from_name(name: object) -> str | None:
    if not isinstance(name, str):
        return None
    for suffix in _KIND_SUFFIXES:
        if name.strip().endswith(suffix):
            return {"开发区": "经济开发区", "居委会": "社区"}.get(suffix, suffix)
    return None


def complete(df: pd.DataFrame, kind: str, row_numbers: list[int] | None) -> pd.DataFrame:
    """Fill what a reader can infer: ids, admin level/kind, 所属镇街 as name or code."""
    df = df.copy()
    if kind == "admin_units":
        if "level" not in df.columns and "code" in df.columns:
            df["level"] = df["code"].map(_admin_level_from_code)
        if "kind" not in df.columns and "name" in df.columns:
            df["kind"] = df["name"].map(_admin_kind_from_name)
    if "admin_name" in df.columns and "admin_code" not in df.columns:
        values = df["admin_name"].dropna().astype(str).str.strip()
        if len(values) and values.str.fullmatch(r"\d{2}|\d{4}|\d{6}|\d{9}|\d{12}").all():
            df = df.rename(columns={"admin_name": "admin_code"})
    id_col = LAYER_CONTRACTS[kind].id_column
    if kind in ID_PREFIX and id_col not in df.columns:
        numbers = row_numbers or list(range(1, len(df) + 1))
        df.insert(0, id_col, [f"{ID_PREFIX[kind]}{n}" for n in numbers])
        logger.info("%s: no %s column; generated ids %s…", kind, id_col, ID_PREFIX[kind])
    return df




# --------------------------------------------------------------------------- tables
def points(east: np.ndarray, north: np.ndarray) -> np.ndarray:
    ok = np.isfinite(east) & np.isfinite(north)
    out = np.array([shapely.Point()] * len(east), dtype=object)
    out[ok] = shapely.points(east[ok], north[ok])
    return out


def _xy_family(df: pd.DataFrame, family: str, axes: Mapping[str, str | None], declared: str,
               x_axis: str | None, labels: list[str], what: str, *,
               projected: bool | None = None
               ) -> tuple[np.ndarray, np.ndarray, list[Problem]] | None:
    """Parse one coordinate family (lon/lat, registered or surveyed x/y) into east and north.

    ``projected`` says whether the numbers are metres; by default, whether ``declared`` is a
    projected EPSG code. ``None`` when the table has neither column of the family.
    """
    xname, yname = XY_FAMILIES[family]
    if xname not in df.columns and yname not in df.columns:
        return None
    problems: list[Problem] = []
    if xname not in df.columns or yname not in df.columns:
        missing = xname if xname not in df.columns else yname
        problems.append(Problem("only one coordinate column found", None, missing))
        nan = np.full(len(df), np.nan)
        return nan, nan, problems
    x, px = parse_coordinates(df[xname], xname, labels)
    y, py = parse_coordinates(df[yname], yname, labels)
    if projected is None:
        projected = declared.startswith("EPSG:") and CRS.from_user_input(declared).is_projected
    east, north, pr = east_north(
        x, y, columns=(xname, yname), axes=(axes.get(xname), axes.get(yname)),
        projected=projected, x_axis=x_axis, labels=labels, what=what)
    unparsed = {p.row for p in px + py}
    return east, north, px + py + [p for p in pr if p.row not in unparsed]


def convert_xy(east: np.ndarray, north: np.ndarray, declared: str, crs: Any, labels: list[str],
               column: str, *, source_crs: Any = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Problem]]:
    """Convert a pair of coordinate columns once, from the declared system straight to ``crs``.

    Parameters
    ----------
    east, north
        The numbers as read (NaN where missing), in the declared system (or ``source_crs``,
        the file's own CRS, which must agree with the declaration).
    declared
        The declared coordinate system (:func:`geoplan.crs.parse_coords`).
    crs
        The CRS to convert to.
    labels, column
        Row labels and the column named in the problems.

    Returns
    -------
    x, y
        In ``crs`` (NaN where missing or not convertible; a number already in ``crs`` is
        returned untouched).
    lost
        Rows that had both numbers but could not be converted.
    problems
        One per lost row.
    """
    where = gpd.GeoSeries(points(east, north), crs=source_crs)
    x, y = xy_or_nan(from_declared(where, declared, crs))
    lost = np.isfinite(east) & np.isfinite(north) & ~(np.isfinite(x) & np.isfinite(y))
    problems = [Problem(f"coordinates ({east[i]:g}, {north[i]:g}) cannot be converted from "
                        f"{declared}", labels[i], column) for i in np.flatnonzero(lost)]
    x[lost] = y[lost] = np.nan
    return x, y, lost, problems


#: Headers of one column holding both coordinates, e.g. 高德 "118.552,24.781".
COMBINED_HEADERS = ("经纬度", "经纬度坐标", "坐标", "位置坐标", "gps坐标", "中心点坐标", "lnglat",
                    "lonlat", "lng,lat", "lon,lat", "latlng", "latlon", "lat,lng", "纬经度",
                    "location", "coordinates")
_PAIR_SPLIT = re.compile(r"\s*[,;/\s]\s*")


def split_combined(df: pd.DataFrame, labels: list[str]
                   ) -> tuple[pd.DataFrame, list[Problem], str | None]:
    """Split a 经纬度 column ("118.552,24.781") into ``lon`` and ``lat`` text columns.

    Only when the table has no separate lon/lat columns. The order is the one that puts
    every pair in China's range (longitude 73–136, latitude 3–54), decided for the whole
    column; pairs in the other order, or not two numbers, are reported.

    Returns
    -------
    table, problems, the header split (or ``None``)
    """
    if "lon" in df.columns or "lat" in df.columns:
        return df, [], None
    header = next((c for c in df.columns if _split_header(c)[0] in COMBINED_HEADERS
                   or _norm(c) in COMBINED_HEADERS), None)
    if header is None:
        return df, [], None
    problems: list[Problem] = []
    pairs: list[tuple[float, float] | None] = []
    for label, value in zip(labels, df[header].astype(object), strict=True):
        if not isinstance(value, str) or not value.strip():
            pairs.append(None)
            continue
        parts = _PAIR_SPLIT.split(unicodedata.normalize("NFKC", value).strip())
        try:
            a, b = (parse_coordinate(v) for v in parts) if len(parts) == 2 else (None, None)
        except ValueError:
            a = b = None
        if a is None or b is None:
            problems.append(Problem(f"expected two numbers 'longitude,latitude', got {value!r}",
                                    label, str(header)))
        pairs.append(None if a is None or b is None else (a, b))

    def lon_lat(a: float, b: float) -> bool:
        return 73 <= a <= 136 and 3 <= b <= 54

    found = [p for p in pairs if p is not None]
    lat_first = bool(found) and sum(lon_lat(b, a) for a, b in found) > sum(
        lon_lat(a, b) for a, b in found)
    out = df.copy()
    lon, lat = [], []
    for label, pair in zip(labels, pairs, strict=True):
        if pair is None:
            lon.append(None)
            lat.append(None)
            continue
        x, y = (pair[1], pair[0]) if lat_first else pair
        if lon_lat(y, x) and not lon_lat(x, y):
            problems.append(Problem(f"coordinates in the other order than the rest of column "
                                    f"{header!r} ({pair[0]:g}, {pair[1]:g})", label, str(header)))
            x = y = math.nan
        lon.append(repr(x))
        lat.append(repr(y))
    out["lon"], out["lat"] = lon, lat
    return out, problems, f"{header} ({'latitude' if lat_first else 'longitude'} first)"


def table_layer(path: Path, kind: str, declared: str, *, sheet: str | int | None,
                encoding: str | None, columns: Mapping[str, str] | None, x_axis: str | None,
                what: str, crs: Any) -> tuple[gpd.GeoDataFrame, list[Problem], dict[str, Any]]:
    """Read a point layer from a table: geometry in the declared system (no CRS set).

    Boundary-marker coordinates (registered and surveyed x/y) are converted once, straight
    to ``crs``; the geometry is the registered position (the surveyed one if unregistered).
    """
    if kind not in POINT_KINDS:
        raise SchemaError(what, [Problem(f"{kind} need polygon/line geometry; a table can only "
                                         "hold points. Use a GeoPackage, Shapefile or GeoJSON")])
    table, header_row, used = read_raw_table(path, kind=kind, sheet=sheet,
                                             encoding=encoding, what=what)
    renames, axes = map_headers(list(table.columns), kind, dict(columns or {}))
    df = rename(table, renames)
    skipped = summary_rows(df)
    if skipped:
        warnings.warn(f"{what}: skipped {len(skipped)} total/note row(s) without coordinates "
                      f"(Excel rows {', '.join(map(str, skipped))}), e.g. 合计/注：…",
                      UserWarning, stacklevel=4)
        df = df.drop(index=skipped)
    rows = [int(r) for r in df.index]
    df = complete(df, kind, rows)
    id_col = LAYER_CONTRACTS[kind].id_column
    labels = ([id_text(v) or f"row {r}" for v, r in zip(df[id_col], rows, strict=True)]
              if id_col in df.columns else [f"row {r}" for r in rows])
    if kind == "boundary_markers":  # unique: bad rows are noted by position, not raised
        ids = [id_text(v) for v in df[id_col]] if id_col in df.columns else [None] * len(df)
        labels = unique_labels(ids, rows)
    df, problems, combined = split_combined(df, labels)
    fams = {f: _xy_family(df, f, axes, declared, x_axis, labels, what)
            for f in XY_FAMILIES}
    found = {f: v for f, v in fams.items() if v is not None}
    for value in found.values():
        problems += value[2]
    if not found:
        raise SchemaError(what, [Problem(
            "no coordinate columns found (经度/纬度, lng/lat, X/Y, 登记X(东)/登记Y(北)); headers: "
            + ", ".join(map(str, table.columns)))])
    n = len(df)
    if kind == "boundary_markers":
        reg = found.get("reg") or found.get("")
        obs = found.get("obs")
        nan = np.full(n, np.nan)
        df = df.drop(columns=[c for c in ("lon", "lat") if c in df.columns])
        converted = {}
        for fam, got, cols in ((reg, "reg", ("x_reg", "y_reg")), (obs, "obs", ("x_obs", "y_obs"))):
            e, nn = (fam[0].copy(), fam[1].copy()) if fam else (nan.copy(), nan.copy())
            x, y, lost, lost_problems = convert_xy(e, nn, declared, crs, labels, cols[0])
            problems += lost_problems
            e[lost] = nn[lost] = np.nan
            converted[got] = (e, nn)
            df[cols[0]], df[cols[1]] = x, y
        (reg_e, reg_n), (obs_e, obs_n) = converted["reg"], converted["obs"]
        has_reg = np.isfinite(reg_e) & np.isfinite(reg_n)
        has_obs = np.isfinite(obs_e) & np.isfinite(obs_n)
        geom = np.where(has_reg, points(reg_e, reg_n), points(obs_e, obs_n))
        df["coords_missing"] = ~(has_reg | has_obs)
        problems = keep_marker_rows(df, problems, labels, ~df["coords_missing"].to_numpy())
    else:
        east, north, _ = found.get("") or next(iter(found.values()))
        geom = points(east, north)
        df = df.drop(columns=[c for c in ("lon", "lat") if c in df.columns])
        bad_rows = {p.row for p in problems}
        if not found.get(""):
            problems.append(Problem("no 经度/纬度 (lon/lat) columns", None, "lon"))
        for i in np.flatnonzero(~(np.isfinite(east) & np.isfinite(north))):
            if labels[i] not in bad_rows:
                problems.append(Problem("no coordinates", labels[i], "lon"))
        # rows already reported get an empty point; validation would report them again
    gdf = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geom, index=df.index), crs=None)
    info = {"sheet": sheet, "header_row": header_row, "encoding": used, "skipped_rows": skipped,
            "combined_coordinates": combined,
            "columns": {str(k): v for k, v in renames.items() if str(k) != v}}
    return gdf, problems, info


def keep_marker_rows(df: pd.DataFrame, problems: list[Problem], labels: list[str],
                     usable: np.ndarray) -> list[Problem]:
    """Note the row problems of a marker table in ``read_problems``; return what still stops it.

    A boundary marker whose coordinates cannot be read is kept (without them) and reported by
    the boundary checks. Only when no row at all has usable coordinates are the coordinate
    problems raised (a wrong declaration or column mix-up, not a few bad cells).
    """
    rows = [p for p in problems if p.row is not None]
    if rows and not np.asarray(usable, dtype=bool).any():
        return problems
    column = {p.column for p in rows}
    return note_row_problems(df, problems, labels, column)


def xy_or_nan(points: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(points.array, dtype=object)
    ok = ~(shapely.is_missing(arr) | shapely.is_empty(arr))
    x = np.full(len(arr), np.nan)
    y = np.full(len(arr), np.nan)
    if ok.any():
        x[ok], y[ok] = shapely.get_x(arr[ok]), shapely.get_y(arr[ok])
    return x, y


