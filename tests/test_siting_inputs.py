"""Bad and awkward input to the siting models, candidates and tables: clear errors, no traps."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from geoplan import siting
from geoplan.datasets.siting_instances import street_grid
from geoplan.errors import CRSError, InfeasibleError, SchemaError
from geoplan.network import WalkNetwork
from geoplan.siting import candidates as cand
from geoplan.siting import demand_weights, propose_sites

EPSG = 4549
X0, Y0 = 500_000.0, 2_730_000.0


@pytest.fixture(scope="module")
def net() -> WalkNetwork:
    xy, csr = street_grid(12, 100.0, seed=3)
    xy = xy + np.array([X0, Y0])
    up = sp.triu(csr).tocoo()
    edges = gpd.GeoDataFrame(
        {"u": up.row, "v": up.col, "length_m": up.data},
        geometry=[LineString([xy[a], xy[b]]) for a, b in zip(up.row, up.col, strict=True)],
        crs=EPSG)
    return WalkNetwork(xy, edges, EPSG)


def small():
    rng = np.random.default_rng(0)
    D = rng.uniform(1, 1000, (6, 20)) * (rng.random((6, 20)) < 0.3)
    return sp.csr_matrix(D), rng.integers(1, 9, 20).astype(float)


# ---------------------------------------------------------------- model parameters


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"p": -1}, "p must be a whole number of sites >= 0, got -1"),
    ({"p": 2.5}, "p must be a whole number of sites >= 0, got 2.5"),
    ({"p": 2, "method": "Exact"}, "method must be one of 'exact', 'greedy', got 'Exact'"),
    ({"p": 2, "max_m": 0}, "max_m must be a positive number of metres, got 0"),
    ({"p": 2, "cost": np.ones(3), "budget": 2}, r"(?s)cost: 1 .*has 3 values for 6 candidates"),
    ({"p": 2, "cost": -np.ones(6), "budget": 2}, r"(?s)cost: 1 .*negative or non-finite"),
    ({"p": 2, "cost": np.ones(6), "budget": np.nan}, "budget must be a finite number"),
    ({"p": 2, "quotas": [siting.Quota("a", np.array([7]), 1)]},
     "quota 'a': candidate indices must be whole numbers in 0..5"),
    ({"p": 2, "quotas": [siting.Quota("a", np.array([-1]), 1)]}, "whole numbers in 0..5"),
    ({"p": 2, "quotas": [siting.Quota("a", np.arange(3), -1)]},
     "min_sites and max_sites must be whole numbers >= 0"),
])
def test_mclp_rejects_bad_parameters(kwargs, match):
    R, w = small()
    with pytest.raises(SchemaError, match=match):
        siting.mclp(R, w, **kwargs)


def test_other_models_reject_bad_parameters():
    R, w = small()
    with pytest.raises(SchemaError, match="uncoverable must be 'raise' or 'ignore'"):
        siting.lscp(R, w, uncoverable="skip")
    with pytest.raises(SchemaError, match="method must be one of"):
        siting.lscp(R, w, method="highs", uncoverable="ignore")
    with pytest.raises(SchemaError, match="method must be one of"):
        siting.p_median(R, w, 2, method="highs", unassigned_penalty_m=500)
    with pytest.raises(SchemaError, match="unassigned_penalty_m must be a finite number"):
        siting.p_median(R, w, 2, unassigned_penalty_m=-1)
    with pytest.raises(SchemaError, match="p must be a whole number"):
        siting.capacitated_mclp(R, w, -2, np.ones(6))
    with pytest.raises(SchemaError, match=r"(?s)capacity: .*has 3 values for 6 candidates"):
        siting.capacitated_mclp(R, w, 2, np.ones(3))
    with pytest.raises(SchemaError, match="existing_capacity is given without existing_reach"):
        siting.capacitated_mclp(R, w, 2, np.ones(6), existing_capacity=np.ones(2))
    with pytest.raises(SchemaError, match="p must be a whole number"):
        siting.mclp_multi_year(R, w, [2, -1])
    with pytest.raises(SchemaError, match="not a 2-D numeric"):
        siting.mclp([["12", "x"]], np.ones(2), 1)


def test_free_candidates_need_no_division_by_zero():
    R, w = small()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = siting.mclp(R, w, 2, cost=np.zeros(6), budget=0, method="greedy")
        ls = siting.lscp(R, w, cost=np.r_[0.0, np.ones(5)], uncoverable="ignore",
                         method="greedy")
    assert m.objective == siting.mclp(R, w, 2).objective
    assert ls.objective == siting.lscp(R, w, cost=np.r_[0.0, np.ones(5)],
                                       uncoverable="ignore").objective


def test_quotas_from_labels_match_codes_given_as_int_or_text():
    R, w = small()
    codes = np.array([350582101, 350582101, 350582102, 350582102, 350582103, 350582103])
    quotas = siting.quotas_from_labels(codes, {"350582102": 1, "350582103": 1})
    assert [q.candidates.tolist() for q in quotas] == [[False, False, True, True, False, False],
                                                       [False, False, False, False, True, True]]
    res = siting.mclp(R, w, 2, quotas=quotas)
    assert sorted(codes[res.selected].tolist()) == [350582102, 350582103]


# ---------------------------------------------------------------- candidates


def test_candidate_layer_with_missing_geometry_or_repeated_ids(net):
    layer = gpd.GeoDataFrame(
        {"name": ["社区中心", "闲置校舍", "村集体用地"]},
        geometry=[MultiPolygon([box(X0, Y0, X0 + 50, Y0 + 50),
                                box(X0 + 300, Y0 + 300, X0 + 400, Y0 + 400)]), None, Polygon()],
        index=["a", "b", "c"], crs=EPSG)
    with pytest.raises(SchemaError, match=r"row 'b', column 'geometry': missing or empty"):
        cand.candidate_sites_from_layer(layer, network=net)
    twice = gpd.GeoDataFrame(geometry=[Point(X0, Y0), Point(X0 + 5, Y0)], index=[7, 7], crs=EPSG)
    with pytest.raises(SchemaError, match="row 7: id is not unique"):
        cand.candidate_sites_from_layer(twice)
    one = cand.candidate_sites_from_layer(layer.iloc[:1], network=net)
    assert list(one.index) == ["layer-a"]
    assert one.geom_type.tolist() == ["Point"]


def test_network_node_candidates_need_the_network_crs(net):
    area = gpd.GeoDataFrame(geometry=[box(X0, Y0, X0 + 500, Y0 + 500)], crs=EPSG)
    assert len(cand.candidate_sites_from_network_nodes(net, area)) > 0
    with pytest.raises(CRSError, match="CRS differ"):
        cand.candidate_sites_from_network_nodes(net, area.to_crs(32650))


def test_cluster_candidates_bad_input_and_identical_cells():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 900, (30, 2)) + np.array([X0, Y0])
    cells = gpd.GeoDataFrame({"pop_60plus": rng.integers(1, 10, 30).astype(float)},
                             geometry=shapely.points(xy), crs=EPSG)
    with pytest.raises(SchemaError, match="column 'pop_80plus': weight column is missing"):
        cand.candidate_sites_from_demand_clusters(cells, 5, weight_column="pop_80plus")
    with pytest.raises(SchemaError, match="mask has 3 entries for 30 cells"):
        cand.candidate_sites_from_demand_clusters(cells, 5, mask=np.ones(3, bool))
    mask = pd.Series(np.arange(30) < 4, index=cells.index)[::-1]  # same cells, other order
    assert len(cand.candidate_sites_from_demand_clusters(cells, 10, mask=mask)) == 4
    same = gpd.GeoDataFrame({"pop_60plus": np.ones(8)}, geometry=[Point(X0, Y0)] * 8, crs=EPSG)
    out = cand.candidate_sites_from_demand_clusters(same, 5)
    assert len(out) == 1
    assert out["cluster_weight"].tolist() == [8.0]


def test_exclusions_lines_need_a_corridor_and_buffers_must_name_a_layer():
    pts = gpd.GeoDataFrame(geometry=shapely.points([[X0 + 10 * i, Y0] for i in range(10)]),
                           index=[f"s{i}" for i in range(10)], crs=EPSG)
    rail = gpd.GeoDataFrame(geometry=[LineString([(X0 + 80, Y0 - 100), (X0 + 80, Y0 + 100)])],
                            crs=EPSG)
    with pytest.raises(SchemaError, match=r"holds LineString; give buffer_m\['railway_road_"):
        cand.exclude_candidates(pts, {"railway_road_corridor": rail})
    with pytest.raises(SchemaError, match="buffer_m names 'railway', which is not among"):
        cand.exclude_candidates(pts, {"railway_road_corridor": rail},
                                buffer_m={"railway": 12, "railway_road_corridor": 12})
    with pytest.raises(SchemaError, match="must be a distance >= 0"):
        cand.exclude_candidates(pts, {"railway_road_corridor": rail},
                                buffer_m={"railway_road_corridor": -5})
    kept, report = cand.exclude_candidates(
        pts, {"water_source_protection": gpd.GeoDataFrame(geometry=[]),  # empty, no CRS
              "railway_road_corridor": rail}, buffer_m={"railway_road_corridor": 12})
    assert report["n_removed"].tolist() == [0, 3, 3]
    assert list(kept.index) == [f"s{i}" for i in range(7)]


def test_exclusion_of_candidates_without_geometry_names_the_row():
    pts = gpd.GeoDataFrame(geometry=[Point(X0, Y0), None], index=["s0", "s1"], crs=EPSG)
    park = gpd.GeoDataFrame(geometry=[box(X0 - 5, Y0 - 5, X0 + 5, Y0 + 5)], crs=EPSG)
    with pytest.raises(SchemaError, match="row 's1', column 'geometry'"):
        cand.exclude_candidates(pts, {"park_scenic_heritage": park})


# ---------------------------------------------------------------- tables


def test_tables_count_cells_without_a_unit_and_name_missing_columns():
    R, w = small()
    demand = pd.DataFrame({"pop": w * 10, "households": w * 4, "pop_60plus": w,
                           "town": ["安海镇"] * 8 + [None] * 4 + ["内坑镇"] * 8})
    res = siting.mclp(R, w, 3)
    by_unit = siting.coverage_before_after_by_unit(res, R, demand, "town")
    assert set(by_unit.index) == {"安海镇", "内坑镇", "(outside)"}
    assert by_unit["pop_60plus_total"].sum() == pytest.approx(w.sum())
    assert by_unit["pop_60plus_gain"].sum() == pytest.approx(res.weight_after)
    with pytest.raises(SchemaError, match="column 'county': missing column"):
        siting.coverage_before_after_by_unit(res, R, demand, "county")
    with pytest.raises(SchemaError, match="column 'pop_80plus': missing column"):
        siting.rank_sites_by_marginal_gain(res, R, demand, columns=("pop", "pop_80plus"))
    ids = pd.Series([f"站{i}" for i in range(6)], index=[f"k{i}" for i in range(6)])
    ranked = siting.rank_sites_by_marginal_gain(res, R, demand, site_ids=ids)
    assert ranked["site_id"].tolist() == [f"站{j}" for j in res.selected]


def test_demand_weights_priority_mask_is_checked():
    cells = pd.DataFrame({"pop_60plus": [10.0, 20.0, 30.0]})
    with pytest.raises(SchemaError, match="priority mask has 2 entries for 3 cells"):
        demand_weights(cells, priority=[True, False], priority_multiplier=2)
    with pytest.raises(SchemaError, match="priority_multiplier must be >= 0"):
        demand_weights(cells, priority=[True, False, True], priority_multiplier=-1)


# ---------------------------------------------------------------- layers


def test_propose_sites_with_a_minimum_per_unit(net):
    rng = np.random.default_rng(2)
    xy = rng.uniform(50, 1050, (300, 2)) + np.array([X0, Y0])
    pop = rng.integers(20, 200, 300).astype(float)
    cells = gpd.GeoDataFrame({"pop": pop, "households": np.round(pop / 2.6),
                              "pop_60plus": np.round(pop * 0.18)},
                             geometry=shapely.points(xy), crs=EPSG)
    # the east holds few older people, so an unconstrained answer leaves it out
    cells.loc[xy[:, 0] > X0 + 900, "pop_60plus"] = 1.0
    towns = gpd.GeoDataFrame({"name": ["安海镇", "内坑镇"]},
                             geometry=[box(X0, Y0, X0 + 900, Y0 + 1100),
                                       box(X0 + 900, Y0, X0 + 1100, Y0 + 1100)], crs=EPSG)
    free = propose_sites(net, cells, None, p=3, max_m=300.0, units=towns, n_candidates=40)
    east = free.candidates.geometry.x.to_numpy() > X0 + 900
    assert east.any()
    assert not east[free.result.selected].any()
    quota = propose_sites(net, cells, None, p=3, max_m=300.0, units=towns, n_candidates=40,
                          min_sites_per_unit=1)
    assert east[quota.result.selected].sum() >= 1
    assert (~east[quota.result.selected]).sum() >= 1
    assert quota.result.objective <= free.result.objective
    with pytest.raises(InfeasibleError, match=r"quotas need at least 2 new sites .* p = 1"):
        propose_sites(net, cells, None, p=1, max_m=300.0, units=towns, n_candidates=40,
                      min_sites_per_unit=1)
    with pytest.raises(SchemaError, match="min_sites_per_unit needs units"):
        propose_sites(net, cells, None, p=1, max_m=300.0, min_sites_per_unit=1)


def test_more_sites_than_candidates_is_said_not_silently_cut():
    import scipy.sparse as sp

    from geoplan.siting import mclp

    reach = sp.csr_matrix(np.eye(10) * 100.0)
    with pytest.warns(UserWarning, match="p = 50 new sites asked for, but there are only 10"):
        result = mclp(reach, np.ones(10), 50, max_m=500.0)
    assert len(result.selected) == 10
