import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import Point, box

from geoplan.errors import CRSError
from geoplan.population import (
    allocate_integer_total,
    facility_counts_by_unit,
    population_by_unit,
    unit_summary,
)


@given(
    st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=50),
    st.integers(min_value=0, max_value=10_000_000),
)
def test_allocation_sums_exactly_and_stays_within_one_of_share(weights, total):
    w = np.array(weights)
    if w.sum() == 0:
        if total > 0:
            with pytest.raises(ValueError, match="all 0"):
                allocate_integer_total(w, total)
        return
    counts = allocate_integer_total(w, total)
    assert counts.sum() == total
    share = w * total / w.sum()
    assert np.all(np.abs(counts - share) < 1.0 + 1e-6)
    assert np.all(counts[w == 0] == 0)


def test_allocation_largest_remainder_example():
    # shares 3.5, 3.5, 3.0 of 10 -> the first two tie at .5; ties go to the earlier cell
    assert allocate_integer_total(np.array([3.5, 3.5, 3.0]), 10).tolist() == [4, 3, 3]


def test_allocation_rejects_negative_weights_and_totals():
    with pytest.raises(ValueError, match="finite and >= 0"):
        allocate_integer_total(np.array([1.0, -1.0]), 5)
    with pytest.raises(ValueError, match=r"total must be a whole number >= 0"):
        allocate_integer_total(np.array([1.0]), -1)
    with pytest.raises(ValueError, match=r"whole number >= 0, got 2\.5"):
        allocate_integer_total(np.array([1.0, 1.0]), 2.5)
    assert allocate_integer_total(np.array([1.0, 1.0]), 3.0).sum() == 3


@pytest.fixture
def layers():
    crs = "EPSG:4549"
    units = gpd.GeoDataFrame(
        {"code": ["350582001", "350582002"], "name": ["青阳街道", "梅岭街道"]},
        geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)],
        crs=crs,
    )
    cells = gpd.GeoDataFrame(
        {
            "pop": [10, 20, 30],
            "households": [4, 8, 12],
            "pop_60plus": [1, 2, 3],
            "pop_80plus": [0, 1, 1],
        },
        geometry=[box(10, 10, 20, 20), box(30, 30, 40, 40), box(150, 10, 160, 20)],
        crs=crs,
    )
    facilities = gpd.GeoDataFrame(
        {"facility_type": ["elderly_station", "elderly_station", "columbarium"]},
        geometry=[Point(5, 5), Point(150, 50), Point(120, 50)],
        crs=crs,
    )
    return units, cells, facilities


def test_population_and_facilities_per_unit(layers):
    units, cells, facilities = layers
    pop = population_by_unit(cells, units)
    assert pop.loc["350582001", "pop"] == 30
    assert pop.loc["350582002", "households"] == 12
    counts = facility_counts_by_unit(facilities, units)
    assert counts.loc["350582001", "elderly_station"] == 1
    assert counts.loc["350582002", "columbarium"] == 1
    summary = unit_summary(units, cells, facilities)
    assert summary.loc["total", "name"] == "合计"
    assert summary.loc["total", "pop"] == 60
    assert summary.loc["total", "elderly_station"] == 2


def test_crs_mismatch_is_an_error(layers):
    units, cells, _ = layers
    with pytest.raises(CRSError, match="CRS differ"):
        population_by_unit(cells.to_crs("EPSG:4490"), units)


def test_summary_total_counts_cells_outside_every_unit(layers):
    units, cells, facilities = layers
    outside = cells.iloc[[0]].set_geometry([box(500, 500, 510, 510)], crs=cells.crs)
    cells = pd.concat([cells, outside], ignore_index=True)
    summary = unit_summary(units, cells, facilities)
    assert summary.loc["unassigned", "pop"] == 10
    assert summary.loc["total", "pop"] == 70
    assert summary.loc["total", "pop"] == summary.drop(index="total")["pop"].sum()


def test_fractional_counts_are_not_truncated(layers):
    """A modelled (WorldPop-like) grid has fractional people; sums must not lose them."""
    units, cells, facilities = layers
    cells = cells.copy()
    cells["pop"] = cells["pop"] + 0.4
    table = population_by_unit(cells, units)
    assert table["pop"].dtype == float
    assert table["pop"].sum() == pytest.approx(cells["pop"].sum())
    summary = unit_summary(units, cells, facilities)
    assert summary.loc["total", "pop"] == pytest.approx(cells["pop"].sum())
    assert summary["households"].dtype == np.int64


def test_summary_without_households_or_age_columns(layers):
    units, cells, facilities = layers
    summary = unit_summary(units, cells[["pop", "geometry"]], facilities)
    assert "households" not in summary.columns
    assert summary.loc["total", "pop"] == cells["pop"].sum()


def test_allocate_integer_total_respects_caps():
    rng = np.random.default_rng(1)
    w = rng.random(1000)
    caps = rng.integers(0, 5, 1000)
    out = allocate_integer_total(w, 1500, caps=caps)
    assert out.sum() == 1500
    assert (out <= caps).all()
    assert (out >= 0).all()
    plain = allocate_integer_total(np.array([1.0, 1.0, 1.0]), 10)
    assert plain.tolist() == [4, 3, 3]
    with pytest.raises(ValueError, match="cannot allocate 50"):
        allocate_integer_total(np.ones(3), 50, caps=np.array([1, 2, 3]))
