"""Planning rules as cited data: load, validate and merge jurisdiction profiles (TOML).

A *profile* is a TOML file with a ``[profile]`` table and a list of ``[[rule]]`` tables.
Every rule carries its number (``threshold`` or ``brackets``), its ``unit``, a
``comparator``, and at least one ``[[rule.source]]`` citation (document, seed file,
line numbers, clause, verbatim quote). A profile may ``extends`` another one; rules with
the same ``id`` replace the parent's, and ``disable = [...]`` drops inherited rules.
A child rule that gives only an ``id`` (no ``family``), its own ``[[rule.source]]`` and
the keys it changes (``threshold``, ``levels`` …) amends the inherited rule of that id.
Optional ``attribute`` (预期性/约束性), ``base`` and ``base_year`` describe the plan
indicator a rule checks (the 指标属性 and 基期值 columns of the workbook).

Built-in profiles live in ``geoplan/standards/profiles/``: ``national`` (the rules the
seed plans share), ``jinjiang``, ``nanan``, ``xiamen``, ``benxi`` and ``taishang``.
Users add their own by passing a path to :func:`load_profile`.
"""

from __future__ import annotations

import logging
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoplan.errors import RuleError

logger = logging.getLogger(__name__)

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"

FAMILIES = (
    "ratio",
    "site_minimum",
    "presence",
    "coverage_share",
    "staffing_brackets",
    "columbarium_years",
)
COMPARATORS = (">=", ">", "<=", "<")
LEVELS = ("county", "town", "village")
QUANTITIES = ("households", "pop", "pop_60plus", "pop_80plus", "pop_registered")
_COUNT_UNITS = ("张", "个", "处", "所", "名", "人", "格位")


@dataclass(frozen=True)
class Source:
    """One citation of a rule: the document and where in it the rule is stated."""

    document: str
    file: str = ""
    lines: tuple[int, ...] = ()
    clause: str = ""
    quote: str = ""
    note: str = ""

    def label(self) -> str:
        """Short citation such as ``"晋江规划 专栏5-1, L835"``."""
        parts = [self.document]
        if self.clause:
            parts.append(self.clause)
        if self.lines:
            parts.append(", ".join(f"L{n}" for n in self.lines))
        return " ".join(parts)


