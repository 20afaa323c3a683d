"""What a planner files: sheets per level and tier that add up, one denominator, Chinese headers,
print setup, a report that prints with Chinese glyphs.

A small study (``small_study``) with 镇街 and 社区/村, coverage and standards runs in seconds;
the same checks (``deliverable_checks``) run on the demo's own outputs in ``test_cli.py``.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import small_study as ss
from deliverable_checks import (
    check_levels_add_up,
    check_one_households_figure,
    check_pdf,
    check_print_setup,
    check_thematic_maps,
)
from header_checks import headers_in, machine_headers, snake_case_words
from pdf_checks import pdf_text

from geoplan.population import assign_to_units
from geoplan.study.denominators import one_denominator_per_unit
from geoplan.study.pipeline import run_study
from geoplan.study.preflight import prepare_run

STUDY = ss.STUDY_TOML.replace('profile = "fujian"', 'profile = "jinjiang"\n\n[coverage]').replace(
    'path = "streets.gpkg"', 'path = "grid.gpkg"')


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> tuple[Path, object, Path]:
    folder = tmp_path_factory.mktemp("small")
    ss.build_study_files(folder)
    ss.build_grid_network(folder)
    (folder / "study.toml").write_text(STUDY, encoding="utf-8")
    study, plan = prepare_run(folder / "study.toml")
    out = folder / "out"
    run = run_study(study, out, plan=plan)
    return out, run, folder


# --------------------------------------------------------------------------- small study
def test_small_study_sheets_per_level_and_tier_add_up(small_run):
    out, _, _ = small_run
    book = out / "report.xlsx"
    names = pd.ExcelFile(book).sheet_names
    assert names[:3] == ["说明", "方法", "标准依据"]
    assert {"分母核对", "镇街概况", "达标情况", "达标-镇街", "达标-社区村"} <= set(names)
    assert check_levels_add_up(book, [5.0, 15.0]) > 0


def test_small_study_households_are_one_figure_recomputed_from_the_layers(small_run):
    out, _, folder = small_run
    study, _ = prepare_run(folder / "study.toml")  # the input layers, as read
    villages = study.villages
    inhabited = set(assign_to_units(study.population, villages).dropna())
    # the 社区/村 register names the households; a 社区/村 with no grid cell keeps none
    register = villages.set_index("code")["households"]
    expected_village = register.where(register.index.isin(inhabited), 0)
    expected_town = expected_village.groupby(villages.set_index("code")["parent_code"]).sum()
    assert expected_town.to_dict() == {"350582001": 500, "350582002": 0}
    assert check_one_households_figure(out / "report.xlsx", expected_town) >= 3
    # the register's 300 households of 梅峰社区 have no cell to live in: shown, not hidden
    rec = pd.read_excel(out / "report.xlsx", sheet_name="分母核对", dtype={"区划代码": str})
    row = rec[rec["区划代码"].eq("350582002001") & rec["指标"].eq("户数")].iloc[0]
    assert (row["区划图层属性值"], row["采用值"]) == (300, 0)


def test_small_study_outputs_have_no_english_headers(small_run):
    out, _, _ = small_run
    assert headers_in(out) > 100
    assert machine_headers(out) == []


def test_small_study_thematic_maps_are_printable_sheets(small_run):
    out, run, _ = small_run
    stems = ["01_服务圈覆盖率", "02_未覆盖网格", "04_标准缺口"]  # no siting, no inspection
    check_thematic_maps(out / "maps", stems)
    assert {k: v.name for k, v in run.outputs.items() if k.startswith("map_")} == {
        "map_coverage": "01_服务圈覆盖率.pdf", "map_coverage_png": "01_服务圈覆盖率.png",
        "map_gaps": "02_未覆盖网格.pdf", "map_gaps_png": "02_未覆盖网格.png",
        "map_shortfall": "04_标准缺口.pdf", "map_shortfall_png": "04_标准缺口.png"}
    text = pdf_text(out / "maps" / "01_服务圈覆盖率.pdf")
    title = "晋江市民政设施（测试） 居家养老服务站15分钟服务圈覆盖率（镇街）"
    assert title in text.replace("\n", "")
    assert "青阳街道" in text  # the 镇街 are named
    assert "人口格网：test grid" in text  # the sources, from the study file
    about = pd.read_excel(out / "report.xlsx", sheet_name="说明")
    listed = about.set_index(about.columns[0]).loc["专题图"].iloc[0]
    assert listed.startswith("maps/01_服务圈覆盖率、maps/02_未覆盖网格、maps/04_标准缺口")
    assert "专题图" in pdf_text(out / "report.pdf")


def test_small_study_workbooks_print_on_a4_landscape(small_run):
    out, _, _ = small_run
    for book in (out / "report.xlsx", out / "compliance.xlsx"):
        check_print_setup(book)


def test_small_study_explains_itself(small_run):
    out, _, _ = small_run
    about = pd.read_excel(out / "report.xlsx", sheet_name="说明").set_index("项目")["内容"]
    assert "EPSG:4549" in about["坐标系"]
    assert about["数据基准日期"] == "2025-12-31"
    assert "合成数据 是" in about["图层：民政服务设施（facilities.gpkg）"]
    assert "合成数据 否" in about["图层：民政服务设施（canteens.xlsx）"]
    assert "test grid" in about["图层：人口格网（pop.tif）"]
    method = pd.read_excel(out / "report.xlsx", sheet_name="方法").set_index("项目")["内容"]
    assert "70 m/min" in method["服务圈距离"]
    assert "500 m" in method["不可达需求"]
    assert "社区/村" in method["分母：户数"]
    basis = pd.read_excel(out / "report.xlsx", sheet_name="标准依据")
    assert {"指标名称", "标准值", "依据文件", "依据条款", "原文摘录"} <= set(basis.columns)
    assert basis["依据文件"].notna().all()
    quoted = basis["原文摘录"].dropna()
    assert len(quoted) == len(basis)
    assert quoted.str.len().gt(4).mean() > 0.5


def test_small_study_report_pdf_has_chinese_glyphs(small_run):
    out, _, _ = small_run
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.index("<h2>一、说明") < html.index("<h2>二、方法") < html.index("<h2>三、标准依据")
    assert snake_case_words(out / "report.html") == []
    check_pdf(out / "report.pdf")


def test_lang_en_keeps_machine_names(small_run, tmp_path):
    _, _, folder = small_run
    study, plan = prepare_run(folder / "study.toml")
    run_study(study, tmp_path / "en", plan=plan, lang="en")
    found = machine_headers(tmp_path / "en")
    assert any(h.endswith(": pop_share") for h in found)
    assert any(h.startswith("summary_by_town.csv: households") for h in found)


# --------------------------------------------------------------------------- the rule itself
def test_one_denominator_spreads_the_register_over_the_grid():
    import shapely

    cells = gpd.GeoDataFrame(
        {"pop": [10, 30, 0, 5], "households": [4, 12, 0, 2], "pop_60plus": [1, 3, 0, 1]},
        geometry=[shapely.box(x, 0, x + 100, 100) for x in (0, 100, 200, 1100)], crs=4549)
    units = gpd.GeoDataFrame(
        {"code": ["1", "11", "12"], "name": ["镇", "甲村", "乙村"],
         "level": ["town", "village", "village"], "parent_code": [None, "1", "1"],
         "households": [100, 25, 7]},
        geometry=[shapely.box(0, 0, 1200, 100), shapely.box(0, 0, 250, 100),
                  shapely.box(250, 0, 1200, 100)], crs=4549)
    den = one_denominator_per_unit(cells, units, county_code="0")
    # 甲村's 25 households go 4:12 to its two inhabited cells (the empty one gets none)
    assert den.population["households"].tolist() == [6, 19, 0, 7]
    figures = den.units.set_index("code")["households"]
    assert figures.to_dict() == {"0": 32, "1": 32, "11": 25, "12": 7}
    assert "社区/村" in den.sources["households"]
    # the town's own 100 is kept beside the 32 used, highlighted
    rec = den.reconciliation.set_index(["code", "measure"])
    assert rec.loc[("1", "户数"), "unit_attribute"] == 100
    assert rec.loc[("1", "户数"), "used"] == 32
    assert rec.loc[("1", "户数"), "highlight"]
    assert "人口格网" in den.sources["pop"]  # no register: the grid sum is the figure
    assert den.population["pop"].tolist() == [10, 30, 0, 5]


def test_people_in_a_town_but_in_no_village_get_their_own_row():
    from geoplan.study.deliverables import coverage_sheets

    def row(level, code, name, pop, covered):
        return {"level": level, "code": code, "name": name, "facility_type": "elderly_station",
                "tier_min": 15.0, "reach_m": 900.0, "pop_total": pop, "pop_covered": covered,
                "pop_share": covered / pop}

    coverage = pd.DataFrame([row("study", "study", "study area", 1000.0, 600.0),
                             row("town", "1", "甲镇", 900.0, 550.0),
                             row("village", "11", "甲村", 700.0, 500.0)])
    units = pd.DataFrame({"code": ["1", "11"], "name": ["甲镇", "甲村"],
                          "level": ["town", "village"], "parent_code": [None, "1"]})
    sheets = coverage_sheets(coverage, units)
    assert set(sheets) == {"覆盖-全域-15分钟", "覆盖-镇街-15分钟", "覆盖-社区村-15分钟"}
    villages = sheets["覆盖-社区村-15分钟"].set_index("name")
    assert villages.loc["未落入任何社区/村", ["parent_code", "pop_total", "pop_covered"]].tolist() \
        == ["1", 200, 50]
    assert villages.loc["未落入任何社区/村", "pop_share"] == pytest.approx(0.25)
    assert villages.loc["甲村", "parent_name"] == "甲镇"
    towns = sheets["覆盖-镇街-15分钟"].set_index("name")
    assert towns.loc["未落入任何镇街", ["pop_total", "pop_covered"]].tolist() == [100, 50]
    assert towns["pop_total"].sum() == 1000


def test_lang_other_than_zh_or_en_is_a_usage_error(tmp_path):
    from typer.testing import CliRunner

    from geoplan.cli import app

    result = CliRunner().invoke(app, ["run", str(tmp_path / "study.toml"), "--lang", "fr"])
    assert result.exit_code == 2
    assert "zh or en" in result.output
