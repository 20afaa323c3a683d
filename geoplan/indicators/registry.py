"""Plan indicator registries (专栏 tables) as cited TOML data: indicators, observations, projects.

A registry file has a ``[plan]`` table (document, base year, target year), a list of
``[[indicator]]`` tables transcribed from a plan's indicator table (number, name, unit,
base value, yearly or final targets, 预期性/约束性, direction, kind, seed lines), and
optionally the values observed at an evaluation date (``[[observation]]``), pipeline
projects linked to indicators (``[[project]]``), manual overrides (``[[override]]``) and
evaluation settings (``[evaluation]``). Built-in registries live in
``geoplan/indicators/registries/``; users pass their own file path.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from geoplan.errors import RuleError

REGISTRY_DIR = Path(__file__).resolve().parent / "registries"

COMPLETED = "已经完成"
ON_TRACK = "达到预期或预期可以完成"
BEHIND = "未达到预期"
DISCONTINUED = "不再统计"
NOT_EVALUABLE = "无法评估"
BUCKETS = (COMPLETED, ON_TRACK, BEHIND, DISCONTINUED, NOT_EVALUABLE)

DIRECTIONS = ("increase", "decrease", "hold_100", "ceiling")
KINDS = ("stock", "rate", "cumulative")
ATTRIBUTES = ("预期性", "约束性", "")
PROJECT_STATUSES = (
    "planned",
    "building",
    "completed",
    "blocked_land",
    "blocked_eia",
    "blocked_other",
)
PROJECT_STATUS_ZH = {
    "planned": "计划",
    "building": "在建",
    "completed": "已建成",
    "blocked_land": "受阻(用地)",
    "blocked_eia": "受阻(环评)",
    "blocked_other": "受阻",
}


@dataclass(frozen=True)
class Indicator:
    """One row of a plan's indicator table."""

    no: str
    id: str
    name_zh: str
    unit: str
    base: float | None
    targets: dict[int, float]
    attribute: str
    direction: str
    kind: str
    lines: tuple[int, ...] = ()
    unit_note: str = ""
    base_note: str = ""
    note: str = ""
    measure: str = ""
    continues: str = ""

    @property
    def final_target(self) -> float:
        """Target of the last year that has one."""
        return self.targets[max(self.targets)]


@dataclass(frozen=True)
class Observation:
    """The value of one indicator at a date, or the fact that it is no longer collected."""

    indicator: str
    value: float | None
    as_of: date
    source: str = ""
    discontinued: str = ""


@dataclass(frozen=True)
class ProjectLink:
    """How much one project adds to one indicator when finished (``None`` = not stated)."""

    indicator: str
    adds: float | None


@dataclass(frozen=True)
class Project:
    """A pipeline project (planned / building / blocked) linked to indicators."""

    id: str
    name: str
    status: str
    links: tuple[ProjectLink, ...]
    source: str = ""


@dataclass(frozen=True)
class Override:
    """A reviewer's manual classification of one indicator, with its reason."""

    indicator: str
    bucket: str
    reason: str


@dataclass(frozen=True)
class Registry:
    """A plan's indicator table with its period and optional evaluation inputs."""

    id: str
    title: str
    document: str
    source_file: str
    base_date: date
    target_date: date
    indicators: tuple[Indicator, ...]
    observations: tuple[Observation, ...] = ()
    projects: tuple[Project, ...] = ()
    overrides: tuple[Override, ...] = ()
    evaluation: dict[str, Any] = field(default_factory=dict)
    file: str = ""

    def indicator(self, indicator_id: str) -> Indicator:
        """Return the indicator with ``indicator_id``; raise RuleError when absent."""
        for ind in self.indicators:
            if ind.id == indicator_id:
                return ind
        msg = f"registry {self.id!r} has no indicator {indicator_id!r}"
        raise RuleError(msg)


def list_registries() -> list[str]:
    """Names of the built-in registries."""
    return sorted(p.stem for p in REGISTRY_DIR.glob("*.toml"))


