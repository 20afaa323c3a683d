"""Walking networks from OpenStreetMap (online via OSMnx) and from local network files.

These builders are the network's own source readers (the ``*_from_*`` pattern of OSMnx):
``walk_network_from_osm`` is the only function in geoplan that downloads, and says so in
its name; ``walk_network_from_file`` reads ``.osm``/``.osm.bz2`` XML (OSMnx),
``.osm.pbf`` (pyosmium), OSMnx ``.graphml`` and centreline layers (GeoPackage, Shapefile,
GeoJSON). Both are importable from :mod:`geoplan.network`.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS, Transformer

from geoplan.errors import CRSError, GeoplanError, NetworkError
from geoplan.network.graph import (
    WalkNetwork,
    _default_metric_epsg,
    _log_components,
    _require_metric_crs,
    _split_lines_at_nodes,
    walk_network_from_edges,
    walk_network_from_graph,
)
from geoplan.network.synthetic import synthetic_network
from geoplan.network.walk_filter import WALK_TAGS, walkable_mask

logger = logging.getLogger(__name__)

__all__ = [
    "overpass_walk_filter",
    "walk_network_from_file",
    "walk_network_from_osm",
    "walk_network_from_synthetic",
]

_LAYER_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".fgb", ".gml")


def overpass_walk_filter() -> str:
    """Return the Overpass QL filter geoplan downloads with.

    It is deliberately broad (every ``highway`` way that is not under construction,
    proposed, a platform or a race track, including ``access=private``); the walking rules
    for older residents are then applied locally by :func:`geoplan.network.walkable_mask`,
    so online and offline sources are filtered identically.

    Returns
    -------
    str
        Overpass QL way filter for OSMnx's ``custom_filter``.
    """
    return (
        '["highway"]["area"!~"yes"]'
        '["highway"!~"abandoned|bus_guideway|construction|no|planned|platform|proposed|'
        'raceway|razed|rest_area|services"]'
    )


@contextmanager
def _osmnx_tags(settings: Any):
    """Temporarily make OSMnx keep the tags the walking filter reads."""
    old = list(settings.useful_tags_way)
    settings.useful_tags_way = list(dict.fromkeys([*old, *WALK_TAGS]))
    try:
        yield
    finally:
        settings.useful_tags_way = old


def walk_network_from_osm(
    query: str | None = None,
    *,
    polygon: shapely.Polygon | shapely.MultiPolygon | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    metric_epsg: int | None = None,
    include_private: bool = False,
) -> WalkNetwork:
    """Download a walking network from OpenStreetMap (Overpass, via OSMnx) — needs internet.

    Exactly one of ``query``, ``polygon`` or ``bbox`` is given. OSMnx's HTTP cache is on
    (``osmnx.settings.use_cache``), so a repeated call reads the cached response.
    Disconnected parts are kept (``retain_all=True``); see
    :meth:`WalkNetwork.components_report`.

    Parameters
    ----------
    query
        Place name OSM can geocode to a polygon, e.g. ``"晋江市, 福建省"``.
    polygon
        Study polygon in EPSG:4326 (lon/lat).
    bbox
        ``(left, bottom, right, top)`` in EPSG:4326 degrees.
    metric_epsg
        Metric CRS of the study; ``None`` picks the CGCS2000 Gauss-Krüger zone.
    include_private
        Keep ``access=private`` paths (gated compounds).

    Returns
    -------
    WalkNetwork

    Raises
    ------
    GeoplanError
        If not exactly one of ``query``/``polygon``/``bbox`` is given.
    NetworkError
        If nothing walkable was downloaded.
    """
    given = [x is not None for x in (query, polygon, bbox)]
    if sum(given) != 1:
        msg = "give exactly one of query=, polygon= or bbox= to walk_network_from_osm"
        raise GeoplanError(msg)
    import osmnx as ox

    ox.settings.use_cache = True
    kwargs = {"custom_filter": overpass_walk_filter(), "retain_all": True, "simplify": True}
    with _osmnx_tags(ox.settings):
        if query is not None:
            graph = ox.graph_from_place(query, **kwargs)
        elif polygon is not None:
            graph = ox.graph_from_polygon(polygon, **kwargs)
        else:
            graph = ox.graph_from_bbox(bbox, **kwargs)
    return walk_network_from_graph(graph, metric_epsg=metric_epsg, include_private=include_private)


def walk_network_from_file(
    path: str | Path,
    *,
    coords: str | None = None,
    metric_epsg: int | None = None,
    include_private: bool = False,
    node_crossings: bool = False,
    window: tuple[float, float, float, float] | None = None,
) -> WalkNetwork:
    """Read a walking network from a local file.

    Parameters
    ----------
    path
        ``.osm``/``.osm.bz2``/``.xml`` (OSM XML, read by OSMnx), ``.osm.pbf`` (pyosmium),
        ``.graphml`` (OSMnx), or a centreline layer (``.gpkg``, ``.shp``, ``.geojson``...).
    coords
        Declared coordinate system of the file: ``"wgs84"`` (OSM files always are; OSMnx
        GraphML declares its own CRS) or ``"EPSG:n"`` for a centreline layer; a layer that
        declares a CRS itself may omit it. GCJ-02/BD-09 road layers must be converted first.
    metric_epsg
        Metric CRS of the study (e.g. 4549); ``None`` picks the Gauss-Krüger zone of the
        data's centre, or keeps a centreline layer's own projected CRS.
    include_private
        Keep ``access=private`` paths.
    node_crossings
        Centreline layers only: also join lines where they merely cross.
    window
        Centreline layers only: just the streets meeting this box ``(xmin, ymin, xmax,
        ymax)`` in ``EPSG:metric_epsg`` (a partition's window; the file's spatial index
        is used, so the rest of the file is not read).

    Returns
    -------
    WalkNetwork

    Raises
    ------
    GeoplanError
        If the file type is unknown.
    CRSError
        If the coordinates are undeclared, not what the format requires, or degrees are
        declared as metres (or metres as degrees).
    NetworkError
        If the file does not exist, cannot be read (truncated, corrupt, not what its name
        says), has no lines, or has no walkable way; the message names the file.

    Examples
    --------
    Street centrelines in Gauss-Krüger metres:


    >>> from geoplan.datasets import byod_dir
    >>> network = walk_network_from_file(byod_dir() / "roads.gpkg", coords="EPSG:4548")
    >>> network.crs, len(network.edges), round(float(network.edges["length_m"].sum()) / 1000, 1)
    (4548, 412, 61.8)
    """
    path = Path(path)
    if not path.exists():
        msg = f"network file not found: {path}"
        raise NetworkError(msg)
    try:
        return _network_from_file(path, coords=coords, metric_epsg=metric_epsg,
                                  include_private=include_private,
                                  node_crossings=node_crossings, window=window)
    except GeoplanError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, ParseError,
            pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        msg = (f"{path.name}: cannot read the walking network ({type(exc).__name__}: {exc}); "
               "is the file complete and of the type its name says?")
        raise NetworkError(msg) from exc


def _network_from_file(path: Path, *, coords: str | None, metric_epsg: int | None,
                       include_private: bool, node_crossings: bool,
                       window: tuple[float, float, float, float] | None = None) -> WalkNetwork:
    name = path.name.lower()
    declared = None if coords is None else coords.strip().lower()
    if name.endswith((".osm", ".osm.bz2", ".xml", ".osm.xml")):
        _require_wgs84(declared, path)
        import osmnx as ox

        with _osmnx_tags(ox.settings):
            graph = ox.graph_from_xml(path, bidirectional=True, simplify=True, retain_all=True)
        return walk_network_from_graph(
            graph, metric_epsg=metric_epsg, include_private=include_private
        )
    if name.endswith(".pbf"):
        _require_wgs84(declared, path)
        return _walk_network_from_pbf(path, metric_epsg=metric_epsg,
                                      include_private=include_private)
    if name.endswith(".graphml"):
        if declared in ("gcj02", "bd09"):
            msg = f"{path.name}: convert GCJ-02/BD-09 graphs before building a network"
            raise CRSError(msg)
        import osmnx as ox

        graph = ox.load_graphml(path)
        return walk_network_from_graph(
            graph, metric_epsg=metric_epsg, include_private=include_private
        )
    if window is not None and not (name.endswith(_LAYER_SUFFIXES) and metric_epsg):
        msg = f"{path.name}: a window is read from a centreline layer with a metric_epsg only"
        raise GeoplanError(msg)
    if name.endswith(_LAYER_SUFFIXES):
        layer = gpd.read_file(path, bbox=_file_window(path, window, metric_epsg, declared))
        lines = layer.geom_type.isin(["LineString", "MultiLineString"])
        if not lines.any():
            msg = (f"{path.name}: the layer has no lines ({len(layer)} features: "
                   f"{', '.join(sorted(set(layer.geom_type.dropna()))) or 'none'}); a walking "
                   "network needs street centrelines (LineString)")
            raise NetworkError(msg)
        layer = _declare_layer_crs(layer[lines], declared, path)
        if layer.crs.is_geographic:
            centre = layer.geometry.union_all().centroid
            layer = layer.to_crs(metric_epsg or _default_metric_epsg(centre.x, centre.y))
        elif metric_epsg is not None:
            layer = layer.to_crs(metric_epsg)
        if window is not None:
            layer = layer[layer.geometry.intersects(shapely.box(*window)).to_numpy()]
        return walk_network_from_edges(
            layer,
            node_crossings=node_crossings,
            walk_filter="highway" in layer.columns,
            include_private=include_private,
        )
    msg = (
        f"unknown network file type: {path.name} "
        "(use .osm, .osm.bz2, .osm.pbf, .graphml, .gpkg, .shp)"
    )
    raise GeoplanError(msg)


def _file_window(path: Path, window: tuple[float, float, float, float] | None,
                 metric_epsg: int | None, declared: str | None
                 ) -> tuple[float, float, float, float] | None:
    """Return the window as a bbox in the file's own CRS (``None``: read the whole file)."""
    if window is None:
        return None
    file_crs = pyogrio.read_info(path).get("crs") or (
        declared if declared and declared.upper().startswith("EPSG:") else None)
    if file_crs is None:
        return None
    if CRS.from_user_input(file_crs).equals(CRS.from_epsg(metric_epsg)):
        return tuple(float(v) for v in window)
    transformer = Transformer.from_crs(metric_epsg, file_crs, always_xy=True)
    return tuple(float(v) for v in transformer.transform_bounds(*window, densify_pts=21))


