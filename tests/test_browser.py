"""Maps and the HTML report opened in headless Debian Chromium with the network cut.

Every request that is not ``file:``/``data:``/``about:`` is aborted and recorded, so these
tests prove the HTML renders offline. Needs the Debian packages ``chromium`` and
``fonts-noto-cjk`` (``make test`` installs them); without them the tests fail, never skip.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import synthetic_layers as sl
from matplotlib.image import imread

from geoplan import maps, report
from geoplan.report import charts

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
LOCAL_SCHEMES = ("file:", "data:", "about:")
FIND_MAP_JS = "Object.values(window).find(v => v instanceof L.Map)"


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian package 'chromium' is not installed: apt-get install -y chromium "
                    "(make test installs it); the browser tests need it and never skip")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class PageLog:
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    load_s: float = 0.0


def open_offline(browser, path: Path, *, viewport=(1200, 800)):
    """Open ``path`` with every non-local request aborted; return (page, log)."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    log = PageLog()

    def route(r):
        if r.request.url.startswith(LOCAL_SCHEMES):
            r.continue_()
        else:
            log.blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda msg: log.console_errors.append(msg.text)
            if msg.type == "error" else None)
    page.on("pageerror", lambda exc: log.page_errors.append(str(exc)))
    start = time.perf_counter()
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function("typeof L !== 'undefined' || document.readyState === 'complete'")
    log.load_s = time.perf_counter() - start
    return page, log


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


def test_map_renders_offline_with_every_feature(browser, layers, study_map_html):
    page, log = open_offline(browser, study_map_html)
    try:
        assert page.evaluate("typeof L") == "object"
        assert page.evaluate("L.version") == "1.9.3"
        drawn = {layer_id: count(page, layer_id) for layer_id in expected_counts(layers)}
        assert drawn == expected_counts(layers)
        assert page.locator(".leaflet-control-layers-overlays label").count() == len(drawn)
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
        label = page.locator(".leaflet-control-layers-overlays label", has_text="联检发现")
        assert count(page, "findings") == n
        label.locator("input").uncheck()
        assert count(page, "findings") == 0
        assert count(page, "coverage-town") == len(layers["towns"])  # others stay
        label.locator("input").check()
        assert count(page, "findings") == n
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
        column = page.locator(".leaflet-bottom.leaflet-left")
        assert column.bounding_box()["y"] >= title_bottom
        assert column.evaluate("c => c.scrollHeight > c.clientHeight")  # it scrolls instead
        assert log.page_errors == []
    finally:
        page.close()
