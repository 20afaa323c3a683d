"""Shared fixtures: real reference data beside the checkout, and the embedded demo study."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("GEOPLAN_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of real reference data (``../shared/data``); CI must have it, so never skip."""
    path = _shared_data_dir()
    if not path.is_dir():
        pytest.fail(
            f"real reference data not found at {path}; set GEOPLAN_SHARED_DATA or put the "
            "shared/ folder beside the checkout"
        )
    return path


@pytest.fixture(scope="session")
def futian_graphml(shared_data: Path) -> Path:
    """The real OSM walking network of part of Futian, Shenzhen (GraphML, EPSG:4326)."""
    return shared_data / "osm" / "shenzhen-futian.graphml"


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium (playwright), shared by the browser tests of every file."""
    from browser_pages import launch_chromium

    yield from launch_chromium()
