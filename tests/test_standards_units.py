"""Standards on admin layers unlike the demo: one level only, gaps in counts, odd code types.

Every expected number is worked out by hand next to its assertion.
"""

from __future__ import annotations

import math
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geoplan.errors import SchemaError, StudyConfigError
from geoplan.standards import (
    evaluate_standards,
    load_profile,
    required_staff,
    years_to_exhaustion,
)

X0, Y0 = 500_000.0, 2_700_000.0
T1, T2 = "350582001", "350582100"
V = ["350582001001", "350582001002", "350582100001", "350582100002"]
MID_2025 = date(2025, 6, 30)


def _pt(i: int, dx: float = 500.0) -> Point:
    return Point(X0 + 1000 * i + dx, Y0 + 500)


def _units(
    *,
    towns: bool = True,
    villages: bool = True,
    town_households: tuple[float | None, float | None] = (1500, 800),
    village_households: tuple[float | None, ...] = (1000, 500, 0, 800),
) -> gpd.GeoDataFrame:
    """Two towns of 2 km × 1 km, each split into two 1 km² villages."""
    rows = []
    if towns:
        rows += [
            (
                T1,
                "青阳街道",
                "town",
                "街道",
                "350582",
                town_households[0],
                box(X0, Y0, X0 + 2e3, Y0 + 1e3),
            ),
            (
                T2,
                "安海镇",
                "town",
                "镇",
                "350582",
                town_households[1],
                box(X0 + 2e3, Y0, X0 + 4e3, Y0 + 1e3),
            ),
        ]
    if villages:
        for i, code in enumerate(V):
            cell = box(X0 + 1000 * i, Y0, X0 + 1000 * (i + 1), Y0 + 1000)
            kind = "社区" if i < 2 else "村"
            rows.append((code, f"村居{i}", "village", kind, code[:9], village_households[i], cell))
    cols = ["code", "name", "level", "kind", "parent_code", "households", "geometry"]
    gdf = gpd.GeoDataFrame(pd.DataFrame(rows, columns=cols), geometry="geometry", crs=4549)
    gdf.attrs["sources"] = {"households": {"source": "测试户数表", "year": 2022}}
    return gdf


def _facilities() -> gpd.GeoDataFrame:
    gdf = gpd.GeoDataFrame(
        {
            "facility_type": ["community_center", "community_center", "nursing_home",
                              "social_work_station"],
            "status": ["existing"] * 4,
            "admin_code": [V[0], None, T2, T1],  # the second one is placed by its location
            "floor_area_m2": [300.0, 200.0, 2000.0, 50.0],
            "beds": [None, None, 100.0, None],
            "nursing_beds": [None, None, 61.0, None],
        },
        geometry=[_pt(0), _pt(1), _pt(2), _pt(0, 700)],
        crs=4549,
        index=["f0", "f1", "f2", "f3"],
    )
    gdf.attrs["source"] = "测试设施表"
    gdf.attrs["year"] = 2024
    return gdf


def _rows(results: pd.DataFrame, rule_id: str) -> pd.DataFrame:
    return results[results["rule_id"] == rule_id].set_index("unit_code")


@pytest.fixture(scope="module")
def jinjiang():
    return load_profile("jinjiang")


def test_villages_only_layer_sums_the_villages_and_says_what_it_cannot_check(jinjiang) -> None:
    res = evaluate_standards(jinjiang, _units(towns=False), _facilities(), reference_date=MID_2025)
    area = _rows(res, "community_area_per_100hh")
    county = area[area["level"] == "county"]
    computed = county[county["status"] != "not_computable"].iloc[0]
    # (300 + 200) m² over 1000 + 500 + 0 + 800 = 2300 households → 21.74 m² per 100
    assert computed.name == "350582"  # county code from the 6-digit prefix of the codes
    assert computed["value"] == pytest.approx(500 / 23)
    assert computed["denominator"] == 2300
    swk = _rows(res, "social_work_station_per_town")
    assert swk["status"].tolist() == ["not_computable"]
    assert "没有 town 级单元" in swk["reason"].iloc[0]
    assert (area.loc[V[1], "status"], area.loc[V[1], "value"]) == ("pass", 40.0)  # 200 / 5


