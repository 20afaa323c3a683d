"""The findings table of the boundary joint inspection: kinds, tolerances, table construction.

Every boundary check returns its problems as rows of one tidy table (a GeoDataFrame) with the
columns in :data:`FINDING_COLUMNS`. This module holds what the checks share: the registry of
finding kinds (:data:`FINDING_KINDS`), the default tolerances (:class:`Tolerances`) and the
helpers that turn finding records into a sorted, deterministic table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import geopandas as gpd
import pandas as pd
from pyproj import CRS

from geoplan._text import code_text
from geoplan.errors import CRSError


class FindingKind(NamedTuple):
    """What a finding kind is called, how serious it is, what to do, the unit of its value."""

    name_zh: str
    severity: str
    action: str
    unit: str = ""


#: Finding kind -> :class:`FindingKind` (Chinese name, default severity, recommended action,
#: unit of the measured value). The order is the report order.
FINDING_KINDS: dict[str, FindingKind] = {
    "topology_gap": FindingKind("政区缝隙", "error", "核实权属", "m²"),
    "topology_overlap": FindingKind("政区重叠", "error", "核实权属", "m²"),
    "topology_sliver": FindingKind("狭长碎片", "warning", "修正政区数据", "m"),
    "not_nested": FindingKind("未嵌套于上级政区", "error", "核实权属", "m²"),
    "unit_unknown_parent": FindingKind("上级政区不存在", "error", "核对区划代码"),
    "unit_invalid_geometry": FindingKind("政区图形无效", "error", "修正政区数据"),
    "line_no_geometry": FindingKind("界线缺少图形", "error", "补绘界线"),
    "line_duplicate_code": FindingKind("界线编码重复", "error", "核对界线编码"),
    "line_unknown_unit": FindingKind("界线两侧政区不存在", "error", "核对区划代码"),
    "line_not_touching": FindingKind("界线未接触两侧政区", "error", "复测", "m"),
    "line_units_not_adjacent": FindingKind("界线两侧政区不相邻", "error", "核对区划代码", "m"),
    "line_polygon_deviation": FindingKind("界线偏离政区共有边", "error", "复测", "m"),
    "line_version_change": FindingKind("界线与上一版本不一致", "warning", "补签协议", "m"),
    "marker_number_malformed": FindingKind("界桩编号格式错误", "error", "核对界桩编号"),
    "marker_line_mismatch": FindingKind("界桩编号与界线编码不符", "error", "核对界桩编号"),
    "marker_duplicate": FindingKind("界桩编号重复", "error", "核对界桩编号"),
    "marker_sequence_gap": FindingKind("界桩序号缺号", "warning", "核实缺号"),
    "marker_group_incomplete": FindingKind("同号界桩不全", "error", "补设"),
    "marker_type_conflict": FindingKind("同一序号界桩类型冲突", "error", "核对界桩编号"),
    "marker_type_mismatch": FindingKind("界桩类型与类型码不符", "error", "核对成果表"),
    "marker_wrong_side": FindingKind("同号界桩位于错误一侧", "error", "核对界桩编号"),
    "marker_bad_value": FindingKind("界桩数据无法识别", "error", "核对成果表"),
    "marker_no_coordinates": FindingKind("界桩缺少登记坐标", "error", "复测"),
    "marker_geometry_mismatch": FindingKind("界桩图形位置与成果表不符", "error", "核对成果表",
                                            "m"),
    "marker_displaced": FindingKind("界桩实测位置偏离登记位置", "error", "复测", "m"),
    "marker_off_line": FindingKind("界桩偏离界线", "error", "复测", "m"),
    "marker_condition": FindingKind("界桩状况异常", "error", "核实状况"),
    "marker_no_custodian": FindingKind("界桩无管护员", "warning", "落实管护"),
    "marker_overdue": FindingKind("界桩逾期未检查", "warning", "巡查", "年"),
    "marker_unknown_line": FindingKind("界桩所属界线不存在", "error", "核对界线编码"),
    "feature_straddles": FindingKind("图斑跨界", "warning", "核实权属", "m²"),
    "facility_admin_mismatch": FindingKind("设施行政区划代码与所在政区不符", "error",
                                           "更正区划代码"),
    "round_overdue": FindingKind("联检逾期", "warning", "安排联检", "年"),
    "round_unknown_line": FindingKind("联检记录的界线不存在", "warning", "核对联检记录"),
    "round_bad_date": FindingKind("联检记录日期缺失或无法识别", "warning", "核对联检记录"),
}

#: Columns of the findings table, in order (plus ``geometry``). ``marker_no`` names the
#: marker(s) a finding is about; ``unit_a``/``unit_b`` the two units (a line's two sides,
#: the two units of a gap or overlap, a facility's recorded and actual unit); ``value`` is
#: measured in ``unit`` against ``tolerance``; ``action`` is what the field team should do.
FINDING_COLUMNS = [
    "kind",
    "severity",
    "subject",
    "line_code",
    "marker_no",
    "unit_a",
    "unit_b",
    "detail",
    "value",
    "tolerance",
    "unit",
    "action",
    "row",
]
_TEXT_COLUMNS = ("kind", "severity", "subject", "line_code", "marker_no", "unit_a", "unit_b",
                 "detail", "unit", "action", "row")


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
        Largest allowed distance between a marker's registered position and its line (5 m);
        the markers of a same-number pair or triple standing on both banks of a river, with
        the line running between them, are not held to it.
    marker_geometry_m
        Largest allowed distance between a marker layer's own point and the register's
        coordinates (registered or surveyed).
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
    marker_geometry_m: float = 0.5
    inspection_cycle_years: int = 5
    straddle_min_m2: float = 50.0


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
    marker_no: str | None = None,
    units: tuple[str | None, str | None] | None = None,
    value: float | None = None,
    tolerance: float | None = None,
    unit: str | None = None,
    action: str | None = None,
    row: object | None = None,
    severity: str | None = None,
) -> dict[str, Any]:
    """Return one finding record (a dict with the findings-table columns).

    ``row`` is the id (index label) of the input row the finding is about; several ids may be
    given as a list and are joined with commas. ``units`` are the two units concerned;
    ``unit``, ``action`` and ``severity`` default to the kind's (:data:`FINDING_KINDS`).
    """
    if kind not in FINDING_KINDS:
        raise ValueError(f"unknown finding kind {kind!r}")
    spec = FINDING_KINDS[kind]
    if isinstance(row, list | tuple):
        row = ",".join(str(r) for r in row)
    unit_a, unit_b = units if units is not None else (None, None)
    return {
        "kind": kind,
        "severity": severity or spec.severity,
        "subject": str(subject),
        "line_code": None if line_code is None else str(line_code),
        "marker_no": marker_no or None,
        "unit_a": unit_a or None,
        "unit_b": unit_b or None,
        "detail": detail,
        "value": math.nan if value is None else float(value),
        "tolerance": math.nan if tolerance is None else float(tolerance),
        "unit": spec.unit if unit is None else unit,
        "action": action or spec.action,
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
    for col in _TEXT_COLUMNS:
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
        for col in _TEXT_COLUMNS:
            if rec.get(col) is pd.NA:
                rec[col] = None
    return findings_frame(records, crs)


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
