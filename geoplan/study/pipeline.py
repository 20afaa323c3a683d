"""The main job on a study: the steps its file asks for, every output written all-or-nothing.

:func:`run_study` is what ``geoplan run``, ``geoplan inspect`` and ``geoplan demo`` call. It
loads nothing itself (pass a study and its plan from :func:`geoplan.study.preflight.prepare_run`)
and computes nothing itself: each step calls the package that owns the concept. Every output
is written into a staging folder beside ``out_dir`` that replaces it only when every step
succeeded (:func:`geoplan.io.staged_folder`), with a manifest of the files.

Outputs (under ``out_dir``), by step:

- always: ``layers.gpkg`` (the validated inputs in the study's metric CRS, the population
  grid spread to one denominator per unit: :mod:`geoplan.study.denominators`) and, with admin
  units, ``summary_by_town.csv`` (people, older people, households, facilities per 镇街);
- ``[coverage]``: ``coverage.gpkg`` (uncovered cells, service areas per type and tier);
- ``[standards]``: ``compliance.xlsx`` (standards and plan indicators);
- ``[siting]``: ``siting.gpkg`` (layer ``proposed_sites``: the register of proposed sites,
  :func:`geoplan.siting.site_register`) and ``siting.kml`` (the same sites for field apps);
  with ``curve``, the coverage curve of each type as a chart, ``覆盖曲线-<type>.png`` (also in
  the report, its table in ``report.xlsx``);
- ``[boundary]``: ``boundary/联检报告.xlsx`` and ``boundary/联检成果归档/``;
- with any step: ``map.html``, ``report.xlsx`` (说明, 方法, 标准依据, results per level and
  tier: :mod:`geoplan.study.deliverables`), ``report.html`` and its print, ``report.pdf``,
  and the thematic maps the run has data for, ``maps/01_服务圈覆盖率.png`` and ``.pdf`` …
  (:mod:`geoplan.study.thematic`);
- ``geoplan-manifest.json``: every file with its size and SHA-256, the version, the study.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geoplan import maps, report
from geoplan._text import safe_cell
from geoplan.access import (
    assign_units,
    coverage_by_unit,
    coverage_gaps,
    nearest_facility_time,
    reach_matrix,
    service_areas,
    tier_reach_m,
)
from geoplan.boundary import BoundaryInspection, inspect_boundaries
from geoplan.errors import DatabaseError, NetworkError, OutputError, StudyConfigError
from geoplan.io import (
    atomic_write,
    staged_folder,
    write_layers_gpkg,
    write_points_kml,
    write_postgis_tables,
)
from geoplan.io.atomic import WRITE_ERRORS, write_error_cause
from geoplan.population import unit_summary
from geoplan.report import archive_by_line, charts, inspection_sheets, write_inspection_workbook
from geoplan.report.compliance import write_compliance_workbook
from geoplan.schema import FACILITY_TYPES
from geoplan.siting import (
    CoverageCurve,
    candidate_sites_from_demand_clusters,
    candidate_sites_from_layer,
    candidate_sites_from_network_nodes,
    coverage_before_after_by_unit,
    coverage_curve,
    coverage_curve_table,
    exclude_candidates,
    knee_p,
    lscp,
    mclp,
    quotas_from_labels,
    rank_sites_by_marginal_gain,
    register_headers_zh,
    site_register,
)
from geoplan.standards import compliance_gdf
from geoplan.study import deliverables, thematic
from geoplan.study.compliance import compliance_tables, standards_results
from geoplan.study.config import SitingTypeSection
from geoplan.study.denominators import Denominators, one_denominator_per_unit
from geoplan.study.load import Study
from geoplan.study.preflight import STEP_NAMES_ZH, RunPlan, plan_run

logger = logging.getLogger(__name__)

Step = Callable[[str], None]
#: Progress names of the steps, in run order (layers first, map and reports last).
STEP_LABELS = {"layers": "图层与概况 layers and summary",
               **{k: f"{v} {k}" for k, v in STEP_NAMES_ZH.items()},
               "reports": "地图与报告 map and reports",
               "postgis": "写回数据库 results to PostGIS"}


@dataclass
class StudyRun:
    """What one run produced: result tables and the paths written.

    Attributes
    ----------
    plan
        The steps run and those skipped, with why.
    outputs
        Output name -> path written (in the output folder, after the swap).
    summary
        Per-镇街 summary table (``None`` without admin units).
    coverage
        Coverage per unit, facility type and tier (:func:`geoplan.access.coverage_by_unit`).
    proposals
        Facility type -> ranked proposed sites: the register of each
        (:func:`geoplan.siting.site_register`, indexed by the readable id) with the marginal
        gains at the siting tier (``new_<count>``, ``cum_<count>``) and the model's ``gap``.
    site_register
        Every proposed site of every type, in type and rank order: readable id, coordinates,
        镇街 and 社区/村, newly covered per tier, nearest existing facility.
    siting_gain
        Facility type -> before/after coverage per 镇街.
    inspection
        Boundary joint-inspection result.
    service_areas
        Service-area polygons of the coverage types (dissolved per type).
    standards
        Standards results per unit and rule (:func:`geoplan.standards.evaluate_standards`).
    notes
        What the planner should know about the results (a quota lowered, fewer candidates
        than sites asked for); shown by the CLI and in the report.
    curves
        Facility type -> coverage curve (:func:`geoplan.siting.coverage_curve`), when asked.
    denominators
        The one population and households figure per unit every output uses, with their
        sources and where the sources disagree
        (:func:`geoplan.study.denominators.one_denominator_per_unit`).
    lang
        ``"zh"``: Chinese headers in every table written; ``"en"``: machine-readable names.
    gaps
        The cells left uncovered (:func:`geoplan.access.coverage_gaps`).
    tables
        The PostGIS tables written (``schema.table``), with ``[output.postgis]``.
    """

    plan: RunPlan
    outputs: dict[str, Path] = field(default_factory=dict)
    summary: pd.DataFrame | None = None
    coverage: pd.DataFrame | None = None
    nearest: pd.DataFrame | None = None
    compliance: dict[str, pd.DataFrame] = field(default_factory=dict)
    proposals: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    site_register: gpd.GeoDataFrame | None = None
    siting_gain: dict[str, pd.DataFrame] = field(default_factory=dict)
    inspection: BoundaryInspection | None = None
    service_areas: gpd.GeoDataFrame | None = None
    standards: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    curves: dict[str, CoverageCurve] = field(default_factory=dict)
    curve_sites: dict[str, pd.Index] = field(default_factory=dict)
    denominators: Denominators | None = None
    lang: str = "zh"
    gaps: gpd.GeoDataFrame | None = None
    tables: list[str] = field(default_factory=list)


def _sheet_name(text: str) -> str:
    """Make ``text`` a valid Excel sheet name (no brackets, colon, ``*?/``, backslash; <= 31)."""
    return text.translate(str.maketrans("/\\[]:*?", "、、（）-  "))[:31]


def _existing(facilities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return facilities[facilities["status"].eq("existing")]


def write_layers_and_summary(study: Study, out_dir: Path, run: StudyRun) -> None:
    """Write the validated layers and, with admin units, the per-镇街 summary table."""
    layers = {
        name: getattr(study, name)
        for name in ("study_area", "admin_units", "facilities", "population",
                     "boundary_lines", "boundary_markers", "projects", "candidate_sites",
                     "exclusion_zones")
        if getattr(study, name) is not None and len(getattr(study, name))
    }
    meta = {
        name: {"synthetic": str(layer.attrs.get("geoplan", {}).get("synthetic", False)).lower()}
        for name, layer in layers.items()
    }
    run.outputs["layers"] = write_layers_gpkg(layers, out_dir / "layers.gpkg", metadata=meta)
    if not len(study.towns):
        return
    if run.denominators is not None:
        summary = deliverables.town_summary(run.denominators, study.towns, study.facilities)
    else:
        summary = unit_summary(study.towns, study.population, study.facilities)
        summary = summary.rename(columns={t: FACILITY_TYPES[t].name_zh for t in FACILITY_TYPES
                                          if t in summary.columns})
    run.outputs["summary"] = write_csv(summary.reset_index(), out_dir / "summary_by_town.csv",
                                       lang=run.lang)
    run.summary = summary


def write_csv(table: pd.DataFrame, path: Path, *, lang: str = "zh") -> Path:
    """Write a CSV for Excel (UTF-8 with BOM): Chinese headers, no cell that starts a formula."""
    safe = table.map(safe_cell)
    safe.columns = [safe_cell(report.header_text(str(c), lang=lang)) for c in table.columns]
    with atomic_write(path) as tmp:
        safe.to_csv(tmp, encoding="utf-8-sig", index=False)
    return path


def use_one_denominator(study: Study, run: StudyRun) -> Study:
    """Return the study with its grid spread to one figure per unit (kept in ``run``)."""
    if not len(study.admin_units) or not len(study.population):
        return study
    run.denominators = one_denominator_per_unit(
        study.population, study.admin_units, county_code=study.admin_code, county_name="全域")
    return dataclasses.replace(study, population=run.denominators.population)


def analyse_coverage(study: Study, out_dir: Path, run: StudyRun) -> None:
    """Compute the service circles of the plan's coverage types; write gaps and service areas."""
    network = study.network()
    existing = _existing(study.facilities)
    types = [t for t in run.plan.coverage_types if existing["facility_type"].eq(t).any()]
    if not types:
        logger.warning("no existing facility of %s: no coverage to report",
                       "、".join(FACILITY_TYPES[t].name_zh for t in run.plan.coverage_types))
        return
    run.nearest = nearest_facility_time(
        network, study.population, existing, speed_m_per_min=study.speed_m_per_min,
        max_minutes=max(study.tiers_min), types=types,
    )
    run.coverage = coverage_by_unit(
        network, study.population, existing, study.admin_units, tiers_min=study.tiers_min,
        speed_m_per_min=study.speed_m_per_min, types=types, nearest=run.nearest,
    )
    run.gaps = gaps = coverage_gaps(study.population, run.nearest,
                                    tier_min=max(study.tiers_min),
                                    speed_m_per_min=study.speed_m_per_min, types=types)
    run.service_areas = service_areas(
        network, existing[existing["facility_type"].isin(types)], tiers_min=study.tiers_min,
        speed_m_per_min=study.speed_m_per_min, dissolve_by="facility_type")
    run.outputs["coverage"] = write_layers_gpkg(
        {"uncovered_cells": gaps, "service_areas": run.service_areas.reset_index()},
        out_dir / "coverage.gpkg")


