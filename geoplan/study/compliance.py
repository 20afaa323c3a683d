"""Standards and plan-indicator evaluation of a loaded study, composed for the workbook.

The evaluation itself belongs to :mod:`geoplan.standards` and :mod:`geoplan.indicators`; the
formatting to :mod:`geoplan.report.compliance`. This module joins them for a study: which
profile and registries apply, the reference date, the units and denominators to use.
"""

from __future__ import annotations

import contextlib
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from geoplan.errors import StudyConfigError
from geoplan.indicators import (
    check_results_vs_baselines,
    evaluate_indicators,
    findings_table,
    load_registry,
    observations_from_layers,
)
from geoplan.report.compliance import compliance_sheets
from geoplan.standards import evaluate_standards, load_profile

__all__ = ["DEFAULT_REGISTRIES", "compliance_tables", "indicator_evaluation", "standards_results"]

#: Plan indicator registries evaluated by default for a profile: (this plan, the previous one).
DEFAULT_REGISTRIES = {
    "jinjiang": ("jinjiang_14th", "jinjiang_13th"),
    "nanan": ("nanan_14th", "nanan_13th"),
    "xiamen": ("xiamen_13th", None),
}


def _study_date(study: Any) -> date:
    ref = getattr(study, "reference_date", None)
    if isinstance(ref, datetime):
        return ref.date()
    if isinstance(ref, date):
        return ref
    if isinstance(ref, str) and ref:
        return date.fromisoformat(ref[:10])
    msg = (
        "the study has no reference_date ([study] reference_date in study.toml); the "
        "compliance tables need the date the data describe to pick the year's targets"
    )
    raise StudyConfigError(msg)


def _study_profile_name(study: Any) -> str:
    if getattr(study, "standards_profile", None):
        return str(study.standards_profile)
    config = getattr(study, "config", None)
    for getter in (
        lambda c: c["standards"]["profile"],
        lambda c: c.standards.profile,
        lambda c: c["standards_profile"],
        lambda c: c.standards_profile,
    ):
        with contextlib.suppress(Exception):
            value = getter(config)
            if value:
                return str(value)
    return "national"


def _admin_units(study: Any) -> pd.DataFrame:
    units = getattr(study, "admin_units", None)
    if units is None:
        units = pd.concat([study.towns, study.villages])
    return units


def standards_results(study: Any, *, profile: str | Path | None = None,
                      denominators: pd.DataFrame | None = None) -> pd.DataFrame:
    """Evaluate the study's standards profile on its units (the tidy results table).

    Parameters
    ----------
    study
        A loaded study (see :func:`compliance_tables`).
    profile
        Rule profile name or path; default: the study config's, else ``"national"``.
    denominators
        Households, people … per unit code (the run's one denominator per unit,
        :meth:`geoplan.study.denominators.Denominators.table`); default: the study's own.

    Returns
    -------
    pandas.DataFrame
        :func:`geoplan.standards.evaluate_standards` output.

    Raises
    ------
    StudyConfigError
        When the study has no ``reference_date``.
    RuleError
        When the profile cannot be loaded.
    """
    return evaluate_standards(
        load_profile(profile or _study_profile_name(study)),
        _admin_units(study),
        study.facilities,
        population=getattr(study, "population", None),
        staff=getattr(study, "staff", None),
        denominators=(denominators if denominators is not None
                      else getattr(study, "denominators", None)),
        reference_date=_study_date(study),
    )


def compliance_tables(
    study: Any,
    *,
    profile: str | Path | None = None,
    registry: str | Path | None = None,
    results_registry: str | Path | None = None,
    results: pd.DataFrame | None = None,
    denominators: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """All compliance and indicator tables for a loaded study.

    Parameters
    ----------
    study
        A :class:`geoplan.study.Study`-like object: ``admin_units`` (or ``towns`` and
        ``villages``), ``facilities``, ``population``, ``reference_date``, ``config``
        (standards profile at ``config["standards"]["profile"]``), optional ``staff``
        and ``denominators`` tables.
    profile
        Rule profile name or path; default: the study config's, else ``"national"``.
    registry
        Indicator registry to evaluate; default the profile's plan (``jinjiang_14th``
        for ``jinjiang``, ``xiamen_13th`` for ``xiamen``), none otherwise. Values the
        registry file records (``[[observation]]``) are used as published; indicators
        without one get the value computed from the layers, where a measure exists.
    results_registry
        The previous plan's results table compared with the registry's base values
        (data-quality sheet); default per profile.
    results
        :func:`standards_results` of the same study and profile, when already computed.
    denominators
        As in :func:`standards_results`; also used for the plan indicators.

    Returns
    -------
    dict[str, pandas.DataFrame]
        Sheet name → table: ``指标完成情况`` (when a registry applies), one sheet per
        rule family (设施面积, 养老床位, 人员配备, 设施覆盖, 设施规模, 骨灰堂容量), and
        ``数据质量提示``. Each table has a boolean ``highlight`` column.

    Raises
    ------
    StudyConfigError
        When the study has no ``reference_date``.
    RuleError
        When the profile or a registry cannot be loaded.
    """
    name = profile or _study_profile_name(study)
    if results is None:
        results = standards_results(study, profile=name, denominators=denominators)
    evaluation, findings = indicator_evaluation(
        study, profile=name, registry=registry, results_registry=results_registry,
        denominators=denominators)
    rules = {r.id: {"family": r.family, "params": r.params} for r in load_profile(name).rules}
    return compliance_sheets(results, rules, evaluation=evaluation, findings=findings)


def indicator_evaluation(
    study: Any,
    *,
    profile: str | Path | None = None,
    registry: str | Path | None = None,
    results_registry: str | Path | None = None,
    denominators: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """Evaluate the plan indicators that apply to a study, and check its figures.

    Parameters
    ----------
    study
        A loaded study (see :func:`compliance_tables`).
    profile
        Rule profile name or path; its name picks the default registries.
    registry, results_registry
        As in :func:`compliance_tables`; ``registry="none"`` evaluates no indicators.
    denominators
        As in :func:`standards_results`.

    Returns
    -------
    evaluation : pandas.DataFrame or None
        :func:`geoplan.indicators.evaluate_indicators` output; ``None`` when no registry applies.
    findings : pandas.DataFrame
        Data-quality findings (:func:`geoplan.indicators.findings_table`).
    """
    prof = load_profile(profile or _study_profile_name(study))
    if registry == "none":
        return None, findings_table([])
    reg_name, prev_name = DEFAULT_REGISTRIES.get(prof.name, (None, None))
    reg_name, prev_name = registry or reg_name, results_registry or prev_name
    findings = []
    evaluation = None
    if reg_name:
        reg = load_registry(reg_name)
        obs, _ = observations_from_layers(
            reg,
            _admin_units(study),
            study.facilities,
            as_of=_study_date(study),
            population=getattr(study, "population", None),
            denominators=(denominators if denominators is not None
                          else getattr(study, "denominators", None)),
        )
        stored = {o.indicator: o for o in reg.observations}  # published values win
        evaluation = evaluate_indicators(reg, {**obs, **stored})
        if prev_name:
            findings += check_results_vs_baselines(load_registry(prev_name), reg)
    return evaluation, findings_table(findings)
