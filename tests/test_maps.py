"""Map builders and self-contained HTML, checked on the rendered page (no browser here).

The browser checks (Leaflet runs, features drawn, toggling, popups) are in test_browser.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
import prcoords
import pytest
import shapely
import shapely.geometry
import synthetic_layers as sl
from geopandas.testing import assert_geodataframe_equal

from geoplan import maps
from geoplan.errors import CRSError, OutputError
from geoplan.io import write_text_atomically
from geoplan.maps import _assets
from geoplan.maps._legend import LegendPanel

EXTERNAL_REF = re.compile(
    r"<script[^>]+src\s*=\s*[\"']?(https?:)?//|<link[^>]+href\s*=\s*[\"']?(https?:)?//"
    r"|url\(\s*[\"']?(https?:)?//|@import",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def layers(shared_data: Path) -> dict[str, gpd.GeoDataFrame]:
    return sl.map_layers(shared_data, n_cells=1500)


def _in_page(text: str, page: str) -> bool:
    """Chinese text is in the page, literally or JSON-escaped inside the map script."""
    return text in page or json.dumps(text)[1:-1] in page


def _features(layer: folium.GeoJson) -> list[dict]:
    return layer.data["features"]


def test_self_contained_html_has_no_external_asset(layers, tmp_path):
    m = maps.base_map(layers["towns"], title="晋江市")
    maps.add_coverage_choropleth(m, layers["towns"])
    maps.add_facilities(m, layers["facilities"], admin_units=layers["towns"])
    maps.add_layer_control(m)
    out = maps.save_map(m, tmp_path / "map.html")
    page = out.read_text(encoding="utf-8")
    # the same map as folium writes it does reference CDNs: the check below can fail
    assert EXTERNAL_REF.search(maps.map_to_html(m, self_contained=False))
    assert EXTERNAL_REF.search(page) is None
    assert "L.Icon.Default.mergeOptions" in page
    assert "晋江市" in page  # written as UTF-8, not as \\u escapes
    assert "镇街60岁以上老人覆盖率" in page
    # only Leaflet: no jQuery, Bootstrap, Font Awesome or awesome-markers (1.8 MB inlined)
    for unused in ("jQuery", "bootstrap", "data:font/woff2;base64,", "AwesomeMarkers"):
        assert unused not in page, unused
    assert [p.name for p in tmp_path.iterdir()] == ["map.html"]


def test_a_folium_icon_brings_its_assets_inline(layers, tmp_path):
    m = maps.base_map(layers["towns"])
    point = layers["towns"].to_crs(4326).geometry.iloc[0].representative_point()
    folium.Marker([point.y, point.x], icon=folium.Icon(icon="home", prefix="fa")).add_to(m)
    page = maps.save_map(m, tmp_path / "icon.html").read_text(encoding="utf-8")
    assert EXTERNAL_REF.search(page) is None
    assert "data:font/woff2;base64," in page
    assert "AwesomeMarkers" in page


def test_page_text_is_utf8_and_layer_data_compact(layers):
    towns = layers["towns"].copy()
    towns.loc[towns.index[0], "name"] = 'A<B>&"\\u9752\n青阳\u2028'
    m = maps.base_map(towns)
    layer = maps.add_coverage_choropleth(m, towns)
    page = maps.map_to_html(m)
    assert "青阳" in page
    assert "\\u9752" not in page.replace("\\\\u9752", "")  # only the typed text keeps it
    assert "\\u003c" in page  # "<" stays escaped inside the script
    assert "\\u2028" in page  # a line separator too
    assert '"coordinates":[[[' in page  # no spaces in the layer's JSON
    start = page.index(f"{layer.get_name()}_add(") + len(layer.get_name()) + 5
    data = json.loads(page[start:page.index(");", start)])
    assert len(data["features"]) == len(towns)
    assert data["features"][0]["properties"]["name"].startswith("A&lt;B&gt;&amp;&quot;\\u9752")


def test_failed_save_keeps_the_earlier_file(layers, tmp_path):
    target = tmp_path / "map.html"
    target.write_text("earlier map", encoding="utf-8")
    m = maps.base_map(layers["towns"])
    folium.plugins.MiniMap().add_to(m)  # its plugin JS is not vendored
    with pytest.raises(OutputError, match="no vendored copy of the web asset"):
        maps.save_map(m, target)
    assert target.read_text(encoding="utf-8") == "earlier map"
    assert [p.name for p in tmp_path.iterdir()] == ["map.html"]


def test_write_interrupted_midway_leaves_no_partial_file(layers, tmp_path, monkeypatch):
    target = tmp_path / "map.html"
    target.write_text("earlier map", encoding="utf-8")
    real_write_text = Path.write_text

    def full_disk(self, text, *args, **kwargs):
        real_write_text(self, text[:1000], *args, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(OutputError, match=r"cannot write map\.html: disk full"):
        maps.save_map(maps.base_map(layers["towns"]), target)
    monkeypatch.undo()
    assert target.read_text(encoding="utf-8") == "earlier map"
    assert [p.name for p in tmp_path.iterdir()] == ["map.html"]
    write_text_atomically("new map", target)
    assert target.read_text(encoding="utf-8") == "new map"


def test_missing_vendored_file_is_a_clear_error():
    with pytest.raises(OutputError, match="missing; reinstall geoplan"):
        _assets.asset_text("leaflet/not-there.js")


def test_vendored_assets_are_small_and_licensed():
    root = Path(_assets.__file__).parent / "assets"
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert total < 3_000_000
    for folder in ("leaflet", "jquery", "bootstrap", "fontawesome", "awesome-markers"):
        assert any(p.name.startswith("LICENSE") for p in (root / folder).iterdir()), folder
    for relative in _assets.ASSET_FILES.values():
        if relative is not None:
            assert (root / relative).is_file(), relative


def test_facility_layers_per_type_with_chinese_popups(layers):
    facilities = layers["facilities"]
    before = facilities.copy()
    m = maps.base_map(layers["towns"])
    result = maps.add_facilities(m, facilities, admin_units=layers["towns"])
    assert_geodataframe_equal(facilities, before)  # input not modified
    assert {layer.geoplan_layer_id for layer in result} == {
        f"facilities-{t}" for t in sl.FACILITY_TYPES}
    by_id = {layer.geoplan_layer_id: layer for layer in result}
    canteens = _features(by_id["facilities-senior_canteen"])
    assert len(canteens) == 6
    props = canteens[0]["properties"]
    assert props["_type_zh"] == "长者食堂/助餐点"
    assert props["_status_zh"] == "现有"
    assert props["_capacity"].startswith("餐位（个）")
    assert props["_town"] in sl.TOWN_NAMES
    statuses = {f["properties"]["_status_zh"] for f in canteens}
    assert statuses == {"现有", "在建", "规划", "拟建（选址建议）"}
    dashes = {f["properties"]["style"].get("dashArray") for f in canteens}
    assert len(dashes) == 4  # each status drawn differently
    assert by_id["facilities-senior_canteen"].layer_name == "长者食堂/助餐点（6）"


def test_coordinates_are_rounded_and_in_lonlat(layers):
    m = maps.base_map(layers["towns"])
    layer = maps.add_coverage_choropleth(m, layers["towns"])
    text = str(layer.data["features"][0]["geometry"]["coordinates"])
    numbers = re.findall(r"-?\d+\.\d+", text)
    assert numbers
    assert max(len(n.split(".")[1]) for n in numbers) <= maps.COORD_DECIMALS
    lon, lat = layer.data["features"][0]["geometry"]["coordinates"][0][0]
    assert 118.3 < lon < 118.8
    assert 24.5 < lat < 25.0


def test_choropleth_colours_follow_the_share(layers):
    towns = layers["towns"].copy()
    towns["pop_60plus_share"] = np.linspace(0.0, 1.0, len(towns))
    m = maps.base_map(towns)
    layer = maps.add_coverage_choropleth(m, towns)
    fills = [f["properties"]["style"]["fillColor"] for f in _features(layer)]
    assert fills[0] == maps.SHARE_COLORS[0]
    assert fills[-1] == maps.SHARE_COLORS[-1]
    assert _features(layer)[-1]["properties"]["_share_text"] == "100.0%"


def test_binned_colors_edges_and_errors():
    colors = maps.binned_colors(pd.Series([0.0, 0.2, 0.5, 1.0, np.nan, 7.0]), (0, 0.2, 0.6, 1),
                                ["a", "b", "c"])
    assert colors == ["a", "b", "b", "c", "#bdbdbd", "c"]
    with pytest.raises(OutputError, match="need 3 colours"):
        maps.binned_colors(pd.Series([1.0]), (0, 1, 2, 3), ["a"])


def test_large_cell_layer_becomes_one_image(layers):
    cells = layers["cells"]
    m = maps.base_map(layers["towns"])
    vector = maps.add_uncovered_cells(m, cells)
    assert isinstance(vector, folium.GeoJson)
    assert len(_features(vector)) == int((~cells["covered"]).sum())
    image = maps.add_uncovered_cells(m, cells, max_vector_features=100)
    assert isinstance(image, folium.raster_layers.ImageOverlay)
    assert image.url.startswith("data:image/png;base64,")
    (south, west), (north, east) = image.bounds
    assert 118.3 < west < east < 118.8
    assert 24.5 < south < north < 25.0


def test_standards_layer_and_bad_status(layers):
    m = maps.base_map(layers["towns"])
    layer = maps.add_standards_shortfalls(m, layers["standards"], rule_label="每百户用房面积")
    fills = {f["properties"]["_status_text"]: f["properties"]["style"]["fillColor"]
             for f in _features(layer)}
    assert fills == {"未达标": "#d7191c", "达标": "#1a9641"}
    assert layer.layer_name == "每百户用房面积（未达标 7）"
    partial = layers["standards"].assign(status=["not_computable"] + ["pass"] * 18)
    texts = [f["properties"]["_status_text"] for f in _features(
        maps.add_standards_shortfalls(m, partial))]
    assert texts.count("无法计算") == 1
    bad = layers["standards"].assign(status="maybe")
    with pytest.raises(OutputError, match="must hold 'pass'/'fail'"):
        maps.add_standards_shortfalls(m, bad)


def test_findings_markers_lines_and_sites(layers):
    m = maps.base_map(layers["towns"])
    findings = maps.add_findings(m, layers["findings"])
    kinds = [f["properties"]["_kind"] for f in _features(findings)]
    assert kinds == ["政区缝隙", "界线与上一版本不一致", "界桩状况异常"]  # no-location row left out
    assert findings.layer_name == "联检发现（3）"
    markers = maps.add_boundary_markers(m, layers["markers"])
    fills = [f["properties"]["style"]["fillColor"] for f in _features(markers)]
    assert fills.count("#d7191c") == 4
    assert len(fills) == 8
    assert len(_features(maps.add_boundary_lines(m, layers["lines"]))) == 4
    sites = maps.add_proposed_sites(m, layers["sites"])
    radii = [f["properties"]["style"]["radius"] for f in _features(sites)]
    assert radii == sorted(radii, reverse=True)  # bigger gain, bigger circle
    assert _features(sites)[0]["properties"]["_rank_text"] == "第1位"


def test_layer_without_crs_is_refused(layers):
    m = maps.base_map(layers["towns"])
    no_crs = gpd.GeoDataFrame(layers["towns"].drop(columns="geometry"),
                              geometry=list(layers["towns"].geometry), crs=None)
    with pytest.raises(CRSError, match="has no CRS"):
        maps.add_coverage_choropleth(m, no_crs)


def test_simplify_needs_metres(layers):
    m = maps.base_map(layers["towns"])
    with pytest.raises(CRSError, match="metric CRS"):
        maps.add_layer(m, layers["towns"].to_crs(4326), name="x", layer_id="x", style={},
                       simplify_tolerance_m=5.0)


def test_tianditu_needs_a_key(layers, monkeypatch):
    monkeypatch.delenv("GEOPLAN_TIANDITU_TK", raising=False)
    with pytest.raises(OutputError, match="GEOPLAN_TIANDITU_TK"):
        maps.base_map(layers["towns"], basemap="tianditu")
    monkeypatch.setenv("GEOPLAN_TIANDITU_TK", "abc123")
    m = maps.base_map(layers["towns"], basemap="tianditu")
    plain = maps.base_map(layers["towns"])
    shifted = maps.add_coverage_choropleth(m, layers["towns"]).data
    unshifted = maps.add_coverage_choropleth(plain, layers["towns"]).data
    assert shifted == unshifted  # 天地图 tiles are WGS-84/CGCS2000: no offset
    page = maps.map_to_html(m)
    assert "vec_w/wmts" in page
    assert "cva_w/wmts" in page
    assert "tk=abc123" in page
    assert not _in_page(maps.INTERNAL_NOTE, page)


def test_unknown_basemap(layers):
    with pytest.raises(OutputError, match="unknown basemap 'baidu'"):
        maps.base_map(layers["towns"], basemap="baidu")


def test_osm_basemap_carries_the_review_note(layers):
    page = maps.map_to_html(maps.base_map(layers["towns"], basemap="osm"))
    assert "tile.openstreetmap.org" in page
    assert _in_page(maps.INTERNAL_NOTE, page)


def test_gaode_mode_shifts_every_overlay_into_gcj02(layers):
    towns = layers["towns"]
    m = maps.base_map(towns, basemap="gaode")
    facilities = maps.add_facilities(m, layers["facilities"])
    plain = maps.add_facilities(maps.base_map(towns), layers["facilities"])
    lon, lat = _features(facilities[0])[0]["geometry"]["coordinates"]
    lon0, lat0 = _features(plain[0])[0]["geometry"]["coordinates"]
    expected = prcoords.wgs_gcj((lat0, lon0))
    assert lon == pytest.approx(expected.lon, abs=2e-6)
    assert lat == pytest.approx(expected.lat, abs=2e-6)
    assert abs(lon - lon0) > 1e-4  # a real shift (hundreds of metres), not a no-op
    image = maps.add_uncovered_cells(m, layers["cells"], max_vector_features=10)
    plain_image = maps.add_uncovered_cells(maps.base_map(towns), layers["cells"],
                                           max_vector_features=10)
    assert image.bounds[0][1] - plain_image.bounds[0][1] == pytest.approx(
        expected.lon - lon0, abs=2e-4)
    page = maps.map_to_html(m)
    assert _in_page(maps.GAODE_NOTE, page)
    assert _in_page(maps.INTERNAL_NOTE, page)
    assert "autonavi.com" in page


def test_overview_map_draws_every_kind(layers):
    m = maps.overview_map(
        {"towns": layers["towns"], "standards": layers["standards"],
         "uncovered_cells": layers["cells"], "facilities": layers["facilities"],
         "proposed_sites": layers["sites"], "boundary_lines": layers["lines"],
         "boundary_markers": layers["markers"], "findings": layers["findings"]},
        admin_units=layers["towns"], title="总览",
    )
    shown = {c.geoplan_layer_id: c.show for c in m._children.values()
             if hasattr(c, "geoplan_layer_id")}
    ids = list(shown)
    assert ids[0] == "coverage-town"
    assert ids[-2:] == ["findings", "town-labels"]
    assert {"standards", "uncovered-cells", "proposed-sites", "boundary-markers"} <= set(ids)
    assert any(isinstance(c, folium.LayerControl) for c in m._children.values())
    # coverage, gaps, sites and names on; the inspection and the standard off
    assert {k: shown[k] for k in ("coverage-town", "uncovered-cells", "proposed-sites",
                                  "town-labels", "standards", "boundary-lines",
                                  "boundary-markers", "findings")} == {
        "coverage-town": True, "uncovered-cells": True, "proposed-sites": True,
        "town-labels": True, "standards": False, "boundary-lines": False,
        "boundary-markers": False, "findings": False}
    inspection = maps.overview_map(
        {"boundary_lines": layers["lines"], "boundary_markers": layers["markers"],
         "findings": layers["findings"]}, admin_units=layers["towns"])
    assert all(c.show for c in inspection._children.values() if hasattr(c, "geoplan_layer_id"))
    with pytest.raises(OutputError, match="unknown layer kinds"):
        maps.overview_map({"rivers": layers["towns"]})
    with pytest.raises(OutputError, match="at least one layer"):
        maps.overview_map({})


def test_units_with_coverage_picks_one_type_and_tier(layers):
    towns = layers["towns"].drop(columns="pop_60plus_share")
    rows = [{"level": "town", "code": code, "name": name, "facility_type": ftype,
             "tier_min": tier, "pop_60plus_share": share}
            for code, name in zip(towns["code"], towns["name"], strict=True)
            for ftype, share in (("elderly_station", 0.8), ("senior_canteen", 0.3))
            for tier in (5.0, 15.0)]
    rows.append({"level": "study", "code": "350582", "name": "全域",
                 "facility_type": "elderly_station", "tier_min": 15.0, "pop_60plus_share": 0.7})
    coverage = pd.DataFrame(rows)
    joined = maps.units_with_coverage(towns, coverage, facility_type="senior_canteen")
    assert len(joined) == len(towns)
    assert (joined["pop_60plus_share"] == 0.3).all()
    assert joined.crs == towns.crs
    assert list(joined.index) == list(towns.index)
    with pytest.raises(OutputError, match="no coverage rows for type 'columbarium'"):
        maps.units_with_coverage(towns, coverage, facility_type="columbarium")


def test_service_areas_by_type_column_or_index(layers):
    facilities = layers["facilities"]
    areas = facilities.assign(geometry=facilities.buffer(900.0))[["facility_type", "geometry"]]
    m = maps.base_map(layers["towns"])
    by_column = maps.add_service_areas(m, areas)
    assert by_column[0].layer_name == "公益性骨灰堂15分钟服务范围"
    assert not by_column[0].show  # off when the map opens: they overlap
    # index = type, as service_areas(dissolve_by="facility_type") gives them
    dissolved = areas.dissolve(by="facility_type")
    by_index = maps.add_service_areas(m, dissolved, minutes=None)
    assert [layer.geoplan_layer_id for layer in by_index] == [
        f"service-areas-{t}" for t in sorted(sl.FACILITY_TYPES)]
    assert by_index[1].layer_name == "日间照料中心服务范围"


def _panel(m: folium.Map):
    (panel,) = [c for c in m._children.values() if isinstance(c, LegendPanel)]
    return panel


def test_one_legend_panel_whose_sections_follow_their_layers(layers):
    m = maps.base_map(layers["towns"])
    towns = maps.add_coverage_choropleth(m, layers["towns"])
    cells = maps.add_uncovered_cells(m, layers["cells"])
    per_type = maps.add_facilities(m, layers["facilities"])
    maps.add_legend(m, "说明", [("#000000", "不随图层")])
    panel = _panel(m)
    titles = [title for title, _, _ in panel.sections]
    assert titles == ["镇街60岁以上老人覆盖率", "未覆盖网格60岁以上人口",
                      "设施类型（实心=现有，虚线=在建/规划/拟建）", "说明"]
    sets = panel.layer_sets()
    assert sets[:4] == [[towns.get_name()], [cells.get_name()],
                        [layer.get_name() for layer in per_type], []]
    rows = sets[4:]  # then one set per row: the facility rows follow their type's layer
    facility_rows = rows[5 + len(panel.sections[1][1]):][:len(per_type)]
    assert facility_rows == [[layer.get_name()] for layer in per_type]
    page = maps.map_to_html(m)
    assert page.count('"geoplan-box geoplan-legend"') == 1
    assert 'map.on("overlayadd overlayremove' in page
    assert "\\u003csummary\\u003e图例\\u003c/summary\\u003e" in page  # foldable


def test_service_areas_filled_per_tier_lighter_for_longer_tiers(layers):
    stations = layers["facilities"].query("facility_type == 'elderly_station'")
    areas = pd.concat([stations.assign(tier_min=t, reach_m=r, geometry=stations.buffer(r))
                       .dissolve(by=["facility_type", "tier_min"])[["reach_m", "geometry"]]
                       for t, r in ((5, 300.0), (10, 500.0), (15, 900.0))])
    m = maps.base_map(layers["towns"])
    (layer,) = maps.add_service_areas(m, areas, shown_types={"elderly_station"})
    assert layer.show
    assert layer.layer_name == "居家养老服务站服务范围（5/10/15分钟）"
    features = _features(layer)
    assert len(features) == 3  # longest first, each filled
    assert all(f["properties"]["style"]["fillOpacity"] > 0 for f in features)
    (title, rows, own) = _panel(m).sections[0]
    assert title == "居家养老服务站步行服务范围"
    assert [label for _, label, _ in rows] == [
        "5分钟（300米）", "10分钟（500米）", "15分钟（900米）"]
    alphas = [float(colour.rsplit(",", 1)[1].rstrip(")")) for colour, _, _ in rows]
    assert alphas[0] > alphas[1] > alphas[2] > 0  # the 5-minute area is the darkest
    assert own == [layer.get_name()]
    # the 15-minute polygon, simplified for display, still covers the 5-minute one
    shapes = [shapely.geometry.shape(f["geometry"]) for f in features]
    assert shapes[0].area > shapes[2].area
    assert shapes[0].buffer(1e-4).contains(shapes[2])


def test_labels_for_towns_and_proposed_sites(layers):
    m = maps.base_map(layers["towns"])
    labels = maps.add_labels(m, layers["towns"], text_col="name", name="镇街名称",
                             layer_id="town-labels")
    assert [row[2] for row in labels.rows] == layers["towns"]["name"].tolist()
    lat, lon = labels.rows[0][:2]
    point = layers["towns"].to_crs(4326).geometry.iloc[0]
    assert point.contains(shapely.Point(lon, lat))
    assert labels.control
    sites = maps.add_proposed_sites(m, layers["sites"].assign(site_id=[f"青阳-养老-{i:02d}" for i in
                                                               range(1, len(layers["sites"]) + 1)]))
    (site_labels,) = [c for c in m._children.values()
                      if getattr(c, "geoplan_layer_id", "") == "proposed-site-labels"]
    assert [row[2] for row in site_labels.rows][:2] == ["青阳-养老-01", "青阳-养老-02"]
    assert site_labels.follow == sites.get_name()
    assert not site_labels.control  # shown with the sites, no entry of its own
    page = maps.map_to_html(m)
    assert "text.textContent = row[2]" in page
    with pytest.raises(OutputError, match="side must be"):
        maps.add_labels(m, layers["towns"], text_col="name", name="x", layer_id="x", side="up")


def test_only_chosen_facility_types_start_switched_on(layers):
    m = maps.base_map(layers["towns"])
    result = maps.add_facilities(m, layers["facilities"], shown_types={"elderly_station"})
    shown = {layer.geoplan_layer_id: layer.show for layer in result}
    assert shown == {f"facilities-{t}": t == "elderly_station" for t in sl.FACILITY_TYPES}


def test_point_cells_are_drawn_as_squares(layers):
    cells = layers["cells"]
    centres = cells.assign(geometry=cells.geometry.centroid)
    m = maps.base_map(layers["towns"])
    vector = maps.add_uncovered_cells(m, centres)
    assert {f["geometry"]["type"] for f in _features(vector)} == {"Polygon"}
    image = maps.add_uncovered_cells(m, centres, max_vector_features=10)
    from_polygons = maps.add_uncovered_cells(m, cells, max_vector_features=10)
    assert np.allclose(image.bounds, from_polygons.bounds, atol=1e-5)
    with pytest.raises(CRSError, match="point cells need a metric CRS"):
        maps.add_uncovered_cells(m, centres.to_crs(4326))


def test_gap_classes_follow_the_data(layers):
    assert maps.quantile_class_limits(pd.Series([0.0, 0.0])) == (0.0, float("inf"))
    values = pd.Series(np.arange(0, 101, dtype=float))  # positive values 1..100
    assert maps.quantile_class_limits(values) == (0.0, 21.0, 41.0, 60.0, 80.0, float("inf"))
    m = maps.base_map(layers["towns"])
    few = layers["cells"].assign(pop_60plus=1.0)  # one value: one class, one colour
    layer = maps.add_uncovered_cells(m, few)
    assert {f["properties"]["style"]["fillColor"] for f in _features(layer)} == {"#7a0177"}
    with pytest.raises(OutputError, match="need 7 colours"):
        maps.add_uncovered_cells(m, layers["cells"], bins=(0, 1, 2, 3, 4, 5, 6, float("inf")))
