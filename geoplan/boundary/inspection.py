"""Boundary-line joint inspection (行政区域界线联检): all checks, the round schedule, one result.

Every administrative boundary line is inspected jointly by both sides every five years. This
module runs the whole inspection on layers already in the study's metric CRS:

- topology of the admin layer at every level given (province, city, county, township;
  gaps, overlaps, slivers, units outside their parent),
- each line against its two polygons (of the line's own level) and its earlier (agreement)
  version,
- boundary markers (界桩): numbers (GB/T 17796-2009 or the register's own convention),
  sequence, pairs and their sides, position, condition, custodian, inspection date,
- features across a line (straddling footprints, facilities recorded in the wrong unit),
- the round schedule: next due round per line and the year's plan (联检计划).

All problems come back as one tidy findings table (see :mod:`geoplan.boundary.findings`);
:func:`inspect_boundaries` is the single entry point. Writers live in
:mod:`geoplan.report.boundary`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoplan._text import code_text
from geoplan.boundary.features import check_facility_admin_codes, check_straddling_features
from geoplan.boundary.findings import (
    Tolerances,
    concat_findings,
    normalize_code,
    require_same_crs,
    tolerances_from,
)
from geoplan.boundary.lines import (
    DEVIATION_COLUMNS,
    check_line_versions,
    check_lines_against_units,
)
from geoplan.boundary.markers import MARKER_CHECK_COLUMNS, check_markers
from geoplan.boundary.numbering import GBT_17796_2009, MarkerNumbering, numbering_from
from geoplan.boundary.rounds import (
    as_date,
    check_rounds,
    inspection_plan,
    inspection_schedule,
)
from geoplan.boundary.topology import (
    check_coverage,
    check_nesting,
    code_key,
    coverage_gaps,
    require_units,
    unit_codes,
    unit_keys,
    unit_levels,
)
from geoplan.crs import require_metric
from geoplan.errors import require_columns

__all__ = ["BoundaryInspection", "inspect_boundaries"]

logger = logging.getLogger(__name__)

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
    numbering
        The marker numbering convention used.
    unit_names
        Unit code key (:func:`~geoplan.boundary.topology.code_key`) -> unit name, for the
        names of ``unit_a``/``unit_b`` in the reports.
    """

    findings: gpd.GeoDataFrame
    lines: pd.DataFrame
    markers: pd.DataFrame
    schedule: pd.DataFrame
    plan: pd.DataFrame
    reference_date: pd.Timestamp
    plan_year: int
    tolerances: Tolerances
    numbering: MarkerNumbering = GBT_17796_2009
    unit_names: Mapping[str, str] = field(default_factory=dict)


