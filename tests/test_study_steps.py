"""Studies that ask for one step or a few: each runs, and validate and run agree on every fault.

Three studies made from the same small files (``small_study``): boundary inspection only,
walking access only, and siting with its own ``[siting]`` section. Every broken variant in
:data:`CASES` is run through ``geoplan validate`` and ``geoplan run``: the two give the same
exit code, a valid variant runs to the end, and a rejected one leaves the output folder as it
was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import small_study as ss
from typer.testing import CliRunner

from geoplan.cli import app
from geoplan.study.pipeline import run_study
from geoplan.study.preflight import prepare_run

runner = CliRunner()

HEAD = """
[study]
name = "晋江市局部（测试）"
admin_code = "350582"
reference_date = 2025-12-31
"""
UNITS = """
[layers.towns]
path = "boundaries/units.gpkg"
layer = "towns"
coords = "cgcs2000"

[layers.villages]
path = "boundaries/units.gpkg"
layer = "villages"
coords = "cgcs2000"
"""
BOUNDARY = HEAD + UNITS + """
[boundary]

[layers.boundary_lines]
path = "boundaries/lines.gpkg"
coords = "cgcs2000"

[layers.boundary_markers]
path = "boundaries/markers.xlsx"
coords = "EPSG:4549"

[tables.inspection_rounds]
path = "boundaries/rounds.csv"
"""
ACCESS = HEAD + UNITS + """
[walking]
tiers_min = [5, 15]

[coverage]

[layers.facilities]
path = "facilities/facilities.gpkg"
coords = "cgcs2000"

[layers.canteens]
kind = "facilities"
path = "facilities/canteens.xlsx"
sheet = "长者食堂"
coords = "gcj02"

[layers.population]
path = "pop.tif"
coords = "EPSG:4549"

[network]
path = "grid.gpkg"
coords = "EPSG:4549"
"""
SITING = ACCESS + """
[siting]
n_candidates = 4

