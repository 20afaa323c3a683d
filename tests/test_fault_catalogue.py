"""A catalogue of bad inputs and faults, each run through ``geoplan run`` on a small study.

Every case breaks one thing of a complete study (the study file, a layer, the population
raster, the walking network, the marker register, the siting settings, the output folder) or
plants text meant to be run as a formula. Each case states the exit code and what the message
must say; every case also checks that no input changed, and that a rejected run left the
previous outputs byte for byte as they were. The faults that need root (a read-only folder, a
full disk, a killed run) are in ``test_faults_as_root.py``.
"""

from __future__ import annotations

import hashlib
import html
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import prcoords
import pytest
import rasterio
import shapely
import small_study as ss
from openpyxl import load_workbook
from typer.testing import CliRunner

from geoplan.cli import app

runner = CliRunner()

STUDY = """
[study]
name = "晋江市局部（测试）"
admin_code = "350582"
reference_date = 2025-12-31

[walking]
tiers_min = [5, 15]

[coverage]

[standards]
profile = "jinjiang"
registry = "none"

[boundary]

[layers.study_area]
path = "boundaries/area.gpkg"
layer = "study_area"
coords = "cgcs2000"

[layers.towns]
path = "boundaries/units.gpkg"
layer = "towns"
coords = "cgcs2000"

[layers.villages]
path = "boundaries/units.gpkg"
layer = "villages"
coords = "cgcs2000"

[layers.facilities]
path = "facilities/facilities.gpkg"
coords = "cgcs2000"

[layers.canteens]
kind = "facilities"
path = "facilities/canteens.xlsx"
sheet = "长者食堂"
coords = "gcj02"

[layers.population]
path = "pop.tif"
coords = "EPSG:4549"

[layers.boundary_lines]
path = "boundaries/lines.gpkg"
coords = "cgcs2000"

[layers.boundary_markers]
path = "boundaries/markers.xlsx"
coords = "EPSG:4549"

[tables.inspection_rounds]
path = "boundaries/rounds.csv"

[network]
path = "grid.gpkg"
coords = "EPSG:4549"
"""
SITING = """
[siting]
n_candidates = 4

[siting.types.social_work_station]
new_sites = 2
"""


# --------------------------------------------------------------------------- case builders
Edit = Callable[[Path], None]


def toml(old: str, new: str) -> Edit:
    def edit(folder: Path) -> None:
        path = folder / "study.toml"
        text = path.read_text(encoding="utf-8")
        assert old in text, old
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return edit


def append(text: str) -> Edit:
    def edit(folder: Path) -> None:
        path = folder / "study.toml"
        path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")
    return edit


def drop(section: str) -> Edit:
    def edit(folder: Path) -> None:
        path = folder / "study.toml"
        text = path.read_text(encoding="utf-8")
        start = text.index(section)
        end = text.find("\n[", start + 3)
        path.write_text(text[:start] + (text[end + 1:] if end >= 0 else ""), encoding="utf-8")
    return edit


def chain(*edits: Edit) -> Edit:
    def edit(folder: Path) -> None:
        for e in edits:
            e(folder)
    return edit


def raw(name: str, data: bytes) -> Edit:
    def edit(folder: Path) -> None:
        (folder / name).write_bytes(data)
    return edit


def truncate(name: str, keep: int) -> Edit:
    def edit(folder: Path) -> None:
        path = folder / name
        path.write_bytes(path.read_bytes()[:keep])
    return edit


def units(change: Callable[[gpd.GeoDataFrame, gpd.GeoDataFrame],
                           tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]]) -> Edit:
    def edit(folder: Path) -> None:
        file = folder / "boundaries" / "units.gpkg"
        towns, villages = (gpd.read_file(file, layer=n) for n in ("towns", "villages"))
        towns, villages = change(towns, villages)
        file.unlink()
        towns.to_file(file, layer="towns")
        villages.to_file(file, layer="villages")
    return edit


def excel(name: str, table: pd.DataFrame, *, sheet: str = "Sheet1") -> Edit:
    def edit(folder: Path) -> None:
        table.to_excel(folder / name, sheet_name=sheet, index=False)
    return edit


