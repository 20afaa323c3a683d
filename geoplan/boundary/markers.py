"""Boundary-marker (界桩) checks: numbers, groups, sequence, position, condition, inspection.

A marker number (界桩编号, GB/T 17796-2009) has eight characters: the 4-character line code,
a 3-digit serial running 001, 002, … along the line, and a type code: ``Q`` for a single
marker (单立), ``A``/``B`` for the two markers of one serial (同号双立; A stands on the side of
the smaller admin code), ``C``/``D``/``E`` for the three markers of one serial (同号三立). A
serial therefore appears once (Q), twice (A and B) or three times (C, D and E) on its line;
anything else is reported (an incomplete pair or triple, a serial used both as Q and as a
group, a letter twice). The marker table (界桩成果表) gives each marker's registered position,
this round's surveyed position, its type (单立/双立/三立, checked against the type code), its
condition (完好/损坏/丢失/移位), its custodian (管护员) and last inspection date. Rows with
broken numbers, unknown lines, unreadable cells or no coordinates are reported, never
rejected.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoplan._text import is_missing, parse_date
from geoplan.boundary.findings import (
    FINDING_KINDS,
    Tolerances,
    finding,
    findings_frame,
    fmt_m,
    normalize_code,
    require_same_crs,
    tolerances_from,
)
from geoplan.crs import require_metric
from geoplan.errors import CRSError, Problem, SchemaError
from geoplan.schema.contracts import READ_PROBLEMS

#: Marker type (GB/T 17796-2009) -> the type codes of one serial's complete group.
MARKER_GROUPS = {"单立": ("Q",), "同号双立": ("A", "B"), "同号三立": ("C", "D", "E")}
#: Type code -> marker type.
MARKER_TYPES = {code: kind for kind, codes in MARKER_GROUPS.items() for code in codes}
#: How a type column may name the marker types (compared after NFKC, lower case, no blanks).
_TYPE_WORDS = {
    "单立": "单立", "单": "单立", "单桩": "单立", "single": "单立", "q": "单立",
    "双立": "同号双立", "同号双立": "同号双立", "双": "同号双立", "双桩": "同号双立",
    "double": "同号双立", "pair": "同号双立", "paired": "同号双立", "a": "同号双立",
    "b": "同号双立", "a/b": "同号双立",
    "三立": "同号三立", "同号三立": "同号三立", "三": "同号三立", "三桩": "同号三立",
    "triple": "同号三立", "c": "同号三立", "d": "同号三立", "e": "同号三立",
    "c/d/e": "同号三立",
}  # fmt: skip
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
_NUMBER = re.compile(r"^(?P<line>[0-9A-Za-z]{4})(?P<serial>[0-9]{3})(?P<type>[QABCDE])$")
_SERIAL = re.compile(r"^(?P<line>[0-9A-Za-z]{4})(?P<serial>[0-9]{3})(?![0-9])")
_REG_COLUMNS = {"x_reg", "y_reg", "lon", "lat", "geometry"}
_OBS_COLUMNS = {"x_obs", "y_obs"}
_CODES_TEXT = "Q（单立）、A/B（同号双立）、C/D/E（同号三立）"

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


class _Entry(NamedTuple):
    """One marker of a line's sequence: serial, type code (None if invalid), number, row."""

    serial: int
    code: str | None
    number: str
    row: str
    geometry: Any


def parse_marker_no(value: object) -> dict[str, Any] | None:
    """Split a well-formed marker number into line code, serial and type code.

    Returns ``None`` for a malformed number: not 8 characters, a serial that is not three
    ASCII digits or is ``000``, or a type code other than Q, A, B, C, D, E (GB/T 17796-2009).

    Examples
    --------
    >>> parse_marker_no("0003012B")
    {'line': '0003', 'serial': 12, 'type': 'B'}
    >>> parse_marker_no("000312Q") is None
    True
    """
    if not isinstance(value, str):
        return None
    match = _NUMBER.match(value.strip())
    if match is None or int(match["serial"]) == 0:
        return None
    return {"line": match["line"], "serial": int(match["serial"]), "type": match["type"]}


def _serial_of(value: str) -> tuple[str, int] | None:
    """Line code and serial of a number whose first seven characters are well formed."""
    match = _SERIAL.match(value.strip())
    if match is None or int(match["serial"]) == 0:
        return None
    return match["line"], int(match["serial"])