def test_towns_only_layer_reports_the_missing_village_level(jinjiang) -> None:
    res = evaluate_standards(
        jinjiang, _units(villages=False), _facilities(), reference_date=MID_2025
    )
    child = _rows(res, "children_home_per_village")
    assert child["status"].tolist() == ["not_computable"]
    assert "没有 village 级单元" in child["reason"].iloc[0]
    area = _rows(res, "community_area_per_100hh")
    assert area.loc[T1, "value"] == pytest.approx(500 / 15)  # both centres lie in 青阳街道


def test_town_households_are_summed_from_their_villages(jinjiang) -> None:
    units = _units(town_households=(None, None))
    res = evaluate_standards(jinjiang, units, _facilities(), reference_date=MID_2025)
    area = _rows(res, "community_area_per_100hh")
    assert area.loc[T1, "denominator"] == 1500  # 1000 + 500
    assert area.loc[T2, "denominator"] == 800  # 0 + 800
    assert "parent_code" in area.loc[T1, "denominator_source"]
    assert "测试户数表" in area.loc[T1, "denominator_source"]
    assert area.loc[T1, "denominator_year"] == "2022"


def test_one_missing_household_count_only_affects_its_own_unit(jinjiang) -> None:
    units = _units(village_households=(1000, np.nan, 0, 800))
    res = evaluate_standards(jinjiang, units, _facilities(), reference_date=MID_2025)
    area = _rows(res, "community_area_per_100hh")
    assert area.loc[V[1], "status"] == "not_computable"
    assert area.loc[V[1], "reason"] == "分母数值缺失"
    assert area.loc[V[2], "status"] == "not_computable"  # zero households
    assert "为 0" in area.loc[V[2], "reason"]
    assert (area.loc[V[0], "status"], area.loc[V[0], "value"]) == ("pass", 30.0)  # 300 / 10
    assert area.loc[V[3], "status"] == "fail"


def test_codes_read_as_numbers_still_match(jinjiang) -> None:
    units = _units()
    units["code"] = units["code"].astype("int64")
    units["parent_code"] = units["parent_code"].astype("int64")
    units["pop_registered"] = [20_000, 100_000, np.nan, np.nan, np.nan, np.nan]
    # staff codes arrive as floats because one row is blank
    staff = pd.DataFrame(
        {
            "admin_code": [float(T1), float(T1), float(T2), np.nan],
            "role": [
                "social_assistance_officer",
                "social_assistance_officer ",
                "social_assistance_officer",
                "social_assistance_officer",
            ],
            "count": [1, 1, 3, 5],
        }
    )
    fac = _facilities()
    fac["admin_code"] = [float(V[0]), np.nan, float(T2), float(T1)]
    res = evaluate_standards(jinjiang, units, fac, staff=staff, reference_date=MID_2025)
    officers = _rows(res, "assistance_officers_by_registered_pop")
    assert officers.loc[T1, ["value", "threshold", "status"]].tolist() == [2.0, 2.0, "pass"]
    assert officers.loc[T2, ["value", "threshold", "shortfall"]].tolist() == [3.0, 4.0, 1.0]
    swk = _rows(res, "social_work_station_per_town")
    assert swk.loc[T1, "status"] == "pass"


def test_staffing_at_the_band_edges(jinjiang) -> None:
    rule = jinjiang.rule("assistance_officers_by_registered_pop")
    brackets = rule.params["brackets"]
    expect = {0: 1, 19_999: 1, 20_000: 2, 49_999: 2, 50_000: 3, 99_999: 3, 100_000: 4, 10**6: 4}
    assert {p: required_staff(p, brackets) for p in expect} == expect
    for bad in (float("nan"), -1):
        with pytest.raises(SchemaError, match="population"):
            required_staff(bad, brackets)
    units = _units()
    units["pop_registered"] = [50_000, 100_000, None, None, None, None]
    staff = pd.DataFrame({"admin_code": [T1], "role": ["social_assistance_officer"]})
    res = _rows(evaluate_standards(jinjiang, units, _facilities(), staff=staff), rule.id)
    assert res.loc[T1, ["threshold", "value", "shortfall"]].tolist() == [3.0, 1.0, 2.0]
    assert "区间边界" in res.loc[T1, "detail"]
    assert res.loc[T2, ["threshold", "value", "shortfall"]].tolist() == [4.0, 0.0, 4.0]
    assert "2万≤人口<5万" in res.loc[T1, "note"]


