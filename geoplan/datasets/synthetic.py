"""Seeded generators for synthetic study data: partitions, integer allocation, street networks.

Everything here is deterministic for a given ``seed`` (a :class:`numpy.random.Generator`
with a fixed seed, sorted inputs and outputs) and works in a projected CRS in metres.
The embedded Jinjiang demo (``data/make_demo.py``) uses these generators to build the
synthetic township/village polygons, the population grid and the walking network; they
are generic and work for any outline.

- :func:`smooth_noise` — a smooth random field (for domain warping and density noise).
- :func:`fit_power_labels` — a warped, weighted (power) Voronoi labelling of grid cells
  whose regions approach target shares of the area.
- :func:`lloyd_points` — evenly spread seed points by weighted k-means (Lloyd) iterations.
- :func:`partition_from_labels` — an exact polygon coverage of an outline from a label grid
  (regions share identical vertices along shared edges; no gaps, no overlaps).
- :func:`street_network` — a connected walking network (urban blocks, rural lanes, barriers
  crossed only at given crossings), see :mod:`geoplan.network.synthetic`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import shapely
from scipy import ndimage
from scipy.spatial import cKDTree

from geoplan.network.synthetic import NETWORK_GENERATOR_VERSION, street_network

if TYPE_CHECKING:
    from affine import Affine

logger = logging.getLogger(__name__)

__all__ = [
    "NETWORK_GENERATOR_VERSION",
    "fit_power_labels",
    "lloyd_points",
    "partition_from_labels",
    "smooth_noise",
    "street_network",
]


def smooth_noise(
    shape: tuple[int, int], scale_cells: float, rng: np.random.Generator
) -> np.ndarray:
    """Return a smooth random field of the given shape with unit standard deviation.

    Parameters
    ----------
    shape
        ``(rows, cols)`` of the output grid.
    scale_cells
        Correlation length in cells (the spacing of the random control values).
    rng
        Random generator (consumed).

    Returns
    -------
    numpy.ndarray
        float64 array of ``shape``, mean about 0 and standard deviation 1.
    """
    coarse_shape = (
        int(np.ceil(shape[0] / scale_cells)) + 3,
        int(np.ceil(shape[1] / scale_cells)) + 3,
    )
    coarse = rng.standard_normal(coarse_shape)
    zoom = (shape[0] / (coarse_shape[0] - 3), shape[1] / (coarse_shape[1] - 3))
    fine = ndimage.zoom(coarse, zoom, order=3, mode="nearest")[: shape[0], : shape[1]]
    fine = fine - fine.mean()
    std = fine.std()
    return fine / std if std > 0 else fine


def _power_labels(xy: np.ndarray, seeds: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Label each point with the seed minimising ``|p - s|^2 - w`` (power diagram)."""
    labels = np.empty(len(xy), dtype=np.int64)
    step = 200_000
    for start in range(0, len(xy), step):
        block = xy[start : start + step]
        d2 = ((block[:, None, :] - seeds[None, :, :]) ** 2).sum(axis=2) - weights[None, :]
        labels[start : start + step] = np.argmin(d2, axis=1)
    return labels


def fit_power_labels(
    xy: np.ndarray,
    seeds_xy: np.ndarray,
    target_share: np.ndarray,
    cell_mass: np.ndarray,
    *,
    n_iter: int = 80,
) -> np.ndarray:
    """Label points by a power diagram whose weights are fitted to target shares.

    Parameters
    ----------
    xy
        (n, 2) point coordinates in metres (already domain-warped if wanted).
    seeds_xy
        (k, 2) seed coordinates in metres.
    target_share
        (k,) wanted share of the total ``cell_mass`` per seed (normalised here).
    cell_mass
        (n,) mass of each point (e.g. 1 inside the outline, 0 outside).
    n_iter
        Number of weight updates.

    Returns
    -------
    numpy.ndarray
        (n,) int64 seed index per point.
    """
    target = np.asarray(target_share, dtype=float)
    target = target / target.sum() * float(cell_mass.sum())
    weights = np.zeros(len(seeds_xy))
    # area of a typical region, in "cell mass" units converted to m^2 by the mean spacing
    cell_area_m2 = _cell_area_m2(xy)
    for _ in range(n_iter):
        labels = _power_labels(xy, seeds_xy, weights)
        mass = np.bincount(labels, weights=cell_mass, minlength=len(seeds_xy))
        ratio = np.clip(mass / np.maximum(target, 1e-9), 0.0, 3.0)
        weights += 0.5 * target * cell_area_m2 / np.pi * (1.0 - ratio)
    return _power_labels(xy, seeds_xy, weights)


def _cell_area_m2(xy: np.ndarray) -> float:
    """Area of one grid cell, from the spacing of the first row of a regular grid."""
    dx = np.diff(np.unique(xy[:, 0]))
    step = float(dx.min()) if len(dx) else 1.0
    return step * step


