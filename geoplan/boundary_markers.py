"""Boundary-marker (界桩) checks: numbers, sequence, position, condition, custodian, inspection.

A marker number (界桩编号) has eight characters: the 4-character line code, a 3-digit serial
running 001, 002, … along the line, and a type letter (A 单立, B 双立 同号双立, C 三立 同号三立).
The marker table (界桩成果表) gives each marker's registered position, this round's surveyed
position, its condition (完好/损坏/丢失/移位), its custodian (管护员) and last inspection date.
Rows with broken numbers, unknown lines or no coordinates are reported, never rejected.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoplan.boundary_findings import (
    FINDING_KINDS,
    Tolerances,
    finding,
    findings_frame,
    fmt_m,
    require_same_crs,
    tolerances_from,
)
from geoplan.crs import require_metric
from geoplan.errors import Problem, SchemaError

#: Marker type letter -> Chinese name.
MARKER_TYPES = {"A": "单立", "B": "双立（同号双立）", "C": "三立（同号三立）"}
#: Conditions that need action, and the accepted "intact" value.
BAD_CONDITIONS = ("丢失", "损坏", "移位")
GOOD_CONDITION = "完好"
_CONDITION_SYNONYMS = {
    "intact": "完好",
    "good": "完好",
    "missing": "丢失",
    "lost": "丢失",
    "damaged": "损坏",
    "moved": "移位",
    "displaced": "移位",
}
MARKER_COLUMNS = ("marker_no", "line_code", "x_reg", "y_reg")
_NUMBER = re.compile(r"^(?P<line>[0-9A-Za-z]{4})(?P<serial>\d{3})(?P<type>[ABC])$")
_SERIAL = re.compile(r"^(?P<line>[0-9A-Za-z]{4})(?P<serial>\d{3})(?!\d)")

#: Columns of the marker check table (界桩检查表).
MARKER_CHECK_COLUMNS = [
    "marker_no",
    "line_code",
    "marker_type",
    "condition",
    "custodian",
    "last_inspected",
    "displacement_m",
    "distance_to_line_m",
    "problems",
    "row",
]


def parse_marker_no(value: object) -> dict[str, Any] | None:
    """Split a well-formed marker number into line code, serial and type letter.

    Returns ``None`` for a malformed number (wrong length, non-digit serial, type letter
    other than A/B/C).

    Examples
    --------
    >>> parse_marker_no("0003012B")
    {'line': '0003', 'serial': 12, 'type': 'B'}
    >>> parse_marker_no("000312B") is None
    True
    """
    if not isinstance(value, str):
        return None
    match = _NUMBER.match(value.strip())
    if match is None:
        return None
    return {"line": match["line"], "serial": int(match["serial"]), "type": match["type"]}


def _serial_of(value: str) -> tuple[str, int] | None:
    """Line code and serial of a number whose first seven characters are well formed."""
    match = _SERIAL.match(value.strip())
    return None if match is None else (match["line"], int(match["serial"]))


def normalize_code(value: object, width: int = 4) -> str | None:
    """Return a line code as text (``1`` or ``1.0`` read from Excel becomes ``"0001"``)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, int | np.integer) or (isinstance(value, float) and value.is_integer()):
        return f"{int(value):0{width}d}"
    text = str(value).strip()
    return text or None


