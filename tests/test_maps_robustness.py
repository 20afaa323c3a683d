"""Map builders on awkward input: empty layers, missing values, HTML-special names, bad columns.

The browser side of the same cases (popups, console errors) is in test_browser.py.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import synthetic_layers as sl
from shapely.geometry import GeometryCollection, LineString, Point, box

from geoplan import maps
from geoplan.errors import OutputError

EVIL = '<b>A&B</b> "养老" \'x\' <img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def layers(shared_data: Path) -> dict[str, gpd.GeoDataFrame]:
    return sl.map_layers(shared_data, n_cells=300)


def _features(layer: folium.GeoJson) -> list[dict]:
    return layer.data["features"]


def test_every_builder_accepts_an_empty_layer_and_the_page_renders(layers):
    m = maps.base_map(layers["towns"])
    maps.add_coverage_choropleth(m, layers["towns"].iloc[:0])
    maps.add_standards_shortfalls(m, layers["standards"].iloc[:0])
    maps.add_uncovered_cells(m, layers["cells"].assign(covered=True))  # nothing uncovered
    maps.add_facilities(m, layers["facilities"].iloc[:0])
    maps.add_service_areas(m, layers["facilities"].iloc[:0][["facility_type", "geometry"]])
    maps.add_proposed_sites(m, layers["sites"].iloc[:0])
    maps.add_boundary_lines(m, layers["lines"].iloc[:0])
    maps.add_boundary_markers(m, layers["markers"].iloc[:0])
    maps.add_findings(m, layers["findings"].iloc[:0])
    maps.add_layer_control(m)
    page = maps.map_to_html(m)  # folium refused popups on layers without features
    assert page.count('"type":"FeatureCollection"') >= 6


def test_empty_extent_is_a_clear_error(layers):
    with pytest.raises(OutputError, match="extent layer has no geometry"):
        maps.base_map(layers["towns"].iloc[:0])
    m = maps.overview_map({"towns": layers["towns"].iloc[:0], "facilities": layers["facilities"]})
    assert m.get_bounds()[0][0] == pytest.approx(24.5, abs=0.5)  # opened on the facilities
    with pytest.raises(OutputError, match="every layer is empty"):
        maps.overview_map({"towns": layers["towns"].iloc[:0]})


def test_text_shown_in_popups_and_layer_names_is_html_escaped(layers):
    facilities = layers["facilities"].copy()
    facilities.loc[facilities.index[0], "name"] = EVIL
    facilities["facility_type"] = facilities["facility_type"].astype(object)
    facilities.loc[facilities.index[1], "facility_type"] = "自建<类型>&"
    m = maps.base_map(layers["towns"])
    by_id = {layer.geoplan_layer_id: layer for layer in maps.add_facilities(m, facilities)}
    props = _features(by_id["facilities-elderly_station"])[0]["properties"]
    assert props["name"] == ("&lt;b&gt;A&amp;B&lt;/b&gt; &quot;养老&quot; &#x27;x&#x27; "
                             "&lt;img src=x onerror=alert(1)&gt;")
    odd = [layer for layer in by_id.values() if layer.layer_name.startswith("自建")]
    assert len(odd) == 1
    assert odd[0].layer_name == "自建&lt;类型&gt;&amp;（1）"
    assert re.fullmatch(r"facilities-_{7}-[0-9a-f]{8}", odd[0].geoplan_layer_id)
    layer = maps.add_coverage_choropleth(m, layers["towns"], extra_popup={"households": "户数<户>"})
    popup = next(c for c in layer._children.values() if isinstance(c, folium.GeoJsonPopup))
    assert popup.aliases[-1] == "户数&lt;户&gt;"


def test_popup_values_of_any_type_are_json(layers):
    towns = layers["towns"].assign(
        when=pd.Timestamp("2024-05-01"), day=pd.Timestamp("2024-05-01").date(), n=np.int64(7),
        big=np.inf)
    m = maps.base_map(towns)
    layer = maps.add_layer(m, towns, name="x", layer_id="x", style={},
                           popup_fields={"when": "时间", "day": "日期", "n": "数", "big": "大"})
    props = _features(layer)[0]["properties"]
    assert props["when"] == "2024-05-01T00:00:00"
    assert props["day"] == "2024-05-01"
    assert props["n"] == 7
    assert props["big"] == "inf"
    maps.map_to_html(m)


def test_missing_popup_column_is_a_clear_error(layers):
    m = maps.base_map(layers["towns"])
    with pytest.raises(OutputError, match=r"columns \['nope'\] for the popup"):
        maps.add_layer(m, layers["towns"], name="x", layer_id="x", style={},
                       popup_fields={"nope": "没有"})


@pytest.mark.parametrize(("builder", "drop", "column"), [
    (maps.add_coverage_choropleth, "towns", "pop_60plus_share"),
    (maps.add_standards_shortfalls, "standards", "shortfall"),
    (maps.add_uncovered_cells, "cells", "covered"),
    (maps.add_uncovered_cells, "cells", "pop_60plus"),
    (maps.add_facilities, "facilities", "status"),
    (maps.add_proposed_sites, "sites", "rank"),
    (maps.add_proposed_sites, "sites", "new_pop_60plus"),
    (maps.add_boundary_markers, "markers", "marker_no"),
    (maps.add_boundary_lines, "lines", "line_code"),
    (maps.add_findings, "findings", "kind"),
])
def test_missing_column_names_the_column(layers, builder, drop, column):
    m = maps.base_map(layers["towns"])
    with pytest.raises(OutputError, match=rf"column '{column}': missing column"):
        builder(m, layers[drop].drop(columns=column))


def test_markers_of_a_register_without_condition_are_drawn(layers):
    m = maps.base_map(layers["towns"])
    markers = layers["markers"].drop(columns="condition")
    layer = maps.add_boundary_markers(m, markers)
    assert len(_features(layer)) == len(markers)


def test_facilities_without_a_type_are_drawn_not_dropped(layers):
    facilities = layers["facilities"].astype({"facility_type": object})
    facilities.loc[facilities.index[:2], "facility_type"] = [None, np.nan]
    m = maps.base_map(layers["towns"])
    result = maps.add_facilities(m, facilities)
    assert sum(len(_features(layer)) for layer in result) == len(facilities)
    untyped = [layer for layer in result if layer.geoplan_layer_id == "facilities-untyped"]
    assert untyped[0].layer_name == "未填类型（2）"


def test_a_type_has_one_colour_in_every_layer(layers):
    facilities = layers["facilities"]
    m = maps.base_map(layers["towns"])
    points = maps.add_facilities(m, facilities[facilities["facility_type"] == "columbarium"])
    areas = maps.add_service_areas(m, facilities.assign(geometry=facilities.buffer(500.0)))
    colour = _features(points[0])[0]["properties"]["style"]["color"]
    by_id = {layer.geoplan_layer_id: layer for layer in areas}
    assert _features(by_id["service-areas-columbarium"])[0]["properties"]["style"][
        "color"] == colour
    assert len({_features(layer)[0]["properties"]["style"]["color"] for layer in areas}) == 4


def test_service_areas_in_degrees_are_drawn(layers):
    facilities = layers["facilities"]
    areas = facilities.assign(geometry=facilities.buffer(500.0))[["facility_type", "geometry"]]
    m = maps.base_map(layers["towns"])
    result = maps.add_service_areas(m, areas.to_crs(4326))
    assert sum(len(_features(layer)) for layer in result) == len(areas)


@pytest.mark.parametrize("covered", [
    [np.nan, 1.0], ["True", "False"], [None, True], ["是", "否"], [2, 0],
])
def test_covered_must_be_true_or_false(layers, covered):
    cells = layers["cells"].iloc[:2].assign(covered=pd.Series(covered, dtype=object).to_numpy())
    m = maps.base_map(layers["towns"])
    with pytest.raises(OutputError, match="column 'covered' must be True/False; rows c"):
        maps.add_uncovered_cells(m, cells)


def test_covered_as_zero_one_and_nullable_boolean(layers):
    cells = layers["cells"]
    m = maps.base_map(layers["towns"])
    n_gaps = int((~cells["covered"]).sum())
    as_int = maps.add_uncovered_cells(m, cells.assign(covered=cells["covered"].astype(int)))
    as_nullable = maps.add_uncovered_cells(m, cells.assign(
        covered=cells["covered"].astype("boolean")))
    assert len(_features(as_int)) == len(_features(as_nullable)) == n_gaps


def test_shares_must_be_fractions(layers):
    m = maps.base_map(layers["towns"])
    percent = layers["towns"].assign(pop_60plus_share=layers["towns"]["pop_60plus_share"] * 100)
    with pytest.raises(OutputError, match=r"fraction in \[0, 1\].*percentages\? divide by 100"):
        maps.add_coverage_choropleth(m, percent)
    text = layers["towns"].assign(pop_60plus_share="很高")
    with pytest.raises(OutputError, match="must hold numbers; rows 350582100"):
        maps.add_coverage_choropleth(m, text)
    as_text = layers["towns"].assign(
        pop_60plus_share=layers["towns"]["pop_60plus_share"].map(str))
    as_text.iloc[0, as_text.columns.get_loc("pop_60plus_share")] = None
    layer = maps.add_coverage_choropleth(m, as_text)  # numbers as text, one missing
    props = [f["properties"] for f in _features(layer)]
    assert props[0]["_share_text"] == "—"
    assert props[0]["style"]["fillColor"] == "#bdbdbd"
    assert props[1]["_share_text"].endswith("%")


def test_sites_with_a_missing_rank_or_gain(layers):
    sites = layers["sites"].assign(rank=[1, 2, np.nan, 4, 5],
                                   new_pop_60plus=[100.0, np.nan, 50.0, 20.0, 10.0])
    m = maps.base_map(layers["towns"])
    props = [f["properties"] for f in _features(maps.add_proposed_sites(m, sites))]
    assert [p["_rank_text"] for p in props] == ["第1位", "第2位", "—", "第4位", "第5位"]
    assert props[1]["_gain_text"] == "—"


def test_standards_shortfall_as_text_numbers(layers):
    m = maps.base_map(layers["towns"])
    layer = maps.add_standards_shortfalls(m, layers["standards"].assign(shortfall="12.5"))
    assert _features(layer)[0]["properties"]["_shortfall_text"] == "12.5"
    with pytest.raises(OutputError, match="column 'shortfall' must hold numbers"):
        maps.add_standards_shortfalls(m, layers["standards"].assign(shortfall="缺很多"))


def test_units_with_coverage_matches_integer_and_text_codes(layers):
    towns = layers["towns"].drop(columns="pop_60plus_share")
    coverage = pd.DataFrame({
        "level": "town", "code": towns["code"].astype("int64").to_numpy(),
        "facility_type": "elderly_station", "tier_min": 15,
        "pop_60plus_share": np.linspace(0, 1, len(towns))})
    joined = maps.units_with_coverage(towns, coverage, facility_type="elderly_station")
    assert joined["pop_60plus_share"].notna().all()
    assert joined["pop_60plus_share"].iloc[-1] == 1.0
    twice = pd.concat([coverage, coverage.iloc[:1]])
    with pytest.raises(OutputError, match=r"several rows .* unit code\(s\) \['350582100'\]"):
        maps.units_with_coverage(towns, twice, facility_type="elderly_station")


def test_facility_town_from_numeric_admin_codes(layers):
    facilities = layers["facilities"].assign(
        admin_code=lambda d: d["admin_code"].astype("int64").astype(float))
    towns = layers["towns"].assign(code=lambda d: d["code"].astype("int64"))
    m = maps.base_map(layers["towns"])
    layer = maps.add_facilities(m, facilities, admin_units=towns)[0]
    assert {f["properties"]["_town"] for f in _features(layer)} <= set(sl.TOWN_NAMES)


def test_geometry_collections_become_multi_geometries(layers):
    findings = layers["findings"].copy()
    c = findings.geometry.iloc[2]
    findings.loc["f1", "geometry"] = GeometryCollection([
        box(c.x, c.y, c.x + 100, c.y + 100), box(c.x + 300, c.y, c.x + 400, c.y + 100),
        LineString([(c.x, c.y), (c.x - 50, c.y)]), Point(c.x - 80, c.y)])
    m = maps.base_map(layers["towns"])
    layer = maps.add_findings(m, findings)
    assert _features(layer)[0]["geometry"]["type"] == "MultiPolygon"
    assert len(_features(layer)[0]["geometry"]["coordinates"]) == 2
    assert findings.geom_type.iloc[0] == "GeometryCollection"  # input not modified
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # folium warns that popups skip collections
        maps.map_to_html(m)


def test_notebook_display_is_self_contained(layers):
    m = maps.base_map(layers["towns"])
    maps.add_coverage_choropleth(m, layers["towns"])
    shown = m._repr_html_()
    assert shown.startswith("<div")
    assert "<iframe" in shown
    assert "geoplan-coverage-town" in shown
    assert "cdn.jsdelivr.net" not in shown
    assert "L.Icon.Default.mergeOptions" in shown
    assert "cdn.jsdelivr.net" in folium.Map._repr_html_(m)  # folium's own display needs the web


def test_tianditu_key_must_be_letters_and_digits(layers):
    with pytest.raises(OutputError, match="letters and digits only"):
        maps.base_map(layers["towns"], basemap="tianditu", tianditu_tk="abc&x=1")
    page = maps.map_to_html(maps.base_map(layers["towns"], basemap="tianditu",
                                          tianditu_tk=" 0123456789abcdef0123456789ABCDEF "))
    assert "tk=0123456789abcdef0123456789ABCDEF" in page


def test_marker_conditions_as_surveyors_write_them(layers):
    markers = layers["markers"].iloc[:6].assign(
        condition=[" Intact ", "完好\u3000", "DAMAGED", "丢 失", None, "待查"])
    m = maps.base_map(layers["towns"])
    props = [f["properties"] for f in _features(maps.add_boundary_markers(m, markers))]
    assert [p["style"]["fillColor"] for p in props] == [
        "#2b83ba", "#2b83ba", "#d7191c", "#d7191c", "#fdae61", "#fdae61"]
    assert props[4]["_condition"] == "—"


def test_units_with_coverage_replaces_a_stale_share(layers):
    towns = layers["towns"].assign(pop_60plus_share=0.1)  # from an earlier join
    coverage = pd.DataFrame({"level": "town", "code": towns["code"], "name": towns["name"],
                             "facility_type": "senior_canteen", "tier_min": 15.0,
                             "pop_60plus_share": 0.7})
    joined = maps.units_with_coverage(towns, coverage, facility_type="senior_canteen")
    assert (joined["pop_60plus_share"] == 0.7).all()
    assert list(joined["name"]) == list(towns["name"])


def test_image_overlay_keeps_holes_open(layers):
    import base64
    import io

    from matplotlib.image import imread
    from shapely.geometry import Polygon

    from geoplan.maps._raster import cells_png_overlay

    x, y = layers["towns"].geometry.iloc[0].representative_point().coords[0]
    outline = box(x, y, x + 3000, y + 3000).exterior.coords
    enclave = box(x + 1000, y + 1000, x + 2000, y + 2000).exterior.coords
    for hole in (list(enclave), list(enclave)[::-1]):  # either winding
        units = gpd.GeoSeries([Polygon(outline, [hole]), box(x + 3000, y, x + 6000, y + 3000)],
                              crs=layers["towns"].crs).to_crs(4326)
        uri, _ = cells_png_overlay(gpd.GeoDataFrame(geometry=units), ["#ff0000", "#0000ff"],
                                   px_per_cell=20)
        image = imread(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
        h, w = image.shape[:2]
        assert image[h // 2, w // 4, 3] == 0  # the enclave is not painted over
        assert image[h // 10, w // 4, 3] == 1  # the ring around it is
        assert tuple(image[h // 2, 3 * w // 4]) == (0, 0, 1, 1)


def test_coverage_popup_shows_the_counts_behind_the_share(layers):
    towns = layers["towns"].assign(pop_60plus_total=12345.0, pop_60plus_covered=6172.4)
    m = maps.base_map(towns)
    props = _features(maps.add_coverage_choropleth(m, towns))[0]["properties"]
    assert props["_pop_60plus_covered_text"] == "6,172"
    assert props["_pop_60plus_total_text"] == "12,345"


def test_boundary_lines_without_a_level_or_with_chinese_levels(layers):
    m = maps.base_map(layers["towns"])
    lines = layers["lines"]
    plain = maps.add_boundary_lines(m, lines.drop(columns="level"))
    assert len(_features(plain)) == len(lines)
    assert {f["properties"]["_level"] for f in _features(plain)} == {"未注明"}
    chinese = maps.add_boundary_lines(m, lines.assign(level=["县级", "乡级"] * (len(lines) // 2)
                                                       + ["乡级"] * (len(lines) % 2)))
    assert {f["properties"]["_level"] for f in _features(chinese)} <= {"县级", "乡级"}
