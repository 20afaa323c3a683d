"""The main job on a study: every analysis in order, every output written atomically.

:func:`run_study` is what ``geoplan demo`` and ``geoplan run`` call. It loads nothing itself
(pass a loaded :class:`~geoplan.study.Study`) and computes nothing itself: each step calls the
module that owns the concept and writes that step's outputs. Each file is written to a
temporary name and moved into place, so a failed run leaves earlier outputs intact.

Outputs (under ``out_dir``):

- ``layers.gpkg`` — the validated input layers in the study's metric CRS;
- ``summary_by_town.csv`` — people, older people, households and facilities by type per 镇街;
- ``coverage.gpkg`` — 15-minute gaps (uncovered cells) and service areas;
- ``compliance.xlsx`` — standards and plan-indicator evaluation (合规检查);
- ``siting.gpkg`` — proposed sites for the siting types;
- ``boundary/联检报告.xlsx`` and ``boundary/联检成果归档/`` — boundary joint inspection;
- ``map.html``, ``report.xlsx``, ``report.html`` — what a planner hands on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geoplan import maps, report
from geoplan.access import nearest_facility_time, reach_matrix
from geoplan.access.areas import service_areas
from geoplan.access.coverage import assign_units, coverage_by_unit, coverage_gaps
from geoplan.boundary import BoundaryInspection, inspect_boundaries
from geoplan.io import atomic_write, write_layers_gpkg
from geoplan.population import unit_summary
from geoplan.report import charts
from geoplan.report.boundary import (
    archive_by_line,
    inspection_sheets,
    write_inspection_workbook,
)
from geoplan.report.compliance import write_compliance_workbook
from geoplan.schema import FACILITY_TYPES
from geoplan.siting import mclp
from geoplan.siting.candidates import candidate_sites_from_demand_clusters
from geoplan.siting.tables import coverage_before_after_by_unit, rank_sites_by_marginal_gain
from geoplan.standards import compliance_gdf
from geoplan.study.compliance import compliance_tables, standards_results
from geoplan.study.load import Study

logger = logging.getLogger(__name__)

#: The four core facility types whose 15-minute service circles the demo reports.
CORE_TYPES = ("elderly_station", "senior_canteen", "columbarium", "social_work_station")
#: Facility types for which new sites are proposed, and how many (p) for each.
SITING_PLAN = {"elderly_station": 20, "senior_canteen": 10}
#: Candidate sites generated per siting type (weighted clusters of uncovered 60+ demand).
N_CANDIDATES = 300

Step = Callable[[str], None]


@dataclass
class StudyRun:
    """What one run produced: result tables and the paths written.

    Attributes
    ----------
    outputs
        Output name -> path written.
    summary
        Per-镇街 summary table.
    coverage
        Coverage per unit, facility type and tier (:func:`geoplan.access.coverage_by_unit`).
    proposals
        Facility type -> ranked proposed sites with marginal gains.
    siting_gain
        Facility type -> before/after coverage per 镇街.
    inspection
        Boundary joint-inspection result.
    service_areas
        Service-area polygons of the core types (dissolved per type).
    standards
        Standards results per unit and rule (:func:`geoplan.standards.evaluate_standards`).
    """

    outputs: dict[str, Path] = field(default_factory=dict)
    summary: pd.DataFrame | None = None
    coverage: pd.DataFrame | None = None
    proposals: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    siting_gain: dict[str, pd.DataFrame] = field(default_factory=dict)
    inspection: BoundaryInspection | None = None
    service_areas: gpd.GeoDataFrame | None = None
    standards: pd.DataFrame | None = None


def _sheet_name(text: str) -> str:
    """Make ``text`` a valid Excel sheet name (no brackets, colon, ``*?/``, backslash; <= 31)."""
    return text.translate(str.maketrans("/\\[]:*?", "、、（）-  "))[:31]


def _existing(facilities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return facilities[facilities["status"].eq("existing")]


def write_layers_and_summary(study: Study, out_dir: Path, run: StudyRun) -> None:
    """Write the validated layers and the per-镇街 summary table."""
    layers = {
        name: getattr(study, name)
        for name in ("study_area", "admin_units", "facilities", "population",
                     "boundary_lines", "boundary_markers", "projects")
        if getattr(study, name) is not None
    }
    meta = {
        name: {"synthetic": str(layer.attrs.get("geoplan", {}).get("synthetic", False)).lower()}
        for name, layer in layers.items()
    }
    run.outputs["layers"] = write_layers_gpkg(layers, out_dir / "layers.gpkg", metadata=meta)
    summary = unit_summary(study.towns, study.population, study.facilities)
    summary = summary.rename(columns={t: FACILITY_TYPES[t].name_zh for t in FACILITY_TYPES
                                      if t in summary.columns})
    path = out_dir / "summary_by_town.csv"
    with atomic_write(path) as tmp:
        summary.to_csv(tmp, encoding="utf-8-sig", index_label="code")
    run.outputs["summary"] = path
    run.summary = summary


def analyse_coverage(study: Study, out_dir: Path, run: StudyRun) -> pd.DataFrame:
    """Compute 15-minute coverage of the core types; write gaps and service areas.

    Returns
    -------
    pandas.DataFrame
        Nearest facility distance/time per population cell and core type.
    """
    network = study.network()
    existing = _existing(study.facilities)
    types = [t for t in CORE_TYPES if existing["facility_type"].eq(t).any()]
    missing = [FACILITY_TYPES[t].name_zh for t in CORE_TYPES if t not in types]
    if missing:
        logger.warning("no existing %s in the study: their coverage is not reported",
                       "、".join(missing))
    if not types:
        return None
    nearest = nearest_facility_time(
        network, study.population, existing, speed_m_per_min=study.speed_m_per_min,
        max_minutes=max(study.tiers_min), types=types,
    )
    run.coverage = coverage_by_unit(
        network, study.population, existing, study.admin_units, tiers_min=study.tiers_min,
        speed_m_per_min=study.speed_m_per_min, types=types, nearest=nearest,
    )
    gaps = coverage_gaps(study.population, nearest, tier_min=max(study.tiers_min),
                         speed_m_per_min=study.speed_m_per_min, types=types)
    run.service_areas = service_areas(network, existing[existing["facility_type"].isin(types)],
                                      max(study.tier_distances_m), dissolve_by="facility_type")
    run.outputs["coverage"] = write_layers_gpkg(
        {"uncovered_cells": gaps, "service_areas": run.service_areas},
        out_dir / "coverage.gpkg")
    return nearest


def propose_sites(study: Study, nearest: pd.DataFrame | None, out_dir: Path,
                  run: StudyRun) -> None:
    """Propose new sites for :data:`SITING_PLAN` by exact MCLP with existing sites fixed.

    A siting type without any existing site starts from nothing (every cell uncovered).
    """
    network = study.network()
    existing = _existing(study.facilities)
    max_m = max(study.tier_distances_m)
    cells = study.population
    towns = assign_units(cells, study.towns)["town"]
    demand = cells.assign(town=towns.to_numpy())
    weights = demand["pop_60plus"].to_numpy(float)
    layers = {}
    for facility_type, p in SITING_PLAN.items():
        column = f"{facility_type}_dist_m"
        if nearest is not None and column in nearest.columns:
            uncovered = ~(nearest[column] <= max_m).to_numpy()
        else:
            uncovered = np.ones(len(cells), dtype=bool)
        if not (uncovered & (weights > 0)).any():
            logger.info("%s: every older resident is already covered", facility_type)
            continue
        candidates = candidate_sites_from_demand_clusters(
            cells, N_CANDIDATES, mask=uncovered, network=network, seed=0)
        reach = reach_matrix(network, candidates, cells, max_m)
        fixed = existing[existing["facility_type"].eq(facility_type)]
        existing_reach = reach_matrix(network, fixed, cells, max_m)
        result = mclp(reach, weights, p, existing_reach=existing_reach, method="exact",
                      time_limit_s=60)
        ranked = rank_sites_by_marginal_gain(
            result, reach, demand, existing_reach=existing_reach,
            columns=("pop", "households", "pop_60plus"), site_ids=candidates.index)
        sites = candidates.loc[ranked["site_id"]].reset_index(drop=True)
        sites = gpd.GeoDataFrame(
            ranked.assign(facility_type=facility_type, gap=result.gap),
            geometry=sites.geometry.to_numpy(), crs=candidates.crs)
        run.proposals[facility_type] = sites
        run.siting_gain[facility_type] = coverage_before_after_by_unit(
            result, reach, demand, "town", existing_reach=existing_reach,
            columns=("pop", "households", "pop_60plus"))
        layers[f"proposed_{facility_type}"] = sites
        logger.info("%s: %d new sites, 60+ covered %.0f -> %.0f (gap %.2g)", facility_type,
                    len(sites), result.weight_before, result.weight_after, result.gap)
    run.outputs["siting"] = write_layers_gpkg(layers, out_dir / "siting.gpkg")


def inspect_study_boundaries(study: Study, out_dir: Path, run: StudyRun) -> None:
    """Run the boundary joint inspection and write its workbook and per-line archive."""
    previous = study.previous_boundary_lines
    reference = study.reference_date
    run.inspection = inspect_boundaries(
        towns=study.towns, villages=study.villages, lines=study.boundary_lines,
        previous_lines=previous, markers=study.boundary_markers,
        rounds=study.inspection_rounds, facilities=study.facilities, projects=study.projects,
        study_area=study.study_area, reference_date=reference, plan_year=reference.year + 1,
    )
    folder = out_dir / "boundary"
    run.outputs["inspection"] = write_inspection_workbook(run.inspection, folder / "联检报告.xlsx")
    run.outputs["inspection_archive"] = archive_by_line(
        run.inspection, study.boundary_lines, study.boundary_markers, folder / "联检成果归档",
        previous_lines=previous)


def write_compliance(study: Study, out_dir: Path, run: StudyRun) -> dict[str, pd.DataFrame]:
    """Evaluate standards and plan indicators; write the compliance workbook."""
    run.standards = standards_results(study)
    tables = compliance_tables(study, results=run.standards)
    run.outputs["compliance"] = write_compliance_workbook(tables, out_dir / "compliance.xlsx")
    return tables


#: The standard drawn on the demo map (when the profile has it): floor area per 100
#: households of community service facilities, per 社区/村.
MAP_RULE = ("community_area_per_100hh", "village")


def _map_layers(study: Study, nearest: pd.DataFrame | None, run: StudyRun,
                key: str | None) -> dict[str, gpd.GeoDataFrame]:
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
        covered = (nearest[f"{key}_dist_m"] <= max(study.tier_distances_m)).to_numpy()
        layers["uncovered_cells"] = study.population.assign(covered=covered)
        layers["service_areas"] = run.service_areas
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
        layers["proposed_sites"] = run.proposals[key]
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


def write_map_and_reports(study: Study, nearest: pd.DataFrame | None,
                          compliance: dict[str, pd.DataFrame], out_dir: Path,
                          run: StudyRun) -> None:
    """Write ``map.html``, ``report.xlsx`` and ``report.html``."""
    max_min = max(study.tiers_min)
    present = [] if run.coverage is None else list(dict.fromkeys(run.coverage["facility_type"]))
    key = "elderly_station" if "elderly_station" in present else next(iter(present), None)
    layers = _map_layers(study, nearest, run, key)
    subject = FACILITY_TYPES[key].name_zh if key else "民政设施"
    m = maps.overview_map(layers, admin_units=study.admin_units, basemap=study.basemap,
                          tianditu_tk=study.tianditu_tk,
                          title=f"{study.name} {max_min:g}分钟{subject}服务圈",
                          shown_facility_types=("elderly_station", "senior_canteen",
                                                "day_care_center"))
    run.outputs["map"] = maps.save_map(m, out_dir / "map.html")

    sheets: dict[str, pd.DataFrame] = {"镇街概况": run.summary.reset_index()}
    sections = []
    if run.coverage is not None:
        town_cov = run.coverage[run.coverage["level"].eq("town")
                                & run.coverage["tier_min"].eq(max_min)]
        sheets[f"{max_min:g}分钟覆盖"] = _in_chinese(town_cov)
        shares = town_cov.pivot_table(index="name", columns="facility_type",
                                      values="pop_60plus_share")
        shares.columns = [FACILITY_TYPES[c].name_zh for c in shares.columns]
        sections.append(report.ReportSection(
            f"一、{max_min:g}分钟服务圈覆盖（60岁以上老人）",
            text="按步行网络计算的各镇街60岁以上老人覆盖比例。",
            table=shares.reset_index(), percent_cols=list(shares.columns),
            figures=[charts.bar_chart(shares[subject], title=f"各镇街{subject}覆盖率",
                                        percent=True)]))
    sheets |= {_sheet_name(f"合规-{name}"): table for name, table in compliance.items()}
    for facility_type, ranked in run.proposals.items():
        sheets[_sheet_name(f"选址-{FACILITY_TYPES[facility_type].name_zh}")] = _in_chinese(
            ranked.drop(columns="geometry"))
    if run.inspection is not None:
        sheets["联检问题清单"] = inspection_sheets(run.inspection)["问题清单"]
    run.outputs["report_xlsx"] = report.write_workbook(sheets, out_dir / "report.xlsx")

    for facility_type, gain in run.siting_gain.items():
        sections.append(report.ReportSection(
            f"选址建议：{FACILITY_TYPES[facility_type].name_zh}",
            text=f"新增 {len(run.proposals[facility_type])} 处后各镇街60岁以上老人覆盖变化。",
            table=gain.reset_index()))
    if run.inspection is not None:
        counts = inspection_sheets(run.inspection)["问题清单"]
        kind_col = "问题类型" if "问题类型" in counts.columns else counts.columns[0]
        sections.append(report.ReportSection(
            "行政区域界线联检问题",
            table=counts[kind_col].value_counts().rename_axis(kind_col).reset_index(
                name="数量")))
    run.outputs["report_html"] = report.write_html_report(
        sections, out_dir / "report.html", title=f"{study.name} 民政设施评估", map_html=m)


def run_study(study: Study, out_dir: str | Path, *,
              step: Step | None = None) -> StudyRun:
    """Run every analysis on a loaded study and write all outputs under ``out_dir``.

    Parameters
    ----------
    study
        A loaded, validated study (:func:`geoplan.load_study`).
    out_dir
        Output folder (created when missing; earlier outputs are replaced one file at a time,
        atomically).
    step
        Optional callback told the name of each step as it starts (for progress bars).

    Returns
    -------
    StudyRun
        Result tables and the paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tell = step or (lambda _name: None)
    run = StudyRun()
    tell("图层与概况 layers and summary")
    write_layers_and_summary(study, out, run)
    tell("15分钟服务圈 coverage")
    nearest = analyse_coverage(study, out, run)
    tell("标准与指标 standards and indicators")
    compliance = write_compliance(study, out, run)
    tell("选址 siting")
    propose_sites(study, nearest, out, run)
    if len(study.boundary_lines):
        tell("界线联检 boundary inspection")
        inspect_study_boundaries(study, out, run)
    tell("地图与报告 map and reports")
    write_map_and_reports(study, nearest, compliance, out, run)
    return run


STEP_NAMES: Sequence[str] = (
    "图层与概况 layers and summary", "15分钟服务圈 coverage", "标准与指标 standards and indicators",
    "选址 siting", "界线联检 boundary inspection", "地图与报告 map and reports",
)

__all__ = ["CORE_TYPES", "SITING_PLAN", "STEP_NAMES", "StudyRun", "run_study"]

