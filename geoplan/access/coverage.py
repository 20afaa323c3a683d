"""Who is covered: 15-minute service-circle coverage per 镇街 and 社区/村, and the gap layer.

:func:`coverage_by_unit` counts population, households, 60+ and 80+ within each tier's
walking distance of each facility type, per admin unit and for the whole study, and shows
the straight-line (buffer) coverage beside the network coverage so the detour penalty is
visible. :func:`coverage_gaps` returns the uncovered cells as a layer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.spatial import cKDTree

from geoplan._text import codes_text
from geoplan.access._arguments import (
    one_or_more_numbers,
    optional_names,
    optional_number,
    require_layer,
    require_network,
    require_table,
)
from geoplan.access.distance import (
    DEFAULT_MAX_ACCESS_M,
    DEFAULT_TIERS_MIN,
    _check_numeric,
    facility_types,
    nearest_facility_time,
    tier_reach_m,
)
from geoplan.errors import CRSError, Problem, SchemaError
from geoplan.network import WalkNetwork
from geoplan.population import assign_to_units

logger = logging.getLogger(__name__)

__all__ = ["MEASURES", "assign_units", "coverage_by_unit", "coverage_gaps"]

#: Demand columns counted by default.
MEASURES = ("pop", "households", "pop_60plus", "pop_80plus")


def _points_xy(layer: gpd.GeoDataFrame) -> np.ndarray:
    geoms = layer.geometry.to_numpy()
    if np.all(shapely.get_type_id(geoms) == 0):
        return shapely.get_coordinates(geoms)
    return shapely.get_coordinates(shapely.centroid(geoms))


def assign_units(
    demand: gpd.GeoDataFrame, units: gpd.GeoDataFrame, *, level_col: str = "level",
    code_col: str = "code",
) -> pd.DataFrame:
    """Return the admin unit of every demand cell, one column per level.

    A cell belongs to the unit containing its centre
    (:func:`geoplan.population.assign_to_units`). When the units carry ``parent_code``, the
    levels nest: a cell in a 社区/村 belongs to that unit's parent 镇街, so the sums of the
    社区/村 add up to their 镇街 even where the two layers' edges do not quite meet; a cell
    in no 社区/村 goes to the 镇街 containing it.

    Parameters
    ----------
    demand
        Demand cells.
    units
        Admin units with ``level_col`` (e.g. ``town``/``village``) and ``code_col``, same CRS.
    level_col, code_col
        Column names.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``demand``, one column per level holding the unit code (missing when
        the cell lies in no unit of that level).

    Raises
    ------
    CRSError
        If the two layers' CRSs differ.
    SchemaError
        If ``level_col`` or ``code_col`` is missing.
    """
    missing = [c for c in (level_col, code_col) if c not in units.columns]
    if missing:
        raise SchemaError("admin units", [Problem("column missing", column=c) for c in missing])
    if units.crs != demand.crs:
        msg = f"admin units are in {units.crs} but demand is in {demand.crs}; use to_crs()"
        raise CRSError(msg)
    out = pd.DataFrame(index=demand.index)
    for level in pd.unique(units[level_col].astype(str)):
        layer = units.loc[units[level_col].astype(str) == level]
        codes = layer.assign(**{code_col: layer[code_col].astype(str)})
        out[level] = assign_to_units(demand, codes, code_col=code_col).to_numpy()
    if "parent_code" in units.columns:
        _nest(out, units, level_col, code_col)
    return out


def _nest(out: pd.DataFrame, units: gpd.GeoDataFrame, level_col: str, code_col: str) -> None:
    """Give each assigned cell the parent of its unit at the parent's level, in place."""
    codes = units[code_col].astype(str)
    level_of = dict(zip(codes, units[level_col].astype(str), strict=False))
    parent_of = dict(zip(codes, codes_text(units["parent_code"]), strict=False))
    for level in out.columns:
        child = out[level]
        parent = child.map(lambda c: parent_of.get(c) if isinstance(c, str) else None)
        parent_level = parent.map(lambda p: level_of.get(p) if isinstance(p, str) else None)
        for target in pd.unique(parent_level.dropna()):
            if target in out.columns and target != level:
                hit = (parent_level == target).to_numpy()
                out.loc[hit, target] = parent[hit].to_numpy()


