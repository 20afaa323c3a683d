"""Siting on layers: from a walking network, population cells and facility points to a proposal.

A thin adapter over :mod:`geoplan.siting` (which works on matrices): it computes the reach
matrices with :func:`geoplan.access.reach_matrix`, builds candidates from uncovered demand
when none are given, runs the model and returns the ranked sites as a layer plus the
before/after table per admin unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from geoplan import siting
from geoplan.errors import Problem, SchemaError
from geoplan.siting.base import Quota, SitingResult, coverage_from_reach
from geoplan.siting.candidates import candidate_sites_from_demand_clusters
from geoplan.siting.tables import demand_weights

__all__ = ["SiteProposal", "propose_sites"]


@dataclass(frozen=True)
class SiteProposal:
    """A siting answer on layers.

    Attributes
    ----------
    result
        The model answer (objective, bound, gap, status, time).
    sites
        Proposed sites, ranked, in the network CRS: ``rank``, ``new_pop``,
        ``new_households``, ``new_pop_60plus`` (newly covered, in the ranked order) and
        the candidate's columns. Ready for a map layer.
    by_unit
        Before/after coverage per admin unit (``None`` without units).
    candidates
        The candidate layer the model chose from.
    scenarios
        Scenario comparison (one row per ``p`` in ``scenario_p``; ``None`` when not asked).
    summary
        One-row table: people, households, 60+ (and 80+) in total and covered before/after
        (unweighted), then the model weight (with priority multipliers) covered before/after,
        shares, gain, gap, status, time.
    """

    result: SitingResult
    sites: gpd.GeoDataFrame
    by_unit: pd.DataFrame | None
    candidates: gpd.GeoDataFrame
    summary: pd.DataFrame
    scenarios: pd.DataFrame | None = None


def _unit_of_cells(demand: gpd.GeoDataFrame, units: gpd.GeoDataFrame, column: str) -> np.ndarray:
    pts = gpd.GeoDataFrame(geometry=demand.geometry.representative_point(), crs=demand.crs)
    joined = gpd.sjoin(pts, units[[column, "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined[column].reindex(demand.index).fillna("(outside)").astype(str).to_numpy()


def propose_sites(
    network,
    demand: gpd.GeoDataFrame,
    existing: gpd.GeoDataFrame | None,
    *,
    p: int,
    max_m: float,
    candidates: gpd.GeoDataFrame | None = None,
    n_candidates: int | None = None,
    weight_column: str = "pop_60plus",
    priority: np.ndarray | pd.Series | None = None,
    priority_areas: gpd.GeoDataFrame | None = None,
    priority_multiplier: float = 1.0,
    units: gpd.GeoDataFrame | None = None,
    unit_column: str = "name",
    quotas: Sequence[Quota] = (),
    min_sites_per_unit: int | Mapping[str, int] | None = None,
    scenario_p: Sequence[int] = (),
    method: str = "exact",
    time_limit_s: float = 60.0,
    seed: int = 0,
) -> SiteProposal:
    """Propose ``p`` new sites (maximal covering) for one facility type.

    Parameters
    ----------
    network
        The study's :class:`geoplan.network.WalkNetwork`.
    demand
        Population cells (``pop``, ``households``, ``pop_60plus``…) in the network CRS.
    existing
        Existing (and building) sites of the type; fixed. ``None`` or empty: none.
    p
        Number of new sites.
    max_m
        Walking distance of the service circle in metres (e.g. 15 min × 75 m/min).
    candidates
        Candidate sites; default: ``n_candidates`` weighted KMeans centres of the demand no
        existing site covers, snapped to network nodes.
    n_candidates
        Number of generated candidates (default ``max(5 * p, 30)``).
    weight_column, priority, priority_multiplier
        Demand weights (see :func:`geoplan.siting.demand_weights`).
    priority_areas
        Polygons (e.g. the 老区镇 安海 and 内坑 from ``study.towns``) whose cells get
        ``priority_multiplier``; combined with ``priority`` when both are given.
    units, unit_column
        Admin units (e.g. ``study.towns``) for the before/after table.
    quotas
        Quotas over the candidate rows.
    min_sites_per_unit
        "At least one new site in every 镇街": a number for every unit of ``units``, or a
        mapping from unit name (``unit_column``) to its minimum. Candidates are assigned to
        the unit they lie in; added to ``quotas``.
    scenario_p
        Also solve for each of these numbers of new sites (e.g. ``(5, 10, 20)``) and return
        the comparison table.
    method, time_limit_s
        Solver choice and limit.
    seed
        Seed of the candidate clustering.

    Returns
    -------
    SiteProposal

    Raises
    ------
    SchemaError
        When ``min_sites_per_unit`` is given without ``units``.
    InfeasibleError
        When a unit with a minimum holds too few candidates, or the quotas need more than
        ``p`` sites.

    Examples
    --------
    Two new elderly stations where the people aged 60+ beyond a 15-minute walk live:


    >>> from geoplan.datasets import load_byod
    >>> study = load_byod()
    >>> facilities = study.facilities
    >>> stations = facilities[facilities["facility_type"].eq("elderly_station")
    ...                       & facilities["status"].eq("existing")]
    >>> proposal = propose_sites(study.network(), study.population, stations, p=2, max_m=900,
    ...                          n_candidates=60)
    >>> len(proposal.sites), int(proposal.sites["new_pop_60plus"].sum())
    (2, 574)
    """
    from geoplan.access import reach_matrix

    if min_sites_per_unit is not None and units is None:
        raise SchemaError("parameters", [Problem("min_sites_per_unit needs units")])

    if priority_areas is not None:
        pts = demand.geometry.representative_point().values
        inside = shapely.contains_xy(shapely.union_all(priority_areas.geometry.values),
                                     shapely.get_coordinates(pts)[:, 0],
                                     shapely.get_coordinates(pts)[:, 1])
        priority = inside if priority is None else (np.asarray(priority, bool) | inside)
    w = demand_weights(demand, weight_column, priority=priority,
                       priority_multiplier=priority_multiplier)
    ex_reach = None
    if existing is not None and len(existing):
        ex_reach = reach_matrix(network, existing, demand, max_m)
    if candidates is None:
        covered = np.zeros(len(demand), bool)
        if ex_reach is not None:
            covered = np.asarray(coverage_from_reach(ex_reach).sum(axis=0)).ravel() > 0
        k = n_candidates if n_candidates is not None else max(5 * p, 30)
        candidates = candidate_sites_from_demand_clusters(
            demand, k, weight_column=weight_column, mask=~covered, network=network, seed=seed)
    reach = reach_matrix(network, candidates, demand, max_m) if len(candidates) else \
        sp.csr_matrix((0, len(demand)))
    if min_sites_per_unit is not None:
        names = [str(n) for n in units[unit_column]]
        mins = dict.fromkeys(names, min_sites_per_unit) if not isinstance(
            min_sites_per_unit, Mapping) else dict(min_sites_per_unit)
        labels = _unit_of_cells(candidates, units, unit_column) if len(candidates) else []
        quotas = [*quotas, *siting.quotas_from_labels(labels, mins)]
    result = siting.mclp(reach, w, min(p, len(candidates)), existing_reach=ex_reach,
                         quotas=quotas, method=method, time_limit_s=time_limit_s)
    cols = [c for c in ("pop", "households", "pop_60plus", "pop_80plus") if c in demand.columns]
    ranked = siting.rank_sites_by_marginal_gain(result, reach, demand, existing_reach=ex_reach,
                                                columns=cols)
    sites = candidates.iloc[result.selected].copy()
    for c in ranked.columns:
        if c not in ("candidate", "site_id"):
            sites[c] = ranked[c].to_numpy()
    by_unit = None
    if units is not None:
        frame = pd.DataFrame(demand.drop(columns="geometry"))
        frame["_unit"] = _unit_of_cells(demand, units, unit_column)
        by_unit = siting.coverage_before_after_by_unit(result, reach, frame, "_unit",
                                                       existing_reach=ex_reach, columns=cols)
        by_unit.index.name = unit_column
    before = np.zeros(len(demand), bool)
    if ex_reach is not None:
        before = np.asarray(coverage_from_reach(ex_reach).sum(axis=0)).ravel() > 0
    after = before.copy()
    if len(result.selected):
        after |= np.asarray(coverage_from_reach(reach[result.selected]).sum(axis=0)).ravel() > 0
    people = {}
    for c in cols:
        v = pd.to_numeric(demand[c]).to_numpy(float)
        people.update({f"{c}_total": v.sum(), f"{c}_before": v[before].sum(),
                       f"{c}_after": v[after].sum()})
    summary = pd.DataFrame([{
        "weight_column": weight_column, "p": p, "max_m": max_m, **people,
        "total_weight": result.total_weight, "covered_before": result.weight_before,
        "covered_after": result.weight_after,
        "share_before": result.weight_before / max(result.total_weight, 1e-12),
        "share_after": result.weight_after / max(result.total_weight, 1e-12),
        "gain": result.weight_after - result.weight_before, "gap": result.gap,
        "status": result.status, "time_s": result.time_s,
    }])
    scenarios = None
    if len(scenario_p):
        scenarios = siting.scenario_table(
            lambda k: siting.mclp(reach, w, min(k, len(candidates)), existing_reach=ex_reach,
                                  quotas=quotas, method=method, time_limit_s=time_limit_s),
            scenario_p)
    return SiteProposal(result, sites, by_unit, candidates, summary, scenarios)
