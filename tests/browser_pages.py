"""Open HTML outputs in headless Debian Chromium with the network cut, and read the map.

Every request that is not ``file:``/``data:``/``about:`` is aborted and recorded, so a test
that finds ``log.blocked`` empty proves the page renders offline. The ``browser`` fixture
(``conftest.py``) starts Chromium once per session.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
LOCAL_SCHEMES = ("file:", "data:", "about:")
FIND_MAP_JS = "Object.values(window).find(v => v instanceof L.Map)"


def launch_chromium() -> Iterator[object]:
    """Start Debian's Chromium under playwright; fail (never skip) when it is missing."""
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


def overlay_input(page, label: str):
    """Return the checkbox of the layer-control entry whose name starts with ``label``."""
    labels = page.locator(".leaflet-control-layers-overlays label")
    return labels.filter(has_text=label).first.locator("input")


def legend_sections(page) -> list[str]:
    """Return the headings of the legend sections shown now, top to bottom."""
    return page.locator(".geoplan-legend-section:visible h4").all_inner_texts()


def legend_rows(page) -> list[str]:
    """Return the legend rows shown now, top to bottom."""
    return [t.strip() for t in page.locator(".geoplan-legend-row:visible").all_inner_texts()]