def inspect_boundaries(
    *,
    lines: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame | None = None,
    towns: gpd.GeoDataFrame | None = None,
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
    numbering: MarkerNumbering | Mapping[str, Any] | str | None = None,
) -> BoundaryInspection:
    """Run the whole joint inspection and return findings, line summary and schedule.

    Parameters
    ----------
    lines
        Current boundary lines (``line_code``, ``level``, ``left_code``, ``right_code``,
        ``version``, optional ``name``), metric CRS. Their side codes may have 2, 4, 6, 9 or
        12 digits; each line is compared with the units of its own level (a county-level
        line with the districts, or, without them, the union of their towns).
    units
        The units the lines separate (``code``, ``name``, optional ``level``), polygons in the
        same CRS: districts and counties (县级), townships (街道/镇), or several levels at
        once. Each level is checked for gaps and overlaps, and each finer level for units
        outside the coarser one containing their code.
    towns
        The former name of ``units`` (township-level units); give one of the two.
    villages
        Optional village units (``code``, ``parent_code``) checked for nesting in ``units``.
    previous_lines
        Optional earlier version of the lines (e.g. the 2016 agreement lines).
    markers
        Optional marker table (界桩成果表), coordinates in the same CRS.
    rounds
        Optional inspection rounds (``line_code``, ``round_no``, ``inspected_on``, ``findings``,
        ``agreement_signed``).
    facilities
        Optional facility points with ``admin_code`` (any level).
    projects
        Optional footprints (projects, settlements, parcels; id in ``project_id``).
    study_area
        Optional outline (shapely geometry or GeoDataFrame/GeoSeries) the coarsest units
        should fill; without it only interior gaps (holes) are found, as with
        :func:`~geoplan.boundary.topology.units_outline`.
    reference_date
        Date the inspection is judged at (overdue markers and rounds).
    plan_year
        Year of the inspection plan; default the year of ``reference_date``.
    tolerances
        :class:`Tolerances` or a mapping of overrides; defaults: topology 1 m² / sliver width
        1 m, line deviation 10 m, marker displacement 1 m, marker to line 5 m, marker layer
        point against the register 0.5 m, cycle 5 years, straddle 50 m² per side.
    numbering
        The marker register's numbering convention (default GB/T 17796-2009; see
        :func:`~geoplan.boundary.numbering.numbering_from`).

    Returns
    -------
    BoundaryInspection
        Findings (sorted, deterministic; ``unit_a``/``unit_b`` filled from each finding's
        line where the check did not name the units), per-line summary, marker check table,
        schedule, plan.

    Raises
    ------
    geoplan.errors.CRSError
        If a layer is not in a metric CRS, the layers' CRSs differ, or the marker
        coordinates are degrees.
    geoplan.errors.SchemaError
        If there are no units (an empty layer), a unit has no polygon, or the lines or
        rounds lack their key columns. Bad rows (malformed marker numbers, unknown codes,
        missing coordinates or dates, lines without geometry) are findings, not errors.
    ValueError
        If both or neither of ``units`` and ``towns`` are given, or a tolerance or the
        numbering convention is invalid.

    Examples
    --------
    Two 街道 and the line between them, drawn 30 m off their shared edge at one end:


    >>> import geopandas as gpd
    >>> import shapely
    >>> towns = gpd.GeoDataFrame(
    ...     {"code": ["350203001", "350203002"], "name": ["莲湖街道", "鹭江街道"]},
    ...     geometry=[shapely.box(612000, 2707000, 613000, 2708000),
    ...               shapely.box(613000, 2707000, 614000, 2708000)], crs=4548)
    >>> lines = gpd.GeoDataFrame(
    ...     {"line_code": ["0001"], "left_code": ["350203001"], "right_code": ["350203002"]},
    ...     geometry=[shapely.LineString([(613000, 2707000), (613030, 2708000)])], crs=4548)
    >>> result = inspect_boundaries(lines=lines, towns=towns, reference_date="2025-12-31")
    >>> result.findings[["kind", "line_code"]].values.tolist()
    [['line_polygon_deviation', '0001']]
    """
    if (units is None) == (towns is None):
        raise ValueError("give the units the lines separate as units= (towns= is its old name)")
    units = units if units is not None else towns
    require_units(units)
    tol = tolerances_from(tolerances)
    convention = numbering_from(numbering)
    ref = as_date(reference_date)
    layers = {"admin units": units, "boundary lines": lines}
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
    require_columns(lines, ("line_code", "left_code", "right_code"), "boundary lines")
    area = _outline(study_area)

    levels = _by_level(units)
    parts = _topology(levels, area, villages, lines, tol)
    line_findings, deviation = check_lines_against_units(lines, units, tolerances=tol)
    parts.append(line_findings)
    versions = pd.DataFrame(columns=["line_code", *DEVIATION_COLUMNS[5:]])
    if previous_lines is not None and len(previous_lines):
        version_findings, versions = check_line_versions(
            lines, previous_lines, units=units, tolerances=tol
        )
        parts.append(version_findings)
    marker_table = pd.DataFrame(columns=MARKER_CHECK_COLUMNS)
    if markers is not None:
        marker_findings, marker_table = check_markers(
            markers, lines, reference_date=ref, tolerances=tol, units=units,
            numbering=convention,
        )
        parts.append(marker_findings)
    if projects is not None and len(projects):
        parts.append(_straddles(projects, levels, lines, tol, crs))
    if facilities is not None and len(facilities):
        parts.append(check_facility_admin_codes(facilities, units))
    schedule = inspection_schedule(
        lines, rounds, reference_date=ref, cycle_years=tol.inspection_cycle_years
    )
    parts.append(check_rounds(schedule, rounds, lines, reference_date=ref,
                              cycle_years=tol.inspection_cycle_years))
    findings = _with_line_units(concat_findings(parts, crs), lines)
    year = ref.year if plan_year is None else int(plan_year)
    summary = _line_summary(lines, units, deviation, versions, marker_table, schedule, findings)
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
        numbering=convention,
        unit_names=_unit_names(units),
    )


def _unit_names(units: gpd.GeoDataFrame) -> dict[str, str]:
    """Code key -> name of every unit (empty without a ``name`` column)."""
    if "name" not in units.columns:
        return {}
    return {k: str(n) for k, n in zip(unit_keys(units), units["name"], strict=True)
            if n is not None and not (isinstance(n, float) and np.isnan(n))}