def write_compliance(study: Study, out_dir: Path, run: StudyRun) -> None:
    """Evaluate standards and plan indicators; write the compliance workbook."""
    section = study.config.standards
    table = None if run.denominators is None else run.denominators.table()
    run.standards = standards_results(study, denominators=table)
    run.compliance = compliance_tables(study, results=run.standards, registry=section.registry,
                                       results_registry=section.results_registry,
                                       denominators=table)
    run.outputs["compliance"] = write_compliance_workbook(run.compliance,
                                                          out_dir / "compliance.xlsx")


# --------------------------------------------------------------------------- siting
def _candidates(study: Study, network, uncovered: np.ndarray) -> gpd.GeoDataFrame:
    """Candidate sites from the ``[siting] candidates`` source, minus the exclusion zones."""
    siting = study.config.siting
    cells = study.population
    if siting.candidates == "demand_clusters":
        candidates = candidate_sites_from_demand_clusters(
            cells, siting.n_candidates, weight_column=siting.demand, mask=uncovered,
            network=network, seed=0)
    elif siting.candidates == "network_nodes":
        areas = cells.loc[uncovered]
        if len(areas) and (areas.geom_type == "Point").all():
            areas = areas.set_geometry(areas.buffer(50.0))
        candidates = candidate_sites_from_network_nodes(network, areas)
    else:
        layer = study.candidate_sites[study.candidate_sites["source_layer"] == siting.candidates]
        candidates = candidate_sites_from_layer(layer, network=network, source=siting.candidates)
    if siting.exclude:
        zones = {name: study.exclusion_zones[study.exclusion_zones["source_layer"] == name]
                 for name in siting.exclude}
        candidates = exclude_candidates(candidates, zones)
    return candidates


