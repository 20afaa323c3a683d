"""Boundary joint inspection (行政区域界线联检): topology, line versions, 界桩, schedule.

Owns the checks of a joint inspection — gaps and overlaps between units at every level,
each line against its units' shared edge and its earlier version, boundary markers by the
register's numbering convention (GB/T 17796-2009 by default: displacement, condition, pairs
on the right sides), features straddling a line, the round schedule — and the findings table
they all write to, with the field list a team takes out. Uses ``schema`` and ``crs``; writes
nothing (the workbooks are in ``report``).
"""

from geoplan.boundary.features import check_facility_admin_codes, check_straddling_features
from geoplan.boundary.fieldlist import field_list
from geoplan.boundary.findings import FINDING_COLUMNS, FINDING_KINDS, Tolerances, finding_layers
from geoplan.boundary.inspection import BoundaryInspection, inspect_boundaries
from geoplan.boundary.lines import check_line_versions, check_lines_against_units
from geoplan.boundary.markers import check_markers, parse_marker_no
from geoplan.boundary.numbering import GBT_17796_2009, MarkerNumbering, numbering_from
from geoplan.boundary.rounds import (
    SCHEDULE_COLUMNS,
    check_rounds,
    inspection_plan,
    inspection_schedule,
)
from geoplan.boundary.topology import check_coverage, check_nesting, units_outline

__all__ = [
    "FINDING_COLUMNS",
    "FINDING_KINDS",
    "GBT_17796_2009",
    "SCHEDULE_COLUMNS",
    "BoundaryInspection",
    "MarkerNumbering",
    "Tolerances",
    "check_coverage",
    "check_facility_admin_codes",
    "check_line_versions",
    "check_lines_against_units",
    "check_markers",
    "check_nesting",
    "check_rounds",
    "check_straddling_features",
    "field_list",
    "finding_layers",
    "inspect_boundaries",
    "inspection_plan",
    "inspection_schedule",
    "numbering_from",
    "parse_marker_no",
    "units_outline",
]