def _straight_line_m(
    demand_xy: np.ndarray, facilities: gpd.GeoDataFrame, type_col: str, t: str,
    upper_m: float = np.inf,
) -> np.ndarray:
    """Straight-line distance to the nearest facility of type ``t`` (``inf`` beyond ``upper_m``)."""
    fac = facilities.loc[facilities[type_col].astype(str) == t]
    dist, _ = cKDTree(_points_xy(fac)).query(demand_xy, k=1, distance_upper_bound=upper_m,
                                             workers=-1)
    return dist


def coverage_by_unit(
    network: WalkNetwork,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    tiers_min: Sequence[float] = DEFAULT_TIERS_MIN,
    speed_m_per_min: float | None = None,
    type_col: str = "facility_type",
    types: Sequence[str] | None = None,
    measures: Sequence[str] = MEASURES,
    level_col: str = "level",
    nearest: pd.DataFrame | None = None,
    demand_snap: pd.DataFrame | None = None,
    max_access_m: float = DEFAULT_MAX_ACCESS_M,
) -> pd.DataFrame:
    """Count population, households, 60+ and 80+ within walking reach per unit, type and tier.

    A cell is covered at tier ``T`` minutes when its walking distance to the nearest
    facility of the type is at most the tier's distance (:func:`geoplan.access.tier_reach_m`:
    by default the GB 50180-2018 life circles, 300/500/900 m for 5/10/15 minutes; with a
    speed, ``T * speed_m_per_min``); the straight-line coverage uses the same radius as the
    crow flies (a buffer).

    Parameters
    ----------
    network
        The walking network.
    demand
        Demand cells (network CRS) with the ``measures`` columns.
    facilities
        Facilities (network CRS) with ``type_col``.
    units
        Admin units (``code``, ``name``, ``level_col``), e.g. towns and villages.
    tiers_min
        Walking-time tier or tiers (minutes): ``15`` or ``[5, 10, 15]``.
    speed_m_per_min
        Walking speed (m/min), or ``None`` for the life-circle distances.
    type_col, types
        Facility type column and the types to report (default: all present).
    measures
        Demand columns to count.
    level_col
        Unit level column.
    nearest
        Optional precomputed :func:`geoplan.access.nearest_facility_time` result (with a
        limit of at least the largest tier).
    demand_snap
        Optional precomputed snap of ``demand``.
    max_access_m
        See :func:`geoplan.access.nearest_facility_time`.

    Returns
    -------
    pandas.DataFrame
        One row per (unit, facility type, tier) plus study totals (``level="study"``):
        ``level``, ``code``, ``name``, ``facility_type``, ``tier_min``, ``reach_m``,
        ``n_cells`` and, per measure ``m``: ``m_total``, ``m_covered``, ``m_share``
        (network), ``m_covered_straight``, ``m_share_straight`` (buffer) and
        ``m_detour_loss`` (straight minus network count).

    Raises
    ------
    SchemaError
        If a measure is missing, NaN, infinite or negative, a facility type is empty, the
        units layer is empty, a tier is not positive, or ``nearest`` does not fit (other
        cells, missing types, searched to less than the largest tier).
    ArgumentError
        If an argument has the wrong type (a DataFrame for a layer, text for a tier …).
    CRSError
        If the layers are not in the network's metric CRS.
    NetworkError
        If facilities lie outside the network's extent.

    Examples
    --------
    >>> from geoplan.datasets import load_byod
    >>> study = load_byod()
    >>> existing = study.facilities[study.facilities["status"].eq("existing")]
    >>> table = coverage_by_unit(study.network(), study.population, existing, study.admin_units,
    ...                          tiers_min=[5, 15], types="elderly_station")
    >>> whole = table[table["level"].eq("study")]
    >>> shares = ["tier_min", "pop_60plus_share", "pop_60plus_share_straight"]
    >>> whole[shares].round(3).values.tolist()
    [[5.0, 0.187, 0.433], [15.0, 0.955, 1.0]]
    """
    fn = "coverage_by_unit"
    require_network(network, fn)
    for name, layer in (("demand", demand), ("facilities", facilities), ("units", units)):
        require_layer(layer, fn, name)
    optional_names(types, fn, "types")
    optional_names(measures, fn, "measures")
    tiers_given, _ = one_or_more_numbers(tiers_min, fn, "tiers_min", "minutes")
    speed_m_per_min = optional_number(speed_m_per_min, fn, "speed_m_per_min", "m/min")
    if nearest is not None:
        require_table(nearest, fn, "nearest")
    measures = [measures] if isinstance(measures, str) else list(measures)
    _check_numeric(demand, measures, "demand (population)")
    wanted = facility_types(facilities, types, type_col)
    tiers = sorted(set(tiers_given))
    reaches = tier_reach_m(tiers, speed_m_per_min)
    if len(units) == 0:
        raise SchemaError("admin units", [Problem("the admin-unit layer is empty")])
    if nearest is None:
        nearest = nearest_facility_time(
            network, demand, facilities, speed_m_per_min=speed_m_per_min,
            max_minutes=tiers[int(np.argmax(reaches))], type_col=type_col, types=wanted,
            max_access_m=max_access_m, demand_snap=demand_snap,
        )
    _check_nearest(nearest, demand, wanted, max(reaches))
    unit_of = assign_units(demand, units, level_col=level_col)
    names = units.assign(_code=units["code"].astype(str)).drop_duplicates("_code")
    names = names.set_index("_code")["name"] if "name" in units.columns else None
    weights = demand[list(measures)].to_numpy(dtype=np.float64)
    xy = _points_xy(demand)
    groups = [("study", np.zeros(len(demand), dtype=np.int64), np.array(["study"], dtype=object))]
    unit_levels = units[level_col].astype(str).to_numpy()
    for level in unit_of.columns:  # every unit gets its rows, also one without any cell
        uniques = pd.unique(units.loc[unit_levels == level, "code"].astype(str))
        group = pd.Index(uniques).get_indexer(unit_of[level].to_numpy(dtype=object))
        groups.append((level, group, np.asarray(uniques, dtype=object)))
    combos = [(t, tier) for t in wanted for tier in tiers]
    network_ok = np.empty((len(demand), len(combos)), dtype=bool)
    straight_ok = np.empty((len(demand), len(combos)), dtype=bool)
    for t_pos, t in enumerate(wanted):
        net_m = np.nan_to_num(nearest[f"{t}_dist_m"].to_numpy(dtype=np.float64), nan=np.inf)
        line_m = _straight_line_m(xy, facilities, type_col, t, max(reaches))
        for k, reach_m in enumerate(reaches):
            network_ok[:, t_pos * len(tiers) + k] = net_m <= reach_m
            straight_ok[:, t_pos * len(tiers) + k] = line_m <= reach_m
    reach_of = dict(zip(tiers, reaches, strict=True))
    # sums over the finest partition (cells sharing every level's unit), then per level
    key = np.zeros(len(demand), dtype=np.int64)
    for _, group, uniques in groups:  # one integer per combination of units (mixed radix)
        key = key * (len(uniques) + 1) + (group + 1)
    fine_key, first_cell, fine = np.unique(key, return_index=True, return_inverse=True)
    fine_keys = np.column_stack([group[first_cell] for _, group, _ in groups])
    n_fine = len(fine_key)
    sums = {"n_cells": np.bincount(fine, minlength=n_fine).astype(np.float64)}
    for k, m in enumerate(measures):
        w = weights[:, k]
        sums[f"{m}_total"] = np.bincount(fine, weights=w, minlength=n_fine)
        for name, ok in (("covered", network_ok), ("covered_straight", straight_ok)):
            sums[f"{m}_{name}"] = np.column_stack([
                np.bincount(fine, weights=w * ok[:, c], minlength=n_fine)
                for c in range(len(combos))])
    frames = [_rollup(level, fine_keys[:, i], uniques, sums, measures, combos, reach_of)
              for i, (level, _, uniques) in enumerate(groups)]
    table = pd.concat(frames, ignore_index=True)
    if names is not None:
        table["name"] = table["code"].map(names)
        table.loc[table["level"] == "study", "name"] = "study area"
    else:
        table["name"] = None
    first = ["level", "code", "name", "facility_type", "tier_min", "reach_m", "n_cells"]
    return table[first + [c for c in table.columns if c not in first]]


