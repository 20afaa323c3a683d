"""2SFCA, its Gaussian/linear decays and the enhanced 2SFCA, checked against PySAL ``access``.

The same walking distances (geoplan's reach matrix on the real Futian network) go into both;
every cell where PySAL gives a number must agree, and the two edge cases where PySAL gives
none (no facility in reach: NaN; a catchment without people: inf) must be the ones geoplan
documents (access 0 with ``facilities_in_reach == 0``; ``supply_ratio`` NaN, no share).
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from access import Access, weights

from geoplan.access import reach_matrix
from geoplan.access.fca import (
    E2SFCA_WEIGHTS,
    E2SFCA_ZONES_M,
    distance_weights,
    enhanced_two_step_fca,
    two_step_fca,
)
from geoplan.crs import gk_zone_epsg
from geoplan.errors import SchemaError
from geoplan.network import walk_network_from_file

D0 = 900.0


@pytest.fixture(scope="module")
def futian(futian_graphml):
    return walk_network_from_file(futian_graphml, coords="wgs84", metric_epsg=gk_zone_epsg(114.02))


@pytest.fixture(scope="module")
def instance(futian):
    """Cells and facilities on Futian, with both edge cases planted.

    Facility ``f_empty`` stands in the north-east corner, where every cell within reach of
    it has no people, and the cells in the far south-west corner reach no facility.
    """
    rng = np.random.default_rng(7)
    lengths = futian.edges["length_m"].to_numpy()
    e = rng.choice(len(lengths), 500, p=lengths / lengths.sum())
    xy = shapely.get_coordinates(shapely.line_interpolate_point(
        futian.edge_lines[e], rng.random(500), normalized=True)) + rng.uniform(-15, 15, (500, 2))
    pop = rng.integers(0, 120, len(xy)).astype(float)
    lo, hi = futian.node_xy.min(axis=0), futian.node_xy.max(axis=0)
    empty_xy = xy[np.argmin(np.hypot(*(xy - hi).T))]  # the cell nearest the NE corner
    corner = np.hypot(*(xy - empty_xy).T) <= D0 + 50.0  # walking is never shorter
    pop[corner] = 0.0
    demand = gpd.GeoDataFrame({"pop_60plus": pop}, geometry=shapely.points(xy), crs=futian.crs,
                              index=pd.Index([f"c{i}" for i in range(len(xy))], name="cell"))
    # facilities away from the south-west corner, one in the empty north-east corner
    mid = (lo + hi) / 2
    inner = xy[(xy[:, 0] > mid[0] - 300) & (xy[:, 1] > mid[1] - 300) & ~corner]
    pick = rng.choice(len(inner), 12, replace=False)
    fxy = np.vstack([inner[pick], empty_xy])
    beds = np.append(rng.integers(5, 80, 12).astype(float), 30.0)
    facilities = gpd.GeoDataFrame(
        {"beds": beds}, geometry=shapely.points(fxy), crs=futian.crs,
        index=pd.Index([f"f{i}" for i in range(12)] + ["f_empty"], name="fid"))
    reach = reach_matrix(futian, facilities, demand, D0)
    return demand, facilities, reach


def _pysal(demand, facilities, reach, method, weight_fn=None):
    """PySAL access on the same distances (cells x facilities within D0, long format)."""
    coo = reach.tocoo()
    cost = pd.DataFrame({"cell": demand.index.to_numpy()[coo.col],
                         "fid": facilities.index.to_numpy()[coo.row], "dist": coo.data})
    logging.getLogger("access").setLevel(logging.WARNING)
    model = Access(demand_df=pd.DataFrame(demand.drop(columns="geometry")), demand_index=True,
                   demand_value="pop_60plus",
                   supply_df=pd.DataFrame(facilities.drop(columns="geometry")),
                   supply_index=True, supply_value="beds", cost_df=cost, cost_origin="cell",
                   cost_dest="fid", cost_name="dist")
    if method == "e2sfca":
        out = model.enhanced_two_stage_fca(name="a", max_cost=D0, weight_fn=weight_fn)
    else:
        out = model.two_stage_fca(name="a", max_cost=D0, weight_fn=weight_fn)
    return out["a_beds"].reindex(demand.index).to_numpy(dtype=np.float64)


def _dai(d0: float):
    g = weights.gaussian(d0)  # PySAL's exp(-d^2 / 2 sigma^2), sigma = d0
    return lambda d: (g(d) - g(d0)) / (1.0 - g(d0))


@pytest.mark.parametrize(("decay", "weight_fn"), [
    ("none", None),
    ("linear", lambda d: 1.0 - d / D0),
    ("gaussian", _dai(D0)),
])
def test_two_step_fca_agrees_with_pysal_access(futian, instance, decay, weight_fn):
    demand, facilities, reach = instance
    ours = two_step_fca(futian, demand, facilities, max_m=D0, reach=reach, decay=decay)
    theirs = _pysal(demand, facilities, reach, "2sfca", weight_fn)
    _check_against_pysal(ours, theirs)


def test_enhanced_two_step_fca_agrees_with_pysal_access(futian, instance):
    demand, facilities, reach = instance
    ours = enhanced_two_step_fca(futian, demand, facilities, reach=reach)
    step = weights.step_fn(dict(zip(E2SFCA_ZONES_M, E2SFCA_WEIGHTS, strict=True)))
    theirs = _pysal(demand, facilities, reach, "e2sfca", step)
    _check_against_pysal(ours, theirs)
    # the zones matter: enhanced differs from plain 2SFCA on the same distances
    plain = two_step_fca(futian, demand, facilities, max_m=D0, reach=reach)
    assert not np.allclose(ours.cells["access_ratio"], plain.cells["access_ratio"])


def _check_against_pysal(ours, theirs):
    access = ours.cells["access_ratio"].to_numpy()
    finite = np.isfinite(theirs)
    assert finite.sum() > 150
    np.testing.assert_allclose(access[finite], theirs[finite], rtol=1e-10, atol=1e-15)
    # no facility in reach: PySAL leaves the cell out, geoplan says 0 with nothing in reach
    nothing = np.isnan(theirs)
    assert nothing.any()
    assert (access[nothing] == 0).all()
    assert (ours.cells["facilities_in_reach"].to_numpy()[nothing] == 0).all()
    assert (ours.cells["facilities_in_reach"].to_numpy()[~nothing] > 0).all()
    # a catchment without people: PySAL divides by zero (inf); geoplan leaves it out
    empty = ours.facilities["demand_in_catchment"].to_numpy() == 0
    assert list(ours.facilities.index[empty]) == ["f_empty"]
    assert np.isnan(ours.facilities.loc["f_empty", "supply_ratio"])
    assert np.isinf(theirs).any()
    assert np.isfinite(access).all()


def test_decay_weights_by_hand():
    d = np.array([0.0, 300.0, 450.0, 500.0, 899.0, 900.0, 901.0])
    assert distance_weights(d, 900.0).tolist() == [1, 1, 1, 1, 1, 1, 0]
    np.testing.assert_allclose(distance_weights(d, 900.0, "linear"),
                               [1, 2 / 3, 0.5, 4 / 9, 1 / 900, 0, 0])
    g = distance_weights(d, 900.0, "gaussian")
    assert g[0] == pytest.approx(1.0)
    assert g[5] == pytest.approx(0.0, abs=1e-15)
    assert g[6] == 0.0
    assert (np.diff(g) <= 0).all()
    z = distance_weights(d, 900.0, zones_m=E2SFCA_ZONES_M, zone_weights=E2SFCA_WEIGHTS)
    assert z.tolist() == [1.0, 1.0, 0.68, 0.68, 0.22, 0.22, 0.0]


def test_fca_refuses_bad_parameters(futian, instance):
    demand, facilities, reach = instance
    with pytest.raises(SchemaError, match="decay must be one of"):
        two_step_fca(futian, demand, facilities, reach=reach, decay="exponential")
    with pytest.raises(SchemaError, match="ascending"):
        enhanced_two_step_fca(futian, demand, facilities, reach=reach,
                              zones_m=(500.0, 300.0, 900.0))
    with pytest.raises(SchemaError, match="ascending"):
        enhanced_two_step_fca(futian, demand, facilities, reach=reach, zone_weights=(1.0, 0.5))
    with pytest.raises(SchemaError, match="max_m must be positive"):
        distance_weights(np.array([1.0]), 0.0)
