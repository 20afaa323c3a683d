"""Where new sites go: candidates, LSCP / MCLP / p-median / capacitated models, exact and greedy.

Owns candidate generation and exclusion, the location models solved exactly with HiGHS on sparse
reach matrices (with a greedy + swap heuristic and Lagrangian bounds), the tables that rank sites
and compare coverage before and after, and the register of proposed sites (readable ids,
coordinates, 镇街/社区, newly covered per tier, nearest existing facility). Solver internals
(``greedy``, ``highs``, ``bounds``, ``model``) are modules, not re-exported. Uses ``access``.
"""

from geoplan.siting.assign import capacitated_mclp, p_median
from geoplan.siting.base import Quota, SitingResult, coverage_from_reach, quotas_from_labels
from geoplan.siting.candidates import (
    COLUMBARIUM_EXCLUSION_ZONES,
    candidate_sites_from_demand_clusters,
    candidate_sites_from_layer,
    candidate_sites_from_network_nodes,
    exclude_candidates,
    snap_to_network_nodes,
)
from geoplan.siting.covering import MultiYearPlan, lscp, mclp, mclp_multi_year
from geoplan.siting.curve import (
    CoverageCurve,
    SitesForShare,
    coverage_curve,
    fewest_sites_for_share,
    knee_p,
)
from geoplan.siting.layers import SiteProposal, propose_sites
from geoplan.siting.register import register_headers_zh, site_register
from geoplan.siting.tables import (
    coverage_before_after_by_unit,
    coverage_curve_table,
    demand_weights,
    rank_sites_by_marginal_gain,
    scenario_table,
)

__all__ = [
    "COLUMBARIUM_EXCLUSION_ZONES",
    "CoverageCurve",
    "MultiYearPlan",
    "Quota",
    "SiteProposal",
    "SitesForShare",
    "SitingResult",
    "candidate_sites_from_demand_clusters",
    "candidate_sites_from_layer",
    "candidate_sites_from_network_nodes",
    "capacitated_mclp",
    "coverage_before_after_by_unit",
    "coverage_curve",
    "coverage_curve_table",
    "coverage_from_reach",
    "demand_weights",
    "exclude_candidates",
    "fewest_sites_for_share",
    "knee_p",
    "lscp",
    "mclp",
    "mclp_multi_year",
    "p_median",
    "propose_sites",
    "quotas_from_labels",
    "rank_sites_by_marginal_gain",
    "register_headers_zh",
    "scenario_table",
    "site_register",
    "snap_to_network_nodes",
]
