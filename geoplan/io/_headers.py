"""Header vocabulary of planners' tables: synonyms and the mapping of headers to contract names.

Owns :data:`COLUMN_SYNONYMS` (经度 → lon, 名称 → name, 床位数 → beds …), the per-kind
meanings :data:`KIND_SYNONYMS` (类型 is ``kind`` for admin units, ``marker_type`` for
boundary markers), the coordinate families :data:`XY_FAMILIES` and :func:`map_headers`,
which also reads the axis a header names (``X(东)``, 北坐标; the axis rules are in
:mod:`geoplan.io._tables`) and Shapefile field names cut at 10 bytes. Used by
:mod:`geoplan.io._tables` and :mod:`geoplan.io` (tables and vector files alike) and by
:mod:`geoplan.study.config` (the names ``columns = {...}`` may map to).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

import pandas as pd

#: Contract column -> header synonyms (compared after NFKC, lower case, no spaces, no "(...)").
COLUMN_SYNONYMS: dict[str, tuple[str, ...]] = {
    "lon": ("经度", "东经", "lng", "lon", "long", "longitude", "x", "横坐标", "x坐标", "东坐标",
            "easting", "坐标x"),
    "lat": ("纬度", "北纬", "lat", "latitude", "y", "纵坐标", "y坐标", "北坐标", "northing",
            "坐标y"),
    "facility_id": ("facility_id", "设施编号", "机构编号", "站点编号", "编号", "id", "序号"),
    "name": ("名称", "机构名称", "设施名称", "站点名称", "单位名称", "名字", "name"),
    "facility_type": ("类型", "设施类型", "机构类型", "设施类别", "类别", "type", "facility_type"),
    "status": ("状态", "建设状态", "建设情况", "现状/规划", "status"),
    "beds": ("床位数", "床位", "总床位", "床位总数", "beds"),
    "nursing_beds": ("护理型床位", "护理型床位数", "护理床位", "nursing_beds"),
    "floor_area_m2": ("建筑面积", "面积", "用房面积", "建筑面积m2", "floor_area_m2", "area_m2"),
    "seats": ("餐位", "餐位数", "座位数", "座位", "seats"),
    "meals_per_day": ("日供餐量", "日均供餐", "日供餐能力", "日供餐人次", "meals_per_day"),
    "niches_total": ("格位总数", "总格位", "格位数", "设计格位", "niches_total"),
    "niches_used": ("已用格位", "已使用格位", "已安放格位", "niches_used"),
    "admin_name": ("所属镇街", "所属街道", "所属乡镇", "所属镇(街道)", "镇街", "admin_name"),
    "admin_code": ("所属镇街代码", "镇街代码", "所属区划代码", "admin_code"),
    "code": ("区划代码", "行政区划代码", "统计用区划代码", "code"),
    "parent_code": ("上级代码", "上级区划代码", "parent_code"),
    "level": ("级别", "层级", "level"),
    "kind": ("kind",),
    "households": ("户数", "家庭户数", "家庭户", "households"),
    "pop": ("人口", "常住人口", "总人口", "人口数", "pop", "population"),
    "pop_60plus": ("60岁以上", "60岁及以上", "60岁以上人口", "60岁及以上人口", "pop_60plus"),
    "pop_80plus": ("80岁以上", "80岁及以上", "80岁以上人口", "80岁及以上人口", "pop_80plus"),
    "cell_id": ("格网编号", "网格编号", "cell_id"),
    "marker_no": ("界桩编号", "界桩号", "桩号", "marker_no"),
    "line_code": ("界线编码", "界线编号", "界线代码", "line_code"),
    "x_reg": ("登记x", "登记横坐标", "x_reg"),
    "y_reg": ("登记y", "登记纵坐标", "y_reg"),
    "x_obs": ("实测x", "实测横坐标", "x_obs"),
    "y_obs": ("实测y", "实测纵坐标", "y_obs"),
    "marker_type": ("界桩类型", "桩型", "界桩型式", "marker_type"),
    "condition": ("状况", "界桩状况", "完好情况", "condition"),
    "custodian": ("管护员", "管护人", "custodian"),
    "last_inspected": ("上次检查日期", "最近检查日期", "检查日期", "last_inspected"),
    "left_code": ("左侧代码", "左侧区划代码", "left_code"),
    "right_code": ("右侧代码", "右侧区划代码", "right_code"),
    "version": ("版本", "version"),
    "project_id": ("项目编号", "project_id"),
    "site_id": ("候选点编号", "候选地块编号", "地块编号", "site_id"),
    "zone_id": ("区域编号", "图斑编号", "zone_id"),
    "cost": ("建设成本", "建设费用", "投资", "造价", "费用", "cost"),
    "address": ("地址", "详细地址", "address"),
}
#: Per-kind header meanings that differ from the general table. When two headers map to
#: the same column, a general synonym (界桩类型) wins over a per-kind word (类型).
KIND_SYNONYMS: dict[str, dict[str, str]] = {
    "admin_units": {"类型": "kind", "类别": "kind", "名称": "name", "代码": "code"},
    "facilities": {"区划代码": "admin_code", "行政区划代码": "admin_code"},
    "population": {"区划代码": "admin_code", "行政区划代码": "admin_code"},
    "boundary_lines": {"界线名称": "name", "界线级别": "level"},
    "boundary_markers": {"类型": "marker_type", "类别": "marker_type", "type": "marker_type",
                         "编号": "marker_no", "所属界线": "line_code", "界线": "line_code"},
    "inspection_rounds": {
        "轮次": "round_no", "联检轮次": "round_no", "round": "round_no", "round_no": "round_no",
        "联检日期": "inspected_on", "检查日期": "inspected_on", "联检时间": "inspected_on",
        "日期": "inspected_on", "date": "inspected_on", "inspected_on": "inspected_on",
        "联检结论": "findings", "检查结论": "findings", "检查结果": "findings",
        "发现问题": "findings", "问题": "findings", "findings": "findings",
        "是否签订协议": "agreement_signed", "签订协议": "agreement_signed",
        "平安边界协议": "agreement_signed", "协议": "agreement_signed",
        "agreement_signed": "agreement_signed", "所属界线": "line_code", "界线": "line_code",
    },
}
_EAST_WORDS = {"经度", "东经", "lng", "lon", "long", "longitude", "东坐标", "easting"}
_NORTH_WORDS = {"纬度", "北纬", "lat", "latitude", "北坐标", "northing"}
#: Coordinate families: (east-ish target, north-ish target).
XY_FAMILIES = {"": ("lon", "lat"), "reg": ("x_reg", "y_reg"), "obs": ("x_obs", "y_obs")}


def _norm(text: object) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).lower()


def _split_header(header: object) -> tuple[str, str]:
    """Split a header into (base, qualifier): ``'X(东)'`` -> ``('x', '东')``."""
    text = _norm(header)
    qualifier = "".join(re.findall(r"[(\[]([^)\]]*)[)\]]", text))
    base = re.sub(r"[(\[][^)\]]*[)\]]", "", text)
    return base, qualifier


def _axis_hint(base: str, qualifier: str) -> str | None:
    if base in _EAST_WORDS or base.endswith("东坐标"):
        return "east"
    if base in _NORTH_WORDS or base.endswith("北坐标"):
        return "north"
    q = qualifier
    if "东" in q or q in ("e", "east", "easting"):
        return "east"
    if "北" in q or q in ("n", "north", "northing"):
        return "north"
    return None


def _cut_by_dbf(header: str) -> bool:
    """Whether a field name may have been cut at the Shapefile limit of 10 bytes."""
    if header.isascii():
        return len(header) == 10
    return max(len(header.encode("gbk", "replace")), len(header.encode("utf-8"))) >= 9


def map_headers(headers: list[object], kind: str, explicit: dict[str, str] | None = None, *,
                truncated: bool = False) -> tuple[dict[object, str], dict[str, str | None]]:
    """Map table headers to contract names.

    Parameters
    ----------
    headers
        The table's header cells.
    kind
        Layer kind (some words mean different things per kind, e.g. 类型).
    explicit
        ``{header: contract name}`` given by the user; wins over synonyms.
    truncated
        The headers are Shapefile field names, cut at 10 bytes (``facility_i``, GBK
        ``行政区划代``): a cut name that starts exactly one known header is read as it.

    Returns
    -------
    renames
        ``{header: contract name}`` for the recognised headers (first synonym wins).
    axes
        ``{contract name: 'east' | 'north' | None}`` for the coordinate columns found.
    """
    lookup: dict[str, tuple[int, str]] = {}
    for target, words in COLUMN_SYNONYMS.items():
        for rank, word in enumerate(words):
            lookup.setdefault(_norm(word), (rank, target))
    for rank, (word, target) in enumerate(KIND_SYNONYMS.get(kind, {}).items()):
        lookup[_norm(word)] = (100 + rank, target)
    explicit = {str(k): v for k, v in (explicit or {}).items()}
    best: dict[str, tuple[int, object]] = {}
    axes: dict[str, str | None] = {}
    for header in headers:
        if str(header) in explicit:
            best[explicit[str(header)]] = (-2, header)
            axes[explicit[str(header)]] = _axis_hint(*_split_header(header))
            continue
        base, qualifier = _split_header(header)
        hit = lookup.get(base) or lookup.get(_norm(header))
        if hit is None and truncated and base and _cut_by_dbf(str(header).strip()):
            targets = {t for word, (_r, t) in lookup.items()
                       if word.startswith(base) and len(word) > len(base)}
            hit = (100, targets.pop()) if len(targets) == 1 else None
        if hit is None:
            continue
        rank, target = hit
        if target not in best or rank < best[target][0]:
            best[target] = (rank, header)
            axes[target] = _axis_hint(base, qualifier)
    renames = {header: target for target, (_rank, header) in best.items()}
    coords = {t for fam in XY_FAMILIES.values() for t in fam}
    return renames, {t: a for t, a in axes.items() if t in coords}


def rename(df: pd.DataFrame, renames: Mapping[object, str]) -> pd.DataFrame:
    """Rename headers to contract names; a name already present is not overwritten."""
    present = set(df.columns)
    safe = {old: new for old, new in renames.items() if old != new and new not in present}
    return df.rename(columns=safe)