def lloyd_points(
    xy: np.ndarray,
    weight: np.ndarray,
    n_points: int,
    rng: np.random.Generator,
    *,
    n_iter: int = 20,
) -> np.ndarray:
    """Spread ``n_points`` over weighted points by Lloyd (weighted k-means) iterations.

    Parameters
    ----------
    xy
        (n, 2) candidate coordinates (e.g. grid-cell centres of a town), metres.
    weight
        (n,) non-negative weights; denser weight gives smaller regions.
    n_points
        Number of points wanted (``<= n``).
    rng
        Random generator for the initial choice (consumed).
    n_iter
        Number of Lloyd iterations.

    Returns
    -------
    numpy.ndarray
        (n_points, 2) float64 coordinates, each the weighted centre of its region.
    """
    p = weight / weight.sum()
    start = rng.choice(len(xy), size=n_points, replace=False, p=p)
    centres = xy[np.sort(start)].astype(float)
    for _ in range(n_iter):
        _, labels = cKDTree(centres).query(xy)
        w_sum = np.bincount(labels, weights=weight, minlength=n_points)
        cx = np.bincount(labels, weights=weight * xy[:, 0], minlength=n_points)
        cy = np.bincount(labels, weights=weight * xy[:, 1], minlength=n_points)
        ok = w_sum > 0
        centres[ok, 0] = cx[ok] / w_sum[ok]
        centres[ok, 1] = cy[ok] / w_sum[ok]
    return centres


def _shared_length_m(a: shapely.Geometry, b: shapely.Geometry) -> float:
    """Length of the common boundary of two polygons of one coverage."""
    return float(shapely.length(shapely.intersection(shapely.boundary(a), shapely.boundary(b))))


def partition_from_labels(
    labels: np.ndarray,
    transform: Affine,
    outline: shapely.Geometry,
    *,
    simplify_m: float,
    group_of: np.ndarray | None = None,
) -> dict[int, shapely.Geometry]:
    """Turn a label grid into an exact polygon coverage of ``outline``.

    The label regions are polygonised, simplified as a coverage, noded together with the
    outline, and the resulting faces are merged per label. All regions are built from the
    same faces, so shared edges have identical vertices: no gaps, no overlaps.
    Disconnected pieces of a region are given to the neighbour with the longest common
    edge (preferring a neighbour in the same ``group_of``), so every region is one Polygon.

    Parameters
    ----------
    labels
        (rows, cols) int grid of non-negative region labels covering the outline's bounds.
    transform
        Affine transform of the grid (metres).
    outline
        Polygon to partition (same CRS).
    simplify_m
        Coverage-simplification tolerance in metres for the region edges.
    group_of
        Optional array mapping label -> group (e.g. village -> town): pieces prefer a
        neighbour in the same group.

    Returns
    -------
    dict
        label -> Polygon, for every label that keeps some area inside the outline.
    """
    from rasterio import features

    shapes = [
        (shapely.geometry.shape(geom), int(value))
        for geom, value in features.shapes(labels.astype(np.int32), transform=transform)
    ]
    polys = np.array([s for s, _ in shapes])
    values = np.array([v for _, v in shapes])
    simple = shapely.coverage_simplify(polys, simplify_m)
    lines = shapely.union_all(
        np.concatenate([shapely.boundary(simple), [shapely.boundary(outline)]])
    )
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    reps = shapely.point_on_surface(faces)
    inside = shapely.contains(outline, reps)
    faces, reps = faces[inside], reps[inside]
    tree = shapely.STRtree(simple)
    rep_idx, poly_idx = tree.query(reps, predicate="within")
    face_label = np.full(len(faces), -1, dtype=np.int64)
    face_label[rep_idx] = values[poly_idx]
    if (face_label < 0).any():
        # a representative point exactly on a simplified edge: take the nearest region
        missing = np.flatnonzero(face_label < 0)
        near = tree.query_nearest(reps[missing], all_matches=False)[1]
        face_label[missing] = values[near]
    regions = {
        int(lab): shapely.coverage_union_all(faces[face_label == lab])
        for lab in np.unique(face_label)
    }
    return _merge_fragments(regions, group_of)


def _merge_fragments(
    regions: dict[int, shapely.Geometry], group_of: np.ndarray | None
) -> dict[int, shapely.Geometry]:
    """Give every piece but the largest of each region to its best neighbour."""
    regions = dict(regions)
    for _ in range(10):
        moved = False
        for lab in sorted(regions):
            parts = list(shapely.get_parts(regions[lab]))
            if len(parts) <= 1:
                continue
            parts.sort(key=lambda g: -g.area)
            keep = [parts[0]]
            for piece in parts[1:]:
                best, best_key = None, None
                for other in sorted(regions):
                    if other == lab or not regions[other].intersects(piece):
                        continue
                    shared = _shared_length_m(piece, regions[other])
                    if shared <= 0:
                        continue
                    same = group_of is not None and group_of[other] == group_of[lab]
                    key = (same, shared)
                    if best_key is None or key > best_key:
                        best, best_key = other, key
                if best is None:
                    keep.append(piece)
                    continue
                regions[best] = shapely.coverage_union_all([regions[best], piece])
                moved = True
            regions[lab] = shapely.coverage_union_all(keep) if len(keep) > 1 else keep[0]
        if not moved:
            break
    return regions