def _text(value: object) -> str:
    """Cell as stripped text ('' for missing)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value).strip()


def _point(x: float, y: float) -> Any:
    return None if math.isnan(x) or math.isnan(y) else shapely.Point(x, y)


def check_markers(
    markers: pd.DataFrame,
    lines: gpd.GeoDataFrame,
    *,
    reference_date: Any,
    tolerances: Tolerances | Mapping[str, float] | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Check every boundary marker and return the findings and the marker check table.

    Parameters
    ----------
    markers
        Marker table (``marker_no``, ``line_code``, ``x_reg``, ``y_reg``, ``x_obs``,
        ``y_obs``, ``condition``, ``custodian``, ``last_inspected``) with coordinates in the
        metric CRS of ``lines`` (a GeoDataFrame must be in that CRS). Missing cells are allowed.
    lines
        Boundary lines with ``line_code``, metric CRS.
    reference_date
        Date the inspection is judged at (anything :func:`pandas.Timestamp` accepts).
    tolerances
        ``marker_displacement_m``, ``marker_to_line_m``, ``inspection_cycle_years``.

    Returns
    -------
    findings : geopandas.GeoDataFrame
        ``marker_*`` findings; subject = the marker number as written (``line:serial`` for a
        sequence gap), row = the marker table's index label.
    checks : pandas.DataFrame
        The marker check table (界桩检查表), one row per marker, columns
        :data:`MARKER_CHECK_COLUMNS` (``problems`` = the Chinese names of its findings).

    Raises
    ------
    SchemaError
        If required columns are missing.
    """
    missing_cols = [c for c in MARKER_COLUMNS if c not in markers.columns]
    if missing_cols:
        raise SchemaError(
            "boundary markers",
            [Problem(f"missing column {c}", None, c) for c in missing_cols],
        )
    require_metric(lines, "boundary lines")
    if isinstance(markers, gpd.GeoDataFrame) and markers.crs is not None:
        require_same_crs({"boundary lines": lines, "boundary markers": markers})
    tol = tolerances_from(tolerances)
    ref = pd.Timestamp(reference_date).normalize()
    due_before = ref - pd.DateOffset(years=tol.inspection_cycle_years)
    line_geom = dict(zip(lines["line_code"].astype(str), lines.geometry.values, strict=True))
    frame = pd.DataFrame(markers).copy()
    for col in ("x_reg", "y_reg", "x_obs", "y_obs"):
        values = frame[col] if col in frame.columns else pd.Series(np.nan, index=frame.index)
        frame[col] = pd.to_numeric(values, errors="coerce").astype("float64")
    dates = frame["last_inspected"] if "last_inspected" in frame.columns else None
    inspected = pd.to_datetime(
        dates if dates is not None else pd.Series(pd.NaT, index=frame.index), errors="coerce"
    )
    records: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    serials: dict[str, list[tuple[int, str, str, Any]]] = defaultdict(list)
    context = {"lines": line_geom, "tol": tol, "ref": ref, "due_before": due_before}
    for k, row in enumerate(frame.index):
        found, check = _check_one_marker(frame.iloc[k], row, k, inspected.iloc[k], context)
        records.extend(found)
        checks.append(check)
        serial = _serial_of(check["marker_no"])
        if check["line_code"] in line_geom and serial is not None:
            here = _marker_position(frame.iloc[k])
            serials[check["line_code"]].append((serial[1], check["marker_no"], str(row), here))
    records.extend(_sequence_findings(serials))
    table = pd.DataFrame(checks, columns=MARKER_CHECK_COLUMNS)
    _add_sequence_problems(table, records)
    return findings_frame(records, lines.crs), table


def _marker_position(rec: pd.Series) -> Any:
    """Return where a marker is drawn: its registered position, else its surveyed one, else None."""
    reg = _point(rec["x_reg"], rec["y_reg"])
    return reg if reg is not None else _point(rec["x_obs"], rec["y_obs"])