def _by_level(units: gpd.GeoDataFrame) -> list[gpd.GeoDataFrame]:
    """Split the units by level, coarsest first (province, city, county, town, village)."""
    order = ["province", "city", "county", "town", "village", "unit"]
    levels = unit_levels(units)
    return [units[levels == level] for level in order if (levels == level).any()]


def _topology(
    levels: list[gpd.GeoDataFrame],
    area: Any,
    villages: gpd.GeoDataFrame | None,
    lines: gpd.GeoDataFrame,
    tol: Tolerances,
) -> list[gpd.GeoDataFrame]:
    """Gaps and overlaps per level; each finer level (and the villages) nested in the coarser.

    The study area applies to the coarsest level; a finer level must fill the coarser units
    it subdivides (those whose code begins one of its codes), and a piece its parent level
    already lacks is that level's gap, not the child's.
    """
    parts = [check_coverage(levels[0], study_area=area, lines=lines, tolerances=tol)]
    for parent, child in itertools.pairwise(levels):
        keys = unit_keys(child)
        split = [any(c.startswith(k) and c != k for c in keys) for k in unit_keys(parent)]
        filled = shapely.union_all(parent.geometry.values[np.asarray(split, dtype=bool)])
        parts.append(check_coverage(child, study_area=None if filled.is_empty else filled,
                                    lines=lines, tolerances=tol))
    for parent, child in itertools.pairwise(levels):
        gaps = coverage_gaps(parent, study_area=area if parent is levels[0] else None)
        exclude = shapely.union_all(gaps) if gaps else None
        parts.append(check_nesting(_with_parent_codes(child, parent), parent,
                                   parent_col="_parent", exclude=exclude, tolerances=tol))
    if villages is not None and len(villages):
        towns = levels[-1]
        gaps = coverage_gaps(towns, study_area=area if len(levels) == 1 else None)
        exclude = shapely.union_all(gaps) if gaps else None
        parts.append(check_nesting(villages, towns, exclude=exclude, tolerances=tol))
    return parts


def _with_parent_codes(child: gpd.GeoDataFrame, parent: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``child`` with ``_parent``: the code of the parent unit its code starts with, if any."""
    parent_codes = dict(zip(unit_keys(parent), unit_codes(parent), strict=True))
    lengths = sorted({len(k) for k in parent_codes}, reverse=True)
    found = []
    for key in unit_keys(child):
        hit = next((parent_codes[key[:n]] for n in lengths if key[:n] in parent_codes), None)
        found.append(hit if hit is not None else key[: lengths[0]] if lengths else None)
    return child.assign(_parent=found)


def _straddles(
    projects: gpd.GeoDataFrame,
    levels: list[gpd.GeoDataFrame],
    lines: gpd.GeoDataFrame,
    tol: Tolerances,
    crs: Any,
) -> gpd.GeoDataFrame:
    """Footprints across a boundary, each at the coarsest level whose boundary it crosses."""
    found = []
    seen: set[str] = set()
    for level in levels:
        part = check_straddling_features(projects, level, lines=lines, tolerances=tol)
        part = part[~part["row"].isin(seen)]
        seen |= set(part["row"].dropna())
        found.append(part)
    return concat_findings(found, crs)


def _with_line_units(findings: gpd.GeoDataFrame, lines: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Fill ``unit_a``/``unit_b`` of findings about a line from the line's two sides."""
    sides = {
        normalize_code(c): (code_text(a), code_text(b))
        for c, a, b in zip(lines["line_code"], lines["left_code"], lines["right_code"],
                           strict=True)
    }
    out = findings.copy()
    empty = out["unit_a"].isna() & out["unit_b"].isna() & out["line_code"].notna()
    for col, k in (("unit_a", 0), ("unit_b", 1)):
        out.loc[empty, col] = [sides.get(c, (None, None))[k] for c in out.loc[empty, "line_code"]]
    return out


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
    units: gpd.GeoDataFrame,
    deviation: pd.DataFrame,
    versions: pd.DataFrame,
    markers: pd.DataFrame,
    schedule: pd.DataFrame,
    findings: gpd.GeoDataFrame,
) -> pd.DataFrame:
    """One row per line: attributes, measures, marker count, rounds and number of findings."""
    names = {}
    if "name" in units.columns:
        names = dict(zip(unit_keys(units), units["name"].astype(str), strict=True))
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
    table["left_name"] = [names.get(code_key(c), "") for c in lines["left_code"]]
    table["right_name"] = [names.get(code_key(c), "") for c in lines["right_code"]]
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
