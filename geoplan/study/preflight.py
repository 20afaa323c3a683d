"""The one preflight of a study: what a run will do, and every reason it could not.

``geoplan validate`` and ``geoplan run`` both call :func:`prepare_run`, so a study that
validates is never rejected by a run for its configuration or its inputs. The checks run in
two passes, each reporting every problem at once: :func:`config_problems` on the study file
alone (profiles and registries that exist, settings a step needs, layer names a section
refers to, an ``[output.postgis]`` database that answers and may be written), then, after
the layers are loaded and validated, :func:`input_problems` on their content (empty layers a
step needs, quotas naming unknown 镇街, more sites asked for than candidates can give).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from geoplan.errors import GeoplanError, StudyConfigError
from geoplan.indicators import load_registry
from geoplan.io import postgis_target_problems
from geoplan.network import check_snap_offsets, snap_points
from geoplan.schema import FACILITY_TYPES, facility_type_key
from geoplan.standards import load_profile
from geoplan.study.config import StudyConfig, read_study_config
from geoplan.study.load import Study, load_study

__all__ = [
    "CORE_TYPES",
    "STEP_NAMES_ZH",
    "RunPlan",
    "config_problems",
    "input_problems",
    "plan_run",
    "prepare_run",
]

logger = logging.getLogger(__name__)

#: The four core facility types whose service circles ``[coverage]`` reports by default.
CORE_TYPES = ("elderly_station", "senior_canteen", "columbarium", "social_work_station")
#: The analysis steps in run order, with their Chinese names.
STEP_NAMES_ZH = {
    "coverage": "服务圈覆盖", "standards": "标准与指标", "siting": "新增选址",
    "boundary": "界线联检",
}
#: What a study file adds to ask for a step it left out.
_HOW_TO_ASK = {
    "coverage": "如需，请添加 [coverage] 节（及 [network]、人口与设施图层） / "
                "add a [coverage] section (and [network], population and facilities)",
    "standards": "如需，请添加 [standards] 节（profile = ...） / "
                 "add a [standards] section (profile = ...)",
    "siting": "如需，请添加 [siting] 节及 [siting.types.<类型>] 表 / "
              "add a [siting] section with [siting.types.<type>] tables",
    "boundary": "如需，请添加 [boundary] 节（及行政区划与界线图层） / "
                "add a [boundary] section (and admin units and boundary lines)",
}
_CANDIDATE_SOURCES = ("demand_clusters", "network_nodes")


@dataclass(frozen=True)
class RunPlan:
    """What a run of a study does.

    Attributes
    ----------
    steps
        The analysis steps to run, in order (``coverage``, ``standards``, ``siting``,
        ``boundary``).
    skipped
        Step → why it is not run (the section the file would add).
    coverage_types
        Facility types whose service circles are reported.
    siting_types
        Facility type key → its ``[siting.types.<type>]`` section name.
    curve
        Numbers of new sites of the coverage curve of every siting type (``[siting] curve``),
        or ``None``.
    notes
        Things the planner should know that do not stop the run.
    """

    steps: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)
    coverage_types: tuple[str, ...] = ()
    siting_types: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    curve: tuple[int, ...] | None = None


def _loads(what: str, load: Callable[[str | Path], object], name: str | Path) -> list[str]:
    try:
        load(name)
    except (GeoplanError, OSError, ValueError) as exc:
        return [f"{what}: {exc}"]
    return []


def config_problems(config: StudyConfig) -> list[str]:
    """Return every problem of the study file that stops one of the steps it asks for.

    Parameters
    ----------
    config
        The validated study file.

    Returns
    -------
    list of str
        One line per problem, starting with the key path (``siting.candidates: ...``).
    """
    problems: list[str] = []
    kinds = {name: config.layer_kind(name) for name in config.layers}
    have = set(kinds.values())

    def need_layers(step: str, *needed: str) -> None:
        for kind in needed:
            if kind not in have:
                problems.append(f"[{step}]: needs a layer of kind {kind} ([layers.{kind}])")

    if "coverage" in config.steps:
        need_layers("coverage", "population", "facilities")
        if config.network is None:
            problems.append("[coverage]: needs a [network] section (the walking network)")
        for t in config.coverage.types or ():
            if facility_type_key(t, config.types.aliases) is None:
                problems.append(f"coverage.types: unknown facility type {t!r}; known: "
                                f"{', '.join(FACILITY_TYPES)}")
    if "standards" in config.steps:
        need_layers("standards", "admin_units")
        if config.study.reference_date is None:
            problems.append("[standards]: needs study.reference_date (the date the data "
                            "describe, e.g. reference_date = 2025-12-31) to pick the targets")
        problems += _loads("standards.profile", load_profile,
                           config.standards.profile)
        for key in ("registry", "results_registry"):
            name = getattr(config.standards, key)
            if name is not None and name != "none":
                problems += _loads(f"standards.{key}", load_registry, name)
    if "siting" in config.steps:
        problems += _siting_config_problems(config, kinds)
    if "boundary" in config.steps:
        need_layers("boundary", "admin_units", "boundary_lines")
        if config.study.reference_date is None:
            problems.append("[boundary]: needs study.reference_date (the inspection's "
                            "reference date, for overdue lines and markers and the plan)")
    target = config.output.postgis
    if target is not None:
        problems += [f"output.postgis: {p}" for p in
                     postgis_target_problems(target.schema_name, dsn=target.dsn)]
    if config.map.basemap == "tianditu" and not (
            config.map.tianditu_tk or os.environ.get("GEOPLAN_TIANDITU_TK")):
        problems.append("map.basemap: the 天地图 basemap needs a key: map.tianditu_tk = \"...\" "
                        "or the GEOPLAN_TIANDITU_TK environment variable")
    return problems


def _siting_config_problems(config: StudyConfig, kinds: dict[str, str | None]) -> list[str]:
    siting = config.siting
    problems = []
    if config.network is None:
        problems.append("[siting]: needs a [network] section (the walking network)")
    if "population" not in kinds.values():
        problems.append("[siting]: needs a layer of kind population (the demand)")
    for name in siting.types:
        if facility_type_key(name, config.types.aliases) is None:
            problems.append(f"siting.types.{name}: unknown facility type; known: "
                            f"{', '.join(FACILITY_TYPES)}")
    if siting.candidates not in _CANDIDATE_SOURCES and kinds.get(
            siting.candidates) != "candidate_sites":
        problems.append(f"siting.candidates: {siting.candidates!r} is neither "
                        f"{' nor '.join(_CANDIDATE_SOURCES)} nor a layer of kind "
                        "candidate_sites")
    problems += [f"siting.exclude: {name!r} is not a layer of kind exclusion_zones"
                 for name in siting.exclude if kinds.get(name) != "exclusion_zones"]
    for name, section in siting.types.items():
        wants_towns = section.min_per_town or section.max_per_town is not None or section.quotas
        if wants_towns and "admin_units" not in kinds.values():
            problems.append(f"siting.types.{name}: per-镇街 quotas need admin units")
        if section.budget is not None and section.cost_per_site is None and (
                siting.candidates in _CANDIDATE_SOURCES):
            problems.append(f"siting.types.{name}: a budget needs cost_per_site, or candidates "
                            "from a layer with a cost column")
    return problems


def _existing(study: Study):
    return study.facilities[study.facilities["status"].isin(("existing", "building"))]


def input_problems(study: Study) -> tuple[list[str], list[str]]:
    """Return the problems (and notes) of a loaded study's layers for the steps it asks for.

    Returns
    -------
    problems : list of str
        What stops a step (an empty layer it needs, a quota naming an unknown 镇街, more
        sites than candidates).
    notes : list of str
        What the planner should know but does not stop the run.
    """
    config = study.config
    problems: list[str] = []
    notes: list[str] = []

    def need(step: str, kind: str, frame) -> None:
        if frame is not None and not len(frame):
            problems.append(f"[{step}]: the {kind} layer is empty")

    if "coverage" in config.steps:
        need("coverage", "population", study.population)
        existing = _existing(study)["facility_type"]
        if config.coverage.types is None and not existing.isin(CORE_TYPES).any():
            problems.append("[coverage]: the study has no existing facility of the core types "
                            f"({', '.join(CORE_TYPES)}); name the types in coverage.types")
        for t in config.coverage.types or ():
            key = facility_type_key(t, config.types.aliases)
            if key is not None and not existing.eq(key).any():
                notes.append(f"coverage.types: no existing {FACILITY_TYPES[key].name_zh} "
                             f"({key}) in the facilities; its coverage is 0")
    if "standards" in config.steps:
        need("standards", "admin units", study.admin_units)
    if "boundary" in config.steps:
        need("boundary", "admin units", study.admin_units)
        need("boundary", "boundary lines", study.boundary_lines)
    if "siting" in config.steps:
        problems += _siting_input_problems(study)
    return problems, notes


def _siting_input_problems(study: Study) -> list[str]:
    siting = study.config.siting
    problems = []
    if not len(study.population):
        problems.append("[siting]: the population layer is empty")
    elif not (study.population[siting.demand] > 0).any():
        problems.append(f"siting.demand: no cell has {siting.demand} > 0")
    n_candidates = siting.n_candidates
    if siting.candidates not in _CANDIDATE_SOURCES:
        layer = study.candidate_sites[study.candidate_sites["source_layer"] == siting.candidates]
        n_candidates = len(layer)
        if not n_candidates:
            problems.append(f"siting.candidates: the layer {siting.candidates!r} is empty")
        for name, section in siting.types.items():
            if section.budget is not None and section.cost_per_site is None and (
                    layer["cost"].isna().any()):
                problems.append(f"siting.types.{name}: a budget needs a cost for every "
                                f"candidate; {int(layer['cost'].isna().sum())} of the layer "
                                f"{siting.candidates!r} have none (or give cost_per_site)")
    towns = set(study.towns["code"].astype(str))
    for name, section in siting.types.items():
        if section.new_sites is not None and section.new_sites > n_candidates:
            problems.append(f"siting.types.{name}.new_sites: {section.new_sites} new sites "
                            f"asked for, but only {n_candidates} candidates "
                            f"(siting.n_candidates or the candidate layer)")
        unknown = sorted(set(section.quotas) - towns)
        if unknown:
            problems.append(f"siting.types.{name}.quotas: not 镇街 codes of the study: "
                            f"{', '.join(unknown)}")
        floor = sum(b[0] for b in section.quotas.values()) + section.min_per_town * len(
            towns - set(section.quotas))
        if section.new_sites is not None and floor > section.new_sites:
            problems.append(f"siting.types.{name}: the quotas ask for at least {floor} new "
                            f"sites, more than new_sites = {section.new_sites}")
    return problems


def _offset_notes(study: Study, network) -> list[str]:
    """Warn, file by file and type by type, of facilities that look like GCJ-02/BD-09."""
    facilities = study.facilities
    if len(facilities) < 3:
        return []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_snap_offsets(facilities, snap_points(network, facilities, what="facilities"),
                           what="facilities", network=network)
    return [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def plan_run(config: StudyConfig, *, only: tuple[str, ...] | None = None) -> RunPlan:
    """Return the steps a run does for a study file (without reading its layers).

    Parameters
    ----------
    config
        The validated study file.
    only
        Run only these steps (e.g. ``("boundary",)`` for ``geoplan inspect``), each of which
        the file must ask for.
    """
    wanted = config.steps if only is None else tuple(s for s in config.steps if s in only)
    skipped = {s: f"{STEP_NAMES_ZH[s]} ({s})：研究文件未要求 not asked for；{_HOW_TO_ASK[s]}"
               for s in STEP_NAMES_ZH if s not in config.steps}
    if only is not None:
        skipped |= {s: f"{STEP_NAMES_ZH[s]} ({s})：本命令不含此步骤 left out of this command"
                    for s in config.steps if s not in only}
    aliases = config.types.aliases
    coverage = ()
    if "coverage" in wanted:
        coverage = tuple(dict.fromkeys(
            facility_type_key(t, aliases) for t in (config.coverage.types or CORE_TYPES)))
    siting = {}
    if "siting" in wanted:
        siting = {facility_type_key(name, aliases): name for name in config.siting.types}
    curve = config.siting.curve if "siting" in wanted else None
    return RunPlan(steps=wanted, skipped=skipped, coverage_types=coverage, siting_types=siting,
                   curve=curve)


def prepare_run(path: str | Path, *, only: tuple[str, ...] | None = None
                ) -> tuple[Study, RunPlan]:
    """Read, check and load a study, and plan its run: the preflight of validate and run.

    Parameters
    ----------
    path
        The study file.
    only
        Restrict the run to these steps (see :func:`plan_run`).

    Returns
    -------
    study : Study
        The loaded study (every layer validated, in the metric CRS).
    plan : RunPlan
        What the run will do.

    Raises
    ------
    StudyConfigError
        With every problem of the study file, or (after loading) of its inputs, at once.
    SchemaError, CRSError
        With every problem of the layers (see :func:`geoplan.study.load_study`).
    """
    config = read_study_config(path)
    if only is not None:
        missing = [s for s in only if s not in config.steps]
        if missing:
            msg = (f"{config.path}: the study file does not ask for "
                   f"{', '.join(STEP_NAMES_ZH[s] + f' ({s})' for s in missing)}: "
                   f"{'; '.join(_HOW_TO_ASK[s] for s in missing)}")
            raise StudyConfigError(msg)
    problems = config_problems(config)
    try:  # read the layers even then, so every problem is reported at once
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            study = load_study(config)
    except GeoplanError as exc:
        if not problems:
            raise
        raise StudyConfigError(_listing(config, [*problems, str(exc)])) from exc
    if problems:
        raise StudyConfigError(_listing(config, problems))
    problems, notes = input_problems(study)
    notes = list(dict.fromkeys(
        [str(w.message) for w in caught if issubclass(w.category, UserWarning)] + notes))
    if problems:
        raise StudyConfigError(_listing(config, problems))
    plan = plan_run(config, only=only)
    if {"coverage", "siting"} & set(plan.steps):
        network = study.network()  # built (and kept) now: a network that fails, fails here
        notes += _offset_notes(study, network)
    for note in notes:
        logger.info("%s", note)
    return study, dataclasses.replace(plan, notes=tuple(notes))


def _listing(config: StudyConfig, problems: list[str]) -> str:
    lines = [f"{config.path}: {len(problems)} problem(s) stop the run (运行前检查未通过)"]
    return "\n".join([*lines, *(f"  - {p}" for p in problems)])