def _check_nearest(nearest: pd.DataFrame, demand: pd.DataFrame, types: Sequence[str],
                   reach_m: float) -> None:
    """Raise SchemaError unless ``nearest`` covers ``types`` for ``demand`` up to ``reach_m``."""
    problems = [Problem(f"no distances for type {t!r}") for t in types
                if f"{t}_dist_m" not in nearest.columns]
    if not nearest.index.equals(demand.index):
        problems.append(Problem("nearest-facility table is not aligned with demand "
                                f"({len(nearest)} rows for {len(demand)} demand cells)"))
    limit_m = nearest.attrs.get("limit_m")
    if limit_m is not None and limit_m < reach_m * (1 - 1e-12):
        problems.append(Problem(
            f"nearest-facility table was searched only to {limit_m:.0f} m, less than the "
            f"{reach_m:.0f} m of the largest tier; compute it with a larger max_minutes"))
    if problems:
        raise SchemaError("nearest-facility table", problems)


def _rollup(level, group, uniques, sums, measures, combos, reach_of):
    """Add up the finest-partition sums per unit of one level (``group``: unit of each part)."""
    ok = np.flatnonzero(group >= 0)
    n_units, n_combo = len(uniques), len(combos)
    member = sparse.csr_matrix((np.ones(len(ok)), (group[ok], ok)),
                               shape=(n_units, len(group)))
    out = {
        "level": level,
        "code": np.repeat(uniques, n_combo),
        "facility_type": np.tile([t for t, _ in combos], n_units),
        "tier_min": np.tile([tier for _, tier in combos], n_units),
        "n_cells": np.repeat((member @ sums["n_cells"]).round().astype(np.int64), n_combo),
    }
    out["reach_m"] = np.array([reach_of[tier] for tier in out["tier_min"]], dtype=np.float64)
    for m in measures:
        total = np.repeat(member @ sums[f"{m}_total"], n_combo)
        cov = (member @ sums[f"{m}_covered"]).ravel()
        line = (member @ sums[f"{m}_covered_straight"]).ravel()
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"{m}_total"] = total
            out[f"{m}_covered"] = cov
            out[f"{m}_share"] = np.where(total > 0, cov / total, np.nan)
            out[f"{m}_covered_straight"] = line
            out[f"{m}_share_straight"] = np.where(total > 0, line / total, np.nan)
            out[f"{m}_detour_loss"] = line - cov
    return pd.DataFrame(out)


