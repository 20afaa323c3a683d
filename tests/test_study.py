"""Study TOML files: the format, its errors, and loading a whole study."""

from __future__ import annotations

import hashlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import small_study as ss

import geoplan
from geoplan.errors import CRSError, SchemaError, StudyConfigError
from geoplan.study import Study, load_study, read_study_config

EPSG = ss.EPSG


@pytest.fixture
def study_dir(tmp_path: Path) -> Path:
    ss.build_study_files(tmp_path)
    (tmp_path / "study.toml").write_text(ss.STUDY_TOML, encoding="utf-8")
    return tmp_path


def _edit(folder: Path, old: str, new: str) -> Path:
    path = folder / "study.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- happy path
def test_load_study_reads_validates_and_projects_every_layer(study_dir: Path) -> None:
    before = _digests(study_dir)
    study = geoplan.load_study(study_dir / "study.toml")
    assert _digests(study_dir) == before  # inputs are never written
    assert isinstance(study, Study)
    assert (study.name, study.admin_code, study.standards_profile) == (
        "晋江市民政设施（测试）", "350582", "fujian")
    assert study.metric_epsg == EPSG  # chosen from the study area: Jinjiang -> EPSG:4549
    assert study.reference_date.isoformat() == "2025-12-31"
    assert study.speed_m_per_min == 70
    assert study.tiers_min == (5, 15)
    assert study.tier_distances_m == (350, 1050)
    layers = {"study_area": 1, "admin_units": 4, "facilities": 3, "population": 4,
              "boundary_lines": 1, "boundary_markers": 2, "projects": 1}
    for name, n in layers.items():
        gdf = getattr(study, name)
        assert len(gdf) == n, name
        assert gdf.crs.to_epsg() == EPSG, name
    assert list(study.towns.index) == ["350582001", "350582002"]
    assert list(study.villages["parent_code"]) == ["350582001", "350582002"]
    assert sorted(study.facilities.index) == ["C1", "S1", "S2"]
    assert list(study.facilities.loc[["S1", "S2", "C1"], "facility_type"]) == [
        "elderly_station", "columbarium", "senior_canteen"]
    # the GCJ-02 canteen lands on its WGS 84 position
    x, y = ss.metric(118.545, 24.785)
    assert study.facilities.geometry.loc["C1"].distance(shapely.Point(x, y)) < 1.0
    assert study.population["pop"].sum() == 200
    assert study.population.attrs["geoplan"]["year"] == 2020
    assert list(study.boundary_markers["coords_missing"]) == [False, True]
    mx, _ = ss.metric(118.55, 24.78)
    assert study.boundary_markers.loc["0001001A", "x_reg"] == pytest.approx(mx, abs=1e-3)
    assert study.inspection_rounds.loc[0, "round_no"] == "第四轮"
    parts = study.facilities.attrs["geoplan"]["parts"]
    assert [p["declared_coords"] for p in parts] == ["cgcs2000", "gcj02"]
    assert parts[0]["synthetic"] is True


def test_network_is_built_once_from_the_declared_file(study_dir: Path) -> None:
    study = load_study(study_dir / "study.toml")
    network = study.network()
    assert network is study.network()  # cached
    assert network.crs == EPSG
    assert network.n_nodes == 25
    assert network.edges["length_m"].sum() == pytest.approx(40 * 200)


def test_defaults_and_explicit_metric_crs(study_dir: Path) -> None:
    for section in ("[walking]\nspeed_m_per_min = 70\ntiers_min = [5, 15]\n",
                    '[standards]\nprofile = "fujian"\n'):
        _edit(study_dir, section, "")
    _edit(study_dir, 'admin_code = "350582"', 'admin_code = "350582"\nmetric_crs = "EPSG:4548"')
    study = load_study(study_dir / "study.toml")
    assert (study.speed_m_per_min, study.tiers_min, study.standards_profile) == (
        None, (5, 10, 15), None)  # no [standards]: no standards step
    assert study.config.steps == ()
    assert study.tier_distances_m == (300.0, 500.0, 900.0)  # GB 50180-2018 life circles
    assert (study.basemap, study.tianditu_tk) == ("none", None)
    assert study.metric_epsg == 4548
    assert study.facilities.crs.to_epsg() == 4548