def test_staff_table_problems_are_schema_errors(jinjiang) -> None:
    units, fac = _units(), _facilities()
    with pytest.raises(SchemaError, match="missing column 'role'"):
        evaluate_standards(jinjiang, units, fac, staff=pd.DataFrame({"admin_code": [T1]}))
    with pytest.raises(SchemaError, match=r"row 1, column 'count': count must be a number ≥ 0"):
        evaluate_standards(
            jinjiang,
            units,
            fac,
            staff=pd.DataFrame({"admin_code": [T1, T2], "role": ["a", "b"], "count": [1, -2]}),
        )
    with pytest.raises(SchemaError, match="needs 'admin_code'"):
        evaluate_standards(jinjiang, units, fac, staff=pd.DataFrame({"role": ["a"]}))
    with pytest.raises(SchemaError, match="missing column 'facility_type'"):
        evaluate_standards(jinjiang, units, fac.drop(columns="facility_type"))
    twice = pd.concat([units, units.iloc[[0]]])
    with pytest.raises(SchemaError, match="duplicate unit code '350582001'"):
        evaluate_standards(jinjiang, twice, fac)


def test_capacity_that_no_facility_records_is_not_a_zero(jinjiang) -> None:
    fac = _facilities()
    fac["floor_area_m2"] = np.nan
    area = _rows(evaluate_standards(jinjiang, _units(), fac), "community_area_per_100hh")
    assert (area["status"] == "not_computable").all()
    assert "均未填 floor_area_m2" in area.loc[V[0], "reason"]
    # no facilities of the type at all: a true zero, so the unit fails
    none = _rows(evaluate_standards(jinjiang, _units(), fac.iloc[2:]), "community_area_per_100hh")
    assert (none.loc[V[0], "value"], none.loc[V[0], "shortfall"]) == (0.0, 300.0)


def test_every_computed_check_states_value_threshold_denominator_and_clause(jinjiang) -> None:
    units = _units()
    units["pop_registered"] = [30_000, 120_000, None, None, None, None]
    staff = pd.DataFrame({"admin_code": [T1, T2], "role": ["social_worker"] * 2, "count": [2, 1]})
    pop = gpd.GeoDataFrame(
        {"pop_60plus": [400.0, 600, 300, 700], "pop": [4000.0, 6000, 3000, 7000]},
        geometry=[box(X0 + 1000 * i, Y0, X0 + 1000 * (i + 1), Y0 + 1000) for i in range(4)],
        crs=4549,
    )
    pop.attrs["year"], pop.attrs["source"] = 2020, "测试格网"
    res = evaluate_standards(
        jinjiang, units, _facilities(), population=pop, staff=staff, reference_date=MID_2025
    )
    done = res[res["status"] != "not_computable"]
    assert len(done) > 30
    assert done["value"].notna().all()
    assert done["threshold"].notna().all()
    assert done["shortfall"].notna().all()
    assert done["passed"].notna().all()
    for col in ("denominator_name", "denominator_source", "denominator_year", "clause"):
        assert (done[col].astype(str).str.len() > 0).all(), col
    undone = res[res["status"] == "not_computable"]
    assert (undone["reason"].str.len() > 0).all()


