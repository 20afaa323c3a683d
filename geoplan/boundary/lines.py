"""Boundary lines against the admin polygons and against their earlier version.

A registered boundary line should run along the shared edge of the two units it separates
(``left_code`` / ``right_code``) and, unless it was changed on purpose, along its earlier
version (e.g. the 2016 agreement line, 协议书附图). The checks here measure how far it departs:
deviating stretches, the sliver polygons between the two lines with their area on each side,
and the Hausdorff and mean deviation per line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geoplan._text import code_text
from geoplan.boundary.findings import (
    Tolerances,
    finding,
    findings_frame,
    fmt_m,
    fmt_m2,
    normalize_code,
    require_same_crs,
    tolerances_from,
)
from geoplan.boundary.topology import (
    code_key,
    line_parts,
    polygon_parts,
    unit_geometry,
    unit_keys,
    valid_units,
)
from geoplan.crs import require_metric
from geoplan.errors import require_columns

logger = logging.getLogger(__name__)

#: Columns of the per-line deviation table returned next to the findings.
DEVIATION_COLUMNS = [
    "line_code",
    "length_m",
    "hausdorff_m",
    "mean_deviation_m",
    "deviating_length_m",
    "version_hausdorff_m",
    "version_changed_length_m",
]


@dataclass(frozen=True)
class _Deviation:
    """How far one line departs from a reference (both directions)."""

    hausdorff_m: float
    mean_m: float
    stretches: BaseGeometry  # deviating parts of the line and of the reference
    deviating_length_m: float


def _densified_distances(line: BaseGeometry, reference: BaseGeometry, step_m: float):
    """Vertices of ``line`` densified to ``step_m`` and their distances to ``reference``."""
    dense = shapely.segmentize(line, step_m)
    parts = [p for p in shapely.get_parts(dense) if p.geom_type == "LineString"]
    out = []
    for part in parts:
        coords = shapely.get_coordinates(part)
        dist = shapely.distance(shapely.points(coords), reference)
        out.append((coords, dist))
    return out


def _runs_over(coords: np.ndarray, dist: np.ndarray, limit: float) -> list[BaseGeometry]:
    """Return the stretches of a densified line whose vertices lie farther than ``limit``."""
    over = dist > limit
    stretches: list[BaseGeometry] = []
    i, n = 0, len(over)
    while i < n:
        if not over[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and over[j + 1]:
            j += 1
        lo, hi = max(i - 1, 0), min(j + 1, n - 1)
        if hi > lo:
            stretches.append(shapely.LineString(coords[lo : hi + 1]))
        else:
            stretches.append(shapely.Point(coords[lo]))
        i = j + 1
    return stretches


def _mean_along(coords: np.ndarray, dist: np.ndarray) -> tuple[float, float]:
    """Length-weighted sum of distance along a densified line and its length."""
    if len(coords) < 2:
        return 0.0, 0.0
    seg = np.hypot(*np.diff(coords, axis=0).T)
    return float(np.sum(seg * (dist[:-1] + dist[1:]) / 2.0)), float(seg.sum())


def line_deviation(
    line: BaseGeometry,
    reference: BaseGeometry,
    *,
    limit_m: float,
    line_target: BaseGeometry | None = None,
) -> _Deviation:
    """Measure how far ``line`` departs from ``reference`` and the other way round.

    Parameters
    ----------
    line
        The registered line (metric CRS).
    reference
        The line it should follow (shared edge or earlier version).
    limit_m
        Distance beyond which a stretch counts as deviating.
    line_target
        What the line's own vertices are measured against (default ``reference``); the
        polygon check passes both polygons' boundaries so that a stretch lying on one
        polygon's edge is not counted twice with a topology gap or overlap.
    """
    step_m = max(limit_m / 2.0, 0.5)
    target = reference if line_target is None else line_target
    forward = _densified_distances(line, target, step_m)
    backward = _densified_distances(reference, line, step_m)
    stretches: list[BaseGeometry] = []
    total, length, worst, dev_len = 0.0, 0.0, 0.0, 0.0
    for coords, dist in forward:
        s, n = _mean_along(coords, dist)
        total, length = total + s, length + n
        if len(dist):
            worst = max(worst, float(dist.max()))
        runs = _runs_over(coords, dist, limit_m)
        dev_len += sum(r.length for r in runs)
        stretches.extend(runs)
    for coords, dist in backward:
        if len(dist):
            worst = max(worst, float(dist.max()))
        stretches.extend(_runs_over(coords, dist, limit_m))
    merged = shapely.union_all(stretches) if stretches else shapely.GeometryCollection()
    return _Deviation(worst, total / length if length else 0.0, merged, dev_len)


def _sliver_faces(
    line: BaseGeometry, reference: BaseGeometry, near: BaseGeometry, min_area_m2: float
) -> list[BaseGeometry]:
    """Polygons enclosed between ``line`` and ``reference`` that touch ``near``."""
    if near.is_empty:
        return []
    noded = shapely.union_all([line, reference])
    faces = polygon_parts(shapely.polygonize(shapely.get_parts(noded)))
    probe = shapely.buffer(near, 0.01)
    return [f for f in faces if f.area >= min_area_m2 and f.intersects(probe)]


def _side_areas(faces: list[BaseGeometry], left: BaseGeometry | None, right: BaseGeometry | None):
    """Area of the sliver faces inside the left and the right unit (m²)."""
    if not faces:
        return 0.0, 0.0
    union = shapely.union_all(faces)
    a_left = shapely.intersection(union, left).area if left is not None else np.nan
    a_right = shapely.intersection(union, right).area if right is not None else np.nan
    return float(a_left), float(a_right)


def _with_faces(stretches: BaseGeometry, faces: list[BaseGeometry]) -> BaseGeometry:
    """Return the deviating stretches and the sliver polygons between the lines as one."""
    if not faces:
        return stretches
    return shapely.GeometryCollection([*shapely.get_parts(stretches), *faces])


def shared_edge(a: BaseGeometry, b: BaseGeometry, *, snap_m: float) -> BaseGeometry:
    """Return the common boundary of two polygons as lines.

    ``a``'s boundary is first snapped to ``b``'s within ``snap_m`` (digitising noise), then
    intersected with it, so exactly coincident edges come back exactly.
    """
    snapped = shapely.snap(a.boundary, b.boundary, snap_m)
    return line_parts(shapely.intersection(snapped, b.boundary))


def _either_edge(
    a: BaseGeometry,
    b: BaseGeometry,
    edge: BaseGeometry,
    line: BaseGeometry,
    context: Mapping[str, Any],
    pair: tuple[str, str],
    tol: Tolerances,
) -> BaseGeometry:
    """Return where the line may run: the shared edge or either polygon's own free edge.

    Where the two polygons disagree (a gap or an overlap), following either one's edge is a
    topology problem, not a line problem; edges against third units are excluded so that a line
    is not excused by running along an unrelated boundary. Units inside one of the ``pair``
    units (the units themselves, the towns of a county) and units containing one (the city of
    two districts) are not third units (``pair`` holds the code keys).
    """
    tree, unit_geoms, codes = context["tree"], context["geoms"], context["codes"]
    snap_m = max(tol.sliver_width_m / 2.0, 0.01)
    both = shapely.union_all([a.boundary, b.boundary])
    near = tree.query(shapely.buffer(line, tol.line_deviation_m * 4), predicate="intersects")
    others = [unit_geoms[k].boundary for k in near
              if not codes[k].startswith(pair) and not any(p.startswith(codes[k]) for p in pair)]
    if others:
        both = shapely.difference(both, shapely.buffer(shapely.union_all(others), snap_m))
    return shapely.union_all([edge, both])


def _line_table(lines: gpd.GeoDataFrame) -> pd.DataFrame:
    """Lines as a plain table: row label, text codes, unit pair and linework (None if empty)."""
    geoms = [None if g is None or g.is_empty else line_parts(g) for g in lines.geometry.values]
    table = pd.DataFrame(
        {
            "row": [str(r) for r in lines.index],
            "code": [normalize_code(c) or "" for c in lines["line_code"]],
            "left": [code_text(c) or "" for c in lines["left_code"]],
            "right": [code_text(c) or "" for c in lines["right_code"]],
            "geometry": [None if g is None or g.is_empty else g for g in geoms],
        }
    )
    table["left_key"] = [code_key(c) for c in lines["left_code"]]
    table["right_key"] = [code_key(c) for c in lines["right_code"]]
    table["pair"] = [frozenset(p) for p in zip(table["left_key"], table["right_key"], strict=True)]
    return table


def _line_record_findings(table: pd.DataFrame) -> list[dict[str, Any]]:
    """``line_no_geometry`` and ``line_duplicate_code`` findings of the line records."""
    records = []
    for rec in table[table["geometry"].isna()].itertuples():
        records.append(
            finding(
                "line_no_geometry",
                rec.code,
                "界线没有线图形（空或非线要素）",
                line_code=rec.code,
                row=rec.row,
            )
        )
    repeated = table[table["code"].duplicated(keep="first")]
    for rec in repeated.itertuples():
        first = table.loc[table["code"] == rec.code, "row"].iloc[0]
        records.append(
            finding(
                "line_duplicate_code",
                rec.code,
                f"界线编码 {rec.code} 重复（另见行 {first}）",
                geometry=rec.geometry,
                line_code=rec.code,
                row=rec.row,
            )
        )
    return records


def _check_one_line(
    rec: pd.Series,
    others: list[BaseGeometry],
    stats: dict[str, Any],
    context: Mapping[str, Any],
    tol: Tolerances,
) -> list[dict[str, Any]]:
    """Return the findings of one line against its two units; fill ``stats``."""
    limit = tol.line_deviation_m
    line, code, row = rec["geometry"], rec["code"], rec["row"]
    left, right = rec["left"], rec["right"]
    geom_of = context["units"]

    def one(kind: str, detail: str, **kw: Any) -> list[dict[str, Any]]:
        return [finding(kind, code, detail, geometry=line, line_code=code, row=row,
                        units=(left, right), **kw)]

    keys = (rec["left_key"], rec["right_key"])
    # the units of the line's own level, else (a county line, town units) their towns' union
    a, b = (unit_geometry(k, geom_of) for k in keys)
    missing = [c or "(空)" for c, g in zip((left, right), (a, b), strict=True) if g is None]
    if missing:
        return one("line_unknown_unit", f"两侧政区代码 {'、'.join(missing)} 不在政区图层中")
    gap_m = min(line.distance(a.boundary), line.distance(b.boundary))
    if gap_m > limit:
        return one(
            "line_not_touching",
            f"界线距 {left}、{right} 政区边界最近 {fmt_m(gap_m)}，未接触任一政区",
            value=gap_m,
            tolerance=limit,
        )
    edge = shared_edge(a, b, snap_m=max(tol.sliver_width_m / 2.0, 0.01))
    if edge.length < limit:  # digitising noise: edges apart by up to the line tolerance
        loose = shared_edge(a, b, snap_m=limit)
        edge = loose if loose.length > edge.length else edge
    if edge.length < limit:
        return one(
            "line_units_not_adjacent",
            f"{left} 与 {right} 无共有边，界线长 {fmt_m(line.length)}",
            value=edge.length,
            tolerance=limit,
        )
    if others:  # several lines between the same two units (an enclave): each has its stretch
        elsewhere = shapely.buffer(shapely.union_all(others), limit)
        edge = line_parts(shapely.difference(edge, elsewhere))
    target = _either_edge(a, b, edge, line, context, keys, tol)
    dev = line_deviation(line, edge, limit_m=limit, line_target=target)
    stats.update(
        hausdorff_m=dev.hausdorff_m,
        mean_deviation_m=dev.mean_m,
        deviating_length_m=dev.deviating_length_m,
    )
    if dev.hausdorff_m <= limit:
        return []
    faces = _sliver_faces(line, edge, dev.stretches, tol.topology_area_m2)
    a_left, a_right = _side_areas(faces, a, b)
    return [
        finding(
            "line_polygon_deviation",
            code,
            f"界线偏离共有边：最大 {fmt_m(dev.hausdorff_m)}，平均 {dev.mean_m:.2f} m，"
            f"偏离段长 {fmt_m(dev.deviating_length_m)}；夹块 {len(faces)} 个，"
            f"左侧({left}) {fmt_m2(a_left)}，右侧({right}) {fmt_m2(a_right)}",
            geometry=_with_faces(dev.stretches, faces),
            line_code=code,
            units=(left, right),
            value=dev.hausdorff_m,
            tolerance=limit,
            row=row,
        )
    ]


def check_lines_against_units(
    lines: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    code_col: str = "code",
    tolerances: Tolerances | Mapping[str, float] | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Compare every registered line with the shared edge of its two units.

    A point of the line deviates when it lies farther than ``line_deviation_m`` from the
    boundaries of both units (where the units themselves disagree, a gap or overlap, the
    line may follow either edge: that is a topology finding, not a line finding); a stretch of
    the shared edge deviates when it lies that far from the line.

    Parameters
    ----------
    lines
        Boundary lines (``line_code``, ``left_code``, ``right_code``, geometry), metric CRS.
    units
        The units the lines separate (towns for township-level lines), same CRS.
    code_col
        Unit code column.
    tolerances
        :class:`~geoplan.boundary.findings.Tolerances` or a mapping of overrides.

    Returns
    -------
    findings : geopandas.GeoDataFrame
        ``line_polygon_deviation`` (value = Hausdorff distance in m, geometry = deviating
        stretches of the line and of the shared edge plus the sliver polygons between them),
        ``line_not_touching``, ``line_units_not_adjacent``, ``line_unknown_unit``, and
        ``line_no_geometry`` / ``line_duplicate_code`` for bad line records. Several lines
        between the same two units (an enclave, 飞地) each answer for their own stretch of
        the shared edge. Units whose edges lie apart by digitising noise (up to
        ``line_deviation_m``) still count as adjacent.
    deviation : pandas.DataFrame
        One row per line: ``line_code``, ``length_m``, ``hausdorff_m``, ``mean_deviation_m``,
        ``deviating_length_m`` (NaN when the line could not be compared).
    """
    require_metric(lines, "boundary lines")
    require_metric(units, "admin units")
    require_same_crs({"boundary lines": lines, "admin units": units})
    tol = tolerances_from(tolerances)
    require_columns(lines, ("line_code", "left_code", "right_code"), "boundary lines")
    units, _ = valid_units(units, "admin units", code_col)
    geom_of = dict(zip(unit_keys(units, code_col), units.geometry.values, strict=True))
    unit_geoms = np.asarray(units.geometry.values, dtype=object)
    context = {
        "units": geom_of,
        "geoms": unit_geoms,
        "codes": unit_keys(units, code_col),
        "tree": shapely.STRtree(unit_geoms),
    }
    table = _line_table(lines)
    records: list[dict[str, Any]] = _line_record_findings(table)
    rows: list[dict[str, Any]] = []
    for k in range(len(table)):
        rec = table.iloc[k]
        line = rec["geometry"]
        stats = {"line_code": rec["code"], "length_m": 0.0 if line is None else float(line.length)}
        rows.append(stats)
        if line is None:
            continue
        same_pair = table[(table["pair"] == rec["pair"]) & (table.index != table.index[k])]
        others = [g for g in same_pair["geometry"] if g is not None]
        records.extend(_check_one_line(rec, others, stats, context, tol))
    table = pd.DataFrame(rows, columns=DEVIATION_COLUMNS[:5])
    return findings_frame(records, lines.crs), table