def test_kinds_left_out_are_empty_layers_with_the_contract_columns(tmp_path: Path) -> None:
    ss.build_study_files(tmp_path)
    (tmp_path / "study.toml").write_text(
        '[study]\nname = "x"\nadmin_code = "350582"\n'
        '[layers.study_area]\npath = "boundaries/area.gpkg"\ncoords = "cgcs2000"\n',
        encoding="utf-8")
    study = load_study(tmp_path / "study.toml")
    assert len(study.facilities) == 0
    assert "facility_id" in study.facilities.columns
    assert study.boundary_markers.crs.to_epsg() == EPSG
    assert study.inspection_rounds is None
    with pytest.raises(StudyConfigError, match=r"no \[network\] section"):
        study.network()


# --------------------------------------------------------------------------- config errors
def test_missing_coords_is_named_with_its_key_path(study_dir: Path) -> None:
    path = _edit(study_dir, 'sheet = "长者食堂"\ncoords = "gcj02"\n', 'sheet = "长者食堂"\n')
    with pytest.raises(StudyConfigError, match=r"layers\.canteens\.coords: coords is required"):
        load_study(path)


def test_unknown_key_is_an_error(study_dir: Path) -> None:
    path = _edit(study_dir, "[walking]\n", "[walking]\nspeed_kmh = 4\n")
    with pytest.raises(StudyConfigError, match=r"walking\.speed_kmh: unknown key \(value 4\)"):
        load_study(path)


def test_missing_layer_file_is_an_error(study_dir: Path) -> None:
    (study_dir / "pop.tif").unlink()
    with pytest.raises(StudyConfigError,
                       match=r"layers\.population\.path: file not found: .*pop\.tif"):
        load_study(study_dir / "study.toml")


def test_all_config_problems_are_listed_together(study_dir: Path) -> None:
    path = _edit(study_dir, 'admin_code = "350582"', 'admin_code = "3505"\ncolour = "red"')
    _edit(study_dir, "tiers_min = [5, 15]", "tiers_min = [15, 5]")
    _edit(study_dir, 'coords = "wgs84"', 'coords = "utm"')
    with pytest.raises(StudyConfigError) as info:
        load_study(path)
    text = str(info.value)
    assert text.splitlines()[0].endswith("study.toml: 4 problem(s) in the study file")
    for piece in ("study.admin_code:", "study.colour: unknown key", "walking.tiers_min: tiers_min "
                  "must be positive and strictly increasing", "layers.projects.coords: "):
        assert piece in text


