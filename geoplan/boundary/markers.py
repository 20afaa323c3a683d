"""Boundary-marker (界桩) checks: numbers, position, condition, custodian, inspection.

The marker table (界桩成果表) gives each marker's number, registered position (登记坐标),
this round's surveyed position (实测坐标), its type (单立/双立/三立, checked against the type
code), its condition (完好/损坏/丢失/移位 …), its custodian (管护员) and last inspection
date. Numbers follow a convention (:mod:`geoplan.boundary.numbering`; GB/T 17796-2009 by
default). Each marker is checked here; what involves several markers (repeated numbers,
pairs and triples, the sequence, the sides of a pair, pairs on both banks of a river) is
:mod:`geoplan.boundary.marker_groups`. Rows with broken numbers, unknown lines, unreadable
cells or no coordinates are reported, never rejected.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

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
from geoplan.boundary.marker_groups import (
    Entry,
    code_order,
    duplicate_numbers,
    sequence_findings,
    side_findings,
    smaller_side,
    straddling_rows,
)
from geoplan.boundary.numbering import (
    GBT_17796_2009,
    PAIR,
    SINGLE,
    TRIPLE,
    MarkerNumbering,
    malformed_reason,
    numbering_from,
    parse_number,
    serial_of,
)
from geoplan.boundary.topology import code_key, unit_geometry, unit_keys, valid_units
from geoplan.crs import require_metric
from geoplan.errors import CRSError, Problem, SchemaError
from geoplan.schema.contracts import READ_PROBLEMS

#: Marker type (GB/T 17796-2009) -> the type codes of one serial's complete group.
MARKER_GROUPS = GBT_17796_2009.groups
#: Type code (GB/T 17796-2009) -> marker type.
MARKER_TYPES = {code: kind for kind, codes in MARKER_GROUPS.items() for code in codes}
#: How a type column may name the marker types (compared after NFKC, lower case, no blanks).
_TYPE_WORDS = {
    "单立": SINGLE, "单": SINGLE, "单桩": SINGLE, "single": SINGLE, "q": SINGLE,
    "双立": PAIR, "同号双立": PAIR, "双": PAIR, "双桩": PAIR,
    "double": PAIR, "pair": PAIR, "paired": PAIR, "a": PAIR,
    "b": PAIR, "a/b": PAIR,
    "三立": TRIPLE, "同号三立": TRIPLE, "三": TRIPLE, "三桩": TRIPLE,
    "triple": TRIPLE, "c": TRIPLE, "d": TRIPLE, "e": TRIPLE,
    "c/d/e": TRIPLE,
}  # fmt: skip
#: Conditions that need action, with the action (复位 = put back after a resurvey).
CONDITION_ACTIONS = {"丢失": "补设", "损毁": "更换", "损坏": "修缮", "倾斜": "修缮", "移位": "复位"}
BAD_CONDITIONS = tuple(CONDITION_ACTIONS)
GOOD_CONDITION = "完好"
_CONDITION_SYNONYMS = {
    "intact": "完好",
    "good": "完好",
    "missing": "丢失",
    "lost": "丢失",
    "destroyed": "损毁",
    "damaged": "损坏",
    "tilted": "倾斜",
    "moved": "移位",
    "displaced": "移位",
}
MARKER_COLUMNS = ("marker_no", "line_code", "x_reg", "y_reg")
_REG_COLUMNS = {"x_reg", "y_reg", "lon", "lat", "geometry"}
_OBS_COLUMNS = {"x_obs", "y_obs"}
_GEOM_COLUMNS = {"x_geom", "y_geom"}
_XY = ("x_reg", "y_reg", "x_obs", "y_obs", "x_geom", "y_geom")

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
    """Split a well-formed GB/T 17796-2009 marker number into line code, serial and type code.

    Returns ``None`` for a malformed number: not 8 characters, a serial that is not three
    ASCII digits or is ``000``, or a type code other than Q, A, B, C, D, E. Other
    conventions: :func:`geoplan.boundary.numbering.parse_number`.

    Examples
    --------
    >>> parse_marker_no("0003012B")
    {'line': '0003', 'serial': 12, 'type': 'B'}
    >>> parse_marker_no("000312Q") is None
    True
    """
    return parse_number(value, GBT_17796_2009)


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
    """Split a ``read_problems`` cell into lists of notes by what they concern."""
    notes: dict[str, list[str]] = defaultdict(list)
    for line in _text(value).splitlines():
        column, sep, message = line.partition(": ")
        if not sep:
            column, message = "", line
        if column in _REG_COLUMNS:
            notes["reg"].append(message)
        elif column in _OBS_COLUMNS:
            notes["obs"].append(message)
        elif column in _GEOM_COLUMNS:
            notes["geom"].append(message)
        elif column == "last_inspected":
            notes["date"].append(message)
        elif column == "marker_no":
            notes["number"].append(message)
        elif line.strip():
            notes["other"].append(line.strip())
    return notes


def _prepared(markers: pd.DataFrame) -> pd.DataFrame:
    """Return the marker table with numeric x/y columns (the cells as written kept in ``_raw_*``).

    A point layer without ``x_reg``/``y_reg`` takes its registered position from its
    geometry; one with them has its geometry compared (``x_geom``/``y_geom``, unless the
    reader already wrote those).
    """
    frame = pd.DataFrame(markers).copy()
    if isinstance(markers, gpd.GeoDataFrame) and markers.geometry.name in markers.columns:
        points = markers.geometry.values
        xy = (
            [np.nan if p is None or p.is_empty else p.x for p in points],
            [np.nan if p is None or p.is_empty else p.y for p in points],
        )
        if "x_reg" not in frame.columns:
            frame["x_reg"], frame["y_reg"] = xy
        elif "x_geom" not in frame.columns:
            frame["x_geom"], frame["y_geom"] = xy
    for col in _XY:
        if col not in frame.columns and col in MARKER_COLUMNS:
            continue  # a required column: reported as missing
        values = frame[col] if col in frame.columns else pd.Series(np.nan, index=frame.index)
        frame[f"_raw_{col}"] = values.astype(object)
        frame[col] = np.array([_number(v) for v in values], dtype="float64")
    return frame


def check_markers(
    markers: pd.DataFrame,
    lines: gpd.GeoDataFrame,
    *,
    reference_date: Any,
    tolerances: Tolerances | Mapping[str, float] | None = None,
    units: gpd.GeoDataFrame | None = None,
    numbering: MarkerNumbering | Mapping[str, Any] | str | None = None,
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
        the reader could not read, and each becomes part of a finding. A point layer's own
        position (``x_geom``/``y_geom``, or the geometry of a GeoDataFrame that also has
        ``x_reg``/``y_reg``) is compared with the registered and surveyed positions.
    lines
        Boundary lines with ``line_code`` (and ``left_code``/``right_code`` for the side
        check), metric CRS.
    reference_date
        Date the inspection is judged at (anything :func:`pandas.Timestamp` accepts).
    tolerances
        ``marker_displacement_m``, ``marker_to_line_m``, ``marker_geometry_m``,
        ``inspection_cycle_years``.
    units
        Optional admin units (``code``), same CRS: with them, the two markers of a pair are
        checked to stand on their sides (A on the smaller code's).
    numbering
        The register's numbering convention (:func:`geoplan.boundary.numbering.numbering_from`:
        a :class:`~geoplan.boundary.numbering.MarkerNumbering`, a mapping or a name); default
        GB/T 17796-2009.

    Returns
    -------
    findings : geopandas.GeoDataFrame
        ``marker_*`` findings; subject = the marker number as written (``line:serial`` for
        a sequence gap, an incomplete pair/triple, a serial of conflicting types or a pair
        standing on each other's side), row = the marker table's index label (several,
        comma-separated, for a group), ``marker_no`` = the marker(s) concerned.
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
    ValueError
        If ``numbering`` is not a valid convention.
    """
    convention = numbering_from(numbering)
    frame = _prepared(markers)
    missing_cols = [c for c in MARKER_COLUMNS if c not in frame.columns]
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
    serials: dict[str, list[Entry]] = defaultdict(list)
    context = {"lines": line_geom, "tol": tol, "ref": ref, "type_col": type_col,
               "numbering": convention}
    rows = frame.to_dict("records")  # plain dicts: much faster than frame.iloc[k]
    geoms = [_marker_position(rec) for rec in rows]
    for k, row in enumerate(frame.index):
        last = (inspected.iloc[k], raw_dates.iloc[k])
        found, check = _check_one_marker(rows[k], row, last, context)
        records.extend(found)
        checks.append(check)
        serial = serial_of(check["marker_no"], convention)
        if check["line_code"] in line_geom and serial is not None:
            parsed = parse_number(check["marker_no"], convention)
            entry = Entry(serial[1], parsed["type"] if parsed else None, check["marker_no"],
                          str(row), geoms[k], _point(rows[k]["x_reg"], rows[k]["y_reg"]),
                          check["distance_to_line_m"])
            serials[check["line_code"]].append(entry)
    # a pair on both banks of a river: the line runs between them, they are not off it
    between = straddling_rows(serials, line_geom, convention)
    records = [r for r in records if not (r["kind"] == "marker_off_line" and r["row"] in between)]
    numbers = [(c["marker_no"], c["row"], c["line_code"]) for c in checks]
    group_records, dup_rows = duplicate_numbers(numbers, geoms)
    group_records += sequence_findings(serials, dup_rows, convention)
    if units is not None and len(units):
        group_records += side_findings(serials, line_geom, _line_sides(lines, units),
                                       convention)
    records.extend(group_records)
    table = pd.DataFrame(checks, columns=MARKER_CHECK_COLUMNS)
    table["last_inspected"] = pd.to_datetime(table["last_inspected"])
    table["problems"] = _problem_names(table["row"], records)
    return findings_frame(records, lines.crs), table