def _check_one_marker(
    rec: pd.Series, row: object, k: int, last: Any, context: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Return the findings and the check-table row of one marker."""
    tol: Tolerances = context["tol"]
    line_geom = context["lines"]
    number = _text(rec["marker_no"])
    parsed = parse_marker_no(number)
    code = normalize_code(rec["line_code"])
    if code is None and parsed is not None:
        code = parsed["line"]
    reg = _point(rec["x_reg"], rec["y_reg"])
    obs = _point(rec["x_obs"], rec["y_obs"])
    subject = number or f"(第{k + 1}行)"
    found: list[dict[str, Any]] = []

    def add(kind: str, detail: str, geom: Any = None, **kw: Any) -> None:
        geom = geom if geom is not None else (reg if reg is not None else obs)
        found.append(finding(kind, subject, detail, geometry=geom, line_code=code, row=row, **kw))

    if parsed is None:
        add("marker_number_malformed", f"编号“{number}”不符合 4位界线编码+3位序号+类型字母(A/B/C)")
    known = code is not None and code in line_geom
    if not known:
        add("marker_unknown_line", f"界线编码 {code or '(空)'} 不在界线图层中")
    elif parsed is not None and parsed["line"] != code:
        add("marker_line_mismatch", f"编号中的界线编码 {parsed['line']} 与所属界线 {code} 不符")
    if reg is None:
        add("marker_no_coordinates", "缺少登记坐标（登记X/登记Y）")
    displacement = reg.distance(obs) if reg is not None and obs is not None else math.nan
    if displacement > tol.marker_displacement_m:
        add(
            "marker_displaced",
            f"实测位置距登记位置 {fmt_m(displacement)}",
            obs,
            value=displacement,
            tolerance=tol.marker_displacement_m,
        )
    to_line = reg.distance(line_geom[code]) if known and reg is not None else math.nan
    if to_line > tol.marker_to_line_m:
        add(
            "marker_off_line",
            f"登记位置距界线 {fmt_m(to_line)}",
            value=to_line,
            tolerance=tol.marker_to_line_m,
        )
    condition = _text(rec.get("condition"))
    condition = _CONDITION_SYNONYMS.get(condition.lower(), condition)
    if condition in BAD_CONDITIONS:
        add("marker_condition", f"状况：{condition}")
    elif condition != GOOD_CONDITION:
        add(
            "marker_condition",
            f"状况“{condition or '(空)'}”不是 完好/损坏/丢失/移位 之一",
            severity="warning",
        )
    custodian = _text(rec.get("custodian"))
    if not custodian:
        add("marker_no_custodian", "未落实管护员")
    ref = context["ref"]
    if pd.isna(last):
        add("marker_overdue", "无上次检查日期")
    elif last < context["due_before"]:
        years = (ref - last).days / 365.25
        add(
            "marker_overdue",
            f"上次检查 {last:%Y-%m-%d}，距 {ref:%Y-%m-%d} 已 {years:.1f} 年",
            value=years,
            tolerance=tol.inspection_cycle_years,
        )
    check = {
        "marker_no": number,
        "line_code": code,
        "marker_type": MARKER_TYPES.get(parsed["type"], "") if parsed else "",
        "condition": condition,
        "custodian": custodian,
        "last_inspected": last,
        "displacement_m": displacement,
        "distance_to_line_m": to_line,
        "problems": "；".join(FINDING_KINDS[f["kind"]][0] for f in found),
        "row": str(row),
    }
    return found, check


def _sequence_findings(
    serials: Mapping[str, list[tuple[int, str, str, Any]]],
) -> list[dict[str, Any]]:
    """Duplicate serials and gaps in the 001, 002, … sequence of every line."""
    records: list[dict[str, Any]] = []
    for code in sorted(serials):
        entries = serials[code]
        by_serial: dict[int, list[tuple[int, str, str, Any]]] = defaultdict(list)
        for entry in entries:
            by_serial[entry[0]].append(entry)
        for serial in sorted(by_serial):
            group = by_serial[serial]
            for _, number, row, geom in group[1:]:
                others = ",".join(r for _, _, r, _ in group if r != row)
                records.append(
                    finding(
                        "marker_duplicate",
                        number,
                        f"界线 {code} 序号 {serial:03d} 重复（同号另见行 {others}）",
                        geometry=geom,
                        line_code=code,
                        row=row,
                    )
                )
        present = sorted(by_serial)
        for serial in range(1, present[-1] + 1):
            if serial in by_serial:
                continue
            before = [s for s in present if s < serial]
            after = [s for s in present if s > serial]
            ends = [by_serial[s][0][3] for s in (before[-1:] + after[:1])]
            ends = [g for g in ends if g is not None]
            geom = shapely.LineString(ends).centroid if len(ends) == 2 else None
            records.append(
                finding(
                    "marker_sequence_gap",
                    f"{code}:{serial:03d}",
                    f"界线 {code} 缺少序号 {serial:03d} 的界桩",
                    geometry=geom,
                    line_code=code,
                )
            )
    return records


def _add_sequence_problems(table: pd.DataFrame, records: list[dict[str, Any]]) -> None:
    """Append duplicate findings to the ``problems`` cell of their rows (table built here)."""
    name = FINDING_KINDS["marker_duplicate"][0]
    dup_rows = {r["row"] for r in records if r["kind"] == "marker_duplicate"}
    for i, row in enumerate(table["row"]):
        if row in dup_rows:
            current = table.at[table.index[i], "problems"]
            table.at[table.index[i], "problems"] = f"{current}；{name}" if current else name