def _quotas(section: SitingTypeSection, towns: gpd.GeoDataFrame,
            candidates: gpd.GeoDataFrame, label: str, notes: list[str]) -> list:
    """Per-镇街 quotas over the candidates; a minimum above a town's candidates is lowered.

    The lowered minimum is noted in ``notes`` (it reaches the CLI and the report), because
    the candidates exist only once the run has made them, after the preflight.
    """
    if not (section.min_per_town or section.max_per_town is not None or section.quotas):
        return []
    codes = assign_units(candidates, towns.assign(level="town"))["town"].astype(str)
    supply = codes.value_counts()
    names = dict(zip(towns["code"].astype(str), towns["name"], strict=True))
    low = {c: section.min_per_town for c in names}
    high = {c: section.max_per_town for c in low} if section.max_per_town is not None else {}
    for code, bounds in section.quotas.items():
        low[code] = bounds[0]
        if len(bounds) == 2:
            high[code] = bounds[1]
    for code, wanted in list(low.items()):
        have = int(supply.get(code, 0))
        if wanted > have:
            low[code] = have
            notes.append(f"{label}：{names.get(code, code)}（{code}）要求至少新增 {wanted} 处，"
                         f"但只有 {have} 个候选点，按 {have} 处计 (quota lowered to the "
                         "candidates there)")
    return quotas_from_labels(codes.to_numpy(), low, high or None)


def _solve(section: SitingTypeSection, reach, weights, existing_reach, cost, quotas, *,
           max_m: float, method: str, time_limit_s: float):
    """Solve one type's target: new_sites (MCLP), budget (MCLP) or coverage_share (LSCP)."""
    common = {"max_m": max_m, "existing_reach": existing_reach, "quotas": quotas,
              "method": method, "time_limit_s": time_limit_s}
    if section.coverage_share is not None:
        return lscp(reach, weights, target_share=section.coverage_share, cost=None,
                    uncoverable="ignore", **common)
    if section.budget is not None:
        return mclp(reach, weights, reach.shape[0], cost=cost, budget=section.budget,
                    pad_to_p=False, **common)
    return mclp(reach, weights, section.new_sites, **common)


def propose_sites(study: Study, out_dir: Path, run: StudyRun) -> None:
    """Propose new sites for every type under ``[siting.types]``, existing sites fixed."""
    siting = study.config.siting
    network = study.network()
    existing = study.facilities[study.facilities["status"].isin(("existing", "building"))]
    tier_min = siting.tier_min or max(study.tiers_min)
    max_m = tier_reach_m([tier_min], study.speed_m_per_min)[0]
    cells = study.population
    demand = cells.assign(town=assign_units(cells, study.towns.assign(level="town"))["town"]
                          .to_numpy()) if len(study.towns) else cells.assign(town=None)
    weights = demand[siting.demand].to_numpy(float)
    tiers_m = dict(zip(study.tiers_min, study.tier_distances_m, strict=True))
    registers = []
    for facility_type, name in run.plan.siting_types.items():
        section = siting.types[name]
        fixed = existing[existing["facility_type"].eq(facility_type)]
        existing_reach = reach_matrix(network, fixed, cells, max_m)
        uncovered = ~np.asarray(existing_reach.getnnz(axis=0) > 0).ravel()
        if not (uncovered & (weights > 0)).any():
            logger.info("%s: every resident is already covered", facility_type)
            continue
        candidates = _candidates(study, network, uncovered)
        reach = reach_matrix(network, candidates, cells, max_m)
        cost = (candidates["cost"].fillna(section.cost_per_site or np.nan).to_numpy(float)
                if "cost" in candidates.columns and section.cost_per_site is None
                else np.full(len(candidates), section.cost_per_site or 1.0))
        label = f"选址 {FACILITY_TYPES[facility_type].name_zh}"
        if section.new_sites is not None and section.new_sites > len(candidates):
            run.notes.append(f"{label}：要求新增 {section.new_sites} 处，但只有 {len(candidates)} "
                             "个候选点 (fewer candidates than sites asked for)")
        quotas = _quotas(section, study.towns, candidates, label, run.notes)
        result = _solve(section, reach, weights, existing_reach, cost, quotas,
                        max_m=max_m, method=siting.method, time_limit_s=siting.time_limit_s)
        if run.plan.curve:
            run.curves[facility_type] = coverage_curve(
                reach, weights, run.plan.curve, max_m=max_m, existing_reach=existing_reach,
                quotas=quotas, method=siting.method, time_limit_s=siting.time_limit_s)
            run.curve_sites[facility_type] = candidates.index
        columns = tuple(c for c in ("pop", "households", "pop_60plus", "pop_80plus")
                        if c in demand.columns)
        ranked = rank_sites_by_marginal_gain(result, reach, demand, existing_reach=existing_reach,
                                             columns=columns, site_ids=candidates.index)
        register = _register(study, network, facility_type, candidates.iloc[result.selected],
                             fixed, tiers_m, (max_m, reach[result.selected], existing_reach),
                             columns, run.notes)
        gains = {c: ranked[c].to_numpy() for c in ranked.columns
                 if c.startswith(("new_", "cum_"))}
        sites = register.assign(**gains, gap=result.gap)
        run.proposals[facility_type] = sites
        if len(study.towns):
            run.siting_gain[facility_type] = coverage_before_after_by_unit(
                result, reach, demand, "town", existing_reach=existing_reach, columns=columns)
        registers.append(register)
        logger.info("%s: %d new sites, %s covered %.0f -> %.0f (gap %.2g)", facility_type,
                    len(sites), siting.demand, result.weight_before, result.weight_after,
                    result.gap)
    if registers:
        run.site_register = pd.concat(registers)
        write_site_register(study, run, out_dir)


