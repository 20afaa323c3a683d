"""User rule files: malformed values give a RuleError naming file and rule; amending a rule."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from geoplan.errors import RuleError
from geoplan.standards import evaluate_standards, load_profile

RULE = """
[[rule]]
id = "x"
family = "ratio"
name_zh = "测试"
unit = "m²/百户"
comparator = ">="
threshold = 30
levels = ["village"]
numerator = { source = "facilities", types = ["community_center"], column = "floor_area_m2" }
denominator = { source = "quantity", name = "households" }
per = 100
[[rule.source]]
document = "本地标准"
lines = [1]
"""
HEAD = '[profile]\nname = "mine"\nextends = "jinjiang"\n'


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("threshold = 30", 'thresholds_by_year = { "2025年" = 30 }', "year must be a number"),
        ("lines = [1]", 'lines = ["L1"]', "source 'lines' must be line numbers"),
        ("per = 100", "per = 0", "per must be > 0"),
        (
            'levels = ["village"]',
            'levels = ["village"]\nunit_filter = { equals = "new" }',
            "unit_filter needs 'column'",
        ),
        ('types = ["community_center"]', "types = [3]", "types must be a non-empty list"),
        (
            'family = "ratio"',
            'family = "staffing_brackets"\nrole = "r"\n'
            'brackets = [{ below = 1, staff = "两名" }, { below = inf, staff = 2 }]',
            "bracket 'staff' must be a whole number",
        ),
        (
            'family = "ratio"',
            'family = "columbarium_years"\ndeath_rate_per_1000 = -3.1',
            "death_rate_per_1000 must be ≥ 0",
        ),
        (
            'family = "ratio"',
            'family = "columbarium_years"\ndeath_rate_per_1000 = 3.1\nstorage_share = 1.5',
            "storage_share must be between 0 and 1",
        ),
        (
            'family = "ratio"',
            'family = "coverage_share"\nfacility_types = ["children_home"]\nof_level = "villages"',
            "of_level must be 'town' or 'village'",
        ),
        (
            'unit = "m²/百户"',
            'unit = "m²/百户"\nattribute = "强制性"',
            "attribute must be 预期性 or 约束性",
        ),
    ],
)
def test_malformed_rule_values(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in RULE
    with pytest.raises(RuleError, match=rf"mine\.toml: rule 'x': {message}"):
        load_profile(_write(tmp_path, HEAD + RULE.replace(old, new)))


def test_lone_type_names_are_one_item_lists(tmp_path: Path) -> None:
    body = RULE.replace('types = ["community_center"]', 'types = "community_center"')
    body += RULE.replace('id = "x"', 'id = "y"').replace(
        'family = "ratio"', 'family = "presence"\nfacility_types = "children_home"'
    )
    prof = load_profile(_write(tmp_path, HEAD + body))
    assert prof.rule("x").params["numerator"]["types"] == ["community_center"]
    assert prof.rule("y").params["facility_types"] == ["children_home"]
    with pytest.raises(RuleError, match="'disable' must be a list"):
        load_profile(_write(tmp_path, HEAD + "disable = 3\n" + RULE))


def test_amending_an_inherited_rule_keeps_the_rest_and_cites_the_new_source(tmp_path: Path) -> None:
    amend = (
        '[[rule]]\nid = "beds_per_1000_elderly"\nthreshold = 50\nlevels = ["town"]\n'
        '[[rule.source]]\ndocument = "某县养老服务设施布局规划"\nclause = "第12条"\n'
    )
    prof = load_profile(_write(tmp_path, HEAD + amend))
    parent = load_profile("jinjiang").rule("beds_per_1000_elderly")
    rule = prof.rule("beds_per_1000_elderly")
    assert (rule.threshold, rule.thresholds_by_year, rule.levels) == (50.0, {}, ("town",))
    assert rule.threshold_for(2023) == (50.0, None)  # the yearly 专栏2 path no longer applies
    assert rule.params["numerator"] == parent.params["numerator"]
    assert rule.params["denominator"] == parent.params["denominator"]
    assert rule.citation() == "某县养老服务设施布局规划 第12条"
    assert rule.data_quality_note == ""
    assert len(prof.rules) == len(load_profile("jinjiang").rules)
    with pytest.raises(RuleError, match="amends the inherited rule but gives no"):
        load_profile(
            _write(tmp_path, HEAD + '[[rule]]\nid = "beds_per_1000_elderly"\nthreshold = 50\n')
        )
    with pytest.raises(RuleError, match="rule 'zz': missing 'family'"):
        load_profile(_write(tmp_path, HEAD + '[[rule]]\nid = "zz"\nthreshold = 50\n'))


def test_amended_rule_is_what_gets_evaluated(tmp_path: Path) -> None:
    amend = (
        '[[rule]]\nid = "community_area_per_100hh"\nthreshold = 50\nlevels = ["village"]\n'
        '[[rule.source]]\ndocument = "本地标准"\nlines = [3]\n'
    )
    prof = load_profile(_write(tmp_path, HEAD + amend))
    units = gpd.GeoDataFrame(
        {
            "code": ["350582001", "350582001001"],
            "name": ["甲街道", "一社区"],
            "level": ["town", "village"],
            "parent_code": ["350582", "350582001"],
            "households": [1000, 1000],
        },
        geometry=[box(0, 0, 10, 10), box(0, 0, 10, 10)],
        crs=4549,
    )
    fac = gpd.GeoDataFrame(
        {"facility_type": ["community_center"], "admin_code": ["350582001001"],
         "floor_area_m2": [400.0]},
        geometry=[Point(5, 5)],
        crs=4549,
    )
    res = evaluate_standards(prof, units, fac, reference_date=date(2023, 1, 1))
    row = res[res["rule_id"] == "community_area_per_100hh"]
    assert row["level"].tolist() == ["village"]
    # 400 m² / 10 百户 = 40 < 50: 100 m² short
    assert row[["value", "threshold", "status", "shortfall"]].iloc[0].tolist() == [
        40.0,
        50.0,
        "fail",
        100.0,
    ]
    assert row["clause"].iloc[0] == "本地标准 L3"
