"""Plan indicators: registries transcribed from the seeds, buckets, overrides, pipeline, checks.

The golden test reproduces the Xiamen mid-term classification published at seed 003 L40.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geoplan.errors import RuleError
from geoplan.indicators import (
    BEHIND,
    COMPLETED,
    DISCONTINUED,
    NOT_EVALUABLE,
    ON_TRACK,
    bucket_counts,
    evaluate_indicators,
    expected_value,
    list_registries,
    load_registry,
    time_share,
)
from geoplan.indicators.consistency import (
    check_component_sum,
    check_denominator_growth,
    check_results_vs_baselines,
    check_same_denominator,
    check_stated_change,
    check_stated_share,
    check_values_agree,
    findings_table,
    implied_denominator,
    scale_interval,
)
from geoplan.indicators.measures import (
    beds_per_1000_elderly,
    floor_area_per_100_households,
    nursing_bed_share,
    observations_from_layers,
    unit_coverage_share,
)
from geoplan.indicators.registry import Observation, Project, ProjectLink

REPO = Path(__file__).resolve().parents[1]
XIAMEN = "003_69bfed1fd2b15b68.txt"


@pytest.fixture(scope="module")
def seeds() -> Path:
    """Folder of the seed planning documents (``../shared/reference/seeds``); never skipped."""
    env = os.environ.get("GEOPLAN_SHARED_REFERENCE")
    path = (Path(env) if env else REPO.parent / "shared" / "reference") / "seeds"
    if not path.is_dir():
        pytest.fail(f"seed documents not found at {path}; set GEOPLAN_SHARED_REFERENCE")
    return path


def _seed_lines(seeds: Path, name: str) -> list[str]:
    return (seeds / name).read_text(encoding="utf-8").splitlines()


def _fmt(v: float) -> str:
    return f"{v:g}" if v != int(v) else str(int(v))


# ---------------------------------------------------------------- registries


def test_registries_have_the_published_sizes() -> None:
    assert set(list_registries()) >= {
        "jinjiang_14th",
        "nanan_14th",
        "xiamen_13th",
        "jinjiang_13th",
        "nanan_13th",
    }
    jj, na, xm = (load_registry(n) for n in ("jinjiang_14th", "nanan_14th", "xiamen_13th"))
    assert (len(jj.indicators), len(na.indicators), len(xm.indicators)) == (17, 13, 27)
    assert {i.no for i in jj.indicators if i.attribute == "约束性"} == {
        "5",
        "7",
        "8",
        "9",
        "14",
        "15",
    }
    assert {i.no for i in na.indicators if i.attribute == "约束性"} == {"2", "8", "9"}
    assert all(sorted(i.targets) == [2021, 2022, 2023, 2024, 2025] for i in jj.indicators)
    assert na.indicator("na14-13").targets == {2025: 100.0}  # L332: 该指标不作分解
    assert jj.indicator("jj14-04").base is None
    assert jj.indicator("jj14-04").base_note == "--"
    assert xm.indicator("xm-16").kind == "cumulative"


@pytest.mark.parametrize(
    ("registry", "seed"),
    [
        ("jinjiang_14th", "000_f59301587f3707e0.txt"),
        ("jinjiang_13th", "000_f59301587f3707e0.txt"),
        ("nanan_14th", "002_92524aa919853725.txt"),
        ("nanan_13th", "002_92524aa919853725.txt"),
    ],
)
def test_transcribed_values_sit_on_the_cited_lines(registry: str, seed: str, seeds: Path) -> None:
    """Base and every target of each indicator appear, in order, within its cited line range."""
    lines = _seed_lines(seeds, seed)
    reg = load_registry(registry)
    for ind in reg.indicators:
        cells = [c.strip() for c in lines[ind.lines[0] - 1 : ind.lines[-1]] if c.strip()]
        assert ind.name_zh[:6] in "".join(cells), (ind.id, cells)
        wanted = ([] if ind.base is None else [ind.base]) + [
            ind.targets[y] for y in sorted(ind.targets)
        ]
        found = [float(c) for c in cells if re.fullmatch(r"\d+(\.\d+)?", c)]
        it = iter(found)
        assert all(any(abs(w - f) < 1e-9 for f in it) for w in wanted), (ind.id, wanted, found)


def test_xiamen_table_rows_match_the_seed(seeds: Path) -> None:
    lines = _seed_lines(seeds, XIAMEN)
    reg = load_registry("xiamen_13th")
    obs = {o.indicator: o for o in reg.observations}
    for ind in reg.indicators:
        row = lines[ind.lines[0] - 1]
        assert row.startswith(ind.name_zh[:4]), row
        assert row.rstrip().endswith(ind.attribute), row
        numbers = re.findall(r"(?<![(\w])\d+(?:\.\d+)?(?![)\w])", row.split(")")[-1])
        expect = [ind.base, ind.final_target, obs[ind.id].value]
        assert [float(n) for n in numbers] == [float(v) for v in expect if v is not None], (
            row,
            expect,
        )


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "reg.toml"
    path.write_text(body, encoding="utf-8")
    return path


REG = """
[plan]
id = "t"
base_year = 2015
target_year = 2020
[[indicator]]
id = "a"
name_zh = "测试"
unit = "个"
base = 1
targets = { 2020 = 2 }
attribute = "约束性"
direction = "increase"
kind = "stock"
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'direction = "increase"',
            'direction = "up"',
            r"reg\.toml: indicator 'a': unknown direction 'up'",
        ),
        ('kind = "stock"', 'kind = "flow"', r"indicator 'a': unknown kind 'flow'"),
        ('unit = "个"\n', "", r"indicator 'a': missing 'unit'"),
        ("targets = { 2020 = 2 }", "targets = {}", r"indicator 'a': no targets"),
        ('attribute = "约束性"', 'attribute = "强制"', r"indicator 'a': unknown attribute '强制'"),
        ("base = 1", 'base = "一"', r"indicator 'a' base: expected a number"),
        ('id = "t"', "", r"missing \[plan\] table"),
    ],
)
def test_registry_errors(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        load_registry(_write(tmp_path, REG.replace(old, new)))


def test_registry_project_and_override_errors(tmp_path: Path) -> None:
    proj = (
        '\n[[project]]\nid = "p"\nname = "站"\nstatus = "{status}"\n'
        'links = [{{ indicator = "{ind}", adds = 1 }}]\n'
    )
    with pytest.raises(RuleError, match="project 'p': unknown status 'stalled'"):
        load_registry(_write(tmp_path, REG + proj.format(status="stalled", ind="a")))
    with pytest.raises(RuleError, match="project 'p': linked to unknown indicator 'b'"):
        load_registry(_write(tmp_path, REG + proj.format(status="building", ind="b")))
    with pytest.raises(RuleError, match="override for 'a' has no reason"):
        load_registry(
            _write(
                tmp_path,
                REG + '\n[[override]]\nindicator = "a"\nbucket = "未达到预期"\nreason = " "\n',
            )
        )
    with pytest.raises(RuleError, match="unknown bucket '落后'"):
        load_registry(
            _write(
                tmp_path, REG + '\n[[override]]\nindicator = "a"\nbucket = "落后"\nreason = "x"\n'
            )
        )
    with pytest.raises(RuleError, match="observation for 'zz'"):
        load_registry(
            _write(
                tmp_path,
                REG + '\n[[observation]]\nindicator = "zz"\nvalue = 1\nas_of = 2018-01-01\n',
            )
        )
    with pytest.raises(RuleError, match="needs a date 'as_of'"):
        load_registry(_write(tmp_path, REG + '\n[[observation]]\nindicator = "a"\nvalue = 1\n'))
    with pytest.raises(RuleError, match="unknown indicator registry 'mars'"):
        load_registry("mars")
    with pytest.raises(RuleError, match="indicator registry file not found"):
        load_registry(tmp_path / "none.toml")
    with pytest.raises(RuleError, match="not valid TOML"):
        load_registry(_write(tmp_path, "[plan"))
    with pytest.raises(RuleError, match="has no indicator 'zz'"):
        load_registry("xiamen_13th").indicator("zz")
    reg = load_registry(_write(tmp_path, REG))
    with pytest.raises(RuleError, match="need an as_of date"):
        evaluate_indicators(reg, {"a": 1.0})
    with pytest.raises(RuleError, match=r"not in registry 't': \['b'\]"):
        evaluate_indicators(reg, {"b": 1.0}, as_of=date(2018, 1, 1))
    with pytest.raises(RuleError, match="override for unknown indicator 'b'"):
        evaluate_indicators(
            reg,
            {"a": 1.0},
            as_of=date(2018, 1, 1),
            overrides=[{"indicator": "b", "bucket": BEHIND, "reason": "x"}],
        )


# ---------------------------------------------------------------- buckets


def _bucket(reg, iid: str, value: float | None, as_of: date, **kw) -> pd.Series:
    ev = evaluate_indicators(reg, {iid: value}, as_of=as_of, **kw)
    return ev.set_index("id").loc[iid]


def test_yearly_targets_are_the_schedule() -> None:
    jj = load_registry("jinjiang_14th")
    end23 = date(2023, 12, 31)
    assert _bucket(jj, "jj14-01", 1450, end23)["bucket"] == ON_TRACK  # 2023 target 1450
    assert _bucket(jj, "jj14-01", 1449, end23)["bucket"] == BEHIND
    assert _bucket(jj, "jj14-01", 1600, end23)["bucket"] == COMPLETED  # 2025 target reached early
    # mid-year: 1400 + 50 × 181/365 = 1424.79 expected at 2023-06-30
    mid = date(2023, 6, 30)
    assert expected_value(jj.indicator("jj14-01"), jj.base_date, mid) == pytest.approx(
        1400 + 50 * 181 / 365
    )
    assert _bucket(jj, "jj14-01", 1425, mid)["bucket"] == ON_TRACK
    assert _bucket(jj, "jj14-01", 1424, mid)["bucket"] == BEHIND
    # base "--": judged against the year's target directly
    row = _bucket(jj, "jj14-09", 57.5, end23)  # 约束性, 2023 target 58
    assert (row["bucket"], bool(row["binding_miss"])) == (BEHIND, True)
    assert _bucket(jj, "jj14-09", 58, end23)["bucket"] == ON_TRACK
    # hold at 100 (火化率, 约束性)
    row = _bucket(jj, "jj14-05", 99.9, end23)
    assert (row["bucket"], bool(row["binding_miss"])) == (BEHIND, True)
    assert _bucket(jj, "jj14-05", 100, end23)["bucket"] == COMPLETED
    assert _bucket(jj, "jj14-13", None, end23)["bucket"] == NOT_EVALUABLE
    assert evaluate_indicators(jj, {}, as_of=end23)["bucket"].eq(NOT_EVALUABLE).all()


def test_nanan_undivided_target_is_not_evaluable_before_2025() -> None:
    na = load_registry("nanan_14th")
    row = _bucket(na, "na14-13", 50, date(2023, 12, 31))
    assert row["bucket"] == NOT_EVALUABLE
    assert "无年度目标" in row["reason"]
    assert _bucket(na, "na14-13", 100, date(2023, 12, 31))["bucket"] == COMPLETED
    assert _bucket(na, "na14-05", 38, date(2023, 12, 31))["bucket"] == ON_TRACK  # 2023: 38 m²


def test_linear_time_share_without_yearly_targets(tmp_path: Path) -> None:
    body = REG.replace("base = 1", "base = 0").replace("2020 = 2", "2020 = 100")
    reg = load_registry(_write(tmp_path, body))
    as_of = date(2018, 6, 30)
    t = (as_of - date(2015, 12, 31)).days / (
        date(2020, 12, 31) - date(2015, 12, 31)
    ).days  # 912 / 1827
    assert time_share(reg.base_date, reg.target_date, as_of) == pytest.approx(t)
    assert _bucket(reg, "a", 50, as_of)["bucket"] == ON_TRACK  # 50 ≥ 49.92
    row = _bucket(reg, "a", 49, as_of)
    assert row["bucket"] == BEHIND
    assert row["pace_ratio"] == pytest.approx(49 / (100 * t))
    assert _bucket(reg, "a", 49, as_of, min_pace_ratio=0.9)["bucket"] == ON_TRACK


def test_decrease_ceiling_and_cumulative() -> None:
    xm = load_registry("xiamen_13th")
    nov = date(2018, 11, 30)
    t = 1065 / 1827
    row = _bucket(xm, "xm-07", 22.59, nov)  # 24.2 → 20: (24.2 − 22.59) / 4.2 = 0.3833
    assert row["progress_share"] == pytest.approx(1.61 / 4.2)
    assert row["pace_ratio"] == pytest.approx(1.61 / 4.2 / t)
    assert _bucket(xm, "xm-07", 19.9, nov)["bucket"] == COMPLETED
    assert _bucket(xm, "xm-01", 0.99, nov)["bucket"] == COMPLETED  # ceiling 1 万人
    assert _bucket(xm, "xm-01", 1.02, nov)["bucket"] == BEHIND
    row = _bucket(xm, "xm-16", 31.3145, nov)  # cumulative from 0: 31.3145 / 40
    assert row["progress_share"] == pytest.approx(31.3145 / 40)
    assert row["bucket"] == ON_TRACK


# ---------------------------------------------------------------- golden test: Xiamen mid-term, L40

# L40, verbatim groups (the report calls indicator 3 “城乡医疗救助人数”):
PUBLISHED = {
    COMPLETED: "城市低保享受人数、农村低保享受人数、每万人社会组织数、农村敬老院、"
    "灾害应急救助预案体系编制率、"
    "市级救灾物资储备库、区级以上避灾险场所覆盖率、市级福利中心、双拥模范城(区)数、退役士兵安置率、"
    "军休干部和无军籍职工接收安置率、社会组织培育发展、社会工作者人才队伍数、殡仪馆数、殡葬火化率、城乡骨灰存放设施覆盖率",
    ON_TRACK: "农村五保供养人数、农村五保集中供养率、区级福利中心、每千名老人拥有养老床位占有率、"
    "五年累计发行福利彩票量、"
    "城乡社区居家养老服务站(中心)数、社区工作站、社区便民服务网点数",
    BEHIND: "救助管理站、老年福利机构床位数",
    DISCONTINUED: "城乡医疗救助人数",
}


def test_published_groups_are_quoted_from_the_seed(seeds: Path) -> None:
    line40 = _seed_lines(seeds, XIAMEN)[39]
    for names in PUBLISHED.values():
        assert names in line40
    counts = dict(
        re.findall(
            r"等(\d+)项指标(已经完成|达到预期或预期可以完成|未达到预期|民政部门已不再统计)", line40
        )
    )
    assert counts == {
        "16": "已经完成",
        "8": "达到预期或预期可以完成",
        "2": "未达到预期",
        "1": "民政部门已不再统计",
    }


def test_xiamen_golden_classification() -> None:
    ev = evaluate_indicators(load_registry("xiamen_13th"))
    counts = bucket_counts(ev)
    assert counts[[COMPLETED, ON_TRACK, BEHIND, DISCONTINUED, NOT_EVALUABLE]].tolist() == [
        16,
        8,
        2,
        1,
        0,
    ]
    by_name = dict(
        zip(ev["name_zh"].replace({"医疗救助人数": "城乡医疗救助人数"}), ev["bucket"], strict=True)
    )
    for bucket, names in PUBLISHED.items():
        for name in names.split("、"):
            assert by_name[name] == bucket, name
    assert (ev["override_reason"] == "").all()  # reproduced without any manual override
    rows = ev.set_index("id")
    assert "湖里区社会福利中心(在建, +1, L336)" in rows.loc["xm-13", "pipeline_note"]
    assert "受阻(用地)" in rows.loc["xm-08", "pipeline_note"]
    assert bool(rows.loc["xm-08", "binding_miss"]) is True
    assert "规模未注明" in rows.loc["xm-14", "pipeline_note"]
    assert rows.loc["xm-03", "reason"].startswith("民政部门已不再统计")


def test_xiamen_golden_depends_on_stated_calibration() -> None:
    """The pace threshold is calibrated; outside (0.3676, 0.6576] the published result breaks."""
    reg = load_registry("xiamen_13th")
    strict = evaluate_indicators(reg, min_pace_ratio=1.0).set_index("id")["bucket"]
    assert strict[["xm-05", "xm-07", "xm-15"]].eq(BEHIND).all()
    low = evaluate_indicators(reg, min_pace_ratio=0.36).set_index("id")["bucket"]
    assert low["xm-14"] == ON_TRACK  # would contradict L40
    high = evaluate_indicators(reg, min_pace_ratio=0.66).set_index("id")["bucket"]
    assert high["xm-07"] == BEHIND  # would contradict L40


def test_pipeline_tells_building_from_site_lost() -> None:
    reg = load_registry("xiamen_13th")
    obs = {o.indicator: o for o in reg.observations}
    none = evaluate_indicators(reg, obs, projects=[]).set_index("id")
    assert none.loc["xm-13", "bucket"] == BEHIND  # 0 % progress, no project known
    building = Project("new", "某区福利中心", "building", (ProjectLink("xm-08", 1.0),))
    lifted = evaluate_indicators(reg, obs, projects=[building]).set_index("id")
    assert lifted.loc["xm-08", "bucket"] == ON_TRACK  # 0 % progress but under construction
    lost = Project("lost", "某区福利中心", "blocked_land", (ProjectLink("xm-08", 1.0),))
    planned = Project("plan", "某区福利中心", "planned", (ProjectLink("xm-08", 1.0),))
    for p in (lost, planned):
        assert (
            evaluate_indicators(reg, obs, projects=[p]).set_index("id").loc["xm-08", "bucket"]
            == BEHIND
        )
    unknown = Project("u", "某中心", "building", (ProjectLink("xm-08", None),))
    row = evaluate_indicators(reg, obs, projects=[unknown]).set_index("id").loc["xm-08"]
    assert row["bucket"] == BEHIND
    assert "规模未注明" in row["pipeline_note"]


def test_override_records_reason_and_keeps_auto_bucket() -> None:
    reg = load_registry("xiamen_13th")
    reason = "L306: 市级救灾物资储备库为租赁 1050㎡,与上级要求尚有差距"
    ev = evaluate_indicators(
        reg, overrides=[{"indicator": "xm-10", "bucket": BEHIND, "reason": reason}]
    ).set_index("id")
    row = ev.loc["xm-10"]
    assert (row["auto_bucket"], row["bucket"], row["override_reason"]) == (
        COMPLETED,
        BEHIND,
        reason,
    )
    assert bool(row["binding_miss"]) is True
    assert ev.loc["xm-09", "override_reason"] == ""


# ---------------------------------------------------------------- consistency checks on the seeds


def test_xiamen_component_and_change_checks() -> None:
    # L98: 新增养老服务床位1994张,其中机构1224、日间照料330、幸福院640 (sum 2194 = 11953 − 9759)
    f = check_component_sum(
        "新增养老服务床位", 1994, {"机构": 1224, "日间照料": 330, "幸福院": 640}, source="L98"
    )
    assert f is not None
    assert "2194" in f.message
    assert check_stated_change("新增养老服务床位", 1994, 9759, 11953, source="L25, L98") is not None
    assert check_stated_change("新增养老服务床位", 2194, 9759, 11953, source="L25, L98") is None
    # L58: 特困供养人员1172人,其中集中供养331人、分散供养845人
    assert (
        check_component_sum("特困供养人员", 1172, {"集中": 331, "分散": 845}, source="L58")
        is not None
    )
    # checks that pass: L98 beds, L106 orphans, L222 social organisations
    assert (
        check_component_sum(
            "养老服务床位",
            11953,
            {"机构": 9504, "幸福院": 1254, "日照": 540, "站": 655},
            source="L98",
        )
        is None
    )
    assert check_component_sum("孤儿", 369, {"集中": 298, "散居": 71}, source="L106") is None
    assert (
        check_component_sum(
            "社会组织",
            5598,
            {"社团": 1543, "民非": 1487, "基金会": 34, "社区": 2534},
            source="L222",
        )
        is None
    )


def test_xiamen_stated_shares() -> None:
    f = check_stated_share("民间资本运营养老床位占比", 8804, 11953, 74.9, source="L118")
    assert f is not None
    assert "73.66%" in f.message
    assert "11,754" in f.message
    assert check_stated_share("护理型床位占比", 8232, 9504, 86.6, source="L98") is None


def test_xiamen_implied_elderly_population_jumps_at_the_target() -> None:
    # L26 beds per 1000 older people with L25 beds: 2015, 2018-11, 2020 target
    est = [
        (2015.99, "2015", implied_denominator(9759, 32.7, 1000)[1]),
        (2018.92, "2018-11", implied_denominator(11953, 35.4, 1000)[1]),
        (2020.99, "2020 目标", implied_denominator(20000, 38.7, 1000)[1]),
    ]
    assert est[2][2] == pytest.approx(516_795.9, abs=1)
    f = check_denominator_growth("老年人口(由床位与千人床位数推算)", est, source="L25, L26")
    assert f is not None
    assert "2020 目标" in f.message
    assert check_denominator_growth("老年人口", est[:2], source="L25, L26") is None


def test_nanan_two_population_estimates_do_not_overlap() -> None:
    # 8761 beds at 38 per 1000 older people (L17), 60+ share 14.26 % (L436);
    # 708 social organisations at 4.2 per 10k people (L16, L95)
    from_beds = scale_interval(implied_denominator(8761, 38, 1000), 14.26)
    from_orgs = implied_denominator(708, 4.2, 10_000)
    assert from_beds[1] == pytest.approx(8761 / 0.038 / 0.1426)
    f = check_same_denominator(
        "南安总人口", {"床位推算": from_beds, "社会组织推算": from_orgs}, source="L16, L17, L436"
    )
    assert f is not None
    assert check_same_denominator("同一", {"a": (1, 2, 3), "b": (2.5, 3, 4)}, source="x") is None


def test_table_versus_text() -> None:
    # L16 text: 持证社工181人 (2020 底) vs 专栏1 row 11 2020 完成 323 (L123)
    assert check_values_agree("持证社工", {"L16 正文": 181, "专栏1 L123": 323}) is not None
    assert check_values_agree("护理型床位比例", {"专栏1 L81": 34.26, "专栏2 L201": 34.2}) is None
    assert check_values_agree("x", {"a": 100.0, "b": 99.0}) is not None


def test_results_versus_next_plan_baselines() -> None:
    jj = findings_table(
        check_results_vs_baselines(load_registry("jinjiang_13th"), load_registry("jinjiang_14th"))
    )
    # seed-000 §1.4 items 2–5: 低保比例 100 vs 45, 安葬设施覆盖率 100 vs 50,
    # 节地生态安葬率 100 vs 99, 儿童之家 100 vs --
    assert sorted(jj["subject"]) == sorted(
        [
            "最低生活保障标准占本市最低工资标准的比例",
            "镇村公益性安葬(放)设施覆盖率",
            "节地生态安葬率",
            "村居儿童之家覆盖率",
        ]
    )
    na = findings_table(
        check_results_vs_baselines(load_registry("nanan_13th"), load_registry("nanan_14th"))
    )
    assert na["subject"].tolist() == ["节地生态安葬率"]  # 89 vs 98; 34.26 vs 34.2 agree
    assert "89" in na["values"].iloc[0]
    assert "98" in na["values"].iloc[0]


# ---------------------------------------------------------------- indicators from spatial data


@pytest.fixture(scope="module")
def layers() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    x0, y0 = 500_000.0, 2_700_000.0
    cells = [box(x0 + 1000 * i, y0, x0 + 1000 * (i + 1), y0 + 1000) for i in range(3)]
    units = gpd.GeoDataFrame(
        {
            "code": ["T1", "T2", "V1", "V2", "V3"],
            "name": ["甲街道", "乙镇", "一村", "二村", "三村"],
            "level": ["town", "town", "village", "village", "village"],
            "parent_code": ["C", "C", "T1", "T2", "T2"],
            "households": [400, 600, 400, 200, 400],
        },
        geometry=[
            box(x0, y0, x0 + 1000, y0 + 1000),
            box(x0 + 1000, y0, x0 + 3000, y0 + 1000),
            *cells,
        ],
        crs=4549,
    )
    pts = [Point(x0 + 500, y0 + 500), Point(x0 + 1500, y0 + 500), Point(x0 + 2500, y0 + 500)]
    fac = gpd.GeoDataFrame(
        {
            "facility_type": [
                "community_center",
                "elderly_station",
                "nursing_home",
                "social_work_station",
                "columbarium",
                "children_home",
            ],
            "status": ["existing"] * 6,
            "admin_code": ["V1", "V2", "T2", "T1", "V3", "V1"],
            "floor_area_m2": [120.0, 80.0, 2000.0, 50.0, None, 30.0],
            "beds": [None, 10.0, 90.0, None, None, None],
            "nursing_beds": [None, None, 53.0, None, None, None],
        },
        geometry=[pts[0], pts[1], pts[2], pts[0], pts[2], pts[0]],
        crs=4549,
    )
    pop = gpd.GeoDataFrame({"pop_60plus": [500, 300, 200]}, geometry=cells, crs=4549)
    pop.attrs["sources"] = {"pop_60plus": {"source": "测试格网", "year": 2020}}
    return units, fac, pop


def test_spatial_measures(layers) -> None:
    units, fac, pop = layers
    m = floor_area_per_100_households(units, fac)
    # community service floor area: 120 + 80 + 50 + 30 = 280 m² over 1,000 households (towns) → 28
    assert (m.value, m.numerator, m.denominator) == (pytest.approx(28.0), 280.0, 1000.0)
    b = beds_per_1000_elderly(units, fac, population=pop)  # (10 + 90) beds / 1,000 aged 60+ × 1000
    assert b.value == pytest.approx(100.0)
    assert "测试格网" in b.source
    assert nursing_bed_share(units, fac).value == pytest.approx(5300 / 90)  # 53 / 90
    sw = unit_coverage_share(units, fac, facility_types=("social_work_station",), level="town")
    assert (sw.value, sw.numerator, sw.denominator) == (50.0, 1.0, 2.0)  # 社工站 in 1 of 2 镇街
    burial = unit_coverage_share(units, fac, facility_types=("columbarium",), level="village")
    assert burial.value == pytest.approx(100 / 3)
    none = beds_per_1000_elderly(units, fac)  # no population layer, no column → not computable
    assert none.value is None
    assert "缺少 pop_60plus" in none.source


def test_observations_from_layers_feed_the_engine(layers) -> None:
    units, fac, pop = layers
    reg = load_registry("jinjiang_14th")
    obs, table = observations_from_layers(reg, units, fac, as_of=date(2023, 12, 31), population=pop)
    assert set(obs) == {"jj14-04", "jj14-06", "jj14-09", "jj14-10", "jj14-11", "jj14-12", "jj14-15"}
    assert isinstance(obs["jj14-04"], Observation)
    ev = evaluate_indicators(reg, obs).set_index("id")
    assert ev.loc["jj14-04", "current"] == pytest.approx(28.0)
    assert ev.loc["jj14-04", "bucket"] == BEHIND  # 2023 target 30
    assert ev.loc["jj14-10", "bucket"] == COMPLETED  # 100 ≥ 45
    assert ev.loc["jj14-09", "bucket"] == ON_TRACK  # 58.9 % ≥ 2023 target 58, < 2025 target 60
    assert ev.loc["jj14-01", "bucket"] == NOT_EVALUABLE  # not computable from layers
    assert set(table["id"]) == set(obs)


def test_registry_structure_errors(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match=r"\[\[indicator\]\]: no indicators"):
        load_registry(_write(tmp_path, REG.split("[[indicator]]")[0]))
    with pytest.raises(RuleError, match=r"duplicate ids \['a'\]"):
        load_registry(_write(tmp_path, REG + "[[indicator]]" + REG.split("[[indicator]]")[1]))
    with pytest.raises(RuleError, match="missing 'id'"):
        load_registry(_write(tmp_path, REG.replace('id = "a"\n', 'no = "1"\n')))


# ---------------------------------------------------------------- values and dates as typed


def test_blank_and_odd_observed_values(tmp_path: Path) -> None:
    reg = load_registry(_write(tmp_path, REG))
    as_of = date(2018, 6, 30)
    for blank in (None, float("nan"), np.float32("nan"), pd.NA, "--", "——", " "):
        row = _bucket(reg, "a", blank, as_of)
        assert (row["bucket"], row["reason"]) == (NOT_EVALUABLE, "当前值缺失"), blank
    assert _bucket(reg, "a", "2", as_of)["bucket"] == COMPLETED  # numeric text
    assert _bucket(reg, "a", np.int64(2), as_of)["bucket"] == COMPLETED
    with pytest.raises(RuleError, match="observed value for 'a' must be a number, got '约2'"):
        evaluate_indicators(reg, {"a": "约2"}, as_of=as_of)


def test_dates_may_be_datetimes_timestamps_or_text(tmp_path: Path) -> None:
    reg = load_registry(_write(tmp_path, REG))
    t = (date(2018, 6, 30) - date(2015, 12, 31)).days / 1827
    for as_of in (datetime(2018, 6, 30, 12), pd.Timestamp("2018-06-30"), "2018-06-30"):
        row = _bucket(reg, "a", 1.5, as_of)
        assert row["time_share"] == pytest.approx(t)
        assert row["as_of"] == date(2018, 6, 30)
    with pytest.raises(RuleError, match="as_of must be a date"):
        evaluate_indicators(reg, {"a": 1.5}, as_of="六月底")


def test_hold_at_100_without_a_base_is_still_judged(tmp_path: Path) -> None:
    body = REG.replace('direction = "increase"', 'direction = "hold_100"')
    body = body.replace("base = 1\n", "").replace("2020 = 2", "2020 = 100")
    reg = load_registry(_write(tmp_path, body))
    row = _bucket(reg, "a", 99.0, date(2018, 6, 30))
    assert (row["bucket"], bool(row["binding_miss"])) == (BEHIND, True)
    assert _bucket(reg, "a", 100.0, date(2018, 6, 30))["bucket"] == COMPLETED


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("base_year = 2015\n", "", r"\[plan\]: base_year must be a year"),
        ("target_year = 2020", "target_year = 2015", "target_year 2015 must be after base_year"),
        ("2020 = 2", '"2020年" = 2', "target year must be a number"),
        ("2020 = 2", "2022 = 2", r"target year\(s\) \[2022\] outside the plan period 2016–2020"),
        ("2020 = 2", "2020 = 0", "direction increase but the final target 0 is below the base 1"),
        (
            'direction = "increase"',
            'direction = "decrease"',
            "direction decrease but the final target 2 is above the base 1",
        ),
        ('direction = "increase"', 'direction = "hold_100"', "hold_100 needs every target = 100"),
    ],
)
def test_plan_years_and_targets_that_contradict_the_direction(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in REG
    with pytest.raises(RuleError, match=message):
        load_registry(_write(tmp_path, REG.replace(old, new)))


def test_measures_on_a_villages_only_layer_and_unrecorded_capacity(layers) -> None:
    units, fac, _ = layers
    villages = units[units["level"] == "village"]
    m = floor_area_per_100_households(villages, fac)
    # the same 280 m² over the villages' 1,000 households
    assert (m.value, m.denominator) == (pytest.approx(28.0), 1000.0)
    assert "各村社合计" in m.source
    blank = fac.assign(floor_area_m2=np.nan)
    none = floor_area_per_100_households(units, blank)
    assert none.value is None
    assert "不能按 0 计" in none.note


def test_xiamen_averages_per_community_do_not_add_up() -> None:
    # L202: 社区社会组织2534个, 平均每个城市社区6.91个、每个农村社区3.28个;
    # L260: 353 个城市社区; L94: 508 个村居 → 155 农村社区.
    # 353 × 6.91 + 155 × 3.28 = 2439.23 + 508.4 = 2947.63; the averages' rounding
    # (± 0.005 each) allows only ± (353 + 155) × 0.005 = ± 2.54.
    parts = {"城市社区 353 × 6.91": 353 * 6.91, "农村社区 155 × 3.28": 155 * 3.28}
    f = check_component_sum("社区社会组织", 2534, parts, source="L202, L260, L94", tolerance=2.54)
    assert f is not None
    assert "2947.63" in f.message
    # L188: 47万 m² at an average of 924 m² per community implies 508.7 communities ≈ 508 村居
    low, mid, high = implied_denominator(470_000, 924, 1)
    assert low <= 508.7 <= high
    assert round(mid) == 509
