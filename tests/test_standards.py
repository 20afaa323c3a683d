"""Standards as cited data: rule loading/validation and every rule family on hand-built units.

Expected values are worked out by hand in comments next to each assertion.
"""

from __future__ import annotations

import math
import os
from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geoplan.errors import CRSError, RuleError
from geoplan.standards import (
    compliance_gdf,
    evaluate_standards,
    list_profiles,
    load_profile,
    required_staff,
    shortfall_amount,
    years_to_exhaustion,
)

X0, Y0 = 500_000.0, 2_700_000.0
EPSG = 4549
T1, T2 = "350582001000", "350582100000"
V11, V12, V21, V22 = "350582001001", "350582001002", "350582100001", "350582100002"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def seeds() -> Path:
    """Folder of the seed planning documents (``../shared/reference/seeds``); never skipped."""
    env = os.environ.get("GEOPLAN_SHARED_REFERENCE")
    path = (Path(env) if env else REPO.parent / "shared" / "reference") / "seeds"
    if not path.is_dir():
        pytest.fail(f"seed documents not found at {path}; set GEOPLAN_SHARED_REFERENCE")
    return path


def _cell(i: int) -> object:
    """The i-th 1 km × 1 km square along x."""
    return box(X0 + 1000 * i, Y0, X0 + 1000 * (i + 1), Y0 + 1000)


def _pt(i: int, dx: float = 500.0) -> Point:
    return Point(X0 + 1000 * i + dx, Y0 + 500)


@pytest.fixture(scope="module")
def admin_units() -> gpd.GeoDataFrame:
    rows = [
        (
            T1,
            "青阳街道",
            "town",
            "街道",
            "350582",
            1500,
            30000,
            None,
            box(X0, Y0, X0 + 2000, Y0 + 1000),
        ),
        (
            T2,
            "安海镇",
            "town",
            "镇",
            "350582",
            800,
            120000,
            None,
            box(X0 + 2000, Y0, X0 + 4000, Y0 + 1000),
        ),
        (V11, "青阳社区A", "village", "社区", T1, 1000, None, "new", _cell(0)),
        (V12, "青阳社区B", "village", "社区", T1, 500, None, "old", _cell(1)),
        (V21, "安海村A", "village", "村", T2, 0, None, "old", _cell(2)),
        (V22, "安海村B", "village", "村", T2, 800, None, "new", _cell(3)),
    ]
    cols = [
        "code",
        "name",
        "level",
        "kind",
        "parent_code",
        "households",
        "pop_registered",
        "development",
        "geometry",
    ]
    gdf = gpd.GeoDataFrame(pd.DataFrame(rows, columns=cols), geometry="geometry", crs=EPSG)
    gdf.index = gdf["code"]
    gdf.attrs["sources"] = {
        "households": {"source": "测试户数表", "year": 2020},
        "pop_registered": {"source": "测试户籍人口", "year": 2022},
    }
    return gdf


@pytest.fixture(scope="module")
def facilities() -> gpd.GeoDataFrame:
    rows = [
        ("f1", "community_center", "existing", V11, 250, None, None, None, None, _pt(0)),
        ("f2", "community_center", "existing", V12, 200, None, None, None, None, _pt(1)),
        ("f3", "community_center", "existing", V21, 100, None, None, None, None, _pt(2)),
        ("f5", "community_center", "planned", V22, 500, None, None, None, None, _pt(3)),
        ("f6", "elderly_station", "existing", V11, 300, 10, None, None, None, _pt(0, 200)),
        ("f7", "elderly_station", "existing", None, 450, 0, None, None, None, _pt(3, 200)),
        ("f8", "nursing_home", "existing", V12, 3000, 100, 55, None, None, _pt(1, 200)),
        ("f9", "nursing_home", "existing", T2, 5000, 200, 130, None, None, _pt(2, 200)),
        ("f10", "social_work_station", "existing", T1, 80, None, None, None, None, _pt(0, 700)),
        ("f11", "children_home", "existing", V11, 60, None, None, None, None, _pt(0, 800)),
        ("f12", "children_home", "existing", V22, 60, None, None, None, None, _pt(3, 800)),
        ("f13", "columbarium", "existing", V22, None, None, None, 1000, 800, _pt(3, 900)),
        ("f14", "columbarium", "existing", "350582", None, None, None, 10000, 2000, _pt(1, 900)),
        ("f15", "care_center", "existing", T1, 600, 20, 10, None, None, _pt(1, 600)),
    ]
    cols = [
        "facility_id",
        "facility_type",
        "status",
        "admin_code",
        "floor_area_m2",
        "beds",
        "nursing_beds",
        "niches_total",
        "niches_used",
        "geometry",
    ]
    gdf = gpd.GeoDataFrame(pd.DataFrame(rows, columns=cols), geometry="geometry", crs=EPSG)
    gdf.index = gdf["facility_id"]
    return gdf


