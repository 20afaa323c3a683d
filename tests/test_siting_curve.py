"""The coverage curve: every point against an independent exact solve, bounds, fewest sites."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from geoplan import siting
from geoplan.datasets.siting_instances import synthetic_siting_instance
from geoplan.errors import SchemaError
from geoplan.siting import progress as siting_progress
from geoplan.siting.curve import knee_p


def brute_best(D, w, p, E=None, ok=lambda s: True):
    """Best covered weight with up to ``p`` sites (rows of ``D``), existing rows ``E`` fixed."""
    base = (E > 0).any(axis=0) if E is not None else np.zeros(D.shape[1], bool)
    best = None
    for k in range(min(p, D.shape[0]) + 1):
        for s in itertools.combinations(range(D.shape[0]), k):
            if ok(s):
                cov = base | ((D[list(s)] > 0).any(axis=0) if s else False)
                v = float(w[cov].sum())
                best = v if best is None else max(best, v)
    return best


@pytest.fixture(scope="module")
def small_instance():
    inst = synthetic_siting_instance(500, 60, n_existing=3, seed=7)
    return inst


@pytest.fixture(scope="module")
def small_curve(small_instance):
    inst = small_instance
    return siting.coverage_curve(inst.reach, inst.pop_60plus, range(0, 13),
                                 existing_reach=inst.existing_reach)


def test_each_point_equals_an_independent_exact_solve(small_instance, small_curve):
    inst, cv = small_instance, small_curve
    t = cv.table
    assert t["p"].tolist() == list(range(13))
    for p in range(13):
        alone = siting.mclp(inst.reach, inst.pop_60plus, p, existing_reach=inst.existing_reach)
        row = t.set_index("p").loc[p]
        assert alone.gap == 0.0
        assert row["covered_weight"] == pytest.approx(alone.objective)
        # the bound never falls below the optimum, and the answer is what its sites cover
        assert row["upper_bound"] >= alone.objective - 1e-9
        assert row["proven_optimal"]
        assert row["gap"] == 0.0
        cov = np.asarray(inst.existing_reach.sum(axis=0)).ravel() > 0
        sites = list(row["sites"])
        assert len(sites) == len(set(sites)) <= p
        if sites:
            cov |= np.asarray(inst.reach[sites].sum(axis=0)).ravel() > 0
        assert float(inst.pop_60plus[cov].sum()) == pytest.approx(row["covered_weight"])
    assert t["covered_weight"].is_monotonic_increasing
    assert (t["upper_bound"] >= t["covered_weight"]).all()
    assert t["covered_share"].iloc[-1] <= 1.0
    assert t["new_weight"].tolist() == pytest.approx(
        (t["covered_weight"] - cv.weight_before).tolist())


def test_lscp_point_ends_the_curve(small_instance, small_curve):
    inst, cv = small_instance, small_curve
    ls = siting.lscp(inst.reach, inst.pop_60plus, existing_reach=inst.existing_reach,
                     uncoverable="ignore")
    assert cv.lscp is not None
    assert len(cv.lscp.selected) == len(ls.selected)
    k = len(ls.selected)
    assert cv.reachable_weight == pytest.approx(ls.weight_after)
    later = cv.table[cv.table["p"] >= k]
    assert not later.empty  # the fixture's range passes the LSCP point
    assert np.allclose(later["covered_weight"], cv.reachable_weight)
    before = cv.table[cv.table["p"] < k]
    assert (before["upper_bound"] < cv.reachable_weight).all()


def test_curve_on_awkward_instances_matches_brute_force():
    rng = np.random.default_rng(11)
    for _ in range(12):
        n_c, n_d = int(rng.integers(2, 7)), int(rng.integers(1, 12))
        D = np.round(rng.uniform(1, 1000, (n_c, n_d))) * (rng.random((n_c, n_d)) < .4)
        D[rng.integers(n_c)] = D[rng.integers(n_c)]
        w = rng.integers(0, 6, n_d).astype(float)
        E = np.round(rng.uniform(1, 1000, (1, n_d))) * (rng.random((1, n_d)) < .3) \
            if rng.random() < 0.5 else None
        kw = {"existing_reach": None if E is None else sp.csr_matrix(E)}
        cv = siting.coverage_curve(sp.csr_matrix(D), w, range(n_c + 1), **kw)
        for p, v, ub in cv.table[["p", "covered_weight", "upper_bound"]].itertuples(
                index=False):
            best = brute_best(D, w, p, E)
            assert v == pytest.approx(best)
            assert ub >= best - 1e-9


def test_curve_with_budget_and_quotas_matches_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(8):
        n_c, n_d = 6, 12
        D = np.round(rng.uniform(1, 1000, (n_c, n_d))) * (rng.random((n_c, n_d)) < .35)
        w = rng.integers(1, 6, n_d).astype(float)
        cost = rng.integers(1, 4, n_c).astype(float)
        labels = np.array([0, 0, 0, 1, 1, 1])
        quotas = siting.quotas_from_labels(labels, {1: 1})
        budget = 5.0

        def ok(s, cost=cost, budget=budget):
            return cost[list(s)].sum() <= budget and any(j >= 3 for j in s)

        cv = siting.coverage_curve(sp.csr_matrix(D), w, [0, 1, 2, 3, 4], cost=cost,
                                   budget=budget, quotas=quotas)
        assert cv.lscp is None  # no LSCP point with a budget
        t = cv.table.set_index("p")
        assert t.loc[0, "status"] == "Infeasible"  # the quota needs a site
        assert not t.loc[0, "proven_optimal"]
        for p in range(1, 5):
            assert t.loc[p, "covered_weight"] == pytest.approx(brute_best(D, w, p, ok=ok))
            assert t.loc[p, "upper_bound"] >= t.loc[p, "covered_weight"]
            sites = list(t.loc[p, "sites"])
            assert cost[sites].sum() <= budget
            assert ok(sites)


def test_fewest_sites_for_share_is_the_brute_force_minimum(small_instance, small_curve):
    inst, cv = small_instance, small_curve
    w = inst.pop_60plus
    for share in (0.5, 0.8, 0.9, 0.99):
        ans = siting.fewest_sites_for_share(cv, share)
        assert ans.covered_share >= share
        assert ans.proven
        smaller = cv.table.set_index("p").loc[ans.p - 1]
        assert smaller["upper_bound"] < share * w.sum()
        exact = siting.lscp(inst.reach, w, existing_reach=inst.existing_reach,
                            target_share=share)
        assert ans.p == len(exact.selected)
    full = siting.fewest_sites_for_share(cv, cv.reachable_weight / cv.total_weight)
    assert full.p == len(cv.lscp.selected)
    assert full.proven


def test_fewest_sites_unproven_or_out_of_reach():
    inst = synthetic_siting_instance(300, 40, seed=5)
    w = inst.pop_60plus
    cv = siting.coverage_curve(inst.reach, w, [3, 4], with_lscp=False)
    share = float(cv.table.loc[cv.table["p"] == 3, "covered_share"].iloc[0])
    ans = siting.fewest_sites_for_share(cv, share)
    assert ans.p == 3
    assert not ans.proven
    beyond = siting.fewest_sites_for_share(cv, 1.0)
    if cv.table["covered_share"].max() < 1.0:
        assert beyond.p is None
        assert not beyond.proven
    with pytest.raises(SchemaError, match="share"):
        siting.fewest_sites_for_share(cv, 1.5)


def test_knee_of_a_bending_curve():
    table = pd.DataFrame({"p": [1, 2, 3, 4, 5, 6],
                          "covered_weight": [10.0, 50.0, 80.0, 85.0, 87.0, 88.0]})
    assert knee_p(table) == 3
    assert knee_p(table.iloc[:2]) is None
    assert knee_p(pd.DataFrame({"p": [1, 2, 3], "covered_weight": [1.0, 2.0, 3.0]})) is None


@pytest.mark.parametrize("ps", [[], [-1], [2.5], "abc"])
def test_bad_ps_are_refused(ps):
    R = sp.csr_matrix(np.array([[100.0, 0], [0, 50.0]]))
    with pytest.raises(SchemaError):
        siting.coverage_curve(R, np.ones(2), ps)


def test_progress_reports_incumbent_bound_and_gap(caplog, capsys, monkeypatch):
    R = sp.csr_matrix(np.array([[100.0, 0, 30], [0, 50.0, 0], [80, 0, 0]]))
    w = np.array([3.0, 2.0, 1.0])
    reports = []
    res = siting.mclp(R, w, 1, cost=np.ones(3), budget=1.0, progress=reports.append)
    assert reports
    assert reports[-1].done
    assert reports[-1].incumbent == pytest.approx(res.objective)
    assert reports[-1].bound >= res.objective
    assert reports[-1].gap == pytest.approx(0.0)
    assert res.proven_optimal
    # quiet by default: nothing on the terminal, nothing logged
    siting.mclp(R, w, 1, cost=np.ones(3), budget=1.0)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(siting_progress, "QUIET_FIRST_S", 0.0)
    monkeypatch.setattr(siting_progress, "REPORT_EVERY_S", 0.0)
    with caplog.at_level(logging.INFO, logger="geoplan.siting.progress"):
        siting.mclp(R, w, 1, cost=np.ones(3), budget=1.0, progress="log")
    assert any("incumbent" in r.getMessage() and "gap" in r.getMessage()
               for r in caplog.records)
    siting.coverage_curve(R, w, [1, 2], progress=True)
    assert "覆盖曲线" in capsys.readouterr().err
    with pytest.raises(SchemaError, match="progress"):
        siting.mclp(R, w, 1, progress="loud")


def test_chinese_curve_table_and_chart(small_instance, small_curve, tmp_path):
    from geoplan.report import charts as plotting
    from geoplan.siting.tables import coverage_curve_table

    cv = small_curve
    ids = [f"候选{j:03d}" for j in range(small_instance.reach.shape[0])]
    zh = coverage_curve_table(cv.table, site_ids=ids)
    assert list(zh.columns) == ["新增站点数", "覆盖老年人口", "覆盖率", "上界", "差距",
                                "是否已证明最优", "用时(秒)", "站点"]
    assert zh["新增站点数"].tolist() == cv.table["p"].tolist()
    assert set(zh["是否已证明最优"]) == {"是"}
    row = zh.iloc[3]
    assert row["站点"].count("候选") == len(cv.table["sites"].iloc[3])
    with pytest.raises(SchemaError):
        coverage_curve_table(cv.table.drop(columns=["upper_bound"]))
    k = knee_p(cv.table)
    fig = plotting.coverage_curve_chart(cv.table, total_weight=cv.total_weight, knee_p=k,
                                        lscp_p=len(cv.lscp.selected),
                                        lscp_weight=cv.lscp.weight_after)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(label.startswith(f"拐点：{k} 处") for label in labels)
    assert any(label.startswith(f"全部可达需求覆盖：{len(cv.lscp.selected)} 处")
               for label in labels)
    assert fig.axes[0].get_xlabel() == "新增站点数"
    png = plotting.figure_png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 5000


def test_lscp_and_p_median_report_progress_too():
    R = sp.csr_matrix(np.array([[100.0, 0, 30, 0], [0, 50.0, 0, 40], [80, 0, 0, 70]]))
    w = np.array([3.0, 2.0, 1.0, 4.0])
    for solve in (lambda cb: siting.lscp(R, w, progress=cb),
                  lambda cb: siting.p_median(R, w, 2, progress=cb)):
        reports = []
        res = solve(reports.append)
        assert reports[-1].done
        assert reports[-1].incumbent == pytest.approx(res.objective)
        assert res.proven_optimal