@dataclass(frozen=True)
class Rule:
    """One planning standard, evaluated per admin unit by :mod:`geoplan.standards.evaluate`.

    ``params`` holds the family-specific settings (numerator, denominator, facility
    types, brackets, death rate …) exactly as written in the TOML file.
    """

    id: str
    family: str
    name_zh: str
    unit: str
    comparator: str
    threshold: float | None
    levels: tuple[str, ...]
    sources: tuple[Source, ...]
    thresholds_by_year: dict[int, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    data_quality_note: str = ""
    profile: str = ""
    file: str = ""
    attribute: str = ""
    base: float | None = None
    base_year: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def threshold_for(self, year: int | None) -> tuple[float | None, int | None]:
        """Threshold that applies in ``year`` and the target year it was taken from.

        Yearly thresholds apply from their year on; before the first one the first
        applies, after the last one the last applies. Without yearly thresholds the
        single ``threshold`` applies (target year ``None``).
        """
        if not self.thresholds_by_year or year is None:
            return self.threshold, None
        years = sorted(self.thresholds_by_year)
        chosen = years[0]
        for y in years:
            if y <= year:
                chosen = y
        return self.thresholds_by_year[chosen], chosen

    def citation(self) -> str:
        """All citations joined with ``"; "``."""
        return "; ".join(s.label() for s in self.sources)

    @property
    def counts_whole_units(self) -> bool:
        """Whether shortfalls are whole things (beds, staff, facilities), not m²."""
        return self.params.get("shortfall_unit", self.unit) in _COUNT_UNITS


@dataclass(frozen=True)
class Profile:
    """A named, ordered set of rules for one jurisdiction."""

    name: str
    title: str
    rules: tuple[Rule, ...]
    description: str = ""
    chain: tuple[str, ...] = ()

    def rule(self, rule_id: str) -> Rule:
        """Return the rule with ``rule_id``; raise RuleError when absent."""
        for r in self.rules:
            if r.id == rule_id:
                return r
        msg = f"profile {self.name!r} has no rule {rule_id!r}"
        raise RuleError(msg)


def list_profiles() -> list[str]:
    """Names of the built-in profiles (file stems in ``standards/profiles``)."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def _resolve_profile_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            msg = f"rule profile file not found: {path}"
            raise RuleError(msg)
        return path
    builtin = PROFILE_DIR / f"{name_or_path}.toml"
    if not builtin.is_file():
        msg = (
            f"unknown rule profile {str(name_or_path)!r}; built-in profiles: "
            f"{', '.join(list_profiles())}; or pass the path of a .toml file"
        )
        raise RuleError(msg)
    return builtin


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a jurisdiction profile by built-in name or from a user TOML file.

    Parameters
    ----------
    name_or_path
        ``"national"``, ``"jinjiang"``, ``"nanan"``, ``"xiamen"``, ``"benxi"``,
        ``"taishang"``, or the path of a user profile (which may ``extends`` a
        built-in one by name, or another file by relative path).

    Returns
    -------
    Profile
        The merged rules, parents first, children replacing rules with equal ids.

    Raises
    ------
    RuleError
        Unknown profile, unreadable TOML, a rule without unit, threshold, comparator,
        family or citation, duplicate rule ids, or an inheritance cycle. The message
        names the file and the rule.
    """
    return _load(_resolve_profile_path(name_or_path), ())


def _load(path: Path, seen: tuple[Path, ...]) -> Profile:
    path = path.resolve()
    if path in seen:
        msg = f"{path}: profile inheritance cycle: {' -> '.join(p.name for p in (*seen, path))}"
        raise RuleError(msg)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path}: not valid TOML: {exc}"
        raise RuleError(msg) from exc
    head = data.get("profile")
    if not isinstance(head, dict) or not head.get("name"):
        msg = f"{path}: missing [profile] table with a 'name'"
        raise RuleError(msg)
    name = str(head["name"])
    parent_rules: list[Rule] = []
    chain: tuple[str, ...] = ()
    if head.get("extends"):
        parent_ref = str(head["extends"])
        candidate = path.parent / parent_ref
        parent_path = (
            candidate if candidate.suffix == ".toml" else _resolve_profile_path(parent_ref)
        )
        parent = _load(parent_path, (*seen, path))
        parent_rules = list(parent.rules)
        chain = parent.chain
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        msg = f"{path}: 'rule' must be an array of tables ([[rule]])"
        raise RuleError(msg)
    inherited = {r.id: r for r in parent_rules}
    own = []
    for raw in raw_rules:
        if not isinstance(raw, dict):
            msg = f"{path}: every [[rule]] must be a table, got {raw!r}"
            raise RuleError(msg)
        if "family" not in raw and raw.get("id") in inherited:
            raw = _amend(inherited[raw["id"]], raw, path)
        own.append(_parse_rule(raw, path, name))
    ids = [r.id for r in own]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        msg = f"{path}: duplicate rule id(s) {dupes}"
        raise RuleError(msg)
    disable = head.get("disable", [])
    if isinstance(disable, str):
        disable = [disable]
    if not isinstance(disable, list):
        msg = f"{path}: 'disable' must be a list of rule ids, got {disable!r}"
        raise RuleError(msg)
    disabled = {str(d) for d in disable}
    unknown_disabled = disabled - {r.id for r in parent_rules}
    if unknown_disabled:
        msg = f"{path}: 'disable' names rules that the parent does not have: "
        msg += str(sorted(unknown_disabled))
        raise RuleError(msg)
    merged = {r.id: r for r in parent_rules if r.id not in disabled}
    for r in own:
        merged[r.id] = r
    logger.debug("loaded profile %s with %d rules from %s", name, len(merged), path)
    return Profile(
        name=name,
        title=str(head.get("title", name)),
        description=str(head.get("description", "")),
        rules=tuple(merged.values()),
        chain=(*chain, name),
    )