def _require_wgs84(declared: str | None, path: Path) -> None:
    if declared not in (None, "wgs84", "epsg:4326"):
        msg = f"{path.name}: OSM files are always WGS-84 (EPSG:4326), but coords={declared!r}"
        raise CRSError(msg)


def _declare_layer_crs(
    layer: gpd.GeoDataFrame, declared: str | None, path: Path
) -> gpd.GeoDataFrame:
    if declared in ("gcj02", "bd09"):
        msg = f"{path.name}: convert GCJ-02/BD-09 road lines before building a network"
        raise CRSError(msg)
    if declared is None:
        if layer.crs is None:
            msg = f"{path.name}: the layer declares no CRS; pass coords='EPSG:n'"
            raise CRSError(msg)
        return layer
    epsg = {"wgs84": "EPSG:4326", "cgcs2000": "EPSG:4490"}.get(declared, declared.upper())
    layer = layer.set_crs(epsg, allow_override=True)
    x0, y0, x1, y1 = layer.total_bounds
    degrees = -180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90
    if layer.crs.is_geographic and not degrees:
        msg = (f"{path.name}: declared coords={declared!r} (degrees), but the coordinates "
               f"reach ({x0:.0f}, {y0:.0f})-({x1:.0f}, {y1:.0f}), which are not degrees; "
               "declare the projected CRS the file is in, e.g. coords='EPSG:4549'")
        raise CRSError(msg)
    if layer.crs.is_projected and degrees:
        msg = (f"{path.name}: declared coords={declared!r} (metres), but every coordinate is "
               f"within ±180/±90 (e.g. {x0:.4f}, {y0:.4f}): these are degrees; declare "
               "coords='wgs84' or 'cgcs2000'")
        raise CRSError(msg)
    return layer