def _register(study: Study, network, facility_type: str, chosen: gpd.GeoDataFrame,
              fixed: gpd.GeoDataFrame, tiers_m: dict[float, float],
              solved: tuple, columns: tuple[str, ...], notes: list[str]) -> gpd.GeoDataFrame:
    """Return the register of one type's chosen sites (:func:`geoplan.siting.site_register`).

    ``solved`` is the siting distance with the chosen sites' and the existing sites' reach
    matrices; a tier beyond that distance is searched again, to the largest tier.
    """
    max_m, reach, existing_reach = solved
    farthest = max(tiers_m.values())
    cells = study.population
    if farthest > max_m:
        reach = reach_matrix(network, chosen, cells, farthest)
        existing_reach = reach_matrix(network, fixed, cells, farthest)
    nearest = None
    if len(fixed):
        try:
            nearest = nearest_facility_time(
                network, chosen, fixed, speed_m_per_min=study.speed_m_per_min,
                max_minutes=np.inf, types=[facility_type])
        except NetworkError as exc:  # an existing site off the network: say so, keep going
            notes.append(f"选址 {FACILITY_TYPES[facility_type].name_zh}：无法计算最近现有同类设施"
                         f"的步行距离 (nearest existing facility not computed: {exc})")
    return site_register(chosen, cells, reach, tiers_m, facility_type=facility_type,
                         existing_reach=existing_reach, units=study.admin_units,
                         nearest=nearest, existing=fixed, columns=columns)


#: Columns of the register in the workbook sheet 建议选址 and the KML descriptions, in order
#: (the per-tier gains follow the places and coordinates).
_REGISTER_FIRST = ["site_id", "type_name", "rank", "town_code", "town_name", "village_code",
                   "village_name", "x_east_m", "y_north_m", "gk_crs", "lon_wgs84", "lat_wgs84",
                   "lon_gcj02", "lat_gcj02"]
_REGISTER_LAST = ["nearest_name", "nearest_id", "nearest_status", "nearest_dist_m",
                  "nearest_time_min", "candidate_id"]
#: Number formats of the coordinates: metres to the centimetre, degrees to about 1 cm.
REGISTER_FORMATS = {"x_east_m": "0.00", "y_north_m": "0.00", "lon_wgs84": "0.0000000",
                    "lat_wgs84": "0.0000000", "lon_gcj02": "0.0000000",
                    "lat_gcj02": "0.0000000", "nearest_dist_m": "#,##0",
                    "nearest_time_min": "0.0"}


def register_table(register: pd.DataFrame) -> pd.DataFrame:
    """Return the register as the sheet 建议选址 shows it: ids, places, coordinates, gains."""
    gains = [c for c in register.columns if c.startswith("new_") and c.endswith("min")]
    return pd.DataFrame(register[[*_REGISTER_FIRST, *gains, *_REGISTER_LAST]]).reset_index(
        drop=True)


def write_site_register(study: Study, run: StudyRun, out_dir: Path) -> None:
    """Write the register of proposed sites: ``siting.gpkg`` and ``siting.kml``.

    The GeoPackage layer ``proposed_sites`` keeps the machine field names, in the study's
    Gauss-Krüger CRS; the KML has one placemark per site named by its readable id, with a
    description table (Chinese labels, or the field names under ``--lang en``), in WGS 84.
    """
    register = run.site_register
    run.outputs["siting"] = write_layers_gpkg(
        {"proposed_sites": register.reset_index(drop=True)}, out_dir / "siting.gpkg")
    headers = register_headers_zh(study.tiers_min)
    table = register_table(register)
    fields = {c: report.header_text(c, headers, lang=run.lang)
              for c in table.columns if c != "site_id"}
    formats = {"x_east_m": ".2f", "y_north_m": ".2f", **{c: ".7f" for c in (
        "lon_wgs84", "lat_wgs84", "lon_gcj02", "lat_gcj02")}, "nearest_time_min": ".1f"}
    run.outputs["siting_kml"] = write_points_kml(
        register, out_dir / "siting.kml", name_column="site_id", fields=fields,
        folder_column="type_name", document_name=f"{study.name} 建议选址", formats=formats)


def inspect_study_boundaries(study: Study, out_dir: Path, run: StudyRun) -> None:
    """Run the boundary joint inspection and write its workbook and per-line archive."""
    section = study.config.boundary
    previous = study.previous_boundary_lines
    reference = study.reference_date
    run.inspection = inspect_boundaries(
        units=study.admin_units, lines=study.boundary_lines, previous_lines=previous,
        markers=study.boundary_markers, rounds=study.inspection_rounds,
        facilities=study.facilities, projects=study.projects, study_area=study.study_area,
        reference_date=reference, plan_year=section.plan_year or reference.year + 1,
        tolerances=section.tolerances(), numbering=section.marker_numbering(),
    )
    folder = out_dir / "boundary"
    run.outputs["inspection"] = write_inspection_workbook(run.inspection, folder / "联检报告.xlsx")
    run.outputs["inspection_archive"] = archive_by_line(
        run.inspection, study.boundary_lines, study.boundary_markers, folder / "联检成果归档",
        previous_lines=previous)


#: The standard drawn on the demo map (when the profile has it): floor area per 100
#: households of community service facilities, per 社区/村.
MAP_RULE = ("community_area_per_100hh", "village")


