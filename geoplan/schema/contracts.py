"""Layer contracts, the facility-type registry, and one-pass validation of layers.

Every layer geoplan works with is a GeoDataFrame with a declared CRS, a unique string id as
its index, and the columns of its *kind* (see :data:`LAYER_CONTRACTS` and DESIGN.md "Layer
contracts"). :func:`validate_layer` checks a layer against its contract and reports *every*
problem at once in a :class:`~geoplan.errors.SchemaError` (row ids and column names), so a
planner fixes a spreadsheet in one go instead of one error per run.

The facility-type registry :data:`FACILITY_TYPES` maps each type key (``elderly_station``,
``senior_canteen``, ``columbarium`` …) to its Chinese name and capacity columns; the Chinese
and English names used in planners' tables (居家养老服务站, 幸福院, 助餐点, 骨灰堂 …) are
recognised by :func:`facility_type_key`. The registry and the status words live in
:mod:`geoplan.schema._facility_types` and are re-exported here.
"""

from __future__ import annotations

import logging
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geoplan._text import (
    clean_number_text,
    id_text,
    is_missing,
    mojibake_encoding,
    norm_key,
    parse_date,
)
from geoplan.errors import Problem, SchemaError
from geoplan.schema._facility_types import (
    FACILITY_STATUSES,
    FACILITY_TYPES,
    FacilityType,
    _lookup,
    facility_type_key,
    status_key,
)