def load_registry(name_or_path: str | Path) -> Registry:
    """Load an indicator registry by built-in name or from a TOML file.

    Parameters
    ----------
    name_or_path
        ``"jinjiang_14th"``, ``"jinjiang_13th"``, ``"nanan_14th"``, ``"nanan_13th"``,
        ``"xiamen_13th"``, or a path.

    Returns
    -------
    Registry

    Raises
    ------
    RuleError
        Unknown registry, invalid TOML, a plan without base/target year, an indicator
        with an unknown direction, kind or attribute, without targets, or with targets
        that contradict its direction (increase to below the base, hold_100 ≠ 100), a
        project with an unknown status or linked to an unknown indicator, an override
        without a reason. Messages name the file and the indicator.
    """
    path = Path(name_or_path)
    if not (path.suffix == ".toml" or path.exists()):
        path = REGISTRY_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            builtin = ", ".join(list_registries())
            msg = f"unknown indicator registry {str(name_or_path)!r}; built-in: {builtin}"
            raise RuleError(msg)
    if not path.is_file():
        msg = f"indicator registry file not found: {path}"
        raise RuleError(msg)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path}: not valid TOML: {exc}"
        raise RuleError(msg) from exc
    return _parse_registry(data, path)


def _err(path: Path, what: str, problem: str) -> RuleError:
    return RuleError(f"{path.name}: {what}: {problem}")


