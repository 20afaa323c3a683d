"""The tables a planner files: what the study is, how it was computed, and results per level.

Each function returns a plain table for the one workbook writer
(:func:`geoplan.report.write_workbook`) and the HTML report; columns keep machine-readable
names (``pop_share``) that the writer turns into Chinese headers (``人口覆盖率``), or leaves
as they are under ``lang = "en"``. Text sheets (说明, 方法) have two columns, 项目 and 内容.

- :func:`about_table` (说明): the study, every layer with its file, source and whether it
  is synthetic, the coordinate system, the reference date and the geoplan version.
- :func:`method_table` (方法): the walking network, the tier distances or the speed, how
  points are snapped, what counts as covered, unreachable demand, the denominators.
- :func:`standards_basis_table` (标准依据): each rule with its threshold, document, clause
  and the quoted text, after the GB 50180-2018 life circles of the coverage tiers.
- :func:`coverage_sheets`: one sheet per level (全域, 镇街, 社区/村) and tier.
- :func:`compliance_by_level` and :func:`compliance_summary` (达标情况).
- :func:`town_summary`: people, households, older people and facilities per 镇街.
"""

from __future__ import annotations

import datetime as dt
from importlib.metadata import version

import pandas as pd
from pyproj import CRS

from geoplan.access import DEFAULT_MAX_ACCESS_M, DEFAULT_SPEED_M_PER_MIN
from geoplan.population import facility_counts_by_unit
from geoplan.report.compliance import COMPARATOR_ZH, standards_table
from geoplan.schema import FACILITY_TYPES
from geoplan.standards import STATUS_ZH, load_profile
from geoplan.study.denominators import MEASURE_NAMES_ZH, Denominators
from geoplan.study.load import Study

__all__ = [
    "LEVEL_SHEET_ZH",
    "about_table",
    "compliance_by_level",
    "compliance_summary",
    "coverage_sheets",
    "layer_name_zh",
    "method_table",
    "standards_basis_table",
    "town_summary",
]

#: Levels as sheet names (no ``/`` in an Excel sheet name) and as text.
LEVEL_SHEET_ZH = {"study": "全域", "county": "全域", "town": "镇街", "village": "社区村"}
LEVEL_ZH = {"study": "全域", "county": "全域", "town": "镇(街道)", "village": "社区/村"}
#: GB 50180-2018 表 3.0.4, the life circles by walking distance.
LIFE_CIRCLES = {5.0: ("五分钟生活圈居住区", "300 m"), 10.0: ("十分钟生活圈居住区", "500 m"),
                15.0: ("十五分钟生活圈居住区", "800–1000 m")}
GB50180 = "GB 50180-2018《城市居住区规划设计标准》"
_LAYER_KINDS_ZH = {"study_area": "研究范围", "admin_units": "行政区划（镇街、社区/村）",
                   "towns": "镇街", "villages": "社区/村", "facilities": "民政服务设施",
                   "population": "人口格网", "boundary_lines": "行政区域界线",
                   "boundary_lines_previous": "上轮界线（协议书附图）",
                   "boundary_markers": "界桩", "projects": "建设项目",
                   "candidate_sites": "候选点", "exclusion_zones": "禁建区"}


def layer_name_zh(name: str, kind: str | None) -> str:
    """Return a study layer's name as a planner reads it: by its key, its kind, else the key."""
    return _LAYER_KINDS_ZH.get(name, _LAYER_KINDS_ZH.get(kind or "", name))


_TABLES_ZH = {"inspection_rounds": "历轮联检记录", "staff": "工作人员", "denominators": "分母表"}


def _rows(pairs: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["item", "content"])


def _tier_text(study: Study) -> str:
    parts = [f"{t:g} 分钟 = {d:,.0f} m" for t, d in zip(study.tiers_min, study.tier_distances_m,
                                                       strict=True)]
    if study.speed_m_per_min is None:
        return (f"按 {GB50180} 表 3.0.4 生活圈的步行距离：" + "；".join(parts)
                + f"（十五分钟取 800–1000 m 的中值；其余时间按 {DEFAULT_SPEED_M_PER_MIN:g} "
                "m/min 即老年人步速换算）")
    return (f"按步行速度 {study.speed_m_per_min:g} m/min 换算：" + "；".join(parts))


