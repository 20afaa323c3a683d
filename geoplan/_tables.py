"""Planners' tables (Excel, CSV): header synonyms, text numbers, DMS, and coordinate columns.

Used by :mod:`geoplan.io`, which declares and converts the coordinates. Tables are read as
text and parsed here, so numbers typed as text, full-width digits (１１８．５), thousands
separators and degree-minute-second strings (118°05′24″) all come out as numbers, and
whatever cannot be parsed is reported with its row.

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

import io
import logging
import math
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geoplan.crs import to_cgcs2000
from geoplan.errors import Problem, SchemaError
from geoplan.schema import LAYER_CONTRACTS

logger = logging.getLogger(__name__)

#: Contract column -> header synonyms (compared after NFKC, lower case, no spaces, no "(...)").
COLUMN_SYNONYMS: dict[str, tuple[str, ...]] = {
    "lon": ("经度", "东经", "lng", "lon", "long", "longitude", "x", "横坐标", "x坐标", "东坐标",
            "easting", "坐标x"),
    "lat": ("纬度", "北纬", "lat", "latitude", "y", "纵坐标", "y坐标", "北坐标", "northing",
            "坐标y"),
    "facility_id": ("facility_id", "设施编号", "机构编号", "站点编号", "编号", "id", "序号"),
    "name": ("名称", "机构名称", "设施名称", "站点名称", "单位名称", "名字", "name"),
    "type": ("类型", "设施类型", "机构类型", "设施类别", "类别", "type"),
    "status": ("状态", "建设状态", "建设情况", "现状/规划", "status"),
    "beds": ("床位数", "床位", "总床位", "床位总数", "beds"),
    "nursing_beds": ("护理型床位", "护理型床位数", "护理床位", "nursing_beds"),
    "floor_area_m2": ("建筑面积", "面积", "用房面积", "建筑面积m2", "floor_area_m2", "area_m2"),
    "seats": ("餐位", "餐位数", "座位数", "座位", "seats"),
    "meals_per_day": ("日供餐量", "日均供餐", "日供餐能力", "日供餐人次", "meals_per_day"),
    "niches_total": ("格位总数", "总格位", "格位数", "设计格位", "niches_total"),
    "niches_used": ("已用格位", "已使用格位", "已安放格位", "niches_used"),
    "admin_name": ("所属镇街", "所属街道", "所属乡镇", "所属镇(街道)", "镇街", "admin_name"),
    "admin_code": ("所属镇街代码", "镇街代码", "所属区划代码", "admin_code"),
    "code": ("区划代码", "行政区划代码", "统计用区划代码", "code"),
    "parent_code": ("上级代码", "上级区划代码", "parent_code"),
    "level": ("级别", "层级", "level"),
    "kind": ("kind",),
    "households": ("户数", "家庭户数", "家庭户", "households"),
    "pop": ("人口", "常住人口", "总人口", "人口数", "pop", "population"),
    "pop_60plus": ("60岁以上", "60岁及以上", "60岁以上人口", "60岁及以上人口", "pop_60plus"),
    "pop_80plus": ("80岁以上", "80岁及以上", "80岁以上人口", "80岁及以上人口", "pop_80plus"),
    "cell_id": ("格网编号", "网格编号", "cell_id"),
    "marker_no": ("界桩编号", "界桩号", "marker_no"),
    "line_code": ("界线编码", "界线编号", "界线代码", "line_code"),
    "x_reg": ("登记x", "登记横坐标", "x_reg"),
    "y_reg": ("登记y", "登记纵坐标", "y_reg"),
    "x_obs": ("实测x", "实测横坐标", "x_obs"),
    "y_obs": ("实测y", "实测纵坐标", "y_obs"),
    "marker_type": ("界桩类型", "桩型", "marker_type"),
    "condition": ("状况", "界桩状况", "完好情况", "condition"),
    "custodian": ("管护员", "管护人", "custodian"),
    "last_inspected": ("上次检查日期", "最近检查日期", "检查日期", "last_inspected"),
    "left_code": ("左侧代码", "左侧区划代码", "left_code"),
    "right_code": ("右侧代码", "右侧区划代码", "right_code"),
    "version": ("版本", "version"),
    "project_id": ("项目编号", "project_id"),
    "address": ("地址", "详细地址", "address"),
}
#: Per-kind header meanings that differ from the general table.
KIND_SYNONYMS: dict[str, dict[str, str]] = {
    "admin_units": {"类型": "kind", "类别": "kind", "名称": "name", "代码": "code"},
    "facilities": {"区划代码": "admin_code", "行政区划代码": "admin_code"},
    "population": {"区划代码": "admin_code", "行政区划代码": "admin_code"},
}
_EAST_WORDS = {"经度", "东经", "lng", "lon", "long", "longitude", "东坐标", "easting"}
_NORTH_WORDS = {"纬度", "北纬", "lat", "latitude", "北坐标", "northing"}
#: Coordinate families: (east-ish target, north-ish target).
XY_FAMILIES = {"": ("lon", "lat"), "reg": ("x_reg", "y_reg"), "obs": ("x_obs", "y_obs")}


def _norm(text: object) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).lower()


def _split_header(header: object) -> tuple[str, str]:
    """Split a header into (base, qualifier): ``'X(东)'`` -> ``('x', '东')``."""
    text = _norm(header)
    qualifier = "".join(re.findall(r"[(\[]([^)\]]*)[)\]]", text))
    base = re.sub(r"[(\[][^)\]]*[)\]]", "", text)
    return base, qualifier


def _axis_hint(base: str, qualifier: str) -> str | None:
    if base in _EAST_WORDS or base.endswith("东坐标"):
        return "east"
    if base in _NORTH_WORDS or base.endswith("北坐标"):
        return "north"
    q = qualifier
    if "东" in q or q in ("e", "east", "easting"):
        return "east"
    if "北" in q or q in ("n", "north", "northing"):
        return "north"
    return None


def map_headers(headers: list[object], kind: str, explicit: dict[str, str] | None = None
                ) -> tuple[dict[object, str], dict[str, str | None]]:
    """Map table headers to contract names.

    Parameters
    ----------
    headers
        The table's header cells.
    kind
        Layer kind (some words mean different things per kind, e.g. 类型).
    explicit
        ``{header: contract name}`` given by the user; wins over synonyms.

    Returns
    -------
    renames
        ``{header: contract name}`` for the recognised headers (first synonym wins).
    axes
        ``{contract name: 'east' | 'north' | None}`` for the coordinate columns found.
    """
    lookup: dict[str, tuple[int, str]] = {}
    for target, words in COLUMN_SYNONYMS.items():
        for rank, word in enumerate(words):
            lookup.setdefault(_norm(word), (rank, target))
    for word, target in KIND_SYNONYMS.get(kind, {}).items():
        lookup[_norm(word)] = (-1, target)
    explicit = {str(k): v for k, v in (explicit or {}).items()}
    best: dict[str, tuple[int, object]] = {}
    axes: dict[str, str | None] = {}
    for header in headers:
        if str(header) in explicit:
            best[explicit[str(header)]] = (-2, header)
            axes[explicit[str(header)]] = _axis_hint(*_split_header(header))
            continue
        base, qualifier = _split_header(header)
        hit = lookup.get(base) or lookup.get(_norm(header))
        if hit is None:
            continue
        rank, target = hit
        if target not in best or rank < best[target][0]:
            best[target] = (rank, header)
            axes[target] = _axis_hint(base, qualifier)
    renames = {header: target for target, (_rank, header) in best.items()}
    coords = {t for fam in XY_FAMILIES.values() for t in fam}
    return renames, {t: a for t, a in axes.items() if t in coords}


# --------------------------------------------------------------------------- reading tables
def decode_csv(data: bytes, encoding: str | None) -> tuple[str, str]:
    """Decode CSV bytes: the given encoding, else UTF-8 (with or without BOM), else GBK."""
    if encoding:
        return data.decode(encoding), encoding
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        name = "gbk" if enc == "gb18030" else ("utf-8-sig" if data[:3] == b"\xef\xbb\xbf"
                                                else "utf-8")
        return text, name
    msg = "neither UTF-8 nor GBK"
    raise UnicodeDecodeError("utf-8", data[:1], 0, 1, msg)


def read_csv_text(path: Path, encoding: str | None = None) -> pd.DataFrame:
    """Read a CSV file (UTF-8, UTF-8 with BOM or GBK) as text cells with its first row as header."""
    text, _ = decode_csv(path.read_bytes(), encoding)
    return pd.read_csv(io.StringIO(text), dtype=str)


def read_raw_table(path: Path, *, kind: str, sheet: str | int | None = None,
                   encoding: str | None = None) -> tuple[pd.DataFrame, int, str | None]:
    """Read an Excel sheet or CSV file as text with the header row detected.

    Title rows above the header (merged cells such as "晋江市养老服务站一览表") are skipped:
    the header is the first of the first 15 rows with at least two recognised headers.

    Returns
    -------
    table
        All cells as text (missing = NaN), header row as columns, index = the row number
        a planner sees in Excel (1-based, counting the header and title rows).
    header_row
        1-based row number of the header.
    encoding
        The CSV encoding used (``None`` for Excel).
    """
    suffix = path.suffix.lower()
    used = None
    if suffix in (".xlsx", ".xlsm"):
        raw = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, header=None,
                            dtype=str, engine="openpyxl")
    else:
        text, used = decode_csv(path.read_bytes(), encoding)
        raw = pd.read_csv(io.StringIO(text), header=None, dtype=str, skip_blank_lines=False,
                          keep_default_na=False, na_values=[""])
    raw = raw.dropna(how="all", axis=1)
    header_pos = 0
    for pos in range(min(len(raw), 15)):
        cells = [c for c in raw.iloc[pos].tolist() if isinstance(c, str)]
        if len(map_headers(cells, kind)[0]) >= 2:
            header_pos = pos
            break
    headers = [c.strip() if isinstance(c, str) else f"column_{j + 1}"
               for j, c in enumerate(raw.iloc[header_pos].tolist())] if len(raw) else []
    body = raw.iloc[header_pos + 1:].copy()
    body.columns = headers
    body.index = pd.RangeIndex(header_pos + 2, header_pos + 2 + len(body))
    body = body.dropna(how="all")
    body = body.map(lambda v: v.strip() if isinstance(v, str) else v)
    return body, header_pos + 1, used


# --------------------------------------------------------------------------- coordinates
_HEMI = r"[NSEWnsew东西南北]|东经|北纬|西经|南纬"
_DMS = re.compile(
    rf"^(?P<h1>{_HEMI})?(?P<d>\d+(?:\.\d+)?)(?:°|度)"
    r"(?:(?P<m>\d+(?:\.\d+)?)(?:′|'|’|分))?"
    r"(?:(?P<s>\d+(?:\.\d+)?)(?:″|\"|”|′′|''|’’|秒)?)?"
    rf"(?P<h2>{_HEMI})?$")


def parse_coordinate(value: object) -> float:
    r"""Parse one coordinate: a number, text number, or degrees-minutes-seconds.

    Accepts ``118.09``, ``"118.09"``, ``"１１８．０９"``, ``"118°05′24″"``, ``"118°5'24\\"E"``,
    ``"东经118度05分24秒"``, ``"24°47.5′N"``; S/W/南/西 give a negative value.

    Returns
    -------
    float
        Decimal degrees (or metres for projected numbers); NaN for an empty cell.

    Raises
    ------
    ValueError
        If the text is not a number or valid DMS (minutes or seconds >= 60).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value))).replace(",", "")
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        pass
    match = _DMS.match(text)
    if not match:
        msg = f"not a coordinate: {value!r}"
        raise ValueError(msg)
    minutes = float(match["m"] or 0)
    seconds = float(match["s"] or 0)
    if minutes >= 60 or seconds >= 60:
        msg = f"minutes/seconds must be < 60: {value!r}"
        raise ValueError(msg)
    result = float(match["d"]) + minutes / 60 + seconds / 3600
    hemis = (match["h1"] or "") + (match["h2"] or "")
    if any(h in hemis for h in ("S", "s", "W", "w", "南", "西")):
        result = -result
    return result


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
    for i in np.flatnonzero(bad):
        problems.append(Problem(f"coordinates out of range ({ce}={east[i]:g}, {cn}={north[i]:g})",
                                labels[i], ce))
    east = np.where(swapped | bad, np.nan, east)
    north = np.where(swapped | bad, np.nan, north)
    half = np.isfinite(east) != np.isfinite(north)
    for i in np.flatnonzero(half):
        problems.append(Problem("only one of the two coordinates is given", labels[i],
                                ce if not np.isfinite(east[i]) else cn))
    return east, north, problems


