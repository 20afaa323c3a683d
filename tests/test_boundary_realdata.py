"""Boundary checks on real county polygons (Jinjiang, Nan'an, Shishi, Licheng; 6-digit codes).

The polygons come from the real county TopoJSON in ``../shared/data`` (shared arcs, so the
clean layer tiles exactly); digitising noise is made by snapping two neighbours to 5 m grids
offset by 2.5 m, which opens genuine thin gaps and overlaps along their common boundary.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoplan.boundary import check_coverage, check_lines_against_units, inspect_boundaries

ALBERS = "+proj=aea +lat_0=36 +lat_1=24 +lat_2=48 +lon_0=104.5 +x_0=0 +y_0=0 +ellps=WGS84 +units=m"
CODES = (350582, 350583, 350581, 350502)  # 晋江, 南安, 石狮, 鲤城
JJ, NA = "350582", "350583"


@pytest.fixture(scope="module")
def counties(shared_data):
    path = shared_data / "admin" / "counties-albers.topojson"
    layer = gpd.read_file(path, layer="county").set_crs(ALBERS, allow_override=True)
    layer = layer[layer["CODE"].astype(int).isin(CODES)].to_crs("EPSG:4548")
    out = gpd.GeoDataFrame(
        {"code": layer["CODE"].astype(int).to_numpy(), "name": layer["NAME"].to_numpy()},
        geometry=layer.geometry.to_numpy(),
        crs=layer.crs,
    )
    out.index = pd.Index([str(c) for c in out["code"]])
    return out


@pytest.fixture(scope="module")
def county_lines(counties):
    """One line per adjacent pair: the exact common boundary, codes as integers."""
    rows = []
    codes = list(counties.index)
    for i, a in enumerate(codes):
        for b in codes[i + 1 :]:
            common = shapely.intersection(
                counties.geometry[a].boundary, counties.geometry[b].boundary
            )
            parts = [p for p in shapely.get_parts(common) if p.geom_type == "LineString"]
            if parts and sum(p.length for p in parts) > 100:
                rows.append(
                    (len(rows) + 1, int(a), int(b), shapely.line_merge(shapely.union_all(parts)))
                )
    return gpd.GeoDataFrame(
        {
            "line_code": [r[0] for r in rows],  # 1, 2, … as read from Excel
            "level": "县级",
            "left_code": [r[1] for r in rows],
            "right_code": [r[2] for r in rows],
        },
        geometry=[r[3] for r in rows],
        crs=counties.crs,
    )


def snapped_to_grid(geom, step_m, offset_m):
    """``geom`` with every vertex snapped to a ``step_m`` grid shifted by ``offset_m``."""
    moved = shapely.transform(geom, lambda c: np.round((c - offset_m) / step_m) * step_m + offset_m)
    return shapely.union_all(
        [p for p in shapely.get_parts(shapely.make_valid(moved)) if p.geom_type == "Polygon"]
    )


@pytest.fixture(scope="module")
def noisy(counties):
    out = counties.copy()
    out.loc[JJ, "geometry"] = snapped_to_grid(counties.geometry[JJ], 5.0, 0.0)
    out.loc[NA, "geometry"] = snapped_to_grid(counties.geometry[NA], 5.0, 2.5)
    return out


def test_clean_real_counties_and_their_lines_have_no_findings(counties, county_lines):
    assert len(county_lines) >= 4
    result = inspect_boundaries(towns=counties, lines=county_lines, reference_date="2025-06-30")
    assert len(result.findings) == 0
    assert result.lines["line_code"].str.len().eq(4).all()  # 1 -> "0001"
    assert (result.lines["hausdorff_m"] < 1e-6).all()
    assert result.lines["left_name"].isin(set(counties["name"])).all()


def test_digitising_noise_gives_gaps_and_overlaps_not_line_findings(noisy, county_lines):
    found, deviation = check_lines_against_units(county_lines, noisy)
    # the two counties are still adjacent, and the true line stays within 10 m of both edges
    assert len(found) == 0, found[["kind", "subject", "detail"]].to_string()
    assert deviation["hausdorff_m"].notna().all()
    assert deviation["hausdorff_m"].max() < 5.0


def test_noise_overlaps_add_up_to_the_true_overlap_area(noisy, county_lines):
    found = check_coverage(noisy, lines=county_lines)
    assert set(found["kind"]) == {"topology_gap", "topology_overlap", "topology_sliver"}
    # only the two snapped counties moved: every piece involves one of them
    assert all(JJ in s or NA in s for s in found["subject"])
    overlaps = found[found["detail"].str.contains("重叠") & (found["subject"] == f"{JJ}|{NA}")]
    pair = county_lines[
        county_lines["left_code"].astype(str).isin([JJ, NA])
        & county_lines["right_code"].astype(str).isin([JJ, NA])
    ]
    assert set(overlaps["line_code"]) == {f"{pair['line_code'].iloc[0]:04d}"}
    inter = shapely.intersection(noisy.geometry[JJ], noisy.geometry[NA])
    pieces = [p.area for p in shapely.get_parts(inter) if p.geom_type == "Polygon"]
    expected = sum(a for a in pieces if a >= 1.0)  # pieces under 1 m² are within tolerance
    assert overlaps.geometry.area.sum() == pytest.approx(expected, rel=1e-9)
    assert expected > 0.99 * inter.area


def test_tolerances_turn_noise_into_slivers_or_silence_it(noisy, county_lines):
    default = check_coverage(noisy, lines=county_lines)
    wide = check_coverage(noisy, lines=county_lines, tolerances={"sliver_width_m": 5.0})
    assert len(wide) == len(default)
    assert set(wide["kind"]) == {"topology_sliver"}
    assert (wide["value"] < 5.0).all()
    quiet = check_coverage(noisy, lines=county_lines, tolerances={"topology_area_m2": 1e6})
    assert len(quiet) == 0
