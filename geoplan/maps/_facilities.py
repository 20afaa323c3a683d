"""Facility layers of geoplan's maps: one layer per type, status as marker style; service areas."""

from __future__ import annotations

import zlib
from collections.abc import Collection
from typing import Any

import folium
import geopandas as gpd
import pandas as pd

from geoplan._text import codes_text
from geoplan.errors import OutputError, require_columns
from geoplan.maps._basemaps import add_legend
from geoplan.maps._core import add_layer
from geoplan.schema import FACILITY_TYPES

#: Chinese names of facility statuses, as shown in popups and legends.
FACILITY_STATUS_ZH = {
    "existing": "现有",
    "building": "在建",
    "planned": "规划",
    "proposed": "拟建（选址建议）",
    "closed": "已关闭",
}
# Marker style per status: filled = exists, dashed/hollow = not built yet.
_STATUS_STYLE = {
    "existing": {"fillOpacity": 0.9, "weight": 1.5},
    "building": {"fillOpacity": 0.45, "weight": 2, "dashArray": "4 2"},
    "planned": {"fillOpacity": 0.1, "weight": 2, "dashArray": "2 3"},
    "proposed": {"fillOpacity": 0.0, "weight": 3, "dashArray": "1 3"},
    "closed": {"fillOpacity": 0.2, "weight": 1, "color": "#777777"},
}
_TYPE_COLORS = (
    "#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf",
    "#17becf", "#999999", "#bcbd22", "#1f3a93",
)


def type_color(key: str) -> str:
    """Return the colour of a facility type, the same in every layer and map.

    Registered types take the palette in registry order; others get one from their name.
    """
    keys = list(FACILITY_TYPES)
    i = keys.index(key) if key in keys else zlib.crc32(key.encode())
    return _TYPE_COLORS[i % len(_TYPE_COLORS)]


#: Capacity columns and their Chinese labels (with units) for facility popups.
CAPACITY_LABELS = {
    "beds": "床位（张）",
    "nursing_beds": "护理型床位（张）",
    "seats": "餐位（个）",
    "meals_per_day": "日供餐（份）",
    "niches_total": "格位总数（个）",
    "niches_used": "已用格位（个）",
    "floor_area_m2": "建筑面积（m²）",
}
#: Layer key of facilities whose type is missing.
UNTYPED = "untyped"


def facility_type_name(key: str) -> str:
    """Return the Chinese name of a facility type key (the key itself if unregistered)."""
    if key == UNTYPED:
        return "未填类型"
    entry = FACILITY_TYPES.get(key)
    return entry.name_zh if entry is not None else key


def _capacity_text(row: pd.Series) -> str:
    parts = []
    for col, label in CAPACITY_LABELS.items():
        value = row.get(col)
        if value is None or pd.isna(value):
            continue
        number = pd.to_numeric(value, errors="coerce")
        if pd.isna(number):  # text such as "约50": show it as written
            parts.append(f"{label} {value}")
        elif number > 0:
            parts.append(f"{label} {float(number):,.0f}")
    return "；".join(parts) or "—"


def _town_names(facilities: gpd.GeoDataFrame, admin_units: gpd.GeoDataFrame | None,
                admin_code_col: str) -> pd.Series:
    if admin_units is None or admin_code_col not in facilities:
        return pd.Series("—", index=facilities.index)
    require_columns(admin_units, ["code", "name", "level"], "add_facilities(admin_units=...)",
                    error=OutputError)
    towns = admin_units[admin_units["level"] == "town"]
    by_code = dict(zip(codes_text(towns["code"]).str[:9], towns["name"], strict=True))
    codes = codes_text(facilities[admin_code_col]).str[:9]
    return codes.map(by_code).fillna("—").astype(object)


