"""Siting models against brute force on awkward small instances, and the reported bounds.

Each seeded instance mixes what real matrices hold: duplicate candidates, candidates that
reach nothing, demand nobody reaches, zero and tied weights, existing sites, budgets and
quotas. Exact answers must equal the brute-force optimum; greedy answers must stay below it
and their bound above it; every answer must satisfy its constraints.
"""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import LinearConstraint, milp

from geoplan import siting
from geoplan.errors import InfeasibleError


def awkward_instance(rng, max_c=7, max_d=12):
    n_c, n_d = int(rng.integers(2, max_c + 1)), int(rng.integers(1, max_d + 1))
    D = np.round(rng.uniform(1, 1000, (n_c, n_d))) * (rng.random((n_c, n_d)) < rng.uniform(.1, .7))
    D[rng.integers(n_c)] = D[rng.integers(n_c)]  # a duplicate candidate
    if rng.random() < 0.4:
        D[rng.integers(n_c)] = 0.0  # a candidate that reaches nothing
    w = rng.integers(0, 5, n_d).astype(float) if rng.random() < 0.6 else \
        np.round(rng.uniform(0, 5, n_d), 2)
    E = None
    if rng.random() < 0.4:
        E = np.round(rng.uniform(1, 1000, (1, n_d))) * (rng.random((1, n_d)) < 0.3)
    return D, w, E


def covered(D, sites, E=None):
    c = (D[list(sites)] > 0).any(axis=0) if len(sites) else np.zeros(D.shape[1], bool)
    return c | ((E > 0).any(axis=0) if E is not None else False)


def meets(sites, quotas, cost=None, budget=None):
    s = list(sites)
    if budget is not None and cost[s].sum() > budget + 1e-9:
        return False
    for q in quotas:
        k = int(np.asarray(q.candidates)[s].sum())
        if k < q.min_sites or (q.max_sites is not None and k > q.max_sites):
            return False
    return True


def random_constraints(rng, n_c):
    cost = budget = None
    quotas = []
    kind = rng.integers(3)
    if kind == 1:
        cost = rng.integers(1, 5, n_c).astype(float)
        budget = float(rng.integers(1, int(cost.sum()) + 1))
    elif kind == 2:
        labels = rng.integers(0, 2, n_c)
        quotas = siting.quotas_from_labels(labels, {0: int(rng.integers(0, 2)), 1: 1},
                                           {0: 2} if rng.random() < 0.5 else None)
    return cost, budget, quotas


@pytest.mark.parametrize("seed", range(3))
def test_mclp_equals_brute_force_on_awkward_instances(seed):
    rng = np.random.default_rng(seed)
    for _ in range(25):
        D, w, E = awkward_instance(rng)
        n_c = D.shape[0]
        p = int(rng.integers(1, n_c + 1))
        cost, budget, quotas = random_constraints(rng, n_c)
        best = max((w[covered(D, s, E)].sum() for k in range(p + 1)
                    for s in itertools.combinations(range(n_c), k)
                    if meets(s, quotas, cost, budget)), default=None)
        kw = dict(existing_reach=None if E is None else sp.csr_matrix(E), cost=cost,
                  budget=budget, quotas=quotas)
        if best is None:
            with pytest.raises(InfeasibleError):
                siting.mclp(sp.csr_matrix(D), w, p, **kw)
            continue
        exact = siting.mclp(sp.csr_matrix(D), w, p, **kw)
        assert exact.objective == pytest.approx(best)
        assert exact.gap == 0.0
        assert meets(exact.selected, quotas, cost, budget)
        assert exact.weight_before == pytest.approx(w[covered(D, [], E)].sum())
        assert w[covered(D, exact.selected, E)].sum() == pytest.approx(exact.objective)
        try:
            greedy = siting.mclp(sp.csr_matrix(D), w, p, method="greedy", **kw)
        except InfeasibleError as err:  # greedy may miss tight quotas; it must say so
            message = str(err)
            assert "try method='exact'" in message
            continue
        assert meets(greedy.selected, quotas, cost, budget)
        assert greedy.objective <= best + 1e-9 <= greedy.bound + 1e-6
        assert greedy.bound >= greedy.objective
        if greedy.gap == 0:
            assert greedy.objective == pytest.approx(best)


