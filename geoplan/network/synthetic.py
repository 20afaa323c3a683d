"""A seeded synthetic walking network: urban blocks, village lanes, barriers with crossings.

The generator places street-corner points (jittered, rotated grids in urban areas, small
grids around village centres, a coarse jittered grid of rural lanes), joins neighbouring
points by the relative-neighbourhood graph (a planar graph that keeps grid streets and drops
block diagonals), removes every street that would cross a river or an expressway, adds the
given bridges/underpasses, and joins any isolated pieces to the rest with short links, so the
result is one connected component. Deterministic for a given ``seed``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import Delaunay, cKDTree

from geoplan.errors import StudyConfigError

logger = logging.getLogger(__name__)

#: Bump when the output of :func:`street_network` changes for the same inputs (cache key).
NETWORK_GENERATOR_VERSION = 2

__all__ = [
    "KNOWN_SYNTHETIC",
    "NETWORK_GENERATOR_VERSION",
    "street_network",
    "synthetic_network",
    "synthetic_network_inputs",
]

#: Synthetic network generators known by name (``[network] synthetic = "..."``).
KNOWN_SYNTHETIC = ("jinjiang",)


def _jittered_grid(
    region: shapely.Geometry,
    spacing_xy_m: tuple[float, float],
    angle_rad: float,
    jitter_m: float,
    rng: np.random.Generator,
    centre: tuple[float, float] | None = None,
) -> np.ndarray:
    """Points of a rotated, jittered grid that fall inside ``region``."""
    if region.is_empty:
        return np.empty((0, 2))
    minx, miny, maxx, maxy = region.bounds
    cx, cy = centre if centre is not None else ((minx + maxx) / 2, (miny + maxy) / 2)
    radius = np.hypot(maxx - minx, maxy - miny) / 2 + np.hypot(
        cx - (minx + maxx) / 2, cy - (miny + maxy) / 2
    )
    sx, sy = spacing_xy_m
    gx = np.arange(-radius, radius + sx, sx)
    gy = np.arange(-radius, radius + sy, sy)
    xx, yy = np.meshgrid(gx, gy)
    local = np.column_stack([xx.ravel(), yy.ravel()])
    local += rng.uniform(-jitter_m, jitter_m, size=local.shape)
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    xy = np.column_stack(
        [cx + c * local[:, 0] - s * local[:, 1], cy + s * local[:, 0] + c * local[:, 1]]
    )
    shapely.prepare(region)
    return xy[shapely.contains_xy(region, xy[:, 0], xy[:, 1])]


def _relative_neighbourhood_edges(xy: np.ndarray) -> np.ndarray:
    """Edges (i, j), i < j, of the relative-neighbourhood graph of the points."""
    tri = Delaunay(xy)
    simp = tri.simplices
    pairs = np.vstack([simp[:, [0, 1]], simp[:, [1, 2]], simp[:, [0, 2]]])
    pairs = np.unique(np.sort(pairs, axis=1), axis=0)
    d = np.linalg.norm(xy[pairs[:, 0]] - xy[pairs[:, 1]], axis=1)
    mid = (xy[pairs[:, 0]] + xy[pairs[:, 1]]) / 2
    tree = cKDTree(xy)
    candidates = tree.query_ball_point(mid, r=d * 0.8661, return_sorted=True)
    counts = np.fromiter((len(c) for c in candidates), dtype=np.int64, count=len(candidates))
    k = np.fromiter((p for c in candidates for p in c), dtype=np.int64, count=int(counts.sum()))
    e = np.repeat(np.arange(len(pairs)), counts)
    i, j = pairs[e, 0], pairs[e, 1]
    dik = np.hypot(*(xy[k] - xy[i]).T)
    djk = np.hypot(*(xy[k] - xy[j]).T)
    witness = (k != i) & (k != j) & (np.maximum(dik, djk) < d[e] - 1e-9)
    blocked = np.bincount(e[witness], minlength=len(pairs)) > 0
    return pairs[~blocked]


def _segments(xy: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """LineStrings for the node pairs."""
    coords = np.stack([xy[pairs[:, 0]], xy[pairs[:, 1]]], axis=1)
    return shapely.linestrings(coords)


def _segment_ok(
    a: np.ndarray, b: np.ndarray, area: shapely.Geometry, barrier_all: shapely.Geometry
) -> bool:
    """Tell whether the segment a-b lies in the area and crosses no barrier."""
    seg = shapely.LineString([a, b])
    return bool(area.contains(seg)) and not bool(barrier_all.intersects(seg))


def _crossing_edge(
    point: np.ndarray,
    barrier: shapely.Geometry,
    others: shapely.Geometry,
    xy: np.ndarray,
    tree: cKDTree,
    area: shapely.Geometry,
    search_m: float,
) -> tuple[int, int] | None:
    """Nodes on the two sides of ``barrier`` near ``point`` joined by the shortest crossing."""
    near = np.asarray(tree.query_ball_point(point, r=search_m, return_sorted=True), dtype=int)
    if len(near) < 2:
        return None
    dist = np.linalg.norm(xy[near] - point, axis=1)
    near = near[np.argsort(dist, kind="stable")][:40]
    best, best_len = None, np.inf
    for a_pos, a in enumerate(near):
        for b in near[a_pos + 1 :]:
            seg = shapely.LineString([xy[a], xy[b]])
            hit = seg.intersection(barrier)
            if shapely.get_num_geometries(hit) != 1 or hit.geom_type != "Point":
                continue
            if others.intersects(seg) or not area.contains(seg):
                continue
            cost = np.linalg.norm(xy[a] - point) + np.linalg.norm(xy[b] - point)
            if cost < best_len:
                best, best_len = (int(min(a, b)), int(max(a, b))), cost
    return best


def _link_components(
    xy: np.ndarray,
    pairs: list[tuple[int, int]],
    area: shapely.Geometry,
    barrier_all: shapely.Geometry,
) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Join small components to the rest by short valid links; return new links and labels."""
    links: list[tuple[int, int]] = []
    tree = cKDTree(xy)
    for _ in range(200):
        arr = np.asarray(pairs + links)
        graph = sparse.coo_matrix(
            (np.ones(len(arr)), (arr[:, 0], arr[:, 1])), shape=(len(xy), len(xy))
        )
        n_comp, comp = connected_components(graph, directed=False)
        used = np.zeros(len(xy), dtype=bool)
        used[arr.ravel()] = True
        sizes = np.bincount(comp[used], minlength=n_comp)
        main = int(np.argmax(sizes))
        small = [c for c in np.unique(comp[used]) if c != main]
        if not small:
            return links, comp
        added = False
        for c in sorted(small, key=lambda c: (sizes[c], c)):
            members = np.flatnonzero((comp == c) & used)
            dist, idx = tree.query(xy[members], k=min(24, len(xy)))
            options = [
                (dist[r, q], int(members[r]), int(idx[r, q]))
                for r in range(len(members))
                for q in range(idx.shape[1])
                if used[idx[r, q]] and comp[idx[r, q]] != c
            ]
            for _, a, b in sorted(options):
                if _segment_ok(xy[a], xy[b], area, barrier_all):
                    links.append((min(a, b), max(a, b)))
                    added = True
                    break
            if added:
                break
        if not added:
            return links, comp
    return links, comp


