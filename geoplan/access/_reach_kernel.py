"""Compiled kernel behind :func:`geoplan.access.reach_matrix`: bounded searches, sparse output.

One Dijkstra per site (a bucket queue, exact; see :func:`_reach_chunk`) that stops at the
reach distance; the reached nodes are then expanded to the demand cells snapped onto their
edges. Work and memory follow what each site reaches, not the size of the network: the
distance arrays are allocated once per thread and only the entries a search touched are
reset.

Memory locality decides the speed: sites are searched in a serpentine spatial sweep, so
consecutive searches touch the same part of the network, and the cells hanging off each
node are laid out next to each other ("slots"), so expanding a node reads contiguous memory.

The kernel is compiled with numba (``nogil``; cached on disk, so only a machine's first call
compiles, in about ten seconds); the sites are split into one chunk per CPU core and the
chunks run in threads.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

__all__ = ["reach_csr_arrays", "serpentine_order"]


@numba.njit(nogil=True, cache=True, inline="always")
def _queue(head, nxt, prv, in_bucket, node, bucket):
    """Move ``node`` to the front of ``bucket`` (out of its current one); return ``bucket``."""
    old = in_bucket[node]
    if old >= 0:
        if prv[node] >= 0:
            nxt[prv[node]] = nxt[node]
        else:
            head[old] = nxt[node]
        if nxt[node] >= 0:
            prv[nxt[node]] = prv[node]
    prv[node] = -1
    nxt[node] = head[bucket]
    if head[bucket] >= 0:
        prv[head[bucket]] = node
    head[bucket] = node
    in_bucket[node] = bucket
    return bucket


@numba.njit(nogil=True, cache=True, inline="always")
def _settle(dist, touched, n_touched, head, nxt, prv, in_bucket, node, d, bucket_m, top):
    """Give ``node`` the shorter distance ``d`` and queue it; return the touched count, top."""
    if dist[node] == np.inf:
        touched[n_touched] = node
        n_touched += 1
    dist[node] = d
    bucket = _queue(head, nxt, prv, in_bucket, node, min(int(d / bucket_m), len(head) - 1))
    return n_touched, max(top, bucket)


@numba.njit(nogil=True, cache=True)
def _sort_row_into(keys, vals, n, tmp_k, tmp_v, out_k, out_v, out_start, n_passes, digit_bits,
                   count):
    """Sort ``keys[:n]`` (with ``vals``) into ``out_*[out_start:]``: LSD radix sort."""
    if n < 48:  # insertion sort straight into the output
        for j in range(n):
            key, val = keys[j], vals[j]
            i = out_start + j
            while i > out_start and out_k[i - 1] > key:
                out_k[i] = out_k[i - 1]
                out_v[i] = out_v[i - 1]
                i -= 1
            out_k[i] = key
            out_v[i] = val
        return
    src_k, src_v, src_start = keys, vals, 0
    for p in range(n_passes):
        last = p == n_passes - 1
        if last:
            dst_k, dst_v, dst_start = out_k, out_v, out_start
        elif p % 2 == 0:
            dst_k, dst_v, dst_start = tmp_k, tmp_v, 0
        else:
            dst_k, dst_v, dst_start = keys, vals, 0
        shift = digit_bits * p
        mask = (1 << digit_bits) - 1
        n_buckets = mask + 1
        count[:n_buckets] = 0
        for j in range(n):
            count[(src_k[src_start + j] >> shift) & mask] += 1
        total = dst_start
        for b in range(n_buckets):
            c = count[b]
            count[b] = total
            total += c
        for j in range(n):
            key = src_k[src_start + j]
            b = (key >> shift) & mask
            dst_k[count[b]] = key
            dst_v[count[b]] = src_v[src_start + j]
            count[b] += 1
        src_k, src_v, src_start = dst_k, dst_v, dst_start


@numba.njit(nogil=True, cache=True)
def _reach_chunk(
    indptr, indices, weights,
    s_u, s_v, s_to_u, s_to_v, s_edge, s_access, s_along,
    node_ptr, slot_rank, slot_m,
    edge_ptr, edge_rank, rank_along, rank_access, rank_cell,
    max_m, epsilon_m,
):
    """Reached cells and distances for each site of a chunk, rows in the chunk's order.

    The search is Dijkstra with a bucket queue (Dial's algorithm, buckets of ``max_m / 1024``
    metres; a queued node is moved between buckets when its distance improves). It stays
    exact for edges shorter than a bucket: a node whose distance improves after it was
    expanded is queued and expanded again (label correcting), so the final distances are
    the shortest ones. Cells are addressed by *rank* (their position in node
    order) while searching; ``rank_cell`` maps a rank back to the caller's cell index. Each
    row's cell indices come out ascending.
    """
    n_nodes = len(indptr) - 1
    n_cells = len(rank_cell)
    k = len(s_u)
    bits = 1
    while (1 << bits) < n_cells:
        bits += 1
    n_passes = (bits + 10) // 11
    digit_bits = (bits + n_passes - 1) // n_passes
    bucket_m = max_m / 1024.0
    head = np.full(1026, -1, dtype=np.int32)  # bucket heads: 1024 buckets up to max_m, + 2
    # each queued node sits in one bucket's doubly linked list (no stale entries)
    nxt = np.empty(n_nodes, dtype=np.int32)
    prv = np.empty(n_nodes, dtype=np.int32)
    in_bucket = np.full(n_nodes, -1, dtype=np.int32)
    dist = np.full(n_nodes, np.inf)
    touched = np.empty(n_nodes, dtype=np.int32)
    best = np.full(n_cells, np.inf)
    hit = np.empty(n_cells, dtype=np.int32)
    row_k = np.empty(n_cells, dtype=np.int32)
    row_v = np.empty(n_cells, dtype=np.float64)
    tmp_k = np.empty(n_cells, dtype=np.int32)
    tmp_v = np.empty(n_cells, dtype=np.float64)
    count = np.empty(1 << digit_bits, dtype=np.int64)
    counts = np.zeros(k, dtype=np.int64)
    out_k = np.empty(max(1 << 16, 64 * k), dtype=np.int32)
    out_v = np.empty(len(out_k), dtype=np.float64)
    n_out = 0
    for i in range(k):
        # bounded search from the site's two connectors
        n_touched = 0
        top = 0
        for end in range(2):
            node = s_u[i] if end == 0 else s_v[i]
            d0 = s_to_u[i] if end == 0 else s_to_v[i]
            if d0 <= max_m and d0 < dist[node]:
                n_touched, top = _settle(dist, touched, n_touched, head, nxt, prv, in_bucket,
                                         node, d0, bucket_m, top)
        b = 0
        while b <= top:
            x = head[b]
            if x < 0:
                b += 1
                continue
            head[b] = nxt[x]
            if nxt[x] >= 0:
                prv[nxt[x]] = -1
            in_bucket[x] = -1
            d = dist[x]
            for e in range(indptr[x], indptr[x + 1]):
                y = indices[e]
                nd = d + weights[e]
                if nd <= max_m and nd < dist[y]:
                    n_touched, top = _settle(dist, touched, n_touched, head, nxt, prv,
                                             in_bucket, y, nd, bucket_m, top)
        # reached nodes to the cells hanging off them (through either end of their edge)
        n_hit = 0
        for t in range(n_touched):
            x = touched[t]
            dx = dist[x]
            dist[x] = np.inf
            for slot in range(node_ptr[x], node_ptr[x + 1]):
                r = slot_rank[slot]
                via = dx + slot_m[slot]
                if via < best[r]:
                    if best[r] == np.inf:
                        hit[n_hit] = r
                        n_hit += 1
                    best[r] = via
        # cells on the site's own edge also reach it directly along the edge
        e = s_edge[i]
        for j in range(edge_ptr[e], edge_ptr[e + 1]):
            r = edge_rank[j]
            direct = s_access[i] + abs(s_along[i] - rank_along[r]) + rank_access[r]
            if direct < best[r]:
                if best[r] == np.inf:
                    hit[n_hit] = r
                    n_hit += 1
                best[r] = direct
        n_row = 0
        for j in range(n_hit):
            r = hit[j]
            value = best[r]
            best[r] = np.inf
            if value <= max_m:
                row_k[n_row] = rank_cell[r]
                row_v[n_row] = max(value, epsilon_m)
                n_row += 1
        if n_out + n_row > len(out_k):
            cap = max(2 * len(out_k), n_out + n_row)
            grown_k = np.empty(cap, dtype=np.int32)
            grown_v = np.empty(cap, dtype=np.float64)
            grown_k[:n_out] = out_k[:n_out]
            grown_v[:n_out] = out_v[:n_out]
            out_k, out_v = grown_k, grown_v
        _sort_row_into(row_k, row_v, n_row, tmp_k, tmp_v, out_k, out_v, n_out, n_passes,
                       digit_bits, count)
        counts[i] = n_row
        n_out += n_row
    return counts, out_k[:n_out], out_v[:n_out]


@numba.njit(nogil=True, cache=True)
def _cell_slots(u, v, to_u, to_v, edge, along, access, n_nodes, n_edges):
    """Lay the cells out for the search (counting sorts, linear time).

    Returns the arguments of :func:`_reach_chunk` that describe the cells: per node its
    slots (``node_ptr``; each slot a cell rank and the metres from the node to the cell),
    per edge the ranks of its cells (``edge_ptr``, ``edge_rank``), and per rank the cell's
    along-edge and access metres and its index (``rank_cell``). A cell's rank is the order
    in which the node-ordered slots first meet it, so cells of neighbouring nodes get
    neighbouring ranks.
    """
    m = len(u)
    node_ptr = np.zeros(n_nodes + 1, dtype=np.int64)
    for c in range(m):
        node_ptr[u[c] + 1] += 1
        node_ptr[v[c] + 1] += 1
    for x in range(n_nodes):
        node_ptr[x + 1] += node_ptr[x]
    fill = node_ptr[:-1].copy()
    slot_cell = np.empty(2 * m, dtype=np.int64)
    slot_m = np.empty(2 * m, dtype=np.float64)
    for c in range(m):
        slot_cell[fill[u[c]]] = c
        slot_m[fill[u[c]]] = to_u[c]
        fill[u[c]] += 1
        slot_cell[fill[v[c]]] = c
        slot_m[fill[v[c]]] = to_v[c]
        fill[v[c]] += 1
    rank = np.full(m, -1, dtype=np.int32)
    rank_cell = np.empty(m, dtype=np.int32)
    slot_rank = np.empty(2 * m, dtype=np.int32)
    n_ranked = 0
    for s in range(2 * m):
        c = slot_cell[s]
        if rank[c] < 0:
            rank[c] = n_ranked
            rank_cell[n_ranked] = c
            n_ranked += 1
        slot_rank[s] = rank[c]
    edge_ptr = np.zeros(n_edges + 1, dtype=np.int64)
    for c in range(m):
        edge_ptr[edge[c] + 1] += 1
    for e in range(n_edges):
        edge_ptr[e + 1] += edge_ptr[e]
    efill = edge_ptr[:-1].copy()
    edge_rank = np.empty(m, dtype=np.int32)
    rank_along = np.empty(m, dtype=np.float64)
    rank_access = np.empty(m, dtype=np.float64)
    for r in range(m):
        c = rank_cell[r]
        edge_rank[efill[edge[c]]] = r
        efill[edge[c]] += 1
        rank_along[r] = along[c]
        rank_access[r] = access[c]
    return node_ptr, slot_rank, slot_m, edge_ptr, edge_rank, rank_along, rank_access, rank_cell


@numba.njit(nogil=True, cache=True)
def _place_rows(rows, counts, cols, vals, indptr, indices, data):
    """Copy a chunk's rows (``rows[i]`` is the row of its i-th block) into the CSR arrays."""
    src = 0
    for i in range(len(rows)):
        dst = indptr[rows[i]]
        for j in range(counts[i]):
            indices[dst + j] = cols[src + j]
            data[dst + j] = vals[src + j]
        src += counts[i]