def _map_layers(study: Study, run: StudyRun, key: str | None) -> dict[str, gpd.GeoDataFrame]:
    """Return the layers of ``map.html``.

    Coverage of ``key``, its gaps and service areas, one standard, the facilities, the
    proposals and the boundary inspection.
    """
    layers: dict[str, gpd.GeoDataFrame] = {}
    if key is not None:
        max_min = max(study.tiers_min)
        for level in ("town", "village"):
            layers[f"{level}s"] = maps.units_with_coverage(
                study.admin_units, run.coverage, facility_type=key, tier_min=max_min,
                level=level)
        covered = (run.nearest[f"{key}_dist_m"] <= max(study.tier_distances_m)).to_numpy()
        layers["uncovered_cells"] = study.population.assign(covered=covered)
        areas = run.service_areas
        layers["service_areas"] = areas[areas.index.get_level_values("facility_type") == key]
    rule_id, level = MAP_RULE
    if run.standards is not None and (run.standards["rule_id"] == rule_id).any():
        rows = run.standards[run.standards["rule_id"].eq(rule_id)
                             & run.standards["level"].eq(level)]
        shown = compliance_gdf(rows, study.admin_units).rename(columns={"unit_name": "name"})
        shown.attrs["rule_label"] = f"{rows['name_zh'].iloc[0]}（社区/村）" if len(rows) else ""
        if len(shown):
            layers["standards"] = shown
    layers["facilities"] = study.facilities
    if key in run.proposals:
        layers["proposed_sites"] = run.proposals[key]  # labelled by its readable site_id
    if run.inspection is not None:
        layers |= {"boundary_lines": study.boundary_lines,
                   "boundary_markers": study.boundary_markers,
                   "findings": run.inspection.findings}
    return layers


def _in_chinese(table: pd.DataFrame) -> pd.DataFrame:
    """Facility types and unit levels as planners read them (居家养老服务站, 镇街 …)."""
    names = {key: t.name_zh for key, t in FACILITY_TYPES.items()}
    levels = {"study": "全域", "county": "县(市、区)", "town": "镇(街道)", "village": "村(社区)"}
    out = table.copy()
    for col, mapping in (("facility_type", names), ("level", levels)):
        if col in out.columns:
            out[col] = out[col].map(lambda v, m=mapping: m.get(v, v))
    return out


#: Header of the covered weight in the curve sheet, by the demand column served.
_COVERED_LABELS = {"pop": "覆盖人口", "households": "覆盖户数", "pop_60plus": "覆盖老年人口",
                   "pop_80plus": "覆盖80岁以上人口"}


def _curve_text(curve: CoverageCurve, weight_label: str) -> str:
    """Say what the curve proves: the fewest sites for all reachable demand, the knee."""
    parts = [f"每个新增站点数均精确求解并给出上界（{int(curve.table['proven_optimal'].sum())}/"
             f"{len(curve.table)} 个点已证明最优）。"]
    if curve.lscp is not None:
        parts.append(f"覆盖全部可达需求至少需新增 {len(curve.lscp.selected)} 处。")
    knee = knee_p(curve.table)
    if knee is not None:
        parts.append(f"拐点在新增 {knee} 处：此后每增一处，{weight_label}增加明显变少。")
    return "".join(parts)


def write_map_and_reports(study: Study, out_dir: Path, run: StudyRun) -> None:
    """Write ``map.html``, the thematic maps, ``report.xlsx``, ``report.html`` and its PDF."""
    max_min = max(study.tiers_min)
    present = [] if run.coverage is None else list(dict.fromkeys(run.coverage["facility_type"]))
    key = "elderly_station" if "elderly_station" in present else next(iter(present), None)
    layers = _map_layers(study, run, key)
    subject = FACILITY_TYPES[key].name_zh if key else "民政设施"
    m = maps.overview_map(layers, admin_units=study.admin_units, basemap=study.basemap,
                          tianditu_tk=study.tianditu_tk,
                          title=f"{study.name} {max_min:g}分钟{subject}服务圈" if key
                          else study.name,
                          shown_facility_types=("elderly_station", "senior_canteen",
                                                "day_care_center"),
                          show_inspection=run.plan.steps == ("boundary",))
    run.outputs["map"] = maps.save_map(m, out_dir / "map.html")
    run.outputs |= thematic.write_thematic_maps(study, layers, out_dir, key=key,
                                                tier_min=max_min, proposals=run.proposals)

    run.outputs["report_xlsx"] = report.write_workbook(
        report_sheets(study, run), out_dir / "report.xlsx", lang=run.lang,
        headers={"建议选址": register_headers_zh(study.tiers_min)},
        number_formats={"建议选址": REGISTER_FORMATS})
    sections = report_sections(study, run, key)
    title = f"{study.name} 民政设施评估"
    run.outputs["report_html"] = report.write_html_report(
        sections, out_dir / "report.html", title=title, map_html=m, lang=run.lang,
        note="合成数据仅供演示" if _has_synthetic(study) else "")
    run.outputs["report_pdf"] = report.write_pdf_report(run.outputs["report_html"],
                                                        out_dir / "report.pdf")
    weight_label = _COVERED_LABELS[study.config.siting.demand] if run.curves else ""
    for facility_type, curve in run.curves.items():
        name = FACILITY_TYPES[facility_type].name_zh
        path = out_dir / f"{_sheet_name(f'覆盖曲线-{name}')}.png"
        png = charts.figure_png(_curve_chart(facility_type, curve, weight_label))
        with atomic_write(path) as tmp:
            tmp.write_bytes(png)
        run.outputs[f"curve_chart_{facility_type}"] = path


def _has_synthetic(study: Study) -> bool:
    return any(layer.synthetic for layer in study.config.layers.values())


