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

from geoplan.errors import Problem, SchemaError

logger = logging.getLogger(__name__)

COUNT_COLUMNS = ("pop", "households", "pop_60plus", "pop_80plus")


def _as_counts(frame: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """Cast sums to int64 when they are whole numbers; keep fractional sums (modelled grids)."""
    values = frame.fillna(0)
    numbers = values.to_numpy(dtype=float)
    if np.array_equal(numbers, np.round(numbers)):
        return values.astype("int64")
    return values.astype(float)


def allocate_integer_total(weights: np.ndarray, total: int) -> np.ndarray:
    """Split an integer total over cells in proportion to weights, summing exactly to the total.

    Uses the largest-remainder (Hamilton) method, so every cell gets ``floor(share)`` or
    ``floor(share) + 1`` and the result sums to ``total``.

    Parameters
    ----------
    weights
        Non-negative weights, one per cell. Cells with weight 0 receive 0.
    total
        The non-negative integer total to distribute (for example a census count).

    Returns
    -------
    numpy.ndarray
        Integer counts (int64), same shape as ``weights``.

    Raises
    ------
    ValueError
        If a weight is negative or not finite, the total is negative or not a whole number,
        or all weights are 0 while the total is positive.
    """
    w = np.asarray(weights, dtype=float)
    if total < 0 or total != int(total):
        msg = f"total must be a whole number >= 0, got {total}"
        raise ValueError(msg)
    total = int(total)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        msg = "weights must be finite and >= 0"
        raise ValueError(msg)
    s = w.sum()
    if s == 0:
        if total == 0:
            return np.zeros(w.shape, dtype=np.int64)
        msg = f"cannot allocate {total} over cells whose weights are all 0"
        raise ValueError(msg)
    share = (w.ravel() / s) * total
    counts = np.floor(share).astype(np.int64)
    rest = int(total - counts.sum())
    if rest:
        remainder = share - counts
        # stable order: largest remainder first, ties by cell position
        order = np.lexsort((np.arange(remainder.size), -remainder))
        counts[order[:rest]] += 1
    return counts.reshape(w.shape)


def assign_to_units(
    points: gpd.GeoDataFrame, units: gpd.GeoDataFrame, *, code_col: str = "code"
) -> pd.Series:
    """Return the code of the admin unit each feature falls in (by representative point).

    A point on the edge between two units goes to the first of them in ``units`` order.

    Parameters
    ----------
    points
        Cells (polygons or points) or facilities, in the same CRS as ``units``.
    units
        Admin units of one level (non-overlapping polygons) with a ``code`` column.
    code_col
        Column of ``units`` holding the unit code.

    Returns
    -------
    pandas.Series
        Unit code per row of ``points`` (same index); missing where a feature lies in no unit.
    """
    if points.crs != units.crs:
        msg = f"CRS differ: features {points.crs} vs units {units.crs}; reproject first"
        raise SchemaError("assign_to_units", [Problem(msg)])
    reps = points.geometry
    if not (reps.geom_type == "Point").all():
        reps = reps.representative_point()
    probe = gpd.GeoDataFrame(geometry=reps.values, index=np.arange(len(points)), crs=points.crs)
    # "intersects", not "within": a cell centre lying exactly on a shared edge belongs to the
    # first unit rather than to none
    joined = gpd.sjoin(probe, units[[code_col, "geometry"]], how="left", predicate="intersects")
    joined = joined[~joined.index.duplicated(keep="first")]
    return pd.Series(joined[code_col].to_numpy(), index=points.index, name=code_col)


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
    table = pd.crosstab(unit_code, facilities["type"])
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
    types = facilities["type"].value_counts()
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