def _line_sides(
    lines: gpd.GeoDataFrame, units: gpd.GeoDataFrame
) -> dict[str, tuple[str, str, int]]:
    """Line code -> (smaller code, larger code, side of the line the smaller unit lies on)."""
    if not {"left_code", "right_code"} <= set(lines.columns):
        return {}
    require_same_crs({"boundary lines": lines, "admin units": units})
    units, _ = valid_units(units)
    geom_of = dict(zip(unit_keys(units), units.geometry.values, strict=True))
    out = {}
    for code, left, right, line in zip(lines["line_code"], lines["left_code"],
                                       lines["right_code"], lines.geometry.values, strict=True):
        small, large = code_order(_text(left), _text(right))
        a, b = (unit_geometry(code_key(c), geom_of) for c in (small, large))
        if a is not None and b is not None and line is not None and not line.is_empty:
            out[normalize_code(code)] = (small, large, smaller_side(line, a, b))
    return out


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
            "declaring its coordinates, with to_crs = the study's metric CRS"
        )


def _marker_position(rec: Mapping[str, Any]) -> Any:
    """Return where a marker is drawn: its registered position, else its surveyed one, else None."""
    reg = _point(rec["x_reg"], rec["y_reg"])
    return reg if reg is not None else _point(rec["x_obs"], rec["y_obs"])