def _malformed_reason(number: str) -> str:
    """Say why a marker number is not line code + serial + type code."""
    if not number:
        return "缺少界桩编号"
    head = f"编号“{number}”"
    if unicodedata.normalize("NFKC", number) != number:
        return f"{head}含全角字符，应为半角数字和大写字母"
    if len(number) != 8:
        return f"{head}应为 8 位（4 位界线编码 + 3 位序号 + 类型码），实为 {len(number)} 位"
    if not re.fullmatch(r"[0-9A-Za-z]{4}", number[:4]):
        return f"{head}的界线编码“{number[:4]}”应为 4 位数字或字母"
    if not re.fullmatch(r"[0-9]{3}", number[4:7]):
        return f"{head}的序号“{number[4:7]}”应为 3 位数字"
    if number[4:7] == "000":
        return f"{head}的序号应从 001 起"
    letter = number[7]
    case = "（类型码须大写）" if letter.upper() in MARKER_TYPES else ""
    return f"{head}的类型码“{letter}”不是 {_CODES_TEXT} 之一{case}"


def _type_of(value: object) -> str | None:
    """Marker type named by a type cell (单立/双立/三立 …), '' when empty, None when unknown."""
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", _text(value))).lower()
    if not text:
        return ""
    if text in _TYPE_WORDS:
        return _TYPE_WORDS[text]
    bare = re.sub(r"\(.*?\)", "", text).removesuffix("界桩").removesuffix("桩")
    return _TYPE_WORDS.get(bare)


def _text(value: object) -> str:
    """Cell as stripped text ('' for missing)."""
    if is_missing(value):
        return ""
    return str(value).strip()


def _number(value: object) -> float:
    """Return a coordinate cell as a float (text numbers, full-width, ``1,234.5``); else NaN."""
    if is_missing(value) or isinstance(value, bool):
        return math.nan
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    text = re.sub(r"[\s,]", "", unicodedata.normalize("NFKC", str(value)))
    try:
        return float(text)
    except ValueError:
        return math.nan


def _point(x: float, y: float) -> Any:
    return shapely.Point(x, y) if math.isfinite(x) and math.isfinite(y) else None