@pytest.mark.parametrize("seed", range(2))
def test_lscp_equals_brute_force_on_awkward_instances(seed):
    rng = np.random.default_rng(100 + seed)
    for _ in range(25):
        D, w, E = awkward_instance(rng)
        n_c = D.shape[0]
        share = 1.0 if rng.random() < 0.5 else float(np.round(rng.uniform(0.2, 1.0), 2))
        cost = None if rng.random() < 0.5 else rng.integers(1, 5, n_c).astype(float)
        c = np.ones(n_c) if cost is None else cost
        need = (w > 0) & covered(D, range(n_c), E)

        def ok(s, share=share, need=need, D=D, w=w, E=E):
            cv = covered(D, s, E)
            return cv[need].all() if share >= 1 else \
                w[cv].sum() >= share * w.sum() - 1e-9 * max(w.sum(), 1)

        best = min((c[list(s)].sum() for k in range(n_c + 1)
                    for s in itertools.combinations(range(n_c), k) if ok(s)), default=None)
        kw = dict(existing_reach=None if E is None else sp.csr_matrix(E), target_share=share,
                  cost=cost, uncoverable="ignore")
        if best is None:
            with pytest.raises(InfeasibleError):
                siting.lscp(sp.csr_matrix(D), w, **kw)
            continue
        exact = siting.lscp(sp.csr_matrix(D), w, **kw)
        assert exact.objective == pytest.approx(best)
        assert ok(exact.selected)
        assert exact.gap == 0.0
        greedy = siting.lscp(sp.csr_matrix(D), w, method="greedy", **kw)
        assert ok(greedy.selected)
        assert greedy.bound - 1e-6 <= best <= greedy.objective


@pytest.mark.parametrize("seed", range(2))
def test_p_median_equals_brute_force_on_awkward_instances(seed):
    rng = np.random.default_rng(200 + seed)
    for _ in range(25):
        D, w, E = awkward_instance(rng, max_c=6, max_d=10)
        n_c, n_d = D.shape
        pen = None if rng.random() < 0.4 else float(rng.choice([300.0, 2000.0]))
        p = int(rng.integers(1, n_c + 1))
        Dm = np.where(D > 0, D, np.inf)
        Em = np.where(E > 0, E, np.inf) if E is not None else np.full((1, n_d), np.inf)
        cap = np.inf if pen is None else pen
        totals = []
        for s in itertools.combinations(range(n_c), p):
            d = np.minimum(np.minimum(Dm[list(s)].min(axis=0), Em.min(axis=0)), cap)
            if np.isfinite(d[w > 0]).all():
                totals.append(float((w * np.where(w > 0, d, 0)).sum()))
        kw = dict(existing_reach=None if E is None else sp.csr_matrix(E),
                  unassigned_penalty_m=pen)
        if not totals:
            with pytest.raises(InfeasibleError):
                siting.p_median(sp.csr_matrix(D), w, p, **kw)
            continue
        best = min(totals)
        exact = siting.p_median(sp.csr_matrix(D), w, p, **kw)
        assert exact.objective == pytest.approx(best)
        assert len(exact.selected) == p
        greedy = siting.p_median(sp.csr_matrix(D), w, p, method="greedy", **kw)
        assert greedy.bound - 1e-6 <= best <= greedy.objective + 1e-6


def served_optimum(M, K, w, q, split):
    """Best served weight for fixed open sites (rows of M, inf = not reachable)."""
    pairs = np.argwhere(np.isfinite(M))
    if len(pairs) == 0:
        return 0.0
    rows = [(pairs[:, 1] == i).astype(float) for i in range(M.shape[1])]
    rows += [np.where(pairs[:, 0] == j, q[pairs[:, 1]], 0.0) for j in range(M.shape[0])]
    ub = np.r_[np.ones(M.shape[1]), K]
    res = milp(-w[pairs[:, 1]], constraints=LinearConstraint(np.array(rows), -np.inf, ub),
               bounds=(0, 1), integrality=np.full(len(pairs), 0 if split else 1))
    return -res.fun


