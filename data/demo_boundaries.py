"""Jinjiang demo: township boundary lines, markers (界桩), inspection rounds, projects, defects.

Used by ``make_demo.py``. All synthetic. The planted defects (one subject each) are listed
in ``boundaries/planted_defects.csv``; everything else is clean (lines are exactly the
shared edges of the town polygons, markers lie on their lines, rounds are on schedule).
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import ops

_SURNAMES = list("陈许吴蔡洪施曾林王李张黄郑苏庄柯丁粘龚")
_GIVEN = ["建国", "志明", "国华", "文彬", "秀英", "丽华", "明辉", "金水", "清泉", "振兴",
          "宝珠", "荣发",
          "春生", "海涛", "美玲", "天赐", "永福", "文章", "俊杰", "淑贞"]  # fmt: skip


def shared_edges(towns: gpd.GeoDataFrame, min_length_m: float = 50.0) -> gpd.GeoDataFrame:
    """One line per pair of towns sharing an edge of at least ``min_length_m``.

    Lines are oriented so that ``left_code`` lies on the left; codes ``0001``... in
    order of the (sorted) town-code pair.
    """
    towns = towns.sort_values("code").reset_index(drop=True)
    geoms = towns.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    rows = []
    for i, j in sorted(zip(*tree.query(geoms, predicate="intersects"), strict=True)):
        if i >= j:
            continue
        common = ops.linemerge(
            shapely.intersection(shapely.boundary(geoms[i]), shapely.boundary(geoms[j]))
        )
        if common.length < min_length_m:
            continue
        if common.geom_type != "LineString":
            msg = f"{towns.name[i]}/{towns.name[j]} share a broken edge ({common.geom_type})"
            raise RuntimeError(msg)
        left, right = (i, j) if _is_left(common, geoms[i]) else (j, i)
        rows.append({
            "left_code": towns.code[left], "right_code": towns.code[right],
            "name": f"{towns.name[i]}—{towns.name[j]}线", "pair": (towns.code[i], towns.code[j]),
            "geometry": common,
        })  # fmt: skip
    lines = gpd.GeoDataFrame(rows, geometry="geometry", crs=towns.crs)
    lines.insert(0, "line_code", [f"{k + 1:04d}" for k in range(len(lines))])
    return lines


def _is_left(line: shapely.LineString, poly: shapely.Geometry) -> bool:
    """Tell whether ``poly`` lies on the left of ``line`` (tested at its longest segment)."""
    xy = shapely.get_coordinates(line)
    seg = np.diff(xy, axis=0)
    k = int(np.argmax(np.hypot(seg[:, 0], seg[:, 1])))
    mid = (xy[k] + xy[k + 1]) / 2
    normal = np.array([-seg[k, 1], seg[k, 0]]) / np.hypot(*seg[k])
    return bool(poly.contains(shapely.Point(mid + 0.5 * normal)))


def push_stretch(
    line: shapely.LineString, offset_m: float, frac=(0.35, 0.65)
) -> shapely.LineString:
    """Return the line with its middle stretch pushed sideways by ``offset_m`` (tapered ends)."""
    dense = shapely.segmentize(line, 20.0)
    xy = shapely.get_coordinates(dense)
    s = shapely.line_locate_point(dense, shapely.points(xy), normalized=True)
    taper = np.clip(np.minimum(s - frac[0], frac[1] - s) / 0.08, 0.0, 1.0)
    tangent = np.gradient(xy, axis=0)
    normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
    normal /= np.maximum(np.hypot(normal[:, 0], normal[:, 1]), 1e-12)[:, None]
    return shapely.LineString(xy + offset_m * taper[:, None] * normal)


def strip_beside(line: shapely.LineString, width_m: float, left: bool, frac=(0.4, 0.6)):
    """Return a thin strip of ``width_m`` along the middle of ``line`` on one side."""
    stretch = ops.substring(line, frac[0], frac[1], normalized=True)
    return stretch.buffer(width_m if left else -width_m, single_sided=True, cap_style="flat")


def plant_polygon_defects(units: gpd.GeoDataFrame, lines: gpd.GeoDataFrame, picks: dict) -> tuple:
    """Apply the gap, overlap and not-nested defects; return (units, defect rows)."""
    units = units.copy()
    code_row = {c: i for i, c in enumerate(units["code"])}
    defects = []
    # gap: carve a 6 m strip out of the left town along the middle of the line
    gl = lines.loc[lines.line_code == picks["gap"]].iloc[0]
    strip = strip_beside(gl.geometry, 6.0, left=True)
    a = code_row[gl.left_code]
    gap = strip.intersection(units.geometry.iloc[a])
    units.loc[a, "geometry"] = units.geometry.iloc[a].difference(gap)
    defects.append(
        (
            "topology_gap",
            "|".join(sorted(gl.pair)),
            f"gap of {gap.area:.0f} m2, 6 m wide, along the middle of line {gl.line_code}",
        )
    )
    # overlap: the left town grows 6 m into the right town
    ol = lines.loc[lines.line_code == picks["overlap"]].iloc[0]
    strip = strip_beside(ol.geometry, 6.0, left=False)
    a, b = code_row[ol.left_code], code_row[ol.right_code]
    over = strip.intersection(units.geometry.iloc[b])
    units.loc[a, "geometry"] = units.geometry.iloc[a].union(over)
    defects.append(
        (
            "topology_overlap",
            "|".join(sorted(ol.pair)),
            f"overlap of {over.area:.0f} m2, 6 m wide, along the middle of line {ol.line_code}",
        )
    )
    # not nested: a village of the left town takes a bite out of a village across the line
    nl = lines.loc[lines.line_code == picks["not_nested"]].iloc[0]
    mid = nl.geometry.interpolate(0.5, normalized=True)
    vil = units.loc[units["level"] == "village"]
    touching = vil.loc[vil.distance(mid) < 1e-6]
    v_code = touching.loc[touching.parent_code == nl.left_code, "code"].iloc[0]
    w_code = touching.loc[touching.parent_code == nl.right_code, "code"].iloc[0]
    v, w = code_row[v_code], code_row[w_code]
    bite = mid.buffer(75.0).intersection(units.geometry.iloc[w])
    units.loc[v, "geometry"] = units.geometry.iloc[v].union(bite)
    units.loc[w, "geometry"] = units.geometry.iloc[w].difference(bite)
    defects.append(
        (
            "not_nested",
            v_code,
            f"village sticks {bite.area:.0f} m2 out of its town {nl.left_code} "
            f"into {nl.right_code}",
        )
    )
    return units, defects


def lines_layers(lines: gpd.GeoDataFrame, towns: gpd.GeoDataFrame, picks: dict) -> tuple:
    """Build the current and 2016 line layers (with the line defects) and defect rows."""
    cur = lines.copy()
    cur["level"] = "乡级"
    cur["version"] = "2021"
    cur["surveyed_on"] = [dt.date(2021, 4 + k % 6, 1 + (7 * k) % 27) for k in range(len(cur))]
    defects = []
    k = cur.index[cur.line_code == picks["deviation"]][0]
    cur.loc[k, "geometry"] = push_stretch(cur.geometry[k], 60.0)
    defects.append(
        (
            "line_polygon_deviation",
            picks["deviation"],
            "middle stretch of the current (and 2016) line is 60 m off the shared edge",
        )
    )
    prev = cur.copy()
    prev["version"] = "2016"
    prev["surveyed_on"] = [d.replace(year=2016) for d in cur["surveyed_on"]]
    k = prev.index[prev.line_code == picks["version"]][0]
    prev.loc[k, "geometry"] = push_stretch(prev.geometry[k], 50.0)
    defects.append(
        (
            "line_version_change",
            picks["version"],
            "2016 line differs from the current one by 50 m on its middle stretch",
        )
    )
    # a line between two towns that do not touch, lying inside the first one
    a_code, c_code = picks["not_touching"]
    town = towns.set_index("code").geometry[a_code]
    centre = shapely.get_point(shapely.maximum_inscribed_circle(town, 10.0), 0)
    extra = shapely.LineString([(centre.x - 300, centre.y - 100), (centre.x + 300, centre.y + 100)])
    if shapely.distance(extra, shapely.union_all(towns.boundary.to_numpy())) < 250:
        msg = "the not-touching line is too close to a town boundary"
        raise RuntimeError(msg)
    names = towns.set_index("code")["name"]
    row = {
        "line_code": "0999", "left_code": a_code, "right_code": c_code,
        "name": f"{names[a_code]}—{names[c_code]}线", "level": "乡级", "geometry": extra,
    }  # fmt: skip
    cur = pd.concat(
        [
            cur,
            gpd.GeoDataFrame(
                [{**row, "version": "2021", "surveyed_on": dt.date(2021, 6, 18)}], crs=cur.crs
            ),
        ]
    )
    prev = pd.concat(
        [
            prev,
            gpd.GeoDataFrame(
                [{**row, "version": "2016", "surveyed_on": dt.date(2016, 6, 18)}], crs=cur.crs
            ),
        ]
    )
    defects.append(
        (
            "line_not_touching",
            "0999",
            f"line 0999 claims {a_code}|{c_code} (not adjacent) and lies inside {a_code}",
        )
    )
    cols = [
        "line_code",
        "name",
        "level",
        "left_code",
        "right_code",
        "version",
        "surveyed_on",
        "geometry",
    ]
    return cur[cols].reset_index(drop=True), prev[cols].reset_index(drop=True), defects


#: Type code (GB/T 17796-2009) -> the type written in the 界桩类型 column.
MARKER_TYPE_NAMES = {"Q": "单立", "A": "同号双立", "B": "同号双立",
                     "C": "同号三立", "D": "同号三立", "E": "同号三立"}  # fmt: skip
#: Offset of the members of a pair/triple from the line point (metres, + = smaller code's side).
_GROUP_OFFSETS = {"Q": 0.0, "A": 2.0, "B": -2.0, "C": 2.0, "D": -2.0, "E": 0.0}


def _side_offset(line, frac: float, offset_m: float) -> tuple[float, float]:
    """Point at ``frac`` of ``line``, moved ``offset_m`` toward its smaller admin code's side."""
    geom = line.geometry
    d = frac * geom.length
    a, b = geom.interpolate(max(d - 1, 0)), geom.interpolate(min(d + 1, geom.length))
    p = geom.interpolate(d)
    nx, ny = -(b.y - a.y), b.x - a.x  # left normal (left_code lies on the left)
    norm = float(np.hypot(nx, ny))
    side = 1.0 if str(line.left_code) < str(line.right_code) else -1.0
    return p.x + side * offset_m * nx / norm, p.y + side * offset_m * ny / norm


