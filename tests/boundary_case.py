"""A planted-defect joint-inspection case on real polygons: Xiamen's six districts (厦门市 3502xx).

The district polygons are real (county-level polygons of 2021 from the shared reference data,
read in place, never copied); the districts are the units and their four shared edges the
county-level boundary lines. Everything else is made here, deterministically, the way a
civil-affairs bureau keeps it:

- ``区级政区.gpkg``: the six districts (区划代码, 名称, 级别) in CGCS2000 longitude/latitude;
- ``区级界线.shp``: the current lines (界线编码, 界线名称, 级别, 左侧代码, 右侧代码, 版本) in
  CGCS2000 / 3-degree Gauss-Krüger CM 117E (EPSG:4548), field names cut at 10 bytes;
- ``界线_2016.gpkg``: the 2016 agreement lines (协议书附图), EPSG:4548;
- ``界桩成果表.xlsx``: the marker register (a title row, 登记坐标/实测坐标 merged over
  X(北)/Y(东), GB/T 17796-2009 numbers, 状况, 管护员, 上次检查日期, a note row), EPSG:4548;
- ``联检记录.csv``: the rounds of joint inspection; ``民政设施.xlsx``: facilities geocoded
  with 高德 (GCJ-02) carrying six-digit district codes;
- ``study.toml``: an inspection-only study over these files (no network, no population),
  with its ``[boundary]`` settings.

Defects are planted on purpose, each listed in :attr:`Case.planted` with the finding it must
produce (check, subject); the inspection must find exactly these. A same-number pair on both
banks of a river the line follows is planted as a non-defect.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import shapely
from shapely.ops import substring

from geoplan.boundary import units_outline
from geoplan.crs import wgs84_to_gcj02

ALBERS = "+proj=aea +lat_0=36 +lat_1=24 +lat_2=48 +lon_0=104.5 +x_0=0 +y_0=0 +ellps=WGS84 +units=m"
GK = 4548  # CGCS2000 / 3-degree Gauss-Krüger CM 117E: Xiamen's zone
REFERENCE_DATE = dt.date(2025, 12, 31)
NAMES = {"350203": "思明区", "350205": "海沧区", "350206": "湖里区", "350211": "集美区",
         "350212": "同安区", "350213": "翔安区"}
#: line code -> (left code, right code); 3523 is digitised with the larger code on the left.
LINES = {"3521": ("350203", "350206"), "3522": ("350205", "350211"),
         "3523": ("350212", "350211"), "3524": ("350212", "350213")}
CUSTODIANS = ("陈建国", "林秀英", "黄志明", "吴丽华", "郑国强", "王美玲", "蔡文斌", "李淑芬")


@dataclass
class Case:
    """The files of the case, the planted defects and the measures taken while planting them."""

    folder: Path
    files: dict[str, Path]
    planted: pd.DataFrame
    measured: dict[str, float]
    registered: pd.DataFrame = field(repr=False)


def read_districts(shared_data: Path) -> gpd.GeoDataFrame:
    """The six real district polygons of Xiamen in EPSG:4548, indexed by code."""
    path = shared_data / "admin" / "counties-albers.topojson"
    layer = gpd.read_file(path, layer="county").set_crs(ALBERS, allow_override=True)
    layer = layer[layer["CODE"].astype(str).isin(NAMES)].to_crs(GK)
    codes = layer["CODE"].astype(str).to_numpy()
    return gpd.GeoDataFrame({"code": codes, "name": [NAMES[c] for c in codes]},
                            geometry=layer.geometry.to_numpy(), crs=GK,
                            index=pd.Index(codes)).sort_index()


def _shared_edge(a, b) -> shapely.LineString:
    edge = shapely.line_merge(shapely.intersection(a.boundary, b.boundary))
    if edge.geom_type != "LineString":
        raise AssertionError(f"expected one shared edge, got {edge.geom_type}")
    return edge


def _normal(line: shapely.LineString, at_m: float) -> tuple[float, float]:
    """Unit vector to the left of ``line`` at distance ``at_m`` along it."""
    a = line.interpolate(max(at_m - 1.0, 0.0))
    b = line.interpolate(min(at_m + 1.0, line.length))
    dx, dy = b.x - a.x, b.y - a.y
    norm = math.hypot(dx, dy)
    return -dy / norm, dx / norm


def _left_is(line: shapely.LineString, unit, at_m: float) -> bool:
    """Whether ``unit`` lies on the left of ``line`` at ``at_m``."""
    p = line.interpolate(at_m)
    nx, ny = _normal(line, at_m)
    return bool(unit.contains(shapely.Point(p.x + 3 * nx, p.y + 3 * ny)))


def _offset_point(line: shapely.LineString, frac: float, offset_m: float, toward) -> shapely.Point:
    """The point at ``frac`` of ``line``, ``offset_m`` off it toward polygon ``toward``."""
    at = frac * line.length
    p = line.interpolate(at)
    nx, ny = _normal(line, at)
    side = 1.0 if _left_is(line, toward, at) else -1.0
    return shapely.Point(p.x + side * offset_m * nx, p.y + side * offset_m * ny)


def _pushed(line: shapely.LineString, start: float, end: float, offset_m: float, toward):
    """``line`` with its stretch ``start``–``end`` (fractions) moved ``offset_m`` toward a polygon.

    The moved stretch is joined to the rest by straight tapers.
    """
    mid = (start + end) / 2 * line.length
    side = 1.0 if _left_is(line, toward, mid) else -1.0
    taper = 0.1 * (end - start)
    inner = substring(line, start + taper, end - taper, normalized=True)
    moved = inner.offset_curve(side * offset_m)
    coords = [*substring(line, 0, start, normalized=True).coords, *moved.coords,
              *substring(line, end, 1, normalized=True).coords]
    return shapely.LineString(coords)


def _strip(g: dict, a: str, b: str, start: float, end: float, width_m: float, into: str):
    """A strip ``width_m`` wide along the shared edge of ``a`` and ``b``, inside unit ``into``.

    The stretch ``start``–``end`` (fractions of the edge) gets its end points inserted as
    vertices into both polygons first, so the strip meets them exactly (no slivers).
    """
    edge = _shared_edge(g[a], g[b])
    ends = shapely.MultiPoint([edge.interpolate(f, normalized=True) for f in (start, end)])
    for code in (a, b):
        g[code] = shapely.snap(g[code], ends, 1e-6)
    stretch = substring(edge, start, end, normalized=True)
    mid = stretch.interpolate(0.5, normalized=True)
    nx, ny = _normal(stretch, stretch.length / 2)
    side = 1.0 if g[into].contains(shapely.Point(mid.x + nx, mid.y + ny)) else -1.0
    offset = stretch.offset_curve(side * width_m)
    strip = shapely.Polygon([*stretch.coords, *reversed(offset.coords)])
    if not (strip.is_valid and g[into].covers(strip)):
        raise AssertionError("the planted strip must be a valid polygon inside its unit")
    return strip


def _planted_units(districts: gpd.GeoDataFrame, measured: dict[str, float]):
    """The districts with a gap (海沧|集美) and an overlap (同安 into 翔安) planted."""
    g = dict(districts.geometry.items())
    gap = _strip(g, "350205", "350211", 0.40, 0.47, 8.0, into="350205")
    g["350205"] = g["350205"].difference(gap)
    overlap = _strip(g, "350212", "350213", 0.55, 0.62, 12.0, into="350213")
    g["350212"] = g["350212"].union(overlap)
    union = shapely.union_all(list(g.values()))  # the gap is the one hole of the union
    measured["gap_m2"] = sum(shapely.Polygon(r).area for p in shapely.get_parts(union)
                             for r in p.interiors)
    measured["overlap_m2"] = float(shapely.intersection(g["350212"], g["350213"]).area)
    return districts.assign(geometry=[g[c] for c in districts.index])


def _lines(districts: gpd.GeoDataFrame, measured: dict[str, float]):
    """Current and 2016 lines: the shared edges, 3521 bulged in both, 3523 changed since 2016."""
    g = dict(districts.geometry.items())
    current, previous = {}, {}
    for code, (left, right) in LINES.items():
        edge = _shared_edge(g[left], g[right])
        if edge.coords[0] > edge.coords[-1]:  # digitised west to east, whatever GEOS returns
            edge = edge.reverse()
        current[code] = previous[code] = edge
    current["3521"] = previous["3521"] = _pushed(current["3521"], 0.45, 0.55, 60.0, g["350206"])
    previous["3523"] = _pushed(current["3523"], 0.30, 0.38, 45.0, g["350211"])
    measured["deviation_m"] = float(shapely.hausdorff_distance(
        current["3521"], _shared_edge(g["350203"], g["350206"])))
    measured["version_change_m"] = float(shapely.hausdorff_distance(current["3523"],
                                                                     previous["3523"]))
    return current, previous


def _count(line: shapely.LineString) -> int:
    """Number of marker serials along a line: one every 1.5 km or so."""
    return round(line.length / 1500)


def _frac(line: shapely.LineString, serial: int) -> float:
    """Where serial ``serial`` stands along ``line`` (a fraction of its length)."""
    return (serial - 0.5) / _count(line)


def _marker_rows(lines: dict[str, shapely.LineString], districts: gpd.GeoDataFrame,
                 rng: np.random.Generator, measured: dict[str, float]) -> tuple[list, list]:
    """The register's rows and the planted marker defects."""
    g = dict(districts.geometry.items())
    rows: list[dict[str, object]] = []
    planted: list[tuple[str, str, str]] = []
    for code, line in lines.items():
        left, right = LINES[code]
        small, large = sorted((left, right))
        for k in range(1, _count(line) + 1):
            frac = _frac(line, k)
            serial = f"{code}{k:03d}"
            members = [("Q", line.interpolate(frac, normalized=True))]
            if (code, k) in (("3524", 6), ("3523", 8)):  # pairs on both banks of a river
                a_side, b_side = (g[small], g[large]) if code == "3524" else (g[large], g[small])
                members = [("A", _offset_point(line, frac, 30.0, a_side)),
                           ("B", _offset_point(line, frac, 30.0, b_side))]
            if (code, k) == ("3521", 7):  # a pair whose B was never entered
                members = [("A", _offset_point(line, frac, 3.0, g[small]))]
            if (code, k) == ("3524", 4):
                continue  # serial 004 missing from the register
            for letter, point in members:
                rows.append(_register_row(f"{serial}{letter}", code, point, rng))
    by_no = {r["界桩编号"]: r for r in rows}

    def plant(number: str, check: str, subject: str, detail: str, **cells: object) -> None:
        by_no[number].update(cells)
        planted.append((check, subject, detail))

    # displaced: surveyed 6.5 m from the registered position
    reg = by_no["3522005Q"]
    plant("3522005Q", "marker_displaced", "3522005Q", "实测位置偏离登记位置 6.5 m",
          实测X=round(reg["登记X"] + 5.2, 3), 实测Y=round(reg["登记Y"] - 3.9, 3))
    measured["displaced_m"] = math.hypot(by_no["3522005Q"]["实测X"] - reg["登记X"],
                                         by_no["3522005Q"]["实测Y"] - reg["登记Y"])
    # registered 35 m off its line (and found there)
    off = _offset_point(lines["3523"], _frac(lines["3523"], 4), 35.0, g["350211"])
    plant("3523004Q", "marker_off_line", "3523004Q", "登记位置距界线 35 m",
          登记X=round(off.y, 3), 登记Y=round(off.x, 3), 实测X=round(off.y + 0.12, 3),
          实测Y=round(off.x - 0.08, 3))
    measured["off_line_m"] = lines["3523"].distance(shapely.Point(round(off.x, 3),
                                                                  round(off.y, 3)))
    planted.append(("marker_wrong_side", "3523:008",
                    "A 桩立在代码较大的同安区一侧，B 桩立在集美区一侧（编号对调）"))
    plant("3521003Q", "marker_condition", "3521003Q", "界桩丢失", 状况="丢失")
    plant("3524010Q", "marker_condition", "3524010Q", "界桩损坏", 状况="损坏")
    plant("3522009Q", "marker_no_custodian", "3522009Q", "无管护员", 管护员=None)
    plant("3523012Q", "marker_overdue", "3523012Q", "上次检查 2019-04-18",
          上次检查日期=dt.datetime(2019, 4, 18))
    planted.append(("marker_sequence_gap", "3524:004", "序号 004 未登记"))
    planted.append(("marker_group_incomplete", "3521:007", "同号双立只有 A 桩"))
    plant("3523015Q", "marker_number_malformed", "3523015q", "类型码写成小写 q",
          界桩编号="3523015q")
    plant("3524012Q", "marker_type_mismatch", "3524012Q", "类型写作同号双立，类型码为 Q",
          界桩类型="同号双立")
    repeat = dict(by_no["3522011Q"])  # the same marker entered twice
    rows.insert(rows.index(by_no["3522011Q"]) + 1, repeat)
    planted.append(("marker_duplicate", "3522011Q", "同一界桩登记两次"))
    return rows, planted


