"""The findings table of the boundary joint inspection: kinds, tolerances, table construction.

Every boundary check returns its problems as rows of one tidy table (a GeoDataFrame) with the
columns in :data:`FINDING_COLUMNS`. This module holds what the checks share: the registry of
finding kinds (:data:`FINDING_KINDS`), the default tolerances (:class:`Tolerances`) and the
helpers that turn finding records into a sorted, deterministic table.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geoplan._text import is_missing
from geoplan.errors import CRSError, Problem, SchemaError

#: Finding kind -> (Chinese name, default severity). The order is the report order.
FINDING_KINDS: dict[str, tuple[str, str]] = {
    "topology_gap": ("政区缝隙", "error"),
    "topology_overlap": ("政区重叠", "error"),
    "topology_sliver": ("狭长碎片", "warning"),
    "not_nested": ("未嵌套于上级政区", "error"),
    "unit_unknown_parent": ("上级政区不存在", "error"),
    "unit_invalid_geometry": ("政区图形无效", "error"),
    "line_no_geometry": ("界线缺少图形", "error"),
    "line_duplicate_code": ("界线编码重复", "error"),
    "line_unknown_unit": ("界线两侧政区不存在", "error"),
    "line_not_touching": ("界线未接触两侧政区", "error"),
    "line_units_not_adjacent": ("界线两侧政区不相邻", "error"),
    "line_polygon_deviation": ("界线偏离政区共有边", "error"),
    "line_version_change": ("界线与上一版本不一致", "warning"),
    "marker_number_malformed": ("界桩编号格式错误", "error"),
    "marker_line_mismatch": ("界桩编号与界线编码不符", "error"),
    "marker_duplicate": ("界桩编号重复", "error"),
    "marker_sequence_gap": ("界桩序号缺号", "warning"),
    "marker_group_incomplete": ("同号界桩不全", "error"),
    "marker_type_conflict": ("同一序号界桩类型冲突", "error"),
    "marker_type_mismatch": ("界桩类型与类型码不符", "error"),
    "marker_bad_value": ("界桩数据无法识别", "error"),
    "marker_no_coordinates": ("界桩缺少登记坐标", "error"),
    "marker_displaced": ("界桩实测位置偏离登记位置", "error"),
    "marker_off_line": ("界桩偏离界线", "error"),
    "marker_condition": ("界桩状况异常", "error"),
    "marker_no_custodian": ("界桩无管护员", "warning"),
    "marker_overdue": ("界桩逾期未检查", "warning"),
    "marker_unknown_line": ("界桩所属界线不存在", "error"),
    "feature_straddles": ("图斑跨界", "warning"),
    "facility_admin_mismatch": ("设施行政区划代码与所在政区不符", "error"),
    "round_overdue": ("联检逾期", "warning"),
    "round_unknown_line": ("联检记录的界线不存在", "warning"),
    "round_bad_date": ("联检记录日期缺失或无法识别", "warning"),
}

#: Columns of the findings table, in order (plus ``geometry``).
FINDING_COLUMNS = [
    "kind",
    "severity",
    "subject",
    "line_code",
    "detail",
    "value",
    "tolerance",
    "row",
]


@dataclass(frozen=True)
class Tolerances:
    """Tolerances of the boundary checks (metres, square metres, years).

    Parameters
    ----------
    topology_area_m2
        Gaps, overlaps and area outside the parent unit smaller than this are ignored.
    sliver_width_m
        A gap or overlap piece whose mean width (2 × area / perimeter) is below this is a
        sliver (reported as ``topology_sliver``); also the snapping distance, halved, used to
        find the shared edge of two polygons.
    line_deviation_m
        A registered line may lie this far from its polygons' shared edge, or from its
        earlier version, before a stretch counts as deviating.
    marker_displacement_m
        Largest allowed distance between a marker's surveyed and registered position.
    marker_to_line_m
        Largest allowed distance between a marker's registered position and its line.
    inspection_cycle_years
        Joint-inspection cycle of lines and markers (five years by regulation).
    straddle_min_m2
        A feature straddles a boundary when at least this much of it lies on each of two sides.
    """

    topology_area_m2: float = 1.0
    sliver_width_m: float = 1.0
    line_deviation_m: float = 10.0
    marker_displacement_m: float = 1.0
    marker_to_line_m: float = 5.0
    inspection_cycle_years: int = 5
    straddle_min_m2: float = 50.0


def code_text(value: object) -> str | None:
    """Return an admin or line code as text: ``350582001.0`` read from Excel -> ``"350582001"``.

    Full-width digits are normalised and surrounding blanks dropped; ``None`` when missing.
    """
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else str(value)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if re.fullmatch(r"\d+\.0+", text):
        text = text.split(".")[0]
    return text or None


def normalize_code(value: object, width: int = 4) -> str | None:
    """Return a line code as text, zero-padded to ``width`` when it is all digits.

    ``1``, ``1.0`` or ``"1"`` (the leading zeros lost by Excel) become ``"0001"``; other text
    is kept as written (stripped).
    """
    text = code_text(value)
    if text is not None and text.isdigit() and len(text) < width:
        text = text.zfill(width)
    return text


def tolerances_from(value: Tolerances | Mapping[str, float] | None) -> Tolerances:
    """Return a :class:`Tolerances` from ``None`` (defaults), a mapping of overrides or itself.

    Raises
    ------
    ValueError
        If the mapping names an unknown tolerance or a value is negative.
    """
    if value is None:
        return Tolerances()
    if isinstance(value, Tolerances):
        tol = value
    else:
        known = set(Tolerances.__dataclass_fields__)
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown tolerance(s) {unknown}; known: {sorted(known)}")
        tol = Tolerances(**value)
    for name in Tolerances.__dataclass_fields__:
        if getattr(tol, name) < 0:
            raise ValueError(f"tolerance {name} must be >= 0, got {getattr(tol, name)}")
    return tol


def finding(
    kind: str,
    subject: str,
    detail: str,
    *,
    geometry: Any = None,
    line_code: str | None = None,
    value: float | None = None,
    tolerance: float | None = None,
    row: object | None = None,
    severity: str | None = None,
) -> dict[str, Any]:
    """Return one finding record (a dict with the findings-table columns).

    ``row`` is the id (index label) of the input row the finding is about; several ids may be
    given as a list and are joined with commas.
    """
    if kind not in FINDING_KINDS:
        raise ValueError(f"unknown finding kind {kind!r}")
    if isinstance(row, list | tuple):
        row = ",".join(str(r) for r in row)
    return {
        "kind": kind,
        "severity": severity or FINDING_KINDS[kind][1],
        "subject": str(subject),
        "line_code": None if line_code is None else str(line_code),
        "detail": detail,
        "value": math.nan if value is None else float(value),
        "tolerance": math.nan if tolerance is None else float(tolerance),
        "row": None if row is None else str(row),
        "geometry": geometry,
    }


def findings_frame(records: Iterable[Mapping[str, Any]], crs: Any) -> gpd.GeoDataFrame:
    """Return the sorted findings table built from finding records.

    Rows are sorted by kind (in :data:`FINDING_KINDS` order), subject, row and detail, and
    indexed ``F0001``, ``F0002``, … so that the same inputs always give the same table.
    """
    records = list(records)
    frame = pd.DataFrame(records, columns=[*FINDING_COLUMNS, "geometry"])
    for col in ("kind", "severity", "subject", "line_code", "detail", "row"):
        frame[col] = frame[col].astype("string")
    for col in ("value", "tolerance"):
        frame[col] = frame[col].astype("float64")
    rank = {k: i for i, k in enumerate(FINDING_KINDS)}
    frame["_rank"] = frame["kind"].map(rank).astype("int64") if len(frame) else []
    frame = frame.sort_values(
        ["_rank", "subject", "row", "detail"], na_position="first", kind="stable"
    ).drop(columns="_rank")
    frame.index = pd.Index([f"F{i + 1:04d}" for i in range(len(frame))], name="finding_id")
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=crs)


def empty_findings(crs: Any) -> gpd.GeoDataFrame:
    """Return an empty findings table in ``crs``."""
    return findings_frame([], crs)


def concat_findings(tables: Iterable[gpd.GeoDataFrame], crs: Any) -> gpd.GeoDataFrame:
    """Return one sorted findings table from several (re-sorted and re-numbered)."""
    records: list[dict[str, Any]] = []
    for table in tables:
        plain = pd.DataFrame(table)
        records.extend(plain.to_dict("records"))
    for rec in records:
        for col in ("subject", "line_code", "detail", "row"):
            if rec[col] is pd.NA:
                rec[col] = None
    return findings_frame(records, crs)


def require_columns(table: pd.DataFrame, what: str, columns: Iterable[str]) -> None:
    """Raise :class:`~geoplan.errors.SchemaError` naming every column of ``columns`` missing."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        problems = [Problem(f"missing column {c}", None, c) for c in missing]
        raise SchemaError(what, problems)