def _read_notes(value: object) -> dict[str, list[str]]:
    """Split a ``read_problems`` cell into ``{"reg"|"obs"|"date"|"number"|"other": [...]}``."""
    notes: dict[str, list[str]] = defaultdict(list)
    for line in _text(value).splitlines():
        column, sep, message = line.partition(": ")
        if not sep:
            column, message = "", line
        if column in _REG_COLUMNS:
            notes["reg"].append(message)
        elif column in _OBS_COLUMNS:
            notes["obs"].append(message)
        elif column == "last_inspected":
            notes["date"].append(message)
        elif column == "marker_no":
            notes["number"].append(message)
        elif line.strip():
            notes["other"].append(line.strip())
    return notes


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
        ``y_obs``, ``marker_type`` (or ``type``), ``condition``, ``custodian``,
        ``last_inspected``) with coordinates in the metric CRS of ``lines`` (a GeoDataFrame
        must be in that CRS). Missing cells are allowed; a ``read_problems`` column (written
        by :func:`geoplan.io.read_boundary_markers`: ``column: message`` lines) names cells
        the reader could not read, and each becomes part of a finding.
    lines
        Boundary lines with ``line_code``, metric CRS.
    reference_date
        Date the inspection is judged at (anything :func:`pandas.Timestamp` accepts).
    tolerances
        ``marker_displacement_m``, ``marker_to_line_m``, ``inspection_cycle_years``.

    Returns
    -------
    findings : geopandas.GeoDataFrame
        ``marker_*`` findings; subject = the marker number as written (``line:serial`` for
        a sequence gap, an incomplete pair/triple or a serial of conflicting types), row =
        the marker table's index label (several, comma-separated, for a group).
    checks : pandas.DataFrame
        The marker check table (界桩检查表), one row per marker, columns
        :data:`MARKER_CHECK_COLUMNS` (``marker_type`` from the type code; ``problems`` = the
        Chinese names of its findings).

    Raises
    ------
    SchemaError
        If required columns are missing (a point layer without ``x_reg``/``y_reg`` takes
        its registered position from its geometry).
    CRSError
        If the coordinates are longitude/latitude degrees while the lines are in metres.
    """
    if isinstance(markers, gpd.GeoDataFrame) and "x_reg" not in markers.columns:
        points = markers.geometry  # a point layer: the registered position is its geometry
        markers = markers.assign(
            x_reg=[np.nan if p is None or p.is_empty else p.x for p in points],
            y_reg=[np.nan if p is None or p.is_empty else p.y for p in points],
        )
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
    ref = parse_date(reference_date)
    if pd.isna(ref):
        raise ValueError(f"reference_date must be a date, got {reference_date!r}")
    line_geom = {
        normalize_code(c): g
        for c, g in zip(lines["line_code"], lines.geometry.values, strict=True)
        if g is not None and not g.is_empty
    }
    frame = pd.DataFrame(markers).copy()
    for col in ("x_reg", "y_reg", "x_obs", "y_obs"):
        values = frame[col] if col in frame.columns else pd.Series(np.nan, index=frame.index)
        frame[f"_raw_{col}"] = values.astype(object)
        frame[col] = np.array([_number(v) for v in values], dtype="float64")
    _require_metres(frame, lines)
    raw_dates = (
        frame["last_inspected"].astype(object)
        if "last_inspected" in frame.columns
        else pd.Series(None, index=frame.index, dtype=object)
    )
    inspected = pd.Series([parse_date(v) for v in raw_dates], index=frame.index, dtype=object)
    type_col = next((c for c in ("marker_type", "type") if c in frame.columns), None)
    records: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    serials: dict[str, list[_Entry]] = defaultdict(list)
    context = {"lines": line_geom, "tol": tol, "ref": ref, "type_col": type_col}
    rows = frame.to_dict("records")  # plain dicts: much faster than frame.iloc[k]
    geoms = [_marker_position(rec) for rec in rows]
    for k, row in enumerate(frame.index):
        last = (inspected.iloc[k], raw_dates.iloc[k])
        found, check = _check_one_marker(rows[k], row, last, context)
        records.extend(found)
        checks.append(check)
        serial = _serial_of(check["marker_no"])
        if check["line_code"] in line_geom and serial is not None:
            parsed = parse_marker_no(check["marker_no"])
            code = parsed["type"] if parsed else None
            entry = _Entry(serial[1], code, check["marker_no"], str(row), geoms[k])
            serials[check["line_code"]].append(entry)
    numbers = [(c["marker_no"], c["row"], c["line_code"]) for c in checks]
    group_records, dup_rows = _duplicate_numbers(numbers, geoms)
    group_records += _sequence_findings(serials, dup_rows)
    records.extend(group_records)
    table = pd.DataFrame(checks, columns=MARKER_CHECK_COLUMNS)
    table["last_inspected"] = pd.to_datetime(table["last_inspected"])
    _add_group_problems(table, group_records)
    return findings_frame(records, lines.crs), table


def _require_metres(frame: pd.DataFrame, lines: gpd.GeoDataFrame) -> None:
    """Refuse marker coordinates that are all lon/lat degrees next to lines in metres."""
    xy = frame[["x_reg", "y_reg", "x_obs", "y_obs"]].to_numpy(dtype="float64")
    x, y = xy[:, [0, 2]].ravel(), xy[:, [1, 3]].ravel()
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any() or len(lines) == 0:
        return
    degrees = (np.abs(x[ok]) <= 180).all() and (np.abs(y[ok]) <= 90).all()
    bounds = lines.total_bounds
    if degrees and np.isfinite(bounds).all() and np.abs(bounds).max() > 1_000:
        raise CRSError(
            "boundary markers: x/y columns hold longitude/latitude degrees but the lines are "
            f"in {lines.crs.to_string()} metres; read the table with read_boundary_markers "
            "(declaring its coordinates) and reproject_layer it to the study's metric CRS"
        )


def _marker_position(rec: Mapping[str, Any]) -> Any:
    """Return where a marker is drawn: its registered position, else its surveyed one, else None."""
    reg = _point(rec["x_reg"], rec["y_reg"])
    return reg if reg is not None else _point(rec["x_obs"], rec["y_obs"])


def _check_one_marker(
    rec: Mapping[str, Any], row: object, last: Any, context: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Return the findings and the check-table row of one marker."""
    tol: Tolerances = context["tol"]
    line_geom = context["lines"]
    notes = _read_notes(rec.get(READ_PROBLEMS))
    number = _text(rec["marker_no"])
    parsed = parse_marker_no(number)
    code = normalize_code(rec["line_code"])
    if code is None:
        head = parsed["line"] if parsed else (number[:4] if _serial_of(number) else None)
        code = head
    reg = _point(rec["x_reg"], rec["y_reg"])
    obs = _point(rec["x_obs"], rec["y_obs"])
    subject = number or f"(无编号 {row})"
    found: list[dict[str, Any]] = []

    def add(kind: str, detail: str, geom: Any = None, **kw: Any) -> None:
        geom = geom if geom is not None else (reg if reg is not None else obs)
        found.append(finding(kind, subject, detail, geometry=geom, line_code=code, row=row, **kw))

    if parsed is None:
        add("marker_number_malformed", _malformed_reason(number))
    known = code is not None and code in line_geom
    if not known:
        add("marker_unknown_line", f"界线编码 {code or '(空)'} 不在界线图层中")
    elif parsed is not None and parsed["line"] != code:
        add("marker_line_mismatch", f"编号中的界线编码 {parsed['line']} 与所属界线 {code} 不符")
    marker_type = MARKER_TYPES[parsed["type"]] if parsed else ""
    if context["type_col"] is not None:
        written = _text(rec[context["type_col"]])
        named = _type_of(written)
        if named is None:
            add(
                "marker_type_mismatch",
                f"界桩类型“{written}”不是 单立/同号双立/同号三立 之一",
                severity="warning",
            )
        elif named and parsed and named != marker_type:
            add(
                "marker_type_mismatch",
                f"界桩类型“{written}”与类型码 {parsed['type']}（{marker_type}）不符",
            )
        marker_type = marker_type or named or ""
    if reg is None:
        raw = [_text(rec[f"_raw_{c}"]) for c in ("x_reg", "y_reg")]
        bad = [
            f"“{t}”"
            for t, v in zip(raw, (rec["x_reg"], rec["y_reg"]), strict=True)
            if t and not math.isfinite(v)
        ]
        why = [f"无法识别：{'、'.join(bad)}"] if bad else []
        why += notes["reg"]
        detail = f"（{'；'.join(why)}）" if why else ""
        add("marker_no_coordinates", f"缺少登记坐标（登记X/登记Y）{detail}")
    elif notes["reg"]:
        add("marker_bad_value", f"登记坐标：{'；'.join(notes['reg'])}")
    raw_obs = [_text(rec[f"_raw_{c}"]) for c in ("x_obs", "y_obs")]
    bad_obs = [
        f"“{t}”"
        for t, v in zip(raw_obs, (rec["x_obs"], rec["y_obs"]), strict=True)
        if t and not math.isfinite(v)
    ]
    if bad_obs or notes["obs"]:
        why = ([f"无法识别：{'、'.join(bad_obs)}"] if bad_obs else []) + notes["obs"]
        add("marker_bad_value", f"实测坐标（实测X/实测Y）：{'；'.join(why)}", obs)
    for note in notes["other"]:
        add("marker_bad_value", note)
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
        swapped = shapely.Point(reg.y, reg.x).distance(line_geom[code])
        hint = "；X/Y 对调后位于界线上，坐标列可能颠倒" if swapped <= tol.marker_to_line_m else ""
        add(
            "marker_off_line",
            f"登记位置距界线 {fmt_m(to_line)}{hint}",
            value=to_line,
            tolerance=tol.marker_to_line_m,
        )
    condition = re.sub(r"\s+", "", unicodedata.normalize("NFKC", _text(rec.get("condition"))))
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
    last, raw_last = last
    if pd.isna(last):
        text = _text(raw_last)
        unread = ([f"“{text}”"] if text else []) + notes["date"]
        add(
            "marker_overdue",
            f"上次检查日期无法识别（{'；'.join(unread)}）" if unread else "无上次检查日期",
        )
    elif last + pd.DateOffset(years=tol.inspection_cycle_years) < ref:
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
        "marker_type": marker_type,
        "condition": condition,
        "custodian": custodian,
        "last_inspected": last,
        "displacement_m": displacement,
        "distance_to_line_m": to_line,
        "problems": "；".join(FINDING_KINDS[f["kind"]][0] for f in found),
        "row": str(row),
    }
    return found, check


