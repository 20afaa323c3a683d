"""Compliance and indicator tables in the plans' own layout, and their Excel workbook.

:func:`compliance_sheets` turns standards results and a plan-indicator evaluation into a
dict of sheet name → DataFrame with Chinese headers (序号 / 指标名称 / 单位 / 基期值 /
目标值 / 当前值 / 指标属性 / 完成情况 …) and a boolean ``highlight`` column marking
shortfalls. :func:`write_compliance_workbook` writes them with the report's one workbook
writer (:func:`geoplan.report.write_workbook`). The tables are pure data; only the writer
touches disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from geoplan.indicators import BEHIND
from geoplan.report.writers import write_workbook
from geoplan.standards import STATUS_ZH
from geoplan.standards.evaluate import FAIL

HIGHLIGHT = "highlight"
SHEET_ORDER = ("设施面积", "养老床位", "人员配备", "设施覆盖", "设施规模", "骨灰堂容量")
COMPARATOR_ZH = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}
LEVEL_ZH = {"county": "全域", "town": "镇(街道)", "village": "村(社区)"}


def rule_sheet(family: str, rule_params: Mapping[str, Any]) -> str:
    """Sheet (topic) a rule's rows belong to, from its family and what it counts."""
    if family == "columbarium_years":
        return "骨灰堂容量"
    if family in ("presence", "coverage_share"):
        return "设施覆盖"
    if family == "staffing_brackets":
        return "人员配备"
    if family == "site_minimum":
        return "设施面积" if rule_params.get("column") == "floor_area_m2" else "设施规模"
    numerator = rule_params.get("numerator", {})
    if numerator.get("source") == "staff":
        return "人员配备"
    return "设施面积" if numerator.get("column") == "floor_area_m2" else "养老床位"


def _num(value: Any, digits: int = 2) -> Any:
    return None if value is None or pd.isna(value) else round(float(value), digits)


