"""Facility layers of geoplan's maps: one layer per type, status as marker style; service areas."""

from __future__ import annotations

import zlib
from collections.abc import Collection
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
import shapely

from geoplan._text import codes_text
from geoplan.errors import OutputError, require_columns
from geoplan.maps._core import add_layer
from geoplan.maps._legend import add_legend
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
    return codes.map(by_code).astype(object).fillna("—")


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
        legend.append((color, facility_type_name(str(key)), layers[-1]))
    add_legend(m, "设施类型（实心=现有，虚线=在建/规划/拟建）", legend)
    return layers


#: Fill opacity of one service-area tier; nested tiers stack, so shorter tiers look darker.
_TIER_OPACITY = 0.2


def _fill_small_holes(geom: shapely.Geometry, min_hole_m2: float) -> shapely.Geometry:
    """Return ``geom`` without the interior rings smaller than ``min_hole_m2``."""
    if min_hole_m2 <= 0 or geom is None or geom.is_empty:
        return geom
    polygons = [shapely.Polygon(p.exterior, [r for r in p.interiors
                                             if shapely.Polygon(r).area >= min_hole_m2])
                for p in shapely.get_parts(geom) if isinstance(p, shapely.Polygon)]
    if not polygons:
        return geom
    return polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)


def _tier_swatch(color: str, layers_over: int) -> str:
    """Return the colour of a place under ``layers_over`` stacked tiers, as CSS ``rgba``."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    alpha = 1 - (1 - _TIER_OPACITY) ** layers_over
    return f"rgba({r},{g},{b},{alpha:.2f})"


def add_service_areas(
    m: folium.Map,
    areas: gpd.GeoDataFrame,
    *,
    type_col: str = "facility_type",
    tier_col: str = "tier_min",
    minutes: float | None = 15,
    show: bool = False,
    shown_types: Collection[str] | None = None,
    simplify_tolerance_m: float = 20.0,
    min_hole_m2: float = 40_000.0,
    color: str | None = None,
) -> list[folium.GeoJson]:
    """Add filled service-area polygons (walking reach of facilities), one layer per type.

    With several tiers (a ``tier_col`` column or index level, as
    :func:`geoplan.access.service_areas` gives for ``tiers_min=[5, 10, 15]``), each type's
    layer holds one filled polygon per tier, longest first, in the type's colour: the
    tiers stack, so the 5-minute area is the darkest and the longest tier the lightest. The
    legend panel shows the tiers of the layers that are on.

    Parameters
    ----------
    areas
        Polygons with a facility ``type`` column (or indexed by type, or by type and tier).
    tier_col
        Column or index level with the tier in minutes (``tier_min``); without it every
        polygon is one area of ``minutes``.
    minutes
        Walking time of areas without a tier, used in the layer name (``None``: no time).
    show
        Whether the layers are on when the map opens (off by default: they overlap).
    shown_types
        Types whose layers are on when the map opens (overrides ``show``).
    simplify_tolerance_m
        Drawn outlines are simplified by this many metres (layers in a metric CRS; layers
        in degrees are drawn as they are). Street-buffer outlines are intricate: 20 m
        keeps their shape at county and town scale and shrinks the page several times.
    min_hole_m2
        Holes smaller than this (square metres; default 4 ha, a city block) are filled for
        display: the block inside reached streets is within reach too.
    color
        One ``#rrggbb`` colour for every type (default: each type's own colour, as its
        facilities are drawn).

    Returns
    -------
    list of folium.GeoJson
        Ids ``service-areas-<type>``.
    """
    if isinstance(areas.index, pd.MultiIndex):  # by type and tier, as service_areas gives
        first = areas.index.names[0]
        areas = areas.reset_index()
        if type_col not in areas.columns:
            areas = areas.rename(columns={first if first is not None else "level_0": type_col})
    elif type_col not in areas.columns:  # dissolved by type: the type is the index
        keys = list(areas.index.astype(str))
        areas = areas.reset_index(drop=True)
        areas[type_col] = keys
    layers = []
    metric = areas.crs is not None and areas.crs.is_projected  # degrees: drawn unsimplified
    if metric and min_hole_m2 > 0:
        areas = areas.set_geometry([_fill_small_holes(g, min_hole_m2) for g in areas.geometry],
                                   crs=areas.crs)
    keys = areas[type_col].astype(object).where(areas[type_col].notna(), UNTYPED).astype(str)
    for key, group in areas.groupby(keys, sort=True):
        fill = color or type_color(key)
        label = facility_type_name(str(key))
        on = show if shown_types is None else key in shown_types
        tol = simplify_tolerance_m * metric
        if tier_col in group.columns:
            group = group.sort_values(tier_col, ascending=False)
            tiers = pd.to_numeric(group[tier_col]).tolist()
            name = f"{label}服务范围（{'/'.join(f'{t:g}' for t in sorted(tiers))}分钟）"
            layer = add_layer(
                m, group, name=name, layer_id=f"service-areas-{key}", show=on,
                simplify_tolerance_m=tol,
                style={"color": fill, "weight": 0.8, "fillColor": fill,
                       "fillOpacity": _TIER_OPACITY})
            reach = (pd.to_numeric(group["reach_m"]).tolist() if "reach_m" in group.columns
                     else [None] * len(tiers))
            rows = [(_tier_swatch(fill, len(tiers) - i),
                     f"{t:g}分钟" + (f"（{r:,.0f}米）" if r is not None else ""))
                    for i, (t, r) in enumerate(sorted(zip(tiers, reach, strict=True)))]
            add_legend(m, f"{label}步行服务范围", rows, layers=layer)
        else:
            when = f"{minutes:g}分钟" if minutes is not None else ""
            layer = add_layer(
                m, group, name=f"{label}{when}服务范围", layer_id=f"service-areas-{key}",
                show=on, simplify_tolerance_m=tol,
                style={"color": fill, "weight": 1, "fillColor": fill, "fillOpacity": 0.25})
            add_legend(m, f"{label}步行服务范围", [(_tier_swatch(fill, 1), when or "服务范围")],
                       layers=layer)
        layers.append(layer)
    return layers