def report_sheets(study: Study, run: StudyRun) -> dict[str, pd.DataFrame]:
    """Every sheet of ``report.xlsx``: 说明, 方法, 标准依据, then the results by level.

    Order: 说明, 方法, 标准依据, 分母核对 (when sources disagree), 运行提示, 镇街概况,
    coverage per level (全域, 镇街, 社区/村) and tier, 达标情况 and the standards per level,
    the plan indicators, 建议选址 (every proposed site), the coverage curves, the inspection
    findings.
    """
    profile = study.standards_profile if run.standards is not None else None
    sheets: dict[str, pd.DataFrame] = {
        "说明": _about(study, run, synthetic_note="标注为合成数据的图层仅供演示，不得用于规划决策"
                     if _has_synthetic(study) else ""),
        "方法": deliverables.method_table(study, run.denominators),
        "标准依据": deliverables.standards_basis_table(study, profile),
    }
    if run.denominators is not None and len(run.denominators.reconciliation):
        sheets["分母核对"] = run.denominators.reconciliation.assign(
            level=lambda t: t["level"].map(deliverables.LEVEL_ZH))
    if run.notes:
        sheets["运行提示"] = pd.DataFrame({"提示": run.notes})
    if run.summary is not None:
        sheets["镇街概况"] = run.summary.reset_index()
    if run.coverage is not None:
        sheets |= deliverables.coverage_sheets(run.coverage, study.admin_units,
                                                study.config.study.admin_code)
    if run.standards is not None:
        sheets["达标情况"] = deliverables.compliance_summary(run.standards)
        sheets |= deliverables.compliance_by_level(run.standards)
        sheets |= {name: run.compliance[name] for name in ("指标完成情况", "数据质量提示")
                   if name in run.compliance}
    if run.site_register is not None:
        sheets["建议选址"] = register_table(run.site_register)
    weight_label = _COVERED_LABELS[study.config.siting.demand] if run.curves else ""
    for facility_type, curve in run.curves.items():
        name = FACILITY_TYPES[facility_type].name_zh
        sheets[_sheet_name(f"覆盖曲线-{name}")] = coverage_curve_table(
            curve.table, weight_label=weight_label, site_ids=run.curve_sites[facility_type])
    if run.inspection is not None:
        findings = inspection_sheets(run.inspection)["问题清单"]
        sheets["联检问题汇总"] = _finding_counts(findings)
        sheets["联检问题清单"] = findings
    return sheets


def _about(study: Study, run: StudyRun, *, synthetic_note: str = "") -> pd.DataFrame:
    """说明 (:func:`geoplan.study.deliverables.about_table`) and the thematic maps written."""
    about = deliverables.about_table(study, synthetic_note=synthetic_note)
    if maps_text := thematic.thematic_maps_text(run.outputs):
        about = pd.concat([about, pd.DataFrame({"item": ["专题图"], "content": [maps_text]})],
                          ignore_index=True)
    return about


def _finding_counts(findings: pd.DataFrame) -> pd.DataFrame:
    """Boundary findings counted by kind (问题类型), most frequent first."""
    kind_col = "问题类型" if "问题类型" in findings.columns else findings.columns[0]
    return findings[kind_col].value_counts().rename_axis(kind_col).reset_index(name="数量")


def _text_section(heading: str, table: pd.DataFrame) -> report.ReportSection:
    """Return a section of 项目/内容 pairs, as paragraphs."""
    text = "\n\n".join(f"{item}：{content}" for item, content in
                        zip(table["item"], table["content"], strict=True))
    return report.ReportSection(heading, text=text)


def report_sections(study: Study, run: StudyRun, key: str | None) -> list[report.ReportSection]:
    """Return the sections of ``report.html``: what, how, which standards, the results."""
    profile = study.standards_profile if run.standards is not None else None
    sections = [_text_section("一、说明", _about(study, run)),
                _text_section("二、方法", deliverables.method_table(study, run.denominators))]
    basis = deliverables.standards_basis_table(study, profile)
    sections.append(report.ReportSection(
        "三、标准依据",
        text="各项指标的标准值、依据文件和条款；原文摘录见 report.xlsx “标准依据”表。",
        table=basis[["name_zh", "levels", "threshold", "measure_unit", "document", "clause"]]))
    if run.notes:
        sections.append(report.ReportSection("运行提示", table=pd.DataFrame({"提示": run.notes})))
    if run.denominators is not None and len(run.denominators.reconciliation):
        rec = run.denominators.reconciliation
        towns = rec[rec["level"] == "town"].drop(columns=["level", "used_source"])
        sections.append(report.ReportSection(
            "分母核对（镇街）",
            text="同一单元的人口、户数在各表中只采用一个数值（采用值）。来源："
                 + "；".join(f"{deliverables.MEASURE_NAMES_ZH[m]}：{src}"
                            for m, src in run.denominators.sources.items())
                 + "。社区/村逐项核对见 report.xlsx “分母核对”表。",
            table=towns))
    if run.coverage is not None and key is not None:
        sections += _coverage_sections(study, run, key)
    if run.standards is not None:
        summary = deliverables.compliance_summary(run.standards)
        sections.append(report.ReportSection(
            "达标情况", text="各项标准在全域、镇街、社区/村各层级的达标单元数；"
            "逐单元结果见 report.xlsx “达标-全域/镇街/社区村”表。",
            table=summary, percent_cols=["pass_share"]))
    for facility_type, gain in run.siting_gain.items():
        sections.append(_siting_section(study, run, facility_type, gain))
    for facility_type, sites in run.proposals.items():
        sections.append(_register_section(study, facility_type, sites))
    for facility_type, curve in run.curves.items():
        sections.append(_curve_section(facility_type, curve,
                                       _COVERED_LABELS[study.config.siting.demand]))
    if run.inspection is not None:
        sections.append(report.ReportSection(
            "行政区域界线联检问题", text="逐项问题、位置和处理建议见 boundary/联检报告.xlsx。",
            table=_finding_counts(inspection_sheets(run.inspection)["问题清单"])))
    return sections


def _coverage_sections(study: Study, run: StudyRun, key: str) -> list[report.ReportSection]:
    """Return the study per type and tier, and the 镇街 at the largest tier with a chart."""
    max_min = max(study.tiers_min)
    subject = FACILITY_TYPES[key].name_zh
    county = run.coverage[run.coverage["level"].eq("study")]
    shares = [f"{m}_share" for m in deliverables.MEASURE_NAMES_ZH if f"{m}_share" in county]
    table = _in_chinese(county)[["facility_type", "tier_min", "reach_m", *shares]]
    town_cov = run.coverage[run.coverage["level"].eq("town")
                            & run.coverage["tier_min"].eq(max_min)]
    pivot = town_cov.pivot_table(index=["code", "name"], columns="facility_type",
                                 values="pop_60plus_share")
    pivot.columns = [FACILITY_TYPES[c].name_zh for c in pivot.columns]
    return [
        report.ReportSection(
            "四、服务圈覆盖（全域）",
            text=f"按步行网络计算的各类设施 {'/'.join(f'{t:g}' for t in study.tiers_min)} "
                 "分钟服务圈覆盖的常住人口、户数、60岁以上和80岁以上老人比例。"
                 "镇街、社区/村逐单元的覆盖人数与比例见 report.xlsx “覆盖-镇街/社区村”各表。",
            table=table.sort_values(["facility_type", "tier_min"]).reset_index(drop=True)),
        report.ReportSection(
            f"五、{max_min:g}分钟服务圈覆盖（镇街，60岁以上老人）",
            text="各镇街60岁以上老人被各类设施服务圈覆盖的比例。",
            table=pivot.reset_index(), percent_cols=list(pivot.columns),
            figures=[charts.bar_chart(pivot.droplevel("code")[subject],
                                      title=f"各镇街{subject}覆盖率", percent=True)]),
    ]