@pytest.fixture(scope="module")
def population() -> gpd.GeoDataFrame:
    # one cell per village: pop_60plus T1 = 4000 + 6000, T2 = 3000 + 7000;
    # pop T1 = 25000, T2 = 28000
    gdf = gpd.GeoDataFrame(
        {
            "cell_id": ["c0", "c1", "c2", "c3"],
            "pop": [10000, 15000, 8000, 20000],
            "pop_60plus": [4000, 6000, 3000, 7000],
        },
        geometry=[_cell(i) for i in range(4)],
        crs=EPSG,
    )
    gdf.attrs["sources"] = {
        "pop_60plus": {"source": "测试格网", "year": 2020},
        "pop": {"source": "测试格网", "year": 2020},
    }
    return gdf


@pytest.fixture(scope="module")
def staff() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "admin_code": [T1, T2, T2, T1, T2],
            "role": [
                "social_assistance_officer",
                "social_assistance_officer",
                "minor_protection_officer",
                "social_worker",
                "social_worker",
            ],
            "count": [1, 4, 1, 12, 5],
        }
    )


@pytest.fixture(scope="module")
def jinjiang_results(admin_units, facilities, population, staff) -> pd.DataFrame:
    return evaluate_standards(
        load_profile("jinjiang"),
        admin_units,
        facilities,
        population=population,
        staff=staff,
        reference_date=date(2023, 6, 30),
    )


def _one(results: pd.DataFrame, rule_id: str, code: str) -> pd.Series:
    sel = results[(results["rule_id"] == rule_id) & (results["unit_code"] == code)]
    assert len(sel) == 1, sel
    return sel.iloc[0]


# ---------------------------------------------------------------- profiles and validation


def test_builtin_profiles_load_with_citations() -> None:
    assert set(list_profiles()) >= {"national", "jinjiang", "nanan", "xiamen", "benxi", "taishang"}
    jj = load_profile("jinjiang")
    assert jj.chain == ("national", "jinjiang")
    for rule in jj.rules:
        assert rule.unit, rule.id
        assert rule.sources, rule.id
    rule = jj.rule("elderly_area_new_housing")
    assert rule.threshold == 40
    assert rule.sources[0].lines == (735,)
    assert jj.rule("elderly_site_min_new_housing").threshold == 400
    nanan = load_profile("nanan")
    assert nanan.rule("elderly_area_new_areas").threshold == 30
    assert nanan.rule("elderly_area_old_areas").threshold == 20
    assert nanan.rule("nursing_beds_per_1000_elderly").threshold == 14
    assert jj.rule("nursing_beds_per_1000_elderly").threshold == 12
    assert nanan.rule("community_service_area_trajectory").thresholds_by_year[2025] == 40
    assert load_profile("xiamen").rule("columbarium_years").params["death_rate_per_1000"] == 3.1
    assert "minor_protection_per_town" not in {r.id for r in load_profile("taishang").rules}


def test_cited_lines_contain_the_quoted_rule_text(seeds: Path) -> None:
    """Every quote in the built-in profiles is found on one of its cited seed lines."""
    checked = 0
    for name in list_profiles():
        for rule in load_profile(name).rules:
            for src in rule.sources:
                if not (src.file and src.quote and src.lines):
                    continue
                lines = (seeds / src.file).read_text(encoding="utf-8").splitlines()
                text = "".join(lines[n - 1] for n in src.lines)
                for piece in src.quote.split("; "):
                    assert piece[:20] in text, (name, rule.id, src.lines, piece)
                checked += 1
    assert checked >= 25


