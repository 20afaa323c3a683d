"""Jinjiang demo: synthetic 民政 facilities (counts from the plan), Excel exports, summary.

Used by ``make_demo.py``. Facilities stand near streets of the synthetic network, inside
the town their ``admin_code`` names and at least 10 m from any town boundary (except the
one planted admin-code mismatch).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import tempfile
import zipfile
from pathlib import Path

import demo_admin as admin
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from openpyxl import Workbook

try:
    from geoplan.crs import wgs84_to_gcj02
except ImportError:  # pragma: no cover - the crs module is part of geoplan
    wgs84_to_gcj02 = None

NURSING_BEDS_TOTAL = 7_326
#: key -> (id prefix, Chinese name)
PREFIX = {
    "elderly_station": ("ES", "居家养老服务站"), "columbarium": ("CO", "公益性骨灰堂"),
    "social_work_station": ("SW", "社工站"), "senior_canteen": ("SC", "长者食堂"),
    "nursing_home": ("NH", "敬老院"), "day_care_center": ("DC", "日间照料中心"),
    "community_center": ("CC", "综合服务中心"), "children_home": ("CH", "儿童之家"),
    "minor_protection_station": ("MP", "未成年人保护工作站"),
}  # fmt: skip
NO_SOCIAL_WORK = ("350582106", "350582113", "350582400")
MINOR_PROTECTION_TOWNS = 12


def _status(rng: np.random.Generator, n: int, building: int, planned: int) -> list[str]:
    """``n`` statuses: mostly existing, ``building`` under construction, ``planned``."""
    s = ["existing"] * (n - building - planned) + ["building"] * building + ["planned"] * planned
    return [s[i] for i in rng.permutation(n)]


class _Placer:
    """Picks facility points near network nodes inside a given village and town."""

    def __init__(self, units: gpd.GeoDataFrame, grid: dict, edges: gpd.GeoDataFrame, rng):
        self.rng = rng
        xy = shapely.get_coordinates(edges.geometry.to_numpy())
        self.nodes = np.unique(np.round(xy, 3), axis=0)
        self.towns = units.loc[units.level == "town"].set_index("code").geometry
        self.villages = units.loc[units.level == "village"].set_index("code")
        self.edges_all = shapely.union_all(shapely.boundary(self.towns.to_numpy()))
        shapely.prepare(self.edges_all)
        tw = self.towns.to_numpy()
        pts = shapely.points(self.nodes)
        self.n_towns = shapely.contains(tw[:, None], pts[None, :]).sum(axis=0)
        t = grid["transform"]
        col = ((self.nodes[:, 0] - t.c) / t.a).astype(int)
        row = ((self.nodes[:, 1] - t.f) / t.e).astype(int)
        pop = grid["bands"]["pop"]
        ok = (row >= 0) & (row < pop.shape[0]) & (col >= 0) & (col < pop.shape[1])
        self.node_pop = np.where(
            ok, pop[np.clip(row, 0, pop.shape[0] - 1), np.clip(col, 0, pop.shape[1] - 1)], 0
        )
        self.used: set[tuple[float, float]] = set()

    def point(self, village: str, town: str, prefer: str = "dense") -> shapely.Point:
        """Pick a point near a street node in ``village``, in ``town``, 10 m from its edge."""
        poly = self.villages.geometry[village].intersection(self.towns[town])
        inside = shapely.contains_xy(poly, self.nodes[:, 0], self.nodes[:, 1]) & (self.n_towns == 1)
        cand = np.flatnonzero(inside)
        if len(cand):
            w = self.node_pop[cand] + 1.0
            w = w if prefer == "dense" else 1.0 / w
            order = self.rng.choice(cand, size=min(len(cand), 40), replace=False, p=w / w.sum())
        else:
            order = []
        for k in list(order) + [None] * 200:
            if k is None:
                base = shapely.get_coordinates(shapely.point_on_surface(poly))[0]
            else:
                base = self.nodes[k]
            ang, dist = self.rng.uniform(0, 2 * np.pi), self.rng.uniform(6.0, 22.0)
            p = shapely.Point(base[0] + dist * np.cos(ang), base[1] + dist * np.sin(ang))
            key = (round(p.x), round(p.y))
            if key in self.used or not poly.contains(p) or self.edges_all.distance(p) < 10.0:
                continue
            if sum(g.contains(p) for g in self.towns.to_numpy()) != 1:
                continue
            self.used.add(key)
            return p
        msg = f"no place found for a facility in {village}"
        raise RuntimeError(msg)


def build_facilities(units: gpd.GeoDataFrame, grid: dict, edges: gpd.GeoDataFrame, info: dict):
    """All synthetic facilities (EPSG:4549) and the planted admin-code mismatch."""
    rng = np.random.default_rng(admin.SEED + 7)
    place = _Placer(units, grid, edges, rng)
    vil = units.loc[units.level == "village"].sort_values("code").reset_index(drop=True)
    towns = units.loc[units.level == "town"].sort_values("code").set_index("code")
    rows: list[dict] = []

    def add(
        kind: str, village: str | None, town: str, name: str, status: str, prefer="dense", **cap
    ):
        v = village or _central_village(vil, town, info)
        rows.append(
            {
                "type": kind,
                "name": name,
                "status": status,
                "admin_code": town,
                "village_code": village or "",
                **cap,
                "geometry": place.point(v, town, prefer),
            }
        )

    def pick(mask: np.ndarray, n: int) -> pd.DataFrame:
        idx = np.sort(rng.choice(np.flatnonzero(mask), size=n, replace=False))
        return vil.iloc[idx]

    urban = (vil.kind == "社区").to_numpy()
    for (_, v), st in zip(
        pick(np.ones(len(vil), bool), 325).iterrows(), _status(rng, 325, 9, 6), strict=True
    ):
        area = round(float(rng.uniform(250, 800) if v.kind == "社区" else rng.uniform(120, 450)), 0)
        add(
            "elderly_station",
            v.code,
            v.parent_code,
            f"{v['name']}居家养老服务站",
            st,
            floor_area_m2=area,
        )
    for (_, v), st in zip(pick(~urban, 250).iterrows(), _status(rng, 250, 6, 4), strict=True):
        total = int(rng.integers(15, 80)) * 100
        used = 0 if st != "existing" else int(total * rng.uniform(0.3, 0.95))
        add(
            "columbarium",
            v.code,
            v.parent_code,
            f"{v['name']}公益性骨灰堂",
            st,
            prefer="sparse",
            niches_total=total,
            niches_used=used,
        )
    for code, t in towns.iterrows():
        if code not in NO_SOCIAL_WORK:
            add(
                "social_work_station",
                None,
                code,
                f"{t['name']}社会工作服务站",
                "existing",
                floor_area_m2=float(rng.integers(20, 50) * 10),
            )
    canteens = pd.concat([pick(urban, 24), pick(~urban, 12)]).sort_values("code")
    for (_, v), st in zip(canteens.iterrows(), _status(rng, 36, 5, 3), strict=True):
        seats = int(rng.integers(4, 17)) * 5
        add(
            "senior_canteen",
            v.code,
            v.parent_code,
            f"{v['name']}长者食堂",
            st,
            seats=seats,
            meals_per_day=int(seats * rng.uniform(1.5, 3.0)),
        )
    _add_nursing_homes(add, towns, vil, rng)
    for (_, v), st in zip(pick(urban, 24).iterrows(), _status(rng, 24, 2, 2), strict=True):
        add(
            "day_care_center",
            v.code,
            v.parent_code,
            f"{v['name']}日间照料中心",
            st,
            floor_area_m2=float(rng.integers(30, 120) * 10),
        )
    for _, v in pick(np.ones(len(vil), bool), 380).iterrows():
        per100 = rng.uniform(12, 60)
        area = max(150.0, round(v.households / 100 * per100, -1))
        label = "社区综合服务站" if v.kind == "社区" else "村级综合服务中心"
        add(
            "community_center",
            v.code,
            v.parent_code,
            f"{v['name']}{label}",
            "existing",
            floor_area_m2=area,
        )
    for _, v in pick(np.ones(len(vil), bool), 370).iterrows():
        add(
            "children_home",
            v.code,
            v.parent_code,
            f"{v['name']}儿童之家",
            "existing",
            floor_area_m2=float(rng.integers(5, 20) * 10),
        )
    mp_towns = np.sort(
        rng.choice(towns.index.to_numpy(), size=MINOR_PROTECTION_TOWNS, replace=False)
    )
    for k, code in enumerate(mp_towns):
        add(
            "minor_protection_station",
            None,
            code,
            f"{towns.loc[code, 'name']}未成年人保护工作站",
            "planned" if k % 6 == 5 else "existing",
            floor_area_m2=float(rng.integers(6, 20) * 10),
        )
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=admin.METRIC_EPSG)
    order = list(PREFIX)
    gdf["_o"] = gdf["type"].map(order.index)
    gdf = gdf.sort_values(["_o", "admin_code", "village_code", "name"], kind="stable").drop(
        columns="_o"
    )
    gdf["facility_id"] = [
        f"{PREFIX[t][0]}{k + 1:04d}"
        for t, k in zip(gdf["type"], gdf.groupby("type").cumcount(), strict=True)
    ]
    for col in ("beds", "nursing_beds", "seats", "meals_per_day", "niches_total", "niches_used"):
        gdf[col] = (
            pd.array(gdf[col], dtype="Int64")
            if col in gdf
            else pd.array([pd.NA] * len(gdf), dtype="Int64")
        )
    cols = [
        "facility_id",
        "type",
        "name",
        "status",
        "beds",
        "nursing_beds",
        "seats",
        "meals_per_day",
        "niches_total",
        "niches_used",
        "floor_area_m2",
        "admin_code",
        "village_code",
        "geometry",
    ]
    gdf = gdf[cols].reset_index(drop=True)
    # planted: one elderly station names the neighbouring town instead of its own
    k = int(gdf.index[gdf.facility_id == "ES0100"][0])
    own = gdf.loc[k, "admin_code"]
    others = towns.drop(index=own)
    neighbour = others.index[others.geometry.touches(towns.geometry[own])][0]
    gdf.loc[k, "admin_code"] = neighbour
    gdf.loc[k, "village_code"] = ""
    return gdf, [
        ("facility_admin_mismatch", "ES0100", f"lies in town {own} but admin_code says {neighbour}")
    ]


def _central_village(vil: pd.DataFrame, town: str, info: dict) -> str:
    """Code of the first community (社区) of a town, or its first village."""
    own = vil.loc[vil.parent_code == town].sort_values(["kind", "code"], ascending=[False, True])
    return str(own.code.iloc[0])


def _add_nursing_homes(add, towns: pd.DataFrame, vil: pd.DataFrame, rng) -> None:
    """Nursing homes whose beds total exactly 7,326: a welfare centre, town homes, private homes."""
    plan = [("350582001", "晋江市社会福利中心", 600.0)]
    for code, t in towns.iterrows():
        if t.kind == "镇":
            plan.append((code, f"{t['name']}敬老院", float(rng.uniform(60, 260))))
    private_towns = rng.choice(towns.index.to_numpy(), size=18, replace=True)
    for k, code in enumerate(private_towns):
        plan.append(
            (
                str(code),
                f"{admin.town_stem(towns.loc[code, 'name'])}颐养院{k + 1}号",
                float(rng.uniform(80, 420)),
            )
        )
    beds = admin_alloc(NURSING_BEDS_TOTAL, np.array([p[2] for p in plan]))
    for (code, name, _), b in zip(plan, beds, strict=True):
        own = vil.loc[vil.parent_code == code]
        v = own.code.iloc[int(rng.integers(len(own)))]
        add(
            "nursing_home",
            str(v),
            code,
            name,
            "existing",
            beds=int(b),
            nursing_beds=round(b * rng.uniform(0.4, 0.75)),
        )


def admin_alloc(total: int, weights: np.ndarray) -> np.ndarray:
    """Largest-remainder split of ``total`` over ``weights``."""
    from geoplan.population import allocate_integer_total

    return allocate_integer_total(weights, total)


def _to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84/CGCS2000 lon/lat to GCJ-02 (geoplan.crs, or the published formula)."""
    if wgs84_to_gcj02 is not None:
        return wgs84_to_gcj02(lon, lat)
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    dlat = (
        -100
        + 2 * x
        + 3 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(abs(x))
        + (20 * np.sin(6 * x * np.pi) + 20 * np.sin(2 * x * np.pi)) * 2 / 3
        + (20 * np.sin(y * np.pi) + 40 * np.sin(y / 3 * np.pi)) * 2 / 3
        + (160 * np.sin(y / 12 * np.pi) + 320 * np.sin(y * np.pi / 30)) * 2 / 3
    )
    dlon = (
        300
        + x
        + 2 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(abs(x))
        + (20 * np.sin(6 * x * np.pi) + 20 * np.sin(2 * x * np.pi)) * 2 / 3
        + (20 * np.sin(x * np.pi) + 40 * np.sin(x / 3 * np.pi)) * 2 / 3
        + (150 * np.sin(x / 12 * np.pi) + 300 * np.sin(x / 30 * np.pi)) * 2 / 3
    )
    rad = lat / 180 * np.pi
    magic = 1 - ee * np.sin(rad) ** 2
    dlat = dlat * 180 / ((a * (1 - ee)) / (magic * np.sqrt(magic)) * np.pi)
    dlon = dlon * 180 / (a / np.sqrt(magic) * np.cos(rad) * np.pi)
    return lon + dlon, lat + dlat