@pytest.mark.parametrize("seed", range(2))
def test_capacitated_mclp_equals_brute_force_with_quotas_and_budgets(seed):
    rng = np.random.default_rng(300 + seed)
    for _ in range(15):
        D, w, E = awkward_instance(rng, max_c=5, max_d=9)
        n_c, n_d = D.shape
        q = np.round(w * rng.uniform(0, 1, n_d), 1)
        cap = rng.choice([0.0, 2.0, 5.0, 1e6], n_c)
        cap_e = np.array([3.0]) if E is not None else None
        split = bool(rng.random() < 0.6)
        p = int(rng.integers(1, n_c + 1))
        cost, budget, quotas = random_constraints(rng, n_c)
        Dm = np.where(D > 0, D, np.inf)
        Em = np.where(E > 0, E, np.inf) if E is not None else np.zeros((0, n_d))
        best = max((served_optimum(np.vstack([Dm[list(s)], Em]),
                                   np.r_[cap[list(s)], cap_e if E is not None else []],
                                   w, q, split)
                    for k in range(p + 1) for s in itertools.combinations(range(n_c), k)
                    if meets(s, quotas, cost, budget)), default=None)
        kw = dict(demand=q, existing_reach=None if E is None else sp.csr_matrix(E),
                  existing_capacity=cap_e, split_demand=split, cost=cost, budget=budget,
                  quotas=quotas)
        if best is None:
            with pytest.raises(InfeasibleError):
                siting.capacitated_mclp(sp.csr_matrix(D), w, p, cap, **kw)
            continue
        for method in ("exact", "greedy"):
            res = siting.capacitated_mclp(sp.csr_matrix(D), w, p, cap, method=method, **kw)
            assert meets(res.selected, quotas, cost, budget)
            assert res.objective <= best + 1e-6 <= res.bound + 2e-6
            if method == "exact":
                assert res.objective == pytest.approx(best, abs=1e-6)
            a = res.assignment
            used = a.assign(u=a["share"] * q[a["demand"].to_numpy()]).groupby(
                ["site_kind", "site"])["u"].sum()
            for (kind, site), u in used.items():
                assert u <= (cap[site] if kind == "new" else cap_e[site]) + 1e-6
                assert kind == "existing" or site in set(res.selected.tolist())
            assert np.isfinite([(Dm if k == "new" else Em)[s, d] for k, s, d in
                                zip(a["site_kind"], a["site"], a["demand"], strict=True)]).all()


def test_capacitated_greedy_meets_quotas_instead_of_failing():
    # the best two sites lie in the north; the quota wants one in the south
    D = np.array([[100.0, 100, 0, 0], [0, 0, 100, 100], [0, 100, 0, 0], [0, 0, 0, 100]])
    w = np.array([10.0, 10, 10, 10])
    south = np.array([False, False, True, True])
    quotas = [siting.Quota("south", south, 1)]
    exact = siting.capacitated_mclp(sp.csr_matrix(D), w, 2, np.full(4, 1e3), quotas=quotas)
    greedy = siting.capacitated_mclp(sp.csr_matrix(D), w, 2, np.full(4, 1e3), quotas=quotas,
                                     method="greedy")
    assert south[greedy.selected].sum() >= 1
    assert greedy.objective <= exact.objective + 1e-9 <= greedy.bound + 1e-6


def test_capacitated_greedy_does_not_count_demand_existing_sites_serve():
    # candidate 0 reaches the heavy cell the existing site already serves; candidate 1 does not
    D = np.array([[100.0, 0], [0, 100.0]])
    w = np.array([50.0, 20.0])
    E = sp.csr_matrix(np.array([[100.0, 0]]))
    kw = dict(existing_reach=E, existing_capacity=np.array([100.0]))
    greedy = siting.capacitated_mclp(sp.csr_matrix(D), w, 1, np.full(2, 100.0),
                                     method="greedy", **kw)
    exact = siting.capacitated_mclp(sp.csr_matrix(D), w, 1, np.full(2, 100.0), **kw)
    assert greedy.selected.tolist() == [1]
    assert greedy.objective == exact.objective == 70.0


def test_p_median_greedy_assigns_cells_only_some_candidates_reach():
    # without a penalty every cell must be assigned; only sites 0 and 1 reach the last one
    D = np.array([[789.0, 372, 336, 886, 629], [789.0, 372, 336, 886, 629],
                  [248.0, 197, 332, 130, 0]])
    w = np.array([0.02, 4.85, 3.89, 4.05, 0.47])
    greedy = siting.p_median(sp.csr_matrix(D), w, 1, method="greedy")
    exact = siting.p_median(sp.csr_matrix(D), w, 1)
    assert greedy.objective == pytest.approx(exact.objective)
    assert greedy.selected[0] in (0, 1)


