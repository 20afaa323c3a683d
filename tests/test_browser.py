"""Maps and the HTML report opened in headless Debian Chromium with the network cut.

Every request that is not ``file:``/``data:``/``about:`` is aborted and recorded, so these
tests prove the HTML renders offline. Needs the Debian packages ``chromium`` and
``fonts-noto-cjk`` (``make test`` installs them); without them the tests fail, never skip.
"""

from __future__ import annotations

import time
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import synthetic_layers as sl
from browser_pages import FIND_MAP_JS, legend_rows, legend_sections, open_offline, overlay_input
from matplotlib.image import imread

from geoplan import maps, report
from geoplan.report import charts

pytestmark = pytest.mark.browser

def count(page, layer_id: str) -> int:
    return page.locator(f".geoplan-{layer_id}").count()


@pytest.fixture(scope="module")
def layers(shared_data: Path) -> dict[str, gpd.GeoDataFrame]:
    return sl.map_layers(shared_data, n_cells=1500)


@pytest.fixture(scope="module")
def study_map_html(layers, tmp_path_factory) -> Path:
    m = maps.overview_map(
        {"towns": layers["towns"], "uncovered_cells": layers["cells"],
         "boundary_lines": layers["lines"], "facilities": layers["facilities"],
         "boundary_markers": layers["markers"], "proposed_sites": layers["sites"],
         "findings": layers["findings"]},
        admin_units=layers["towns"], title="晋江市 15分钟养老服务圈（测试）",
    )
    return maps.save_map(m, tmp_path_factory.mktemp("map") / "map.html")


def expected_counts(layers) -> dict[str, int]:
    counts = {
        "coverage-town": len(layers["towns"]),
        "uncovered-cells": int((~layers["cells"]["covered"]).sum()),
        "boundary-lines": len(layers["lines"]),
        "boundary-markers": len(layers["markers"]),
        "proposed-sites": len(layers["sites"]),
        "findings": int(layers["findings"].geometry.notna().sum()),
    }
    for ftype, group in layers["facilities"].groupby("facility_type"):
        counts[f"facilities-{ftype}"] = len(group)
    return counts


INSPECTION_LAYERS = {"boundary-lines": "行政区域界线", "boundary-markers": "界桩",
                     "findings": "联检发现"}


def test_map_renders_offline_with_every_feature(browser, layers, study_map_html):
    page, log = open_offline(browser, study_map_html)
    try:
        assert page.evaluate("typeof L") == "object"
        assert page.evaluate("L.version") == "1.9.3"
        expected = expected_counts(layers)
        drawn = {layer_id: count(page, layer_id) for layer_id in expected}
        # the inspection layers start off on a map of the service analysis
        assert drawn == expected | dict.fromkeys(INSPECTION_LAYERS, 0)
        for label in INSPECTION_LAYERS.values():
            overlay_input(page, label).check()
        drawn = {layer_id: count(page, layer_id) for layer_id in expected}
        assert drawn == expected
        # one entry per layer, and the 镇街 names
        assert page.locator(".leaflet-control-layers-overlays label").count() == len(drawn) + 1
        assert count(page, "town-labels") == len(layers["towns"])
        assert page.locator(".geoplan-town-labels span").first.inner_text() == (
            layers["towns"]["name"].iloc[0])
        assert "内部工作底图" not in page.inner_text("body")  # no tiles, no review note
        assert log.blocked == []
        assert log.console_errors == []
        assert log.page_errors == []
    finally:
        page.close()


def test_layer_control_toggles_a_layer(browser, layers, study_map_html):
    page, log = open_offline(browser, study_map_html)
    try:
        n = int(layers["findings"].geometry.notna().sum())
        assert count(page, "findings") == 0
        overlay_input(page, "联检发现").check()
        assert count(page, "findings") == n
        assert count(page, "coverage-town") == len(layers["towns"])  # others stay
        overlay_input(page, "联检发现").uncheck()
        assert count(page, "findings") == 0
        assert log.page_errors == []
    finally:
        page.close()


