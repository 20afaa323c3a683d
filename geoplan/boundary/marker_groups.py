"""Boundary markers (界桩) checked together: repeated numbers, groups, sequence, sides.

A serial appears once (a single marker), twice (a same-number pair, 同号双立) or three times
(a triple, 同号三立) on its line; anything else is reported (an incomplete pair or triple, a
serial used both as a single marker and as a group, a type code twice, a gap in 001, 002, …).
The markers of a pair stand on both sides of the line, typically on both banks of a river the
line follows: a member standing off the line is not a defect when another member of its group
stands on the other side with the line running between them. The first code of a pair (A in
GB/T 17796-2009) stands on the side of the smaller admin code, the second on the other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any, NamedTuple

import shapely

from geoplan._text import admin_code_key
from geoplan.boundary.findings import finding
from geoplan.boundary.numbering import PAIR, MarkerNumbering

#: A marker closer to its line than this stands on it (it is on neither side).
ON_LINE_M = 0.01


class Entry(NamedTuple):
    """One marker of a line's sequence.

    ``code`` is the type code (None when the number is malformed), ``geometry`` where the
    marker is drawn, ``reg`` its registered position (None if unregistered), ``to_line`` the
    distance from its registered position to the line (NaN when unknown).
    """

    serial: int
    code: str | None
    number: str
    row: str
    geometry: Any
    reg: Any
    to_line: float


def duplicate_numbers(
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
                    marker_no=number,
                    row=row,
                )
            )
    return records, {r["row"] for r in records}


def _group_findings(
    code: str, serial: int, group: list[Entry], dup_rows: set[str], numbering: MarkerNumbering
) -> list[dict[str, Any]]:
    """Check the markers of one serial: repeated codes, conflicting types, missing members."""
    records = []
    subject = f"{code}:{serial:03d}"
    seen: dict[str, Entry] = {}
    for entry in group:
        if entry.code is None:
            continue
        first = seen.setdefault(entry.code, entry)
        if first is not entry and entry.row not in dup_rows:
            records.append(
                finding(
                    "marker_duplicate",
                    entry.number,
                    f"界线 {code} 序号 {serial:03d} 类型码 {entry.code or '(无)'} 重复"
                    f"（同号另见行 {first.row}）",
                    geometry=entry.geometry,
                    line_code=code,
                    marker_no=entry.number,
                    row=entry.row,
                )
            )
    if not seen:
        return records
    order = list(numbering.groups)
    kinds = sorted({numbering.kind_of(c) for c in seen}, key=order.index)
    members = [e for e in group if e.code is not None]
    where = next((e.geometry for e in members if e.geometry is not None), None)
    rows = list(dict.fromkeys(e.row for e in members))
    written = "、".join(dict.fromkeys(e.number for e in members))
    if len(kinds) > 1:
        records.append(
            finding(
                "marker_type_conflict",
                subject,
                f"界线 {code} 序号 {serial:03d} 同时编为{'与'.join(kinds)}（{written}）",
                geometry=where,
                line_code=code,
                marker_no=written,
                row=rows,
            )
            | {"_rows": rows}
        )
        return records
    wanted = numbering.groups[kinds[0]]
    missing = [c for c in wanted if c not in seen]
    if missing:
        records.append(
            finding(
                "marker_group_incomplete",
                subject,
                f"{kinds[0]}界桩应有 {'/'.join(wanted)} 共 {len(wanted)} 个，"
                f"现有 {written}，缺少 {'、'.join(missing)}",
                geometry=where,
                line_code=code,
                marker_no=written,
                row=rows,
            )
            | {"_rows": rows}
        )
    return records


def _sequence_gaps(code: str, by_serial: Mapping[int, list[Entry]]) -> list[dict[str, Any]]:
    """Return the gap findings: serials missing from 1 to the largest one of a line."""
    records = []
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


def sequence_findings(
    serials: Mapping[str, list[Entry]], dup_rows: set[str], numbering: MarkerNumbering
) -> list[dict[str, Any]]:
    """Group findings per serial and gaps in the 001, 002, … sequence of every line."""
    records: list[dict[str, Any]] = []
    for code in sorted(serials):
        by_serial: dict[int, list[Entry]] = defaultdict(list)
        for entry in serials[code]:
            by_serial[entry.serial].append(entry)
        for serial in sorted(by_serial):
            records += _group_findings(code, serial, by_serial[serial], dup_rows, numbering)
        records += _sequence_gaps(code, by_serial)
    return records


def _complete_groups(
    serials: Mapping[str, list[Entry]], numbering: MarkerNumbering
) -> list[tuple[str, int, list[Entry]]]:
    """Return the groups (pairs, triples) of one consistent kind with at least two members."""
    out = []
    for code in sorted(serials):
        by_serial: dict[int, list[Entry]] = defaultdict(list)
        for entry in serials[code]:
            if entry.code is not None:
                by_serial[entry.serial].append(entry)
        for serial, members in sorted(by_serial.items()):
            kinds = {numbering.kind_of(e.code) for e in members}
            if len(members) >= 2 and len(kinds) == 1:
                out.append((code, serial, members))
    return out


def straddling_rows(
    serials: Mapping[str, list[Entry]], lines: Mapping[str, Any], numbering: MarkerNumbering
) -> set[str]:
    """Rows of group members with the line running between them and another member.

    A member counts when, for another member of its pair or triple, both stand off the line
    (farther than :data:`ON_LINE_M`) and the segment between them crosses the line: they
    stand on its two sides, as on the two banks of a river the line follows. Such members
    are not held to the marker-to-line tolerance.
    """
    rows: set[str] = set()
    for code, _, members in _complete_groups(serials, numbering):
        line = lines.get(code)
        placed = [e for e in members if e.reg is not None and e.to_line > ON_LINE_M]
        if line is None:
            continue
        for i, a in enumerate(placed):
            for b in placed[i + 1:]:
                if shapely.LineString([a.reg, b.reg]).intersects(line):
                    rows.update((a.row, b.row))
    return rows


def code_order(a: str, b: str) -> tuple[str, str]:
    """Return the two codes, the smaller first (by their significant digits, zero-padded)."""
    def rank(c: str) -> tuple[int, int | str]:
        key = admin_code_key(c)
        return (0, int(key.ljust(12, "0"))) if key.isdigit() else (1, c)

    return (a, b) if rank(a) <= rank(b) else (b, a)


def side_of(line: Any, point: Any) -> int:
    """Return +1 when ``point`` lies left of ``line`` (digitising direction), -1 right, 0 on it.

    The side is taken at the nearest point of the line (of its nearest part), so it holds
    for a line that bends; a point within :data:`ON_LINE_M` of the line is on it.
    """
    parts = [p for p in shapely.get_parts(line) if p.length > 0]
    if not parts or point is None:
        return 0
    part = min(parts, key=point.distance)
    if part.distance(point) <= ON_LINE_M:
        return 0
    at = part.project(point)
    step = min(1.0, part.length / 2)
    a = part.interpolate(max(at - step, 0.0))
    b = part.interpolate(min(at + step, part.length))
    near = part.interpolate(at)
    cross = (b.x - a.x) * (point.y - near.y) - (b.y - a.y) * (point.x - near.x)
    return 1 if cross > 0 else -1 if cross < 0 else 0


def smaller_side(line: Any, small: Any, large: Any, *, samples: int = 41) -> int:
    """Return the side (+1 left, -1 right) of ``line`` on which unit ``small`` lies; 0 unknown.

    Decided by a majority of points 1 m either side of the line along its length, so a
    stretch where the line strays from the polygons does not turn it round.
    """
    votes = 0
    for part in (p for p in shapely.get_parts(line) if p.length > 2.0):
        for k in range(samples):
            at = (k + 0.5) / samples * part.length
            a, b = part.interpolate(max(at - 1.0, 0.0)), part.interpolate(min(at + 1.0,
                                                                                part.length))
            dx, dy = b.x - a.x, b.y - a.y
            norm = (dx * dx + dy * dy) ** 0.5
            if norm == 0:
                continue
            mid = part.interpolate(at)
            left = shapely.Point(mid.x - dy / norm, mid.y + dx / norm)
            right = shapely.Point(mid.x + dy / norm, mid.y - dx / norm)
            if small.contains(left) and large.contains(right):
                votes += 1
            elif large.contains(left) and small.contains(right):
                votes -= 1
    return 1 if votes > 0 else -1 if votes < 0 else 0


def side_findings(
    serials: Mapping[str, list[Entry]],
    lines: Mapping[str, Any],
    sides: Mapping[str, tuple[str, str, int]],
    numbering: MarkerNumbering,
) -> list[dict[str, Any]]:
    """``marker_wrong_side``: a pair's first code not on the smaller code's side, or the second.

    Parameters
    ----------
    serials
        Line code -> its markers.
    lines
        Line code -> line geometry.
    sides
        Line code -> (smaller unit code, larger unit code, side of the line the smaller unit
        lies on: +1 left, -1 right; see :func:`smaller_side`).
    numbering
        The convention; ``numbering.pair[0]`` (A) belongs on the smaller code's side.

    Sides are judged against the line itself, not the polygons, so a line that strays from
    its polygons does not make its markers wrong. A marker standing on the line is not
    judged. When the two markers of a pair stand on each other's side, one finding names
    the pair (their codes swapped).
    """
    if len(numbering.pair) != 2:
        return []
    first, second = numbering.pair
    records: list[dict[str, Any]] = []
    for code, serial, members in _complete_groups(serials, numbering):
        if code not in sides or numbering.kind_of(members[0].code) != PAIR:
            continue
        small, large, small_side = sides[code]
        if not small_side:
            continue
        wrong = []
        for entry in members:
            side = side_of(lines[code], entry.reg) * small_side  # +1: the smaller code's side
            if (entry.code == first and side < 0) or (entry.code == second and side > 0):
                wrong.append((entry, large if side < 0 else small))
        if not wrong:
            continue
        if len(wrong) == 2 and {e.code for e, _ in wrong} == {first, second}:
            rows = [e.row for e, _ in wrong]
            numbers = "、".join(e.number for e, _ in wrong)
            records.append(
                finding(
                    "marker_wrong_side",
                    f"{code}:{serial:03d}",
                    f"同号双立界桩 {numbers} 位置对调：{first} 桩位于 {large} 一侧，"
                    f"应位于代码较小的 {small} 一侧",
                    geometry=wrong[0][0].reg,
                    line_code=code,
                    marker_no=numbers,
                    row=rows,
                )
                | {"_rows": rows}
            )
            continue
        for entry, stands in wrong:
            should = small if entry.code == first else large
            which = "较小" if entry.code == first else "较大"
            records.append(
                finding(
                    "marker_wrong_side",
                    entry.number,
                    f"{entry.code} 桩位于 {stands} 一侧，应位于代码{which}的 {should} 一侧",
                    geometry=entry.reg,
                    line_code=code,
                    marker_no=entry.number,
                    row=entry.row,
                )
            )
    return records
