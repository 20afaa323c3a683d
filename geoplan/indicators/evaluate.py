"""Plan indicator evaluation: score observed values into the official buckets.

Buckets (the wording of mid-term and final evaluation reports): 已经完成 (final target
reached), 达到预期或预期可以完成 (on schedule, or behind schedule but delivered by projects
under construction), 未达到预期, 不再统计 (the statistic is no longer collected), plus
无法评估 when the data cannot support a judgement (no current value, no base).

On-schedule test. The *expected value* at the observation date is interpolated linearly
between the base (at the end of the base year) and the year-end targets; with yearly
targets that is the year's target path, without them it is the linear time share from
base to final target. ``pace_ratio`` = progress made ÷ progress expected (1.0 = exactly on
schedule). An indicator is on schedule when ``pace_ratio >= min_pace_ratio`` (default 1.0,
strict). Cumulative indicators start from zero at the base date.

Pipeline projects. When an indicator is behind, the amounts that linked projects *under
construction* will add are counted (``committed`` value); if that is on schedule the
indicator is 达到预期或预期可以完成 with a note naming the projects. Planned projects do not
count; blocked projects (land, EIA) are named in the note and never count, so "0 %
progress but under construction" and "0 % progress, site lost" come apart.
Manual overrides come last and keep both the automatic bucket and the reason.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime

import numpy as np
import pandas as pd

from geoplan.errors import RuleError
from geoplan.indicators.registry import (
    BEHIND,
    BUCKETS,
    COMPLETED,
    DISCONTINUED,
    NOT_EVALUABLE,
    ON_TRACK,
    PROJECT_STATUS_ZH,
    Indicator,
    Observation,
    Override,
    Project,
    Registry,
    list_registries,
    load_registry,
    parse_override,
)

logger = logging.getLogger(__name__)

__all__ = [
    "BEHIND",
    "BUCKETS",
    "COMPLETED",
    "DISCONTINUED",
    "EVALUATION_COLUMNS",
    "NOT_EVALUABLE",
    "ON_TRACK",
    "bucket_counts",
    "evaluate_indicators",
    "expected_value",
    "list_registries",
    "load_registry",
    "time_share",
]

EVALUATION_COLUMNS = [
    "no",
    "id",
    "name_zh",
    "unit",
    "base",
    "target",
    "expected_now",
    "current",
    "as_of",
    "attribute",
    "direction",
    "kind",
    "progress_share",
    "time_share",
    "pace_ratio",
    "auto_bucket",
    "bucket",
    "binding_miss",
    "pipeline_note",
    "override_reason",
    "reason",
    "lines",
]
_EPS = 1e-9


def time_share(base_date: date, target_date: date, as_of: date) -> float:
    """Share of the plan period elapsed at ``as_of`` (0 at the base date, 1 at the target date)."""
    return (as_of - base_date).days / (target_date - base_date).days


def _start(ind: Indicator) -> float | None:
    return 0.0 if ind.kind == "cumulative" else ind.base


def _knots(ind: Indicator, base_date: date) -> list[tuple[date, float]]:
    knots = [(date(y, 12, 31), v) for y, v in sorted(ind.targets.items())]
    start = _start(ind)
    if start is not None:
        knots.insert(0, (base_date, start))
    return knots


def expected_value(ind: Indicator, base_date: date, as_of: date) -> float | None:
    """Value the indicator should have at ``as_of`` on its target path (``None`` if undefined).

    Linear between the base (end of base year) and the year-end targets. Before the
    first known point: that point's value when it is a yearly target of the same year,
    otherwise undefined (no base and no yearly breakdown). After the last: the final target.
    """
    knots = _knots(ind, base_date)
    if as_of <= knots[0][0]:
        first_date, first_value = knots[0]
        if _start(ind) is None and first_date.year > as_of.year:
            return None
        return first_value
    for (d0, v0), (d1, v1) in itertools.pairwise(knots):
        if d0 <= as_of <= d1:
            return v0 + (v1 - v0) * (as_of - d0).days / (d1 - d0).days
    return knots[-1][1]


def _sign(ind: Indicator) -> float:
    return -1.0 if ind.direction == "decrease" else 1.0


def _reached(ind: Indicator, value: float, goal: float) -> bool:
    if ind.direction in ("decrease", "ceiling"):
        return value <= goal + _EPS
    return value >= goal - _EPS


def _pace(ind: Indicator, value: float, expected: float) -> tuple[float, float]:
    """(progress share of the whole change, pace ratio against the expected progress)."""
    start = _start(ind)
    span = (ind.final_target - start) * _sign(ind)
    done = (value - start) * _sign(ind)
    due = (expected - start) * _sign(ind)
    progress = done / span if abs(span) > _EPS else np.nan
    if due <= _EPS:
        return progress, (np.inf if done > _EPS else 1.0 if done >= -_EPS else 0.0)
    return progress, done / due


def _schedule(ind: Indicator, value: float, expected: float | None, min_pace: float):
    """Bucket (on track / behind / not evaluable), progress share, pace ratio, reason."""
    if ind.direction == "hold_100":  # every year's target is 100, with or without a base
        return BEHIND, np.nan, np.nan, "应保持 100,当前未达到"
    if expected is None:
        return NOT_EVALUABLE, np.nan, np.nan, "基期值缺失且无年度目标,无法按时间进度评估"
    if ind.direction == "ceiling":
        ok = _reached(ind, value, expected)
        return (ON_TRACK if ok else BEHIND), np.nan, np.nan, "" if ok else "超过当年控制值"
    if _start(ind) is None:
        ok = _reached(ind, value, expected)
        return (ON_TRACK if ok else BEHIND), np.nan, np.nan, "基期缺失,按当年目标值直接比较"
    progress, pace = _pace(ind, value, expected)
    return (ON_TRACK if pace >= min_pace - _EPS else BEHIND), progress, pace, ""


def _pipeline(ind, value, expected, min_pace, projects: list[tuple[Project, float | None]]):
    """Bucket after counting projects under construction, and a note naming every project."""
    notes, adds, unknown = [], 0.0, []
    for proj, amount in projects:
        adds_text = "" if amount is None else f", +{amount:g}"
        label = f"{proj.name}({PROJECT_STATUS_ZH[proj.status]}{adds_text}"
        label += f", {proj.source})" if proj.source else ")"
        notes.append(label)
        if proj.status == "building":
            if amount is None:
                unknown.append(proj.name)
            else:
                adds += amount
    bucket = BEHIND
    if adds > 0:
        committed = value + _sign(ind) * adds
        if _reached(ind, committed, ind.final_target) or (
            _schedule(ind, committed, expected, min_pace)[0] == ON_TRACK
        ):
            bucket = ON_TRACK
    note = "关联项目: " + "; ".join(notes)
    if unknown:
        note += f"; 在建项目规模未注明,未计入: {'、'.join(unknown)}"
    return bucket, note


def _classify(ind, obs, reg, min_pace, projects) -> dict[str, object]:
    out: dict[str, object] = {"pipeline_note": "", "reason": ""}
    if obs is None:
        return out | {"auto_bucket": NOT_EVALUABLE, "reason": "无当前值"}
    if obs.discontinued:
        return out | {"auto_bucket": DISCONTINUED, "reason": obs.discontinued}
    if obs.value is None:
        return out | {"auto_bucket": NOT_EVALUABLE, "reason": "当前值缺失"}
    value = obs.value
    expected = expected_value(ind, reg.base_date, obs.as_of)
    out["expected_now"] = expected
    if _reached(ind, value, 100.0 if ind.direction == "hold_100" else ind.final_target):
        progress = (
            _pace(ind, value, ind.final_target)[0]
            if _start(ind) is not None and ind.direction in ("increase", "decrease")
            else np.nan
        )
        return out | {"auto_bucket": COMPLETED, "progress_share": progress}
    bucket, progress, pace, reason = _schedule(ind, value, expected, min_pace)
    out |= {"auto_bucket": bucket, "progress_share": progress, "pace_ratio": pace, "reason": reason}
    if projects:
        if bucket == BEHIND:
            out["auto_bucket"], out["pipeline_note"] = _pipeline(
                ind, value, expected, min_pace, projects
            )
        else:
            out["pipeline_note"] = _pipeline(ind, value, expected, min_pace, projects)[1]
    return out


_BLANKS = ("", "-", "--", "—", "——", "/", "无")


def _as_date(value: object, what: str = "as_of") -> date:
    """Return a date from a date, datetime, pandas Timestamp or ISO text (``2023-12-31``)."""
    if isinstance(value, datetime):  # also pandas.Timestamp
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    msg = f"{what} must be a date such as 2023-12-31, got {value!r}"
    raise RuleError(msg)


def _plain_value(key: str, item: object) -> float | None:
    """Return an observed value as a float; ``None`` for blanks (None, NaN, pd.NA, "--")."""
    if isinstance(item, str):
        text = item.strip().replace(",", "")
        if text in _BLANKS:
            return None
        item = text
    elif item is None or (np.ndim(item) == 0 and pd.isna(item)):
        return None
    if isinstance(item, bool):
        msg = f"observed value for {key!r} must be a number, got {item!r}"
        raise RuleError(msg)
    try:
        value = float(item)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        msg = f"observed value for {key!r} must be a number, got {item!r}"
        raise RuleError(msg) from None
    return None if np.isnan(value) else value


def _as_observations(observations, reg: Registry, as_of: date | None) -> dict[str, Observation]:
    if observations is None:
        return {o.indicator: o for o in reg.observations}
    out = {}
    for key, item in observations.items():
        if isinstance(item, Observation):
            value = None if item.value is None else _plain_value(key, item.value)
            out[key] = replace(item, value=value, as_of=_as_date(item.as_of))
        else:
            if as_of is None:
                msg = "plain observed values need an as_of date"
                raise RuleError(msg)
            out[key] = Observation(key, _plain_value(key, item), _as_date(as_of))
    unknown = set(out) - {i.id for i in reg.indicators}
    if unknown:
        msg = f"observations for indicators not in registry {reg.id!r}: {sorted(unknown)}"
        raise RuleError(msg)
    return out


def evaluate_indicators(
    registry: Registry,
    observations: Mapping[str, Observation | float | None] | None = None,
    *,
    as_of: date | None = None,
    projects: Iterable[Project] | None = None,
    overrides: Iterable[Override | Mapping[str, str]] | None = None,
    min_pace_ratio: float | None = None,
) -> pd.DataFrame:
    """Score every indicator of ``registry`` into the official buckets.

    Parameters
    ----------
    registry
        From :func:`load_registry`.
    observations
        Indicator id → :class:`Observation` or plain value (then ``as_of`` is needed).
        ``None`` uses the observations stored in the registry file.
    as_of
        Date of plain values (a date, datetime, pandas Timestamp or ISO text). Plain
        values may be numbers, numeric text, or blanks (None, NaN, ``"--"``) that
        count as missing.
    projects
        Pipeline projects; ``None`` uses the registry's.
    overrides
        Manual classifications ``{indicator, bucket, reason}``; ``None`` uses the
        registry's. Each needs a reason.
    min_pace_ratio
        Share of the scheduled progress that counts as on schedule. ``None`` uses
        ``[evaluation] min_pace_ratio`` of the registry file, else 1.0.

    Returns
    -------
    pandas.DataFrame
        One row per indicator, columns :data:`EVALUATION_COLUMNS`; ``bucket`` is the
        final classification, ``auto_bucket`` the one before overrides,
        ``binding_miss`` flags 约束性 indicators that are 未达到预期.

    Raises
    ------
    RuleError
        Observations for unknown indicators, plain values without ``as_of``, a value
        that is not a number, a date that is not a date, or invalid overrides.
    """
    min_pace = float(
        min_pace_ratio
        if min_pace_ratio is not None
        else registry.evaluation.get("min_pace_ratio", 1.0)
    )
    obs = _as_observations(observations, registry, as_of)
    projs = list(registry.projects if projects is None else projects)
    known = {i.id for i in registry.indicators}
    raw_over = list(registry.overrides if overrides is None else overrides)
    overs = {
        o.indicator: o
        for o in (
            x if isinstance(x, Override) else parse_override(dict(x), known) for x in raw_over
        )
    }
    rows = []
    for ind in registry.indicators:
        o = obs.get(ind.id)
        linked = [(p, link.adds) for p in projs for link in p.links if link.indicator == ind.id]
        res = _classify(ind, o, registry, min_pace, linked)
        bucket = res["auto_bucket"]
        override = overs.get(ind.id)
        if override is not None:
            bucket = override.bucket
        rows.append(
            {
                "no": ind.no,
                "id": ind.id,
                "name_zh": ind.name_zh,
                "unit": ind.unit,
                "base": ind.base,
                "target": ind.final_target,
                "expected_now": res.get("expected_now", np.nan),
                "current": np.nan if o is None or o.value is None else o.value,
                "as_of": None if o is None else o.as_of,
                "attribute": ind.attribute,
                "direction": ind.direction,
                "kind": ind.kind,
                "progress_share": res.get("progress_share", np.nan),
                "time_share": np.nan
                if o is None
                else time_share(registry.base_date, registry.target_date, o.as_of),
                "pace_ratio": res.get("pace_ratio", np.nan),
                "auto_bucket": res["auto_bucket"],
                "bucket": bucket,
                "binding_miss": ind.attribute == "约束性" and bucket == BEHIND,
                "pipeline_note": res["pipeline_note"],
                "override_reason": "" if override is None else override.reason,
                "reason": res["reason"],
                "lines": ",".join(f"L{n}" for n in ind.lines),
            }
        )
    out = pd.DataFrame(rows, columns=EVALUATION_COLUMNS)
    for col in (
        "base",
        "target",
        "expected_now",
        "current",
        "progress_share",
        "time_share",
        "pace_ratio",
    ):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    logger.info("registry %s: %s", registry.id, bucket_counts(out).to_dict())
    return out


def bucket_counts(evaluation: pd.DataFrame) -> pd.Series:
    """Count indicators per bucket, in the official order (zeros included)."""
    return evaluation["bucket"].value_counts().reindex(list(BUCKETS), fill_value=0)