def test_missing_study_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(StudyConfigError, match="study file not found"):
        load_study(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[study\nname = 1\n", encoding="utf-8")
    with pytest.raises(StudyConfigError, match="not a valid TOML file"):
        read_study_config(bad)


def test_the_outline_layer_may_have_any_name(study_dir: Path) -> None:
    path = _edit(study_dir, "[layers.study_area]", "[layers.outline]\nkind = \"study_area\"")
    study = load_study(path)
    assert study.study_area.attrs["geoplan"]["study_layer"] == "outline"


def test_without_an_outline_the_study_area_is_the_union_of_the_units(study_dir: Path) -> None:
    text = (study_dir / "study.toml").read_text(encoding="utf-8")
    start = text.index("[layers.study_area]")
    path = _edit(study_dir, text[start:text.index("[layers.towns]")], "")
    study = load_study(path)
    area = study.study_area.geometry.iloc[0]
    assert study.metric_epsg == EPSG
    assert area.is_valid
    assert area.geom_type == "Polygon"
    units = shapely.union_all(study.towns.geometry.to_numpy())
    assert area.symmetric_difference(units).area < 1.0  # m²


def test_the_union_of_units_closes_slivers_and_tolerates_bad_rings(tmp_path: Path) -> None:
    from geoplan.boundary import units_outline

    a = shapely.box(118.50, 24.74, 118.55, 24.82)
    b = shapely.box(118.55001, 24.74, 118.60, 24.82)  # a 1 m sliver between the two units
    bow = shapely.Polygon([(118.60, 24.74), (118.62, 24.76), (118.62, 24.74), (118.60, 24.76)])
    units = gpd.GeoDataFrame(geometry=[a, b, bow], crs=4490)
    area = units_outline(units).geometry.iloc[0]
    assert area.is_valid
    crack = shapely.Point(118.550005, 24.78)
    assert area.contains(crack)  # closed: the outline is one piece across the crack
    assert any(part.contains(a.centroid) and part.contains(b.centroid)
               for part in shapely.get_parts(area))
    assert not any(list(part.interiors) for part in shapely.get_parts(area))


def test_an_outline_or_units_are_needed(study_dir: Path) -> None:
    text = (study_dir / "study.toml").read_text(encoding="utf-8")
    for name in ("study_area", "towns", "villages"):
        start = text.index(f"[layers.{name}]")
        end = text.index("[layers.", start + 5)
        text = text[:start] + text[end:]
    (study_dir / "study.toml").write_text(text, encoding="utf-8")
    with pytest.raises(StudyConfigError, match="give the study's outline"):
        load_study(study_dir / "study.toml")


def test_empty_units_cannot_give_the_study_area(study_dir: Path) -> None:
    empty = gpd.GeoDataFrame({"code": [], "name": []}, geometry=[], crs=4490)
    empty.to_file(study_dir / "boundaries" / "empty.gpkg", layer="towns")
    text = (study_dir / "study.toml").read_text(encoding="utf-8")
    start = text.index("[layers.study_area]")
    text = text[:start] + text[text.index("[layers.facilities]"):]
    text = text.replace("[layers.facilities]", """[layers.towns]
path = "boundaries/empty.gpkg"
coords = "cgcs2000"

[layers.facilities]""")
    (study_dir / "study.toml").write_text(text, encoding="utf-8")
    with pytest.raises(StudyConfigError, match="the admin units are empty"):
        load_study(study_dir / "study.toml")


def test_layer_names_need_a_kind(study_dir: Path) -> None:
    path = _edit(study_dir, 'kind = "facilities"\n', "")
    with pytest.raises(StudyConfigError, match=r"layers \['canteens'\] need kind"):
        load_study(path)


def test_only_one_study_area(study_dir: Path) -> None:
    path = _edit(study_dir, '[layers.projects]\n', '[layers.projects]\nkind = "study_area"\n')
    with pytest.raises(StudyConfigError, match="only one study_area layer is allowed"):
        load_study(path)


def test_metric_crs_must_be_metric(study_dir: Path) -> None:
    path = _edit(study_dir, 'admin_code = "350582"',
                 'admin_code = "350582"\nmetric_crs = "cgcs2000"')
    with pytest.raises(StudyConfigError, match=r"study\.metric_crs: .*project it to the study"):
        load_study(path)


def test_network_needs_exactly_one_source_and_coords_with_a_path(study_dir: Path) -> None:
    path = _edit(study_dir, 'path = "streets.gpkg"\n', 'path = "streets.gpkg"\nsynthetic = "x"\n')
    with pytest.raises(StudyConfigError, match="give exactly one of path, synthetic, osm_place"):
        load_study(path)
    _edit(study_dir, 'synthetic = "x"\ncoords = "EPSG:4549"\n', "")
    with pytest.raises(StudyConfigError, match="a network path needs coords"):
        load_study(path)


def test_unknown_synthetic_network_is_reported_when_built(study_dir: Path) -> None:
    path = _edit(study_dir, 'path = "streets.gpkg"\ncoords = "EPSG:4549"\n',
                 'synthetic = "atlantis"\n')
    study = load_study(path)
    with pytest.raises(StudyConfigError, match="unknown synthetic network 'atlantis'"):
        study.network()


def test_raster_population_rejects_table_options(study_dir: Path) -> None:
    path = _edit(study_dir, 'source = "test grid"', 'source = "test grid"\nsheet = "人口"')
    with pytest.raises(StudyConfigError, match=r"layers.population: \['sheet'\] do not apply"):
        load_study(path)


def test_unreadable_table_is_a_config_error(study_dir: Path) -> None:
    (study_dir / "boundaries" / "rounds.csv").write_bytes(b"\xff\xfe\xff")
    with pytest.raises(StudyConfigError, match=r"tables\.inspection_rounds: cannot read"):
        load_study(study_dir / "study.toml")


# --------------------------------------------------------------------------- layer errors
def test_ids_must_be_unique_across_joined_layers(study_dir: Path) -> None:
    xlsx = study_dir / "facilities" / "canteens.xlsx"
    table = pd.read_excel(xlsx, dtype=str)
    table["编号"] = ["S1"]
    table.to_excel(xlsx, sheet_name="长者食堂", index=False)
    with pytest.raises(SchemaError, match="row 'S1', column 'facility_id': id used in more than"):
        load_study(study_dir / "study.toml")


def test_facilities_outside_the_study_area_are_reported(study_dir: Path) -> None:
    path = study_dir / "facilities" / "facilities.gpkg"
    fac = gpd.read_file(path)
    fac.loc[1, "geometry"] = shapely.Point(118.9, 24.79)  # ~30 km east
    fac.to_file(path)
    with pytest.raises(SchemaError, match=r"row 'S2', column 'geometry': outside the study area"):
        load_study(study_dir / "study.toml")


# --------------------------------------------------------------------------- review fixes
def test_codes_and_metric_crs_written_as_toml_integers(study_dir: Path) -> None:
    _edit(study_dir, 'admin_code = "350582"', "admin_code = 350582\nmetric_crs = 4549")
    study = load_study(study_dir / "study.toml")
    assert (study.admin_code, study.metric_epsg) == ("350582", 4549)


@pytest.mark.parametrize(("code", "percent"), [("EPSG:3857", "10.2%"), ("EPSG:4534", "28.4%")])
def test_a_metric_crs_that_distorts_the_study_area_is_refused(study_dir: Path, code: str,
                                                              percent: str) -> None:
    _edit(study_dir, 'admin_code = "350582"', f'admin_code = "350582"\nmetric_crs = "{code}"')
    with pytest.raises(StudyConfigError, match=rf"{code} distorts distances by up to {percent}.*"
                                               r"Gauss-Krüger zone EPSG:4549"):
        load_study(study_dir / "study.toml")


def test_problems_of_several_layers_are_reported_together(study_dir: Path) -> None:
    path = study_dir / "facilities" / "facilities.gpkg"
    fac = gpd.read_file(path)
    fac.loc[0, "type"] = "菜市场"
    fac.to_file(path)
    markers = study_dir / "boundaries" / "markers.xlsx"
    table = pd.read_excel(markers, dtype=str)
    table.loc[0, "登记X(东)"] = "abc"
    table.to_excel(markers, index=False)
    _edit(study_dir, 'path = "boundaries/projects.gpkg"\ncoords = "wgs84"',
          'path = "boundaries/projects.gpkg"\ncoords = "EPSG:4549"')
    with pytest.raises(SchemaError) as info:
        load_study(study_dir / "study.toml")
    text = str(info.value)
    assert "3 layers" in text
    found = {(p.row, p.column) for p in info.value.problems}
    assert ("S1", "facility_type") in found
    assert ("0001001A", "x_reg") in found
    assert any(p.message.startswith("layers.projects: ") and "EPSG:4549" in p.message
               for p in info.value.problems)
    assert any(p.message.startswith("layers.facilities [facilities (facilities.gpkg)]: ")
               for p in info.value.problems)


def test_one_bad_layer_keeps_its_own_error_type(study_dir: Path) -> None:
    _edit(study_dir, 'path = "boundaries/projects.gpkg"\ncoords = "wgs84"',
          'path = "boundaries/projects.gpkg"\ncoords = "EPSG:4549"')
    with pytest.raises(CRSError, match="contradicts the declared 'EPSG:4549'"):
        load_study(study_dir / "study.toml")


def test_missing_layer_name_in_a_geopackage_is_a_schema_error(study_dir: Path) -> None:
    _edit(study_dir, 'layer = "villages"', 'layer = "village"')
    with pytest.raises(SchemaError, match="no layer 'village'; layers: towns, villages"):
        load_study(study_dir / "study.toml")


def test_study_file_with_a_bom_or_in_gbk(study_dir: Path) -> None:
    path = study_dir / "study.toml"
    text = path.read_text(encoding="utf-8")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))  # Windows Notepad
    assert read_study_config(path).study.name == "晋江市民政设施（测试）"
    path.write_bytes(text.encode("gbk"))
    with pytest.raises(StudyConfigError, match=r"not UTF-8 \(saved as GBK/ANSI\?\)"):
        read_study_config(path)