def require_same_crs(layers: Mapping[str, Any]) -> Any:
    """Return the common CRS of the given layers (``None`` entries skipped).

    Raises
    ------
    CRSError
        If two layers are in different CRSs.
    """
    seen: dict[str, CRS] = {}
    for name, layer in layers.items():
        if layer is None or getattr(layer, "crs", None) is None:
            continue
        seen[name] = CRS.from_user_input(layer.crs)
    names = list(seen)
    for name in names[1:]:
        if seen[name] != seen[names[0]]:
            raise CRSError(
                f"{name} is in {seen[name].to_string()} but {names[0]} is in "
                f"{seen[names[0]].to_string()}; bring both to the study's metric CRS (to_crs)"
            )
    return seen[names[0]] if names else None


def fmt_m(value: float) -> str:
    """Format a distance in metres for a finding's detail text (``"12.3 m"``)."""
    return f"{value:,.1f} m"


def fmt_m2(value: float) -> str:
    """Format an area in square metres for a finding's detail text (``"1,234 m²"``)."""
    return f"{value:,.0f} m²"


def finding_layers(findings: gpd.GeoDataFrame) -> dict[str, gpd.GeoDataFrame]:
    """Split a findings table into map layers by geometry type, with Chinese kind names.

    Returns
    -------
    dict of str to geopandas.GeoDataFrame
        ``{"points": …, "lines": …, "polygons": …}`` (each possibly empty, same CRS as
        ``findings``), with an added ``kind_zh`` column; findings without geometry are left out.
        Collections are exploded into their parts, so each layer holds one geometry family.
    """
    table = findings.copy()
    table["kind_zh"] = [FINDING_KINDS[k][0] for k in table["kind"]]
    table = table[table.geometry.notna() & ~table.geometry.is_empty]
    parts = table.explode(index_parts=False)
    family = parts.geom_type.map(
        {
            "Point": "points",
            "MultiPoint": "points",
            "LineString": "lines",
            "MultiLineString": "lines",
            "Polygon": "polygons",
            "MultiPolygon": "polygons",
        }
    )
    out = {}
    for name in ("points", "lines", "polygons"):
        out[name] = gpd.GeoDataFrame(parts[family == name], geometry="geometry", crs=findings.crs)
    return out
