"""The ``geoplan`` command end to end: the demo, validation errors and exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from geoplan.cli import app
from geoplan.datasets import data_dir

runner = CliRunner()

DEMO_OUTPUTS = (
    "layers.gpkg", "summary_by_town.csv", "coverage.gpkg", "compliance.xlsx", "siting.gpkg",
    "boundary/联检报告.xlsx", "map.html", "report.xlsx", "report.html",
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
def test_demo_summary_reproduces_census_totals(demo_out):
    out, _ = demo_out
    summary = pd.read_csv(out / "summary_by_town.csv", dtype={"code": str}).set_index("code")
    total = summary.loc["total"]
    assert int(total["pop"]) == 2_061_551
    assert int(total["households"]) == 730_998
    assert int(total["pop_60plus"]) == 208_299
    assert int(total["pop_80plus"]) == 27_468
    assert int(total["居家养老服务站"]) == 325
    towns = summary.drop(index=[i for i in ("total", "unassigned") if i in summary.index])
    assert len(towns) == 20


@pytest.mark.slow
def test_demo_report_has_coverage_proposals_and_findings(demo_out):
    out, _ = demo_out
    book = openpyxl.load_workbook(out / "report.xlsx", read_only=True)
    names = book.sheetnames
    assert "15分钟覆盖" in names
    assert "联检问题清单" in names
    assert any(n.startswith("选址-居家养老服务站") for n in names)
    proposals = pd.read_excel(out / "report.xlsx", sheet_name="选址-居家养老服务站")
    gains = proposals.iloc[:, 5]  # 新增覆盖60岁以上人口, in ranked order
    assert len(proposals) == 20
    assert (gains > 0).all()
    findings = pd.read_excel(out / "report.xlsx", sheet_name="联检问题清单")
    planted = pd.read_csv(data_dir() / "boundaries" / "planted_defects.csv")
    assert len(findings) == len(planted)


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
