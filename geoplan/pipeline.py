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
import pandas as pd

from geoplan import maps, plotting, report
from geoplan.access import nearest_facility_time, reach_matrix
from geoplan.boundary import BoundaryInspection, inspect_boundaries
from geoplan.boundary_report import archive_by_line, write_inspection_workbook
from geoplan.candidates import candidate_sites_from_demand_clusters
from geoplan.coverage import assign_units, coverage_by_unit, coverage_gaps
from geoplan.io import atomic_write, write_layers_gpkg
from geoplan.population import unit_summary
from geoplan.report_compliance import compliance_tables, write_compliance_workbook
from geoplan.schema import FACILITY_TYPES
from geoplan.service_areas import service_areas
from geoplan.siting import mclp
from geoplan.siting_tables import coverage_before_after_by_unit, rank_sites_by_marginal_gain
from geoplan.study import Study

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
        Coverage per unit, facility type and tier (:func:`geoplan.coverage.coverage_by_unit`).
    proposals
        Facility type -> ranked proposed sites with marginal gains.
    siting_gain
        Facility type -> before/after coverage per 镇街.
    inspection
        Boundary joint-inspection result.
    """

    outputs: dict[str, Path] = field(default_factory=dict)
    summary: pd.DataFrame | None = None
    coverage: pd.DataFrame | None = None
    proposals: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    siting_gain: dict[str, pd.DataFrame] = field(default_factory=dict)
    inspection: BoundaryInspection | None = None


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
    types = [t for t in CORE_TYPES if existing["type"].eq(t).any()]
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
    areas = service_areas(network, existing[existing["type"].isin(types)],
                          max(study.tiers_min) * study.speed_m_per_min, dissolve_by="type")
    run.outputs["coverage"] = write_layers_gpkg(
        {"uncovered_cells": gaps, "service_areas": areas}, out_dir / "coverage.gpkg")
    return nearest


def propose_sites(study: Study, nearest: pd.DataFrame, out_dir: Path, run: StudyRun) -> None:
    """Propose new sites for :data:`SITING_PLAN` by exact MCLP with existing sites fixed."""
    network = study.network()
    existing = _existing(study.facilities)
    max_m = max(study.tiers_min) * study.speed_m_per_min
    cells = study.population
    towns = assign_units(cells, study.towns)["town"]
    demand = cells.assign(town=towns.to_numpy())
    weights = demand["pop_60plus"].to_numpy(float)
    layers = {}
    for facility_type, p in SITING_PLAN.items():
        uncovered = ~(nearest[f"{facility_type}_dist_m"] <= max_m).to_numpy()
        candidates = candidate_sites_from_demand_clusters(
            cells, N_CANDIDATES, mask=uncovered, network=network, seed=0)
        reach = reach_matrix(network, candidates, cells, max_m)
        fixed = existing[existing["type"].eq(facility_type)]
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
    tables = compliance_tables(study)
    run.outputs["compliance"] = write_compliance_workbook(tables, out_dir / "compliance.xlsx")
    return tables


def write_map_and_reports(study: Study, nearest: pd.DataFrame, compliance: dict[str, pd.DataFrame],
                          out_dir: Path, run: StudyRun) -> None:
    """Write ``map.html``, ``report.xlsx`` and ``report.html``."""
    max_min = max(study.tiers_min)
    key = "elderly_station"
    cells = study.population.assign(
        covered=(nearest[f"{key}_time_min"] <= max_min).to_numpy())
    towns = maps.units_with_coverage(study.admin_units, run.coverage, facility_type=key,
                                     tier_min=max_min, level="town")
    villages = maps.units_with_coverage(study.admin_units, run.coverage, facility_type=key,
                                        tier_min=max_min, level="village")
    layers = {"towns": towns, "villages": villages, "uncovered_cells": cells,
              "facilities": study.facilities}
    if key in run.proposals:
        layers["proposed_sites"] = run.proposals[key]
    if run.inspection is not None:
        layers |= {"boundary_lines": study.boundary_lines,
                   "boundary_markers": study.boundary_markers,
                   "findings": run.inspection.findings}
    m = maps.overview_map(layers, admin_units=study.admin_units,
                          title=f"{study.name} {max_min:g}分钟养老服务圈",
                          shown_facility_types=("elderly_station", "senior_canteen",
                                                "day_care_center"))
    run.outputs["map"] = maps.save_map(m, out_dir / "map.html")

    town_cov = run.coverage[run.coverage["level"].eq("town")
                            & run.coverage["tier_min"].eq(max_min)]
    sheets: dict[str, pd.DataFrame] = {"镇街概况": run.summary.reset_index(),
                                       "15分钟覆盖": town_cov}
    sheets |= {_sheet_name(f"合规-{name}"): table for name, table in compliance.items()}
    for facility_type, ranked in run.proposals.items():
        sheets[_sheet_name(f"选址-{FACILITY_TYPES[facility_type].name_zh}")] = ranked.drop(
            columns="geometry")
    if run.inspection is not None:
        sheets["联检问题清单"] = run.inspection.findings.drop(columns="geometry")
    run.outputs["report_xlsx"] = report.write_workbook(sheets, out_dir / "report.xlsx")

    shares = town_cov.pivot_table(index="name", columns="facility_type",
                                  values="pop_60plus_share")
    shares.columns = [FACILITY_TYPES[c].name_zh for c in shares.columns]
    sections = [
        report.ReportSection(
            f"一、{max_min:g}分钟服务圈覆盖（60岁以上老人）",
            text="按步行网络计算的各镇街60岁以上老人覆盖比例。",
            table=shares.reset_index(), percent_cols=list(shares.columns),
            figures=[plotting.bar_chart(shares.iloc[:, 0], title="各镇街居家养老服务站覆盖率",
                                        percent=True)]),
    ]
    for facility_type, gain in run.siting_gain.items():
        sections.append(report.ReportSection(
            f"选址建议：{FACILITY_TYPES[facility_type].name_zh}",
            text=f"新增 {len(run.proposals[facility_type])} 处后各镇街60岁以上老人覆盖变化。",
            table=gain.reset_index()))
    if run.inspection is not None:
        counts = run.inspection.findings["kind"].value_counts().rename_axis("kind")
        sections.append(report.ReportSection("行政区域界线联检问题", table=counts.reset_index()))
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

