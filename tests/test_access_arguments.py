"""Service areas and coverage take one tier or a list; a wrong argument type is a clear error.

Runs on the bring-your-own-data example (``data/byod``: 18 facilities, 432 cells, a street
grid), so every call is a real search on a real network.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from geoplan.access import (
    coverage_by_unit,
    coverage_gaps,
    enhanced_two_step_fca,
    nearest_facility_time,
    reach_matrix,
    service_areas,
    two_step_fca,
)
from geoplan.datasets import load_byod
from geoplan.errors import ArgumentError, GeoplanError, SchemaError


@pytest.fixture(scope="module")
def study():
    return load_byod()


@pytest.fixture(scope="module")
def network(study):
    return study.network()


@pytest.fixture(scope="module")
def existing(study):
    facilities = study.facilities
    return facilities[facilities["status"].eq("existing")]


@pytest.fixture(scope="module")
def nearest(network, study, existing):
    return nearest_facility_time(network, study.population, existing, max_minutes=15)


def test_service_areas_of_several_tiers_are_the_single_tier_areas(network, existing):
    stations = existing[existing["facility_type"].eq("elderly_station")]
    areas = service_areas(network, stations, tiers_min=[5, 10, 15],
                          dissolve_by="facility_type")
    assert areas.index.names == ["facility_type", "tier_min"]
    assert areas["reach_m"].tolist() == [300.0, 500.0, 900.0]
    for tier in (5, 10, 15):
        one = service_areas(network, stations, tiers_min=tier, dissolve_by="facility_type")
        assert one.index.tolist() == ["elderly_station"]
        assert one["tier_min"].tolist() == [float(tier)]
        mine = areas.xs(float(tier), level="tier_min").geometry.iloc[0]
        assert shapely.equals_exact(mine, one.geometry.iloc[0], tolerance=1e-6)
    sizes = areas.area.to_numpy()
    assert sizes[0] < sizes[1] < sizes[2]
    assert areas.geometry.iloc[2].buffer(1e-6).contains(areas.geometry.iloc[0])


def test_service_areas_in_metres_or_minutes_at_a_speed_agree(network, existing):
    canteens = existing[existing["facility_type"].eq("senior_canteen")]
    by_time = service_areas(network, canteens, tiers_min=[5, 15], speed_m_per_min=60)
    by_distance = service_areas(network, canteens, [300, 900])
    assert by_distance.index.names == [by_time.index.names[0], "max_m"]
    assert len(by_time) == len(by_distance) == 2 * len(canteens)
    assert by_time["reach_m"].tolist() == by_distance["reach_m"].tolist()
    same = shapely.equals_exact(by_time.geometry.to_numpy(), by_distance.geometry.to_numpy(),
                                tolerance=1e-6)
    assert same.all()
    single = service_areas(network, canteens, 900.0)  # the old call is unchanged
    assert single.index.equals(canteens.index)
    assert list(single.columns) == ["reach_m", "geometry"]


def test_coverage_takes_one_tier_or_a_list(network, study, existing, nearest):
    both = coverage_by_unit(network, study.population, existing, study.admin_units,
                            tiers_min=[5, 15], nearest=nearest)
    one = coverage_by_unit(network, study.population, existing, study.admin_units,
                           tiers_min=15, nearest=nearest)
    assert set(both["tier_min"]) == {5.0, 15.0}
    assert set(one["tier_min"]) == {15.0}
    pd.testing.assert_frame_equal(
        both[both["tier_min"].eq(15.0)].reset_index(drop=True), one.reset_index(drop=True))
    study_rows = both[both["level"].eq("study") & both["facility_type"].eq("elderly_station")]
    covered = study_rows.set_index("tier_min")["pop_60plus_covered"]
    assert 0 < covered[5.0] < covered[15.0]


def test_coverage_gaps_of_several_tiers_are_the_single_tier_gaps(study, nearest):
    gaps = coverage_gaps(study.population, nearest, tier_min=[5, 10, 15],
                         types=["elderly_station"])
    assert gaps.index.names == ["cell_id", "tier_min"]
    counts = [len(gaps.xs(t, level="tier_min")) for t in (5.0, 10.0, 15.0)]
    assert counts[0] > counts[1] > counts[2] > 0
    for tier in (5, 15):
        one = coverage_gaps(study.population, nearest, tier_min=tier, types=["elderly_station"])
        mine = gaps.xs(float(tier), level="tier_min")
        pd.testing.assert_frame_equal(pd.DataFrame(mine), pd.DataFrame(one.drop(
            columns="tier_min")), check_names=False)


CALLS = {
    "service_areas: text distance": (
        lambda n, s, f, c: service_areas(n, f, "900"), "max_m must be a number of metres"),
    "service_areas: tier with a unit": (
        lambda n, s, f, c: service_areas(n, f, tiers_min="15分钟"), "tiers_min must be a number"),
    "service_areas: a list holding text": (
        lambda n, s, f, c: service_areas(n, f, tiers_min=[5, "15"]), r"not list \[5, '15'\]"),
    "service_areas: no reach": (
        lambda n, s, f, c: service_areas(n, f), "got neither"),
    "service_areas: two reaches": (
        lambda n, s, f, c: service_areas(n, f, 900, tiers_min=15), "got both"),
    "service_areas: the study for the network": (
        lambda n, s, f, c: service_areas(s, f, 900), "network must be a WalkNetwork"),
    "service_areas: a plain table": (
        lambda n, s, f, c: service_areas(n, pd.DataFrame(f.drop(columns="geometry")), 900),
        "facilities must be a GeoDataFrame"),
    "coverage_by_unit: a mapping of tiers": (
        lambda n, s, f, c: coverage_by_unit(n, s.population, f, s.admin_units,
                                            tiers_min={"a": 15}, nearest=c),
        "tiers_min must be a number"),
    "coverage_by_unit: a boolean tier": (
        lambda n, s, f, c: coverage_by_unit(n, s.population, f, s.admin_units, tiers_min=True),
        "tiers_min must be a number"),
    "coverage_by_unit: units as a path": (
        lambda n, s, f, c: coverage_by_unit(n, s.population, f, "villages.shp"),
        "units must be a GeoDataFrame"),
    "coverage_by_unit: types as a set": (
        lambda n, s, f, c: coverage_by_unit(n, s.population, f, s.admin_units,
                                            types={"elderly_station"}),
        "types must be a name or a list"),
    "coverage_gaps: tier as text": (
        lambda n, s, f, c: coverage_gaps(s.population, c, tier_min="15"),
        "tier_min must be a number"),
    "coverage_gaps: the network for the table": (
        lambda n, s, f, c: coverage_gaps(s.population, n), "nearest must be a DataFrame"),
    "nearest_facility_time: minutes as text": (
        lambda n, s, f, c: nearest_facility_time(n, s.population, f, max_minutes="15"),
        "max_minutes must be a number of minutes"),
    "nearest_facility_time: speed as text": (
        lambda n, s, f, c: nearest_facility_time(n, s.population, f, speed_m_per_min="60"),
        "speed_m_per_min must be a number"),
    "reach_matrix: a list of distances": (
        lambda n, s, f, c: reach_matrix(n, f, s.population, [900]), "max_m must be a number"),
    "two_step_fca: no catchment": (
        lambda n, s, f, c: two_step_fca(n, s.population, f, max_m=None),
        "max_m must be a number"),
    "enhanced_two_step_fca: zones as text": (
        lambda n, s, f, c: enhanced_two_step_fca(n, s.population, f, zones_m="300,500"),
        "zones_m must be a number"),
}


@pytest.mark.parametrize("case", list(CALLS), ids=list(CALLS))
def test_a_wrong_argument_type_is_a_clear_geoplan_error(case, network, study, existing,
                                                        nearest):
    call, says = CALLS[case]
    with pytest.raises(ArgumentError, match=says) as caught:
        call(network, study, existing, nearest)
    assert isinstance(caught.value, GeoplanError)
    assert isinstance(caught.value, TypeError)  # code that catches TypeError still does
    assert str(caught.value).startswith(case.split(":")[0] + ":")


def test_an_empty_list_of_tiers_is_a_bad_value_not_a_bad_type(network, study, existing):
    with pytest.raises(SchemaError, match="tiers_min"):
        coverage_by_unit(network, study.population, existing, study.admin_units, tiers_min=[])
    with pytest.raises(SchemaError, match="max_m must be positive, got an empty list"):
        service_areas(network, existing, [])


def test_numpy_numbers_and_arrays_are_accepted(network, existing):
    stations = existing[existing["facility_type"].eq("elderly_station")]
    areas = service_areas(network, stations, tiers_min=np.array([5, 15]),
                          dissolve_by="facility_type")
    single = service_areas(network, stations, np.float32(900.0), dissolve_by="facility_type")
    assert len(areas) == 2
    assert single["reach_m"].tolist() == [900.0]