def _amend(parent: Rule, raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """Inherited rule ``parent`` with the keys of ``raw`` replaced (a partial override)."""
    if not raw.get("source"):
        raise _fail(
            path,
            parent.id,
            "amends the inherited rule but gives no [[rule.source]] for the new values",
        )
    merged = {**parent.raw, **raw}
    if "threshold" in raw and "thresholds_by_year" not in raw:
        merged.pop("thresholds_by_year", None)
    if "thresholds_by_year" in raw and "threshold" not in raw:
        merged.pop("threshold", None)
    if "data_quality_note" not in raw:
        merged.pop("data_quality_note", None)
    return merged


def _fail(path: Path, rule_id: str, problem: str) -> RuleError:
    return RuleError(f"{path.name}: rule {rule_id!r}: {problem}")


def _parse_sources(raw: dict[str, Any], path: Path, rid: str) -> tuple[Source, ...]:
    items = raw.get("source")
    if isinstance(items, dict):
        items = [items]
    if not items:
        raise _fail(path, rid, "no [[rule.source]] citation (document and line or clause)")
    out = []
    for item in items:
        if not item.get("document"):
            raise _fail(path, rid, "a source has no 'document'")
        lines = item.get("lines", item.get("line", ()))
        lines = (lines,) if isinstance(lines, int) else lines
        if not isinstance(lines, list | tuple) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in lines
        ):
            raise _fail(path, rid, f"source 'lines' must be line numbers, got {lines!r}")
        lines = tuple(lines)
        if not (lines or item.get("clause") or item.get("note")):
            raise _fail(path, rid, f"source {item['document']!r} gives no line, clause or note")
        out.append(
            Source(
                document=str(item["document"]),
                file=str(item.get("file", "")),
                lines=lines,
                clause=str(item.get("clause", "")),
                quote=str(item.get("quote", "")),
                note=str(item.get("note", "")),
            )
        )
    return tuple(out)