def test_yearly_threshold_selection() -> None:
    rule = load_profile("jinjiang").rule("beds_per_1000_elderly")
    assert rule.threshold_for(2023) == (43, 2023)
    assert rule.threshold_for(2020) == (41, 2021)  # before the first year: the first target
    assert rule.threshold_for(2030) == (45, 2025)
    assert rule.threshold_for(None) == (45, None)


def _write(tmp_path: Path, body: str, name: str = "user.toml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


RULE_OK = """
[[rule]]
id = "x"
family = "presence"
name_zh = "测试"
unit = "处"
threshold = 1
levels = ["town"]
facility_types = ["social_work_station"]
[[rule.source]]
document = "测试文件"
lines = [1]
"""


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ('unit = "处"\n', r"user\.toml: rule 'x': missing 'unit'"),
        ("threshold = 1\n", r"user\.toml: rule 'x': missing 'threshold'"),
        ('family = "presence"\n', r"rule 'x': missing 'family'"),
        (
            '[[rule.source]]\ndocument = "测试文件"\nlines = [1]\n',
            r"rule 'x': no \[\[rule.source\]\] citation",
        ),
        (
            'facility_types = ["social_work_station"]\n',
            r"rule 'x': family 'presence' needs \['facility_types'\]",
        ),
    ],
)
def test_rule_file_errors_name_file_and_rule(tmp_path: Path, drop: str, message: str) -> None:
    body = '[profile]\nname = "user"\n' + RULE_OK.replace(drop, "")
    with pytest.raises(RuleError, match=message):
        load_profile(_write(tmp_path, body))


def test_more_rule_errors(tmp_path: Path) -> None:
    head = '[profile]\nname = "user"\n'
    with pytest.raises(RuleError, match="unknown comparator '=>'"):
        load_profile(
            _write(
                tmp_path,
                head + RULE_OK.replace("threshold = 1", 'threshold = 1\ncomparator = "=>"'),
            )
        )
    with pytest.raises(RuleError, match="threshold must be a number"):
        load_profile(_write(tmp_path, head + RULE_OK.replace("threshold = 1", 'threshold = "一"')))
    with pytest.raises(RuleError, match=r"duplicate rule id\(s\) \['x'\]"):
        load_profile(_write(tmp_path, head + RULE_OK + RULE_OK))
    with pytest.raises(RuleError, match="unknown level"):
        load_profile(
            _write(tmp_path, head + RULE_OK.replace('levels = ["town"]', 'levels = ["province"]'))
        )
    with pytest.raises(RuleError, match="gives no line, clause or note"):
        load_profile(_write(tmp_path, head + RULE_OK.replace("lines = [1]\n", "")))
    with pytest.raises(RuleError, match="missing \\[profile\\] table"):
        load_profile(_write(tmp_path, RULE_OK))
    with pytest.raises(RuleError, match="not valid TOML"):
        load_profile(_write(tmp_path, "[profile\n"))
    with pytest.raises(RuleError, match="unknown rule profile 'shanghai'"):
        load_profile("shanghai")
    with pytest.raises(RuleError, match="rule profile file not found"):
        load_profile(tmp_path / "missing.toml")
    with pytest.raises(RuleError, match="inheritance cycle"):
        load_profile(
            _write(tmp_path, '[profile]\nname = "loop"\nextends = "user.toml"\n', "user.toml")
        )
    with pytest.raises(RuleError, match="'disable' names rules that the parent does not have"):
        load_profile(
            _write(tmp_path, '[profile]\nname = "u"\nextends = "national"\ndisable = ["nope"]\n')
        )
    with pytest.raises(RuleError, match="has no rule 'nope'"):
        load_profile("national").rule("nope")