def _read_pbf_ways(path: Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Read highway ways from an ``.osm.pbf``: tags table, node ids, lon/lat, way index."""
    import osmium

    records: list[dict[str, Any]] = []
    node_ids: list[int] = []
    lonlat: list[tuple[float, float]] = []
    way_idx: list[int] = []
    processor = (
        osmium.FileProcessor(str(path))
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    for way in processor:
        refs = [(n.ref, n.lon, n.lat) for n in way.nodes if n.location.valid()]
        if len(refs) < 2:
            continue
        tags = {k: v for k, v in way.tags if k in WALK_TAGS or k == "name"}
        tags["osmid"] = way.id
        k = len(records)
        records.append(tags)
        for ref, lon, lat in refs:
            node_ids.append(ref)
            lonlat.append((lon, lat))
            way_idx.append(k)
    return (
        pd.DataFrame.from_records(records),
        np.asarray(node_ids, dtype=np.int64),
        np.asarray(lonlat, dtype=np.float64).reshape(-1, 2),
        np.asarray(way_idx, dtype=np.int64),
    )


def _walk_network_from_pbf(
    path: Path, *, metric_epsg: int | None, include_private: bool
) -> WalkNetwork:
    ways, node_ids, lonlat, way_idx = _read_pbf_ways(path)
    if len(ways) == 0:
        msg = f"{path.name}: no highway ways in the file"
        raise NetworkError(msg)
    keep = walkable_mask(ways, include_private=include_private)
    if not keep.any():
        msg = f"{path.name}: no walkable ways in the file"
        raise NetworkError(msg)
    rows = keep[way_idx]
    node_ids, lonlat, way_idx = node_ids[rows], lonlat[rows], way_idx[rows]
    # renumber kept ways 0..k-1 so lines are contiguous
    new_way = np.cumsum(keep) - 1
    way_idx = new_way[way_idx]
    ways = ways.loc[keep].reset_index(drop=True)
    epsg = metric_epsg or _default_metric_epsg(*np.median(lonlat, axis=0))
    _require_metric_crs(epsg, f"metric_epsg={epsg}")
    xy = gpd.GeoSeries(shapely.points(lonlat), crs=4326).to_crs(epsg)
    coords = shapely.get_coordinates(xy.to_numpy())
    segs, src_way, u, v = _split_lines_at_nodes(coords, way_idx, node_ids)
    keys = np.unique(node_ids)
    _, first_pos = np.unique(node_ids, return_index=True)
    used = np.unique(np.concatenate([u, v]))
    remap = np.full(len(keys), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    edges = gpd.GeoDataFrame(
        {"u": remap[u], "v": remap[v], "length_m": shapely.length(segs)},
        geometry=segs,
        crs=epsg,
    )
    attrs = ways.iloc[src_way].reset_index(drop=True)
    edges = gpd.GeoDataFrame(pd.concat([edges, attrs], axis=1), geometry="geometry", crs=epsg)
    network = WalkNetwork(coords[first_pos][used], edges, epsg, node_ids=keys[used])
    logger.info("built %r from %s", network, path.name)
    _log_components(network)
    return network


def walk_network_from_synthetic(
    folder: str | Path, *, name: str = "jinjiang", seed: int, metric_epsg: int,
    use_cache: bool = True,
) -> WalkNetwork:
    """Build the seeded synthetic walking network of a data folder (see :mod:`.synthetic`).

    Parameters
    ----------
    folder
        The study's data folder (holding ``boundaries/`` and ``network/``).
    name
        The generator (``[network] synthetic`` in the study file).
    seed
        Seed of the generator (``[network] seed``).
    metric_epsg
        Metric CRS of the network.
    use_cache
        Read and write the cache of generated edges.

    Returns
    -------
    WalkNetwork
        The network, one connected component.
    """
    edges = synthetic_network(folder, name=name, seed=seed, metric_epsg=metric_epsg,
                              use_cache=use_cache)
    return walk_network_from_edges(edges)