def test_one_legend_panel_follows_the_layer_toggles(browser, layers, study_map_html):
    page, log = open_offline(browser, study_map_html)
    try:
        assert page.locator(".geoplan-legend").count() == 1
        facilities = "设施类型（实心=现有，虚线=在建/规划/拟建）"
        assert legend_sections(page) == ["镇街60岁以上老人覆盖率", "未覆盖网格60岁以上人口",
                                         facilities, "拟建选址"]
        overlay_input(page, "联检发现").check()  # its legend appears ...
        assert legend_sections(page)[-1] == "联检发现"
        overlay_input(page, "未覆盖网格").uncheck()  # ... and a hidden layer's goes
        overlay_input(page, "联检发现").uncheck()
        assert legend_sections(page) == ["镇街60岁以上老人覆盖率", facilities, "拟建选址"]
        # a facility row follows its type's layer; the section goes with the last type
        rows = legend_rows(page)
        assert "居家养老服务站" in rows
        overlay_input(page, "居家养老服务站").uncheck()
        assert "居家养老服务站" not in legend_rows(page)
        for ftype in sorted(set(layers["facilities"]["facility_type"])):
            overlay_input(page, maps.facility_type_name(ftype)).uncheck()
        assert facilities not in legend_sections(page)
        overlay_input(page, "镇街覆盖率").uncheck()
        overlay_input(page, "拟建选址").uncheck()
        assert page.locator(".geoplan-legend").is_hidden()  # nothing on: no empty box
        overlay_input(page, "拟建选址").check()
        assert legend_sections(page) == ["拟建选址"]
        assert log.page_errors == []
        assert log.console_errors == []
    finally:
        page.close()


def test_site_labels_follow_the_sites(browser, layers, study_map_html):
    page, log = open_offline(browser, study_map_html)
    try:
        n = len(layers["sites"])
        assert count(page, "proposed-site-labels") == n
        overlay_input(page, "拟建选址").uncheck()
        assert count(page, "proposed-site-labels") == 0
        overlay_input(page, "拟建选址").check()
        assert count(page, "proposed-site-labels") == n
        overlay_input(page, "镇街名称").uncheck()
        assert count(page, "town-labels") == 0
        assert log.page_errors == []
    finally:
        page.close()


def test_service_area_tiers_are_filled(browser, layers, tmp_path):
    stations = layers["facilities"].query("facility_type == 'elderly_station'")
    areas = pd.concat([stations.assign(tier_min=t, reach_m=r, geometry=stations.buffer(r))
                       .dissolve(by=["facility_type", "tier_min"])[["reach_m", "geometry"]]
                       for t, r in ((5, 300.0), (10, 500.0), (15, 900.0))])
    m = maps.overview_map({"towns": layers["towns"], "service_areas": areas})
    page, log = open_offline(browser, maps.save_map(m, tmp_path / "areas.html"))
    try:
        paths = page.locator("path.geoplan-service-areas-elderly_station")
        assert paths.count() == 3
        fills = paths.evaluate_all("ps => ps.map(p => [p.getAttribute('fill'), "
                                   "+p.getAttribute('fill-opacity')])")
        assert {f for f, _ in fills} == {maps.SERVICE_AREA_COLOR}
        assert all(opacity > 0 for _, opacity in fills)
        assert legend_rows(page)[-3:] == ["5分钟（300米）", "10分钟（500米）", "15分钟（900米）"]
        assert log.page_errors == []
    finally:
        page.close()


def test_popup_shows_chinese_text(browser, layers, study_map_html):
    page, log = open_offline(browser, study_map_html)
    try:
        page.locator(".geoplan-facilities-columbarium").first.dispatch_event("click")
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for(timeout=5000)
        text = popup.inner_text()
        assert "名称" in text
        assert "公益性骨灰堂" in text
        assert "镇街" in text
        assert layers["facilities"].query("facility_type == 'columbarium'")["name"].iloc[0] in text
        assert log.console_errors == []
    finally:
        page.close()


def _pixel_std(png: Path) -> float:
    return float(imread(png)[..., :3].std())


def test_screenshot_is_not_blank(browser, study_map_html, tmp_path):
    page, _ = open_offline(browser, study_map_html)
    try:
        shot = tmp_path / "map.png"
        page.screenshot(path=str(shot))
    finally:
        page.close()
    pixels = imread(shot)[..., :3]
    assert pixels.std() > 0.05
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20


