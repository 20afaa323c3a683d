"""Compliance tables in the plans' layout and the Excel workbook writer."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import pandas as pd
import pytest
from openpyxl import load_workbook
from shapely.geometry import Point, box

from geoplan.errors import StudyConfigError
from geoplan.report.compliance import HIGHLIGHT, rule_sheet, write_compliance_workbook
from geoplan.report.writers import HIGHLIGHT_FILL
from geoplan.standards import load_profile
from geoplan.study.compliance import compliance_tables

X0, Y0 = 500_000.0, 2_700_000.0


@pytest.fixture(scope="module")
def study() -> SimpleNamespace:
    cells = [box(X0 + 1000 * i, Y0, X0 + 1000 * (i + 1), Y0 + 1000) for i in range(3)]
    units = gpd.GeoDataFrame(
        {
            "code": ["350582001", "350582100", "350582001001", "350582100001", "350582100002"],
            "name": ["青阳街道", "安海镇", "一社区", "二村", "三村"],
            "level": ["town", "town", "village", "village", "village"],
            "kind": ["街道", "镇", "社区", "村", "村"],
            "parent_code": ["350582", "350582", "350582001", "350582100", "350582100"],
            "households": [400, 600, 400, 200, 400],
        },
        geometry=[cells[0], box(X0 + 1000, Y0, X0 + 3000, Y0 + 1000), *cells],
        crs=4549,
    )
    units.index = units["code"]
    pts = [Point(X0 + 500, Y0 + 500), Point(X0 + 1500, Y0 + 500), Point(X0 + 2500, Y0 + 500)]
    fac = gpd.GeoDataFrame(
        {
            "facility_type": [
                "community_center",
                "community_center",
                "nursing_home",
                "social_work_station",
                "columbarium",
            ],
            "status": ["existing"] * 5,
            "admin_code": [
                "350582001001",
                "350582100002",
                "350582100",
                "350582001",
                "350582100001",
            ],
            "floor_area_m2": [150.0, 90.0, 2000.0, 50.0, None],
            "beds": [None, None, 90.0, None, None],
            "nursing_beds": [None, None, 50.0, None, None],
            "niches_total": [None] * 4 + [500.0],
            "niches_used": [None] * 4 + [100.0],
        },
        geometry=[pts[0], pts[2], pts[1], pts[0], pts[1]],
        crs=4549,
    )
    pop = gpd.GeoDataFrame(
        {"pop": [3000, 2000, 2000], "pop_60plus": [500, 300, 200]}, geometry=cells, crs=4549
    )
    pop.attrs["geoplan"] = {"source": "测试格网", "year": 2020}
    return SimpleNamespace(
        admin_units=units,
        facilities=fac,
        population=pop,
        reference_date=date(2023, 12, 31),
        standards_profile="jinjiang",
    )


@pytest.fixture(scope="module")
def tables(study) -> dict[str, pd.DataFrame]:
    return compliance_tables(study)


def test_rule_sheets_cover_every_builtin_rule() -> None:
    prof = load_profile("jinjiang")
    sheets = {r.id: rule_sheet(r.family, r.params) for r in prof.rules}
    assert sheets["community_area_per_100hh"] == "设施面积"
    assert sheets["elderly_site_min_new_housing"] == "设施面积"
    assert sheets["beds_per_1000_elderly"] == "养老床位"
    assert sheets["social_workers_per_1000_elderly"] == "人员配备"
    assert sheets["assistance_officers_by_registered_pop"] == "人员配备"
    assert sheets["burial_facility_coverage"] == "设施覆盖"
    assert sheets["columbarium_years"] == "骨灰堂容量"
    assert rule_sheet("site_minimum", {"column": "seats"}) == "设施规模"


def test_compliance_tables_layout(tables) -> None:
    assert list(tables) == [
        "指标完成情况",
        "设施面积",
        "养老床位",
        "人员配备",
        "设施覆盖",
        "骨灰堂容量",
        "数据质量提示",
    ]
    ind = tables["指标完成情况"]
    assert list(ind.columns[:9]) == [
        "序号",
        "指标名称",
        "单位",
        "基期值",
        "目标值",
        "当年目标值",
        "当前值",
        "指标属性",
        "完成情况",
    ]
    assert len(ind) == 17
    row = ind.set_index("序号").loc["4"]  # (150 + 90 + 50) m² / 10 百户 = 29 < 2023 target 30
    assert row["当前值"] == pytest.approx(29.0)
    assert row["完成情况"] == "未达到预期"
    assert bool(row[HIGHLIGHT])
    area = tables["设施面积"]
    for col in (
        "序号",
        "行政区划",
        "指标名称",
        "单位",
        "目标值",
        "当前值",
        "完成情况",
        "缺口",
        "分母来源",
        "依据",
    ):
        assert col in area.columns
    v = area[
        (area["行政区划"] == "一社区") & (area["指标名称"] == "每百户居民拥有社区综合服务设施面积")
    ].iloc[0]
    assert (v["目标值"], v["当前值"], v["完成情况"], v["缺口"]) == (
        "≥ 30",
        37.5,
        "达标",
        0.0,
    )  # 150 / 4
    three = area[
        (area["行政区划"] == "三村") & (area["指标名称"] == "每百户居民拥有社区综合服务设施面积")
    ].iloc[0]
    assert (three["当前值"], three["缺口"], bool(three[HIGHLIGHT])) == (
        22.5,
        30.0,
        True,
    )  # 90 / 4 → 120 − 90
    for name, table in tables.items():
        if name not in ("指标完成情况", "数据质量提示"):
            assert (table[HIGHLIGHT] == (table["完成情况"] == "未达标")).all(), name
    assert len(tables["数据质量提示"]) == 4  # the Jinjiang 专栏1 vs 专栏2 baseline disagreements
    assert tables["数据质量提示"][HIGHLIGHT].all()


def test_missing_reference_date_is_an_error(study) -> None:
    undated = SimpleNamespace(**{**vars(study), "reference_date": None})
    with pytest.raises(StudyConfigError, match="no reference_date"):
        compliance_tables(undated)
    dated = SimpleNamespace(**{**vars(study), "reference_date": "2023-12-31"})
    assert len(compliance_tables(dated, registry="nanan_14th", results_registry="nanan_13th")) == 7


def test_workbook_round_trip(tables, tmp_path: Path) -> None:
    path = write_compliance_workbook(tables, tmp_path / "合规.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["合规.xlsx"]  # no temp file left
    wb = load_workbook(path)
    assert wb.sheetnames == list(tables)
    ws = wb["设施面积"]
    assert ws.freeze_panes == "A2"
    header = [c.value for c in ws[1]]
    assert header == [c for c in tables["设施面积"].columns if c != HIGHLIGHT]
    assert ws["A1"].font.bold
    flags = tables["设施面积"][HIGHLIGHT].tolist()
    fills = [ws.cell(row=i + 2, column=1).fill.fgColor.rgb for i in range(len(flags))]
    assert [f.endswith(HIGHLIGHT_FILL) for f in fills] == flags
    assert any(flags)
    assert not all(flags)
    col_name = header.index("指标名称") + 1
    assert ws.column_dimensions[ws.cell(row=1, column=col_name).column_letter].width > 20
    assert ws.max_row == len(tables["设施面积"]) + 1


@pytest.mark.slow
def test_demo_study_tables(tmp_path: Path) -> None:
    from geoplan.datasets import load_demo

    demo = load_demo()
    tables = compliance_tables(demo)
    assert next(iter(tables)) == "指标完成情况"
    assert {"设施面积", "养老床位", "设施覆盖", "骨灰堂容量", "数据质量提示"} <= set(tables)
    cover = tables["设施覆盖"]
    sw = cover[cover["指标名称"] == "镇(街道)社会工作服务站"]
    towns = demo.admin_units[demo.admin_units["level"] == "town"]
    assert len(sw) == len(towns)
    # independent count: towns containing an existing 社工站 point
    fac = demo.facilities
    pts = fac[(fac["facility_type"] == "social_work_station") & (fac["status"] == "existing")]
    inside = gpd.sjoin(pts[["geometry"]], towns[["code", "geometry"]], predicate="within")
    assert (sw["完成情况"] == "达标").sum() == inside["code"].nunique()
    path = write_compliance_workbook(tables, tmp_path / "demo.xlsx")
    assert load_workbook(path, read_only=True).sheetnames == list(tables)


PLAN_HEADERS = ["序号", "指标名称", "单位", "基期值", "目标值", "当前值", "指标属性", "完成情况"]


def test_every_sheet_has_the_plan_headers_in_order(tables, tmp_path: Path) -> None:
    path = write_compliance_workbook(tables, tmp_path / "合规.xlsx")
    wb = load_workbook(path)
    for name in tables:
        if name == "数据质量提示":
            continue
        header = [c.value for c in wb[name][1]]
        assert [h for h in header if h in PLAN_HEADERS] == PLAN_HEADERS, name
    beds = tables["养老床位"].set_index(["指标名称", "层级"])
    whole = beds.loc[("每千名老年人养老床位数", "全域")]
    assert (whole["基期值"], whole["指标属性"]) == (39.3, "预期性")  # 专栏2 第10项, 2020
    assert beds.loc[("养老机构护理型床位占比", "全域"), "指标属性"] == "约束性"  # 专栏2 第9项
    assert (
        beds.loc[("每千名老年人养老床位数", "镇(街道)"), "基期值"].isna().all()
    )  # city-wide base only


def test_published_values_of_a_registry_are_kept(study) -> None:
    tables = compliance_tables(study, profile="xiamen")
    ind = tables["指标完成情况"]
    assert len(ind) == 27
    counts = ind["完成情况"].value_counts().to_dict()
    assert counts == {"已经完成": 16, "达到预期或预期可以完成": 8, "未达到预期": 2, "不再统计": 1}
