"""Population grids: integer disaggregation of census totals and roll-up to admin units.

A population layer holds one row per grid cell (``pop``, ``households``, ``pop_60plus``,
``pop_80plus``; see the layer contract in DESIGN.md). This module turns census totals into such a
grid (exactly, with integers) and sums a grid, or facilities, per administrative unit.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoplan.errors import CRSError, Problem

logger = logging.getLogger(__name__)

__all__ = [
    "COUNT_COLUMNS",
    "MAX_PEOPLE_PER_KM2",
    "allocate_integer_total",
    "assign_to_units",
    "facility_counts_by_unit",
    "implausible_cells",
    "population_by_unit",
    "unit_summary",
]

#: The count columns of a population layer.
COUNT_COLUMNS = ("pop", "households", "pop_60plus", "pop_80plus")


def _as_counts(frame: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """Cast sums to int64 when they are whole numbers; keep fractional sums (modelled grids)."""
    values = frame.fillna(0)
    numbers = values.to_numpy(dtype=float)
    if np.array_equal(numbers, np.round(numbers)):
        return values.astype("int64")
    return values.astype(float)


def allocate_integer_total(
    weights: np.ndarray, total: int, *, caps: np.ndarray | None = None
) -> np.ndarray:
    """Split an integer total over cells in proportion to weights, summing exactly to the total.

    Uses the largest-remainder (Hamilton) method, so every cell gets ``floor(share)`` or
    ``floor(share) + 1`` and the result sums to ``total``; ties go to the earlier cell.

    Parameters
    ----------
    weights
        Non-negative weights, one per cell. Cells with weight 0 receive 0.
    total
        The non-negative integer total to distribute (for example a census count).
    caps
        Optional integer upper bound per cell (e.g. people aged 60+ cannot exceed the people
        in the cell). A cell at its cap takes no more; the rest is shared again.

    Returns
    -------
    numpy.ndarray
        Integer counts (int64), same shape as ``weights``.

    Raises
    ------
    ValueError
        If a weight is negative or not finite, the total is negative or not a whole number,
        or the total cannot be placed (all weights 0, or the caps too small).
    """
    w = np.asarray(weights, dtype=float)
    if total < 0 or total != int(total):
        msg = f"total must be a whole number >= 0, got {total}"
        raise ValueError(msg)
    total = int(total)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        msg = "weights must be finite and >= 0"
        raise ValueError(msg)
    shape, w = w.shape, w.ravel()
    cap = np.full(w.size, total, np.int64) if caps is None else np.asarray(caps).ravel()
    cap = cap.astype(np.int64)
    if total and not (w > 0).any():
        msg = f"cannot allocate {total} over cells whose weights are all 0"
        raise ValueError(msg)
    if int(cap[w > 0].sum()) < total:
        msg = (f"cannot allocate {total}: the cells with a positive weight hold at most "
               f"{int(cap[w > 0].sum())}")
        raise ValueError(msg)
    alloc = np.zeros(w.size, dtype=np.int64)
    remaining = total
    active = (w > 0) & (cap > 0)
    while remaining > 0:
        share = remaining * w[active] / w[active].sum()
        over = share >= cap[active] - alloc[active]
        if over.any():  # cells that reach their cap take it; share the rest again
            idx = np.flatnonzero(active)[over]
            remaining -= int((cap[idx] - alloc[idx]).sum())
            alloc[idx] = cap[idx]
            active[idx] = False
            continue
        idx = np.flatnonzero(active)
        base = np.floor(share).astype(np.int64)
        alloc[idx] += base
        left = remaining - int(base.sum())
        order = np.lexsort((idx, -(share - base)))  # largest remainder first, ties by position
        alloc[idx[order[:left]]] += 1
        remaining = 0
    return alloc.reshape(shape)


#: People per km² beyond any city block (the densest districts of Hong Kong and Mumbai hold
#: about 100,000–150,000; twice that is the limit, so a real dense grid always passes).
MAX_PEOPLE_PER_KM2 = 300_000
#: People at a single point cell beyond which the point is not a plausible population place.
MAX_PEOPLE_PER_POINT = 1_000_000


def implausible_cells(population: gpd.GeoDataFrame, *, column: str = "pop") -> list[Problem]:
    """Return the cells whose population no place on earth holds (a typing or unit error).

    A polygon cell may hold at most :data:`MAX_PEOPLE_PER_KM2` per km² of its area (the layer
    must be in a metric CRS); a point cell at most :data:`MAX_PEOPLE_PER_POINT`.

    Returns
    -------
    list of Problem
        One per implausible cell, naming the cell, the count and the density.
    """
    if column not in population.columns or not len(population):
        return []
    people = pd.to_numeric(population[column], errors="coerce").to_numpy(float)
    geoms = population.geometry.to_numpy()
    area_km2 = shapely.area(geoms) / 1e6
    polygon = area_km2 > 0
    problems = []
    dense = polygon & (people > MAX_PEOPLE_PER_KM2 * np.where(polygon, area_km2, 0))
    for i in np.flatnonzero(dense):
        per_km2 = people[i] / area_km2[i]
        problems.append(Problem(
            f"{people[i]:,.0f} people in {area_km2[i] * 1e6:,.0f} m² ({per_km2:,.0f} per km², "
            f"more than any city block: limit {MAX_PEOPLE_PER_KM2:,}); a unit or typing error?",
            population.index[i], column))
    crowded = ~polygon & (people > MAX_PEOPLE_PER_POINT)
    for i in np.flatnonzero(crowded):
        problems.append(Problem(f"{people[i]:,.0f} people at one point (limit "
                                f"{MAX_PEOPLE_PER_POINT:,}); a unit or typing error?",
                                population.index[i], column))
    return problems


def assign_to_units(
    features: gpd.GeoDataFrame, units: gpd.GeoDataFrame, *, code_col: str = "code"
) -> pd.Series:
    """Return the code of the admin unit each feature lies in.

    A point feature is tested as it is; a polygon (a grid cell, a footprint) by a point on
    its surface (its centre for a square cell). A point on the edge between two units goes
    to the first of them in ``units`` order, so sort ``units`` to choose (e.g. by code).
    This is the one point-in-unit lookup of geoplan: population roll-ups, coverage per unit
    and the standards' spatial fallback all use it.

    Parameters
    ----------
    features
        Cells (polygons or points) or facilities, in the same CRS as ``units``.
    units
        Admin units of one level (non-overlapping polygons) with a ``code_col`` column.
    code_col
        Column of ``units`` holding the unit code.

    Returns
    -------
    pandas.Series
        Unit code per row of ``features`` (same index, object dtype); ``None`` where a
        feature lies in no unit.

    Raises
    ------
    CRSError
        If the two layers' CRSs differ.
    """
    if features.crs != units.crs:
        msg = f"CRS differ: features {features.crs} vs units {units.crs}; reproject first"
        raise CRSError(msg)
    geoms = features.geometry.to_numpy()
    is_point = shapely.get_type_id(geoms) == 0
    probes = geoms if is_point.all() else np.where(is_point, geoms, shapely.point_on_surface(geoms))
    xy = np.full((len(geoms), 2), np.nan)
    present = ~shapely.is_missing(probes) & ~shapely.is_empty(probes)
    xy[present] = shapely.get_coordinates(probes[present])
    by_x = np.flatnonzero(present)[np.argsort(xy[present, 0], kind="stable")]
    xs = xy[by_x, 0]
    unit = np.full(len(geoms), -1, dtype=np.int64)  # the first unit wins on a shared edge
    for k, polygon in enumerate(units.geometry.to_numpy()):
        if polygon is None or polygon.is_empty:
            continue
        # candidates inside the polygon's bounding box, then point-in-polygon tests
        x0, y0, x1, y1 = polygon.bounds
        cand = by_x[np.searchsorted(xs, x0, "left"):np.searchsorted(xs, x1, "right")]
        cand = cand[(xy[cand, 1] >= y0) & (xy[cand, 1] <= y1) & (unit[cand] < 0)]
        if len(cand) == 0:
            continue
        shapely.prepare(polygon)
        unit[cand[shapely.intersects_xy(polygon, xy[cand, 0], xy[cand, 1])]] = k
    codes = np.full(len(geoms), None, dtype=object)
    codes[unit >= 0] = units[code_col].to_numpy()[unit[unit >= 0]]
    return pd.Series(codes, index=features.index, name=code_col, dtype=object)


def population_by_unit(
    population: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    columns: tuple[str, ...] = COUNT_COLUMNS,
) -> pd.DataFrame:
    """Sum population counts per admin unit.

    Parameters
    ----------
    population
        Population cells with the count ``columns``.
    units
        Admin units of one level with ``code`` and ``name``.
    columns
        Count columns to sum; those the layer lacks (e.g. ``households``) are left out.

    Returns
    -------
    pandas.DataFrame
        Indexed by unit code, with ``name`` and one summed column per count column. Units with
        no cells get 0. Sums are int64 when whole, float for fractional (modelled) counts.
    """
    columns = tuple(c for c in columns if c in population.columns)
    unit_code = assign_to_units(population, units)
    sums = population[list(columns)].groupby(unit_code).sum()
    out = units.set_index("code")[["name"]].join(sums)
    for col in columns:
        out[col] = _as_counts(out[col])
    return out


def facility_counts_by_unit(facilities: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> pd.DataFrame:
    """Count facilities of each type located in each admin unit.

    Parameters
    ----------
    facilities
        Facility points with a ``type`` column.
    units
        Admin units of one level with ``code``.

    Returns
    -------
    pandas.DataFrame
        Indexed by unit code, one integer column per facility type present.
    """
    unit_code = assign_to_units(facilities, units)
    table = pd.crosstab(unit_code, facilities["facility_type"])
    table = table.reindex(units["code"].to_numpy(), fill_value=0)
    table.index.name = "code"
    table.columns.name = None
    return table.astype("int64")


def unit_summary(
    units: gpd.GeoDataFrame, population: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame
) -> pd.DataFrame:
    """Return people, older people, households and facilities by type per admin unit.

    Parameters
    ----------
    units
        Admin units of one level (for example the 镇街 of a study).
    population
        Population cells.
    facilities
        Facility points.

    Returns
    -------
    pandas.DataFrame
        One row per unit, an ``unassigned`` row (``未落入任何单元``) when some cells or
        facilities lie in no unit, and a final ``total`` row (``合计``) over the whole layers.
    """
    pop = population_by_unit(population, units)
    counts = facility_counts_by_unit(facilities, units)
    table = pop.join(counts).fillna(0)
    numeric = [c for c in table.columns if c != "name"]
    # the total counts every cell and facility, also those in no unit (e.g. in a gap between
    # unit polygons), which get a row of their own so the table adds up
    everything = pd.Series(0.0, index=numeric)
    present = [c for c in COUNT_COLUMNS if c in numeric]
    everything[present] = population[present].sum().astype(float)
    types = facilities["facility_type"].value_counts()
    everything[types.index.intersection(numeric)] = types[types.index.intersection(numeric)]
    rows = [table]
    rest = everything - table[numeric].sum()
    if (rest.abs() > 1e-9 * np.maximum(everything.abs(), 1.0)).any():
        rows.append(_summary_row(rest, "unassigned", "未落入任何单元"))
    rows.append(_summary_row(everything, "total", "合计"))
    out = pd.concat(rows)
    for col in numeric:
        out[col] = _as_counts(out[col])
    return out


def _summary_row(values: pd.Series, key: str, label: str) -> pd.DataFrame:
    row = values.to_frame().T
    row.index = pd.Index([key], name="code")
    row.insert(0, "name", label)
    return row
