"""Data-quality checks on plan figures: sums, shares, implied denominators, table vs text.

Plans contradict themselves (a component list that does not add up to its total, a share
that does not match its own counts, two ratios that imply different populations, a
baseline in one table that is not the result in the other). These checks surface such
contradictions as :class:`Finding` rows instead of silently picking one value. Each check
returns a Finding, or ``None`` when the figures agree; :func:`findings_table` stacks them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from geoplan.indicators.registry import Registry

FINDING_COLUMNS = ["check", "subject", "message", "values", "sources"]


@dataclass(frozen=True)
class Finding:
    """One data-quality warning: which check, about what, and the figures involved."""

    check: str
    subject: str
    message: str
    values: str
    sources: str


def decimals_of(value: float | str) -> int:
    """Count the decimals as written (``34.26`` → 2, ``38`` → 0); pass strings to keep ``38.0``."""
    text = value if isinstance(value, str) else repr(float(value)).rstrip("0").rstrip(".")
    return len(text.split(".")[1]) if "." in text else 0


def check_component_sum(
    subject: str,
    total: float,
    components: Mapping[str, float],
    *,
    source: str,
    tolerance: float = 0.0,
) -> Finding | None:
    """Whether the stated ``total`` equals the sum of its ``components``."""
    computed = float(sum(components.values()))
    if abs(computed - total) <= tolerance:
        return None
    parts = " + ".join(f"{k} {v:g}" for k, v in components.items())
    return Finding(
        "component_sum",
        subject,
        f"分项之和 {computed:g} ≠ 合计 {total:g} (差 {computed - total:+g})",
        f"{parts} = {computed:g}; 合计 {total:g}",
        source,
    )


def check_stated_change(
    subject: str,
    stated_change: float,
    before: float,
    after: float,
    *,
    source: str,
    tolerance: float = 0.0,
) -> Finding | None:
    """Whether a stated increase equals ``after − before``."""
    delta = after - before
    if abs(delta - stated_change) <= tolerance:
        return None
    return Finding(
        "stated_change",
        subject,
        f"所述增量 {stated_change:g} ≠ 前后差 {delta:g}",
        f"{after:g} − {before:g} = {delta:g}; 所述 {stated_change:g}",
        source,
    )


def check_stated_share(
    subject: str,
    part: float,
    total: float,
    stated_pct: float,
    *,
    source: str,
    decimals: int | None = None,
) -> Finding | None:
    """Check that ``part / total`` rounds to the stated percentage (± half its last decimal)."""
    d = decimals_of(stated_pct) if decimals is None else decimals
    computed = 100.0 * part / total
    if abs(computed - stated_pct) <= 0.5 * 10**-d + 1e-12:
        return None
    implied_total = part / stated_pct * 100.0
    return Finding(
        "stated_share",
        subject,
        f"{part:g}/{total:g} = {computed:.2f}%,与所述 {stated_pct:g}% 不符"
        f" (所述比例隐含合计约 {implied_total:,.0f})",
        f"{part:g} ÷ {total:g} = {computed:.2f}%; 所述 {stated_pct:g}%",
        source,
    )


def implied_denominator(
    numerator: float, ratio: float, per: float, *, decimals: int | None = None
) -> tuple[float, float, float]:
    """Denominator implied by ``numerator`` and a rounded ``ratio`` per ``per``: (low, mid, high).

    The ratio is taken to be rounded to its last stated decimal, so 38 per 1,000 means
    anything in [37.5, 38.5); the interval is what the rounding allows.
    """
    d = decimals_of(ratio) if decimals is None else decimals
    half = 0.5 * 10**-d
    return (
        numerator * per / (ratio + half),
        numerator * per / ratio,
        numerator * per / (ratio - half),
    )


def scale_interval(
    interval: tuple[float, float, float], share_pct: float, *, decimals: int | None = None
) -> tuple[float, float, float]:
    """Divide an interval by a rounded percentage share (e.g. 60+ people ÷ 14.26 % → total)."""
    d = decimals_of(share_pct) if decimals is None else decimals
    half = 0.5 * 10**-d
    low, mid, high = interval
    return (low * 100 / (share_pct + half), mid * 100 / share_pct, high * 100 / (share_pct - half))


def check_same_denominator(
    subject: str, estimates: Mapping[str, tuple[float, float, float]], *, source: str
) -> Finding | None:
    """Whether estimates of the *same* population (same date) overlap within their rounding."""
    lows = max(v[0] for v in estimates.values())
    highs = min(v[2] for v in estimates.values())
    if lows <= highs:
        return None
    vals = "; ".join(f"{k}: {v[1]:,.0f} ({v[0]:,.0f}–{v[2]:,.0f})" for k, v in estimates.items())
    return Finding(
        "implied_denominator",
        subject,
        "同一分母的几种推算互不重叠,分母口径可能不一致",
        vals,
        source,
    )


def check_denominator_growth(
    subject: str,
    estimates: Sequence[tuple[float, str, float]],
    *,
    source: str,
    max_annual_growth: float = 0.10,
) -> Finding | None:
    """Check whether implied denominators grow by more than ``max_annual_growth`` a year.

    ``estimates`` are ``(year as a decimal, label, implied value)`` in time order.
    """
    worst = None
    for (y0, l0, v0), (y1, l1, v1) in itertools.pairwise(estimates):
        rate = (v1 / v0) ** (1.0 / (y1 - y0)) - 1.0
        if abs(rate) > max_annual_growth and (worst is None or abs(rate) > abs(worst[0])):
            worst = (rate, l0, v0, l1, v1)
    if worst is None:
        return None
    rate, l0, v0, l1, v1 = worst
    vals = "; ".join(f"{lab}: {v:,.0f}" for _, lab, v in estimates)
    return Finding(
        "denominator_growth",
        subject,
        f"隐含分母从 {l0} 的 {v0:,.0f} 到 {l1} 的 {v1:,.0f},"
        f"年均变化 {rate:+.1%},超过 ±{max_annual_growth:.0%}",
        vals,
        source,
    )


def check_values_agree(
    subject: str, values: Mapping[str, float | None], *, tolerance: float | None = None
) -> Finding | None:
    """Whether the same figure, stated in several places (table, text), agrees.

    Missing values (``None``, the source's “--”) count as a disagreement. By default,
    values stated to the same precision must be equal (100 vs 99 disagree); a less
    precise value may be a rounded or truncated copy of a more precise one, so it may
    differ by one unit in its last decimal (34.26 vs 34.2 agree).
    """
    present = {
        k: v
        for k, v in values.items()
        if v is not None and not (isinstance(v, float) and math.isnan(v))
    }
    vals = "; ".join(
        f"{k}: {'--' if v is None or (isinstance(v, float) and math.isnan(v)) else f'{v:g}'}"
        for k, v in values.items()
    )
    if len(present) < len(values):
        return Finding(
            "values_disagree", subject, "一处有值、另一处为空(--)", vals, ", ".join(values)
        )
    decs = {decimals_of(v) for v in present.values()}
    tol = tolerance if tolerance is not None else (0.0 if len(decs) == 1 else 10.0 ** -min(decs))
    if max(present.values()) - min(present.values()) <= tol + 1e-12:
        return None
    return Finding(
        "values_disagree", subject, "同一指标在不同位置数值不一致", vals, ", ".join(values)
    )


def check_results_vs_baselines(results: Registry, plan: Registry) -> list[Finding]:
    """Compare a previous plan's results (its observations) with the next plan's base values.

    Uses each ``plan`` indicator's ``continues`` id (e.g. 专栏2 第6项 continues 专栏1 第4项).
    """
    observed = {o.indicator: o for o in results.observations}
    out = []
    for ind in plan.indicators:
        if not ind.continues or ind.continues not in observed:
            continue
        prev = results.indicator(ind.continues)
        obs = observed[ind.continues]
        label_a = f"{results.title} {prev.no} {prev.name_zh} 完成值 ({obs.source})"
        label_b = (
            f"{plan.title} {ind.no} {ind.name_zh} 基期值 (L{ind.lines[0]}–L{ind.lines[-1]})"
            if ind.lines
            else plan.title
        )
        f = check_values_agree(ind.name_zh, {label_a: obs.value, label_b: ind.base})
        if f is not None:
            out.append(f)
    return out


def findings_table(findings: Iterable[Finding | None]) -> pd.DataFrame:
    """Stack findings (``None`` entries are dropped) into a DataFrame."""
    rows = [f.__dict__ for f in findings if f is not None]
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)