def extra_facilities(table: pd.DataFrame, coords: str = "wgs84", more: str = "") -> Edit:
    """Add the table as ``facilities/extra.xlsx``, a second facility layer."""
    return chain(excel("facilities/extra.xlsx", table),
                 append(f'\n[layers.extra]\nkind = "facilities"\npath = "facilities/extra.xlsx"\n'
                        f'coords = "{coords}"\n{more}'))


def raster(change: Callable[[np.ndarray], np.ndarray], crs: str | None = None) -> Edit:
    def edit(folder: Path) -> None:
        path = folder / "pop.tif"
        with rasterio.open(path) as src:
            profile, bands = src.profile, src.read()
            names = [src.descriptions[i] for i in range(src.count)]
        if crs is not None:
            profile["crs"] = crs
        bands = change(bands)
        profile["dtype"] = bands.dtype.name
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(bands)
            for i, n in enumerate(names, start=1):
                dst.set_band_description(i, n)
    return edit


def _on(bands: np.ndarray, index: tuple, value: float) -> np.ndarray:
    bands = bands.astype("float64")
    bands[index] = value
    return bands


def _stations(n: int, *, offset: bool = False) -> pd.DataFrame:
    """``n`` 养老服务站 on the grid's streets (WGS-84), or their GCJ-02 (高德) coordinates."""
    gx, gy = ss.metric(118.50, 24.74)  # the grid's first corner: streets every 250 m
    xs = gx + 1000.0 + 250.0 * (np.arange(n) % 8) + 100.0  # on a street between corners
    ys = gy + 1000.0 + 250.0 * (np.arange(n) // 8)
    lonlat = gpd.GeoSeries(gpd.points_from_xy(xs, ys), crs=ss.EPSG).to_crs(4490)
    lon, lat = lonlat.x.to_numpy(), lonlat.y.to_numpy()
    if offset:
        shifted = [prcoords.wgs_gcj(prcoords.Coords(la, lo)) for lo, la in zip(lon, lat,
                                                                             strict=True)]
        lon, lat = np.array([c.lon for c in shifted]), np.array([c.lat for c in shifted])
    return pd.DataFrame({"名称": [f"站{i}" for i in range(n)], "类型": "养老服务站",
                         "经度": lon, "纬度": lat})


def _town_named(name: str) -> Edit:
    return units(lambda t, v: (t.assign(name=[name, "梅岭街道"]), v))


# --------------------------------------------------------------------------- the catalogue
@dataclass(frozen=True)
class Case:
    id: str
    edit: Edit
    code: int
    says: str = ""


VALID = 0
BAD_INPUT = 3

CASES = [
    Case("valid study", lambda f: None, VALID),
    # -- the study file
    Case("toml: syntax error", append("\n[walking\n"), BAD_INPUT, "not a valid TOML file"),
    Case("toml: no [study]", drop("[study]"), BAD_INPUT, r"study: Field required"),
    Case("toml: saved as GBK", lambda f: (f / "study.toml").write_bytes(
        (f / "study.toml").read_text(encoding="utf-8").encode("gbk")), BAD_INPUT,
        "not UTF-8"),
    Case("toml: with a BOM", lambda f: (f / "study.toml").write_bytes(
        b"\xef\xbb\xbf" + (f / "study.toml").read_bytes()), VALID),
    Case("toml: unknown section", append("\n[sitting]\n"), BAD_INPUT, r"sitting: unknown key"),
    Case("toml: unknown key", toml("[coverage]", "[coverage]\ntiers = [5]"), BAD_INPUT,
         r"coverage\.tiers: unknown key"),
    Case("toml: admin code of 5 digits", toml('admin_code = "350582"', 'admin_code = "35058"'),
         BAD_INPUT, "admin_code"),
    Case("toml: date not a date", toml("reference_date = 2025-12-31",
                                       'reference_date = "年底"'), BAD_INPUT,
         "reference_date"),
    Case("toml: metric_crs Web Mercator", toml('admin_code = "350582"',
                                               'admin_code = "350582"\nmetric_crs = "EPSG:3857"'),
         BAD_INPUT, "metric_crs"),
    Case("toml: metric_crs of another zone", toml(
        'admin_code = "350582"', 'admin_code = "350582"\nmetric_crs = "EPSG:4545"'),
        BAD_INPUT, "distorts distances"),
    Case("toml: tiers not increasing", toml("tiers_min = [5, 15]", "tiers_min = [15, 5]"),
         BAD_INPUT, "strictly increasing"),
    Case("toml: walking speed 0", toml("tiers_min = [5, 15]",
                                       "tiers_min = [5, 15]\nspeed_m_per_min = 0"),
         BAD_INPUT, "speed_m_per_min"),
    Case("toml: layer without path", toml('path = "boundaries/lines.gpkg"\n', ""), BAD_INPUT,
         r"layers\.boundary_lines\.path: path is required"),
    Case("toml: layer file missing", toml('path = "boundaries/lines.gpkg"',
                                          'path = "boundaries/no_lines.gpkg"'), BAD_INPUT,
         "file not found"),
    Case("toml: coords missing", toml('path = "boundaries/lines.gpkg"\ncoords = "cgcs2000"\n',
                                      'path = "boundaries/lines.gpkg"\n'), BAD_INPUT,
         "coords is required"),
    Case("toml: coords unknown", toml('coords = "gcj02"', 'coords = "mars"'), BAD_INPUT,
         "mars"),
    Case("toml: Xian 1980 refused", toml('path = "boundaries/lines.gpkg"\ncoords = "cgcs2000"',
                                         'path = "boundaries/lines.gpkg"\ncoords = "EPSG:2383"'),
         BAD_INPUT, "Xian|西安|1980"),
    Case("toml: layer kind unknown", toml('kind = "facilities"', 'kind = "shops"'), BAD_INPUT,
         "kind"),
    Case("toml: a layer name that is no kind", toml("[layers.boundary_lines]",
                                                    "[layers.lines]"), BAD_INPUT,
         r"layers \['lines'\] need kind"),
    Case("toml: two outlines", append('\n[layers.outline]\nkind = "study_area"\n'
                                      'path = "boundaries/area.gpkg"\ncoords = "cgcs2000"\n'),
         BAD_INPUT, "only one study_area"),
    Case("toml: type on a unit layer", toml('layer = "towns"', 'layer = "towns"\ntype = "幸福院"'),
         BAD_INPUT, "facility layers only"),
    Case("toml: unknown profile", toml('profile = "jinjiang"', 'profile = "atlantis"'),
         BAD_INPUT, "atlantis"),
    Case("toml: profile file missing", toml('profile = "jinjiang"', 'profile = "my_rules.toml"'),
         BAD_INPUT, "file not found"),
    Case("toml: unknown registry", toml('registry = "none"', 'registry = "moon_15th"'),
         BAD_INPUT, "moon_15th"),
    Case("toml: tianditu without a key", append('\n[map]\nbasemap = "tianditu"\n'), BAD_INPUT,
         "天地图"),
    Case("toml: unknown basemap", append('\n[map]\nbasemap = "google"\n'), BAD_INPUT,
         "basemap"),
    Case("toml: two network sources", toml('path = "grid.gpkg"', 'path = "grid.gpkg"\n'
                                                                  'synthetic = "jinjiang"'),
         BAD_INPUT, "exactly one of path, synthetic, osm_place"),
    Case("toml: network path without coords", toml('path = "grid.gpkg"\ncoords = "EPSG:4549"',
                                                   'path = "grid.gpkg"'), BAD_INPUT,
         "network path needs coords"),
    Case("toml: no reference date with standards", toml("reference_date = 2025-12-31\n", ""),
         BAD_INPUT, "reference_date"),
    Case("toml: coverage of an unknown type", toml("[coverage]",
                                                   '[coverage]\ntypes = ["spaceport"]'),
         BAD_INPUT, "spaceport"),
    Case("toml: alias to an unknown type", append('\n[types]\naliases = { "老人家" = "moon" }\n'),
         BAD_INPUT, "moon"),
    Case("toml: boundary tolerance negative", toml("[boundary]", "[boundary]\n"
                                                                 "marker_to_line_m = -1"),
         BAD_INPUT, "marker_to_line_m"),
    Case("toml: tables file missing", toml('path = "boundaries/rounds.csv"',
                                           'path = "boundaries/no_rounds.csv"'), BAD_INPUT,
         "file not found"),
    Case("toml: study area missing and no units", chain(drop("[layers.study_area]"),
                                                        drop("[layers.towns]"),
                                                        drop("[layers.villages]")),
         BAD_INPUT, "outline"),
    # -- facility layers
    Case("facilities: no name column", extra_facilities(
        _stations(3).drop(columns="名称")), BAD_INPUT, r"column 'name'"),
    Case("facilities: text in beds", extra_facilities(
        _stations(3).assign(床位数=["十张", "5", "6"])), BAD_INPUT, "beds"),
    Case("facilities: negative beds", extra_facilities(
        _stations(3).assign(床位数=[-5, 5, 6])), BAD_INPUT, "beds"),
    Case("facilities: repeated ids", extra_facilities(
        _stations(3).assign(编号=["A", "A", "B"])), BAD_INPUT, "A"),
    Case("facilities: unknown type names", extra_facilities(
        _stations(5).assign(类型=["菜市场"] * 4 + ["养老服务站"])), BAD_INPUT,
        r"'菜市场'.*4 row"),
    Case("facilities: an alias for the local name", chain(
        extra_facilities(_stations(3).assign(类型="老人家")),
        append('\n[types]\naliases = { "老人家" = "elderly_station" }\n')), VALID),
    Case("facilities: a layer-wide type", extra_facilities(
        _stations(3).assign(类型="公办"), more='type = "养老驿站"\n'), VALID),
    Case("facilities: lon/lat swapped", extra_facilities(
        _stations(3).rename(columns={"经度": "纬度", "纬度": "经度"})), BAD_INPUT, "swap"),
    Case("facilities: metres declared as degrees", extra_facilities(
        _stations(3).assign(经度=[480000.0] * 3, 纬度=[2740000.0] * 3)), BAD_INPUT,
        "look like metres"),
    Case("facilities: degrees declared as metres", extra_facilities(
        _stations(3), coords="EPSG:4549"), BAD_INPUT, "degrees"),
    Case("facilities: outside the study area", extra_facilities(
        _stations(3).assign(经度=[116.4] * 3, 纬度=[39.9] * 3)), BAD_INPUT,
        "outside the study area"),
    Case("facilities: coordinates as text with units", extra_facilities(
        _stations(2).assign(经度=["118°31′E", "东经118.53"])), VALID),
    Case("facilities: admin code of 7 digits", extra_facilities(
        _stations(3).assign(所属区划代码=["3505821"] * 3)), BAD_INPUT, "7 digits|digits"),
    Case("facilities: old .xls", chain(raw("facilities/old.xls", b"\xd0\xcf\x11\xe0junk"),
                                       append('\n[layers.old]\nkind = "facilities"\npath = '
                                              '"facilities/old.xls"\ncoords = "wgs84"\n')),
         BAD_INPUT, r"\.xls"),
    Case("facilities: sheet missing", toml('sheet = "长者食堂"', 'sheet = "食堂"'), BAD_INPUT,
         "食堂"),
    Case("facilities: empty Excel", extra_facilities(_stations(0)), VALID, "extra.xlsx.*no rows"),
    Case("facilities: corrupt xlsx", chain(raw("facilities/bad.xlsx", b"PK\x03\x04" + b"x" * 99),
                                           append('\n[layers.bad]\nkind = "facilities"\npath = '
                                                  '"facilities/bad.xlsx"\ncoords = "wgs84"\n')),
         BAD_INPUT, "bad.xlsx"),
    Case("facilities: CSV with an unbalanced quote", chain(
        lambda f: (f / "facilities" / "extra.csv").write_text(
            '名称,类型,经度,纬度\n"甲站,养老服务站,118.52,24.78\n', encoding="utf-8"),
        append('\n[layers.extra]\nkind = "facilities"\npath = "facilities/extra.csv"\n'
               'coords = "wgs84"\n')), BAD_INPUT, "extra.csv"),
    Case("facilities: CSV in GBK", chain(
        lambda f: (f / "facilities" / "extra.csv").write_bytes(
            "名称,类型,经度,纬度\n甲站,养老服务站,118.52,24.78\n".encode("gbk")),
        append('\n[layers.extra]\nkind = "facilities"\npath = "facilities/extra.csv"\n'
               'coords = "wgs84"\n')), VALID),
    Case("facilities: GeoPackage layer missing", toml(
        'path = "facilities/facilities.gpkg"', 'path = "facilities/facilities.gpkg"\n'
                                               'layer = "stations"'), BAD_INPUT, "stations"),
    Case("facilities: corrupt GeoPackage", raw("facilities/facilities.gpkg", b"SQLite junk"),
         BAD_INPUT, "facilities.gpkg"),
    Case("facilities: ids repeated across layers", extra_facilities(
        _stations(2).assign(编号=["S1", "X"])), BAD_INPUT, "more than one layer"),
    Case("doubt: a small 高德 table declared WGS-84 among good ones", chain(
        extra_facilities(_stations(40)),
        excel("facilities/gaode.xlsx", _stations(12, offset=True).assign(
            编号=[f"G{i}" for i in range(12)])),
        append('\n[layers.gaode]\nkind = "facilities"\npath = "facilities/gaode.xlsx"\n'
               'coords = "wgs84"\n')), VALID, r"source_layer = gaode.*GCJ-02"),
    # -- admin units
    Case("units: invalid polygon", units(lambda t, v: (t.set_geometry(
        [shapely.Polygon([(118.50, 24.74), (118.55, 24.82), (118.55, 24.74), (118.50, 24.82)]),
         t.geometry.iloc[1]], crs=t.crs), v)), BAD_INPUT, "invalid geometry"),
    Case("units: code of 8 digits", units(lambda t, v: (t.assign(
        code=["35058200", "350582002"]), v)), BAD_INPUT, "digits"),
    Case("units: empty geometry", units(lambda t, v: (t.set_geometry(
        [shapely.Polygon(), t.geometry.iloc[1]], crs=t.crs), v)), BAD_INPUT, "geometry"),
    Case("units: garbled names", units(lambda t, v: (t.assign(
        name=["青阳街道".encode("gbk").decode("latin-1"), "梅岭街道"]), v)), BAD_INPUT,
        "garbled"),
    Case("units: unknown level", units(lambda t, v: (t.assign(level=["镇级区", "town"]), v)),
         BAD_INPUT, "level"),
    Case("units: points, not polygons", units(lambda t, v: (t.set_geometry(
        t.geometry.centroid), v)), BAD_INPUT, "geometry type"),
    # -- population raster
    Case("population: 2 billion in one cell", raster(lambda b: _on(b, (0, 0, 0), 2e9)),
         BAD_INPUT, "2,000,000,000 people"),
    Case("population: negative count", raster(lambda b: _on(b, (0, 0, 0), -5)), BAD_INPUT,
         "negative|pop"),
    Case("population: 60+ above all people", raster(lambda b: _on(b, (2, 0, 0), 1e4)),
         BAD_INPUT, "pop_60plus"),
    Case("population: declared in the wrong zone", toml('path = "pop.tif"\ncoords = "EPSG:4549"',
                                                        'path = "pop.tif"\ncoords = "EPSG:4548"'),
         BAD_INPUT, "layers.population .pop.tif.*contradicts"),
    Case("population: raster file corrupt", raw("pop.tif", b"II*\x00" + b"\x00" * 64),
         BAD_INPUT, "pop.tif"),
    Case("population: raster truncated", truncate("pop.tif", 300), BAD_INPUT, "pop.tif"),
    Case("population: census totals far off", toml(
        'path = "pop.tif"\ncoords = "EPSG:4549"',
        'path = "pop.tif"\ncoords = "EPSG:4549"\ncensus = { pop = 10000 }'), VALID),
    # -- the walking network
    Case("network: file missing", toml('path = "grid.gpkg"', 'path = "nowhere.gpkg"'),
         BAD_INPUT, "nowhere.gpkg"),
    Case("network: corrupt GeoPackage", raw("grid.gpkg", b"not a database"), BAD_INPUT,
         "grid.gpkg: cannot read the walking network"),
    Case("network: truncated GeoPackage", truncate("grid.gpkg", 20_000), BAD_INPUT,
         "grid.gpkg"),
    Case("network: no lines", lambda f: gpd.GeoDataFrame(
        geometry=[shapely.Point(*ss.metric(118.52, 24.78))], crs=ss.EPSG).to_file(
        f / "grid.gpkg"), BAD_INPUT, "grid.gpkg: the layer has no lines"),
    Case("network: degrees declared as metres", lambda f: gpd.read_file(
        f / "grid.gpkg").to_crs(4490).set_crs(ss.EPSG, allow_override=True).to_file(
        f / "grid.gpkg"), BAD_INPUT, "grid.gpkg: .*these are degrees"),
    Case("network: metres declared as degrees", toml(
        'path = "grid.gpkg"\ncoords = "EPSG:4549"', 'path = "grid.gpkg"\ncoords = "wgs84"'),
        BAD_INPUT, "grid.gpkg: .*not degrees"),
    Case("network: OSM XML broken", chain(raw("net.osm", b"<osm><node id='1'"), toml(
        'path = "grid.gpkg"\ncoords = "EPSG:4549"', 'path = "net.osm"\ncoords = "wgs84"')),
        BAD_INPUT, "net.osm"),
    Case("network: GraphML garbage", chain(raw("net.graphml", b"<graphml>??"), toml(
        'path = "grid.gpkg"\ncoords = "EPSG:4549"', 'path = "net.graphml"\ncoords = "wgs84"')),
        BAD_INPUT, "net.graphml"),
    Case("network: unknown file type", chain(raw("net.dwg", b"AC1027"), toml(
        'path = "grid.gpkg"', 'path = "net.dwg"')), BAD_INPUT, "net.dwg"),
    # -- registers and rounds
    Case("markers: no 界桩编号 column", excel("boundaries/markers.xlsx", pd.DataFrame(
        {"编号X": ["0001001A"], "登记X(东)": [480000.0], "登记Y(北)": [2740000.0]})),
        BAD_INPUT, "marker_no"),
    Case("markers: no coordinate columns", excel("boundaries/markers.xlsx", pd.DataFrame(
        {"界桩编号": ["0001001A"], "界线编码": ["0001"]})), BAD_INPUT, ""),
    Case("markers: unreadable coordinates are findings", excel(
        "boundaries/markers.xlsx", pd.DataFrame(
            {"界桩编号": ["0001001A", "0001001B"], "界线编码": ["0001", "0001"],
             "登记X(东)": [ss.metric(118.55, 24.78)[0], "坏"],
             "登记Y(北)": [ss.metric(118.55, 24.78)[1], "值"]})), VALID),
    Case("markers: unreadable dates are findings", excel(
        "boundaries/markers.xlsx", pd.DataFrame(
            {"界桩编号": ["0001001Q"], "界线编码": ["0001"],
             "登记X(东)": [ss.metric(118.55, 24.78)[0]], "登记Y(北)": [ss.metric(118.55, 24.78)[1]],
             "上次检查日期": ["去年春天"]})), VALID),
    Case("markers: garbled text", excel("boundaries/markers.xlsx", pd.DataFrame(
        {"界桩编号": ["0001001Q"], "界线编码": ["0001"],
         "登记X(东)": [ss.metric(118.55, 24.78)[0]], "登记Y(北)": [ss.metric(118.55, 24.78)[1]],
         "管护员": ["张三".encode("gbk").decode("latin-1")]})), BAD_INPUT, "garbled"),
    Case("rounds: unbalanced quote", lambda f: (f / "boundaries" / "rounds.csv").write_text(
        '界线编码,联检轮次,联检日期\n0001,"第四轮,2021-06-30\n', encoding="utf-8"), BAD_INPUT,
        "rounds.csv"),
    Case("rounds: no date column", lambda f: (f / "boundaries" / "rounds.csv").write_text(
        "界线编码,联检轮次\n0001,第四轮\n", encoding="utf-8"), BAD_INPUT, "inspected_on"),
    Case("lines: side codes of 5 digits", lambda f: gpd.read_file(
        f / "boundaries" / "lines.gpkg").assign(left_code="35058").to_file(
        f / "boundaries" / "lines.gpkg"), BAD_INPUT, "digits"),
    # -- siting settings
    Case("siting: valid", append(SITING), VALID),
    Case("siting: more sites than candidates", chain(append(SITING), toml(
        "new_sites = 2", "new_sites = 50")), BAD_INPUT, "only 4 candidates"),
    Case("siting: two targets", chain(append(SITING), toml("new_sites = 2",
                                                           "new_sites = 2\nbudget = 9")),
         BAD_INPUT, "exactly one of new_sites"),
    Case("siting: no types", append("\n[siting]\n"), BAD_INPUT, "types"),
    Case("siting: quota above the sites", chain(append(SITING), toml(
        "new_sites = 2", "new_sites = 2\nmin_per_town = 2")), BAD_INPUT, "at least 4"),
    Case("siting: quota for another town", chain(append(SITING), toml(
        "new_sites = 2", 'new_sites = 2\nquotas = { "350582999" = [1] }')), BAD_INPUT,
        "350582999"),
    Case("siting: max below min", chain(append(SITING), toml(
        "new_sites = 2", "new_sites = 2\nmin_per_town = 2\nmax_per_town = 1")), BAD_INPUT,
        "max_per_town"),
    Case("siting: unknown candidate source", chain(append(SITING), toml(
        "n_candidates = 4", 'n_candidates = 4\ncandidates = "parcels"')), BAD_INPUT, "parcels"),
    Case("siting: exclusion layer missing", chain(append(SITING), toml(
        "n_candidates = 4", 'n_candidates = 4\nexclude = ["farmland"]')), BAD_INPUT,
        "farmland"),
    Case("siting: coverage share above 1", chain(append(SITING), toml(
        "new_sites = 2", "coverage_share = 1.5")), BAD_INPUT, "coverage_share"),
    Case("siting: zero new sites", chain(append(SITING), toml("new_sites = 2",
                                                              "new_sites = 0")),
         BAD_INPUT, "new_sites"),
    # -- the output folder
    Case("out: holds the study file", lambda f: None, BAD_INPUT, "holds input"),
    # -- text meant to run as a formula, or to break a workbook
    Case("injection: a town named as a formula", _town_named('=HYPERLINK("http://x.cn","点")'),
         VALID),
    Case("injection: a town named with a control character", _town_named("青阳\x0b街道"), VALID),
    Case("injection: a facility named +cmd", extra_facilities(
        _stations(2).assign(名称=["+cmd|' /C calc'!A0", "@SUM(1+1)"])), VALID),
    Case("injection: a village named -2+3", units(lambda t, v: (t, v.assign(
        name=["-2+3", "梅峰社区"]))), VALID),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("catalogue")
    ss.build_study_files(folder)
    ss.build_grid_network(folder)
    (folder / "study.toml").write_text(STUDY, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def previous(files, tmp_path_factory) -> Path:
    """The outputs of an earlier, good run (each case starts from a copy of them)."""
    out = tmp_path_factory.mktemp("previous") / "out"
    ran = runner.invoke(app, ["run", str(files / "study.toml"), "--out", str(out)])
    assert ran.exit_code == 0, ran.output
    return out


def digest(folder: Path, skip: str | None = None) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and (skip is None or skip not in p.parts)}


LIVE = re.compile(r"^[=+\-@\t\r]")


def live_formula_cells(out: Path) -> list[str]:
    """Every text cell of every workbook and CSV of a run that starts like a formula."""
    found = []
    for book in out.rglob("*.xlsx"):
        wb = load_workbook(book)
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if cell.data_type == "f" or (
                            isinstance(cell.value, str) and LIVE.match(cell.value)):
                        found.append(f"{book.name}!{ws.title}!{cell.coordinate}: {cell.value!r}")
    for csv in out.rglob("*.csv"):
        for line in csv.read_text(encoding="utf-8-sig").splitlines():
            found += [f"{csv.name}: {cell!r}" for cell in line.split(",") if LIVE.match(cell)]
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_catalogue(case: Case, files, previous, tmp_path):
    study = tmp_path / "study"
    shutil.copytree(files, study)
    case.edit(study)
    out = tmp_path / "out"
    shutil.copytree(previous, out)
    if case.id == "out: holds the study file":
        out = study
    inputs, before = digest(study, skip="out"), digest(out)
    ran = runner.invoke(app, ["run", str(study / "study.toml"), "--out", str(out)])
    assert ran.exit_code == case.code, ran.output
    assert "Traceback" not in ran.output
    assert re.search(case.says, ran.output, re.S), ran.output
    assert digest(study, skip="out") == inputs, "an input was changed"
    if case.code != VALID:
        assert digest(out) == before, "a rejected run changed the previous outputs"
        assert not list(out.parent.glob(f".{out.name}.staging-*")), "staging left behind"
        assert "错误" in ran.output
        return
    assert (out / "geoplan-manifest.json").is_file()
    assert live_formula_cells(out) == []
    if case.id.startswith("injection"):
        for page in ("report.html", "map.html"):
            text = (out / page).read_text(encoding="utf-8")
            # no table cell, popup value or label starts with the formula
            assert not re.search(r'(>|"|\\u003e)=HYPERLINK', text), page
            assert "\x0b" not in html.unescape(text)