# --------------------------------------------------------------------------- layers from tables
ID_PREFIX = {"facilities": "F", "population": "C", "projects": "P"}
POINT_KINDS = ("facilities", "population", "boundary_markers")


def rename(df: pd.DataFrame, renames: Mapping[object, str]) -> pd.DataFrame:
    """Rename headers to contract names; a name already present is not overwritten."""
    present = set(df.columns)
    safe = {old: new for old, new in renames.items() if old != new and new not in present}
    return df.rename(columns=safe)



# --------------------------------------------------------------------------- completion
def _admin_level_from_code(code: object) -> str | None:
    text = str(code).strip() if code is not None else ""
    if not text.isdigit():
        return None
    if len(text) == 6 or (len(text) == 12 and text.endswith("000000")):
        return "county"
    if len(text) == 9 or (len(text) == 12 and text.endswith("000")):
        return "town"
    return "village" if len(text) == 12 else None


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
        if len(values) and values.str.fullmatch(r"\d{9}|\d{12}").all():
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
               x_axis: str | None, labels: list[str], what: str
               ) -> tuple[np.ndarray, np.ndarray, list[Problem]] | None:
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
    projected = declared.startswith("EPSG:") and CRS.from_user_input(declared).is_projected
    east, north, pr = east_north(
        x, y, columns=(xname, yname), axes=(axes.get(xname), axes.get(yname)),
        projected=projected, x_axis=x_axis, labels=labels, what=what)
    unparsed = {p.row for p in px + py}
    return east, north, px + py + [p for p in pr if p.row not in unparsed]