__all__ = [
    "FACILITY_STATUSES",
    "FACILITY_TYPES",
    "LAYER_CONTRACTS",
    "ColumnSpec",
    "FacilityType",
    "LayerContract",
    "facility_type_key",
    "mojibake_encoding",
    "status_key",
    "validate_layer",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- contracts
@dataclass(frozen=True)
class ColumnSpec:
    """One contract column.

    ``dtype`` is one of ``"id"`` (text id), ``"str"``, ``"code"`` (digits of an admin code,
    ``lengths`` allowed), ``"count"`` (non-negative number of people/places), ``"amount"``
    (non-negative measure such as m²), ``"float"``, ``"date"``, ``"bool"``, ``"type"``
    (facility type), ``"status"``, ``"level"``.
    """

    name: str
    dtype: str
    required: bool = False
    nan_ok: bool = True
    lengths: tuple[int, ...] = ()
    default: object = None


@dataclass(frozen=True)
class LayerContract:
    """The contract of one layer kind: id column, columns, allowed geometry types."""

    kind: str
    id_column: str | None
    columns: tuple[ColumnSpec, ...]
    geom_types: tuple[str, ...]
    check_within: bool = False
    id_required: bool = True
    flag_duplicates: bool = False


_CAPACITY = tuple(ColumnSpec(c, "count") for c in
                  ("beds", "nursing_beds", "seats", "meals_per_day", "niches_total", "niches_used"))
_POLYS = ("Polygon", "MultiPolygon")
#: Lengths of an administrative code (统计用区划代码 / GB/T 2260) accepted wherever one is
#: read: province 2, city 4, county 6 (also 350000/350200 for a province/city), township 9,
#: village 12 (also a shorter code padded with zeros to 12).
CODE_LENGTHS = (2, 4, 6, 9, 12)

LAYER_CONTRACTS: dict[str, LayerContract] = {
    "admin_units": LayerContract("admin_units", "code", (
        ColumnSpec("code", "code", required=True, lengths=CODE_LENGTHS),
        ColumnSpec("name", "str", required=True),
        ColumnSpec("level", "level", required=True),
        ColumnSpec("kind", "str"),
        ColumnSpec("parent_code", "code", lengths=CODE_LENGTHS),
        ColumnSpec("households", "count"),
    ), _POLYS),
    "facilities": LayerContract("facilities", "facility_id", (
        ColumnSpec("facility_id", "id", required=True),
        ColumnSpec("facility_type", "type", required=True),
        ColumnSpec("name", "str", required=True),
        ColumnSpec("status", "status", default="existing"),
        *_CAPACITY,
        ColumnSpec("floor_area_m2", "amount"),
        ColumnSpec("admin_code", "code", lengths=CODE_LENGTHS),
    ), ("Point",), check_within=True),
    "population": LayerContract("population", "cell_id", (
        ColumnSpec("cell_id", "id", required=True),
        ColumnSpec("pop", "count", required=True, nan_ok=False),
        ColumnSpec("households", "count", nan_ok=False),
        ColumnSpec("pop_60plus", "count", nan_ok=False),
        ColumnSpec("pop_80plus", "count", nan_ok=False),
        ColumnSpec("admin_code", "code", lengths=CODE_LENGTHS),
    ), (*_POLYS, "Point"), check_within=True),
    "boundary_lines": LayerContract("boundary_lines", "line_code", (
        ColumnSpec("line_code", "id", required=True),
        ColumnSpec("level", "str"),
        ColumnSpec("left_code", "code", lengths=CODE_LENGTHS),
        ColumnSpec("right_code", "code", lengths=CODE_LENGTHS),
        ColumnSpec("version", "str"),
    ), ("LineString", "MultiLineString")),
    "boundary_markers": LayerContract("boundary_markers", "marker_no", (
        ColumnSpec("marker_no", "id", required=True),
        ColumnSpec("line_code", "str"),
        *(ColumnSpec(c, "float") for c in ("x_reg", "y_reg", "x_obs", "y_obs")),
        ColumnSpec("marker_type", "str"),
        ColumnSpec("condition", "str"),
        ColumnSpec("custodian", "str"),
        ColumnSpec("last_inspected", "date"),
        ColumnSpec("coords_missing", "bool", default=False),
    ), ("Point",), flag_duplicates=True),
    "study_area": LayerContract("study_area", "code", (
        ColumnSpec("code", "code", lengths=CODE_LENGTHS),
        ColumnSpec("name", "str"),
    ), _POLYS, id_required=False),
    "projects": LayerContract("projects", "project_id", (
        ColumnSpec("project_id", "id", required=True),
        ColumnSpec("name", "str"),
    ), (*_POLYS, "LineString", "MultiLineString", "Point")),
    "candidate_sites": LayerContract("candidate_sites", "site_id", (
        ColumnSpec("site_id", "id", required=True),
        ColumnSpec("name", "str"),
        ColumnSpec("cost", "amount"),
    ), ("Point",), check_within=True),
    "exclusion_zones": LayerContract("exclusion_zones", "zone_id", (
        ColumnSpec("zone_id", "id", required=True),
        ColumnSpec("name", "str"),
    ), _POLYS),
}
_LEVELS = {
    "province": ("province", "省", "省级", "自治区", "直辖市"),
    "city": ("city", "prefecture", "市", "地级", "地级市", "市级", "地区", "自治州", "盟"),
    "county": ("county", "县", "区", "县级", "县级市", "市辖区", "县区", "旗"),
    "town": ("town", "township", "镇", "乡", "街道", "乡镇", "镇街", "乡级", "经济开发区",
             "开发区"),
    "village": ("village", "community", "村", "社区", "居委会", "村委会", "村级", "村居"),
}
_LEVEL_LOOKUP = _lookup(_LEVELS)
_LEVEL_CODE_LENGTHS = {"province": (2, 6, 12), "city": (4, 6, 12), "county": (6, 12),
                       "town": (9, 12), "village": (12,)}
_NUMERIC = ("count", "amount", "float")
_TEXTUAL = ("id", "str", "code", "type", "status", "level")


# --------------------------------------------------------------------------- helpers
def _to_numbers(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Coerce to float; also return the mask of values that are present but not numbers."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.astype(float), pd.Series(False, index=series.index)
    raw = series.astype(object).map(clean_number_text)
    values = pd.to_numeric(raw, errors="coerce").astype(float)
    bad = raw.map(lambda v: not is_missing(v)) & values.isna()
    return values, bad


def _geom_problems(geoms: gpd.GeoSeries, labels: list[str], contract: LayerContract,
                   empty_ok: np.ndarray) -> list[Problem]:
    problems: list[Problem] = []
    arr = np.asarray(geoms.array, dtype=object)
    missing = shapely.is_missing(arr)
    empty = ~missing & shapely.is_empty(arr)
    types = np.array([g.geom_type if g is not None else "" for g in arr], dtype=object)
    present = ~missing & ~empty
    valid = np.ones(len(arr), dtype=bool)
    valid[present] = shapely.is_valid(arr[present])
    col = geoms.name if isinstance(geoms.name, str) else "geometry"
    for i, label in enumerate(labels):
        if missing[i] and not empty_ok[i]:
            problems.append(Problem("missing geometry (no coordinates)", label, col))
        elif empty[i] and not empty_ok[i]:
            problems.append(Problem("empty geometry", label, col))
        elif present[i]:
            if types[i] not in contract.geom_types:
                problems.append(Problem(f"geometry type {types[i]} not allowed; expected "
                                        f"{' or '.join(contract.geom_types)}", label, col))
            if not valid[i]:
                reason = shapely.is_valid_reason(arr[i])
                problems.append(Problem(f"invalid geometry: {reason} (try shapely.make_valid)",
                                        label, col))
    return problems


def _outside_problems(geoms: gpd.GeoSeries, labels: list[str], study_area: gpd.GeoDataFrame
                      | gpd.GeoSeries, tolerance_m: float) -> list[Problem]:
    from geoplan.crs import metric_crs_for

    if geoms.crs is None or study_area.crs is None or len(study_area) == 0:
        return []
    area_crs = CRS.from_user_input(study_area.crs)
    epsg = area_crs if area_crs.is_projected else metric_crs_for(study_area)
    area = shapely.union_all(np.asarray(study_area.geometry.to_crs(epsg).array, dtype=object))
    arr = np.asarray(geoms.to_crs(epsg).array, dtype=object)
    ok = ~(shapely.is_missing(arr) | shapely.is_empty(arr))
    points = arr.copy()
    points[ok] = shapely.point_on_surface(arr[ok])
    dist = np.zeros(len(arr))
    dist[ok] = shapely.distance(area, points[ok])
    col = geoms.name if isinstance(geoms.name, str) else "geometry"
    return [Problem(f"outside the study area by {dist[i]:,.0f} m", labels[i], col)
            for i in np.flatnonzero(dist > tolerance_m)]


def _column(out: pd.DataFrame, spec: ColumnSpec, labels: list[str], problems: list[Problem],
            levels: pd.Series | None, type_aliases: Mapping[str, str] | None = None,
            ) -> pd.Series | None:
    """Check and coerce one column; append problems; return the coerced column."""
    series = out[spec.name]
    name = spec.name

    def add(mask: Iterable[bool], make: object) -> None:
        for i in np.flatnonzero(np.asarray(list(mask), dtype=bool)):
            problems.append(Problem(make(i), labels[i], name))  # type: ignore[operator]

    raw = series.astype(object).to_numpy()
    if spec.dtype in _NUMERIC:
        values, bad = _to_numbers(series)
        add(bad, lambda i: f"not a number: {raw[i]!r}")
        infinite = np.isinf(values.to_numpy(dtype=float))
        add(infinite, lambda i: f"not a finite number: {raw[i]!r}")
        values = values.mask(infinite)
        if spec.dtype in ("count", "amount"):
            add(values < 0, lambda i: f"negative value {values.iloc[i]:g}")
        if not spec.nan_ok:
            add(values.isna() & ~bad & ~infinite, lambda _i: "missing value (NaN)")
        finite = values.dropna()
        if spec.dtype == "count" and values.notna().all() and (finite == finite.round()).all():
            return values.astype(np.int64)
        return values
    if spec.dtype == "date":  # dates, Excel serials, 2021-01-01, 2021/1/1, 2021年1月1日 …
        text = [(unicodedata.normalize("NFKC", v).strip() or None) if isinstance(v, str) else v
                for v in raw]
        values = pd.to_datetime(pd.Series([parse_date(v) for v in text], index=series.index,
                                          dtype=object))
        add([not is_missing(t) and pd.isna(v) for t, v in zip(text, values, strict=True)],
            lambda i: f"not a date: {raw[i]!r}")
        return values
    if spec.dtype == "bool":
        return series.fillna(False).astype(bool)
    if spec.dtype == "str":
        text = pd.Series([None if is_missing(v) else str(v).strip() for v in raw],
                         index=series.index, dtype=object)
    else:
        text = pd.Series([id_text(v) for v in raw], index=series.index, dtype=object)
    if spec.dtype == "type":
        keys = text.map(lambda v: facility_type_key(v, type_aliases))
        problems += _unknown_type_problems(text, keys, labels, name)
        add(text.isna(), lambda _i: "missing facility type")
        return keys.astype("str")
    if spec.dtype == "status":
        keys = text.map(status_key)
        allowed = ", ".join(f"{k} ({v})" for k, v in FACILITY_STATUSES.items())
        add(text.notna() & keys.isna(), lambda i: f"unknown status {raw[i]!r}; allowed: {allowed}")
        return keys.fillna(spec.default).astype("str")
    if spec.dtype == "level":
        keys = text.map(lambda v: None if v is None else _LEVEL_LOOKUP.get(norm_key(v)))
        add(text.notna() & keys.isna(), lambda i: f"unknown level {raw[i]!r}; allowed: province "
            "(省), city (市), county (县/区/县级市), town (镇/乡/街道), village (村/社区)")
        add(text.isna(), lambda _i: "missing level")
        return keys.astype("str")
    if spec.dtype == "code":
        for i, value in enumerate(text):
            if value is None:
                continue
            lengths = spec.lengths
            if levels is not None and name == "code":
                lengths = _LEVEL_CODE_LENGTHS.get(levels.iloc[i], spec.lengths)
            if not value.isdigit() or len(value) not in lengths:
                allowed = ", ".join(map(str, lengths[:-1]))
                allowed = f"{allowed} or {lengths[-1]}" if allowed else str(lengths[-1])
                problems.append(Problem(f"admin code {value!r} should be {allowed} digits",
                                        labels[i], name))
    if spec.required and spec.dtype != "id":
        add(text.isna(), lambda _i: "missing value")
    add([mojibake_encoding(v) is not None for v in raw],
        lambda i: f"garbled text {raw[i]!r} (a {mojibake_encoding(raw[i]).upper()} "
        "file read as Latin-1? re-read with encoding='GBK')")
    return text.astype("str")


def _unknown_type_problems(text: pd.Series, keys: pd.Series, labels: list[str],
                           column: str) -> list[Problem]:
    """One problem per facility-type name not recognised, with its count and example rows."""
    unknown = text.notna() & keys.isna()
    problems = []
    for value, rows in pd.Series(np.flatnonzero(unknown.to_numpy())).groupby(
            text[unknown].to_numpy(), sort=False):
        where = ", ".join(labels[i] for i in rows[:3]) + (", …" if len(rows) > 3 else "")
        problems.append(Problem(
            f"unknown facility type {value!r} (未识别的设施类型) in {len(rows)} row(s): {where}; "
            f"name it in the study file's [types.aliases] (e.g. \"{value}\" = "
            "\"elderly_station\") or declare the layer's type (type = \"...\" in its "
            f"[layers.*] table); known: {_KNOWN_TYPES}", labels[rows.iloc[0]], column))
    return problems


_KNOWN_TYPES = ", ".join(FACILITY_TYPES)


#: (part, whole): a count that cannot exceed another count of the same row.
_NESTED = (("pop_60plus", "pop"), ("pop_80plus", "pop_60plus"), ("pop_80plus", "pop"),
           ("nursing_beds", "beds"), ("niches_used", "niches_total"))


def _nesting_problems(out: pd.DataFrame, labels: list[str]) -> list[Problem]:
    """Report counts larger than the count they are part of (80+ > 60+, nursing beds > beds)."""
    problems = []
    for part, whole in _NESTED:
        if part not in out.columns or whole not in out.columns or (
                (part, whole) == ("pop_80plus", "pop") and "pop_60plus" in out.columns):
            continue  # 80+ > pop then shows as 80+ > 60+ or 60+ > pop
        a = pd.to_numeric(out[part], errors="coerce").to_numpy(dtype=float)
        b = pd.to_numeric(out[whole], errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            over = np.flatnonzero((a > b) & (b >= 0))  # negative counts are reported already
        problems += [Problem(f"{part} {a[i]:g} is larger than {whole} {b[i]:g}", labels[i], part)
                     for i in over]
    return problems


def _single_points(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Turn one-part MultiPoints (as some exports write points) into Points."""
    arr = np.asarray(geoms.array, dtype=object)
    multi = np.flatnonzero(shapely.get_type_id(arr) == 4)
    one = multi[shapely.get_num_geometries(arr[multi]) == 1]
    if not one.size:
        return geoms
    arr = arr.copy()
    arr[one] = shapely.get_geometry(arr[one], 0)
    return gpd.GeoSeries(arr, index=geoms.index, crs=geoms.crs, name=geoms.name)


def _geometry_name(gdf: gpd.GeoDataFrame) -> str | None:
    try:
        return gdf.geometry.name
    except AttributeError:  # no active geometry column
        return None


#: Boundary-marker columns whose bad cells are kept empty and noted per row in
#: :data:`READ_PROBLEMS` (the boundary checks report them as findings), not raised.
MARKER_NOTED_COLUMNS = frozenset(
    {"marker_no", "x_reg", "y_reg", "x_obs", "y_obs", "x_geom", "y_geom", "lon", "lat",
     "last_inspected"})
READ_PROBLEMS = "read_problems"


def unique_labels(ids: Iterable[str | None], index: Iterable[object]) -> list[str]:
    """Return unique row labels: the id, else ``row <index>``; repeats get ``#2``, ``#3``."""
    seen: Counter[str] = Counter()
    out = []
    for i, ix in zip(ids, index, strict=True):
        label = i if i is not None else f"row {ix}"
        seen[label] += 1
        out.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return out


def note_row_problems(frame: pd.DataFrame, problems: list[Problem], labels: list[str],
                      columns: Iterable[str]) -> list[Problem]:
    """Move the row problems of ``columns`` into ``frame[READ_PROBLEMS]``; return the others.

    ``labels`` (unique) name the rows of ``frame`` in order; each noted problem becomes a line
    ``column: message`` of its row's cell (appended to what is there). ``frame`` is changed
    in place; the caller makes sure the cells themselves are empty.
    """
    where = {label: k for k, label in enumerate(labels)}
    allowed = set(columns)
    old = frame[READ_PROBLEMS] if READ_PROBLEMS in frame.columns else [None] * len(frame)
    notes = [[str(v)] if isinstance(v, str) and v else [] for v in old]
    rest = []
    for p in problems:
        k = where.get(p.row) if p.row is not None else None
        if k is None or p.column not in allowed:
            rest.append(p)
        elif (line := f"{p.column}: {p.message}") not in notes[k]:
            notes[k].append(line)
    frame[READ_PROBLEMS] = ["\n".join(n) if n else None for n in notes]
    return rest


# --------------------------------------------------------------------------- validation
def validate_layer(gdf: gpd.GeoDataFrame, kind: str, *,
                   study_area: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
                   what: str | None = None, tolerance_m: float = 50.0,
                   type_aliases: Mapping[str, str] | None = None) -> gpd.GeoDataFrame:
    """Check a layer against its contract, reporting every problem at once.

    Parameters
    ----------
    gdf
        The layer. It is not modified.
    kind
        One of :data:`LAYER_CONTRACTS`: ``admin_units``, ``facilities``, ``population``,
        ``boundary_lines``, ``boundary_markers``, ``study_area``, ``projects``.
    study_area
        Optional outline; facilities and population cells (their representative points)
        farther than ``tolerance_m`` outside it are reported.
    what
        How to name the layer in the error, e.g. ``"facilities (养老服务站.xlsx)"``.
    tolerance_m
        Distance outside the study area still accepted, in metres.
    type_aliases
        A study's own facility-type names, ``{name: key}`` (see
        :func:`geoplan.schema.facility_type_key`).

    Returns
    -------
    GeoDataFrame
        A new frame: index = the id column as strings (unnamed; the id column is kept),
        numbers coerced (counts without gaps become int64), facility types, statuses and
        levels mapped to their keys, missing ``status`` filled with ``"existing"`` and
        missing capacity columns added as NaN, one-part MultiPoints of point layers made
        Points. Extra columns pass through.

    Raises
    ------
    SchemaError
        With every problem found (boundary markers are the exception for rows the boundary
        checks report as findings: duplicate numbers and missing coordinates are kept and
        flagged in ``duplicate_id`` and ``coords_missing`` (derived from the geometry when
        absent), indexed ``<marker_no>#2`` for a repeat and ``row <index>`` without a
        number; a missing number or an unreadable coordinate or date is kept empty and
        noted in ``read_problems``): missing required columns, text or infinity in
        number columns, negative or NaN counts, counts larger than the count they belong to
        (60+ > people, 80+ > 60+, nursing beds > beds, used niches > niches),
        missing/empty/invalid geometry or the wrong geometry type, missing or duplicate ids,
        points outside the study area, unknown facility types, statuses or levels, admin
        codes of the wrong length, garbled (mojibake) text.
    """
    label = what or f"{kind} layer"
    if kind not in LAYER_CONTRACTS:
        raise SchemaError(label, [Problem(f"unknown layer kind {kind!r}; known: "
                                          f"{', '.join(LAYER_CONTRACTS)}")])
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise SchemaError(label, [Problem(f"expected a GeoDataFrame, got {type(gdf).__name__}")])
    contract = LAYER_CONTRACTS[kind]
    out = gdf.copy()
    problems: list[Problem] = []
    n = len(out)

    for col in out.columns:
        enc = mojibake_encoding(col) if isinstance(col, str) else None
        if enc:
            fixed = col.encode("latin-1").decode(enc)
            problems.append(Problem(f"garbled column name, reads {fixed!r} as {enc.upper()} (a "
                                    "GBK file read as Latin-1? re-read with encoding='GBK')",
                                    None, col))
    geom_name = _geometry_name(out)
    if geom_name is not None and out.crs is None:
        problems.append(Problem("layer has no CRS; declare its coordinates"))
    if n == 0 and kind == "study_area":
        problems.append(Problem("the study area has no features"))

    # ids -> labels used in every other message
    id_col = contract.id_column
    ids: list[str | None]
    if id_col in out.columns:
        ids = [id_text(v) for v in out[id_col].astype(object)]
    else:
        if contract.id_required:
            problems.append(Problem("missing required id column", None, id_col))
        ids = [id_text(v) for v in out.index]
    labels = [i if i is not None else f"#{pos}" for pos, i in enumerate(ids)]
    if contract.flag_duplicates:  # kept and flagged: the boundary checks report them
        labels = unique_labels(ids, out.index)
    if id_col in out.columns:
        for pos, i in enumerate(ids):
            if i is None:
                problems.append(Problem("missing id", labels[pos], id_col))
        counts = Counter(i for i in ids if i is not None)
        if contract.flag_duplicates:
            out["duplicate_id"] = [i is not None and counts[i] > 1 for i in ids]
        else:
            where: dict[str, list[str]] = {}
            for pos, i in enumerate(ids):
                if i is not None and counts[i] > 1:
                    where.setdefault(i, []).append(str(out.index[pos]))
            for i, rows in where.items():
                problems.append(Problem(f"duplicate id {i!r} in {len(rows)} rows (index "
                                        f"{', '.join(rows)})", i, id_col))

    if kind == "boundary_markers" and "coords_missing" not in out.columns and geom_name:
        arr = np.asarray(out.geometry.array, dtype=object)
        out["coords_missing"] = shapely.is_missing(arr) | shapely.is_empty(arr)
    levels = None
    level_spec = next((s for s in contract.columns if s.dtype == "level"), None)
    if level_spec is not None and level_spec.name in out.columns:
        levels = _column(out, level_spec, labels, [], None)
    for spec in contract.columns:
        if spec.name not in out.columns:
            if spec.required and spec.name != id_col:
                problems.append(Problem("missing required column", None, spec.name))
            elif spec.default is not None:
                out[spec.name] = spec.default
            elif kind == "facilities" and spec.dtype in ("count", "amount"):
                out[spec.name] = np.nan
            continue
        out[spec.name] = _column(out, spec, labels, problems, levels, type_aliases)

    problems += _nesting_problems(out, labels)

    # other text columns: garbled values
    specified = {s.name for s in contract.columns} | {READ_PROBLEMS}
    for col in out.columns:
        if col in specified or col == geom_name:
            continue
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            for pos, value in enumerate(out[col].astype(object)):
                enc = mojibake_encoding(value)
                if enc:
                    problems.append(Problem(f"garbled text {value!r} (a {enc.upper()} file read "
                                            "as Latin-1? re-read with encoding='GBK')",
                                            labels[pos], str(col)))

    if geom_name is None:
        problems.append(Problem("layer has no geometry column", None, "geometry"))
    else:
        if contract.geom_types == ("Point",):
            out[geom_name] = _single_points(out.geometry)
        empty_ok = np.zeros(n, dtype=bool)
        if kind == "boundary_markers":
            empty_ok = out["coords_missing"].to_numpy(dtype=bool)
        problems += _geom_problems(out.geometry, labels, contract, empty_ok)
        if contract.check_within and study_area is not None:
            problems += _outside_problems(out.geometry, labels, study_area, tolerance_m)

    if kind == "boundary_markers":
        problems = note_row_problems(out, problems, labels, MARKER_NOTED_COLUMNS)
    if problems:
        raise SchemaError(label, problems)
    out.index = pd.Index(labels, dtype="str")
    logger.debug("validated %s: %d rows", label, n)
    return out