def _opt_number(value: Any, path: Path, what: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _err(path, what, f"expected a number, got {value!r}")
    return None if math.isnan(value) else float(value)


def _plan_year(plan: dict[str, Any], key: str, path: Path) -> int:
    value = plan.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _err(path, "[plan]", f"{key} must be a year such as 2020, got {value!r}")
    return value


def _target_year(key: Any, path: Path, what: str) -> int:
    try:
        return int(str(key).strip())
    except ValueError:
        raise _err(path, what, f"target year must be a number such as 2025, got {key!r}") from None


def _check_direction(ind: Indicator, path: Path) -> None:
    """Targets must agree with the direction (a typo in either would invert the judgement)."""
    what = f"indicator {ind.id!r}"
    final = ind.final_target
    if ind.direction == "hold_100" and any(abs(v - 100.0) > 1e-9 for v in ind.targets.values()):
        raise _err(path, what, f"direction hold_100 needs every target = 100, got {ind.targets}")
    if ind.base is None or ind.kind == "cumulative":
        return
    if ind.direction == "increase" and final < ind.base:
        raise _err(
            path,
            what,
            f"direction increase but the final target {final:g} is below the base "
            f"{ind.base:g}; use decrease or ceiling",
        )
    if ind.direction == "decrease" and final > ind.base:
        raise _err(
            path,
            what,
            f"direction decrease but the final target {final:g} is above the base "
            f"{ind.base:g}; use increase",
        )


def _parse_registry(data: dict[str, Any], path: Path) -> Registry:
    plan = data.get("plan")
    if not isinstance(plan, dict) or not plan.get("id"):
        raise _err(path, "[plan]", "missing [plan] table with an 'id'")
    base_year = _plan_year(plan, "base_year", path)
    target_year = _plan_year(plan, "target_year", path)
    if target_year <= base_year:
        raise _err(path, "[plan]", f"target_year {target_year} must be after base_year {base_year}")
    base_date = date(base_year, 12, 31)
    target_date = date(target_year, 12, 31)
    indicators = tuple(_parse_indicator(raw, path) for raw in data.get("indicator", []))
    for ind in indicators:
        outside = [y for y in ind.targets if not base_year < y <= target_year]
        if outside:
            raise _err(
                path,
                f"indicator {ind.id!r}",
                f"target year(s) {outside} outside the plan period {base_year + 1}–{target_year}",
            )
    if not indicators:
        raise _err(path, "[[indicator]]", "no indicators")
    ids = [i.id for i in indicators]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise _err(path, "[[indicator]]", f"duplicate ids {dupes}")
    known = set(ids)
    default_as_of = plan.get("observed_as_of")
    observations = tuple(
        _parse_observation(raw, path, known, default_as_of) for raw in data.get("observation", [])
    )
    projects = tuple(_parse_project(raw, path, known) for raw in data.get("project", []))
    overrides = tuple(
        parse_override(raw, known, where=path.name) for raw in data.get("override", [])
    )
    return Registry(
        id=str(plan["id"]),
        title=str(plan.get("title", plan["id"])),
        document=str(plan.get("document", "")),
        source_file=str(plan.get("source_file", "")),
        base_date=base_date,
        target_date=target_date,
        indicators=indicators,
        observations=observations,
        projects=projects,
        overrides=overrides,
        evaluation=dict(data.get("evaluation", {})),
        file=str(path),
    )


def _parse_indicator(raw: dict[str, Any], path: Path) -> Indicator:
    iid = str(raw.get("id") or raw.get("no") or "<no id>")
    what = f"indicator {iid!r}"
    if not raw.get("id"):
        raise _err(path, what, "missing 'id'")
    if raw.get("direction") not in DIRECTIONS:
        raise _err(
            path, what, f"unknown direction {raw.get('direction')!r}; expected one of {DIRECTIONS}"
        )
    if raw.get("kind") not in KINDS:
        raise _err(path, what, f"unknown kind {raw.get('kind')!r}; expected one of {KINDS}")
    attribute = str(raw.get("attribute", ""))
    if attribute not in ATTRIBUTES:
        raise _err(path, what, f"unknown attribute {attribute!r}; expected 预期性 or 约束性")
    if "unit" not in raw:
        raise _err(
            path,
            what,
            "missing 'unit' (write unit = \"\" with unit_note when the source gives none)",
        )
    raw_targets = raw.get("targets", {})
    if not isinstance(raw_targets, dict):
        raise _err(path, what, "targets must be a table such as { 2025 = 100 }")
    targets = {
        _target_year(y, path, what): _opt_number(v, path, f"{what} target {y}")
        for y, v in raw_targets.items()
    }
    targets = {y: v for y, v in targets.items() if v is not None}
    if not targets:
        raise _err(path, what, "no targets")
    lines = raw.get("lines", ())
    ind = Indicator(
        no=str(raw.get("no", "")),
        id=str(raw["id"]),
        name_zh=str(raw.get("name_zh", "")),
        unit=str(raw["unit"]),
        base=_opt_number(raw.get("base"), path, f"{what} base"),
        targets=targets,
        attribute=attribute,
        direction=str(raw["direction"]),
        kind=str(raw["kind"]),
        lines=(lines,) if isinstance(lines, int) else tuple(lines),
        unit_note=str(raw.get("unit_note", "")),
        base_note=str(raw.get("base_note", "")),
        note=str(raw.get("note", "")),
        measure=str(raw.get("measure", "")),
        continues=str(raw.get("continues", "")),
    )
    _check_direction(ind, path)
    return ind


def _parse_observation(
    raw: dict[str, Any], path: Path, known: set[str], default_as_of: Any
) -> Observation:
    iid = str(raw.get("indicator", ""))
    if iid not in known:
        raise _err(path, f"observation for {iid!r}", "unknown indicator")
    as_of = raw.get("as_of", default_as_of)
    if not isinstance(as_of, date):
        raise _err(
            path, f"observation for {iid!r}", "needs a date 'as_of' (or plan.observed_as_of)"
        )
    return Observation(
        indicator=iid,
        value=_opt_number(raw.get("value"), path, f"observation for {iid!r}"),
        as_of=as_of,
        source=str(raw.get("source", "")),
        discontinued=str(raw.get("discontinued", "")),
    )


def _parse_project(raw: dict[str, Any], path: Path, known: set[str]) -> Project:
    pid = str(raw.get("id", "<no id>"))
    if raw.get("status") not in PROJECT_STATUSES:
        raise _err(
            path,
            f"project {pid!r}",
            f"unknown status {raw.get('status')!r}; expected {PROJECT_STATUSES}",
        )
    links = []
    for link in raw.get("links", []):
        if link.get("indicator") not in known:
            raise _err(
                path, f"project {pid!r}", f"linked to unknown indicator {link.get('indicator')!r}"
            )
        links.append(
            ProjectLink(
                str(link["indicator"]), _opt_number(link.get("adds"), path, f"project {pid!r} adds")
            )
        )
    return Project(
        pid, str(raw.get("name", pid)), str(raw["status"]), tuple(links), str(raw.get("source", ""))
    )


def parse_override(
    raw: dict[str, Any], known: set[str] | None = None, *, where: str = "override"
) -> Override:
    """Validate one override ``{indicator, bucket, reason}``.

    Raises
    ------
    RuleError
        Unknown indicator (when ``known`` is given), unknown bucket, or an empty reason.
    """
    iid = str(raw.get("indicator", ""))
    if known is not None and iid not in known:
        raise RuleError(f"{where}: override for unknown indicator {iid!r}")
    if raw.get("bucket") not in BUCKETS:
        raise RuleError(
            f"{where}: override for {iid!r}: unknown bucket {raw.get('bucket')!r}; "
            f"expected {BUCKETS}"
        )
    if not str(raw.get("reason", "")).strip():
        raise RuleError(
            f"{where}: override for {iid!r} has no reason; every override must record why"
        )
    return Override(iid, str(raw["bucket"]), str(raw["reason"]))
