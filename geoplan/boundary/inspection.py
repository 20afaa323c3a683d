"""Boundary-line joint inspection (行政区域界线联检): all checks, the round schedule, one result.

Every administrative boundary line is inspected jointly by both sides every five years. This
module runs the whole inspection on layers already in the study's metric CRS:

- topology of the admin layer (gaps, overlaps, slivers, villages outside their town),
- each line against its two polygons and against its earlier (agreement) version,
- boundary markers (界桩): numbers, sequence, position, condition, custodian, inspection date,
- features across a line (straddling footprints, facilities recorded in the wrong unit),
- the round schedule: next due round per line and the year's plan (联检计划).

All problems come back as one tidy findings table (see :mod:`geoplan.boundary.findings`);
:func:`inspect_boundaries` is the single entry point. Writers live in
:mod:`geoplan.report.boundary`.
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

from geoplan._text import is_missing, parse_date
from geoplan.boundary.features import check_facility_admin_codes, check_straddling_features
from geoplan.boundary.findings import (
    FINDING_COLUMNS,
    FINDING_KINDS,
    Tolerances,
    code_text,
    concat_findings,
    finding,
    findings_frame,
    normalize_code,
    require_columns,
    require_same_crs,
    tolerances_from,
)
from geoplan.boundary.lines import (
    DEVIATION_COLUMNS,
    check_line_versions,
    check_lines_against_units,
)
from geoplan.boundary.markers import MARKER_CHECK_COLUMNS, check_markers, parse_marker_no
from geoplan.boundary.topology import check_coverage, check_nesting, coverage_gaps, unit_codes
from geoplan.crs import require_metric

__all__ = [
    "FINDING_COLUMNS",
    "FINDING_KINDS",
    "BoundaryInspection",
    "Tolerances",
    "check_coverage",
    "check_facility_admin_codes",
    "check_line_versions",
    "check_lines_against_units",
    "check_markers",
    "check_nesting",
    "check_rounds",
    "check_straddling_features",
    "inspect_boundaries",
    "inspection_plan",
    "inspection_schedule",
    "parse_marker_no",
]

logger = logging.getLogger(__name__)

#: Columns of the round schedule (one row per line).
SCHEDULE_COLUMNS = [
    "line_code",
    "name",
    "level",
    "left_code",
    "right_code",
    "rounds_done",
    "last_round_no",
    "last_inspected_on",
    "agreement_signed",
    "next_round_no",
    "next_due",
    "overdue",
    "status",
]


@dataclass(frozen=True)
class BoundaryInspection:
    """Result of :func:`inspect_boundaries`.

    Attributes
    ----------
    findings
        All findings, sorted (GeoDataFrame, metric CRS, columns ``kind``, ``severity``,
        ``subject``, ``line_code``, ``detail``, ``value``, ``tolerance``, ``row``, geometry).
    lines
        Per-line summary: attributes, length, deviation from the polygons and from the earlier
        version, marker count, last round, next due date and number of findings.
    markers
        The marker check table (界桩检查表), one row per marker.
    schedule
        Round schedule, one row per line (:data:`SCHEDULE_COLUMNS`).
    plan
        The lines to inspect in ``plan_year`` (联检计划), overdue ones included.
    reference_date
        Date the inspection is judged at.
    plan_year
        Year of ``plan``.
    tolerances
        Tolerances used.
    """

    findings: gpd.GeoDataFrame
    lines: pd.DataFrame
    markers: pd.DataFrame
    schedule: pd.DataFrame
    plan: pd.DataFrame
    reference_date: pd.Timestamp
    plan_year: int
    tolerances: Tolerances


def _as_date(value: Any) -> pd.Timestamp:
    """Return a date as a normalised Timestamp (raises ValueError for missing or unparseable)."""
    stamp = parse_date(value)
    if pd.isna(stamp):
        raise ValueError(f"reference_date must be a date, got {value!r}")
    return stamp.normalize()


def _truthy(value: Any) -> bool | None:
    """Read a yes/no cell (True/False, 1/0, 是/否, yes/no); ``None`` when missing."""
    if is_missing(value):
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("是", "已签", "已签订", "true", "yes", "y", "1"):
            return True
        if text in ("否", "未签", "未签订", "false", "no", "n", "0", ""):
            return False
        return None
    return bool(value)


def inspection_schedule(
    lines: pd.DataFrame,
    rounds: pd.DataFrame | None,
    *,
    reference_date: Any,
    cycle_years: int = 5,
) -> pd.DataFrame:
    """Return the round schedule: last round and next due round of every line.

    The next round is due ``cycle_years`` after the last one; a line never inspected is due
    at ``reference_date``. A line is overdue when its due date lies before ``reference_date``.

    Parameters
    ----------
    lines
        Boundary lines (``line_code``; ``name``, ``level``, ``left_code``, ``right_code`` are
        copied when present).
    rounds
        Inspection rounds (``line_code``, ``round_no``, ``inspected_on``, optional
        ``findings`` and ``agreement_signed``); ``None`` = no round recorded.
    reference_date
        Date the schedule is judged at.
    cycle_years
        Inspection cycle in years.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SCHEDULE_COLUMNS`, one row per line, sorted by ``line_code``.
    """
    ref = _as_date(reference_date)
    done = _clean_rounds(rounds)
    out = []
    seen: set[str | None] = set()
    codes = [normalize_code(c) for c in lines["line_code"]]
    order = sorted(range(len(lines)), key=lambda i: str(codes[i]))
    for i in order:
        line, code = lines.iloc[i], codes[i]
        if code in seen:  # a repeated line code is reported by check_lines_against_units
            continue
        seen.add(code)
        mine = done[done["line_code"] == code].sort_values(["inspected_on", "round_no"])
        rec = {col: line.get(col) for col in ("name", "level", "left_code", "right_code")}
        rec["line_code"] = code
        rec["rounds_done"] = len(mine)
        if len(mine):
            last = mine.iloc[-1]
            last_no = last["round_no"]
            rec.update(
                last_round_no=last_no,
                last_inspected_on=last["inspected_on"],
                agreement_signed=last["agreement_signed"],
                next_round_no=None if pd.isna(last_no) else int(last_no) + 1,
                next_due=last["inspected_on"] + pd.DateOffset(years=cycle_years),
            )
        else:
            rec.update(next_due=ref)
        overdue = bool(rec["next_due"] < ref)
        rec["overdue"] = overdue
        if not len(mine):
            rec["status"] = "无联检记录，应即安排"
        elif overdue:
            rec["status"] = f"逾期 {(ref - rec['next_due']).days} 天"
        elif rec["next_due"].year == ref.year:
            rec["status"] = "本年到期"
        else:
            rec["status"] = "未到期"
        out.append(rec)
    table = pd.DataFrame(out, columns=SCHEDULE_COLUMNS)
    for col in ("last_inspected_on", "next_due"):
        table[col] = pd.to_datetime(table[col])
    for col in ("last_round_no", "next_round_no"):
        table[col] = table[col].astype("Int64")
    return table.reset_index(drop=True)


def _clean_rounds(rounds: pd.DataFrame | None, *, undated: bool = False) -> pd.DataFrame:
    """Return the rounds with text line codes, dates and round numbers.

    Rows without a readable date are dropped, or, with ``undated=True``, are the only rows
    returned (with the cell as written in ``raw_date``).
    """
    cols = ["line_code", "round_no", "inspected_on", "findings", "agreement_signed", "row"]
    cols += ["raw_date"]
    if rounds is None or len(rounds) == 0:
        return pd.DataFrame(columns=cols)
    require_columns(rounds, "inspection rounds", ("line_code", "inspected_on"))
    frame = pd.DataFrame(rounds).copy()
    frame["row"] = [str(i) for i in frame.index]
    frame["line_code"] = [normalize_code(v) for v in frame["line_code"]]
    raw = frame["inspected_on"]
    frame["raw_date"] = ["" if is_missing(v) else str(v).strip() for v in raw]
    frame["inspected_on"] = pd.to_datetime(
        pd.Series([parse_date(v) for v in raw], dtype=object, index=frame.index)
    )
    if "round_no" not in frame.columns:
        frame["round_no"] = None
    frame["round_no"] = [_round_no(v) for v in frame["round_no"]]
    frame["round_no"] = frame["round_no"].astype("Int64")
    frame["agreement_signed"] = [
        _truthy(v) for v in frame.get("agreement_signed", pd.Series(None, index=frame.index))
    ]
    if "findings" not in frame.columns:
        frame["findings"] = None
    keep = frame["inspected_on"].isna() if undated else frame["inspected_on"].notna()
    return frame.loc[keep, cols]


_ROUND_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _round_no(value: Any) -> int | None:
    """Read a round number: ``4``, ``4.0``, ``"4"``, ``"第4轮"`` or ``"第四轮"``; else ``None``."""
    if is_missing(value) or isinstance(value, bool):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return int(number) if number.is_integer() else None
    text = str(value).strip().removeprefix("第").removesuffix("轮").strip()
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    return _ROUND_DIGITS.get(text)


def _round_text(number: Any) -> str:
    """``第4轮``, or ``轮次不详`` when the round number is missing."""
    return "轮次不详" if is_missing(number) else f"第{int(number)}轮"


def inspection_plan(schedule: pd.DataFrame, year: int) -> pd.DataFrame:
    """Return the year's joint-inspection plan (联检计划): lines due in or before ``year``.

    Parameters
    ----------
    schedule
        Output of :func:`inspection_schedule`.
    year
        Plan year.

    Returns
    -------
    pandas.DataFrame
        The schedule rows due by the end of ``year`` (overdue lines first), sorted by due date
        and line code, with a ``plan_year`` column.
    """
    due = schedule[schedule["next_due"].dt.year <= year].copy()
    due["plan_year"] = year
    return due.sort_values(["next_due", "line_code"], kind="stable").reset_index(drop=True)


def check_rounds(
    schedule: pd.DataFrame,
    rounds: pd.DataFrame | None,
    lines: gpd.GeoDataFrame,
    *,
    reference_date: Any,
) -> gpd.GeoDataFrame:
    """Return ``round_overdue`` (per overdue line) and ``round_unknown_line`` findings.

    Parameters
    ----------
    schedule
        Output of :func:`inspection_schedule`.
    rounds
        The inspection rounds (for rows naming lines that do not exist).
    lines
        Boundary lines (geometry of the findings).
    reference_date
        Date the schedule is judged at.
    """
    ref = _as_date(reference_date)
    geom_of = {
        normalize_code(c): g for c, g in zip(lines["line_code"], lines.geometry.values, strict=True)
    }
    records = []
    for rec in schedule[schedule["overdue"]].itertuples(index=False):
        days = (ref - rec.next_due).days
        records.append(
            finding(
                "round_overdue",
                rec.line_code,
                f"上次联检 {rec.last_inspected_on:%Y-%m-%d}（{_round_text(rec.last_round_no)}），"
                f"应于 {rec.next_due:%Y-%m-%d} 前完成下一轮，已逾期 {days} 天",
                geometry=geom_of.get(rec.line_code),
                line_code=rec.line_code,
                value=days / 365.25,
                row=rec.line_code,
            )
        )
    done = _clean_rounds(rounds)
    for rec in done[~done["line_code"].isin(list(geom_of))].itertuples(index=False):
        records.append(
            finding(
                "round_unknown_line",
                str(rec.line_code),
                f"联检记录（{_round_text(rec.round_no)}，{rec.inspected_on:%Y-%m-%d}）"
                "的界线不在界线图层中",
                line_code=rec.line_code,
                row=rec.row,
            )
        )
    for rec in _clean_rounds(rounds, undated=True).itertuples(index=False):
        what = f"日期“{rec.raw_date}”无法识别" if rec.raw_date else "缺少联检日期"
        records.append(
            finding(
                "round_bad_date",
                str(rec.line_code),
                f"联检记录（{_round_text(rec.round_no)}）{what}，未计入联检周期",
                geometry=geom_of.get(rec.line_code),
                line_code=rec.line_code,
                row=rec.row,
            )
        )
    return findings_frame(records, lines.crs)


def inspect_boundaries(
    *,
    towns: gpd.GeoDataFrame,
    lines: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame | None = None,
    previous_lines: gpd.GeoDataFrame | None = None,
    markers: pd.DataFrame | None = None,
    rounds: pd.DataFrame | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    projects: gpd.GeoDataFrame | None = None,
    study_area: Any = None,
    reference_date: Any,
    plan_year: int | None = None,
    tolerances: Tolerances | Mapping[str, float] | None = None,
) -> BoundaryInspection:
    """Run the whole joint inspection and return findings, line summary and schedule.

    Parameters
    ----------
    towns
        Township-level units (街道/镇/开发区: ``code``, ``name``), polygons in the metric CRS;
        the lines separate these.
    lines
        Current boundary lines (``line_code``, ``level``, ``left_code``, ``right_code``,
        ``version``, optional ``name``), same CRS.
    villages
        Optional village units (``code``, ``parent_code``) checked for nesting in ``towns``.
    previous_lines
        Optional earlier version of the lines (e.g. the 2016 agreement lines).
    markers
        Optional marker table (界桩成果表), coordinates in the same CRS.
    rounds
        Optional inspection rounds (``line_code``, ``round_no``, ``inspected_on``, ``findings``,
        ``agreement_signed``).
    facilities
        Optional facility points with ``admin_code``.
    projects
        Optional footprints (projects, settlements, parcels; id in ``project_id``).
    study_area
        Optional outline (shapely geometry or GeoDataFrame/GeoSeries) the towns should fill;
        without it only interior gaps (holes) are found.
    reference_date
        Date the inspection is judged at (overdue markers and rounds).
    plan_year
        Year of the inspection plan; default the year of ``reference_date``.
    tolerances
        :class:`Tolerances` or a mapping of overrides; defaults: topology 1 m² / sliver width
        1 m, line deviation 10 m, marker displacement 1 m, marker to line 5 m, cycle 5 years,
        straddle 50 m² per side.

    Returns
    -------
    BoundaryInspection
        Findings (sorted, deterministic), per-line summary, marker check table, schedule, plan.

    Raises
    ------
    geoplan.errors.CRSError
        If a layer is not in a metric CRS, the layers' CRSs differ, or the marker
        coordinates are degrees.
    geoplan.errors.SchemaError
        If a unit has no polygon, or the lines or rounds lack their key columns. Bad rows
        (malformed marker numbers, unknown codes, missing coordinates or dates, lines without
        geometry) are findings, not errors.
    """
    tol = tolerances_from(tolerances)
    ref = _as_date(reference_date)
    layers = {"towns": towns, "boundary lines": lines}
    optional = {"villages": villages, "previous lines": previous_lines}
    optional |= {"facilities": facilities, "projects": projects}
    if isinstance(study_area, gpd.GeoDataFrame | gpd.GeoSeries):
        optional["study area"] = study_area
    for name, layer in {**layers, **optional}.items():
        if layer is not None:
            require_metric(layer, name)
    if isinstance(markers, gpd.GeoDataFrame):
        optional["boundary markers"] = markers
    crs = require_same_crs({**layers, **optional})
    require_columns(lines, "boundary lines", ("line_code", "left_code", "right_code"))
    area = _outline(study_area)

    parts = [check_coverage(towns, study_area=area, lines=lines, tolerances=tol)]
    if villages is not None and len(villages):
        gaps = coverage_gaps(towns, study_area=area)
        exclude = shapely.union_all(gaps) if gaps else None
        parts.append(check_nesting(villages, towns, exclude=exclude, tolerances=tol))
    line_findings, deviation = check_lines_against_units(lines, towns, tolerances=tol)
    parts.append(line_findings)
    versions = pd.DataFrame(columns=["line_code", *DEVIATION_COLUMNS[5:]])
    if previous_lines is not None and len(previous_lines):
        version_findings, versions = check_line_versions(
            lines, previous_lines, units=towns, tolerances=tol
        )
        parts.append(version_findings)
    marker_table = pd.DataFrame(columns=MARKER_CHECK_COLUMNS)
    if markers is not None:
        marker_findings, marker_table = check_markers(
            markers, lines, reference_date=ref, tolerances=tol
        )
        parts.append(marker_findings)
    if projects is not None and len(projects):
        parts.append(check_straddling_features(projects, towns, lines=lines, tolerances=tol))
    if facilities is not None and len(facilities):
        parts.append(check_facility_admin_codes(facilities, towns))
    schedule = inspection_schedule(
        lines, rounds, reference_date=ref, cycle_years=tol.inspection_cycle_years
    )
    parts.append(check_rounds(schedule, rounds, lines, reference_date=ref))
    findings = concat_findings(parts, crs)
    year = ref.year if plan_year is None else int(plan_year)
    summary = _line_summary(lines, towns, deviation, versions, marker_table, schedule, findings)
    logger.info("boundary inspection: %d lines, %d findings", len(lines), len(findings))
    return BoundaryInspection(
        findings=findings,
        lines=summary,
        markers=marker_table,
        schedule=schedule,
        plan=inspection_plan(schedule, year),
        reference_date=ref,
        plan_year=year,
        tolerances=tol,
    )


def _outline(study_area: Any) -> Any:
    """Return a study area (geometry, GeoSeries or GeoDataFrame) as one geometry, or None."""
    if study_area is None:
        return None
    if isinstance(study_area, gpd.GeoDataFrame | gpd.GeoSeries):
        require_metric(study_area, "study area")
        return study_area.union_all()
    return study_area


def _line_summary(
    lines: gpd.GeoDataFrame,
    towns: gpd.GeoDataFrame,
    deviation: pd.DataFrame,
    versions: pd.DataFrame,
    markers: pd.DataFrame,
    schedule: pd.DataFrame,
    findings: gpd.GeoDataFrame,
) -> pd.DataFrame:
    """One row per line: attributes, measures, marker count, rounds and number of findings."""
    names = {}
    if "name" in towns.columns:
        names = dict(zip(unit_codes(towns), towns["name"].astype(str), strict=True))
    keep = [
        c
        for c in ("line_code", "name", "level", "left_code", "right_code", "version")
        if c in lines.columns
    ]
    table = pd.DataFrame(lines[keep]).copy()
    table["line_code"] = pd.Series(
        [normalize_code(c) or "" for c in table["line_code"]], index=table.index, dtype=object
    )
    deviation, versions, schedule = (
        t.astype({"line_code": object}) for t in (deviation, versions, schedule)
    )
    table["left_name"] = [names.get(code_text(c), "") for c in lines["left_code"]]
    table["right_name"] = [names.get(code_text(c), "") for c in lines["right_code"]]
    # a repeated line code (reported as line_duplicate_code) keeps the first line's measures
    table = table.merge(deviation.drop_duplicates("line_code"), on="line_code", how="left")
    table = table.merge(versions.drop_duplicates("line_code"), on="line_code", how="left")
    counts = markers["line_code"].value_counts() if len(markers) else pd.Series(dtype="int64")
    table["n_markers"] = [int(counts.get(c, 0)) for c in table["line_code"]]
    sched = schedule[
        [
            "line_code",
            "last_round_no",
            "last_inspected_on",
            "agreement_signed",
            "next_due",
            "status",
        ]
    ]
    table = table.merge(sched, on="line_code", how="left")
    per_line = findings["line_code"].value_counts()
    table["n_findings"] = [int(per_line.get(c, 0)) for c in table["line_code"]]
    return table.sort_values("line_code", kind="stable").reset_index(drop=True)