def _number(value: Any, path: Path, rid: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise _fail(path, rid, f"{what} must be a number, got {value!r}")
    return float(value)


_FAMILY_KEYS: dict[str, tuple[str, ...]] = {
    "ratio": ("numerator", "denominator", "per"),
    "site_minimum": ("facility_types", "column"),
    "presence": ("facility_types",),
    "coverage_share": ("facility_types",),
    "staffing_brackets": ("brackets", "role", "denominator"),
    "columbarium_years": ("death_rate_per_1000",),
}


def _parse_rule(raw: dict[str, Any], path: Path, profile: str) -> Rule:
    rid = str(raw.get("id") or "<no id>")
    if rid == "<no id>":
        raise _fail(path, rid, "missing 'id'")
    family = raw.get("family")
    if family is None:
        raise _fail(path, rid, f"missing 'family' (one of {FAMILIES})")
    if family not in FAMILIES:
        raise _fail(path, rid, f"unknown family {family!r}; expected one of {FAMILIES}")
    if not raw.get("unit"):
        raise _fail(path, rid, "missing 'unit'")
    if not raw.get("name_zh"):
        raise _fail(path, rid, "missing 'name_zh'")
    comparator = raw.get("comparator", ">=")
    if comparator not in COMPARATORS:
        raise _fail(path, rid, f"unknown comparator {comparator!r}; expected one of {COMPARATORS}")
    by_year_raw = raw.get("thresholds_by_year", {})
    if not isinstance(by_year_raw, dict):
        raise _fail(path, rid, "thresholds_by_year must be a table such as { 2025 = 40 }")
    by_year = {
        _year_key(y, path, rid): _number(v, path, rid, f"threshold for {y}")
        for y, v in by_year_raw.items()
    }
    if family == "staffing_brackets":
        threshold = None
    elif "threshold" in raw:
        threshold = _number(raw["threshold"], path, rid, "threshold")
    elif by_year:
        threshold = by_year[max(by_year)]
    else:
        raise _fail(path, rid, "missing 'threshold'")
    levels = raw.get("levels", [raw.get("level", "town")])
    levels = (levels,) if isinstance(levels, str) else levels
    if not isinstance(levels, list | tuple):
        raise _fail(path, rid, f"levels must be a list such as ['town'], got {levels!r}")
    levels = tuple(levels)
    bad = [lv for lv in levels if lv not in LEVELS]
    if bad or not levels:
        raise _fail(path, rid, f"unknown level(s) {bad}; expected {LEVELS}")
    params = {k: v for k, v in raw.items() if k not in _RULE_KEYS}
    missing = [k for k in _FAMILY_KEYS[family] if k not in params]
    if missing:
        raise _fail(path, rid, f"family {family!r} needs {missing}")
    _check_params(family, params, path, rid)
    attribute = str(raw.get("attribute", ""))
    if attribute not in ("预期性", "约束性", ""):
        raise _fail(path, rid, f"attribute must be 预期性 or 约束性, got {attribute!r}")
    base = raw.get("base")
    base = None if base is None else _number(base, path, rid, "base")
    base_year = raw.get("base_year")
    base_year = None if base_year is None else _year_key(base_year, path, rid)
    return Rule(
        id=rid,
        family=family,
        name_zh=str(raw["name_zh"]),
        unit=str(raw["unit"]),
        comparator=comparator,
        threshold=threshold,
        thresholds_by_year=by_year,
        levels=levels,
        sources=_parse_sources(raw, path, rid),
        params=params,
        note=str(raw.get("note", "")),
        data_quality_note=str(raw.get("data_quality_note", "")),
        profile=profile,
        file=str(path),
        attribute=attribute,
        base=base,
        base_year=base_year,
        raw=dict(raw),
    )


_RULE_KEYS = {
    "id",
    "family",
    "name_zh",
    "unit",
    "comparator",
    "threshold",
    "thresholds_by_year",
    "levels",
    "level",
    "source",
    "note",
    "data_quality_note",
    "attribute",
    "base",
    "base_year",
}


def _year_key(value: Any, path: Path, rid: str) -> int:
    try:
        year = int(str(value).strip())
    except ValueError:
        raise _fail(path, rid, f"year must be a number such as 2025, got {value!r}") from None
    if not 1900 <= year <= 2200:
        raise _fail(path, rid, f"implausible year {year}")
    return year


def _type_list(params: dict[str, Any], key: str, path: Path, rid: str) -> None:
    """Normalise ``params[key]`` (a type or status list) in place; a lone string is one item."""
    value = params.get(key)
    if value is None:
        return
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _fail(path, rid, f"{key} must be a non-empty list of names, got {value!r}")
    params[key] = value


def _check_params(family: str, params: dict[str, Any], path: Path, rid: str) -> None:
    _type_list(params, "facility_types", path, rid)
    _type_list(params, "statuses", path, rid)
    filt = params.get("unit_filter")
    if filt is not None and (
        not isinstance(filt, dict)
        or not filt.get("column")
        or ("equals" not in filt and not isinstance(filt.get("in"), list))
    ):
        raise _fail(
            path, rid, f"unit_filter needs 'column' and 'equals' (or a list 'in'), got {filt!r}"
        )
    if family == "coverage_share" and params.get("of_level", "village") not in LEVELS[1:]:
        raise _fail(path, rid, f"of_level must be 'town' or 'village', got {params['of_level']!r}")
    if family == "ratio":
        for side in ("numerator", "denominator"):
            spec = params[side]
            if not isinstance(spec, dict) or spec.get("source") not in (
                "facilities",
                "staff",
                "quantity",
            ):
                raise _fail(path, rid, f"{side} needs source = 'facilities', 'staff' or 'quantity'")
            if spec["source"] == "quantity" and spec.get("name") not in QUANTITIES:
                raise _fail(path, rid, f"{side} quantity must be one of {QUANTITIES}")
            if spec["source"] == "facilities" and not (spec.get("column") and spec.get("types")):
                raise _fail(path, rid, f"{side} from facilities needs 'column' and 'types'")
            if spec["source"] == "facilities":
                _type_list(spec, "types", path, rid)
                _type_list(spec, "statuses", path, rid)
            if spec["source"] == "staff" and not spec.get("role"):
                raise _fail(path, rid, f"{side} from staff needs 'role'")
        if _number(params["per"], path, rid, "per") <= 0:
            raise _fail(path, rid, f"per must be > 0, got {params['per']!r}")
    if family == "staffing_brackets":
        brackets = params["brackets"]
        if not brackets or any("below" not in b or "staff" not in b for b in brackets):
            raise _fail(path, rid, "brackets need 'below' (persons) and 'staff' in every entry")
        for b in brackets:
            _number(b["below"], path, rid, "bracket 'below'")
            staff = b["staff"]
            if isinstance(staff, bool) or not isinstance(staff, int) or staff < 0:
                raise _fail(path, rid, f"bracket 'staff' must be a whole number ≥ 0, got {staff!r}")
        uppers = [float(b["below"]) for b in brackets]
        if uppers != sorted(uppers) or not math.isinf(uppers[-1]):
            raise _fail(path, rid, "bracket 'below' values must rise and end with inf")
        if params["denominator"] not in QUANTITIES:
            raise _fail(path, rid, f"denominator must be one of {QUANTITIES}")
    if family == "columbarium_years":
        if _number(params["death_rate_per_1000"], path, rid, "death_rate_per_1000") < 0:
            raise _fail(path, rid, "death_rate_per_1000 must be ≥ 0")
        share = _number(params.get("storage_share", 1.0), path, rid, "storage_share")
        if not 0 <= share <= 1:
            raise _fail(path, rid, f"storage_share must be between 0 and 1, got {share:g}")