def _marker_row(line, serial: int, letter: str, frac: float, rng: np.random.Generator) -> dict:
    x, y = _side_offset(line, frac, _GROUP_OFFSETS[letter])
    return {
        "marker_no": f"{line.line_code}{serial:03d}{letter}", "line_code": line.line_code,
        "x_reg": round(x, 2), "y_reg": round(y, 2), "x_obs": round(x, 2), "y_obs": round(y, 2),
        "type": MARKER_TYPE_NAMES[letter], "condition": "完好",
        "custodian": str(rng.choice(_SURNAMES)) + str(rng.choice(_GIVEN)),
        "last_inspected": dt.date(2021, 3, 1) + dt.timedelta(days=int(rng.integers(0, 1700))),
        "_serial": serial, "_frac": frac,
    }  # fmt: skip


def markers_table(lines: gpd.GeoDataFrame, picks: dict, rng: np.random.Generator) -> tuple:
    """Build the marker table (界桩成果表, EPSG:4549 metres) with the marker defects.

    Numbers follow GB/T 17796-2009: line code + serial + type code (Q single, A/B the pair
    of one serial with A on the smaller admin code's side, C/D/E a triple). Most serials are
    single markers; the lines carrying a planted defect get single markers where the defect
    needs one (and a pair for the group defects).
    """
    by_code = {line.line_code: line for line in lines.itertuples() if line.line_code != "0999"}
    pairs = {picks["m_incomplete"], picks["m_conflict"]}
    singles = {v for k, v in picks.items() if k.startswith("m_") and v not in pairs}
    rows = []
    for code, line in by_code.items():
        n = max(2, round(line.geometry.length / 1200))
        for k in range(n):
            group = str(rng.choice(["Q", "Q", "Q", "Q", "Q", "Q", "AB", "AB", "CDE"]))
            if code in singles or (code in pairs and k > 0):
                group = "Q"
            elif code in pairs:
                group = "AB"
            rows += [_marker_row(line, k + 1, letter, (k + 0.5) / n, rng) for letter in group]
    m = pd.DataFrame(rows)
    defects = []

    def first(code: str) -> int:
        return int(m.index[m.line_code == code][0])

    i = int(m.index[m.line_code == picks["m_malformed"]][-1])
    m.loc[i, "marker_no"] = m.loc[i, "marker_no"][:7] + "F"
    defects.append(("marker_number_malformed", m.loc[i, "marker_no"], "type code F is not Q/A-E"))
    i = int(m.index[m.line_code == picks["m_line_mismatch"]][0])
    code = picks["m_line_mismatch"]
    m.loc[i, "marker_no"] = code[2:] + code[:2] + m.loc[i, "marker_no"][4:]  # digits transposed
    defects.append(
        ("marker_line_mismatch", m.loc[i, "marker_no"], f"number's line code is not {code}")
    )
    i = int(m.index[m.line_code == picks["m_duplicate"]][1])
    dup = m.loc[i].copy()
    line = by_code[picks["m_duplicate"]].geometry
    p = line.interpolate(dup["_frac"] + 0.1, normalized=True)
    dup["x_reg"], dup["y_reg"], dup["x_obs"], dup["y_obs"] = (round(p.x, 2), round(p.y, 2)) * 2
    m = pd.concat([m.iloc[: i + 1], dup.to_frame().T, m.iloc[i + 1 :]], ignore_index=True)
    defects.append(("marker_duplicate", dup["marker_no"], "number used twice on its line"))
    i = int(m.index[m.line_code == picks["m_gap"]][1])
    defects.append(("marker_sequence_gap", f"{picks['m_gap']}:002", "serial 002 is missing"))
    m = m.drop(index=i).reset_index(drop=True)
    i = int(m.index[m.marker_no == f"{picks['m_incomplete']}001B"][0])
    m = m.drop(index=i).reset_index(drop=True)
    defects.append(
        ("marker_group_incomplete", f"{picks['m_incomplete']}:001", "pair 001 has no B marker")
    )
    i = int(m.index[m.marker_no == f"{picks['m_conflict']}001B"][0])
    m.loc[i, ["marker_no", "type"]] = [f"{picks['m_conflict']}001Q", "单立"]
    defects.append(
        ("marker_type_conflict", f"{picks['m_conflict']}:001", "serial 001 is both Q and A")
    )
    i = first(picks["m_type_mismatch"])
    m.loc[i, "type"] = "同号双立"
    defects.append(("marker_type_mismatch", m.loc[i, "marker_no"], "type 同号双立 but code Q"))
    i = first(picks["m_bad_value"])
    typo = f"{m.loc[i, 'x_obs']:.2f}"
    typo = f"{typo[:3]}O{typo[4:]}"  # a letter O typed for a digit
    m.loc[i, "x_obs"] = typo
    defects.append(("marker_bad_value", m.loc[i, "marker_no"], f"surveyed X typed as {typo}"))
    i = first(picks["m_displaced"])
    line = by_code[picks["m_displaced"]].geometry
    p = line.interpolate(m.loc[i, "_frac"] * line.length + 12.0)
    m.loc[i, ["x_obs", "y_obs"]] = [round(p.x, 2), round(p.y, 2)]
    defects.append(
        ("marker_displaced", m.loc[i, "marker_no"], "surveyed 12 m from registered, along the line")
    )
    i = first(picks["m_off_line"])
    line = by_code[picks["m_off_line"]].geometry
    d = line.project(shapely.Point(m.loc[i, "x_reg"], m.loc[i, "y_reg"]))
    a, b = line.interpolate(d - 5), line.interpolate(d + 5)
    nx, ny = -(b.y - a.y), b.x - a.x
    scale = 50.0 / np.hypot(nx, ny)
    for col, delta in (("x_reg", nx), ("x_obs", nx), ("y_reg", ny), ("y_obs", ny)):
        m.loc[i, col] = round(m.loc[i, col] + delta * scale, 2)
    defects.append(
        ("marker_off_line", m.loc[i, "marker_no"], "registered and surveyed 50 m off its line")
    )
    for key, cond in (("m_lost", "丢失"), ("m_damaged", "损坏")):
        i = first(picks[key])
        m.loc[i, "condition"] = cond
        defects.append(("marker_condition", m.loc[i, "marker_no"], f"condition {cond}"))
    i = first(picks["m_no_custodian"])
    m.loc[i, "custodian"] = ""
    defects.append(("marker_no_custodian", m.loc[i, "marker_no"], "no custodian"))
    i = first(picks["m_overdue"])
    m.loc[i, "last_inspected"] = dt.date(2019, 5, 20)
    defects.append(("marker_overdue", m.loc[i, "marker_no"], "last inspected 2019-05-20"))
    i = first(picks["m_no_coords"])
    m.loc[i, ["x_reg", "y_reg"]] = [np.nan, np.nan]
    defects.append(("marker_no_coordinates", m.loc[i, "marker_no"], "registered coordinates empty"))
    src = m.loc[first(picks["m_unknown"])].copy()
    src["marker_no"], src["line_code"] = "0888001Q", "0888"
    m = pd.concat([m, src.to_frame().T], ignore_index=True)
    defects.append(("marker_unknown_line", "0888001Q", "line 0888 is not in the lines layer"))
    return m.drop(columns=["_frac", "_serial"]), defects


