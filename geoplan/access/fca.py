"""Capacity-aware accessibility: two-step floating catchment (2SFCA) and its distance decays.

Step 1, for every facility ``j``: ``R_j = S_j / sum_i(P_i * W(d_ij))`` (supply per person in
its catchment, people weighted by the decay ``W``). Step 2, for every cell ``i``:
``A_i = sum_j(R_j * W(d_ij))``. With beds as supply and people aged 60+ as demand,
``A_i * 1000`` reads as "beds per 1,000 older people within reach". Distances are walking
metres from :func:`geoplan.access.reach_matrix`; ``W`` is 0 beyond the catchment ``d0``.

- plain 2SFCA (Luo & Wang 2003): ``W = 1`` within ``d0`` (``decay="none"``);
- linear decay: ``W = 1 - d / d0`` (``decay="linear"``);
- Gaussian decay (Dai 2010): ``W = (exp(-d²/2d0²) - exp(-1/2)) / (1 - exp(-1/2))``, 1 at the
  facility and 0 at ``d0`` (``decay="gaussian"``);
- enhanced 2SFCA (Luo & Qi 2009, :func:`enhanced_two_step_fca`): constant weights per
  travel zone; by default the GB 50180-2018 life circles (300 / 500 / 900 m) with Luo &
  Qi's weights 1, 0.68 and 0.22.

All agree with PySAL ``access`` (``Access.two_stage_fca`` with the same weight function,
``enhanced_two_stage_fca`` with ``weights.step_fn``) on the same distances, except in two
cases chosen deliberately:

- **no facility in reach** (no facility at positive weight): the cell's access is 0 — it
  can reach no supply — and ``facilities_in_reach`` is 0, so "nothing in reach" stays
  distinguishable from "supply spread thin". PySAL leaves such cells out (NaN).
- **a catchment with no population** (a facility whose weighted catchment demand is 0):
  its supply ratio is undefined (NaN in the facilities table, ``supply_ratio``) and it adds
  nothing to any cell; its supply is reported as unused. PySAL divides by zero and gives
  every cell in its reach an infinite access (or NaN for zero supply).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse

from geoplan.access._arguments import (
    one_number,
    one_or_more_numbers,
    require_layer,
    require_network,
)
from geoplan.access.coverage import assign_units
from geoplan.access.distance import LIFE_CIRCLE_REACH_M, _check_numeric, reach_matrix
from geoplan.errors import Problem, SchemaError
from geoplan.network import WalkNetwork

__all__ = [
    "DECAYS",
    "E2SFCA_WEIGHTS",
    "E2SFCA_ZONES_M",
    "FCAResult",
    "distance_weights",
    "enhanced_two_step_fca",
    "two_step_fca",
]

#: Distance decays of :func:`two_step_fca`.
DECAYS = ("none", "linear", "gaussian")
#: Enhanced 2SFCA travel zones (upper bounds, metres): the GB 50180-2018 life circles.
E2SFCA_ZONES_M = (LIFE_CIRCLE_REACH_M[5.0], LIFE_CIRCLE_REACH_M[10.0], LIFE_CIRCLE_REACH_M[15.0])
#: Enhanced 2SFCA zone weights (Luo & Qi 2009: a Gaussian of the zones' distances).
E2SFCA_WEIGHTS = (1.0, 0.68, 0.22)
_EDGE = np.exp(-0.5)


@dataclass(frozen=True)
class FCAResult:
    """2SFCA results.

    Attributes
    ----------
    cells : pandas.DataFrame
        Per demand cell: ``access_ratio`` (supply per person within reach),
        ``access_per_1000`` and ``facilities_in_reach`` (facilities at positive weight;
        0 means nothing in reach, and the access is 0).
    facilities : pandas.DataFrame
        Per facility: ``supply``, ``demand_in_catchment`` (people weighted by the decay),
        ``supply_ratio`` (NaN when no one lives within reach: that supply is unused).
    units : pandas.DataFrame or None
        Per admin unit: demand-weighted mean ``access_per_1000`` and the demand counted.
    """

    cells: pd.DataFrame
    facilities: pd.DataFrame
    units: pd.DataFrame | None


def distance_weights(
    distance_m: np.ndarray,
    max_m: float,
    decay: str = "none",
    *,
    zones_m: Sequence[float] | None = None,
    zone_weights: Sequence[float] | None = None,
) -> np.ndarray:
    """Return the catchment weight of each walking distance (0 beyond ``max_m``).

    Parameters
    ----------
    distance_m
        Walking distances (metres).
    max_m
        Catchment distance ``d0`` (metres).
    decay
        ``"none"`` (1 within ``d0``), ``"linear"`` (``1 - d / d0``) or ``"gaussian"``
        (Dai 2010: 1 at the facility, 0 at ``d0``); ignored when zones are given.
    zones_m, zone_weights
        Enhanced 2SFCA: zone upper bounds (ascending, the last is ``d0``) and their weights;
        a distance ``d`` takes the weight of the first zone with ``d <= bound``.

    Returns
    -------
    numpy.ndarray
        Weights in [0, 1] (zone weights as given).

    Raises
    ------
    SchemaError
        If the decay is unknown, ``max_m`` is not positive, or the zones are not ascending,
        not matched by as many weights, or a weight is negative.
    """
    d = np.asarray(distance_m, dtype=np.float64)
    if not max_m > 0:
        raise SchemaError("parameters", [Problem(f"max_m must be positive, got {max_m}")])
    inside = d <= max_m
    if zones_m is not None:
        bounds = np.asarray(zones_m, dtype=np.float64)
        w = np.asarray(zone_weights if zone_weights is not None else [], dtype=np.float64)
        if (len(bounds) == 0 or len(w) != len(bounds) or not (np.diff(bounds) > 0).all()
                or not (w >= 0).all() or not bounds[0] > 0):
            raise SchemaError("parameters", [Problem(
                "zones_m must be ascending positive distances with one non-negative weight "
                f"each (got {list(bounds)} and {list(w)})")])
        zone = np.searchsorted(bounds, d, side="left")  # first bound >= d
        return np.where(inside & (zone < len(w)), w[np.minimum(zone, len(w) - 1)], 0.0)
    if decay == "none":
        return inside.astype(np.float64)
    if decay == "linear":
        return np.where(inside, 1.0 - d / max_m, 0.0)
    if decay == "gaussian":
        g = np.exp(-0.5 * (d / max_m) ** 2)
        return np.where(inside, (g - _EDGE) / (1.0 - _EDGE), 0.0)
    raise SchemaError("parameters", [Problem(f"decay must be one of {DECAYS}, got {decay!r}")])


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
    decay: str = "none",
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
        Catchment walking distance (metres); default the 15-minute life circle, 900 m.
    units
        Optional admin units (``code``, ``level``) for per-unit means.
    reach
        Optional precomputed :func:`geoplan.access.reach_matrix` (facilities × demand,
        searched to at least ``max_m``).
    decay
        ``"none"`` (plain 2SFCA), ``"linear"`` or ``"gaussian"``; see
        :func:`distance_weights` and the module docstring (also for the edge cases).

    Returns
    -------
    FCAResult

    Raises
    ------
    SchemaError
        If supply or demand values are missing, NaN, infinite or negative, ``max_m`` is not
        positive, the decay is unknown, or ``reach`` does not match the layers.

    Examples
    --------
    Beds per 1,000 people aged 60+ within a 15-minute walk (900 m):


    >>> from geoplan.datasets import load_byod
    >>> study = load_byod()
    >>> with_beds = study.facilities[study.facilities["beds"].notna()]
    >>> result = two_step_fca(study.network(), study.population, with_beds, supply_col="beds",
    ...                       demand_col="pop_60plus", max_m=900, units=study.towns)
    >>> result.units[["code", "access_per_1000"]].round(2).values.tolist()
    [['350203001', ...]]
    """
    _check_arguments("two_step_fca", network, demand, facilities, units)
    max_m = one_number(max_m, "two_step_fca", "max_m", "metres")
    distance_weights(np.empty(0), max_m, decay)  # check the parameters before any work
    return _fca(network, demand, facilities, supply_col, demand_col, max_m, units, reach,
                lambda d: distance_weights(d, max_m, decay))