def add_facilities(
    m: folium.Map,
    facilities: gpd.GeoDataFrame,
    *,
    admin_units: gpd.GeoDataFrame | None = None,
    type_col: str = "facility_type",
    status_col: str = "status",
    name_col: str = "name",
    admin_code_col: str = "admin_code",
    shown_types: Collection[str] | None = None,
) -> list[folium.GeoJson]:
    """Add one layer per facility type, with the status shown by the marker style.

    Colour = type; fill and outline = status (现有 filled, 在建 half-filled dashed,
    规划 hollow dashed, 拟建 hollow dotted). The popup shows 名称, 类型, 状态, the capacity
    columns present (床位, 餐位, 建筑面积 …) and the 镇街 the facility lies in.

    Parameters
    ----------
    m
        The map.
    facilities
        Facility layer (DESIGN.md contract): ``type``, ``status``, ``name``, ``admin_code``
        and any capacity columns.
    admin_units
        Admin units (``code``, ``name``, ``level``) to name the 镇街 from ``admin_code``
        (its first 9 digits); without it the popup shows "—".
    type_col, status_col, name_col, admin_code_col
        Column names.
    shown_types
        Types whose layers are on when the map opens (default: all); the others can be
        switched on in the layer control. Useful when a county has thousands of sites.

    Returns
    -------
    list of folium.GeoJson
        One layer per type, ids ``facilities-<type>``; facilities without a type are drawn
        in a layer "未填类型" (id ``facilities-untyped``), never left out.

    Raises
    ------
    OutputError
        If the type, status or name column is missing.
    """
    require_columns(facilities, [type_col, status_col, name_col], "add_facilities",
                    error=OutputError)
    styled = facilities.copy()
    styled[type_col] = styled[type_col].astype(object).where(styled[type_col].notna(), UNTYPED)
    styled["_type_zh"] = styled[type_col].astype(str).map(facility_type_name)
    styled["_status_zh"] = styled[status_col].map(FACILITY_STATUS_ZH).fillna(styled[status_col])
    styled["_capacity"] = styled.apply(_capacity_text, axis=1)
    styled["_town"] = _town_names(facilities, admin_units, admin_code_col)
    popup = {name_col: "名称", "_type_zh": "类型", "_status_zh": "状态", "_capacity": "规模",
             "_town": "镇街"}
    layers, legend = [], []
    for key, group in styled.groupby(styled[type_col].astype(str), sort=True):
        color = type_color(key)

        def style(row: pd.Series, color: str = color) -> dict[str, Any]:
            base = {"color": color, "fillColor": color, "radius": 5}
            return base | _STATUS_STYLE.get(row[status_col], {})

        label = f"{facility_type_name(str(key))}（{len(group)}）"
        show = shown_types is None or key in shown_types
        layers.append(add_layer(m, group, name=label, layer_id=f"facilities-{key}", show=show,
                                style=style, popup_fields=popup, tooltip_field=name_col))
        legend.append((color, facility_type_name(str(key))))
    add_legend(m, "设施类型（实心=现有，虚线=在建/规划/拟建）", legend)
    return layers


def add_service_areas(
    m: folium.Map,
    areas: gpd.GeoDataFrame,
    *,
    type_col: str = "facility_type",
    minutes: float | None = 15,
    show: bool = False,
) -> list[folium.GeoJson]:
    """Add service-area polygons (walking reach of each facility), one layer per type.

    Parameters
    ----------
    areas
        Polygons with a facility ``type`` column, or indexed by type (as
        :func:`geoplan.access.service_areas` returns them with ``dissolve_by="facility_type"``).
    minutes
        Walking time the areas stand for, used in the layer name (``None``: no time).
    show
        Whether the layers are on when the map opens (off by default: they overlap).

    Returns
    -------
    list of folium.GeoJson
        Ids ``service-areas-<type>``.
    """
    if type_col not in areas.columns:  # dissolved by type: the type is the index
        keys = list(areas.index.astype(str))
        areas = areas.reset_index(drop=True)
        areas[type_col] = keys
    layers = []
    metric = areas.crs is not None and areas.crs.is_projected  # degrees: drawn unsimplified
    keys = areas[type_col].astype(object).where(areas[type_col].notna(), UNTYPED).astype(str)
    for key, group in areas.groupby(keys, sort=True):
        color = type_color(key)
        when = f"{minutes:g}分钟" if minutes is not None else ""
        layers.append(add_layer(
            m, group, name=f"{facility_type_name(str(key))}{when}服务范围",
            layer_id=f"service-areas-{key}", show=show, simplify_tolerance_m=2.0 * metric,
            style={"color": color, "weight": 1, "fillColor": color, "fillOpacity": 0.15},
        ))
    return layers