def test_bracket_and_ratio_param_errors(tmp_path: Path) -> None:
    body = load_profile("national").rule("assistance_officers_by_registered_pop").file
    text = Path(body).read_text(encoding="utf-8")
    bad = text.replace("{ below = 50000, staff = 2 }", "{ below = 10000, staff = 2 }")
    with pytest.raises(RuleError, match="must rise and end with inf"):
        load_profile(_write(tmp_path, bad))
    bad = text.replace(
        'denominator = { source = "quantity", name = "households" }',
        'denominator = { source = "guess" }',
        1,
    )
    with pytest.raises(RuleError, match="denominator needs source"):
        load_profile(_write(tmp_path, bad))


def test_user_profile_extends_builtin_and_overrides(
    tmp_path: Path, admin_units, facilities
) -> None:
    body = """
[profile]
name = "my-county"
extends = "national"
disable = ["social_workers_per_100_beds"]

[[rule]]
id = "community_area_per_100hh"
family = "ratio"
name_zh = "每百户社区服务设施面积(本地加严)"
unit = "m²/百户"
shortfall_unit = "m²"
threshold = 45
levels = ["town"]
numerator = { source = "facilities", types = ["community_center"], column = "floor_area_m2" }
denominator = { source = "quantity", name = "households" }
per = 100
[[rule.source]]
document = "本地文件"
clause = "第3条"
"""
    prof = load_profile(_write(tmp_path, body))
    assert prof.chain == ("national", "my-county")
    assert "social_workers_per_100_beds" not in {r.id for r in prof.rules}
    res = evaluate_standards(prof, admin_units, facilities)
    row = _one(res, "community_area_per_100hh", T1)
    # T1: (250 + 200) m² / (1500 / 100) = 30 < 45 → shortfall 45 × 15 − 450 = 225 m²
    assert row["value"] == pytest.approx(30.0)
    assert row["status"] == "fail"
    assert row["shortfall"] == pytest.approx(225.0)
    assert row["clause"] == "本地文件 第3条"


# ---------------------------------------------------------------- arithmetic helpers


def test_shortfall_amount_whole_and_strict() -> None:
    assert shortfall_amount(55, 0.6 * 100, ">", True) == 6  # need 61 nursing beds of 100 for > 60 %
    assert shortfall_amount(60, 0.6 * 100, ">", True) == 1  # exactly 60 % is not "超过60%"
    assert shortfall_amount(60, 60.0, ">=", True) == 0
    assert shortfall_amount(250, 300.0, ">=", False) == 50
    assert shortfall_amount(12, 10.0, "<=", True) == 2
    assert shortfall_amount(10, 10.0, "<", True) == 1


def test_required_staff_brackets() -> None:
    brackets = (
        load_profile("national").rule("assistance_officers_by_registered_pop").params["brackets"]
    )
    assert [
        required_staff(p, brackets) for p in (0, 19999, 20000, 49999, 50000, 99999, 100000, 2e6)
    ] == [
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        4,
    ]


def test_years_to_exhaustion_never_inf() -> None:
    # Xiamen pools (L124) for 1 million people at 3.1‰: 3,100 deposits a year
    assert years_to_exhaustion(148_900 + 199_000, 1_000_000, 3.1) == pytest.approx(347_900 / 3100)
    assert math.isnan(years_to_exhaustion(100, 0, 3.1))


# ---------------------------------------------------------------- rule families on hand-built units


def test_floor_area_per_100_households(jinjiang_results: pd.DataFrame) -> None:
    r = jinjiang_results
    v11 = _one(r, "community_area_per_100hh", V11)  # 250 / 10 = 25 < 30 → short 300 − 250 = 50 m²
    assert (v11["value"], v11["status"], v11["shortfall"]) == (
        pytest.approx(25.0),
        "fail",
        pytest.approx(50.0),
    )
    assert v11["denominator"] == 1000
    assert v11["denominator_name"] == "户数"
    assert "测试户数表" in v11["denominator_source"]
    assert v11["denominator_year"] == "2020"
    assert "L835" in v11["clause"]
    assert bool(v11["passed"]) is False
    v12 = _one(r, "community_area_per_100hh", V12)  # 200 / 5 = 40
    assert (v12["value"], v12["status"], v12["shortfall"]) == (pytest.approx(40.0), "pass", 0)
    v22 = _one(r, "community_area_per_100hh", V22)  # only a planned centre: 0 → short 240 m²
    assert (v22["value"], v22["shortfall"]) == (0, pytest.approx(240.0))
    t1 = _one(r, "community_area_per_100hh", T1)  # 450 / 15 = 30 → passes (≥)
    assert (t1["value"], t1["status"]) == (pytest.approx(30.0), "pass")
    county = _one(r, "community_area_per_100hh", "350582")  # 550 / 23 = 23.91 → short 690 − 550
    assert county["unit_name"] == "全域"
    assert county["value"] == pytest.approx(550 / 23)
    assert county["shortfall"] == pytest.approx(140.0)