def test_integer_bound_is_not_inflated_for_large_weights():
    rng = np.random.default_rng(5)
    D = rng.uniform(1, 1000, (8, 40)) * (rng.random((8, 40)) < 0.25)
    w = rng.integers(1, 50, 40) * 1_000_000.0  # e.g. weights in person-metres or money
    for method in ("exact", "greedy"):
        res = siting.mclp(sp.csr_matrix(D), w, 3, method=method)
        assert res.bound >= res.objective
        if method == "exact":
            assert (res.status, res.gap, res.bound) == ("Optimal", 0.0, res.objective)
    ls = siting.lscp(sp.csr_matrix(D), w, cost=np.full(8, 1_000_000.0), uncoverable="ignore")
    assert (ls.gap, ls.bound) == (0.0, ls.objective)


def test_mclp_bound_never_below_the_answer():
    rng = np.random.default_rng(9)
    D = rng.uniform(1, 1000, (12, 60)) * (rng.random((12, 60)) < 0.2)
    w = np.round(rng.uniform(0, 10, 60), 3)
    for kw in ({}, {"cost": np.round(rng.uniform(1, 3, 12), 2), "budget": 5.0}):
        res = siting.mclp(sp.csr_matrix(D), w, 4, method="greedy", **kw)
        assert res.bound >= res.objective
        assert res.gap >= 0.0