def _unreadable(rec: Mapping[str, Any], cols: tuple[str, str]) -> list[str]:
    """Cells of ``cols`` that hold text but no number, quoted."""
    raw = [_text(rec[f"_raw_{c}"]) for c in cols]
    return [f"“{t}”" for t, c in zip(raw, cols, strict=True) if t and not math.isfinite(rec[c])]


def _check_one_marker(
    rec: Mapping[str, Any], row: object, last: Any, context: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Return the findings and the check-table row of one marker (``problems`` filled later)."""
    tol: Tolerances = context["tol"]
    numbering: MarkerNumbering = context["numbering"]
    line_geom = context["lines"]
    notes = _read_notes(rec.get(READ_PROBLEMS))
    number = _text(rec["marker_no"])
    parsed = parse_number(number, numbering)
    code = normalize_code(rec["line_code"])
    if code is None:
        head = serial_of(number, numbering) if number else None
        code = head[0] if head else None
    reg = _point(rec["x_reg"], rec["y_reg"])
    obs = _point(rec["x_obs"], rec["y_obs"])
    subject = number or f"(无编号 {row})"
    found: list[dict[str, Any]] = []

    def add(kind: str, detail: str, geom: Any = None, **kw: Any) -> None:
        geom = geom if geom is not None else (reg if reg is not None else obs)
        found.append(finding(kind, subject, detail, geometry=geom, line_code=code,
                             marker_no=number or None, row=row, **kw))

    if parsed is None:
        add("marker_number_malformed", malformed_reason(number, numbering))
    known = code is not None and code in line_geom
    if not known:
        add("marker_unknown_line", f"界线编码 {code or '(空)'} 不在界线图层中")
    elif parsed is not None and parsed["line"] and normalize_code(parsed["line"]) != code:
        add("marker_line_mismatch", f"编号中的界线编码 {parsed['line']} 与所属界线 {code} 不符")
    marker_type = numbering.kind_of(parsed["type"]) if parsed else ""
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
                f"界桩类型“{written}”与类型码 {parsed['type'] or '(无)'}（{marker_type}）不符",
            )
        marker_type = marker_type or named or ""
    if reg is None:
        bad = _unreadable(rec, ("x_reg", "y_reg"))
        why = [f"无法识别：{'、'.join(bad)}"] if bad else []
        why += notes["reg"]
        detail = f"（{'；'.join(why)}）" if why else ""
        add("marker_no_coordinates", f"缺少登记坐标（登记X/登记Y）{detail}")
    elif notes["reg"]:
        add("marker_bad_value", f"登记坐标：{'；'.join(notes['reg'])}")
    bad_obs = _unreadable(rec, ("x_obs", "y_obs"))
    if bad_obs or notes["obs"]:
        why = ([f"无法识别：{'、'.join(bad_obs)}"] if bad_obs else []) + notes["obs"]
        add("marker_bad_value", f"实测坐标（实测X/实测Y）：{'；'.join(why)}", obs)
    if notes["geom"]:
        add("marker_bad_value", f"图形位置：{'；'.join(notes['geom'])}")
    for note in notes["other"]:
        add("marker_bad_value", note)
    _compare_drawn(rec, reg, obs, tol, add)
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
    if condition in CONDITION_ACTIONS:
        add("marker_condition", f"状况：{condition}", action=CONDITION_ACTIONS[condition])
    elif condition != GOOD_CONDITION:
        add(
            "marker_condition",
            f"状况“{condition or '(空)'}”不是 完好/损坏/损毁/倾斜/丢失/移位 之一",
            severity="warning",
        )
    custodian = _text(rec.get("custodian"))
    if not custodian:
        add("marker_no_custodian", "未落实管护员")
    _check_inspected(last, notes, context, add)
    check = {
        "marker_no": number,
        "line_code": code,
        "marker_type": marker_type,
        "condition": condition,
        "custodian": custodian,
        "last_inspected": last[0],
        "displacement_m": displacement,
        "distance_to_line_m": to_line,
        "problems": "",
        "row": str(row),
    }
    return found, check


def _compare_drawn(rec: Mapping[str, Any], reg: Any, obs: Any, tol: Tolerances, add: Any) -> None:
    """Compare a point layer's own point with the register: a disagreement is a finding."""
    drawn = _point(rec["x_geom"], rec["y_geom"])
    if drawn is None or (reg is None and obs is None):
        return
    to_reg = drawn.distance(reg) if reg is not None else math.inf
    to_obs = drawn.distance(obs) if obs is not None else math.inf
    if min(to_reg, to_obs) <= tol.marker_geometry_m:
        return
    parts = [f"距登记坐标 {fmt_m(to_reg)}" if reg is not None else "",
             f"距实测坐标 {fmt_m(to_obs)}" if obs is not None else ""]
    add(
        "marker_geometry_mismatch",
        f"图层中的点位{'、'.join(p for p in parts if p)}，与成果表不符",
        drawn,
        value=to_reg if reg is not None else to_obs,
        tolerance=tol.marker_geometry_m,
    )


def _check_inspected(last: Any, notes: Mapping[str, list[str]], context: Mapping[str, Any],
                     add: Any) -> None:
    """``marker_overdue`` when the last inspection is unknown or older than the cycle."""
    tol: Tolerances = context["tol"]
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


def _problem_names(rows: pd.Series, records: list[dict[str, Any]]) -> list[str]:
    """Return the Chinese names of every finding of each marker row, in report order."""
    names: dict[str, list[str]] = defaultdict(list)
    for rec in records:
        members = rec.get("_rows") or ([] if rec["row"] is None else [rec["row"]])
        for row in members:
            names[str(row)].append(FINDING_KINDS[rec["kind"]].name_zh)
    return ["；".join(dict.fromkeys(names.get(row, []))) for row in rows]