[siting.types.social_work_station]
new_sites = 2
"""
STUDIES = {"boundary": BOUNDARY, "access": ACCESS, "siting": SITING}


def _files(folder: Path) -> None:
    ss.build_study_files(folder)
    ss.build_grid_network(folder)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("files")
    _files(folder)
    return folder


def _study(folder: Path, files: Path, text: str) -> Path:
    for item in files.iterdir():
        target = folder / item.name
        if not target.exists():
            target.symlink_to(item, target_is_directory=item.is_dir())
    path = folder / "study.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- the three studies
def test_boundary_only_study_runs_the_inspection_and_nothing_else(tmp_path, files):
    study, plan = prepare_run(_study(tmp_path, files, BOUNDARY))
    assert plan.steps == ("boundary",)
    assert set(plan.skipped) == {"coverage", "standards", "siting"}
    assert study.study_area.attrs["geoplan"]["source"] == "union of the admin units"
    run = run_study(study, tmp_path / "out", plan=plan)
    assert run.inspection is not None
    assert run.coverage is None
    assert not run.proposals
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"boundary", "layers.gpkg", "map.html", "report.xlsx"} <= written
    assert not {"coverage.gpkg", "siting.gpkg", "compliance.xlsx"} & written
    assert sorted(p.name for p in (tmp_path / "out" / "maps").iterdir()) == [
        "05_联检发现.pdf", "05_联检发现.png"]  # the one theme it has data for


def test_inspect_command_runs_only_the_boundary_step(tmp_path, files):
    path = _study(tmp_path, files, BOUNDARY.replace("[boundary]", "[boundary]\n\n[standards]"))
    result = runner.invoke(app, ["inspect", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "left out of this command" in result.output
    assert (tmp_path / "out" / "boundary" / "联检报告.xlsx").is_file()
    assert not (tmp_path / "out" / "compliance.xlsx").exists()


def test_access_only_study_reports_service_circles(tmp_path, files):
    study, plan = prepare_run(_study(tmp_path, files, ACCESS))
    assert plan.steps == ("coverage",)
    run = run_study(study, tmp_path / "out", plan=plan)
    assert set(run.coverage["facility_type"]) == {"elderly_station", "columbarium",
                                                  "senior_canteen"}
    assert (tmp_path / "out" / "coverage.gpkg").is_file()
    assert not (tmp_path / "out" / "boundary").exists()


def test_siting_study_sites_a_type_the_study_lacks_only_when_asked(tmp_path, files):
    study, plan = prepare_run(_study(tmp_path, files, SITING))
    assert plan.siting_types == {"social_work_station": "social_work_station"}
    assert not study.facilities["facility_type"].eq("social_work_station").any()
    run = run_study(study, tmp_path / "out", plan=plan)
    assert list(run.proposals) == ["social_work_station"]
    assert len(run.proposals["social_work_station"]) == 2
    sites = gpd.read_file(tmp_path / "out" / "siting.gpkg", layer="proposed_sites")
    assert len(sites) == 2
    assert set(sites["facility_type"]) == {"social_work_station"}


def test_siting_types_are_named_as_planners_write_them(tmp_path, files):
    text = SITING.replace("[siting.types.social_work_station]", '[siting.types."社工站"]')
    _, plan = prepare_run(_study(tmp_path, files, text))
    assert plan.siting_types == {"social_work_station": "社工站"}


def test_a_coverage_share_target_gives_the_fewest_sites(tmp_path, files):
    text = SITING.replace("new_sites = 2", "coverage_share = 0.5")
    study, plan = prepare_run(_study(tmp_path, files, text))
    run = run_study(study, tmp_path / "out", plan=plan)
    sites = run.proposals["social_work_station"]
    cells = study.population
    assert 1 <= len(sites) <= 4
    assert sites["cum_pop_60plus"].iloc[-1] >= 0.5 * cells["pop_60plus"].sum() - 1e-6


# --------------------------------------------------------------------------- broken variants
def _replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new)
    return edit


def _drop_layer(name: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        start = text.index(f"[layers.{name}]")
        end = text.find("\n[", start + 5)
        return text[:start] + (text[end + 1:] if end >= 0 else "")
    return edit


def _empty_lines(folder: Path) -> None:
    gpd.GeoDataFrame({"line_code": []}, geometry=[], crs=4490).to_file(
        folder / "empty_lines.gpkg")


CASES: list[tuple[str, str, Callable[[str], str], int, Callable[[Path], None] | None]] = [
    ("boundary: valid", "boundary", lambda t: t, 0, None),
    ("boundary: no reference_date", "boundary",
     _replace("reference_date = 2025-12-31\n", ""), 3, None),
    ("boundary: no boundary lines", "boundary", _drop_layer("boundary_lines"), 3, None),
    ("boundary: an empty lines layer", "boundary",
     _replace('path = "boundaries/lines.gpkg"', 'path = "empty_lines.gpkg"'), 3, _empty_lines),
    ("boundary: unknown tolerance", "boundary",
     _replace("[boundary]", "[boundary]\nmarker_to_line = 5"), 3, None),
    ("boundary: its own tolerance", "boundary",
     _replace("[boundary]", "[boundary]\nmarker_to_line_m = 3"), 0, None),
    ("boundary: tianditu without a key", "boundary",
     _replace("[boundary]", '[boundary]\n\n[map]\nbasemap = "tianditu"'), 3, None),
    ("boundary: unknown section key", "boundary",
     _replace("[boundary]", "[boundary]\nplanyear = 2026"), 3, None),
    ("boundary: standards with an unknown profile", "boundary",
     _replace("[boundary]", '[boundary]\n\n[standards]\nprofile = "atlantis"'), 3, None),
    ("boundary: standards with an unknown registry", "boundary",
     _replace("[boundary]", '[boundary]\n\n[standards]\nregistry = "nowhere_15th"'), 3, None),
    ("boundary: standards with no registry", "boundary",
     _replace("[boundary]", '[boundary]\n\n[standards]\nregistry = "none"'), 0, None),
    ("access: valid", "access", lambda t: t, 0, None),
    ("access: no network section", "access", _replace('[network]\npath = "grid.gpkg"\n'
                                                       'coords = "EPSG:4549"\n', ""), 3, None),
    ("access: no population", "access", _drop_layer("population"), 3, None),
    ("access: unknown coverage type", "access",
     _replace("[coverage]", '[coverage]\ntypes = ["spaceport"]'), 3, None),
    ("access: a type with no facility", "access",
     _replace("[coverage]", '[coverage]\ntypes = ["elderly_station", "社工站"]'), 0, None),
    ("access: unknown declared layer type", "access",
     _replace('sheet = "长者食堂"', 'sheet = "长者食堂"\ntype = "食堂X"'), 3, None),
    ("access: declared layer type", "access",
     _replace('sheet = "长者食堂"', 'sheet = "长者食堂"\ntype = "助餐点"'), 0, None),
    ("access: alias to an unknown type", "access",
     _replace("[coverage]", '[coverage]\n\n[types]\naliases = { "老人之家" = "moonbase" }'), 3,
     None),
    ("access: type on a non-facility layer", "access",
     _replace('path = "pop.tif"', 'path = "pop.tif"\ntype = "幸福院"'), 3, None),
    ("access: missing network file", "access",
     _replace('path = "grid.gpkg"', 'path = "nowhere.gpkg"'), 3, None),
    ("siting: valid", "siting", lambda t: t, 0, None),
    ("siting: no network", "siting", _replace('[network]\npath = "grid.gpkg"\n'
                                               'coords = "EPSG:4549"\n', ""), 3, None),
    ("siting: two targets", "siting", _replace("new_sites = 2", "new_sites = 2\nbudget = 9"),
     3, None),
    ("siting: no target", "siting", _replace("new_sites = 2", ""), 3, None),
    ("siting: more sites than candidates", "siting",
     _replace("new_sites = 2", "new_sites = 9"), 3, None),
    ("siting: unknown candidate source", "siting",
     _replace("n_candidates = 4", 'n_candidates = 4\ncandidates = "parcels"'), 3, None),
    ("siting: exclusion layer missing", "siting",
     _replace("n_candidates = 4", 'n_candidates = 4\nexclude = ["farmland"]'), 3, None),
    ("siting: quota for an unknown town", "siting",
     _replace("new_sites = 2", 'new_sites = 2\nquotas = { "350582999" = [1] }'), 3, None),
    ("siting: quotas above the sites asked for", "siting",
     _replace("new_sites = 2", "new_sites = 2\nmin_per_town = 2"), 3, None),
    ("siting: a quota per town", "siting",
     _replace("new_sites = 2", "new_sites = 2\nmin_per_town = 1"), 0, None),
    ("siting: budget without costs", "siting",
     _replace("new_sites = 2", "budget = 3"), 3, None),
    ("siting: budget with a cost per site", "siting",
     _replace("new_sites = 2", "budget = 3\ncost_per_site = 1.5"), 0, None),
    ("siting: unknown type", "siting",
     _replace("[siting.types.social_work_station]", "[siting.types.spaceport]"), 3, None),
    ("siting: unknown demand column", "siting",
     _replace("n_candidates = 4", 'n_candidates = 4\ndemand = "pop_100plus"'), 3, None),
]


@pytest.mark.parametrize(("name", "base", "edit", "code", "prepare"), CASES,
                         ids=[c[0] for c in CASES])
def test_validate_and_run_agree(tmp_path, files, name, base, edit, code, prepare):
    if prepare is not None:
        prepare(tmp_path)
    path = _study(tmp_path, files, edit(STUDIES[base]))
    checked = runner.invoke(app, ["validate", str(path)])
    assert checked.exit_code == code, checked.output
    out = tmp_path / "out"
    out.mkdir()
    (out / "earlier.txt").write_text("an earlier run", encoding="utf-8")
    before = _digest(out)
    ran = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert ran.exit_code == code, ran.output
    if code == 0:
        assert "校验通过 valid" in checked.output
        assert (out / "geoplan-manifest.json").is_file()
        assert (out / "earlier.txt").read_text(encoding="utf-8") == "an earlier run"
    else:
        assert _digest(out) == before
        first_line = [line for line in checked.output.splitlines() if "错误" in line]
        assert first_line, checked.output
        assert "Traceback" not in checked.output + ran.output


def test_the_coverage_curve_from_the_study_file_and_the_cli(tmp_path, files):
    text = SITING.replace("n_candidates = 4", "n_candidates = 4\ncurve = [1, 3]")
    path = _study(tmp_path, files, text)
    study, plan = prepare_run(path)
    assert plan.curve == (1, 2, 3)
    run = run_study(study, tmp_path / "out", plan=plan)
    curve = run.curves["social_work_station"]
    assert list(curve.table["p"]) == [1, 2, 3]
    assert (curve.table["upper_bound"] >= curve.table["covered_weight"] - 1e-9).all()
    sheet = pd.read_excel(tmp_path / "out" / "report.xlsx", sheet_name="覆盖曲线-乡镇(街道)社工站")
    assert list(sheet.columns[:5]) == ["新增站点数", "覆盖老年人口", "覆盖率", "上界", "差距"]
    assert list(sheet["新增站点数"]) == [1, 2, 3]
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "覆盖曲线" in page
    assert "data:image/png;base64" in page
    (tmp_path / "cli").mkdir()
    again = runner.invoke(app, ["run", str(_study(tmp_path / "cli", files, SITING)),
                                "--out", str(tmp_path / "cli_out"), "--curve", "2,3"])
    assert again.exit_code == 0, again.output
    sheet = pd.read_excel(tmp_path / "cli_out" / "report.xlsx",
                          sheet_name="覆盖曲线-乡镇(街道)社工站")
    assert list(sheet["新增站点数"]) == [2, 3]
    bad = runner.invoke(app, ["run", str(path), "--curve", "five"])
    assert bad.exit_code == 2
