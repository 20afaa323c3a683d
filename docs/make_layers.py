"""Write ``docs/layers.md`` from the layer contracts and the header vocabulary.

Run from the repository root after changing a contract, a header synonym, a facility type
or a coordinate alias (``tests/test_docs.py`` fails while the committed page differs)::

    .venv/bin/python docs/make_layers.py

Everything in the tables comes from the code: :data:`geoplan.schema.LAYER_CONTRACTS`,
:data:`geoplan.schema.FACILITY_TYPES`, :data:`geoplan.schema.FACILITY_STATUSES`, the header
synonyms of :mod:`geoplan.io._headers` and the coordinate aliases of :mod:`geoplan.crs`.
Only the prose around them is written here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from geoplan.crs.systems import _ALIASES, _LEGACY_NAMES
from geoplan.io._headers import COLUMN_SYNONYMS, KIND_SYNONYMS
from geoplan.io._tables import ID_PREFIX
from geoplan.schema import FACILITY_STATUSES, FACILITY_TYPES, LAYER_CONTRACTS
from geoplan.schema._facility_types import _STATUS_ALIASES
from geoplan.schema.contracts import _LEVELS, CODE_LENGTHS

PAGE = Path(__file__).resolve().parent / "layers.md"

#: What each layer kind is, for a planner (Chinese name, one sentence, where it is used).
KINDS = {
    "study_area": ("研究范围", "The outline of the study (a county, district or town). "
                   "Optional when admin units are given: their union is the study area."),
    "admin_units": ("行政区划（镇街、村社区）", "Township-level units (街道/镇/乡) and villages or "
                    "communities (村/社区), in one layer or several (e.g. `towns` and "
                    "`villages`). Coverage and standards are reported per unit."),
    "facilities": ("民政设施", "Existing and planned facilities: one point per facility, "
                   "with its type and, where known, its capacity."),
    "population": ("人口格网", "Where people live: grid cells (polygons) or points with counts. "
                   "A GeoTIFF is read band by band (`pop`, `households`, `pop_60plus`, "
                   "`pop_80plus`, by band description or in that order)."),
    "boundary_lines": ("行政区域界线", "Boundary lines between two admin units, for the joint "
                       "inspection (界线联检)."),
    "boundary_markers": ("界桩", "Boundary markers from a register (界桩登记表/成果表): "
                         "registered and surveyed coordinates, type, condition, custodian."),
    "projects": ("工程项目", "Project footprints checked against the boundaries (a project "
                 "that straddles a boundary is reported)."),
    "candidate_sites": ("候选地块", "Where new facilities may go (vacant public buildings, "
                        "reserved plots), with an optional cost; `[siting] candidates = "
                        "\"<layer name>\"` uses them."),
    "exclusion_zones": ("禁建区", "Where new sites may not go; `[siting] exclude = [\"<layer "
                        "name>\"]`."),
}
DTYPES = {
    "id": "text id (`001` stays `001`)",
    "str": "text",
    "code": "admin code, digits",
    "count": "number ≥ 0",
    "amount": "number ≥ 0",
    "float": "number",
    "date": "date (an Excel date, `2021-01-01`, `2021/1/1`, `2021年1月1日`)",
    "bool": "true / false",
    "type": "[facility type](#facility-types)",
    "status": "[status](#statuses)",
    "level": "[admin level](#admin-levels)",
}
UNITS = {
    "households": "households (户)", "pop": "people (人)", "pop_60plus": "people (人)",
    "pop_80plus": "people (人)", "beds": "beds (张)", "nursing_beds": "beds (张)",
    "seats": "seats (个)", "meals_per_day": "meals a day (份/日)",
    "niches_total": "niches (格位)", "niches_used": "niches (格位)",
    "floor_area_m2": "m² (平方米)", "cost": "any one unit, e.g. 万元 (the budget's unit)",
    "x_reg": "the declared system's unit", "y_reg": "the declared system's unit",
    "x_obs": "the declared system's unit", "y_obs": "the declared system's unit",
}
#: How a reader fills a column the file does not have.
FILLED = {
    ("admin_units", "level"): "from the code's length (9 digits: town, 12: village …)",
    ("admin_units", "kind"): "from the name's ending (街道, 镇, 社区, 村 …)",
    ("facilities", "facility_type"): "from the layer's declared `type = ...` (study file) "
                                     "or `facility_type=` (reader)",
    ("facilities", "status"): "`existing`",
    ("facilities", "admin_code"): "from a 所属镇街 column that holds codes",
    ("boundary_markers", "coords_missing"): "`false`; `true` for a marker without position",
}
NOTES = {
    "admin_units": "Codes are the statistical division codes (统计用区划代码, GB/T 2260): "
                   "a code padded with zeros to 12 digits counts at its own level "
                   "(`350203000000` is a district).",
    "facilities": "Tables (Excel, CSV) hold the points in coordinate columns; see "
                  "[coordinates](#coordinates). A type written in Chinese is read with the "
                  "names under [facility types](#facility-types); a study adds its own names "
                  "in `[types.aliases]` ([study file](study-file.md#types)). Unknown types "
                  "are reported with their count and rows, never dropped.",
    "population": "Counts must be present (no NaN) and not negative; a study may state census "
                  "totals (`census = {pop = …}` in its layer table) to check the grid against.",
    "boundary_markers": "A bad row does not stop the read: it is kept with its problem in a "
                        "`read_problems` column and becomes a finding of the inspection. Survey "
                        "tables put the northing in X: label the headers `X(北)`/`Y(东)` or set "
                        "`x_axis`.",
}


def _synonyms(kind: str, column: str, *, itself: bool = False) -> str:
    words = [w for w in COLUMN_SYNONYMS.get(column, ()) if itself or w != column]
    own = [w for w, target in KIND_SYNONYMS.get(kind, {}).items()
           if target == column and w != column]
    shown = [f"`{w}`" for w in dict.fromkeys([*own, *words])]
    return ", ".join(shown) or "—"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _kind_section(kind: str) -> list[str]:
    contract = LAYER_CONTRACTS[kind]
    zh, what = KINDS[kind]
    lines = [f'<a id="{kind}"></a>', "", f"## {kind} — {zh}", "", what, ""]
    geometry = " or ".join(contract.geom_types)
    lines.append(f"- Geometry: {geometry}.")
    if contract.id_column:
        generated = (f"; generated as `{ID_PREFIX[kind]}1`, `{ID_PREFIX[kind]}2` … (the row "
                     "number) when the file has no id column" if kind in ID_PREFIX else "")
        lines.append(f"- Id: `{contract.id_column}`, unique{generated}; it becomes the index.")
    if contract.check_within:
        lines.append("- Rows outside the study area are reported (50 m tolerance).")
    if kind in NOTES:
        lines.append(f"- {NOTES[kind]}")
    lines += ["", "| column | required | value | unit | headers read as it | if missing |",
              "|---|---|---|---|---|---|"]
    for spec in contract.columns:
        value = DTYPES[spec.dtype]
        if spec.dtype == "code":
            value += f" ({', '.join(map(str, spec.lengths))} digits)"
        filled = FILLED.get((kind, spec.name), "")
        if not filled and spec.default is not None and spec.dtype != "bool":
            filled = f"`{spec.default}`"
        lines.append("| " + " | ".join(_cell(c) for c in (
            f"`{spec.name}`", "yes" if spec.required else "", value,
            UNITS.get(spec.name, ""), _synonyms(kind, spec.name), filled or "")) + " |")
    other = _other_columns(kind)
    if other:
        lines += ["", "Also recognised and kept under these names: " + "; ".join(other) + "."]
    lines += ["", "Any other column is kept as it is, under its own header.", ""]
    return lines


def _other_columns(kind: str) -> list[str]:
    contract = {c.name for c in LAYER_CONTRACTS[kind].columns}
    wanted = {"facilities": ("admin_name", "address"), "admin_units": (),
              "boundary_lines": ("name",)}.get(kind, ())
    return [f"`{c}` ({_synonyms(kind, c)})" for c in wanted if c not in contract]


def _coordinates() -> list[str]:
    rows = [
        ("wgs84", "WGS 84 longitude/latitude (GPS, OpenStreetMap), EPSG:4326"),
        ("cgcs2000", "CGCS2000 longitude/latitude (国家2000, 天地图), EPSG:4490"),
        ("gcj02", "GCJ-02 (火星坐标): 高德, 腾讯 map picks; the offset is removed on import"),
        ("bd09", "BD-09: 百度 map picks; converted on import"),
        ("EPSG:n", "any EPSG code, e.g. `EPSG:4548` for CGCS2000 Gauss-Krüger 3° zone 39 "
                   "(metres); a bare number `4548` is read the same"),
    ]
    lines = ['<a id="coordinates"></a>', "", "## Coordinates — 坐标系", "",
             "Every layer **declares** its coordinate system (`coords` in the study file, the "
             "second argument of every reader). An undeclared or unknown system is an error, "
             "never a guess; a file's own CRS (a `.prj`, a GeoPackage's SRS) must agree with "
             "the declaration. Everything is converted once to the study's metric CRS, its "
             "CGCS2000 3-degree Gauss-Krüger zone (EPSG:4534–4554, chosen from the study "
             "area's centre).", "",
             "| declare | meaning | also accepted |", "|---|---|---|"]
    for name, meaning in rows:
        also = ", ".join(f"`{a}`" for a in _ALIASES.get(name, ()) if a != name) or "—"
        lines.append(f"| `{name}` | {meaning} | {_cell(also)} |")
    lines += [
        "",
        "Refused: " + ", ".join(f"`{n}`" for n in _LEGACY_NAMES) + " (Xian 1980 and Beijing "
        "1954 have no published transformation in PROJ; supply CGCS2000 or a published "
        "parameter set) and Baidu Mercator (`bd09mc`; export BD-09 longitude/latitude).",
        "",
        "GCJ-02 and BD-09 are converted only inside mainland China (not Hong Kong, Macau, "
        "Taiwan, Kinmen, Matsu or abroad); the inverse is iterative and exact to well under "
        "1 mm. Use it to bring geocoded facility lists into the analysis, not to publish "
        "de-obfuscated data.",
        "",
        "**Coordinate columns in tables** (Excel, CSV) are found by their headers:",
        "",
        f"- east / longitude: {_synonyms('', 'lon', itself=True)}",
        f"- north / latitude: {_synonyms('', 'lat', itself=True)}",
        "",
        "Numbers typed as text, full-width digits (`１１８．５`), thousands separators and "
        "degrees-minutes-seconds (`118°05′24″`) are read. Headers that name the axis "
        "(经度, 纬度, `X(东)`, `Y(北)`, 东坐标, 北坐标) win. Bare `X`/`Y` are longitude/latitude "
        "for a longitude/latitude declaration; for metres (`EPSG:n`) Chinese survey tables "
        "put the northing in X, so geoplan reads the magnitudes (a northing has 7 digits) or "
        "`x_axis = \"north\"`/`\"east\"`, and stops when neither tells. Columns that look "
        "swapped, metres declared as degrees and degrees declared as metres are reported "
        "with their rows, never fixed silently.",
        "",
    ]
    return lines


def _facility_types() -> list[str]:
    lines = ['<a id="facility-types"></a>', "", "## Facility types — 设施类型", "",
             "The `facility_type` column holds a key; the names below (and the Chinese and "
             "English names) are read as it, after removing spaces and brackets. A study names "
             "its own in `[types.aliases]` ([study file](study-file.md#types)); a layer of one "
             "type declares it with `type = \"...\"` in its `[layers.<name>]` table.", "",
             "| key | 中文名 | capacity columns | names read as it |", "|---|---|---|---|"]
    for key, ft in FACILITY_TYPES.items():
        names = ", ".join(a for a in ft.aliases if a != ft.name_zh)
        caps = ", ".join(f"`{c}`" for c in ft.capacity_columns)
        lines.append(f"| `{key}` | {ft.name_zh} | {caps} | {_cell(names)} |")
    lines += ["", '<a id="statuses"></a>', "", "## Statuses — 建设状态", "",
              "| key | 中文名 | words read as it |", "|---|---|---|"]
    for key, zh in FACILITY_STATUSES.items():
        words = ", ".join(w for w in _STATUS_ALIASES[key] if w != zh)
        lines.append(f"| `{key}` | {zh} | {words} |")
    lines += ["", '<a id="admin-levels"></a>', "", "## Admin levels — 行政级别", "",
              "| level | words read as it | code digits |", "|---|---|---|"]
    digits = {"province": "2 (or 6, 12)", "city": "4 (or 6, 12)", "county": "6 (or 12)",
              "town": "9 (or 12)", "village": "12"}
    for level, words in _LEVELS.items():
        shown = ", ".join(w for w in words if w != level)
        lines.append(f"| `{level}` | {shown} | {digits[level]} |")
    lines += ["", f"Admin codes anywhere are {', '.join(map(str, CODE_LENGTHS))} digits.", ""]
    return lines


def _inspection_rounds() -> list[str]:
    words = KIND_SYNONYMS["inspection_rounds"]
    columns = dict.fromkeys(words.values())
    lines = ['<a id="inspection_rounds"></a>', "", "## inspection_rounds — 联检记录 (a table)",
             "", "A plain table (`[tables.inspection_rounds]` in the study file, or "
             "`geoplan.io.read_inspection_rounds`): one row per line and round. `line_code` and "
             "`inspected_on` are required; cells are read as written (`第四轮`, "
             "`2021年6月30日`) by the inspection, which reports what it cannot read.", "",
             "| column | headers read as it |", "|---|---|"]
    for column in columns:
        lines.append(f"| `{column}` | {_synonyms('inspection_rounds', column)} |")
    return [*lines, ""]


def render() -> str:
    """Return the text of ``docs/layers.md``."""
    lines = [
        "# Layers — 图层",
        "",
        "<!-- Generated by docs/make_layers.py from the layer contracts; do not edit. -->",
        "",
        "What geoplan reads: for each kind of layer, the columns it needs and may have, the "
        "headers it recognises for them (Chinese and English; compared without spaces, case "
        "or a bracketed part such as `(㎡)`), their units, and how coordinates are declared. "
        "A header not listed can be mapped with `columns = {\"表头\" = \"name\"}` in the "
        "study file or `columns={\"表头\": \"name\"}` in a reader. Every reader checks a "
        "layer against this contract and lists **all** problems at once, with the row id and "
        "the column; inputs are never modified.",
        "",
        "Formats: GeoPackage, GeoJSON, Shapefile (a GBK `.dbf` without `.cpg` is detected "
        "and re-read as GBK, with a warning; field names cut at 10 bytes are recognised), "
        "Excel `.xlsx` (title rows above the header and a merged 坐标 header over 经度/纬度 "
        "are understood), CSV (UTF-8, UTF-8 with BOM or GBK), GeoTIFF population grids, and "
        "PostGIS tables. Worked examples: [own-data.md](own-data.md).",
        "",
        "Contents: [coordinates](#coordinates) · "
        + " · ".join(f"[{k}](#{k})" for k in KINDS)
        + " · [inspection_rounds](#inspection_rounds) · [facility types](#facility-types) · "
        "[statuses](#statuses) · [admin levels](#admin-levels)",
        "",
    ]
    lines += _coordinates()
    for kind in KINDS:
        lines += _kind_section(kind)
    lines += _inspection_rounds()
    lines += _facility_types()
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> int:
    """Write the page; print where."""
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    assert set(KINDS) == set(LAYER_CONTRACTS), "describe every layer kind in KINDS"
    sys.exit(main())
