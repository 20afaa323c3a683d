"""The register of proposed sites: what a surveyor needs to find each site, and why it is there.

:func:`site_register` turns the chosen sites of one facility type (ranked, in the study's
CGCS2000 Gauss-Krüger CRS) into one row per site:

- a readable id, 镇街 + type + number (``青阳街道-养老服务站-03``), numbered within the
  镇街 and type in rank order, so the same answer always gets the same ids;
- the coordinates in the Gauss-Krüger CRS (east X, north Y, metres, with its EPSG code), in
  WGS 84 lon/lat and in GCJ-02 lon/lat for a lookup in 高德地图 (:mod:`geoplan.crs`);
- the 镇街 and 社区/村 it lies in (point in polygon, nested by ``parent_code`` as the
  coverage tables count people: :func:`geoplan.access.assign_units`);
- the people (常住人口, 户数, 60+, 80+) it newly covers in each tier: covered by this site
  and by no existing or earlier-ranked site (:func:`marginal_gains`), so the rows of a tier
  add up to what the whole set adds to the coverage;
- the nearest existing facility of the same type, with the walking distance and time over
  the network (from :func:`geoplan.access.nearest_facility_time`).

The columns keep machine names (for GeoPackage and ``--lang en``); :func:`register_headers_zh`
gives their Chinese headers for the workbook and the KML descriptions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyproj import CRS

from geoplan.access import assign_units
from geoplan.crs import require_metric, wgs84_to_gcj02
from geoplan.errors import Problem, SchemaError, require_columns
from geoplan.schema import FACILITY_STATUSES, FACILITY_TYPES
from geoplan.siting.base import check_reach, coverage_from_reach
from geoplan.siting.tables import marginal_gains

__all__ = ["SITE_ID_TYPES_ZH", "register_headers_zh", "site_id_text", "site_register",
           "tier_column"]

#: The type in a site's readable id: short, without ``/`` or brackets (a file name, a label).
SITE_ID_TYPES_ZH = {
    "elderly_station": "养老服务站",
    "senior_canteen": "长者食堂",
    "columbarium": "骨灰堂",
    "social_work_station": "社工站",
    "day_care_center": "日间照料中心",
    "nursing_home": "养老机构",
    "community_center": "社区服务设施",
    "children_home": "儿童之家",
    "health_station": "卫生服务站",
    "minor_protection_station": "未成年人保护站",
    "care_center": "综合养老服务中心",
}
#: The id's 镇街 part for a site that lies in no 镇街 of the unit layer.
OUTSIDE_TOWN_ZH = "镇街外"
_MEASURES_ZH = {"pop": "常住人口", "households": "户数", "pop_60plus": "60岁以上人口",
                "pop_80plus": "80岁以上人口"}
_COUNTS = tuple(_MEASURES_ZH)


def tier_column(measure: str, tier_min: float) -> str:
    """Return the column of what a site newly covers of ``measure`` in a tier (``new_pop_5min``)."""
    return f"new_{measure}_{tier_min:g}min"


def site_id_text(town: str, facility_type: str, number: int, width: int = 2) -> str:
    """Return a readable site id: ``青阳街道-养老服务站-03``.

    Parameters
    ----------
    town
        Name of the 镇街 the site lies in (empty: the id has no 镇街 part).
    facility_type
        Facility type key (``elderly_station``) or a Chinese name.
    number
        The site's number within the 镇街 and type (1 = ranked first there).
    width
        Digits of the number, zero-padded.
    """
    kind = SITE_ID_TYPES_ZH.get(facility_type)
    if kind is None:
        kind = FACILITY_TYPES[facility_type].name_zh if facility_type in FACILITY_TYPES \
            else str(facility_type)
        kind = kind.split("/")[0].replace("(", "").replace(")", "")
    parts = [town, kind, f"{number:0{width}d}"] if town else [kind, f"{number:0{width}d}"]
    return "-".join(parts)


def _unit_names(units: gpd.GeoDataFrame) -> dict[str, str]:
    """Code → name, a 镇街 name that repeats under another code made unique by its code."""
    codes = units["code"].astype(str)
    names = units["name"].astype(str)
    repeated = names.duplicated(keep=False) & ~codes.duplicated(keep=False)
    shown = names.where(~repeated, names + "（" + codes + "）")
    return dict(zip(codes, shown, strict=True))


def _places(sites: gpd.GeoDataFrame, units: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """Return the 镇街 and 社区/村 (code and name) each site lies in."""
    out = pd.DataFrame({"town_code": None, "town_name": None, "village_code": None,
                        "village_name": None}, index=sites.index, dtype=object)
    if units is None or not len(units) or not len(sites):
        return out
    require_columns(units, ["code", "name", "level"], "admin units")
    assigned = assign_units(sites, units)
    names = _unit_names(units)
    for level in ("town", "village"):
        if level in assigned.columns:
            codes = [c if isinstance(c, str) else None for c in assigned[level]]
            out[f"{level}_code"] = pd.Series(codes, index=out.index, dtype=object)
            out[f"{level}_name"] = pd.Series([names.get(c) if c else None for c in codes],
                                             index=out.index, dtype=object)
    return out


def _readable_ids(town_names: pd.Series, facility_type: str, has_towns: bool) -> list[str]:
    """Return readable ids, numbering the sites within their 镇街 in rank order."""
    towns = town_names.fillna(OUTSIDE_TOWN_ZH if has_towns else "").astype(str)
    numbers = towns.groupby(towns, sort=False).cumcount() + 1
    width = max(2, len(str(int(numbers.max())))) if len(numbers) else 2
    return [site_id_text(t, facility_type, int(n), width)
            for t, n in zip(towns, numbers, strict=True)]


def _gk_label(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"{crs.name}（EPSG:{epsg}）" if epsg else crs.name


def site_register(
    sites: gpd.GeoDataFrame,
    demand: pd.DataFrame,
    reach: sp.spmatrix,
    tiers_m: Mapping[float, float],
    *,
    facility_type: str,
    existing_reach: sp.spmatrix | None = None,
    units: gpd.GeoDataFrame | None = None,
    nearest: pd.DataFrame | None = None,
    existing: pd.DataFrame | None = None,
    columns: Sequence[str] = _COUNTS,
) -> gpd.GeoDataFrame:
    """Build the register of proposed sites of one type: ids, coordinates, places, gains.

    Parameters
    ----------
    sites
        The chosen sites in rank order (first = ranked first), points in the study's
        CGCS2000 Gauss-Krüger CRS; the index is the candidate id (``cluster-199``).
    demand
        Population cells aligned with the columns of ``reach`` (the one denominator per
        unit: :func:`geoplan.study.denominators.one_denominator_per_unit`).
    reach
        Sites × demand walking metres (:func:`geoplan.access.reach_matrix`), rows in the
        order of ``sites``, searched to at least the largest tier distance.
    tiers_m
        Tier (minutes) → walking distance (metres), e.g. ``{5: 300, 10: 500, 15: 900}``
        (:func:`geoplan.access.tier_reach_m`).
    facility_type
        The type of the sites (``elderly_station``).
    existing_reach
        Existing sites × demand walking metres, to the same distance (fixed sites: what
        they cover is not new); ``None``: no existing site.
    units
        Admin units (``code``, ``name``, ``level`` town/village, ``parent_code``), same CRS.
    nearest
        The sites' nearest existing facility of the type,
        ``nearest_facility_time(network, sites, existing, types=[facility_type])``, indexed
        like ``sites``.
    existing
        The existing facilities (index = facility id, ``name``, ``status``), to name the
        nearest one.
    columns
        Counts of ``demand`` to report (those present are used).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per site, in rank order, indexed by the readable ``site_id``: ``site_id``,
        ``rank``, ``facility_type``, ``type_name`` (Chinese), ``town_code``, ``town_name``,
        ``village_code``, ``village_name``, ``x_east_m`` and ``y_north_m`` (Gauss-Krüger),
        ``gk_crs`` (its name and EPSG code), ``lon_wgs84``, ``lat_wgs84``, ``lon_gcj02``,
        ``lat_gcj02``, per tier and count ``new_<count>_<tier>min``, ``nearest_id``,
        ``nearest_name``, ``nearest_status`` (已建/在建), ``nearest_dist_m``, ``nearest_time_min``,
        ``candidate_id`` and the geometry (in ``sites``' CRS).

    Raises
    ------
    CRSError
        If ``sites`` is not in a metric CRS.
    SchemaError
        If ``reach`` does not have one row per site or one column per demand cell, or a
        facility type is unknown.

    Examples
    --------
    >>> import geopandas as gpd, scipy.sparse as sp
    >>> sites = gpd.GeoDataFrame(geometry=gpd.points_from_xy([500_000.0], [2_740_000.0]),
    ...                          index=["cluster-7"], crs=4549)
    >>> cells = pd.DataFrame({"pop": [120, 80], "pop_60plus": [30, 10]})
    >>> reach = sp.csr_matrix([[250.0, 700.0]])
    >>> table = site_register(sites, cells, reach, {5: 300, 15: 900},
    ...                       facility_type="elderly_station")
    >>> table.index[0], int(table["new_pop_5min"].iloc[0]), int(table["new_pop_15min"].iloc[0])
    ('养老服务站-01', 120, 200)
    """
    crs = require_metric(sites, "proposed sites")
    if facility_type not in FACILITY_TYPES:
        raise SchemaError("proposed sites", [Problem(f"unknown facility type {facility_type!r}")])
    columns = [c for c in columns if c in demand.columns]
    R = check_reach(reach, "proposed sites", len(demand))
    if R.shape[0] != len(sites):
        raise SchemaError("proposed sites", [Problem(
            f"the reach matrix has {R.shape[0]} rows for {len(sites)} sites")])
    E = None if existing_reach is None else check_reach(existing_reach, "existing sites",
                                                        len(demand))
    values = {c: pd.to_numeric(demand[c]).to_numpy(float) for c in columns}
    places = _places(sites, units)
    has_towns = units is not None and bool((units["level"].astype(str) == "town").any())
    ids = _readable_ids(places["town_name"], facility_type, has_towns)
    points = sites.geometry.representative_point()
    lonlat = points.to_crs(4326)
    lon, lat = lonlat.x.to_numpy(), lonlat.y.to_numpy()
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    table = pd.DataFrame({
        "site_id": ids,
        "rank": np.arange(1, len(sites) + 1),
        "facility_type": facility_type,
        "type_name": FACILITY_TYPES[facility_type].name_zh,
        **{c: places[c].to_numpy() for c in places.columns},
        "x_east_m": points.x.round(2).to_numpy(),
        "y_north_m": points.y.round(2).to_numpy(),
        "gk_crs": _gk_label(crs),
        "lon_wgs84": np.round(lon, 7), "lat_wgs84": np.round(lat, 7),
        "lon_gcj02": np.round(np.asarray(gcj_lon, float), 7),
        "lat_gcj02": np.round(np.asarray(gcj_lat, float), 7),
    })
    order = np.arange(len(sites))
    for tier, max_m in sorted(tiers_m.items()):
        covered = np.zeros(len(demand), bool)
        if E is not None:
            covered = np.asarray(coverage_from_reach(E, max_m).sum(axis=0)).ravel() > 0
        gains = marginal_gains(coverage_from_reach(R, max_m), order, covered, values)
        for c in columns:  # float32 grids: 4.00000003 people is 4
            table[tier_column(c, tier)] = np.round(gains[c], 6)
    table = table.join(_nearest(nearest, existing, facility_type, sites.index))
    table["candidate_id"] = [str(i) for i in sites.index]
    for col in (c for c in table.columns if c.startswith("new_")):
        if (table[col] == table[col].round()).all():
            table[col] = table[col].astype("int64")
    out = gpd.GeoDataFrame(table, geometry=sites.geometry.to_numpy(), crs=sites.crs)
    out.index = pd.Index(ids, name="site_id")
    return out


def _nearest(nearest: pd.DataFrame | None, existing: pd.DataFrame | None, facility_type: str,
             index: pd.Index) -> pd.DataFrame:
    """Return the nearest existing facility of each site: id, name, status, metres, minutes."""
    out = pd.DataFrame({"nearest_id": None, "nearest_name": None, "nearest_status": None,
                        "nearest_dist_m": np.nan, "nearest_time_min": np.nan},
                       index=range(len(index)))
    out[["nearest_id", "nearest_name", "nearest_status"]] = out[
        ["nearest_id", "nearest_name", "nearest_status"]].astype(object)
    if nearest is None or f"{facility_type}_facility" not in nearest.columns:
        return out
    found = nearest if nearest.index.equals(index) else nearest.reindex(index)
    ids = found[f"{facility_type}_facility"]
    out["nearest_id"] = [str(i) if isinstance(i, str) or pd.notna(i) else None for i in ids]
    out["nearest_dist_m"] = found[f"{facility_type}_dist_m"].round(0).to_numpy()
    out["nearest_time_min"] = found[f"{facility_type}_time_min"].round(1).to_numpy()
    if existing is not None and len(existing):
        for col, target in (("name", "nearest_name"), ("status", "nearest_status")):
            if col in existing.columns:
                lookup = dict(zip(existing.index.astype(str), existing[col], strict=False))
                out[target] = [lookup.get(i) if i is not None else None
                               for i in out["nearest_id"]]
        out["nearest_status"] = out["nearest_status"].map(
            lambda s: FACILITY_STATUSES.get(s, s) if isinstance(s, str) else None)
    return out


def register_headers_zh(tiers_min: Sequence[float],
                        columns: Sequence[str] = _COUNTS) -> dict[str, str]:
    """Chinese headers of the register's columns (workbook sheet 建议选址, KML descriptions)."""
    headers = {
        "site_id": "选址编号",
        "rank": "建议顺序",
        "facility_type": "设施类型代码",
        "type_name": "设施类型",
        "town_code": "镇街代码",
        "town_name": "所在镇街",
        "village_code": "社区/村代码",
        "village_name": "所在社区/村",
        "x_east_m": "X 东坐标（米）",
        "y_north_m": "Y 北坐标（米）",
        "gk_crs": "平面坐标系（名称与 EPSG 代码）",
        "lon_wgs84": "经度（WGS84）",
        "lat_wgs84": "纬度（WGS84）",
        "lon_gcj02": "经度（GCJ-02，高德地图查询用）",
        "lat_gcj02": "纬度（GCJ-02，高德地图查询用）",
        "nearest_id": "最近现有同类设施编号",
        "nearest_name": "最近现有同类设施名称",
        "nearest_status": "最近同类设施状态",
        "nearest_dist_m": "至最近同类设施步行距离（米）",
        "nearest_time_min": "至最近同类设施步行时间（分钟）",
        "candidate_id": "候选点编号",
    }
    for tier in tiers_min:
        for c in columns:
            headers[tier_column(c, tier)] = f"{tier:g}分钟新增覆盖{_MEASURES_ZH.get(c, c)}"
    return headers
