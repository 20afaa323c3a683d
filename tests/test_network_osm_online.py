"""The online OpenStreetMap path (``walk_network_from_osm``), offline, with recorded inputs.

OSMnx talks to a local HTTP server standing in for Overpass and Nominatim. The server replays
a recorded response: the real West Oakland OSM extract (``../shared/data``) in the Overpass
JSON format, and a Nominatim geocoding answer for a place name. The whole OSMnx code path
runs for real (query building, HTTP, JSON parsing, graph building, the on-disk cache); only
the far end is local. The test also checks what geoplan asks Overpass for.
"""

from __future__ import annotations

import bz2
import json
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import networkx as nx
import numpy as np
import osmnx as ox
import pytest
import shapely

from geoplan.network import (
    WalkNetwork,
    overpass_walk_filter,
    walk_network_from_file,
    walk_network_from_osm,
)

# a box holding every node of the West Oakland extract (lon/lat)
BBOX = (-122.3150, 37.8035, -122.2900, 37.8180)


def _overpass_json(osm_bz2: Path) -> dict:
    """The OSM XML extract as Overpass API JSON (``out body`` of nodes and ways)."""
    root = ET.fromstring(bz2.decompress(osm_bz2.read_bytes()))
    elements = []
    for el in root:
        tags = {t.get("k"): t.get("v") for t in el.findall("tag")}
        if el.tag == "node":
            elements.append({"type": "node", "id": int(el.get("id")),
                             "lat": float(el.get("lat")), "lon": float(el.get("lon")),
                             **({"tags": tags} if tags else {})})
        elif el.tag == "way":
            elements.append({"type": "way", "id": int(el.get("id")),
                             "nodes": [int(n.get("ref")) for n in el.findall("nd")],
                             "tags": tags})
    return {"version": 0.6, "generator": "recorded for geoplan tests", "elements": elements}


def _nominatim_json() -> list[dict]:
    west, south, east, north = BBOX
    return [{
        "place_id": 1, "osm_type": "relation", "osm_id": 1, "lat": str((south + north) / 2),
        "lon": str((west + east) / 2), "class": "boundary", "type": "administrative",
        "place_rank": 16, "importance": 0.5, "addresstype": "suburb", "name": "West Oakland",
        "display_name": "West Oakland, Oakland, California, United States",
        "boundingbox": [str(south), str(north), str(west), str(east)],
        "geojson": shapely.geometry.mapping(shapely.box(*BBOX)),
    }]


class _Requests(list):
    """The requests the stand-in server received (``.server``: the server itself)."""

    server: ThreadingHTTPServer


@pytest.fixture
def osm_server(shared_data, tmp_path, monkeypatch):
    """A local Overpass/Nominatim stand-in; yields the list of requests it received."""
    overpass = json.dumps(_overpass_json(shared_data / "osm" / "west-oakland.osm.bz2")).encode()
    nominatim = json.dumps(_nominatim_json()).encode()
    received = _Requests()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # Overpass: the query arrives as form data
            length = int(self.headers["Content-Length"])
            form = parse_qs(self.rfile.read(length).decode())
            received.append({"path": self.path, "data": form.get("data", [""])[0]})
            self._reply(overpass)

        def do_GET(self):  # Nominatim search
            url = urlparse(self.path)
            received.append({"path": url.path, "query": parse_qs(url.query)})
            self._reply(nominatim)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(ox.settings, "overpass_url", base + "/api")
    monkeypatch.setattr(ox.settings, "nominatim_url", base + "/nominatim")
    monkeypatch.setattr(ox.settings, "overpass_rate_limit", False)
    monkeypatch.setattr(ox.settings, "cache_folder", str(tmp_path / "osmnx-cache"))
    monkeypatch.setattr(ox.settings, "use_cache", ox.settings.use_cache)
    monkeypatch.setattr(ox.settings, "log_console", False)
    received.server = server
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()


def _distances(net: WalkNetwork, sources: list[int]) -> dict[int, float]:
    graph = net.to_networkx()
    return nx.multi_source_dijkstra_path_length(graph, set(sources), weight="length_m")


def test_bbox_download_asks_for_every_highway_and_matches_the_file_reader(osm_server,
                                                                          shared_data):
    net = walk_network_from_osm(bbox=BBOX)
    assert isinstance(net, WalkNetwork)
    overpass = [r for r in osm_server if r["path"].endswith("/interpreter")]
    assert len(overpass) == 1
    query = overpass[0]["data"]
    assert overpass_walk_filter() in query  # the broad filter, not OSMnx's "walk"
    assert '"access"!~"private"' not in query  # private ways come down; filtered locally
    # the area asked for (OSMnx buffers it a little) covers the whole box
    numbers = [float(x) for x in query.split("(poly:")[1].split(")")[0].strip("'\"").split()]
    lat_lon = np.array(numbers).reshape(-1, 2)
    asked = shapely.Polygon(lat_lon[:, ::-1])
    assert asked.contains(shapely.box(*BBOX))
    assert shapely.box(*BBOX).buffer(0.012).contains(asked)  # and stays within about 1 km
    # the same real data read from the local file gives the same network
    local = walk_network_from_file(shared_data / "osm" / "west-oakland.osm.bz2",
                                   coords="wgs84", metric_epsg=net.crs)
    assert net.crs == local.crs
    assert net.n_nodes == local.n_nodes > 40
    assert net.edges["length_m"].sum() == pytest.approx(local.edges["length_m"].sum(), rel=1e-9)
    # osm ids survive, so distances between the same OSM nodes agree
    common = sorted(set(net.node_ids.tolist()) & set(local.node_ids.tolist()))
    assert len(common) == net.n_nodes
    start = int(common[0])
    d_net = _distances(net, [int(np.flatnonzero(net.node_ids == start)[0])])
    d_loc = _distances(local, [int(np.flatnonzero(local.node_ids == start)[0])])
    for osm_id in common[:: max(1, len(common) // 25)]:
        i = int(np.flatnonzero(net.node_ids == osm_id)[0])
        j = int(np.flatnonzero(local.node_ids == osm_id)[0])
        assert d_net.get(i, np.inf) == pytest.approx(d_loc.get(j, np.inf), abs=1e-6)


def test_private_ways_come_down_and_are_filtered_locally(osm_server):
    public = walk_network_from_osm(bbox=BBOX)
    private = walk_network_from_osm(bbox=BBOX, include_private=True)
    assert len(private.edges) > len(public.edges)


def test_a_repeated_call_is_served_from_the_osmnx_cache(osm_server, tmp_path):
    first = walk_network_from_osm(bbox=BBOX)
    server = osm_server.server
    server.shutdown()  # nothing answers any more: the second call must come from the cache
    server.server_close()
    second = walk_network_from_osm(bbox=BBOX)
    assert len([r for r in osm_server if r["path"].endswith("/interpreter")]) == 1
    assert second.n_nodes == first.n_nodes
    assert any((tmp_path / "osmnx-cache").glob("*.json"))


def test_place_name_is_geocoded_then_downloaded_like_the_polygon(osm_server):
    net = walk_network_from_osm("West Oakland, California")
    searches = [r for r in osm_server if r["path"].endswith("/search")]
    assert searches
    assert searches[0]["query"]["q"] == ["West Oakland, California"]
    assert any(r["path"].endswith("/interpreter") for r in osm_server)
    assert net.n_nodes > 40
    assert net.crs != 4326  # projected to a metric CRS for the study
    by_polygon = walk_network_from_osm(polygon=shapely.box(*BBOX))
    assert by_polygon.n_nodes == net.n_nodes