def _save_workbook(wb: Workbook, path: Path) -> None:
    """Save a workbook atomically, with fixed zip timestamps (byte-identical reruns)."""
    buffer = io.BytesIO()
    wb.save(buffer)
    fixed = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(fixed, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=(2025, 12, 31, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            data = src.read(item.filename)
            if item.filename == "docProps/core.xml":  # openpyxl stamps the save time
                stamp = rb"\g<1>2025-12-31T00:00:00Z"
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", stamp, data)
            dst.writestr(info, data)
    fd, tmp = tempfile.mkstemp(suffix=".xlsx", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(fixed.getvalue())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_canteen_excel(fac: gpd.GeoDataFrame, towns: gpd.GeoDataFrame, path: Path) -> None:
    """Write a copy of 12 senior canteens as an Excel sheet with Chinese headers, GCJ-02 lon/lat."""
    sub = fac.loc[fac["type"] == "senior_canteen"].head(12).to_crs(4490)
    lon, lat = _to_gcj02(sub.geometry.x.to_numpy(), sub.geometry.y.to_numpy())
    names = towns.set_index("code")["name"]
    wb = Workbook()
    ws = wb.active
    ws.title = "长者食堂"
    ws.append(["名称", "类型", "经度", "纬度", "餐位", "所属镇街"])
    for (_, r), x, y in zip(sub.iterrows(), lon, lat, strict=True):
        ws.append(
            [
                r["name"],
                "长者食堂",
                round(float(x), 6),
                round(float(y), 6),
                int(r.seats),
                names[r.admin_code],
            ]
        )
    wb.properties.title = "晋江示例长者食堂(合成数据, GCJ-02 坐标)"
    wb.properties.creator = "geoplan demo (synthetic)"
    wb.properties.created = dt.datetime(2025, 12, 31)
    wb.properties.modified = dt.datetime(2025, 12, 31)
    _save_workbook(wb, path)


def project_anchors(units: gpd.GeoDataFrame, grid: dict) -> list[tuple[str, float, float]]:
    """Six project sites: the centre of a large village in six different towns."""
    towns = units.loc[units.level == "town"].sort_values("code")
    vil = units.loc[units.level == "village"]
    out = []
    for code in towns.code.iloc[[0, 6, 8, 11, 14, 16]]:
        v = vil.loc[vil.parent_code == code].sort_values("code")
        big = v.loc[v.area.idxmax()]
        c = shapely.get_point(shapely.maximum_inscribed_circle(big.geometry, 10.0), 0)
        out.append((towns.set_index("code").name[code], c.x, c.y))
    return out


def report(units, grid, fac, lines, markers, edges, ref_date) -> None:
    """Print the totals of what was generated (for the commit message / README)."""
    b = grid["bands"]
    print(
        "population",
        int(b["pop"].sum()),
        "urban",
        int(b["pop"][b["urban"] == 1].sum()),
        "60+",
        int(b["pop_60plus"].sum()),
        "80+",
        int(b["pop_80plus"].sum()),
        "households",
        int(b["households"].sum()),
    )
    print(
        "towns",
        int((units.level == "town").sum()),
        "villages",
        int((units.level == "village").sum()),
        units.loc[units.level == "village", "kind"].value_counts().to_dict(),
    )
    print("facilities", fac["type"].value_counts().sort_index().to_dict())
    print(
        "nursing beds",
        int(fac.loc[fac["type"] == "nursing_home", "beds"].sum()),
        "nursing-type",
        int(fac.loc[fac["type"] == "nursing_home", "nursing_beds"].sum()),
    )
    print(
        "lines",
        len(lines),
        "markers",
        len(markers),
        "network edges",
        len(edges),
        "km",
        round(edges.length.sum() / 1000, 1),
        "reference date",
        ref_date,
    )