def _register_row(number: str, code: str, point: shapely.Point,
                  rng: np.random.Generator) -> dict[str, object]:
    east, north = round(point.x, 3), round(point.y, 3)  # a register keeps millimetres
    noise = rng.uniform(-0.25, 0.25, 2)
    dates = [dt.datetime(2022, 6, 14), "2023年5月8日", "2021.10.26", dt.datetime(2024, 3, 21),
             "2022-11-02"]
    letter = number[-1]
    return {"界桩编号": number, "界线编码": code,
            "界桩类型": "单立" if letter == "Q" else "同号双立",
            "登记X": north, "登记Y": east,
            "实测X": round(north + noise[0], 3), "实测Y": round(east + noise[1], 3),
            "状况": "完好", "管护员": CUSTODIANS[int(rng.integers(len(CUSTODIANS)))],
            "上次检查日期": dates[int(rng.integers(len(dates)))]}


def _write_register(path: Path, rows: list[dict[str, object]]) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "界桩成果表"
    ws.append(["厦门市区级行政区域界线界桩成果表"])
    ws.merge_cells("A1:L1")
    ws.append(["序号", "界桩编号", "界线编码", "界桩类型", "登记坐标", None, "实测坐标", None,
               "状况", "管护员", "上次检查日期", "备注"])
    ws.append([None, None, None, None, "X(北)", "Y(东)", "X(北)", "Y(东)"])
    ws.merge_cells("E2:F2")
    ws.merge_cells("G2:H2")
    for k, r in enumerate(rows, start=1):
        ws.append([k, r["界桩编号"], r["界线编码"], r["界桩类型"], r["登记X"], r["登记Y"],
                   r["实测X"], r["实测Y"], r["状况"], r["管护员"], r["上次检查日期"], None])
    ws.append(["注：2000国家大地坐标系，高斯-克吕格投影3度带，中央子午线117°，单位米。"])
    wb.save(path)