def test_column_mapping_must_name_known_columns(study_dir: Path) -> None:
    _edit(study_dir, 'sheet = "长者食堂"', 'sheet = "长者食堂"\ncolumns = {"名称" = "title"}')
    with pytest.raises(StudyConfigError, match=r"layers\.canteens\.columns: unknown column name"):
        read_study_config(study_dir / "study.toml")
    _edit(study_dir, 'columns = {"名称" = "title"}', 'columns = {"名称" = "name"}')
    assert read_study_config(study_dir / "study.toml").layers["canteens"].columns == {
        "名称": "name"}


def test_map_section_sets_the_basemap_and_refuses_unknown_ones(study_dir: Path) -> None:
    _edit(study_dir, "[walking]",
          '[map]\nbasemap = "tianditu"\ntianditu_tk = "abc123"\n\n[walking]')
    study = load_study(study_dir / "study.toml")
    assert (study.basemap, study.tianditu_tk) == ("tianditu", "abc123")
    _edit(study_dir, 'basemap = "tianditu"', 'basemap = "google"')
    with pytest.raises(StudyConfigError, match=r"map\.basemap"):
        load_study(study_dir / "study.toml")


@pytest.mark.slow
def test_the_whole_run_on_a_small_study_missing_most_facility_types(study_dir: Path) -> None:
    """`geoplan run` on a planner's own small study: no 社工站, no 长者食堂 nearby, ..."""
    from geoplan.study.pipeline import run_study

    _edit(study_dir, 'profile = "fujian"', 'profile = "jinjiang"\n\n[coverage]\n\n[boundary]\n\n'
          '[siting]\n[siting.types.elderly_station]\nnew_sites = 1\n')
    # streets every 250 m over the whole study area, so every facility is on the network
    (x0, y0), (x1, y1) = ss.metric(118.50, 24.74), ss.metric(118.60, 24.82)
    xs, ys = np.arange(x0, x1, 250.0), np.arange(y0, y1, 250.0)
    streets = [shapely.LineString([(x, ys[0]), (x, ys[-1])]) for x in xs]
    streets += [shapely.LineString([(xs[0], y), (xs[-1], y)]) for y in ys]
    gpd.GeoDataFrame(geometry=streets, crs=EPSG).to_file(study_dir / "streets.gpkg")
    study = load_study(study_dir / "study.toml")
    run = run_study(study, study_dir / "out")
    for name, path in run.outputs.items():
        assert Path(path).exists(), name
    assert set(run.coverage["facility_type"]) == {"elderly_station", "columbarium",
                                                  "senior_canteen"}
    assert (study_dir / "out" / "map.html").stat().st_size > 10_000
    assert run.plan.steps == ("coverage", "standards", "siting", "boundary")
    assert len(run.proposals["elderly_station"]) == 1
    assert run.inspection is not None


def test_inspection_rounds_headers_are_recognised_and_checked_at_load(study_dir: Path) -> None:
    study = load_study(study_dir / "study.toml")
    rounds = study.inspection_rounds
    assert {"line_code", "round_no", "inspected_on", "findings"} <= set(rounds.columns)
    (study_dir / "boundaries" / "rounds.csv").write_text(
        "界线,时间\n0001,2021-06-30\n", encoding="utf-8")
    with pytest.raises(StudyConfigError, match="inspected_on"):
        load_study(study_dir / "study.toml")
    _edit(study_dir, 'path = "boundaries/rounds.csv"',
          'path = "boundaries/rounds.csv"\ncolumns = { "时间" = "inspected_on" }')
    assert load_study(study_dir / "study.toml").inspection_rounds["inspected_on"].tolist() == [
        "2021-06-30"]
