"""Walking access: nearest-facility times, reach matrices, coverage by unit, service areas, 2SFCA.

Owns every measure of who can walk to what: multi-source bounded searches on the network's CSR
graph, the sparse facility→demand reach matrix (compiled kernel), coverage tables per unit and
tier, service-area polygons and two-step floating catchment accessibility. Uses ``network``.
"""

from geoplan.access.areas import service_areas
from geoplan.access.coverage import MEASURES, assign_units, coverage_by_unit, coverage_gaps
from geoplan.access.distance import (
    DEFAULT_MAX_ACCESS_M,
    DEFAULT_SPEED_M_PER_MIN,
    DEFAULT_TIERS_MIN,
    LIFE_CIRCLE_REACH_M,
    REACH_EPSILON_M,
    nearest_facility_time,
    nearest_source_distance,
    reach_matrix,
    tier_reach_m,
)
from geoplan.access.fca import FCAResult, enhanced_two_step_fca, two_step_fca

__all__ = [
    "DEFAULT_MAX_ACCESS_M",
    "DEFAULT_SPEED_M_PER_MIN",
    "DEFAULT_TIERS_MIN",
    "LIFE_CIRCLE_REACH_M",
    "MEASURES",
    "REACH_EPSILON_M",
    "FCAResult",
    "assign_units",
    "coverage_by_unit",
    "coverage_gaps",
    "enhanced_two_step_fca",
    "nearest_facility_time",
    "nearest_source_distance",
    "reach_matrix",
    "service_areas",
    "tier_reach_m",
    "two_step_fca",
]