def _facilities(districts: gpd.GeoDataFrame) -> tuple[pd.DataFrame, list]:
    """Eight facilities geocoded with 高德 (GCJ-02), one recorded in the wrong district."""
    rows = []
    kinds = ("居家养老服务站", "长者食堂", "社工站", "日间照料中心")
    for k, (code, geom) in enumerate(districts.geometry.items()):
        for j, dx in enumerate((-400.0, 400.0)[: 2 if k < 2 else 1]):
            inner = geom.buffer(-1500).representative_point()
            rows.append((f"XM{len(rows) + 1:03d}", f"{NAMES[code]}{kinds[j % 4]}{j + 1}",
                         kinds[(k + j) % 4], code, inner.x + dx, inner.y))
    table = pd.DataFrame(rows, columns=["编号", "名称", "类型", "所属区划代码", "x", "y"])
    lon, lat = gpd.GeoSeries(gpd.points_from_xy(table["x"], table["y"]), crs=GK).to_crs(4490)\
        .pipe(lambda s: (s.x.to_numpy(), s.y.to_numpy()))
    glon, glat = wgs84_to_gcj02(lon, lat)
    table["经度"], table["纬度"] = np.round(glon, 7), np.round(glat, 7)
    wrong = table.index[table["所属区划代码"] == "350203"][0]  # a 思明 facility filed as 湖里
    table.loc[wrong, "所属区划代码"] = "350206"
    planted = [("facility_admin_mismatch", table.loc[wrong, "编号"],
                "位于思明区，区划代码登记为湖里区 350206")]
    return table.drop(columns=["x", "y"]), planted