def about_table(study: Study, *, synthetic_note: str = "") -> pd.DataFrame:
    """说明: the study, its layers and sources, the coordinate system, date and version."""
    crs = CRS.from_epsg(study.metric_epsg)
    pairs = [
        ("研究名称", study.name),
        ("行政区划代码", study.admin_code),
        ("数据基准日期", str(study.reference_date or "未注明")),
        ("坐标系", f"{crs.name}（EPSG:{study.metric_epsg}，2000国家大地坐标系高斯-克吕格投影，"
                f"单位米）"),
        ("geoplan 版本", version("geoplan")),
        ("生成时间", dt.datetime.now().strftime("%Y-%m-%d %H:%M")),
    ]
    for name, layer in study.config.layers.items():
        synthetic = "是（合成数据，仅供演示）" if layer.synthetic else "否"
        source = layer.source or "图层未注明来源"
        kind = layer_name_zh(name, layer.kind)
        pairs.append((f"图层：{kind}（{layer.label}）", f"来源 {source}；合成数据 {synthetic}"
                      + (f"；年份 {layer.year}" if layer.year else "")))
    for name, table in study.config.tables.items():
        pairs.append((f"表格：{_TABLES_ZH.get(name, '其他表格')}（{table.path.name}）",
                      "研究文件 [tables] 所列表格"))
    if synthetic_note:
        pairs.append(("提示", synthetic_note))
    return _rows(pairs)


def _network_text(study: Study) -> str:
    net = study.config.network
    if net is None:
        return "未使用步行网络"
    if net.synthetic is not None:
        return (f"合成步行网络（生成器 {net.synthetic}，随机种子 {net.seed}），仅供演示，"
                "不代表真实道路")
    if net.path is not None:
        return f"步行网络文件 {net.path.name}（坐标 {net.coords}）"
    return f"OpenStreetMap 步行道路（{net.osm_place}），© OpenStreetMap contributors, ODbL"


