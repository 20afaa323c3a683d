"""Siting models: exact answers against brute force and spopt, constraints, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pulp
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from spopt.locate import LSCP, MCLP, PMedian

from geoplan import siting
from geoplan.datasets.siting_instances import synthetic_siting_instance
from geoplan.errors import InfeasibleError, SchemaError
from geoplan.siting import demand_weights

# PuLP 3.3 warns about APIs spopt 0.7 still uses; the warnings are not ours
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def random_reach(n_c, n_d, seed, density=0.3, max_m=1000.0):
    rng = np.random.default_rng(seed)
    D = rng.uniform(1.0, max_m, (n_c, n_d))
    D[rng.random((n_c, n_d)) > density] = 0.0
    return sp.csr_matrix(D), rng.integers(1, 60, n_d).astype(float)


def covered_weight(R, w, sites, existing=None):
    cov = np.zeros(R.shape[1], bool)
    if len(sites):
        cov |= np.asarray((R[list(sites)] != 0).sum(axis=0)).ravel() > 0
    if existing is not None:
        cov |= np.asarray((existing != 0).sum(axis=0)).ravel() > 0
    return float(w[cov].sum())


def brute_mclp(R, w, p, existing=None, feasible=lambda s: True):
    best = -1.0
    for s in itertools.combinations(range(R.shape[0]), p):
        if feasible(s):
            best = max(best, covered_weight(R, w, s, existing))
    return best


# ---------------------------------------------------------------- MCLP


@pytest.mark.parametrize("seed", range(4))
def test_mclp_exact_equals_brute_force_and_greedy_is_bounded(seed):
    R, w = random_reach(9, 40, seed, density=0.2)
    exact = siting.mclp(R, w, 3)
    greedy = siting.mclp(R, w, 3, method="greedy")
    best = brute_mclp(R, w, 3)
    assert exact.objective == pytest.approx(best)
    assert exact.gap == pytest.approx(0.0, abs=1e-6)
    assert len(exact.selected) == 3
    assert covered_weight(R, w, exact.selected) == pytest.approx(exact.objective)
    assert greedy.objective <= best + 1e-9
    assert greedy.bound >= best - 1e-6
    assert greedy.gap == pytest.approx((greedy.bound - greedy.objective) / greedy.objective,
                                       abs=1e-6)


def test_mclp_existing_sites_are_fixed_and_count():
    R, w = random_reach(10, 50, 11, density=0.2)
    E, _ = random_reach(2, 50, 12, density=0.25)
    res = siting.mclp(R, w, 2, existing_reach=E)
    assert res.weight_before == pytest.approx(covered_weight(R, w, [], E))
    assert res.objective == pytest.approx(brute_mclp(R, w, 2, E))
    assert res.objective == pytest.approx(covered_weight(R, w, res.selected, E))
    # everything existing sites cover stays covered
    assert res.objective >= res.weight_before


def test_mclp_max_m_limits_coverage():
    R, w = random_reach(8, 30, 3, density=0.5)
    cut = R.copy()
    cut.data[cut.data > 400] = 0
    cut.eliminate_zeros()
    assert siting.mclp(R, w, 2, max_m=400).objective == pytest.approx(brute_mclp(cut, w, 2))


def test_mclp_preprocessing_keeps_the_optimum():
    inst = synthetic_siting_instance(600, 120, seed=5)
    a = siting.mclp(inst.reach, inst.pop_60plus, 6)
    b = siting.mclp(inst.reach, inst.pop_60plus, 6, preprocess=False)
    assert a.objective == pytest.approx(b.objective)
    assert a.n_demand_model < b.n_demand_model


def test_mclp_quotas_north_south_met_and_optimal():
    R, w = random_reach(10, 40, 21, density=0.25)
    north = np.arange(10) < 5
    quotas = [siting.Quota("north", north, 1), siting.Quota("south", ~north, 2)]
    res = siting.mclp(R, w, 3, quotas=quotas)
    sel = np.asarray(res.selected)
    assert north[sel].sum() >= 1
    assert (~north)[sel].sum() >= 2
    best = brute_mclp(R, w, 3, feasible=lambda s: north[list(s)].sum() >= 1
                      and (~north)[list(s)].sum() >= 2)
    assert res.objective == pytest.approx(best)
    greedy = siting.mclp(R, w, 3, quotas=quotas, method="greedy")
    g = np.asarray(greedy.selected)
    assert north[g].sum() >= 1
    assert (~north)[g].sum() >= 2
    assert greedy.objective <= best + 1e-9 <= greedy.bound + 1e-6


def test_quotas_from_labels_per_unit():
    labels = np.array(["安海镇", "安海镇", "内坑镇", "内坑镇", "青阳街道"] * 2)
    quotas = siting.quotas_from_labels(labels, {"安海镇": 1, "内坑镇": 1})
    R, w = random_reach(10, 40, 4, density=0.2)
    res = siting.mclp(R, w, 3, quotas=quotas)
    assert set(labels[res.selected]) >= {"安海镇", "内坑镇"}


def test_mclp_budget_respected_and_optimal():
    R, w = random_reach(9, 40, 8, density=0.2)
    cost = np.array([3, 1, 2, 5, 1, 4, 2, 2, 3], float)
    res = siting.mclp(R, w, 4, cost=cost, budget=6)
    assert cost[res.selected].sum() <= 6 + 1e-9
    best = max(brute_mclp(R, w, k, feasible=lambda s: cost[list(s)].sum() <= 6)
               for k in range(1, 5))
    assert res.objective == pytest.approx(best)


def test_mclp_pads_to_p_with_zero_gain_sites():
    R = sp.csr_matrix(np.array([[5.0, 0, 0], [0, 0, 0], [0, 0, 0]]))
    res = siting.mclp(R, np.ones(3), 3)
    assert len(res.selected) == 3
    assert res.selected[0] == 0
    assert any("padded" in n for n in res.notes)


def test_mclp_multi_year_sequence():
    inst = synthetic_siting_instance(800, 150, n_existing=3, seed=2)
    plan = siting.mclp_multi_year(inst.reach, inst.pop_60plus, [4, 4, 4],
                                  existing_reach=inst.existing_reach, first_year=2025,
                                  compare_joint=True)
    chosen = np.concatenate([r.selected for r in plan.years])
    assert len(chosen) == 12
    assert len(set(chosen.tolist())) == 12
    assert list(plan.table["year"]) == [2025, 2026, 2027]
    assert (np.diff(plan.table["covered_weight"]) >= 0).all()
    # year 2 starts where year 1 ended (its sites are fixed)
    assert plan.years[1].weight_before == pytest.approx(plan.years[0].weight_after)
    final = covered_weight(inst.reach, inst.pop_60plus, chosen, inst.existing_reach)
    assert final == pytest.approx(plan.table["covered_weight"].iloc[-1])
    assert plan.joint.objective >= final - 1e-6


# ---------------------------------------------------------------- LSCP


def test_lscp_equals_brute_force():
    R, w = random_reach(8, 30, 2, density=0.3)
    coverable = np.asarray((R != 0).sum(axis=0)).ravel() > 0
    res = siting.lscp(R, w, uncoverable="ignore")
    need = None
    for k in range(1, 9):
        for s in itertools.combinations(range(8), k):
            cov = np.asarray((R[list(s)] != 0).sum(axis=0)).ravel() > 0
            if (cov | ~coverable).all():
                need = k
                break
        if need:
            break
    assert res.objective == need
    assert covered_weight(R, w, res.selected) == pytest.approx(w[coverable].sum())
    greedy = siting.lscp(R, w, uncoverable="ignore", method="greedy")
    assert greedy.objective >= need
    assert greedy.bound <= need + 1e-9


def test_lscp_target_share():
    R, w = random_reach(10, 40, 6, density=0.2)
    res = siting.lscp(R, w, target_share=0.6, uncoverable="ignore")
    assert res.weight_after >= 0.6 * w.sum() - 1e-9
    for s in itertools.combinations(range(10), int(res.objective) - 1):
        assert covered_weight(R, w, s) < 0.6 * w.sum()


def test_lscp_raises_when_cells_unreachable():
    R = sp.csr_matrix(np.array([[10.0, 0, 0, 0], [0, 20.0, 0, 0]]))
    w = np.array([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(InfeasibleError, match=r"2 demand cells \(weight 7\) are reached by no"):
        siting.lscp(R, w)
    assert siting.lscp(R, w, uncoverable="ignore").objective == 2


def test_lscp_target_out_of_reach():
    R = sp.csr_matrix(np.array([[10.0, 0, 0, 0]]))
    with pytest.raises(InfeasibleError, match=r"target share 90\.0% is out of reach"):
        siting.lscp(R, np.ones(4), target_share=0.9)


# ---------------------------------------------------------------- errors


def test_quotas_exceeding_p_raise():
    R, w = random_reach(6, 20, 1)
    q = siting.quotas_from_labels(np.array(list("aabbcc")), {"a": 1, "b": 1, "c": 1})
    with pytest.raises(InfeasibleError, match=r"quotas need at least 3 new sites .* but p = 2"):
        siting.mclp(R, w, 2, quotas=q)


def test_quota_larger_than_group_raises():
    R, w = random_reach(6, 20, 1)
    q = [siting.Quota("内坑镇", np.array([0, 1]), 3)]
    with pytest.raises(InfeasibleError, match=r"'内坑镇' asks for at least 3 new sites but the "
                                              r"group has only 2"):
        siting.mclp(R, w, 4, quotas=q)


def test_budget_too_small_raises():
    R, w = random_reach(6, 20, 1)
    q = [siting.Quota("south", np.array([0, 1, 2]), 2)]
    with pytest.raises(InfeasibleError, match=r"budget 3 is too small: .* costs at least 4"):
        siting.mclp(R, w, 3, quotas=q, cost=np.full(6, 2.0), budget=3)


def test_bad_weights_and_shapes_raise():
    R, _ = random_reach(3, 5, 1)
    with pytest.raises(SchemaError, match="negative or non-finite"):
        siting.mclp(R, np.array([1, -1, 1, 1, 1.0]), 1)
    with pytest.raises(SchemaError, match="has 4 values for 5 demand cells"):
        siting.mclp(R, np.ones(4), 1)
    with pytest.raises(SchemaError, match="has 4 demand columns, expected 5"):
        siting.mclp(R, np.ones(5), 1, existing_reach=sp.csr_matrix((2, 4)))


# ---------------------------------------------------------------- p-median


def brute_p_median(R, w, p, penalty):
    best = np.inf
    D = R.toarray()
    for s in itertools.combinations(range(R.shape[0]), p):
        sub = D[list(s)]
        d = np.where(sub > 0, sub, np.inf).min(axis=0)
        best = min(best, float((w * np.minimum(d, penalty)).sum()))
    return best


@pytest.mark.parametrize("seed", range(3))
def test_p_median_equals_brute_force(seed):
    R, w = random_reach(8, 30, seed + 40, density=0.35)
    res = siting.p_median(R, w, 3, unassigned_penalty_m=2000.0)
    assert res.objective == pytest.approx(brute_p_median(R, w, 3, 2000.0))
    greedy = siting.p_median(R, w, 3, unassigned_penalty_m=2000.0, method="greedy")
    assert greedy.objective >= res.objective - 1e-6
    assert greedy.bound <= res.objective + 1e-6
    # every assigned cell goes to an open site that reaches it
    a = res.assignment
    assert set(a.loc[a.site_kind == "new", "site"]) <= set(res.selected.tolist())
    assert (a["distance_m"] > 0).all()


def test_p_median_without_penalty_raises_for_orphans():
    R = sp.csr_matrix(np.array([[10.0, 0, 0], [0, 20.0, 0]]))
    with pytest.raises(InfeasibleError, match=r"1 demand cells \(weight 5\) are reached by no"):
        siting.p_median(R, np.array([1.0, 1.0, 5.0]), 1)


def test_p_median_too_few_sites_to_reach_all_raises():
    R = sp.csr_matrix(np.array([[10.0, 0, 0], [0, 20.0, 0], [0, 0, 5.0]]))
    with pytest.raises(InfeasibleError, match="2 new sites cannot reach every demand cell"):
        siting.p_median(R, np.ones(3), 2)


# ---------------------------------------------------------------- capacitated MCLP


def brute_capacitated(R, w, q, cap, p, existing=None, cap_ex=None):
    best = 0.0
    for s in itertools.combinations(range(R.shape[0]), p):
        mats = [R[list(s)].toarray()]
        caps = [cap[list(s)]]
        if existing is not None:
            mats.append(existing.toarray())
            caps.append(cap_ex)
        M = np.vstack(mats)
        K = np.concatenate(caps)
        pairs = np.argwhere(M > 0)
        if len(pairs) == 0:
            continue
        n = len(pairs)
        c = -w[pairs[:, 1]]
        A, b = [], []
        for i in range(R.shape[1]):
            A.append((pairs[:, 1] == i).astype(float))
            b.append(1.0)
        for j in range(M.shape[0]):
            A.append(np.where(pairs[:, 0] == j, q[pairs[:, 1]], 0.0))
            b.append(K[j])
        r = linprog(c, A_ub=np.array(A), b_ub=np.array(b), bounds=[(0, 1)] * n)
        best = max(best, -r.fun)
    return best


def test_capacitated_mclp_equals_brute_force_and_respects_capacity():
    R, w = random_reach(7, 25, 31, density=0.3)
    q = w.copy()
    cap = np.array([60, 120, 80, 40, 100, 90, 70], float)
    E, _ = random_reach(1, 25, 32, density=0.3)
    res = siting.capacitated_mclp(R, w, 2, cap, existing_reach=E,
                                  existing_capacity=np.array([50.0]))
    best = brute_capacitated(R, w, q, cap, 2, E, np.array([50.0]))
    assert res.objective == pytest.approx(best, rel=1e-6)
    a = res.assignment
    used_new = a[a.site_kind == "new"].groupby("site").apply(
        lambda t: float((t["share"] * q[t["demand"].to_numpy()]).sum()))
    for j, used in used_new.items():
        assert used <= cap[j] + 1e-6
    used_ex = float((a.loc[a.site_kind == "existing", "share"]
                     * q[a.loc[a.site_kind == "existing", "demand"].to_numpy()]).sum())
    assert used_ex <= 50.0 + 1e-6
    assert (a.groupby("demand")["share"].sum() <= 1 + 1e-9).all()
    assert res.weight_before <= res.objective


def test_capacitated_whole_cells_and_greedy():
    R, w = random_reach(6, 20, 33, density=0.35)
    cap = np.full(6, 80.0)
    whole = siting.capacitated_mclp(R, w, 2, cap, split_demand=False)
    assert np.allclose(whole.assignment["share"], 1.0)
    split = siting.capacitated_mclp(R, w, 2, cap)
    assert whole.objective <= split.objective + 1e-6
    greedy = siting.capacitated_mclp(R, w, 2, cap, method="greedy")
    assert greedy.objective <= split.objective + 1e-6
    assert greedy.bound >= split.objective - 1e-6


def test_capacitated_large_capacity_equals_mclp():
    R, w = random_reach(8, 30, 34, density=0.25)
    cap = siting.capacitated_mclp(R, w, 3, np.full(8, 1e6))
    assert cap.objective == pytest.approx(siting.mclp(R, w, 3).objective)


def test_capacitated_quota_too_large_raises():
    R, w = random_reach(4, 10, 35)
    with pytest.raises(InfeasibleError, match="quotas need at least 3 new sites"):
        siting.capacitated_mclp(R, w, 2, np.ones(4),
                                quotas=[siting.Quota("x", np.ones(4, bool), 3)])


# ---------------------------------------------------------------- spopt agreement


def dense_cost(R, big=1e7):
    D = np.full(R.shape[::-1], big)
    coo = R.tocoo()
    D[coo.col, coo.row] = coo.data
    return D


def cbc():
    return pulp.PULP_CBC_CMD(msg=False)


@pytest.mark.parametrize(("n_d", "n_c", "p"), [(300, 60, 5), (900, 150, 8)])
def test_mclp_matches_spopt(n_d, n_c, p):
    inst = synthetic_siting_instance(n_d, n_c, seed=n_d)
    w = inst.pop_60plus
    ours = siting.mclp(inst.reach, w, p)
    ref = MCLP.from_cost_matrix(dense_cost(inst.reach), w, service_radius=1000.0,
                                p_facilities=p).solve(cbc())
    assert ours.objective == pytest.approx(pulp.value(ref.problem.objective))


def test_mclp_with_existing_matches_spopt_predefined():
    inst = synthetic_siting_instance(400, 80, n_existing=3, seed=9)
    w = inst.pop_60plus
    ours = siting.mclp(inst.reach, w, 4, existing_reach=inst.existing_reach)
    both = sp.vstack([inst.existing_reach, inst.reach], format="csr")
    predefined = np.r_[np.ones(3, int), np.zeros(80, int)]
    ref = MCLP.from_cost_matrix(dense_cost(both), w, service_radius=1000.0, p_facilities=7,
                                predefined_facilities_arr=predefined).solve(cbc())
    assert ours.objective == pytest.approx(pulp.value(ref.problem.objective))


def test_lscp_matches_spopt():
    inst = synthetic_siting_instance(400, 120, seed=3)
    reached = np.asarray(inst.reach.sum(axis=0)).ravel() > 0
    R = inst.reach[:, np.flatnonzero(reached)]
    ours = siting.lscp(R)
    ref = LSCP.from_cost_matrix(dense_cost(R), service_radius=1000.0).solve(cbc())
    assert ours.objective == pytest.approx(pulp.value(ref.problem.objective))


def test_p_median_matches_spopt():
    rng = np.random.default_rng(7)
    dem = rng.uniform(0, 3000, (150, 2))
    fac = rng.uniform(0, 3000, (30, 2))
    D = np.hypot(*(fac[:, None, :] - dem[None, :, :]).transpose(2, 0, 1)) + 1.0
    w = rng.integers(1, 40, 150).astype(float)
    ours = siting.p_median(sp.csr_matrix(D), w, 4)
    ref = PMedian.from_cost_matrix(D.T, w, p_facilities=4).solve(cbc())
    assert ours.objective == pytest.approx(pulp.value(ref.problem.objective), rel=1e-6)


# ---------------------------------------------------------------- properties


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), p=st.integers(1, 3), density=st.floats(0.05, 0.6))
def test_property_greedy_le_exact_le_bound(seed, p, density):
    R, w = random_reach(7, 15, seed, density=density)
    exact = siting.mclp(R, w, p)
    greedy = siting.mclp(R, w, p, method="greedy")
    best = brute_mclp(R, w, p)
    assert exact.objective == pytest.approx(best)
    assert greedy.objective <= exact.objective + 1e-9
    assert greedy.bound >= exact.objective - 1e-6
    assert greedy.gap >= 0


# ---------------------------------------------------------------- tables


def test_ranking_and_before_after_tables_add_up():
    inst = synthetic_siting_instance(500, 100, n_existing=2, seed=4)
    demand = pd.DataFrame({"pop": inst.pop, "households": inst.households,
                           "pop_60plus": inst.pop_60plus,
                           "town": np.where(inst.demand_xy[:, 0] < inst.demand_xy[:, 0].mean(),
                                            "安海镇", "内坑镇")})
    res = siting.mclp(inst.reach, inst.pop_60plus, 5, existing_reach=inst.existing_reach)
    ranked = siting.rank_sites_by_marginal_gain(res, inst.reach, demand,
                                                existing_reach=inst.existing_reach)
    assert list(ranked["rank"]) == [1, 2, 3, 4, 5]
    assert (np.diff(ranked["new_pop_60plus"]) <= 1e-9).all()
    assert ranked["new_pop_60plus"].sum() == pytest.approx(res.weight_after - res.weight_before)
    by_unit = siting.coverage_before_after_by_unit(res, inst.reach, demand, "town",
                                                   existing_reach=inst.existing_reach)
    assert set(by_unit.index) == {"安海镇", "内坑镇"}
    assert by_unit["pop_60plus_gain"].sum() == pytest.approx(ranked["new_pop_60plus"].sum())
    assert by_unit["pop_total"].sum() == pytest.approx(inst.pop.sum())
    assert (by_unit["pop_share_after"] >= by_unit["pop_share_before"]).all()


def test_scenario_table_is_monotone_in_p():
    inst = synthetic_siting_instance(500, 100, seed=8)
    table = siting.scenario_table(lambda p: siting.mclp(inst.reach, inst.pop_60plus, p),
                                  (2, 4, 8))
    assert list(table.index) == [2, 4, 8]
    assert (np.diff(table["objective"]) >= 0).all()
    assert (table["gap"] <= 1e-6).all()


def test_demand_weights_with_priority_areas():
    cells = pd.DataFrame({"pop_60plus": [10.0, 20.0, 30.0],
                          "town": ["安海镇", "青阳街道", "内坑镇"]})
    w = demand_weights(cells, priority=cells["town"].isin(["安海镇", "内坑镇"]),
                       priority_multiplier=1.5)
    assert w.tolist() == [15.0, 20.0, 45.0]
    with pytest.raises(SchemaError, match="missing column"):
        demand_weights(cells, "pop_80plus")
    with pytest.raises(SchemaError, match="negative or missing"):
        demand_weights(pd.DataFrame({"pop_60plus": [1.0, -2.0]}))


@pytest.mark.parametrize("method", ["exact", "greedy"])
def test_lscp_quota_forbidding_needed_sites_raises(method):
    R = sp.csr_matrix(np.array([[10.0, 0], [0, 10.0]]))
    q = [siting.Quota("水源保护区", np.array([False, True]), 0, 0)]
    with pytest.raises(InfeasibleError, match=r"no set of new sites (that )?meets the coverage"):
        siting.lscp(R, np.ones(2), quotas=q, method=method)


def test_existing_sites_covering_everything_leave_nothing_to_gain():
    R = sp.csr_matrix(np.array([[5.0, 0, 0], [0, 5.0, 0]]))
    E = sp.csr_matrix(np.array([[1.0, 1.0, 1.0]]))
    w = np.ones(3)
    for method in ("exact", "greedy"):
        m = siting.mclp(R, w, 1, existing_reach=E, method=method)
        assert (m.objective, m.weight_before, m.gap, len(m.selected)) == (3.0, 3.0, 0.0, 1)
        ls = siting.lscp(R, w, existing_reach=E, method=method)
        assert (ls.objective, len(ls.selected), ls.weight_after) == (0.0, 0, 3.0)
        pm = siting.p_median(R, w, 1, existing_reach=E, method=method)
        assert (pm.objective, len(pm.selected)) == (3.0, 1)
        assert set(pm.assignment["site_kind"]) == {"existing"}
    empty = siting.mclp(sp.csr_matrix((0, 3)), w, 2)
    assert (empty.objective, len(empty.selected)) == (0.0, 0)