def coverage_gaps(
    demand: gpd.GeoDataFrame,
    nearest: pd.DataFrame,
    *,
    tier_min: float = max(DEFAULT_TIERS_MIN),
    speed_m_per_min: float | None = None,
    types: Sequence[str] | None = None,
) -> gpd.GeoDataFrame:
    """Return the demand cells not covered by at least one facility type at ``tier_min``.

    Parameters
    ----------
    demand
        Demand cells.
    nearest
        :func:`geoplan.access.nearest_facility_time` result for ``demand``.
    tier_min
        Walking-time tier (minutes), or several (``[5, 10, 15]``).
    speed_m_per_min
        Walking speed (m/min), or ``None`` for the life-circle distance of the tier
        (:func:`geoplan.access.tier_reach_m`).
    types
        Facility types to check (default: every type in ``nearest``).

    Returns
    -------
    geopandas.GeoDataFrame
        The uncovered cells (copies) with ``{type}_dist_m``, ``{type}_covered``,
        ``missing_types`` (comma-separated types not reached), ``tier_min`` and ``reach_m``.
        For several tiers, the gaps of each tier one after the other, indexed by
        (cell id, ``tier_min``) instead of a ``tier_min`` column:
        ``gaps.xs(15, level="tier_min")`` is the 15-minute gap.

    Raises
    ------
    SchemaError
        If ``nearest`` lacks a requested type, is not aligned with ``demand`` or was searched
        to less than the tier, or the tier or speed is not positive.
    ArgumentError
        If an argument has the wrong type (text for a tier, a list for ``nearest`` …).

    Examples
    --------
    >>> from geoplan.access import nearest_facility_time
    >>> from geoplan.datasets import load_byod
    >>> study = load_byod()
    >>> nearest = nearest_facility_time(study.network(), study.population, study.facilities,
    ...                                 types=["elderly_station"])
    >>> gaps = coverage_gaps(study.population, nearest, tier_min=[10, 15])
    >>> [len(gaps.xs(t, level="tier_min")) for t in (10.0, 15.0)]
    [..., 23]
    >>> int(gaps.xs(15.0, level="tier_min")["pop_60plus"].sum())
    574
    """
    fn = "coverage_gaps"
    require_layer(demand, fn, "demand")
    require_table(nearest, fn, "nearest")
    optional_names(types, fn, "types")
    tiers, one = one_or_more_numbers(tier_min, fn, "tier_min", "minutes")
    speed_m_per_min = optional_number(speed_m_per_min, fn, "speed_m_per_min", "m/min")
    if types is None:
        types = [c[: -len("_dist_m")] for c in nearest.columns if c.endswith("_dist_m")]
    types = [types] if isinstance(types, str) else [str(t) for t in types]
    if not types:
        raise SchemaError("nearest-facility table", [Problem("no facility type to check")])
    reaches = tier_reach_m(tiers, speed_m_per_min)
    _check_nearest(nearest, demand, types, max(reaches))
    if one:
        return _gaps(demand, nearest, types, tiers[0], reaches[0])
    layers = [_gaps(demand, nearest, types, t, r) for t, r in zip(tiers, reaches, strict=True)]
    stacked = pd.concat(layers, keys=tiers, names=["tier_min", demand.index.name or "cell_id"])
    stacked = stacked.reorder_levels([1, 0]).drop(columns="tier_min")
    return gpd.GeoDataFrame(stacked, geometry=demand.geometry.name, crs=demand.crs)


def _gaps(demand: gpd.GeoDataFrame, nearest: pd.DataFrame, types: list[str], tier_min: float,
          reach_m: float) -> gpd.GeoDataFrame:
    """Return the uncovered cells at one tier (see :func:`coverage_gaps`)."""
    layer = demand.copy()
    covered = np.empty((len(layer), len(types)), dtype=bool)
    for k, t in enumerate(types):
        dist = nearest[f"{t}_dist_m"].to_numpy(dtype=np.float64)
        covered[:, k] = np.nan_to_num(dist, nan=np.inf) <= reach_m
        layer[f"{t}_dist_m"] = dist
        layer[f"{t}_covered"] = covered[:, k]
    gap = ~covered.all(axis=1)
    layer = layer.loc[gap]
    names = np.asarray(types, dtype=object)
    layer["missing_types"] = [",".join(names[~row]) for row in covered[gap]]
    layer["tier_min"] = tier_min
    layer["reach_m"] = reach_m
    return layer