def street_network(
    study_area: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    barriers: gpd.GeoDataFrame,
    crossings: gpd.GeoDataFrame,
    *,
    seed: int,
    urban_kind: str = "社区",
    urban_spacing_m: tuple[float, float] = (85.0, 140.0),
    village_spacing_m: float = 115.0,
    village_core_radius_m: float = 260.0,
    rural_spacing_m: float = 450.0,
) -> gpd.GeoDataFrame:
    """Generate a connected synthetic walking network inside a study area.

    Parameters
    ----------
    study_area
        Outline polygon(s), projected CRS in metres.
    villages
        Village/community polygons with a ``kind`` column and a ``parent_code`` column;
        units of ``urban_kind`` get dense urban blocks (one grid orientation per parent),
        the others a small lane grid around their centre.
    barriers
        LineStrings that streets may not cross (``kind``: e.g. ``river``, ``expressway``).
    crossings
        Points on the barriers where a bridge or underpass joins the two sides.
    seed
        Random seed; the same inputs and seed give the same output.
    urban_kind
        ``kind`` value of urban units.
    urban_spacing_m
        Range of urban block sides, metres (each urban area draws its own two sides).
    village_spacing_m
        Lane spacing in a village centre, metres.
    village_core_radius_m
        Radius of the lane grid around a village centre, metres.
    rural_spacing_m
        Spacing of rural lanes between villages, metres.

    Returns
    -------
    geopandas.GeoDataFrame
        Edges with ``u``, ``v`` (node numbers), ``zone`` (``urban``/``village``/``rural``/
        ``bridge``/``link``), ``length_m`` and LineString geometry, in the input CRS,
        sorted by ``(u, v)``; one connected component.
    """
    crs = study_area.crs
    rng = np.random.default_rng(seed)
    area = shapely.union_all(study_area.geometry.to_numpy())
    shapely.prepare(area)
    units = villages.sort_values("code")
    is_urban = (units["kind"] == urban_kind).to_numpy()
    urban = shapely.union_all(units.geometry.to_numpy()[is_urban])
    barrier_geoms = barriers.sort_values("kind").geometry.to_numpy()
    barrier_all = shapely.union_all(barrier_geoms)
    shapely.prepare(barrier_all)

    groups: list[np.ndarray] = []
    zones: list[str] = []
    for _, part in units.loc[is_urban].groupby("parent_code", sort=True):
        region = shapely.union_all(part.geometry.to_numpy())
        sides = rng.uniform(*urban_spacing_m, size=2)
        angle = rng.uniform(0, np.pi / 2)
        pts = _jittered_grid(region, (sides[0], sides[1]), angle, 0.12 * sides.min(), rng)
        groups.append(pts)
        zones += ["urban"] * len(pts)
    centres = shapely.get_point(
        shapely.maximum_inscribed_circle(units.geometry.to_numpy()[~is_urban], 10.0), 0
    )
    core_xy = shapely.get_coordinates(centres)
    for c, poly in zip(core_xy, units.geometry.to_numpy()[~is_urban], strict=True):
        disk = shapely.Point(c).buffer(village_core_radius_m).intersection(poly)
        disk = disk.difference(urban)
        angle = rng.uniform(0, np.pi / 2)
        pts = _jittered_grid(
            disk, (village_spacing_m,) * 2, angle, 0.12 * village_spacing_m, rng, tuple(c)
        )
        groups.append(pts)
        zones += ["village"] * len(pts)
    rural_area = area.difference(urban.buffer(0.4 * rural_spacing_m))
    rural = _jittered_grid(rural_area, (rural_spacing_m,) * 2, 0.0, 0.2 * rural_spacing_m, rng)
    if len(core_xy):
        near_core, _ = cKDTree(core_xy).query(rural)
        rural = rural[near_core > village_core_radius_m + 0.4 * rural_spacing_m]
    groups.append(rural)
    zones += ["rural"] * len(rural)
    xy = np.vstack(groups)
    zone = np.asarray(zones)
    clear = shapely.distance(barrier_all, shapely.points(xy)) > 25.0
    xy, zone = xy[clear], zone[clear]

    pairs = _relative_neighbourhood_edges(xy)
    lines = _segments(xy, pairs)
    length = shapely.length(lines)
    ok = shapely.contains(area, lines) & ~shapely.intersects(barrier_all, lines)
    ok &= length <= 1.6 * rural_spacing_m
    pairs = pairs[ok]
    edge_zone = np.where(zone[pairs[:, 0]] == zone[pairs[:, 1]], zone[pairs[:, 0]], "rural")

    tree = cKDTree(xy)
    bridge_pairs: list[tuple[int, int]] = []
    for point in shapely.get_coordinates(crossings.geometry.to_numpy()):
        which = int(np.argmin(shapely.distance(barrier_geoms, shapely.Point(point))))
        others = shapely.union_all(np.delete(barrier_geoms, which))
        pair = None
        for search in (250.0, 500.0, 900.0):
            pair = _crossing_edge(point, barrier_geoms[which], others, xy, tree, area, search)
            if pair is not None:
                break
        if pair is None:
            logger.warning("no bridge could be placed near %s", point)
            continue
        bridge_pairs.append(pair)
    base = [tuple(p) for p in pairs.tolist()] + bridge_pairs
    links, comp = _link_components(xy, base, area, barrier_all)
    all_pairs = np.asarray(base + links, dtype=np.int64)
    all_zone = np.concatenate([edge_zone, ["bridge"] * len(bridge_pairs), ["link"] * len(links)])
    sizes = np.bincount(comp[all_pairs[:, 0]])
    main = int(np.argmax(sizes))
    keep = comp[all_pairs[:, 0]] == main
    if (~keep).any():
        logger.info("dropped %d street segments not joinable to the network", int((~keep).sum()))
    all_pairs, all_zone = all_pairs[keep], all_zone[keep]

    used = np.unique(all_pairs)
    remap = np.full(len(xy), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    u, v = remap[all_pairs[:, 0]], remap[all_pairs[:, 1]]
    node_xy = xy[used]
    order = np.lexsort((v, u))
    u, v, all_zone = u[order], v[order], all_zone[order]
    geoms = _segments(node_xy, np.column_stack([u, v]))
    edges = gpd.GeoDataFrame(
        {
            "u": u,
            "v": v,
            "zone": pd.array(all_zone, dtype=object),
            "length_m": shapely.length(geoms),
        },
        geometry=geoms,
        crs=crs,
    )
    logger.info("synthetic network: %d nodes, %d edges", len(node_xy), len(edges))
    return edges


def synthetic_network_inputs(folder: Path, metric_epsg: int = 4549) -> dict[str, gpd.GeoDataFrame]:
    """Read the layers the Jinjiang network generator needs from a demo data folder.

    Parameters
    ----------
    folder
        The data folder (holding ``boundaries/`` and ``network/``).
    metric_epsg
        Metric CRS to work in.

    Returns
    -------
    dict
        ``study_area``, ``villages``, ``barriers``, ``crossings`` in ``metric_epsg``.
    """
    boundaries = folder / "boundaries"
    network = folder / "network"
    try:
        area = gpd.read_file(boundaries / "study_area.gpkg", layer="study_area")
        units = gpd.read_file(boundaries / "admin_units.gpkg", layer="admin_units")
        barriers = gpd.read_file(network / "barriers.gpkg", layer="barriers")
        crossings = gpd.read_file(network / "barriers.gpkg", layer="crossings")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as err:
        msg = f"cannot read the synthetic-network inputs in {folder}: {err}"
        raise StudyConfigError(msg) from err
    villages = units.loc[units["level"] == "village", ["code", "kind", "parent_code", "geometry"]]
    return {
        "study_area": area.to_crs(metric_epsg),
        "villages": villages.to_crs(metric_epsg),
        "barriers": barriers.to_crs(metric_epsg),
        "crossings": crossings.to_crs(metric_epsg),
    }


def _inputs_digest(inputs: dict[str, gpd.GeoDataFrame], seed: int) -> str:
    """Return a short hash of the generator inputs (geometry, codes, kinds) and the seed."""
    h = hashlib.sha256(f"v{NETWORK_GENERATOR_VERSION}-seed{seed}".encode())
    for key in sorted(inputs):
        layer = inputs[key]
        h.update(key.encode())
        h.update(str(layer.crs.to_epsg()).encode())
        for col in ("code", "kind", "parent_code"):
            if col in layer.columns:
                h.update("|".join(map(str, layer[col])).encode())
        rounded = shapely.set_precision(layer.geometry.to_numpy(), 0.001)
        h.update(b"".join(shapely.to_wkb(rounded)))
    return h.hexdigest()[:16]


def _cache_dir() -> Path:
    """Return the user cache folder for generated networks (``GEOPLAN_CACHE_DIR`` overrides it)."""
    env = os.environ.get("GEOPLAN_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("geoplan")) / "networks"


def synthetic_network(
    folder: str | os.PathLike[str],
    *,
    name: str = "jinjiang",
    seed: int,
    metric_epsg: int,
    use_cache: bool = True,
) -> gpd.GeoDataFrame:
    """Return the synthetic walking-network edges for a data folder (generated once, cached).

    Parameters
    ----------
    folder
        The study's data folder (holding ``boundaries/`` and ``network/``; see
        :func:`synthetic_network_inputs`).
    name
        The generator (one of :data:`KNOWN_SYNTHETIC`).
    seed
        Seed of the generator.
    metric_epsg
        Metric CRS of the edges.
    use_cache
        Read and write the cache (``False`` always regenerates, without writing).

    Returns
    -------
    geopandas.GeoDataFrame
        Edge LineStrings (``u``, ``v``, ``zone``, ``length_m``) in the metric CRS, one
        connected component; :func:`geoplan.network.walk_network_from_synthetic` turns them
        into a network.

    Raises
    ------
    StudyConfigError
        If the generator name is unknown or its input layers cannot be read.
    """
    if name not in KNOWN_SYNTHETIC:
        msg = f"unknown synthetic network {name!r}; known: {', '.join(KNOWN_SYNTHETIC)}"
        raise StudyConfigError(msg)
    seed = int(seed)
    inputs = synthetic_network_inputs(Path(folder), metric_epsg)
    digest = _inputs_digest(inputs, seed)
    cache = _cache_dir() / f"{name}-v{NETWORK_GENERATOR_VERSION}-seed{seed}-{digest}.gpkg"
    if use_cache and cache.is_file():
        logger.info("reading the cached synthetic network %s", cache)
        edges = gpd.read_file(cache, layer="edges")
        edges["u"] = edges["u"].astype(np.int64)
        edges["v"] = edges["v"].astype(np.int64)
        return edges
    logger.info("generating the synthetic %s walking network (seed %d)", name, seed)
    edges = street_network(
        inputs["study_area"], inputs["villages"], inputs["barriers"], inputs["crossings"], seed=seed
    )
    if use_cache:
        _write_cache(edges, cache)
    return edges


def _write_cache(edges: gpd.GeoDataFrame, path: Path) -> None:
    """Write the edges to the cache atomically (a failed write leaves no partial file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".gpkg", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        edges.to_file(tmp, layer="edges", driver="GPKG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