def method_table(study: Study, denominators: Denominators | None,
                 notes: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """方法: network, distances or speed, snapping, coverage rule, unreachable demand, sources."""
    pairs = [
        ("步行网络", _network_text(study)),
        ("服务圈距离", _tier_text(study)),
        ("路网吸附", "人口格网中心点与设施点各自吸附到最近的路段（垂足），步行距离 = "
                 "吸附连线长度 + 沿路网的最短路径长度；同一路段上的两点可直接沿路段到达"),
        ("覆盖判定", "格网中心到最近一处同类设施的步行距离不超过该档距离，即视为整格人口被覆盖；"
                 "各档按同一最近设施距离判定，故5分钟覆盖 ⊆ 10分钟 ⊆ 15分钟"),
        ("不可达需求", f"距路网超过 {DEFAULT_MAX_ACCESS_M:g} m 的格网视为不可达，不计入覆盖，"
                  "但计入分母（即计为未覆盖）"),
        ("汇总层级", "格网按中心点落入的社区/村汇总；社区/村按其上级代码汇总到镇街，"
                 "镇街汇总到全域，因此各层级合计一致"),
    ]
    if denominators is not None:
        for measure, source in denominators.sources.items():
            pairs.append((f"分母：{MEASURE_NAMES_ZH[measure]}", source))
        if len(denominators.reconciliation):
            pairs.append(("分母核对", "各来源数值不一致的单元见“分母核对”表；各表统一采用“采用值”"))
    pairs += [("运行提示", note) for note in notes]
    return _rows(pairs)


def _threshold_text(rule) -> str:
    comparator = COMPARATOR_ZH.get(rule.comparator, rule.comparator)
    if rule.thresholds_by_year:
        return "；".join(f"{year}年 {comparator} {value:g}"
                        for year, value in sorted(rule.thresholds_by_year.items()))
    return "" if rule.threshold is None else f"{comparator} {rule.threshold:g}"


def standards_basis_table(study: Study, profile: str | None) -> pd.DataFrame:
    """标准依据: the life-circle tiers, then each rule with threshold, document, clause, quote."""
    rows = []
    for tier, reach in zip(study.tiers_min, study.tier_distances_m, strict=True):
        circle, distance = LIFE_CIRCLES.get(float(tier), ("", ""))
        rows.append({
            "name_zh": f"{tier:g}分钟服务圈",
            "levels": "全域、镇街、社区/村", "threshold": f"步行距离 ≤ {reach:,.0f} m",
            "measure_unit": "m", "document": GB50180,
            "clause": "表 3.0.4 居住区分级控制规模" if circle else "",
            "quote": (f"{circle}：步行距离 {distance}" if circle and study.speed_m_per_min is None
                      else f"按步行速度 {study.speed_m_per_min or DEFAULT_SPEED_M_PER_MIN:g} "
                           "m/min 换算")})
    if profile:
        for rule in load_profile(profile).rules:
            sources = rule.sources or ()
            rows.append({
                "name_zh": rule.name_zh,
                "levels": "、".join(LEVEL_ZH.get(lv, lv) for lv in rule.levels),
                "threshold": _threshold_text(rule), "measure_unit": rule.unit,
                "document": "；".join(dict.fromkeys(s.document for s in sources)),
                "clause": "；".join(s.clause or ", ".join(f"第{n}行" for n in s.lines)
                                   for s in sources),
                "quote": "；".join(s.quote for s in sources if s.quote)
                         or (rule.note or "（文件未摘录原文，见条款）")})
    return pd.DataFrame(rows)


_COVERAGE_COLUMNS = [f"{m}_{k}" for m in MEASURE_NAMES_ZH for k in ("total", "covered", "share")]


def coverage_sheets(coverage: pd.DataFrame, units: pd.DataFrame,
                    study_code: str | None = None) -> dict[str, pd.DataFrame]:
    """One table per level (全域, 镇街, 社区/村) and tier, every facility type and denominator.

    Parameters
    ----------
    coverage
        :func:`geoplan.access.coverage_by_unit` output.
    units
        The admin units (``code``, ``name``, ``level``, ``parent_code``), to name the 镇街 of
        each 社区/村.
    study_code
        The study's admin code, shown on the 全域 rows (else their machine code ``study``).

    Returns
    -------
    dict[str, pandas.DataFrame]
        ``覆盖-全域-15分钟`` → rows per facility type; ``覆盖-镇街-15分钟`` and
        ``覆盖-社区村-15分钟`` → rows per unit and type: code and name (and the 镇街 of a
        社区/村), the walking distance, and per denominator the total, the count within
        the tier and the share.
    """
    names = dict(zip(units["code"].astype(str), units["name"], strict=False))
    parents = (dict(zip(units["code"].astype(str), units["parent_code"], strict=False))
               if "parent_code" in units.columns else {})
    measures = [c for c in _COVERAGE_COLUMNS if c in coverage.columns]
    out: dict[str, pd.DataFrame] = {}
    type_order = {t: i for i, t in enumerate(FACILITY_TYPES)}
    for level in ("study", "town", "village"):
        rows = coverage[coverage["level"] == level]
        for tier in sorted(rows["tier_min"].unique()):
            part = rows[rows["tier_min"] == tier].copy()
            if level in _PARENT_LEVEL:
                part = pd.concat([part, _outside_children(coverage, part, level, tier, parents)],
                                 ignore_index=True)
            part = part.assign(_order=part["facility_type"].map(type_order)).sort_values(
                ["code", "_order"], kind="stable")
            part["facility_type"] = part["facility_type"].map(
                lambda t: FACILITY_TYPES[t].name_zh if t in FACILITY_TYPES else t)
            first = ["code", "name"]
            if level == "village":
                mapped = part["code"].map(parents).astype(object)
                if "parent_code" in part.columns:  # the rows of people in no 社区/村
                    mapped = mapped.fillna(part["parent_code"])
                part["parent_code"] = mapped
                part["parent_name"] = part["parent_code"].map(
                    lambda c: names.get(str(c), "") if c is not None else "")
                first += ["parent_code", "parent_name"]
            if level == "study":
                part["name"] = "全域合计"
                if study_code is not None:
                    part["code"] = study_code
            table = part[[*first, "facility_type", "tier_min", "reach_m", *measures]].copy()
            for col in ("tier_min", "reach_m", *(c for c in measures if "share" not in c)):
                if (table[col] == table[col].round()).all():  # counts: 103,748, not 103,748.0
                    table[col] = table[col].astype("int64")
            out[f"覆盖-{LEVEL_SHEET_ZH[level]}-{tier:g}分钟"] = table.reset_index(drop=True)
    return out


_PARENT_LEVEL = {"town": "study", "village": "town"}
_OUTSIDE_ZH = {"town": "未落入任何镇街", "village": "未落入任何社区/村"}


def _outside_children(coverage: pd.DataFrame, children: pd.DataFrame, level: str,
                      tier: float, parents: dict) -> pd.DataFrame:
    """Rows for people in a parent unit but in none of its children, so each level adds up."""
    above = coverage[(coverage["level"] == _PARENT_LEVEL[level]) & (coverage["tier_min"] == tier)]
    counts = [c for c in coverage.columns if c.endswith(("_total", "_covered"))]
    key = (children["code"].map(parents) if level == "village"
           else pd.Series("study", index=children.index))
    summed = children.assign(code=key.astype(str).to_numpy()).groupby(
        ["code", "facility_type"])[counts].sum()
    rest = above.set_index(["code", "facility_type"])[counts].sub(summed, fill_value=0)
    rest = rest[(rest.abs() > 1e-9).any(axis=1)]
    if not len(rest):
        return children.iloc[:0]
    rest = rest.reset_index(names=["parent_code", "facility_type"])
    for total in (c for c in counts if c.endswith("_total")):
        measure = total.removesuffix("_total")
        rest[f"{measure}_share"] = (rest[f"{measure}_covered"]
                                    / rest[total].where(rest[total] > 0)).astype(float)
    first = above.iloc[0]
    return rest.assign(level=level, code=None, name=_OUTSIDE_ZH[level], tier_min=tier,
                       reach_m=first["reach_m"],
                       parent_code=rest["parent_code"] if level == "village" else None)


def compliance_by_level(results: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Standards results per level (全域, 镇街, 社区/村), in the compliance workbook's layout."""
    out = {}
    for level in ("county", "town", "village"):
        part = results[results["level"] == level]
        if len(part):
            out[f"达标-{LEVEL_SHEET_ZH[level]}"] = standards_table(part)
    return out


def compliance_summary(results: pd.DataFrame) -> pd.DataFrame:
    """达标情况: per rule and level, how many units pass, fail or cannot be computed."""
    status = results["status"].map(STATUS_ZH)
    counts = pd.crosstab([results["rule_id"], results["name_zh"], results["level"]], status)
    for label in STATUS_ZH.values():
        if label not in counts.columns:
            counts[label] = 0
    table = counts.reset_index()
    table["level"] = table["level"].map(lambda v: LEVEL_ZH.get(v, v))
    table = table.rename(columns={"达标": "n_passed", "未达标": "n_failed",
                                  "无法计算": "n_not_computable"})
    table["n_units"] = table[["n_passed", "n_failed", "n_not_computable"]].sum(axis=1)
    computable = table["n_passed"] + table["n_failed"]
    table["pass_share"] = (table["n_passed"] / computable.where(computable > 0)).astype(float)
    table["highlight"] = table["n_failed"] > 0
    order = {"全域": 0, "镇(街道)": 1, "社区/村": 2}
    table = table.assign(_o=table["level"].map(order)).sort_values(["_o", "name_zh"],
                                                                  kind="stable")
    return table[["name_zh", "level", "n_units", "n_passed", "n_failed",
                  "n_not_computable", "pass_share", "highlight"]].reset_index(drop=True)


def town_summary(denominators: Denominators, towns: pd.DataFrame,
                 facilities: pd.DataFrame) -> pd.DataFrame:
    """People, households, older people (the one denominator) and facilities per 镇街.

    Rows per 镇街, a ``unassigned`` row (未落入任何镇街) when some people lie in no 镇街,
    and a ``total`` row (合计, the whole study). Indexed by code.
    """
    measures = list(denominators.sources)
    figures = denominators.units
    town_rows = figures[figures["level"] == "town"].set_index("code")[["name", *measures]]
    counts = facility_counts_by_unit(facilities, towns)
    counts.index = counts.index.astype(str)
    counts = counts.rename(columns={t: FACILITY_TYPES[t].name_zh for t in counts.columns
                                    if t in FACILITY_TYPES})
    table = town_rows.join(counts).fillna(0)
    total = figures[figures["level"] == "county"].iloc[0]
    type_totals = facilities["facility_type"].value_counts().rename(
        lambda t: FACILITY_TYPES[t].name_zh if t in FACILITY_TYPES else t)
    everything = {m: total[m] for m in measures} | {
        c: int(type_totals.get(c, 0)) for c in counts.columns}
    rest = {c: everything[c] - table[c].sum() for c in everything}
    rows = [table]
    if any(abs(v) > 1e-9 for v in rest.values()):
        rows.append(pd.DataFrame([{"name": "未落入任何镇街", **rest}], index=["unassigned"]))
    rows.append(pd.DataFrame([{"name": "合计", **everything}], index=["total"]))
    out = pd.concat(rows)
    for col in out.columns:
        if col != "name" and (out[col] == out[col].round()).all():
            out[col] = out[col].astype("int64")
    out.index.name = "code"
    return out
