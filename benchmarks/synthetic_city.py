"""Synthetic city walking networks and layers for benchmarks, calibrated against real OSM graphs.

A plain grid is far sparser than a real walking network (a facility reaches a few hundred
nodes within 1,000 m on a 100 m grid, about 3,000 on real OSM networks with footpaths), so
the generator builds a *dense irregular* graph: a jittered grid with node spacing
``spacing_m``, a share of the grid links removed (blocks, walls) and diagonal footpaths added.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoplan.network import WalkNetwork

EPSG = 4549  # CGCS2000 / 3-degree GK CM 120E (Jinjiang's zone)
ORIGIN = (500_000.0, 2_730_000.0)


def synthetic_city(
    n_nodes: int, *, spacing_m: float = 24.0, keep_link: float = 0.72,
    diagonal: float = 0.2, seed: int = 0,
) -> WalkNetwork:
    """A jittered-grid walking network with about ``n_nodes`` nodes (metres, EPSG:4549)."""
    rng = np.random.default_rng(seed)
    side = round(float(np.sqrt(n_nodes)))
    ix, iy = np.meshgrid(np.arange(side), np.arange(side), indexing="xy")
    ix, iy = ix.ravel(), iy.ravel()
    xy = np.column_stack([ix, iy]).astype(np.float64) * spacing_m
    xy += rng.uniform(-0.3, 0.3, size=xy.shape) * spacing_m
    xy += ORIGIN
    node = iy * side + ix
    pairs = []
    right = ix < side - 1
    pairs.append(np.column_stack([node[right], node[right] + 1]))
    up = iy < side - 1
    pairs.append(np.column_stack([node[up], node[up] + side]))
    grid = np.concatenate(pairs)
    grid = grid[rng.random(len(grid)) < keep_link]
    diag_ok = right & up
    d = node[diag_ok]
    flip = rng.random(len(d)) < 0.5
    diag = np.column_stack([np.where(flip, d + 1, d), np.where(flip, d + side, d + side + 1)])
    diag = diag[rng.random(len(diag)) < diagonal]
    uv = np.concatenate([grid, diag])
    lines = shapely.linestrings(
        np.stack([xy[uv[:, 0]], xy[uv[:, 1]]], axis=1)
    )
    edges = gpd.GeoDataFrame(
        {"u": uv[:, 0], "v": uv[:, 1], "length_m": shapely.length(lines)},
        geometry=lines, crs=EPSG,
    )
    return WalkNetwork(xy, edges, EPSG)


def random_points_near_network(
    network: WalkNetwork, n: int, *, offset_m: float = 15.0, seed: int = 1
) -> np.ndarray:
    """``n`` points at random places along random edges, moved up to ``offset_m`` sideways."""
    rng = np.random.default_rng(seed)
    lengths = network.edges["length_m"].to_numpy()
    e = rng.choice(len(lengths), size=n, p=lengths / lengths.sum())
    pts = shapely.line_interpolate_point(network.edge_lines[e], rng.random(n), normalized=True)
    xy = shapely.get_coordinates(pts)
    return xy + rng.uniform(-offset_m, offset_m, size=xy.shape)


def demand_cells(network: WalkNetwork, n: int, *, seed: int = 2) -> gpd.GeoDataFrame:
    """``n`` demand points (cell centres) with pop, households, 60+, 80+ and a unit code."""
    rng = np.random.default_rng(seed)
    xy = random_points_near_network(network, n, offset_m=20.0, seed=seed)
    pop = rng.integers(0, 120, n).astype(np.float64)
    frame = gpd.GeoDataFrame(
        {
            "cell_id": [f"c{i}" for i in range(n)],
            "pop": pop,
            "households": np.round(pop / 2.5),
            "pop_60plus": np.round(pop * 0.15),
            "pop_80plus": np.round(pop * 0.02),
        },
        geometry=shapely.points(xy), crs=network.crs,
    )
    return frame.set_index("cell_id", drop=False)


def facilities(network: WalkNetwork, n_per_type: int, types: list[str], *, seed: int = 3):
    """``n_per_type`` facility points of each type near the network."""
    parts = []
    for k, t in enumerate(types):
        xy = random_points_near_network(network, n_per_type, offset_m=30.0, seed=seed + 17 * k)
        parts.append(pd.DataFrame({"facility_type": t, "x": xy[:, 0], "y": xy[:, 1],
                                   "beds": 20.0, "seats": 40.0}))
    frame = pd.concat(parts, ignore_index=True)
    frame["facility_id"] = [f"f{i}" for i in range(len(frame))]
    gdf = gpd.GeoDataFrame(frame.drop(columns=["x", "y"]),
                           geometry=shapely.points(frame[["x", "y"]].to_numpy()),
                           crs=network.crs)
    return gdf.set_index("facility_id", drop=False)


def admin_units(network: WalkNetwork, n_towns_side: int = 3, villages_per_town_side: int = 3):
    """A grid of town polygons split into village polygons covering the network's extent."""
    x0, y0 = network.node_xy.min(axis=0) - 100
    x1, y1 = network.node_xy.max(axis=0) + 100
    rows = []
    tw = (x1 - x0) / n_towns_side
    th = (y1 - y0) / n_towns_side
    for i in range(n_towns_side):
        for j in range(n_towns_side):
            tcode = f"3505821{i}{j}000"
            bx, by = x0 + i * tw, y0 + j * th
            town = shapely.box(bx, by, bx + tw, by + th)
            rows.append((tcode, f"镇{i}{j}", "town", "350582", town))
            vw, vh = tw / villages_per_town_side, th / villages_per_town_side
            for a in range(villages_per_town_side):
                for b in range(villages_per_town_side):
                    vx, vy = bx + a * vw, by + b * vh
                    rows.append((f"{tcode[:9]}{a}{b}0", f"村{i}{j}{a}{b}", "village", tcode,
                                 shapely.box(vx, vy, vx + vw, vy + vh)))
    frame = pd.DataFrame(rows, columns=["code", "name", "level", "parent_code", "geometry"])
    frame["households"] = 1000
    gdf = gpd.GeoDataFrame(frame, geometry="geometry", crs=network.crs)
    return gdf.set_index("code", drop=False)
