"""Capacity-aware accessibility: the two-step floating catchment area method (2SFCA).

Step 1, for every facility ``j``: ``R_j = S_j / sum(P_i for cells i within d0 of j)``
(supply per person in its catchment). Step 2, for every cell ``i``:
``A_i = sum(R_j for facilities j within d0 of i)`` (Luo & Wang 2003). With beds as supply
and people aged 60+ as demand, ``A_i * 1000`` reads as "beds per 1,000 older people
within reach". Distances are walking metres from :func:`geoplan.access.reach_matrix`.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse

from geoplan.access.coverage import assign_units
from geoplan.access.distance import LIFE_CIRCLE_REACH_M, _check_numeric, reach_matrix
from geoplan.errors import Problem, SchemaError
from geoplan.network import WalkNetwork

__all__ = ["FCAResult", "two_step_fca"]


@dataclass(frozen=True)
class FCAResult:
    """2SFCA results.

    Attributes
    ----------
    cells : pandas.DataFrame
        Per demand cell: ``access_ratio`` (supply per person within reach) and
        ``access_per_1000``.
    facilities : pandas.DataFrame
        Per facility: ``supply``, ``demand_in_catchment``, ``supply_ratio`` (NaN when no one
        lives within reach).
    units : pandas.DataFrame or None
        Per admin unit: demand-weighted mean ``access_per_1000`` and the demand counted.
    """

    cells: pd.DataFrame
    facilities: pd.DataFrame
    units: pd.DataFrame | None


def two_step_fca(
    network: WalkNetwork,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    supply_col: str = "beds",
    demand_col: str = "pop_60plus",
    max_m: float = LIFE_CIRCLE_REACH_M[15.0],
    units: gpd.GeoDataFrame | None = None,
    reach: sparse.csr_matrix | None = None,
) -> FCAResult:
    """Two-step floating catchment accessibility of ``facilities`` for ``demand``.

    Parameters
    ----------
    network
        The walking network.
    demand
        Demand cells (network CRS) with ``demand_col``.
    facilities
        Facilities (network CRS) with ``supply_col``; select one type beforehand.
    supply_col
        Capacity column (e.g. ``beds``, ``seats``).
    demand_col
        Demand column (e.g. ``pop_60plus``).
    max_m
        Catchment walking distance (metres); default 15 minutes at 60 m/min.
    units
        Optional admin units (``code``, ``level``) for per-unit means.
    reach
        Optional precomputed :func:`geoplan.access.reach_matrix` (facilities × demand).

    Returns
    -------
    FCAResult

    Raises
    ------
    SchemaError
        If supply or demand values are missing, NaN, infinite or negative, ``max_m`` is not
        positive, or ``reach`` does not match the layers.
    """
    _check_numeric(demand, [demand_col], "demand (population)")
    _check_numeric(facilities, [supply_col], "facilities (capacity)")
    if not max_m > 0:
        raise SchemaError("parameters", [Problem(f"max_m must be positive, got {max_m}")])
    if reach is None:
        reach = reach_matrix(network, facilities, demand, max_m)
    elif reach.shape != (len(facilities), len(demand)):
        raise SchemaError("reach", [Problem(
            f"the reach matrix is {reach.shape[0]} x {reach.shape[1]} but there are "
            f"{len(facilities)} facilities and {len(demand)} demand cells; build it with "
            "reach_matrix(network, facilities, demand, max_m)")])
    within = reach.copy()
    within.data = (within.data <= max_m).astype(np.float64)
    within.eliminate_zeros()
    pop = demand[demand_col].to_numpy(dtype=np.float64)
    supply = facilities[supply_col].to_numpy(dtype=np.float64)
    catchment = within @ pop
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(catchment > 0, supply / catchment, np.nan)
    access = within.T @ np.nan_to_num(ratio, nan=0.0)
    cells = pd.DataFrame({"access_ratio": access, "access_per_1000": access * 1000.0},
                         index=demand.index)
    fac = pd.DataFrame({"supply": supply, "demand_in_catchment": catchment,
                        "supply_ratio": ratio}, index=facilities.index)
    unit_table = None
    if units is not None:
        unit_of = assign_units(demand, units)
        rows = []
        for level in unit_of.columns:
            frame = pd.DataFrame({"code": unit_of[level], "w": pop, "wa": pop * access * 1000.0})
            agg = frame.dropna(subset=["code"]).groupby("code", sort=True)[["w", "wa"]].sum()
            with np.errstate(divide="ignore", invalid="ignore"):
                mean = np.where(agg["w"] > 0, agg["wa"] / agg["w"], np.nan)
            rows.append(pd.DataFrame({"level": level, "code": agg.index,
                                      f"{demand_col}": agg["w"].to_numpy(),
                                      "access_per_1000": mean}))
        unit_table = pd.concat(rows, ignore_index=True)
    return FCAResult(cells=cells, facilities=fac, units=unit_table)