def write_markers_excel(markers: pd.DataFrame, path) -> None:
    """Write the 界桩成果表 sheet (EPSG:4549 metres; X = easting, Y = northing).

    Inspection dates are Excel date cells, every fifth one written as text ``2023年5月1日``
    as surveyors often do; a coordinate given as text (a planted typo) is written as text.
    """
    from demo_facilities import _save_workbook  # byte-identical reruns
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "界桩成果表"
    ws.append(["界桩编号", "界线编码", "登记X(东)", "登记Y(北)", "实测X(东)", "实测Y(北)",
               "界桩类型", "状况", "管护员", "上次检查日期"])  # fmt: skip

    def cell(v):
        if isinstance(v, str):
            return v
        return None if pd.isna(v) else float(v)

    for k, r in enumerate(markers.itertuples()):
        day = r.last_inspected
        ws.append([
            str(r.marker_no), str(r.line_code), cell(r.x_reg), cell(r.y_reg), cell(r.x_obs),
            cell(r.y_obs), r.type, r.condition, r.custodian or None,
            f"{day.year}年{day.month}月{day.day}日" if k % 5 == 4 else day,
        ])  # fmt: skip
        if k % 5 != 4:
            ws.cell(row=ws.max_row, column=10).number_format = "yyyy-mm-dd"
    wb.properties.title = "晋江示例界桩成果表(合成数据, EPSG:4549)"
    wb.properties.creator = "geoplan demo (synthetic)"
    wb.properties.created = dt.datetime(2025, 12, 31)
    wb.properties.modified = dt.datetime(2025, 12, 31)
    _save_workbook(wb, path)