def test_default_leaflet_marker_images_load_offline(browser, layers, tmp_path):
    m = maps.base_map(layers["towns"])
    point = layers["towns"].to_crs(4326).geometry.iloc[0].representative_point()
    folium.Marker([point.y, point.x], popup="默认标记").add_to(m)
    page, log = open_offline(browser, maps.save_map(m, tmp_path / "marker.html"))
    try:
        icon = page.locator("img.leaflet-marker-icon")
        assert icon.count() == 1
        assert icon.evaluate("img => img.complete && img.naturalWidth") == 25
        assert log.blocked == []
        assert log.console_errors == []
    finally:
        page.close()


def test_online_basemap_only_requests_tiles(browser, layers, tmp_path):
    m = maps.base_map(layers["towns"], basemap="osm")
    maps.add_coverage_choropleth(m, layers["towns"])
    page, log = open_offline(browser, maps.save_map(m, tmp_path / "osm.html"))
    try:
        page.wait_for_timeout(300)
        assert log.blocked  # the tiles were asked for (and refused here) ...
        assert all(u.startswith("https://tile.openstreetmap.org/") for u in log.blocked)
        assert maps.INTERNAL_NOTE in page.inner_text(".geoplan-note")  # ... with the note
        assert count(page, "coverage-town") == len(layers["towns"])
        assert log.page_errors == []
    finally:
        page.close()


@pytest.mark.slow
def test_100k_cell_layer_opens_and_pans_fast(browser, layers, tmp_path):
    cells = sl.grid_cells(layers["outline"], n_target=100_000).assign(covered=False)
    start = time.perf_counter()
    m = maps.base_map(layers["towns"])
    maps.add_uncovered_cells(m, cells)
    maps.add_layer_control(m)
    path = maps.save_map(m, tmp_path / "cells100k.html")
    build_s = time.perf_counter() - start
    size_mb = path.stat().st_size / 1e6
    page, log = open_offline(browser, path)
    try:
        assert count(page, "uncovered-cells") == 1  # one image, not 100,000 paths
        assert page.locator("path.leaflet-interactive").count() == 0
        assert page.locator("img.geoplan-uncovered-cells").evaluate("i => i.naturalWidth") > 500
        pan_ms = page.evaluate(f"""async () => {{
            const m = {FIND_MAP_JS};
            const t0 = performance.now();
            for (let i = 0; i < 20; i++) {{
                m.panBy([40, 25], {{animate: false}});
                await new Promise(r => requestAnimationFrame(r));
            }}
            m.zoomIn(1, {{animate: false}});
            await new Promise(r => requestAnimationFrame(r));
            return (performance.now() - t0) / 21;
        }}""")
        assert log.blocked == []
        assert log.page_errors == []
    finally:
        page.close()
    print(f"\n100k cells: build+save {build_s:.1f} s, HTML {size_mb:.2f} MB, "
          f"load {log.load_s:.2f} s, {pan_ms:.1f} ms per pan frame")
    assert size_mb < 8
    assert log.load_s < 5
    assert pan_ms < 100


def test_html_report_renders_offline(browser, layers, tmp_path):
    towns = layers["towns"]
    coverage = pd.DataFrame({"name": towns["name"], "pop_60plus_share": towns["pop_60plus_share"],
                             "highlight": towns["pop_60plus_share"] < 0.5})
    chart = charts.bar_chart(coverage.set_index("name")["pop_60plus_share"],
                               title="各镇街60岁以上老人覆盖率", percent=True, target=0.9)
    m = maps.base_map(towns)
    maps.add_coverage_choropleth(m, towns)
    path = report.write_html_report(
        [report.ReportSection("覆盖率", text="15分钟步行范围内的老人占比。", table=coverage,
                              figures=[chart])],
        tmp_path / "report.html", title="晋江市民政设施评估报告", map_html=m,
    )
    page, log = open_offline(browser, path)
    try:
        chart_img = page.locator("img.chart")
        assert chart_img.evaluate("i => i.complete && i.naturalWidth") > 300
        assert page.locator("tbody tr").count() == len(towns)
        assert page.locator("tr.highlight").count() == int(coverage["highlight"].sum())
        assert "60岁以上老人覆盖率" in page.inner_text("thead")
        frame = page.frame_locator("iframe.map")
        frame.locator(".geoplan-coverage-town").first.wait_for(state="attached")
        assert frame.locator(".geoplan-coverage-town").count() == len(towns)
        assert log.blocked == []
        assert log.console_errors == []
        assert log.page_errors == []
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    finally:
        page.close()
    assert _pixel_std(tmp_path / "report.png") > 0.05