def test_zero_households_is_not_computable_not_zero(jinjiang_results: pd.DataFrame) -> None:
    row = _one(jinjiang_results, "community_area_per_100hh", V21)
    assert row["status"] == "not_computable"
    assert pd.isna(row["value"])
    assert pd.isna(row["passed"])
    assert "分母为 0" in row["reason"]
    assert not jinjiang_results["value"].isin([math.inf, -math.inf]).any()


def test_elderly_area_new_housing_and_site_minimum(jinjiang_results: pd.DataFrame) -> None:
    r = jinjiang_results
    area = r[r["rule_id"] == "elderly_area_new_housing"].set_index("unit_code")
    assert set(area.index) == {V11, V22}  # only 'new' development units
    assert area.loc[V11, "value"] == pytest.approx(30.0)  # 300 m² / 10 → short 400 − 300 = 100
    assert area.loc[V11, "shortfall"] == pytest.approx(100.0)
    assert area.loc[V22, "value"] == pytest.approx(
        450 / 8
    )  # station found by location (no admin_code)
    assert area.loc[V22, "status"] == "pass"
    site = r[r["rule_id"] == "elderly_site_min_new_housing"].set_index("unit_code")
    assert site.loc[V11, "status"] == "fail"
    assert site.loc[V11, "shortfall"] == pytest.approx(100.0)  # one site of 300 m² < 400
    assert "1/1 处不达标" in site.loc[V11, "detail"]
    assert site.loc[V22, "status"] == "pass"


def test_nanan_old_areas_rule(admin_units, facilities, population) -> None:
    res = evaluate_standards(
        load_profile("nanan"),
        admin_units,
        facilities,
        population=population,
        reference_date=date(2025, 12, 31),
    )
    old = res[res["rule_id"] == "elderly_area_old_areas"].set_index("unit_code")
    assert set(old.index) == {V12, V21}
    assert old.loc[V12, "value"] == pytest.approx(120.0)  # care centre 600 m² located in V12 / 5
    assert old.loc[V21, "status"] == "not_computable"
    new = res[res["rule_id"] == "elderly_area_new_areas"].set_index("unit_code")
    assert new.loc[V11, "shortfall"] == pytest.approx(0.0)  # 30 m²/100 households meets Nan'an's 30


def test_unit_filter_column_missing_is_not_computable(admin_units, facilities) -> None:
    res = evaluate_standards(
        load_profile("jinjiang"), admin_units.drop(columns="development"), facilities
    )
    rows = res[res["rule_id"] == "elderly_area_new_housing"]
    assert (rows["status"] == "not_computable").all()
    assert rows["reason"].str.contains("development").all()


def test_beds_per_1000_elderly_and_nursing(jinjiang_results: pd.DataFrame) -> None:
    r = jinjiang_results
    t1 = _one(r, "beds_per_1000_elderly", T1)  # beds 10 + 100 + 20 = 130 over 10,000 aged 60+ = 13
    assert t1["threshold"] == 43
    assert t1["target_year"] == 2023
    assert t1["value"] == pytest.approx(13.0)
    assert t1["shortfall"] == pytest.approx(300.0)  # 43 × 10 − 130
    assert "测试格网" in t1["denominator_source"]
    county = _one(r, "beds_per_1000_elderly", "350582")  # 330 / 20,000 → short 860 − 330
    assert county["value"] == pytest.approx(16.5)
    assert county["shortfall"] == pytest.approx(530.0)
    n1 = _one(r, "nursing_beds_per_1000_elderly", T1)  # 55 / 10,000 → 5.5 < 11 → short 55
    assert (n1["value"], n1["shortfall"]) == (pytest.approx(5.5), pytest.approx(55.0))
    s1 = _one(r, "nursing_bed_share", T1)  # 55 / 100 = 55 % not > 58 % → need 59 → short 4
    assert (s1["value"], s1["status"], s1["shortfall"]) == (pytest.approx(55.0), "fail", 4)
    s2 = _one(r, "nursing_bed_share", T2)  # 130 / 200 = 65 %
    assert (s2["value"], s2["status"]) == (pytest.approx(65.0), "pass")