def rounds_table(lines: gpd.GeoDataFrame, overdue: str) -> tuple[pd.DataFrame, list]:
    """Inspection rounds per line: 2nd round 2016, 3rd round 2021 (one line stops in 2015)."""
    rows = []
    for k, code in enumerate(lines["line_code"]):
        if code == overdue:
            rows.append((code, 1, dt.date(2010, 5, 12), "界线清晰,界桩完好", True))
            rows.append((code, 2, dt.date(2015, 10, 8), "界线清晰,个别界桩需维护", True))
            continue
        rows.append(
            (code, 2, dt.date(2016, 4 + k % 6, 1 + k % 27), "界线清晰,界桩完好,无争议", True)
        )
        rows.append(
            (code, 3, dt.date(2021, 4 + k % 6, 1 + k % 27), "界线清晰,界桩完好,无争议", True)
        )
    table = pd.DataFrame(
        rows, columns=["line_code", "round_no", "inspected_on", "findings", "agreement_signed"]
    )
    return table, [("round_overdue", overdue, "last joint inspection round 2015-10-08")]


def projects_layer(
    towns: gpd.GeoDataFrame,
    lines: gpd.GeoDataFrame,
    straddle_line: str,
    anchors: list[tuple[str, float, float]],
) -> tuple:
    """Project footprints: clean ones inside one town, and one straddling ``straddle_line``."""
    rows = []
    kinds = ["安置地块", "建设项目", "养老服务设施项目", "建设项目", "安置地块", "殡葬设施项目"]
    edges = shapely.union_all(towns.boundary.to_numpy())
    for k, (town_name, x, y) in enumerate(anchors):
        box = shapely.box(x - 60 - 10 * k, y - 45, x + 60 + 10 * k, y + 45)
        if shapely.distance(box, edges) < 30:
            msg = f"project near {town_name} is too close to a town boundary"
            raise RuntimeError(msg)
        rows.append(
            {
                "project_id": f"P{k + 1:03d}",
                "name": f"{town_name}{kinds[k % 6]}{k + 1}号",
                "kind": kinds[k % 6],
                "geometry": box,
            }
        )
    line = lines.set_index("line_code").geometry[straddle_line]
    centre = line.interpolate(0.5, normalized=True)
    straddler = centre.buffer(55.0, cap_style="square")
    pieces = [straddler.intersection(t).area for t in towns.geometry]
    if sorted(pieces)[-2] < 500:
        msg = "the straddling project does not reach 500 m2 on both sides"
        raise RuntimeError(msg)
    pid = f"P{len(rows) + 1:03d}"
    rows.append(
        {"project_id": pid, "name": "跨界安置地块", "kind": "安置地块", "geometry": straddler}
    )
    layer = gpd.GeoDataFrame(rows, geometry="geometry", crs=towns.crs)
    return layer, [("feature_straddles", pid, f"project straddles line {straddle_line}")]
