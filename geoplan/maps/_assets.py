"""Inline the vendored Leaflet/folium web assets into rendered map HTML (no CDN at view time)."""

from __future__ import annotations

import base64
import logging
import mimetypes
import re
from functools import cache
from importlib import resources
from pathlib import PurePosixPath

from geoplan.errors import OutputError

logger = logging.getLogger(__name__)

#: External asset URLs folium (0.20) and geoplan emit, mapped to a vendored file under
#: ``geoplan/assets`` (``None``: the link is dropped, see ``assets/SOURCES.md``).
#: Keys are matched on the URL's ending, so the CDN host does not matter.
ASSET_FILES: dict[str, str | None] = {
    "leaflet@1.9.3/dist/leaflet.js": "leaflet/leaflet.js",
    "leaflet@1.9.3/dist/leaflet.css": "leaflet/leaflet.css",
    "jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": "bootstrap/bootstrap.bundle.min.js",
    "bootstrap@5.2.2/dist/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
    "fontawesome-free@6.2.0/css/all.min.css": "fontawesome/css/all.min.css",
    "Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js": (
        "awesome-markers/leaflet.awesome-markers.min.js"
    ),
    "Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css": (
        "awesome-markers/leaflet.awesome-markers.css"
    ),
    "bootstrap/3.0.0/css/bootstrap-glyphicons.css": None,
    "folium/templates/leaflet.awesome.rotate.min.css": None,
}

_SCRIPT_SRC = re.compile(
    r"<script\b[^>]*\bsrc\s*=\s*[\"'](?P<url>[^\"']+)[\"'][^>]*>\s*</script>", re.IGNORECASE
)
_LINK_HREF = re.compile(
    r"<link\b[^>]*\bhref\s*=\s*[\"'](?P<url>[^\"']+)[\"'][^>]*/?>", re.IGNORECASE
)
_CSS_URL = re.compile(r"url\(\s*(?P<q>['\"]?)(?P<url>[^'\")]+)(?P=q)\s*\)")
_TTF_FALLBACK = re.compile(r",\s*url\([^)]*\.ttf\)\s*format\([\"']truetype[\"']\)")

# Leaflet finds its default marker images through a CSS background URL and then appends
# file names to it, which breaks once that URL is a data: URI; give it the URIs directly.
_DEFAULT_ICON_FIX = """
L.Icon.Default.mergeOptions({iconUrl: "%s", iconRetinaUrl: "%s", shadowUrl: "%s"});
L.Icon.Default.prototype._getIconUrl = function (name) {
    return L.Icon.prototype._getIconUrl.call(this, name);
};
"""


def _asset_path(relative: str) -> resources.abc.Traversable:
    path = resources.files("geoplan.maps").joinpath("assets", *PurePosixPath(relative).parts)
    if not path.is_file():
        msg = f"vendored asset geoplan/maps/assets/{relative} is missing; reinstall geoplan"
        raise OutputError(msg)
    return path


@cache
def asset_text(relative: str) -> str:
    """Return the text of a vendored asset, e.g. ``"leaflet/leaflet.js"``.

    Raises
    ------
    OutputError
        If the file is not part of the installed package.
    """
    return _asset_path(relative).read_text(encoding="utf-8")


@cache
def asset_data_uri(relative: str) -> str:
    """Return a vendored binary asset (image, font) as a ``data:`` URI."""
    raw = _asset_path(relative).read_bytes()
    mime = mimetypes.guess_type(relative)[0]
    if relative.endswith(".woff2"):
        mime = "font/woff2"
    return f"data:{mime or 'application/octet-stream'};base64,{base64.b64encode(raw).decode()}"


def vendored_asset_for(url: str) -> str | None:
    """Return the vendored file that replaces an external asset ``url`` (``None``: drop it).

    Raises
    ------
    OutputError
        If ``url`` is an external asset geoplan has no vendored copy of; the map
        would need the network to render, so it is refused rather than written.
    """
    for suffix, relative in ASSET_FILES.items():
        if url.endswith(suffix):
            return relative
    msg = (
        f"no vendored copy of the web asset {url!r}: a self-contained map cannot be written. "
        "Remove the plugin that needs it or save with self_contained=False."
    )
    raise OutputError(msg)


def _inline_css(relative: str) -> str:
    css = _TTF_FALLBACK.sub("", asset_text(relative))
    folder = PurePosixPath(relative).parent

    def replace(match: re.Match[str]) -> str:
        url = match.group("url")
        if url.startswith(("data:", "#")):
            return match.group(0)
        target = str(PurePosixPath(*_normalised_parts(folder / url)))
        return f'url("{asset_data_uri(target)}")'

    return _CSS_URL.sub(replace, css)


def _normalised_parts(path: PurePosixPath) -> list[str]:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return parts


def _script_tag(relative: str) -> str:
    code = asset_text(relative).replace("</script", "<\\/script")
    tag = f"<script>/* geoplan/maps/assets/{relative} */\n{code}\n</script>"
    if relative == "leaflet/leaflet.js":
        fix = _DEFAULT_ICON_FIX % (
            asset_data_uri("leaflet/images/marker-icon.png"),
            asset_data_uri("leaflet/images/marker-icon-2x.png"),
            asset_data_uri("leaflet/images/marker-shadow.png"),
        )
        tag += f"\n<script>{fix}</script>"
    return tag


def _is_external(url: str) -> bool:
    return url.startswith(("http://", "https://", "//"))


def inline_assets(html: str) -> str:
    """Replace every external ``<script src>`` / stylesheet ``<link href>`` by inline content.

    Parameters
    ----------
    html
        A rendered folium page (``m.get_root().render()``).

    Returns
    -------
    str
        The same page with the vendored JavaScript and CSS inlined; images and fonts the
        CSS refers to become ``data:`` URIs. Local (relative) references are left alone.

    Raises
    ------
    OutputError
        If the page references an external asset that geoplan does not vendor.
    """
    inlined: set[str] = set()

    def replace_script(match: re.Match[str]) -> str:
        url = match.group("url")
        if not _is_external(url):
            return match.group(0)
        relative = vendored_asset_for(url)
        if relative is None or relative in inlined:
            return ""
        inlined.add(relative)
        return _script_tag(relative)

    def replace_link(match: re.Match[str]) -> str:
        url = match.group("url")
        if not _is_external(url):
            return match.group(0)
        relative = vendored_asset_for(url)
        if relative is None or relative in inlined:
            return ""
        inlined.add(relative)
        return f"<style>/* geoplan/maps/assets/{relative} */\n{_inline_css(relative)}\n</style>"

    html = _SCRIPT_SRC.sub(replace_script, html)
    html = _LINK_HREF.sub(replace_link, html)
    logger.debug("inlined %d web assets", len(inlined))
    return html