def test_columbarium_without_code_is_placed_by_location() -> None:
    profile = load_profile("xiamen")
    units = _units()
    units["pop"] = [30_000, 20_000, 10_000, 0, 5_000, 15_000]
    fac = gpd.GeoDataFrame(
        {
            "facility_type": ["columbarium"] * 4,
            "status": ["existing"] * 4,
            "admin_code": [None, V[3], "350582000000", np.nan],
            "niches_total": [300.0, 1000, 10_000, 500],
            "niches_used": [100.0, 1000, 2000, 500],
        },
        geometry=[_pt(0, 900), _pt(3), _pt(1, 900), _pt(2)],
        crs=4549,
    )
    res = _rows(evaluate_standards(profile, units, fac), "columbarium_years")
    # no code, lies in village 0: 200 free / (10,000 × 3.1 ‰) = 6.45 years
    assert res.loc[V[0], "value"] == pytest.approx(200 / 31)
    assert "按位置归入" in res.loc[V[0], "detail"]
    # full columbarium: 0 years, shortfall = 5 years × 46.5 a year = 232.5 → 233 niches
    assert (res.loc[V[3], "value"], res.loc[V[3], "status"], res.loc[V[3], "shortfall"]) == (
        0.0,
        "fail",
        233.0,
    )
    # no code, full, in village 2 (5,000 people): 0 years as well
    assert res.loc[V[2], "value"] == 0.0
    # county-level code padded to 12 digits serves all 50,000 people: 8,000 / 155 a year
    assert res.loc["350582", "value"] == pytest.approx(8000 / 155)
    pool = res.loc["pool:village"]
    assert pool["value"] == pytest.approx(200 / ((10_000 + 5_000 + 15_000) * 3.1e-3))
    assert "测试户数表" not in pool["denominator_source"]  # pop has no recorded source
    assert "池内各服务区合计" in pool["denominator_source"]


def test_columbarium_with_no_deaths_is_not_computable() -> None:
    assert math.isnan(years_to_exhaustion(100, 0, 3.1))
    assert math.isnan(years_to_exhaustion(100, 1000, 0))
    assert years_to_exhaustion(0, 1000, 3.1) == 0.0
    with pytest.raises(SchemaError, match="free_niches must be ≥ 0"):
        years_to_exhaustion(-5, 1000, 3.1)
    units = _units()
    units["pop"] = [30_000, 20_000, 10_000, 0, 5_000, 15_000]
    fac = gpd.GeoDataFrame(
        {"facility_type": ["columbarium"], "admin_code": [V[1]], "niches_total": [10],
         "niches_used": [2]},
        geometry=[_pt(1)],
        crs=4549,
    )
    row = _rows(evaluate_standards(load_profile("xiamen"), units, fac), "columbarium_years")
    assert row.loc[V[1], "status"] == "not_computable"
    assert "为 0" in row.loc[V[1], "reason"]


def test_reference_date_may_be_text_but_must_be_a_date(jinjiang) -> None:
    units, fac = _units(), _facilities()
    res = evaluate_standards(jinjiang, units, fac, reference_date="2022-06-30")
    traj = _rows(res, "community_service_area_trajectory")
    assert traj["threshold"].unique().tolist() == [20.0]  # the 2022 target of 专栏2 第4项
    assert traj["target_year"].unique().tolist() == [2022]
    with pytest.raises(StudyConfigError, match="reference_date must be a date"):
        evaluate_standards(jinjiang, units, fac, reference_date="下半年")


def test_chinese_levels_types_statuses_and_repeated_facility_ids(jinjiang) -> None:
    units = _units()
    units["level"] = units["level"].map({"town": "镇", "village": "社区"})
    fac = _facilities()
    fac["facility_type"] = ["社区综合服务设施", "community_center", "nursing_home", "社工站"]
    fac["status"] = ["已建", None, "现状", "existing"]  # blank = existing (layer contract)
    fac.index = ["f0", "f0", "f1", "f1"]  # ids repeated across two source files
    res = evaluate_standards(jinjiang, units, fac, reference_date=MID_2025)
    area = _rows(res, "community_area_per_100hh")
    assert area.loc[T1, "value"] == pytest.approx(500 / 15)  # both centres counted
    assert area.loc[V[1], "value"] == 40.0  # the blank-status one, placed by location
    swk = _rows(res, "social_work_station_per_town")
    assert swk.loc[T1, "status"] == "pass"
    assert fac.index.tolist() == ["f0", "f0", "f1", "f1"]  # input untouched


def test_a_site_on_a_shared_boundary_is_counted_once(jinjiang) -> None:
    fac = _facilities().iloc[:1].copy()
    fac["admin_code"] = None
    fac["geometry"] = [Point(X0 + 1000, Y0 + 500)]  # on the edge of villages 0 and 1
    area = _rows(evaluate_standards(jinjiang, _units(), fac), "community_area_per_100hh")
    assert area.loc[V[0], "numerator"] == 300.0  # the lower code takes it
    assert area.loc[V[1], "numerator"] == 0.0
    assert area.loc[T1, "numerator"] == 300.0