def _duplicate_numbers(
    numbers: list[tuple[str, str, str | None]], geoms: list[Any]
) -> tuple[list[dict[str, Any]], set[str]]:
    """Report each repeat of a full marker number (anywhere in the table)."""
    rows_of: dict[str, list[str]] = defaultdict(list)
    for number, row, _ in numbers:
        if number:
            rows_of[number].append(row)
    records = []
    for k, (number, row, code) in enumerate(numbers):
        rows = rows_of.get(number, [])
        if len(rows) > 1 and row != rows[0]:
            others = ",".join(r for r in rows if r != row)
            records.append(
                finding(
                    "marker_duplicate",
                    number,
                    f"界桩编号 {number} 重复（同号另见行 {others}）",
                    geometry=geoms[k],
                    line_code=code,
                    row=row,
                )
            )
    return records, {r["row"] for r in records}


def _group_findings(code: str, serial: int, group: list[_Entry], dup_rows: set[str]) -> list:
    """Check the markers of one serial: repeated codes, conflicting types, missing members."""
    records = []
    subject = f"{code}:{serial:03d}"
    seen: dict[str, _Entry] = {}
    for entry in group:
        if entry.code is None:
            continue
        first = seen.setdefault(entry.code, entry)
        if first is not entry and entry.row not in dup_rows:
            records.append(
                finding(
                    "marker_duplicate",
                    entry.number,
                    f"界线 {code} 序号 {serial:03d} 类型码 {entry.code} 重复"
                    f"（同号另见行 {first.row}）",
                    geometry=entry.geometry,
                    line_code=code,
                    row=entry.row,
                )
            )
    if not seen:
        return records
    kinds = sorted({MARKER_TYPES[c] for c in seen}, key=list(MARKER_GROUPS).index)
    members = [e for e in group if e.code is not None]
    where = next((e.geometry for e in members if e.geometry is not None), None)
    rows = list(dict.fromkeys(e.row for e in members))
    if len(kinds) > 1:
        written = "、".join(dict.fromkeys(e.number for e in members))
        records.append(
            finding(
                "marker_type_conflict",
                subject,
                f"界线 {code} 序号 {serial:03d} 同时编为{'与'.join(kinds)}（{written}）",
                geometry=where,
                line_code=code,
                row=rows,
            )
            | {"_rows": rows}
        )
        return records
    wanted = MARKER_GROUPS[kinds[0]]
    missing = [c for c in wanted if c not in seen]
    if missing:
        have = "、".join(dict.fromkeys(e.number for e in members))
        records.append(
            finding(
                "marker_group_incomplete",
                subject,
                f"{kinds[0]}界桩应有 {'/'.join(wanted)} 共 {len(wanted)} 个，"
                f"现有 {have}，缺少 {'、'.join(missing)}",
                geometry=where,
                line_code=code,
                row=rows,
            )
            | {"_rows": rows}
        )
    return records