def _siting_section(study: Study, run: StudyRun, facility_type: str,
                    gain: pd.DataFrame) -> report.ReportSection:
    """Coverage of the demand served before and after the proposed sites, per 镇街."""
    demand = study.config.siting.demand
    names = dict(zip(study.towns["code"].astype(str), study.towns["name"], strict=False))
    table = gain.reset_index()
    code_col = table.columns[0]
    table.insert(1, "name", table[code_col].astype(str).map(names).fillna("未落入任何镇街"))
    table = table.rename(columns={code_col: "code"})
    keep = ["code", "name", f"{demand}_before", f"{demand}_after", f"{demand}_share_before",
            f"{demand}_share_after", f"{demand}_gain"]
    name = FACILITY_TYPES[facility_type].name_zh
    return report.ReportSection(
        f"选址建议：{name}",
        text=f"新增 {len(run.proposals[facility_type])} 处{name}后各镇街"
             f"{deliverables.MEASURE_NAMES_ZH.get(demand, demand)}覆盖变化。",
        table=table[[c for c in keep if c in table.columns]])


def _register_section(study: Study, facility_type: str,
                      sites: pd.DataFrame) -> report.ReportSection:
    """Return the proposed sites of one type: id, place, coordinates, what each adds."""
    tier = max(study.tiers_min)
    demand = study.config.siting.demand
    gain = f"new_{demand}_{tier:g}min"
    table = pd.DataFrame(sites[["site_id", "town_name", "village_name"]]).reset_index(drop=True)
    for col in ("lon_wgs84", "lat_wgs84", "lon_gcj02", "lat_gcj02"):
        table[col] = [f"{v:.6f}" for v in sites[col]]  # degrees as text: 6 decimals, ~0.1 m
    for col in (gain, "nearest_name", "nearest_dist_m"):
        if col in sites.columns:
            table[col] = sites[col].to_numpy()
    name = FACILITY_TYPES[facility_type].name_zh
    return report.ReportSection(
        f"建议选址：{name}（位置）",
        text=f"各新增{name}的编号、所在镇街和社区/村、坐标（WGS84；GCJ-02 供高德地图查询）、"
             f"{tier:g}分钟内新增覆盖人数和最近现有同类设施的步行距离。CGCS2000 高斯-克吕格"
             "平面坐标、各档新增覆盖人数见 report.xlsx “建议选址”表、siting.gpkg 和 siting.kml。",
        table=table, headers=register_headers_zh(study.tiers_min))


def _curve_section(facility_type: str, curve: CoverageCurve,
                   weight_label: str) -> report.ReportSection:
    """Return the coverage curve of one type: what it proves, and its chart."""
    name = FACILITY_TYPES[facility_type].name_zh
    return report.ReportSection(
        f"新增{name}数量与覆盖率（覆盖曲线）", text=_curve_text(curve, weight_label),
        figures=[_curve_chart(facility_type, curve, weight_label)])


def _curve_chart(facility_type: str, curve: CoverageCurve, weight_label: str):
    """Draw the coverage curve of one type, its knee and the LSCP answer marked."""
    name = FACILITY_TYPES[facility_type].name_zh
    return charts.coverage_curve_chart(
        curve.table, total_weight=curve.total_weight, knee_p=knee_p(curve.table),
        lscp_p=None if curve.lscp is None else len(curve.lscp.selected),
        lscp_weight=None if curve.lscp is None else curve.lscp.weight_after,
        title=f"新增{name}数量与{weight_label}覆盖率")


def result_tables(study: Study, run: StudyRun) -> dict[str, pd.DataFrame]:
    """Return the result tables of a run, by the table names ``[output.postgis]`` writes.

    ``coverage_by_unit`` (per unit, type and tier), ``nearest_by_cell``,
    ``uncovered_cells``, ``service_areas``, ``summary_by_town``, ``standards``,
    ``proposed_<type>`` and ``siting_gain_<type>``, ``boundary_findings``: those the run
    produced, in the study's metric CRS, with machine-readable column names.
    """
    tables: dict[str, pd.DataFrame | None] = {
        "coverage_by_unit": run.coverage,
        "nearest_by_cell": None if run.nearest is None else study.population[[
            study.population.geometry.name]].join(run.nearest),
        "uncovered_cells": run.gaps,
        "service_areas": None if run.service_areas is None  # per (type, tier): as columns
        else run.service_areas.reset_index(),
        "summary_by_town": None if run.summary is None else run.summary.rename(
            columns={FACILITY_TYPES[t].name_zh: t for t in FACILITY_TYPES}),
        "standards": run.standards,
    }
    for facility_type, sites in run.proposals.items():
        tables[f"proposed_{facility_type}"] = sites
        tables[f"siting_gain_{facility_type}"] = run.siting_gain.get(facility_type)
    if run.inspection is not None:
        tables["boundary_findings"] = run.inspection.findings
    return {name: _storable(table) for name, table in tables.items() if table is not None}


def _storable(table: pd.DataFrame) -> pd.DataFrame:
    """Cells a table column cannot hold as such (lists, dicts, sets) become text."""
    out = table.copy()
    geometry = out.geometry.name if isinstance(out, gpd.GeoDataFrame) else None
    for column in out.columns:
        if column != geometry and out[column].dtype == object and out[column].map(
                lambda v: isinstance(v, list | tuple | dict | set)).any():
            out[column] = out[column].map(lambda v: v if v is None else str(v))
    return out


