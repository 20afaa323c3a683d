"""The ``geoplan`` command end to end: the demo, validation errors and exit codes."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from browser_pages import legend_rows, legend_sections, open_offline, overlay_input
from deliverable_checks import (
    check_levels_add_up,
    check_one_households_figure,
    check_pdf,
    check_print_setup,
    check_thematic_maps,
)
from header_checks import headers_in, machine_headers
from typer.testing import CliRunner

from geoplan.cli import app
from geoplan.datasets import data_dir

runner = CliRunner()

DEMO_MAPS = ["01_服务圈覆盖率", "02_未覆盖网格", "03_建议选址_居家养老服务站",
             "03_建议选址_长者食堂、助餐点", "04_标准缺口", "05_联检发现"]
DEMO_OUTPUTS = (
    "layers.gpkg", "summary_by_town.csv", "coverage.gpkg", "compliance.xlsx", "siting.gpkg",
    "siting.kml", "boundary/联检报告.xlsx", "map.html", "report.xlsx", "report.html", "report.pdf",
    "覆盖曲线-居家养老服务站.png", "覆盖曲线-长者食堂、助餐点.png",
    *(f"maps/{stem}.{ext}" for stem in DEMO_MAPS for ext in ("pdf", "png")),
)


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo")
    result = runner.invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.mark.slow
def test_demo_writes_every_output_and_says_where(demo_out):
    out, output = demo_out
    for name in DEMO_OUTPUTS:
        path = out / name
        assert path.is_file(), name
        assert path.stat().st_size > 0, name
        assert name.split("/")[-1] in output
    assert len(list((out / "boundary" / "联检成果归档").glob("*.gpkg"))) >= 44
    assert not list(out.rglob(".*.tmp*")), "temporary files left behind"


@pytest.mark.slow
def test_demo_thematic_maps_are_printable_sheets(demo_out):
    out, _ = demo_out
    check_thematic_maps(out / "maps", DEMO_MAPS)


@pytest.mark.slow
@pytest.mark.browser
def test_demo_map_is_under_3_mb_and_renders_offline(demo_out, browser):
    out, _ = demo_out
    size_mb = (out / "map.html").stat().st_size / 1e6
    print(f"\ndemo map.html: {size_mb:.2f} MB")
    assert size_mb < 3.0
    page, log = open_offline(browser, out / "map.html")
    try:
        assert page.locator(".geoplan-coverage-town").count() == 20
        assert page.locator(".geoplan-town-labels").count() == 20
        assert page.locator(".geoplan-uncovered-cells").count() >= 1
        # the service areas of the stations, filled per tier (5/10/15 minutes)
        assert page.locator("path.geoplan-service-areas-elderly_station").count() == 3
        assert legend_rows(page)[-7:-4] == ["5分钟（300米）", "10分钟（500米）", "15分钟（900米）"]
        assert page.locator(".geoplan-proposed-site-labels").count() == 20
        # the inspection is there, switched off, until asked for
        assert page.locator(".geoplan-findings").count() == 0
        assert "联检发现" not in legend_sections(page)
        overlay_input(page, "联检发现").check()
        assert page.locator(".geoplan-findings").count() > 0
        assert "联检发现" in legend_sections(page)
        assert log.blocked == []
        assert log.console_errors == []
        assert log.page_errors == []
    finally:
        page.close()


@pytest.mark.slow
def test_demo_summary_reproduces_census_totals(demo_out):
    out, _ = demo_out
    summary = pd.read_csv(out / "summary_by_town.csv", dtype={"区划代码": str})
    summary = summary.set_index("区划代码")
    total = summary.loc["total"]
    assert int(total["常住人口"]) == 2_061_551
    assert int(total["户数"]) == 730_998
    assert int(total["60岁以上人口"]) == 208_299
    assert int(total["80岁以上人口"]) == 27_468
    assert int(total["居家养老服务站"]) == 325
    towns = summary.drop(index=[i for i in ("total", "unassigned") if i in summary.index])
    assert len(towns) == 20


@pytest.mark.slow
def test_demo_report_has_coverage_proposals_and_findings(demo_out):
    out, _ = demo_out
    book = openpyxl.load_workbook(out / "report.xlsx", read_only=True)
    names = book.sheetnames
    assert "覆盖-镇街-15分钟" in names
    assert "联检问题清单" in names
    assert "建议选址" in names
    register = pd.read_excel(out / "report.xlsx", sheet_name="建议选址")
    proposals = register[register["设施类型"].eq("居家养老服务站")]
    assert len(proposals) == 20
    assert proposals["选址编号"].is_unique
    assert proposals["选址编号"].str.fullmatch(r".+(镇|街道|区)-养老服务站-\d{2}").all()
    assert (proposals["选址编号"].str.split("-").str[0] == proposals["所在镇街"]).all()
    assert (proposals["15分钟新增覆盖60岁以上人口"] > 0).all()  # in ranked order, each adds
    assert proposals["最近现有同类设施名称"].notna().all()
    findings = pd.read_excel(out / "report.xlsx", sheet_name="联检问题清单")
    planted = pd.read_csv(data_dir() / "boundaries" / "planted_defects.csv")
    assert len(findings) == len(planted)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["居家养老服务站", "长者食堂、助餐点"])
def test_demo_draws_the_coverage_curve(demo_out, name):
    # data/study.toml asks for curve = [5, 10, 20, 30, 40]: the sheet, the chart, the report
    out, _ = demo_out
    curve = pd.read_excel(out / "report.xlsx", sheet_name=f"覆盖曲线-{name}")
    assert list(curve.columns[:5]) == ["新增站点数", "覆盖老年人口", "覆盖率", "上界", "差距"]
    assert list(curve["新增站点数"]) == [5, 10, 20, 30, 40]
    covered = curve["覆盖老年人口"].to_numpy(float)
    assert (np.diff(covered) > 0).all()  # more sites never cover fewer people
    assert (curve["上界"] >= covered).all()
    share = curve["覆盖率"].to_numpy(float)
    assert ((share > 0) & (share <= 1)).all()
    assert covered / share == pytest.approx(np.full(5, covered[0] / share[0]))  # one total
    assert (curve["是否已证明最优"] == "是").all()
    chosen = curve["站点"].str.split("、")
    assert [len(s) for s in chosen] == [5, 10, 20, 30, 40]
    png = (out / f"覆盖曲线-{name}.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 600
    assert height >= 300
    html = (out / "report.html").read_text(encoding="utf-8")
    title = name.replace("、", "/")  # the sheet and file names cannot hold a slash
    section = html[html.index(f"新增{title}数量与覆盖率（覆盖曲线）"):]
    section = section[:section.index("</figure>")]
    assert "覆盖全部可达需求至少需新增" in section  # the LSCP answer
    assert "拐点在新增" in section  # the knee
    assert 'src="data:image/png;base64,' in section


@pytest.mark.slow
def test_demo_workbook_has_every_level_and_tier_adding_up(demo_out):
    out, _ = demo_out
    assert check_levels_add_up(out / "report.xlsx", [5.0, 10.0, 15.0]) > 1000


@pytest.mark.slow
def test_demo_households_are_one_figure_per_town_on_every_sheet(demo_out):
    out, _ = demo_out
    # recomputed from the layer: the 社区/村 register's households summed to their 镇街
    units = gpd.read_file(data_dir() / "boundaries" / "admin_units.gpkg")
    villages = units[units["level"] == "village"]
    expected = villages.groupby("parent_code")["households"].sum()
    assert expected.sum() == 730_998
    assert check_one_households_figure(out / "report.xlsx", expected) >= 5
    rec = pd.read_excel(out / "report.xlsx", sheet_name="分母核对", dtype={"区划代码": str})
    assert set(rec["采用来源"].str[:6]) == {"行政区划图层"}  # the register is the figure used
    assert (rec["人口格网汇总"] != rec["采用值"]).any()  # and the grid disagreed: shown


@pytest.mark.slow
def test_demo_outputs_have_chinese_headers_print_and_render(demo_out):
    out, _ = demo_out
    assert headers_in(out) > 1000
    assert machine_headers(out) == []
    for book in ("report.xlsx", "compliance.xlsx", "boundary/联检报告.xlsx"):
        check_print_setup(out / book)
    check_pdf(out / "report.pdf")


def test_bad_study_file_exits_3_and_leaves_earlier_outputs(tmp_path):
    study = tmp_path / "study.toml"
    shutil.copytree(data_dir() / "boundaries", tmp_path / "boundaries")
    study.write_text(
        '[study]\nname = "x"\nadmin_code = "350582"\n\n'
        '[layers.study_area]\npath = "boundaries/study_area.gpkg"\n',  # coords undeclared
        encoding="utf-8",
    )
    out = tmp_path / "out"
    out.mkdir()
    earlier = out / "map.html"
    earlier.write_text("earlier output", encoding="utf-8")
    result = runner.invoke(app, ["run", str(study), "--out", str(out)])
    assert result.exit_code == 3
    assert "coords is required" in result.output
    assert earlier.read_text(encoding="utf-8") == "earlier output"


def test_validate_reports_every_layer_problem(tmp_path):
    import geopandas as gpd

    shutil.copytree(data_dir() / "boundaries", tmp_path / "boundaries")
    facilities = gpd.read_file(data_dir() / "facilities" / "facilities.gpkg")
    facilities.loc[0, "type"] = "spaceport"
    facilities.loc[1, "beds"] = -5
    (tmp_path / "facilities").mkdir()
    facilities.to_file(tmp_path / "facilities" / "facilities.gpkg", layer="facilities")
    study = tmp_path / "study.toml"
    study.write_text(
        '[study]\nname = "x"\nadmin_code = "350582"\n\n'
        '[layers.study_area]\npath = "boundaries/study_area.gpkg"\ncoords = "cgcs2000"\n\n'
        '[layers.facilities]\npath = "facilities/facilities.gpkg"\ncoords = "cgcs2000"\n',
        encoding="utf-8",
    )
    before = (tmp_path / "facilities" / "facilities.gpkg").read_bytes()
    result = runner.invoke(app, ["validate", str(study)])
    assert result.exit_code == 3
    assert "spaceport" in result.output
    assert "beds" in result.output
    assert (tmp_path / "facilities" / "facilities.gpkg").read_bytes() == before


def test_no_arguments_shows_help():
    result = runner.invoke(app, [])
    assert "demo" in result.output