def _study_toml(files: dict[str, Path], study_area: bool) -> str:
    area = ('[layers.study_area]\npath = "研究范围.gpkg"\ncoords = "EPSG:4548"\n\n'
            if study_area else "")
    return f'''# Inspection-only study: Xiamen's districts, lines and markers (planted defects).
[study]
name = "厦门市区级行政区域界线联检（测试案例）"
admin_code = "350200"
reference_date = {REFERENCE_DATE.isoformat()}

[boundary]
marker_to_line_m = 5.0
marker_displacement_m = 1.0
inspection_cycle_years = 5
numbering = "GB/T 17796-2009"

{area}[layers.admin_units]
path = "{files['units'].name}"
coords = "cgcs2000"

[layers.boundary_lines]
path = "{files['lines'].name}"
coords = "EPSG:4548"

[layers.boundary_lines_previous]
path = "{files['previous'].name}"
coords = "EPSG:4548"

[layers.boundary_markers]
path = "{files['markers'].name}"
sheet = "界桩成果表"
coords = "EPSG:4548"

[layers.facilities]
path = "{files['facilities'].name}"
coords = "gcj02"

[tables.inspection_rounds]
path = "{files['rounds'].name}"
'''


def build_case(shared_data: Path, folder: Path, *, study_area: bool = False) -> Case:
    """Write the case into ``folder`` and return its files, planted defects and measures.

    Parameters
    ----------
    shared_data
        The shared reference data folder (read in place).
    folder
        Where to write the files (created).
    study_area
        Also write ``研究范围.gpkg`` (the union of the districts) and name it in the study
        file; without it the study relies on the default study area.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(350200)
    measured: dict[str, float] = {}
    districts = read_districts(shared_data)
    current, previous = _lines(districts, measured)  # the lines follow the true edges
    units = _planted_units(districts, measured)
    rows, marker_defects = _marker_rows(current, units, rng, measured)
    facilities, facility_defects = _facilities(units)
    files = {"units": folder / "区级政区.gpkg", "lines": folder / "区级界线.shp",
             "previous": folder / "界线_2016.gpkg", "markers": folder / "界桩成果表.xlsx",
             "rounds": folder / "联检记录.csv", "facilities": folder / "民政设施.xlsx",
             "study": folder / "study.toml"}
    gpd.GeoDataFrame({"区划代码": units.index, "名称": units["name"], "级别": "区"},
                     geometry=units.geometry.to_numpy(), crs=GK).to_crs(4490).to_file(
        files["units"], layer="区级政区")
    attrs = pd.DataFrame({
        "界线编码": list(LINES),
        "界线名称": [f"{NAMES[a]}—{NAMES[b]}线" for a, b in LINES.values()],
        "级别": "县级", "左侧代码": [a for a, _ in LINES.values()],
        "右侧代码": [b for _, b in LINES.values()]})
    gpd.GeoDataFrame(attrs.assign(版本="2021"), geometry=list(current.values()), crs=GK).to_file(
        files["lines"], encoding="GBK")  # as exported on a Chinese Windows PC
    gpd.GeoDataFrame(attrs.assign(版本="2016"), geometry=list(previous.values()),
                     crs=GK).to_file(files["previous"], layer="界线_2016")
    _write_register(files["markers"], rows)
    rounds = pd.DataFrame({"界线编码": list(LINES),
                           "联检轮次": ["第四轮", "第四轮", "第三轮", "第四轮"],
                           "联检日期": ["2021-06-15", "2021-09-20", "2019-11-05", "2022-03-10"],
                           "联检结论": "界线清楚，界桩完好", "是否签订协议": "是"})
    rounds.to_csv(files["rounds"], index=False, encoding="utf-8-sig")
    facilities.to_excel(files["facilities"], index=False, sheet_name="民政设施")
    if study_area:
        units_outline(units.assign(code=units.index)).to_file(folder / "研究范围.gpkg")
    files["study"].write_text(_study_toml(files, study_area), encoding="utf-8")
    planted = [
        ("topology_gap", "350205|350211", "海沧区边界在与集美区共有边中段内缩 8 m"),
        ("topology_overlap", "350212|350213", "同安区边界在与翔安区共有边中段外扩 12 m"),
        ("line_polygon_deviation", "3521", "界线中段偏离共有边 60 m（2016 年附图同样偏离）"),
        ("line_version_change", "3523", "2016 年附图中段与现行界线相差 45 m"),
        ("round_overdue", "3523", "上次联检 2019-11-05"),
        *marker_defects, *facility_defects,
    ]
    table = pd.DataFrame(planted, columns=["check", "subject", "detail"])
    table.insert(0, "defect_id", [f"D{k + 1:02d}" for k in range(len(table))])
    registered = pd.DataFrame(rows)[["界桩编号", "登记X", "登记Y", "实测X", "实测Y"]]
    return Case(folder, files, table, measured, registered)