def write_results_to_postgis(study: Study, run: StudyRun, metadata: dict) -> None:
    """Write the run's result tables into ``[output.postgis]``'s schema, in one transaction.

    Besides :func:`result_tables`, a one-row ``geoplan_run`` table says which run wrote
    them (version, study, steps, the tables, the time); every table's comment holds the
    same as JSON. The earlier tables of the same names are replaced only when every table
    is written.

    Raises
    ------
    OutputError
        If the database cannot be reached or refuses the write (the earlier tables stay).
    """
    target = study.config.output.postgis
    tables = result_tables(study, run)
    stamp = {**metadata, "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
             "tables": sorted(tables)}
    tables["geoplan_run"] = pd.DataFrame([{k: v if isinstance(v, str) else json.dumps(
        v, ensure_ascii=False) for k, v in stamp.items()}])
    try:
        run.tables = write_postgis_tables(tables, target.schema_name, dsn=target.dsn,
                                          comment=json.dumps(stamp, ensure_ascii=False))
    except DatabaseError as exc:
        msg = (f"cannot write the results to PostGIS (schema {target.schema_name}): {exc}; "
               "the earlier tables and the output folder are unchanged")
        raise OutputError(msg) from exc


def _study_digest(study: Study) -> str:
    path = study.config.path
    return hashlib.sha256(path.read_bytes()).hexdigest() if path is not None else ""


def input_files(study: Study) -> list[Path]:
    """Every file the study reads: the study file, its layers, tables and network file."""
    config = study.config
    files = [config.path] if config.path is not None else []
    files += [layer.path for layer in config.layers.values() if layer.path is not None]
    files += [table.path for table in config.tables.values()]
    if config.network is not None and config.network.path is not None:
        files.append(config.network.path)
    return [Path(f) for f in files]


def check_output_folder(study: Study, out_dir: str | Path) -> None:
    """Refuse an output folder that holds (or is) one of the study's inputs.

    Raises
    ------
    StudyConfigError
        Naming the inputs inside the output folder.
    """
    out = Path(out_dir).resolve()
    inside = [f for f in input_files(study) if f.resolve() == out or out in f.resolve().parents]
    if inside:
        msg = (f"the output folder {out_dir} holds input(s) of the study: "
               f"{', '.join(str(f) for f in inside)}; a run replaces its output folder, so "
               "choose another (--out) / 输出目录不能包含输入文件")
        raise StudyConfigError(msg)


@contextmanager
def _notes_of(run: StudyRun) -> Iterator[None]:
    """Keep the warnings a step gives (a likely GCJ-02 layer …) as notes of the run.

    They reach the CLI and the report; a note the preflight already gave is not repeated.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        text = str(w.message)
        if issubclass(w.category, UserWarning) and text not in run.notes + list(run.plan.notes):
            run.notes.append(text)


def run_study(study: Study, out_dir: str | Path, *, plan: RunPlan | None = None,
              step: Step | None = None, lang: str | None = None) -> StudyRun:
    """Run the steps a study asks for and write all outputs under ``out_dir``, all or nothing.

    Parameters
    ----------
    study
        A loaded, validated study (:func:`geoplan.load_study`).
    out_dir
        Output folder. It is replaced as a whole when every step succeeded; a failed run
        leaves it as it was (see :func:`geoplan.io.staged_folder`). It may not hold an input.
    plan
        The steps to run (:func:`geoplan.study.preflight.plan_run`; default: what the study
        file asks for).
    step
        Optional callback told the label of each step as it starts (for progress bars).
    lang
        ``"zh"``: Chinese headers in every workbook, CSV and HTML; ``"en"``: the
        machine-readable names (default: ``[study] lang``, else ``"zh"``).

    Returns
    -------
    StudyRun
        Result tables and the paths written.

    Raises
    ------
    StudyConfigError
        If the output folder holds an input of the study.
    OutputError
        If the outputs cannot be written (the message names the file and the cause).
    """
    plan = plan or plan_run(study.config)
    check_output_folder(study, out_dir)
    tell = step or (lambda _name: None)
    run = StudyRun(plan=plan, lang=lang or study.config.study.lang)
    study = use_one_denominator(study, run)
    final = Path(out_dir)
    metadata = {"geoplan_version": version("geoplan"), "study": study.name,
                "study_file_sha256": _study_digest(study), "steps": list(plan.steps),
                "skipped": plan.skipped}
    steps = {"coverage": analyse_coverage, "standards": write_compliance,
             "siting": propose_sites, "boundary": inspect_study_boundaries}
    try:
        with staged_folder(final, metadata) as stage:
            tell(STEP_LABELS["layers"])
            write_layers_and_summary(study, stage, run)
            for name in plan.steps:
                tell(STEP_LABELS[name])
                with _notes_of(run):
                    steps[name](study, stage, run)
            if plan.steps:
                tell(STEP_LABELS["reports"])
                write_map_and_reports(study, stage, run)
            if study.config.output.postgis is not None:  # last: only a run that succeeded
                tell(STEP_LABELS["postgis"])
                write_results_to_postgis(study, run, metadata)
            run.outputs = {k: final / Path(v).relative_to(stage)
                           for k, v in run.outputs.items()}
    except WRITE_ERRORS as exc:  # disk full, read-only, GDAL: name the file and the cause
        name = Path(getattr(exc, "filename", None) or final).name
        msg = f"cannot write {name}: {write_error_cause(exc, final.parent)}"
        raise OutputError(msg) from exc
    return run


def step_labels(plan: RunPlan, *, postgis: bool = False) -> list[str]:
    """Return the progress labels of a run of ``plan``, in order (``postgis``: write-back)."""
    return [STEP_LABELS["layers"], *(STEP_LABELS[s] for s in plan.steps),
            *([STEP_LABELS["reports"]] if plan.steps else []),
            *([STEP_LABELS["postgis"]] if postgis else [])]


__all__ = ["STEP_LABELS", "StudyRun", "check_output_folder", "input_files", "result_tables",
           "run_study", "step_labels", "write_results_to_postgis"]