def test_special_names_empty_layers_and_collections_do_not_break_the_page(browser, layers,
                                                                          tmp_path):
    evil = '<b>A&B</b> "养老" \'x\' <img src=x onerror=alert(1)>'
    towns = layers["towns"].copy()
    towns.loc[towns.index[0], "name"] = '青阳<街道>&"'
    towns.loc[towns.index[1], "pop_60plus_share"] = np.nan
    facilities = layers["facilities"].astype({"facility_type": object})
    facilities.loc[facilities.index[0], "name"] = evil
    facilities.loc[facilities.index[1], "facility_type"] = "自建<类型>&"
    findings = layers["findings"].copy()
    gap, line = findings.geometry.iloc[0], findings.geometry.iloc[1]
    findings.loc["f1", "geometry"] = gap.union(line)  # a GeometryCollection
    m = maps.base_map(towns, title="<测试> & 标题")
    maps.add_coverage_choropleth(m, towns)
    maps.add_facilities(m, facilities, admin_units=towns)
    maps.add_findings(m, findings)
    maps.add_proposed_sites(m, layers["sites"].iloc[:0])
    maps.add_uncovered_cells(m, layers["cells"].assign(covered=True))
    maps.add_layer_control(m)
    page, log = open_offline(browser, maps.save_map(m, tmp_path / "special.html"))
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        assert page.inner_text(".geoplan-title") == "<测试> & 标题"
        labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        assert "自建<类型>&（1）" in [t.strip() for t in labels]
        assert "拟建选址（0）" in [t.strip() for t in labels]
        assert count(page, "coverage-town") == len(towns)
        assert count(page, "facilities-elderly_station") == 5
        page.locator(".geoplan-facilities-elderly_station").first.dispatch_event("click")
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for(timeout=5000)
        assert evil in popup.inner_text()  # shown as written ...
        assert popup.locator("img, b").count() == 0  # ... never parsed as HTML
        assert "青阳<街道>&\"" in popup.inner_text()
        page.evaluate(f"{FIND_MAP_JS}.closePopup()")
        page.locator(".geoplan-findings").first.dispatch_event("click")
        page.locator(".leaflet-popup-content", has_text="政区缝隙").wait_for(timeout=5000)
        assert dialogs == []
        assert log.blocked == []
        assert log.console_errors == []
        assert log.page_errors == []
    finally:
        page.close()


def test_notebook_display_renders_offline(browser, layers, tmp_path):
    m = maps.base_map(layers["towns"])
    maps.add_coverage_choropleth(m, layers["towns"])
    maps.add_facilities(m, layers["facilities"])
    cell = tmp_path / "cell.html"  # what Jupyter puts in the output cell
    cell.write_text(f"<!DOCTYPE html><html><body>{m._repr_html_()}</body></html>",
                    encoding="utf-8")
    page, log = open_offline(browser, cell)
    try:
        frame = page.frame_locator("iframe.geoplan-map")
        frame.locator(".geoplan-coverage-town").first.wait_for(state="attached")
        assert frame.locator(".geoplan-coverage-town").count() == len(layers["towns"])
        assert log.blocked == []
        assert log.console_errors == []
        assert log.page_errors == []
    finally:
        page.close()


def test_legends_scroll_below_the_title(browser, layers, tmp_path):
    m = maps.base_map(layers["towns"], title="很多图例")
    for i in range(8):
        maps.add_coverage_choropleth(m, layers["towns"], layer_id=f"coverage-{i}")
    page, log = open_offline(browser, maps.save_map(m, tmp_path / "legends.html"),
                             viewport=(1000, 600))
    try:
        title_bottom = page.locator(".geoplan-title").bounding_box()["y"] + page.locator(
            ".geoplan-title").bounding_box()["height"]
        panel = page.locator(".geoplan-legend")
        assert panel.count() == 1
        assert panel.bounding_box()["y"] >= title_bottom
        assert panel.bounding_box()["height"] <= 0.5 * 600  # at most half the map's height
        assert panel.evaluate("c => c.scrollHeight > c.clientHeight")  # it scrolls instead
        page.locator(".geoplan-legend summary").click()  # and folds away
        assert panel.bounding_box()["height"] < 40
        assert log.page_errors == []
    finally:
        page.close()