def test_missing_capacity_is_not_counted_as_zero(admin_units, facilities, population) -> None:
    fac = facilities.copy()
    fac.loc["f8", "beds"] = None
    res = evaluate_standards(
        load_profile("jinjiang"),
        admin_units,
        fac,
        population=population,
        reference_date=date(2023, 6, 30),
    )
    row = _one(res, "beds_per_1000_elderly", T1)
    assert row["status"] == "not_computable"
    assert "缺少分子所需数值" in row["reason"]
    assert facilities.loc["f8", "beds"] == 100  # input untouched


def test_explicit_denominator_table_wins(admin_units, facilities, population) -> None:
    table = pd.DataFrame({"pop_60plus": [20000.0, 10000.0]}, index=[T1, T2])
    table.attrs["sources"] = {"pop_60plus": {"source": "民政局老年人口台账", "year": 2023}}
    res = evaluate_standards(
        load_profile("jinjiang"),
        admin_units,
        facilities,
        population=population,
        denominators=table,
        reference_date=date(2023, 6, 30),
    )
    row = _one(res, "beds_per_1000_elderly", T1)
    assert row["value"] == pytest.approx(130 / 20)  # 130 beds / 20,000 × 1000
    assert "民政局老年人口台账" in row["denominator_source"]
    assert row["denominator_year"] == "2023"


def test_missing_denominator_everywhere_is_explicit(admin_units, facilities) -> None:
    res = evaluate_standards(
        load_profile("jinjiang"), admin_units, facilities, reference_date=date(2023, 6, 30)
    )
    row = _one(res, "beds_per_1000_elderly", T1)
    assert row["status"] == "not_computable"
    assert "缺少分母数据: pop_60plus" in row["reason"]


def test_presence_rules(jinjiang_results: pd.DataFrame, admin_units, facilities) -> None:
    r = jinjiang_results
    assert _one(r, "social_work_station_per_town", T1)["status"] == "pass"
    t2 = _one(r, "social_work_station_per_town", T2)
    assert (t2["status"], t2["shortfall"]) == ("fail", 1)
    # no station anywhere; T2 has a designated officer in the staff table
    m2 = _one(r, "minor_protection_per_town", T2)
    assert m2["status"] == "pass"
    assert "minor_protection_officer" in m2["detail"]
    assert _one(r, "minor_protection_per_town", T1)["status"] == "fail"
    no_staff = evaluate_standards(load_profile("jinjiang"), admin_units, facilities)
    assert _one(no_staff, "minor_protection_per_town", T2)["status"] == "not_computable"
    homes = r[r["rule_id"] == "children_home_per_village"].set_index("unit_code")["status"]
    assert homes.to_dict() == {V11: "pass", V12: "fail", V21: "fail", V22: "pass"}
    # street-level care centre only for 街道 (T1 has one); community stations only for 社区
    assert r.loc[r["rule_id"] == "street_care_centre", "unit_code"].tolist() == [T1]
    assert _one(r, "street_care_centre", T1)["status"] == "pass"
    stations = r[r["rule_id"] == "community_care_station"].set_index("unit_code")["status"]
    assert stations.to_dict() == {V11: "pass", V12: "pass"}