def enhanced_two_step_fca(
    network: WalkNetwork,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    supply_col: str = "beds",
    demand_col: str = "pop_60plus",
    zones_m: Sequence[float] = E2SFCA_ZONES_M,
    zone_weights: Sequence[float] = E2SFCA_WEIGHTS,
    units: gpd.GeoDataFrame | None = None,
    reach: sparse.csr_matrix | None = None,
) -> FCAResult:
    """Enhanced 2SFCA (Luo & Qi 2009): 2SFCA with a constant weight per travel zone.

    Parameters
    ----------
    network, demand, facilities, supply_col, demand_col, units
        As for :func:`two_step_fca`.
    zones_m
        Zone upper bounds (metres, ascending; the last is the catchment). Default: the
        GB 50180-2018 life circles, 300 / 500 / 900 m.
    zone_weights
        One weight per zone. Default: Luo & Qi's 1, 0.68, 0.22.
    reach
        Optional precomputed :func:`geoplan.access.reach_matrix` (searched to at least the
        last zone).

    Returns
    -------
    FCAResult

    Raises
    ------
    SchemaError
        As :func:`two_step_fca`, and for zones that are not ascending or weights that do not
        match them.
    """
    _check_arguments("enhanced_two_step_fca", network, demand, facilities, units)
    zones_m, _ = one_or_more_numbers(zones_m, "enhanced_two_step_fca", "zones_m", "metres")
    max_m = float(np.max(zones_m)) if len(zones_m) else 0.0
    distance_weights(np.empty(0), max(max_m, 1.0), zones_m=zones_m, zone_weights=zone_weights)
    return _fca(network, demand, facilities, supply_col, demand_col, max_m, units, reach,
                lambda d: distance_weights(d, max_m, zones_m=zones_m, zone_weights=zone_weights))


def _check_arguments(fn: str, network: object, demand: object, facilities: object,
                     units: object) -> None:
    require_network(network, fn)
    require_layer(demand, fn, "demand")
    require_layer(facilities, fn, "facilities")
    if units is not None:
        require_layer(units, fn, "units")


def _fca(network, demand, facilities, supply_col, demand_col, max_m, units, reach, weight):
    """Both steps with the weight function ``weight`` (metres -> weight)."""
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
    weights = sparse.csr_matrix(reach, dtype=np.float64, copy=True)
    weights.data = weight(weights.data)
    weights.eliminate_zeros()  # weight 0 (beyond d0, or at d0 with a decay): not in reach
    pop = demand[demand_col].to_numpy(dtype=np.float64)
    supply = facilities[supply_col].to_numpy(dtype=np.float64)
    catchment = weights @ pop
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(catchment > 0, supply / catchment, np.nan)
    access = weights.T @ np.nan_to_num(ratio, nan=0.0)
    in_reach = np.bincount(weights.indices, minlength=len(demand))
    cells = pd.DataFrame({"access_ratio": access, "access_per_1000": access * 1000.0,
                          "facilities_in_reach": in_reach}, index=demand.index)
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