def serpentine_order(xy: np.ndarray, cell_m: float) -> np.ndarray:
    """Order points grid cell by grid cell in a serpentine sweep (neighbours stay close).

    Parameters
    ----------
    xy
        ``(n, 2)`` coordinates (metres).
    cell_m
        Grid cell size (metres).

    Returns
    -------
    numpy.ndarray
        A permutation of ``range(n)``.
    """
    if len(xy) == 0:
        return np.empty(0, dtype=np.int64)
    gx = np.floor((xy[:, 0] - xy[:, 0].min()) / cell_m).astype(np.int64)
    gy = np.floor((xy[:, 1] - xy[:, 1].min()) / cell_m).astype(np.int64)
    gx = np.where(gy % 2 == 1, gx.max() - gx, gx)
    return np.lexsort((xy[:, 0], gx, gy))


def reach_csr_arrays(
    csr, sites: dict[str, np.ndarray], cells: dict[str, np.ndarray], n_edges: int,
    max_m: float, epsilon_m: float, *, site_order: np.ndarray | None = None,
    n_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(indptr, indices, data)`` of the site × cell reach matrix.

    Parameters
    ----------
    csr
        The network's symmetric CSR matrix of edge lengths (metres).
    sites, cells
        Snapped sites and cells as arrays: ``u``, ``v``, ``to_u``, ``to_v`` (access plus
        along-edge metres to each end), ``edge``, ``access``, ``along``.
    n_edges
        Number of network edges (the range of ``edge``).
    max_m
        Reach distance (metres).
    epsilon_m
        Stored in place of a distance of 0, so the entry exists.
    site_order
        The order in which to search the sites (e.g. :func:`serpentine_order`); the rows
        of the result keep the sites' own order.
    n_threads
        Threads (default: the CPU cores available to this process).

    Returns
    -------
    tuple of numpy.ndarray
        CSR arrays; column indices ascending within each row.
    """
    graph = (csr.indptr.astype(np.int64), csr.indices.astype(np.int32),
             csr.data.astype(np.float64))
    cell_args = _cell_slots(cells["u"], cells["v"], cells["to_u"], cells["to_v"], cells["edge"],
                            cells["along"], cells["access"], csr.shape[0], n_edges)
    k = len(sites["u"])
    order = np.arange(k) if site_order is None else np.asarray(site_order, dtype=np.int64)
    if n_threads is None:
        n_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    bounds = np.linspace(0, k, max(1, min(n_threads, k)) + 1).astype(np.int64)

    def run(lo_hi: tuple[int, int]):
        pos = order[lo_hi[0]:lo_hi[1]]
        part = tuple(np.ascontiguousarray(sites[key][pos]) for key in
                     ("u", "v", "to_u", "to_v", "edge", "access", "along"))
        return _reach_chunk(*graph, *part, *cell_args, float(max_m), float(epsilon_m))

    chunks = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
    with ThreadPoolExecutor(len(chunks)) as pool:
        results = list(pool.map(run, chunks))
        counts = np.empty(k, dtype=np.int64)
        counts[order] = np.concatenate([r[0] for r in results])
        indptr = np.zeros(k + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        indices = np.empty(indptr[-1], dtype=np.int32)
        data = np.empty(indptr[-1], dtype=np.float64)
        list(pool.map(lambda job: _place_rows(order[job[0][0]:job[0][1]], *job[1], indptr,
                                              indices, data), zip(chunks, results, strict=True)))
    return indptr, indices, data