def table_layer(path: Path, kind: str, declared: str, *, sheet: str | int | None,
                 encoding: str | None, columns: Mapping[str, str] | None, x_axis: str | None,
                 what: str) -> tuple[gpd.GeoDataFrame, list[Problem], dict[str, Any]]:
    if kind not in POINT_KINDS:
        raise SchemaError(what, [Problem(f"{kind} need polygon/line geometry; a table can only "
                                         "hold points. Use a GeoPackage, Shapefile or GeoJSON")])
    table, header_row, used = read_raw_table(path, kind=kind, sheet=sheet,
                                                     encoding=encoding)
    renames, axes = map_headers(list(table.columns), kind, dict(columns or {}))
    df = rename(table, renames)
    rows = [int(r) for r in df.index]
    df = complete(df, kind, rows)
    id_col = LAYER_CONTRACTS[kind].id_column
    labels = ([str(v) if isinstance(v, str) else f"row {r}" for v, r in zip(df[id_col], rows,
                                                                            strict=True)]
              if id_col in df.columns else [f"row {r}" for r in rows])
    problems: list[Problem] = []
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
        reg_e, reg_n = (reg[0], reg[1]) if reg else (nan, nan)
        obs_e, obs_n = (obs[0], obs[1]) if obs else (nan, nan)
        has_reg = np.isfinite(reg_e) & np.isfinite(reg_n)
        has_obs = np.isfinite(obs_e) & np.isfinite(obs_n)
        geom = np.where(has_reg, points(reg_e, reg_n), points(obs_e, obs_n))
        df = df.drop(columns=[c for c in ("lon", "lat") if c in df.columns])
        df["coords_missing"] = ~(has_reg | has_obs)
        obs_pts = gpd.GeoSeries(points(obs_e, obs_n), index=df.index)
        obs_pts = to_cgcs2000(obs_pts, declared)
        reg_pts = to_cgcs2000(gpd.GeoSeries(points(reg_e, reg_n), index=df.index), declared)
        df["x_reg"], df["y_reg"] = xy_or_nan(reg_pts)
        df["x_obs"], df["y_obs"] = xy_or_nan(obs_pts)
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
    info = {"sheet": sheet, "header_row": header_row, "encoding": used,
            "columns": {str(k): v for k, v in renames.items() if str(k) != v}}
    return gdf, problems, info


def xy_or_nan(points: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(points.array, dtype=object)
    ok = ~(shapely.is_missing(arr) | shapely.is_empty(arr))
    x = np.full(len(arr), np.nan)
    y = np.full(len(arr), np.nan)
    if ok.any():
        x[ok], y[ok] = shapely.get_x(arr[ok]), shapely.get_y(arr[ok])
    return x, y