def standards_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per-unit compliance rows (from :func:`evaluate_standards`) with Chinese headers.

    基期值 (the plan's base value) and 指标属性 (预期性/约束性) come from the rule; the base
    is shown on whole-area rows only, because the plans state it for the whole city.
    """
    rows = []
    for i, r in enumerate(results.itertuples(index=False), start=1):
        thr = (
            "" if pd.isna(r.threshold) else f"{COMPARATOR_ZH[r.comparator]} {float(r.threshold):g}"
        )
        rows.append(
            {
                "序号": i,
                "行政区划": r.unit_name,
                "区划代码": r.unit_code,
                "层级": LEVEL_ZH.get(r.level, r.level),
                "指标名称": r.name_zh,
                "单位": r.measure_unit,
                "基期值": _num(r.base) if r.level == "county" else None,
                "目标值": thr,
                "当前值": _num(r.value),
                "指标属性": r.attribute,
                "完成情况": STATUS_ZH[r.status],
                "缺口": _num(r.shortfall),
                "缺口单位": r.shortfall_unit,
                "分子": _num(r.numerator),
                "分母": _num(r.denominator),
                "分母口径": r.denominator_name,
                "分母来源": r.denominator_source,
                "分母年份": r.denominator_year,
                "目标年份": "" if pd.isna(r.target_year) else int(r.target_year),
                "说明": "; ".join(x for x in (r.detail, r.reason) if x),
                "数据质量提示": r.note,
                "依据": r.clause,
                HIGHLIGHT: r.status == FAIL,
            }
        )
    return pd.DataFrame(rows)


def indicator_table(evaluation: pd.DataFrame) -> pd.DataFrame:
    """Build the plan's indicator table (专栏 layout) with the evaluation bucket as 完成情况."""
    rows = []
    for r in evaluation.itertuples(index=False):
        rows.append(
            {
                "序号": r.no,
                "指标名称": r.name_zh,
                "单位": r.unit,
                "基期值": _num(r.base, 4),
                "目标值": _num(r.target, 4),
                "当年目标值": _num(r.expected_now, 2),
                "当前值": _num(r.current, 4),
                "指标属性": r.attribute,
                "完成情况": r.bucket,
                "约束性未达标": "是" if r.binding_miss else "",
                "时间进度": _num(r.time_share, 3),
                "进度比": _num(r.pace_ratio, 3),
                "项目进展": r.pipeline_note,
                "说明": "; ".join(
                    x
                    for x in (r.reason, r.override_reason and f"人工调整: {r.override_reason}")
                    if x
                ),
                "出处": r.lines,
                HIGHLIGHT: r.bucket == BEHIND or bool(r.binding_miss),
            }
        )
    return pd.DataFrame(rows)


#: The data-quality checks of :mod:`geoplan.indicators.consistency`, as a planner names them.
CHECK_NAMES_ZH = {
    "component_sum": "分项之和与合计不符",
    "stated_change": "增减数与前后数值不符",
    "stated_share": "比例与分子分母不符",
    "implied_denominator": "隐含分母不一致",
    "denominator_growth": "分母增长异常",
    "values_disagree": "同一指标数值不一致",
}


def findings_sheet(findings: pd.DataFrame) -> pd.DataFrame:
    """Data-quality findings with Chinese headers; every row is highlighted."""
    out = pd.DataFrame(
        {
            "序号": range(1, len(findings) + 1),
            "检查": findings["check"].map(lambda c: CHECK_NAMES_ZH.get(c, c)),
            "指标": findings["subject"],
            "问题": findings["message"],
            "数值": findings["values"],
            "出处": findings["sources"],
        }
    )
    out[HIGHLIGHT] = True
    return out


def tables_from_results(
    results: pd.DataFrame, profile_rules: Mapping[str, Mapping[str, Any]]
) -> dict[str, pd.DataFrame]:
    """Split tidy standards results into one Chinese table per rule family (topic)."""
    sheets = results["rule_id"].map(
        lambda rid: rule_sheet(profile_rules[rid]["family"], profile_rules[rid]["params"])
    )
    out = {}
    for name in SHEET_ORDER:
        part = results.loc[sheets == name]
        if len(part):
            out[name] = standards_table(part)
    return out


def compliance_sheets(
    results: pd.DataFrame,
    profile_rules: Mapping[str, Mapping[str, Any]],
    *,
    evaluation: pd.DataFrame | None = None,
    findings: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """All compliance and indicator sheets, formatted from results already computed.

    Parameters
    ----------
    results
        Standards results (:func:`geoplan.standards.evaluate_standards`).
    profile_rules
        Rule id → ``{"family": ..., "params": ...}`` of the profile evaluated.
    evaluation
        Plan-indicator evaluation (:func:`geoplan.indicators.evaluate_indicators`), if any.
    findings
        Data-quality findings (:func:`geoplan.indicators.findings_table`), if any.

    Returns
    -------
    dict[str, pandas.DataFrame]
        Sheet name → table: ``指标完成情况`` (when an evaluation is given), one sheet per
        rule family (设施面积, 养老床位, 人员配备, 设施覆盖, 设施规模, 骨灰堂容量), and
        ``数据质量提示``. Each table has a boolean ``highlight`` column.
    """
    tables: dict[str, pd.DataFrame] = {}
    if evaluation is not None:
        tables["指标完成情况"] = indicator_table(evaluation)
    tables.update(tables_from_results(results, profile_rules))
    if findings is None:
        findings = pd.DataFrame(columns=["check", "subject", "message", "values", "sources"])
    tables["数据质量提示"] = findings_sheet(findings)
    return tables


# ---------------------------------------------------------------- workbook


def _safe_sheet_name(name: str, used: set[str]) -> str:
    clean = "".join("_" if ch in "[]:*?/\\" else ch for ch in name)[:31] or "Sheet"
    candidate, k = clean, 2
    while candidate in used:
        candidate = f"{clean[:28]}_{k}"
        k += 1
    used.add(candidate)
    return candidate


def write_compliance_workbook(tables: Mapping[str, pd.DataFrame], path: str | Path) -> Path:
    """Write the tables to one ``.xlsx`` workbook, atomically, with geoplan's workbook writer.

    Each table becomes a sheet (:func:`geoplan.report.write_workbook`): the ``highlight``
    column is not written but its rows are filled, the header is bold and frozen, widths fit
    the Chinese text, and every sheet prints on A4 landscape.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    used: set[str] = set()
    sheets = {_safe_sheet_name(name, used): table for name, table in tables.items()}
    return write_workbook(sheets, path, highlight_col=HIGHLIGHT)