def _sequence_findings(
    serials: Mapping[str, list[_Entry]], dup_rows: set[str]
) -> list[dict[str, Any]]:
    """Group findings per serial and gaps in the 001, 002, … sequence of every line."""
    records: list[dict[str, Any]] = []
    for code in sorted(serials):
        by_serial: dict[int, list[_Entry]] = defaultdict(list)
        for entry in serials[code]:
            by_serial[entry.serial].append(entry)
        for serial in sorted(by_serial):
            records += _group_findings(code, serial, by_serial[serial], dup_rows)
        present = sorted(by_serial)
        for serial in range(1, present[-1] + 1):
            if serial in by_serial:
                continue
            before = [s for s in present if s < serial]
            after = [s for s in present if s > serial]
            ends = [by_serial[s][0].geometry for s in (before[-1:] + after[:1])]
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


def _add_group_problems(table: pd.DataFrame, records: list[dict[str, Any]]) -> None:
    """Append the duplicate and group findings to the ``problems`` cell of their rows."""
    names: dict[str, list[str]] = defaultdict(list)
    for rec in records:
        rows = rec.get("_rows") or ([] if rec["row"] is None else [rec["row"]])
        for row in rows:
            names[row].append(FINDING_KINDS[rec["kind"]][0])
    table["problems"] = [
        "；".join(dict.fromkeys([*filter(None, [current]), *names.get(row, [])]))
        for current, row in zip(table["problems"], table["row"], strict=True)
    ]