def test_highs_banner_stays_off_stdout():
    code = ("import numpy as np, scipy.sparse as sp\n"
            "from geoplan import siting\n"
            "R = sp.csr_matrix(np.array([[1.0, 0, 2], [0, 3.0, 0], [4.0, 0, 0]]))\n"
            "w = np.array([1.0, 2.0, 3.0])\n"
            "siting.mclp(R, w, 1, cost=np.ones(3), budget=1)\n"
            "siting.lscp(R, w, method='greedy')\n"
            "siting.p_median(R, w, 2)\n"
            "siting.capacitated_mclp(R, w, 1, np.full(3, 2.0))\n"
            "print('done')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "done"
    assert "HiGHS" not in out.stderr


def test_lscp_bound_survives_highs_dropping_its_presolve_offset():
    # HiGHS 1.16 reports objective and bound 0 for this model once given the greedy start
    D = np.array([[78.0, 355, 3, 254, 418, 213, 0, 0, 100],
                  [0, 120, 0, 0, 0, 115, 358, 272, 0],
                  [228, 139, 0, 468, 355, 182, 519, 0, 0],
                  [61, 144, 288, 467, 177, 547, 249, 119, 0],
                  [228, 139, 0, 468, 355, 182, 519, 0, 0],
                  [263, 0, 0, 327, 960, 57, 0, 226, 0]])
    w = np.array([1.0, 2, 1, 3, 2, 4, 2, 0, 1])
    res = siting.lscp(sp.csr_matrix(D), w, target_share=0.44)
    assert (res.objective, res.bound, res.gap, res.status) == (1.0, 1.0, 0.0, "Optimal")


@pytest.mark.parametrize("seed", range(2))
def test_curve_equals_brute_force_on_awkward_instances(seed):
    # every path of the curve: neighbour starts, the LSCP shortcut, bounds capped by larger p,
    # answers kept from a smaller p, quota-infeasible points
    rng = np.random.default_rng(400 + seed)
    for _ in range(15):
        D, w, E = awkward_instance(rng, max_c=6, max_d=10)
        n_c = D.shape[0]
        cost, budget, quotas = random_constraints(rng, n_c)
        kw = dict(existing_reach=None if E is None else sp.csr_matrix(E), cost=cost,
                  budget=budget, quotas=quotas)
        try:
            cv = siting.coverage_curve(sp.csr_matrix(D), w, range(n_c + 1), **kw)
        except InfeasibleError:  # the budget cannot pay for the quotas at all
            assert not any(meets(s, quotas, cost, budget) for k in range(n_c + 1)
                           for s in itertools.combinations(range(n_c), k))
            continue
        for row in cv.table.itertuples(index=False):
            best = max((w[covered(D, s, E)].sum() for k in range(row.p + 1)
                        for s in itertools.combinations(range(n_c), k)
                        if meets(s, quotas, cost, budget)), default=None)
            if best is None:
                assert row.status == "Infeasible"
                continue
            assert row.covered_weight == pytest.approx(best)
            assert row.upper_bound >= best - 1e-9
            assert row.proven_optimal
            assert meets(row.sites, quotas, cost, budget)
            assert w[covered(D, row.sites, E)].sum() == pytest.approx(row.covered_weight)


def test_neighbour_starts_never_change_the_optimum():
    from geoplan.siting.maximal import prepare_mclp, reduced_value, solve_prepared

    rng = np.random.default_rng(77)
    for _ in range(30):
        D, w, E = awkward_instance(rng)
        n_c = D.shape[0]
        p = int(rng.integers(1, n_c + 1))
        cost, budget, quotas = random_constraints(rng, n_c)
        best = max((w[covered(D, s, E)].sum() for k in range(p + 1)
                    for s in itertools.combinations(range(n_c), k)
                    if meets(s, quotas, cost, budget)), default=None)
        if best is None:
            continue
        P = prepare_mclp(sp.csr_matrix(D), w, existing_reach=None if E is None else
                         sp.csr_matrix(E), cost=cost, budget=budget, quotas=quotas, p_check=p)
        n_r = P.R.cover.shape[0]
        # starts of every kind: too many sites, repeated sites, over budget, any subset
        starts = [list(rng.permutation(n_r)[: int(rng.integers(0, n_r + 1))])
                  for _ in range(4)] + [[0, 0]] + [list(range(n_r))]
        for method in ("exact", "greedy"):
            try:
                ans = solve_prepared(P, p, method=method, starts=starts)
            except InfeasibleError:
                assert method == "greedy"
                continue
            value = P.before + reduced_value(P.R, ans.sites)
            chosen = [int(P.R.cand[j]) for j in ans.sites]
            assert meets(chosen, quotas, cost, budget)
            assert value <= best + 1e-9 <= P.before + ans.bound_gain + 1e-6
            if method == "exact":
                assert value == pytest.approx(best)


def milp_mclp(reach, w, p):
    """The MCLP written out on the raw matrix (no merging, no dominance) for scipy's milp."""
    C = (sp.csr_matrix(reach) > 0).astype(float)
    n_c, n_d = C.shape
    A = sp.vstack([sp.hstack([-C.T, sp.identity(n_d)]),
                   sp.hstack([np.ones((1, n_c)), sp.csr_matrix((1, n_d))])], format="csr")
    res = milp(np.r_[np.zeros(n_c), -w],
               constraints=LinearConstraint(A, -np.inf, np.r_[np.zeros(n_d), p]),
               integrality=np.r_[np.ones(n_c), np.zeros(n_d)], bounds=(0, 1),
               options={"mip_rel_gap": 0})
    assert res.success
    return -res.fun


@pytest.mark.parametrize(("seed", "p"), [(0, 6), (1, 9), (2, 14)])
def test_mclp_equals_an_independent_milp_where_the_search_and_branching_run(seed, p):
    # big enough that the iterated swap search, the Lagrangian fixing and HiGHS's branch and
    # bound all run; the reference is the unreduced model solved by scipy
    from geoplan.datasets.siting_instances import synthetic_siting_instance

    inst = synthetic_siting_instance(700, 110, seed=seed)
    w = inst.pop_60plus
    res = siting.mclp(inst.reach, w, p)
    best = milp_mclp(inst.reach, w, p)
    assert res.objective == pytest.approx(best)
    assert res.bound >= best - 1e-6
    assert res.proven_optimal
    covered_w = w[np.asarray(inst.reach[res.selected].sum(axis=0)).ravel() > 0].sum()
    assert covered_w == pytest.approx(res.objective)


def test_iterated_swap_search_reports_what_its_sites_cover_and_finds_small_optima():
    from geoplan.siting._swap_kernel import iterated_swap_mclp
    from geoplan.siting.greedy import greedy_mclp

    rng = np.random.default_rng(5)
    for _ in range(40):
        n_c, n_d = int(rng.integers(4, 9)), int(rng.integers(5, 16))
        C = sp.csr_matrix((rng.random((n_c, n_d)) < rng.uniform(0.15, 0.5)).astype(float))
        Ct = sp.csr_matrix(C.T)
        w = rng.integers(1, 9, n_d).astype(float)
        p = int(rng.integers(1, n_c))
        start = greedy_mclp(C, Ct, w, p)
        sites, value = iterated_swap_mclp(C, Ct, w, start, rounds=200, kick=2)
        assert len(sites) == len(set(sites)) == len(start)
        got = w[np.asarray(C[sites].sum(axis=0)).ravel() > 0].sum()
        assert value == pytest.approx(got)
        best = max(w[np.asarray(C[list(s)].sum(axis=0)).ravel() > 0].sum()
                   for s in itertools.combinations(range(n_c), p))
        assert value == pytest.approx(best)