def test_coverage_share_rules(jinjiang_results: pd.DataFrame) -> None:
    r = jinjiang_results
    burial = _one(r, "burial_facility_coverage", "350582")
    # columbaria in V22 and (by location) V12: 2 of 4 = 50 % < 65 % (2023)
    # → ceil(2.6) − 2 = 1 village short
    assert (burial["value"], burial["threshold"], burial["shortfall"]) == (50.0, 65.0, 1)
    assert "安海村A" in burial["detail"]
    assert "青阳社区A" in burial["detail"]
    homes = _one(r, "children_home_coverage", "350582")  # 2 of 4 vs 100 % → 2 villages short
    assert (homes["value"], homes["shortfall"]) == (50.0, 2)
    care = _one(r, "comprehensive_care_town_coverage", "350582")  # 1 of 2 towns vs 70 % → 1 short
    assert (care["value"], care["shortfall"]) == (50.0, 1)


def test_staffing_brackets_and_social_worker_ratios(
    jinjiang_results: pd.DataFrame, admin_units, facilities
) -> None:
    r = jinjiang_results
    t1 = _one(r, "assistance_officers_by_registered_pop", T1)  # 30,000 → 2 required, 1 employed
    assert (t1["threshold"], t1["value"], t1["shortfall"], t1["status"]) == (2, 1, 1, "fail")
    assert "测试户籍人口" in t1["denominator_source"]
    assert "5~10万以上" in t1["note"]
    t2 = _one(r, "assistance_officers_by_registered_pop", T2)  # 120,000 → 4 required, 4 employed
    assert (t2["threshold"], t2["status"]) == (4, "pass")
    sw = _one(r, "social_workers_per_1000_elderly", T2)  # 5 / 10,000 × 1000 = 0.5 → 5 short
    assert (sw["value"], sw["shortfall"]) == (pytest.approx(0.5), 5)
    swc = _one(r, "social_workers_per_1000_elderly", "350582")  # 17 / 20,000 → 0.85 → 3 short
    assert (swc["value"], swc["shortfall"]) == (pytest.approx(0.85), 3)
    beds = _one(r, "social_workers_per_100_beds", T2)  # 5 / 200 nursing-home beds × 100 = 2.5
    assert (beds["value"], beds["status"]) == (pytest.approx(2.5), "pass")
    no_staff = evaluate_standards(load_profile("national"), admin_units, facilities)
    row = _one(no_staff, "assistance_officers_by_registered_pop", T1)
    assert row["status"] == "not_computable"
    assert "未提供人员表" in row["reason"]


def test_columbarium_years(jinjiang_results: pd.DataFrame) -> None:
    rows = jinjiang_results[jinjiang_results["rule_id"] == "columbarium_years"].set_index(
        "unit_code"
    )
    assert set(rows.index) == {V22, "350582", "pool:village", "pool:county"}
    # V22: 200 free niches; 20,000 people × 3.1‰ = 62 a year → 3.23 years < 5 → 5 × 62 − 200 = 110
    assert rows.loc[V22, "value"] == pytest.approx(200 / 62)
    assert rows.loc[V22, "status"] == "fail"
    assert rows.loc[V22, "shortfall"] == 110
    # county pool: 8,000 free; 53,000 people × 3.1‰ = 164.3 a year → 48.7 years
    assert rows.loc["350582", "value"] == pytest.approx(8000 / 164.3)
    assert rows.loc["350582", "status"] == "pass"
    assert rows.loc["pool:village", "value"] == pytest.approx(200 / 62)
    assert "L124" in rows.loc[V22, "clause"]


def test_columbarium_missing_used_count_and_zero_population(
    admin_units, facilities, population
) -> None:
    fac = facilities.copy()
    fac.loc["f13", "niches_used"] = None
    res = evaluate_standards(load_profile("xiamen"), admin_units, fac, population=population)
    row = _one(res, "columbarium_years", V22)
    assert row["status"] == "not_computable"
    assert "不能按 0 计" in row["reason"]
    assert _one(res, "columbarium_years", "pool:village")["status"] == "not_computable"
    pop = population.copy()
    pop.loc[3, "pop"] = 0
    res = evaluate_standards(load_profile("xiamen"), admin_units, facilities, population=pop)
    assert "年死亡(寄存)数为 0" in _one(res, "columbarium_years", V22)["reason"]


