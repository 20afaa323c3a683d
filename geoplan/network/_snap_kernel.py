"""Compiled kernel behind :func:`geoplan.network.snap_points`: nearest edge piece on a grid.

The edges are cut into straight pieces no longer than one grid cell and every piece is
listed in the (at most four) cells its bounding box touches. A point looks at the cells in
rings around its own cell, nearest first, and stops as soon as every cell not yet seen lies
farther away than the best piece found: the answer is exact, and the work follows the
streets near the point, not the size of the network. Points that see nothing within
:data:`MAX_RINGS` rings (far outside the network) are left to the caller's exact fallback.

The kernel is compiled with numba (``nogil``, cached on disk); points are split into one
chunk per CPU core and the chunks run in threads.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
import shapely

__all__ = ["MAX_RINGS", "SnapGrid", "nearest_pieces", "snap_grid"]

#: Rings of cells searched around a point before it is left to the exact fallback.
MAX_RINGS = 48


@dataclass(frozen=True)
class SnapGrid:
    """Edge pieces (arrays indexed by piece) listed per grid cell (CSR ``cell_start``/``entry``)."""

    x0: float
    y0: float
    cell_m: float
    nx: int
    ny: int
    cell_start: np.ndarray
    entry: np.ndarray
    ax: np.ndarray
    ay: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    inv_len2: np.ndarray
    length: np.ndarray
    edge: np.ndarray
    along0: np.ndarray


def snap_grid(edge_lines: np.ndarray) -> SnapGrid:
    """Cut edges into pieces of at most one cell and list them per cell.

    Parameters
    ----------
    edge_lines
        The network's edge LineStrings (metres).

    Returns
    -------
    SnapGrid
    """
    coords, line = shapely.get_coordinates(edge_lines, return_index=True)
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    width, height = max(hi[0] - lo[0], 1.0), max(hi[1] - lo[1], 1.0)
    # about one segment per cell; pieces no longer than a cell touch at most 2 x 2 cells
    n_seg = max(len(coords) - len(edge_lines), 1)
    cell_m = max(float(np.sqrt(width * height / n_seg)), 1.0)
    nx = int(width // cell_m) + 1
    ny = int(height // cell_m) + 1
    arrays = _build_grid(np.ascontiguousarray(coords), line.astype(np.int64), float(lo[0]),
                         float(lo[1]), cell_m, nx, ny)
    return SnapGrid(float(lo[0]), float(lo[1]), cell_m, nx, ny, *arrays)


@numba.njit(nogil=True, cache=True, inline="always")
def _cell_of(x, y, x0, y0, cell_m, nx, ny):
    """Grid column and row of a point (clamped to the grid)."""
    i = min(max(int(np.floor((x - x0) / cell_m)), 0), nx - 1)
    j = min(max(int(np.floor((y - y0) / cell_m)), 0), ny - 1)
    return i, j


@numba.njit(nogil=True, cache=True)
def _build_grid(coords, line, x0, y0, cell_m, nx, ny):
    """Pieces (stored in the order of their lower-left cell) and the piece list of every cell.

    Two passes over the segments: count pieces and cell entries, then fill them in.
    """
    n_cells = nx * ny
    first_count = np.zeros(n_cells + 1, dtype=np.int64)
    entry_count = np.zeros(n_cells + 1, dtype=np.int64)
    for pass_no in range(2):
        if pass_no == 1:
            n_piece = first_count.sum()
            piece_cursor = np.zeros(n_cells, dtype=np.int64)
            entry_start = np.zeros(n_cells + 1, dtype=np.int64)
            for c in range(n_cells):
                piece_cursor[c] = piece_cursor[c - 1] + first_count[c - 1] if c > 0 else 0
                entry_start[c + 1] = entry_start[c] + entry_count[c]
            entry_cursor = entry_start[:-1].copy()
            ax = np.empty(n_piece)
            ay = np.empty(n_piece)
            dx = np.empty(n_piece)
            dy = np.empty(n_piece)
            inv_len2 = np.empty(n_piece)
            length = np.empty(n_piece)
            edge = np.empty(n_piece, dtype=np.int64)
            along0 = np.empty(n_piece)
            entry = np.empty(entry_start[n_cells], dtype=np.int64)
        along = 0.0
        for k in range(len(coords) - 1):
            if k == 0 or line[k] != line[k - 1]:
                along = 0.0
            if line[k + 1] != line[k]:
                continue
            sx, sy = coords[k, 0], coords[k, 1]
            ex, ey = coords[k + 1, 0] - sx, coords[k + 1, 1] - sy
            seg_len = np.sqrt(ex * ex + ey * ey)
            parts = max(1, int(np.ceil(seg_len / cell_m)))
            for m in range(parts):
                f0, f1 = m / parts, (m + 1) / parts
                pax, pay = sx + f0 * ex, sy + f0 * ey
                pbx, pby = sx + f1 * ex, sy + f1 * ey
                i0, j0 = _cell_of(min(pax, pbx), min(pay, pby), x0, y0, cell_m, nx, ny)
                i1, j1 = _cell_of(max(pax, pbx), max(pay, pby), x0, y0, cell_m, nx, ny)
                if pass_no == 0:
                    first_count[j0 * nx + i0] += 1
                    for j in range(j0, j1 + 1):
                        for i in range(i0, i1 + 1):
                            entry_count[j * nx + i] += 1
                    continue
                p = piece_cursor[j0 * nx + i0]
                piece_cursor[j0 * nx + i0] += 1
                ax[p], ay[p] = pax, pay
                dx[p], dy[p] = pbx - pax, pby - pay
                len2 = dx[p] * dx[p] + dy[p] * dy[p]
                inv_len2[p] = 1.0 / len2 if len2 > 0 else 0.0
                length[p] = np.sqrt(len2)
                edge[p] = line[k]
                along0[p] = along + f0 * seg_len
                for j in range(j0, j1 + 1):
                    for i in range(i0, i1 + 1):
                        entry[entry_cursor[j * nx + i]] = p
                        entry_cursor[j * nx + i] += 1
            along += seg_len
    return entry_start, entry, ax, ay, dx, dy, inv_len2, length, edge, along0


@numba.njit(nogil=True, cache=True, inline="always")
def _scan_cell(c, px, py, cell_start, entry, ax, ay, dx, dy, inv_len2, best2, best_p, best_t):
    """Closest piece of cell ``c`` if closer than ``best2`` (ties: the lower piece number)."""
    for k in range(cell_start[c], cell_start[c + 1]):
        p = entry[k]
        t = ((px - ax[p]) * dx[p] + (py - ay[p]) * dy[p]) * inv_len2[p]
        t = min(max(t, 0.0), 1.0)
        qx = ax[p] + t * dx[p] - px
        qy = ay[p] + t * dy[p] - py
        d2 = qx * qx + qy * qy
        if d2 < best2 or (d2 == best2 and p < best_p):
            best2, best_p, best_t = d2, p, t
    return best2, best_p, best_t


@numba.njit(nogil=True, cache=True, inline="always")
def _rect_dist2(px, py, xa, xb, ya, yb):
    """Squared distance from a point to the rectangle ``[xa, xb] x [ya, yb]``."""
    ddx = max(xa - px, 0.0, px - xb)
    ddy = max(ya - py, 0.0, py - yb)
    return ddx * ddx + ddy * ddy


@numba.njit(nogil=True, cache=True)
def _cell_order(xy, x0, y0, cell_m, nx, ny):
    """Point positions sorted by grid cell (counting sort): neighbours are searched together."""
    n = xy.shape[0]
    cell = np.empty(n, dtype=np.int64)
    start = np.zeros(nx * ny + 1, dtype=np.int64)
    for q in range(n):
        i, j = _cell_of(xy[q, 0], xy[q, 1], x0, y0, cell_m, nx, ny)
        cell[q] = j * nx + i
        start[cell[q] + 1] += 1
    for c in range(nx * ny):
        start[c + 1] += start[c]
    order = np.empty(n, dtype=np.int64)
    for q in range(n):
        order[start[cell[q]]] = q
        start[cell[q]] += 1
    return order


@numba.njit(nogil=True, cache=True)
def _nearest_rows(xy, rows, x0, y0, cell_m, nx, ny, cell_start, entry, ax, ay, dx, dy,
                  inv_len2, max_rings, piece, frac, dist, sure):
    """For the points ``rows``: nearest piece, position on it (0-1), distance, certainty."""
    x_end, y_end = x0 + nx * cell_m, y0 + ny * cell_m
    for q in rows:
        px, py = xy[q, 0], xy[q, 1]
        ci, cj = _cell_of(px, py, x0, y0, cell_m, nx, ny)
        best2, best_p, best_t = np.inf, -1, 0.0
        for r in range(max_rings + 1):
            ia, ib = max(ci - r, 0), min(ci + r, nx - 1)
            ja, jb = max(cj - r, 0), min(cj + r, ny - 1)
            if cj - r >= 0:  # bottom row of the ring
                for i in range(ia, ib + 1):
                    best2, best_p, best_t = _scan_cell(
                        (cj - r) * nx + i, px, py, cell_start, entry, ax, ay, dx, dy,
                        inv_len2, best2, best_p, best_t)
            if r > 0 and cj + r < ny:  # top row
                for i in range(ia, ib + 1):
                    best2, best_p, best_t = _scan_cell(
                        (cj + r) * nx + i, px, py, cell_start, entry, ax, ay, dx, dy,
                        inv_len2, best2, best_p, best_t)
            if r > 0:  # left and right columns between the rows
                for j in range(max(cj - r + 1, 0), min(cj + r - 1, ny - 1) + 1):
                    if ci - r >= 0:
                        best2, best_p, best_t = _scan_cell(
                            j * nx + ci - r, px, py, cell_start, entry, ax, ay, dx, dy,
                            inv_len2, best2, best_p, best_t)
                    if ci + r < nx:
                        best2, best_p, best_t = _scan_cell(
                            j * nx + ci + r, px, py, cell_start, entry, ax, ay, dx, dy,
                            inv_len2, best2, best_p, best_t)
            # every piece not seen yet lies in a cell outside the block searched so far:
            # left or right of it (full height), or below or above it
            bx0, bx1 = x0 + ia * cell_m, x0 + (ib + 1) * cell_m
            by0, by1 = y0 + ja * cell_m, y0 + (jb + 1) * cell_m
            bound2 = np.inf
            if ia > 0:
                bound2 = min(bound2, _rect_dist2(px, py, x0, bx0, y0, y_end))
            if ib < nx - 1:
                bound2 = min(bound2, _rect_dist2(px, py, bx1, x_end, y0, y_end))
            if ja > 0:
                bound2 = min(bound2, _rect_dist2(px, py, bx0, bx1, y0, by0))
            if jb < ny - 1:
                bound2 = min(bound2, _rect_dist2(px, py, bx0, bx1, by1, y_end))
            if bound2 == np.inf or (best_p >= 0 and best2 <= bound2):
                sure[q] = best_p >= 0  # the whole grid searched, or nothing nearer is left
                break
        piece[q] = best_p
        frac[q] = best_t
        dist[q] = np.sqrt(best2)


def nearest_pieces(grid: SnapGrid, xy: np.ndarray, n_threads: int | None = None):
    """Nearest edge, distance along it, projected point and distance, and certainty.

    Parameters
    ----------
    grid
        :func:`snap_grid` of the network's edges.
    xy
        ``(n, 2)`` point coordinates (metres).
    n_threads
        Threads (default: the CPU cores available to this process).

    Returns
    -------
    tuple of numpy.ndarray
        ``(edge, along_m, projected_xy, distance_m, sure)``; rows where ``sure`` is false
        found nothing within :data:`MAX_RINGS` rings and hold no answer.
    """
    xy = np.ascontiguousarray(xy, dtype=np.float64)
    n = len(xy)
    if n_threads is None:
        n_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    order = _cell_order(xy, grid.x0, grid.y0, grid.cell_m, grid.nx, grid.ny)
    piece = np.full(n, -1, dtype=np.int64)
    frac = np.zeros(n)
    dist = np.full(n, np.inf)
    sure = np.zeros(n, dtype=np.bool_)
    args = (grid.x0, grid.y0, grid.cell_m, grid.nx, grid.ny, grid.cell_start, grid.entry,
            grid.ax, grid.ay, grid.dx, grid.dy, grid.inv_len2, MAX_RINGS, piece, frac, dist,
            sure)
    bounds = np.linspace(0, n, max(1, min(n_threads, n // 20_000)) + 1).astype(np.int64)
    chunks = [order[a:b] for a, b in itertools.pairwise(bounds)]
    if len(chunks) == 1:
        _nearest_rows(xy, chunks[0], *args)
    else:  # each thread writes its own rows
        with ThreadPoolExecutor(len(chunks)) as pool:
            list(pool.map(lambda rows: _nearest_rows(xy, rows, *args), chunks))
    p = np.maximum(piece, 0)  # rows without an answer (not sure) read piece 0
    proj = np.column_stack([grid.ax[p] + frac * grid.dx[p], grid.ay[p] + frac * grid.dy[p]])
    return grid.edge[p], grid.along0[p] + frac * grid.length[p], proj, dist, sure