def check_line_versions(
    lines: gpd.GeoDataFrame,
    previous: gpd.GeoDataFrame,
    *,
    units: gpd.GeoDataFrame | None = None,
    code_col: str = "code",
    tolerances: Tolerances | Mapping[str, float] | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Compare every line with its earlier version (matched on ``line_code``).

    When ``previous`` holds several versions of a line, the latest (largest ``version``) is
    used. Lines without an earlier version are not compared (a new line is not a defect).

    Parameters
    ----------
    lines, previous
        Current and earlier boundary lines, same metric CRS.
    units
        Optional units; when given, the area enclosed between the versions is split into the
        part inside the left and the right unit.
    code_col
        Unit code column.
    tolerances
        Stretches farther apart than ``line_deviation_m`` count as changed.

    Returns
    -------
    findings : geopandas.GeoDataFrame
        ``line_version_change`` per changed line (value = Hausdorff distance in m, geometry =
        the changed stretches of both versions plus the polygons enclosed between them). The
        digitising direction does not matter.
    changes : pandas.DataFrame
        ``line_code``, ``version_hausdorff_m``, ``version_changed_length_m`` per compared line.
    """
    require_metric(lines, "boundary lines")
    require_metric(previous, "previous boundary lines")
    require_same_crs({"boundary lines": lines, "previous boundary lines": previous})
    require_columns(lines, ("line_code", "left_code", "right_code"), "boundary lines")
    require_columns(previous, ("line_code",), "previous boundary lines")
    tol = tolerances_from(tolerances)
    limit = tol.line_deviation_m
    geom_of = {}
    if units is not None:
        geom_of = dict(zip(unit_keys(units, code_col), units.geometry.values, strict=True))
    prev = previous.copy()
    prev["_code"] = [normalize_code(c) for c in prev["line_code"]]
    prev = prev[[g is not None and not g.is_empty for g in prev.geometry.values]]
    if "version" in prev.columns:
        prev["_version"] = [code_text(v) or "" for v in prev["version"]]
        prev = prev.sort_values("_version", kind="stable")
    latest = prev.drop_duplicates("_code", keep="last").set_index("_code")
    records: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for row, code, left, right, left_key, right_key, line in _line_table(lines)[
        ["row", "code", "left", "right", "left_key", "right_key", "geometry"]
    ].itertuples(index=False):
        if code not in latest.index or line is None:
            continue
        old = latest.geometry.loc[code]
        dev = line_deviation(line, old, limit_m=limit)
        rows.append(
            {
                "line_code": code,
                "version_hausdorff_m": dev.hausdorff_m,
                "version_changed_length_m": dev.deviating_length_m,
            }
        )
        if dev.hausdorff_m <= limit:
            continue
        faces = _sliver_faces(line, old, dev.stretches, tol.topology_area_m2)
        a_left, a_right = _side_areas(
            faces, unit_geometry(left_key, geom_of), unit_geometry(right_key, geom_of)
        )
        area = sum(f.area for f in faces)
        old_version = latest["version"].loc[code] if "version" in latest.columns else "上一版"
        sides = (
            f"，其中左侧({left}) {fmt_m2(a_left)}、右侧({right}) {fmt_m2(a_right)}"
            if geom_of
            else ""
        )
        records.append(
            finding(
                "line_version_change",
                code,
                f"与 {old_version} 版相比：最大偏移 {fmt_m(dev.hausdorff_m)}，变化段长 "
                f"{fmt_m(dev.deviating_length_m)}，两版之间面积 {fmt_m2(area)}{sides}",
                geometry=_with_faces(dev.stretches, faces),
                line_code=code,
                units=(left, right),
                value=dev.hausdorff_m,
                tolerance=limit,
                row=row,
            )
        )
    table = pd.DataFrame(rows, columns=["line_code", *DEVIATION_COLUMNS[5:]])
    return findings_frame(records, lines.crs), table