def test_crs_mismatch_raises(admin_units, facilities, population) -> None:
    with pytest.raises(CRSError, match="population CRS"):
        evaluate_standards(
            load_profile("jinjiang"), admin_units, facilities, population=population.to_crs(4326)
        )
    with pytest.raises(CRSError, match="differs from admin units CRS"):
        evaluate_standards(load_profile("jinjiang"), admin_units, facilities.to_crs(4326))


def test_compliance_gdf_has_unit_geometry(jinjiang_results: pd.DataFrame, admin_units) -> None:
    gdf = compliance_gdf(jinjiang_results, admin_units)
    assert gdf.crs == admin_units.crs
    assert len(gdf) == len(jinjiang_results)
    v11 = gdf[
        (gdf["rule_id"] == "community_area_per_100hh") & (gdf["unit_code"] == V11)
    ].geometry.iloc[0]
    assert v11.equals(admin_units.loc[V11, "geometry"])
    county = gdf[gdf["unit_code"] == "350582"].geometry.iloc[0]
    assert county.area == pytest.approx(4_000_000.0)


RATIO_OK = """
[profile]
name = "user"
[[rule]]
id = "r"
family = "ratio"
name_zh = "测试比例"
unit = "m²/百户"
threshold = 30
numerator = { source = "facilities", types = ["community_center"], column = "floor_area_m2" }
denominator = { source = "quantity", name = "households" }
per = 100
[[rule.source]]
document = "测试文件"
lines = [1]
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('id = "r"\n', "", r"rule '<no id>': missing 'id'"),
        ('name_zh = "测试比例"\n', "", r"rule 'r': missing 'name_zh'"),
        ('document = "测试文件"\n', "", r"rule 'r': a source has no 'document'"),
        ('name = "households"', 'name = "人口"', r"denominator quantity must be one of"),
        (
            ', column = "floor_area_m2" }',
            " }",
            r"numerator from facilities needs 'column' and 'types'",
        ),
        (
            'numerator = { source = "facilities", types = ["community_center"], column',
            'numerator = { source = "staff" }\nx = { column',
            r"numerator from staff needs 'role'",
        ),
        ("per = 100", 'per = "百"', r"rule 'r': per must be a number"),
        ("[[rule]]", "rule = 1\n[[x]]", r"'rule' must be an array of tables"),
    ],
)
def test_rule_parameter_errors(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in RATIO_OK
    with pytest.raises(RuleError, match=message):
        load_profile(_write(tmp_path, RATIO_OK.replace(old, new, 1)))


def test_bracket_and_columbarium_parameter_errors(tmp_path: Path) -> None:
    text = Path(
        load_profile("national").rule("assistance_officers_by_registered_pop").file
    ).read_text(encoding="utf-8")
    with pytest.raises(RuleError, match="brackets need 'below'"):
        load_profile(
            _write(tmp_path, text.replace("{ below = 20000, staff = 1 }", "{ staff = 1 }"))
        )
    with pytest.raises(RuleError, match="denominator must be one of"):
        load_profile(
            _write(tmp_path, text.replace('denominator = "pop_registered"', 'denominator = "x"'))
        )
    text = Path(load_profile("xiamen").rule("columbarium_years").file).read_text(encoding="utf-8")
    body = text.replace('extends = "national"', 'extends = "national.toml"').replace(
        "death_rate_per_1000 = 3.1", 'death_rate_per_1000 = "3.1‰"'
    )
    national = Path(load_profile("national").rule("community_area_per_100hh").file)
    _write(tmp_path, national.read_text(encoding="utf-8"), "national.toml")
    with pytest.raises(RuleError, match="death_rate_per_1000 must be a number"):
        load_profile(_write(tmp_path, body))


def test_admin_units_without_contract_columns(facilities) -> None:
    from geoplan.errors import SchemaError

    bad = gpd.GeoDataFrame({"name": ["x"]}, geometry=[_cell(0)], crs=EPSG)
    with pytest.raises(SchemaError, match="missing column 'code'"):
        evaluate_standards(load_profile("national"), bad, facilities)
