"""The facility-type registry and the words planners write for facility types and statuses.

Owns :data:`FACILITY_TYPES` (type key → Chinese name and capacity columns; English names and
the Chinese aliases read in tables: 居家养老服务站, 幸福院, 助餐点, 骨灰堂 …),
:data:`FACILITY_STATUSES` and the lookups :func:`facility_type_key` and :func:`status_key`.
:mod:`geoplan.schema` re-exports them and uses them to validate layers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

import numpy as np

from geoplan._text import norm_key


class FacilityType(NamedTuple):
    """One facility type: Chinese name and capacity columns (``zh, cols = FACILITY_TYPES[k]``)."""

    name_zh: str
    capacity_columns: tuple[str, ...]

    @property
    def name_en(self) -> str:
        """English name of the type."""
        return _NAMES_EN[self.name_zh]

    @property
    def aliases(self) -> tuple[str, ...]:
        """Chinese names recognised for this type when reading tables."""
        return _ALIASES[self.name_zh]


FACILITY_TYPES: dict[str, FacilityType] = {
    "elderly_station": FacilityType("居家养老服务站", ("floor_area_m2", "beds")),
    "senior_canteen": FacilityType("长者食堂/助餐点", ("seats", "meals_per_day", "floor_area_m2")),
    "columbarium": FacilityType("公益性骨灰堂", ("niches_total", "niches_used", "floor_area_m2")),
    "social_work_station": FacilityType("乡镇(街道)社工站", ("floor_area_m2",)),
    "day_care_center": FacilityType("日间照料中心", ("beds", "floor_area_m2")),
    "nursing_home": FacilityType("养老机构/敬老院", ("beds", "nursing_beds", "floor_area_m2")),
    "community_center": FacilityType("社区综合服务设施", ("floor_area_m2",)),
    "children_home": FacilityType("儿童之家", ("floor_area_m2",)),
    "health_station": FacilityType("社区卫生服务站", ("floor_area_m2",)),
    "minor_protection_station": FacilityType("未成年人保护工作站", ("floor_area_m2",)),
    "care_center": FacilityType("街道(镇)综合养老服务中心",
                                ("beds", "nursing_beds", "floor_area_m2")),
}

_NAMES_EN = {
    "居家养老服务站": "home-based elderly care station",
    "长者食堂/助餐点": "senior canteen / meal point",
    "公益性骨灰堂": "public-welfare columbarium",
    "乡镇(街道)社工站": "township (street) social work station",
    "日间照料中心": "day care centre",
    "养老机构/敬老院": "nursing home",
    "社区综合服务设施": "community service centre",
    "儿童之家": "children's home",
    "社区卫生服务站": "community health station",
    "未成年人保护工作站": "minor protection station",
    "街道(镇)综合养老服务中心": "township comprehensive elderly care centre",
}

_ALIASES = {
    "居家养老服务站": ("居家养老服务站", "养老服务站", "幸福院", "农村幸福院", "互助幸福院",
                "农村互助幸福院", "居家社区养老服务站", "社区养老服务站", "居家养老服务点",
                "村级养老服务站", "村居养老服务站", "长者之家", "长者服务站", "社区长者服务站",
                "颐康之家", "颐康服务站", "养老驿站", "社区养老服务驿站", "养老服务驿站",
                "嵌入式养老服务站"),
    "长者食堂/助餐点": ("长者食堂", "助餐点", "老年食堂", "老年助餐点", "长者助餐点", "助餐服务点",
                  "老年人助餐点", "老年人助餐服务点", "社区食堂", "幸福食堂", "爱心食堂",
                  "长者饭堂", "老年餐桌", "社区长者食堂", "长者食堂/助餐点", "助餐配餐点",
                  "老年助餐服务中心"),
    "公益性骨灰堂": ("公益性骨灰堂", "骨灰堂", "公益性安葬设施", "公益性安葬(放)设施", "骨灰楼",
               "公益性骨灰楼", "骨灰存放设施", "公益性骨灰存放设施", "农村公益性骨灰堂",
               "公益性公墓", "骨灰寄存处", "骨灰安放设施"),
    "乡镇(街道)社工站": ("乡镇(街道)社工站", "社工站", "乡镇社工站", "街道社工站", "镇街社工站",
                   "社会工作服务站", "乡镇(街道)社会工作服务站", "社会工作站", "双百社工站",
                   "禾计划社工站"),
    "日间照料中心": ("日间照料中心", "老年人日间照料中心", "社区日间照料中心", "日照中心",
               "社区老年人日间照料中心", "托老所", "日托中心"),
    "养老机构/敬老院": ("养老机构", "敬老院", "养老院", "福利院", "社会福利院", "养老公寓",
                  "护理院", "养老机构/敬老院", "农村敬老院", "公办养老机构", "民办养老机构",
                  "特困人员供养服务机构", "特困供养服务中心", "老年公寓"),
    "社区综合服务设施": ("社区综合服务设施", "社区综合服务中心", "社区服务中心", "社区综合服务站",
                   "党群服务中心", "社区党群服务中心", "邻里中心"),
    "儿童之家": ("儿童之家", "社区儿童之家", "儿童快乐家园"),
    "社区卫生服务站": ("社区卫生服务站", "卫生服务站", "社区卫生服务中心", "卫生室", "村卫生室"),
    "未成年人保护工作站": ("未成年人保护工作站", "未成年人保护站", "未保站"),
    "街道(镇)综合养老服务中心": ("街道(镇)综合养老服务中心", "综合养老服务中心",
                        "镇街综合养老服务中心", "街道综合养老服务中心", "乡镇综合养老服务中心",
                        "区域性养老服务中心", "镇综合养老服务中心", "颐康中心",
                        "街道养老服务中心", "乡镇养老服务中心", "养老服务综合体"),
}

#: Facility statuses (key -> Chinese name) and the Chinese words read as each.
FACILITY_STATUSES: dict[str, str] = {
    "existing": "已建", "building": "在建", "planned": "规划", "proposed": "拟建", "closed": "关闭",
}
_STATUS_ALIASES = {
    "existing": ("已建", "现状", "现有", "建成", "已建成", "运营", "运营中", "在用", "正常"),
    "building": ("在建", "建设中", "施工中"),
    "planned": ("规划", "规划新建", "规划建设", "计划"),
    "proposed": ("拟建", "新建", "待建", "选址"),
    "closed": ("关闭", "停用", "停业", "撤销", "已关闭"),
}


def _lookup(table: dict[str, Iterable[str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, words in table.items():
        for word in (key, *words):
            out[norm_key(word)] = key
    return out


_TYPE_LOOKUP = _lookup({
    key: (ft.name_zh, _NAMES_EN[ft.name_zh], *_ALIASES[ft.name_zh])
    for key, ft in FACILITY_TYPES.items()
})
_STATUS_LOOKUP = _lookup(_STATUS_ALIASES)


def facility_type_key(value: object, aliases: Mapping[str, str] | None = None) -> str | None:
    """Return the registry key for a facility type written as a key, Chinese or English name.

    Parameters
    ----------
    value
        E.g. ``"elderly_station"``, ``"幸福院"``, ``"长者服务站"``, ``"养老驿站"``, ``"助餐点"``,
        ``"公益性骨灰堂"``.
    aliases
        A study's own names (``[types.aliases]``): ``{name: key or known name}``; they win
        over the built-in names.

    Returns
    -------
    str or None
        The key of :data:`FACILITY_TYPES`, or ``None`` if the value is not recognised.

    Examples
    --------
    >>> facility_type_key("颐康中心"), facility_type_key("长者饭堂")
    ('care_center', 'senior_canteen')
    >>> facility_type_key("老人之家", {"老人之家": "居家养老服务站"})
    'elderly_station'
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    key = norm_key(value)
    if aliases:
        own = {norm_key(k): v for k, v in aliases.items()}
        if key in own:
            return _TYPE_LOOKUP.get(norm_key(own[key]))
    return _TYPE_LOOKUP.get(key)


def unknown_alias_targets(aliases: Mapping[str, str]) -> list[str]:
    """Return the targets of a study's ``[types.aliases]`` that name no known facility type."""
    return [f"{k} = {v!r}" for k, v in aliases.items() if _TYPE_LOOKUP.get(norm_key(v)) is None]


def status_key(value: object) -> str | None:
    """Return the status key (``existing``/``building``/``planned``/``proposed``/``closed``).

    Chinese words are recognised: 已建/现状 → existing, 在建 → building, 规划 → planned,
    拟建 → proposed, 关闭/停用 → closed. Unknown values give ``None``.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return _STATUS_LOOKUP.get(norm_key(value))
