"""Boundary joint inspection (行政区域界线联检): topology, line versions, 界桩, schedule.

Owns the checks of a joint inspection — gaps and overlaps between units, each line against its
units' shared edge and its earlier version, boundary markers (GB/T 17796-2009 numbers, displacement,
condition), features straddling a line — and the findings table they all write to. Uses ``schema``
and ``crs``; writes nothing (the workbooks are in ``report``).
"""

from geoplan.boundary.features import check_facility_admin_codes, check_straddling_features
from geoplan.boundary.findings import FINDING_COLUMNS, FINDING_KINDS, Tolerances, finding_layers
from geoplan.boundary.inspection import (
    BoundaryInspection,
    check_rounds,
    inspect_boundaries,
    inspection_plan,
    inspection_schedule,
)
from geoplan.boundary.lines import check_line_versions, check_lines_against_units
from geoplan.boundary.markers import check_markers, parse_marker_no
from geoplan.boundary.topology import check_coverage, check_nesting

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
    "finding_layers",
    "inspect_boundaries",
    "inspection_plan",
    "inspection_schedule",
    "parse_marker_no",
]
