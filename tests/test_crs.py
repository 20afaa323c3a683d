"""Declared coordinate systems, GCJ-02/BD-09 conversion and the Gauss-Krüger zone choice."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import prcoords
import pyogrio
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pyproj import CRS, Geod, Transformer

from geoplan import crs
from geoplan.errors import CRSError

GEOD = Geod(ellps="WGS84")
ALBERS = "+proj=aea +lat_0=36 +lat_1=24 +lat_2=48 +lon_0=104.5 +x_0=0 +y_0=0 +ellps=WGS84 +units=m"
FUTIAN = (114.05, 22.54)
JINJIANG = (118.55, 24.78)


def distance_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance in metres between two sets of lon/lat points."""
    lon1, lat1, lon2, lat2 = np.broadcast_arrays(
        *(np.asarray(v, float) for v in (lon1, lat1, lon2, lat2))
    )
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def prc_apply(func, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run a prcoords function (argument order Coords(lat, lon)) over arrays."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = np.array([func(prcoords.Coords(la, lo)) for lo, la in zip(lon, lat, strict=True)])
    return out[:, 1], out[:, 0]


# --------------------------------------------------------------------------- real outlines
def _layer(shared_data: Path, layer: str) -> gpd.GeoDataFrame:
    path = shared_data / "admin" / "counties-albers.topojson"
    return pyogrio.read_dataframe(path, layer=layer).set_crs(ALBERS).to_crs(4326)


@pytest.fixture(scope="module")
def counties(shared_data: Path) -> gpd.GeoDataFrame:
    gdf = _layer(shared_data, "county")
    gdf["CODE"] = gdf["CODE"].astype(str)
    gdf.geometry = shapely.make_valid(gdf.geometry.values)
    return gdf


@pytest.fixture(scope="module")
def mainland_points(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """5,000 random points on land in the 31 mainland provinces (real outlines)."""
    provinces = _layer(shared_data, "province")
    land = shapely.union_all(shapely.make_valid(provinces.geometry.values))
    shapely.prepare(land)
    rng = np.random.default_rng(2020)
    lon, lat = rng.uniform(73.5, 135.1, 40_000), rng.uniform(18.1, 53.6, 40_000)
    keep = shapely.contains_xy(land, lon, lat) & crs.in_mainland_china(lon, lat)
    assert keep.sum() >= 5_000
    return lon[keep][:5_000], lat[keep][:5_000]


def _sample_inside(geom, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    shapely.prepare(geom)
    x0, y0, x1, y1 = geom.bounds
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)
    keep = shapely.contains_xy(geom, x, y)
    return x[keep], y[keep]


# --------------------------------------------------------------------------- parse_coords
@pytest.mark.parametrize(
    ("declared", "canonical"),
    [
        ("wgs84", "wgs84"),
        ("WGS84", "wgs84"),
        ("wgs-84", "wgs84"),
        ("WGS 84", "wgs84"),
        ("EPSG:4326", "wgs84"),
        ("epsg:4326", "wgs84"),
        ("CGCS2000", "cgcs2000"),
        ("国家2000", "cgcs2000"),
        ("2000国家大地坐标系", "cgcs2000"),
        ("EPSG:4490", "cgcs2000"),
        ("gcj02", "gcj02"),
        ("GCJ-02", "gcj02"),
        ("高德", "gcj02"),
        ("腾讯", "gcj02"),
        ("火星坐标", "gcj02"),
        ("amap", "gcj02"),
        ("bd09", "bd09"),
        ("BD-09", "bd09"),
        ("百度", "bd09"),
        ("百度坐标系", "bd09"),
        ("EPSG:4549", "EPSG:4549"),
        (" epsg 4549 ", "EPSG:4549"),
        ("4548", "EPSG:4548"),
        (4550, "EPSG:4550"),
        ("EPSG:3857", "EPSG:3857"),
    ],
)
def test_parse_coords_accepts_common_spellings(declared, canonical):
    assert crs.parse_coords(declared) == canonical


@pytest.mark.parametrize("declared", [None, "", "   "])
def test_parse_coords_refuses_undeclared_and_lists_choices(declared):
    with pytest.raises(CRSError, match="坐标系未声明") as info:
        crs.parse_coords(declared)
    for choice in ("wgs84", "cgcs2000", "gcj02(高德/腾讯)", "bd09(百度)", "EPSG:xxxx"):
        assert choice in str(info.value)


def test_parse_coords_refuses_unknown_names():
    with pytest.raises(CRSError, match=r"未知坐标系 'mars'.*gcj02\(高德/腾讯\)"):
        crs.parse_coords("mars")


def test_parse_coords_refuses_unknown_epsg_and_non_text():
    with pytest.raises(CRSError, match="unknown EPSG code: EPSG:999999"):
        crs.parse_coords("EPSG:999999")
    with pytest.raises(CRSError, match="must be text"):
        crs.parse_coords(4549.0)  # type: ignore[arg-type]
    with pytest.raises(CRSError, match="must be text"):
        crs.parse_coords(True)  # type: ignore[arg-type]


def test_parse_coords_refuses_baidu_mercator():
    with pytest.raises(CRSError, match="BD09MC"):
        crs.parse_coords("bd09mc")


@pytest.mark.parametrize(
    "declared",
    [
        "EPSG:4610",
        "EPSG:4214",
        "EPSG:2327",
        "EPSG:2384",
        "EPSG:2390",
        "EPSG:2401",
        "EPSG:2436",
        "EPSG:2442",
        "EPSG:21413",
        "EPSG:4555",
        "西安80",
        "Xian 1980",
        "北京54",
        "beijing54",
    ],
)
def test_parse_coords_refuses_legacy_xian80_beijing54(declared):
    with pytest.raises(CRSError, match=r"ballpark.*CGCS2000.*7-/4-parameter"):
        crs.parse_coords(declared)


# --------------------------------------------------------------------------- known pairs
def test_shanghai_reference_pair_to_the_centimetre():
    lon, lat = crs.wgs84_to_gcj02(121.5272106, 31.1774276)
    assert distance_m(lon, lat, 121.531541859215, 31.17530398364597) < 0.01


def test_amap_convert_api_example_within_5_cm():
    lon, lat = crs.wgs84_to_gcj02(116.481499, 39.990475)
    assert distance_m(lon, lat, 116.487585177952, 39.991754014757) < 0.05


def test_jinjiang_offsets_are_the_measured_sizes():
    gcj = crs.wgs84_to_gcj02(*JINJIANG)
    bd = crs.wgs84_to_bd09(*JINJIANG)
    assert distance_m(*JINJIANG, *gcj) == pytest.approx(561, abs=1.5)
    assert distance_m(*JINJIANG, *bd) == pytest.approx(1167, abs=1.5)
    east_m, north_m = crs.gcj02_offset_m(*JINJIANG)
    assert np.hypot(east_m, north_m) == pytest.approx(distance_m(*JINJIANG, *gcj), abs=0.05)
    assert east_m > 0 > north_m


# --------------------------------------------------------------------------- against prcoords
def test_forward_agrees_with_prcoords_on_5000_mainland_points(mainland_points):
    lon, lat = mainland_points
    for ours, theirs in [
        (crs.wgs84_to_gcj02, prcoords.wgs_gcj),
        (crs.wgs84_to_bd09, prcoords.wgs_bd),
        (crs.gcj02_to_bd09, prcoords.gcj_bd),
    ]:
        got = ours(lon, lat)
        want = prc_apply(theirs, lon, lat)
        assert distance_m(*got, *want).max() < 0.001, ours.__name__


def test_inverse_agrees_with_prcoords_and_round_trips(mainland_points):
    lon, lat = mainland_points
    for inverse, theirs, forward in [
        (crs.gcj02_to_wgs84, prcoords.gcj_wgs_bored, crs.wgs84_to_gcj02),
        (crs.bd09_to_wgs84, prcoords.bd_wgs_bored, crs.wgs84_to_bd09),
        (crs.bd09_to_gcj02, prcoords.bd_gcj_bored, crs.gcj02_to_bd09),
    ]:
        got = inverse(lon, lat)
        assert distance_m(*got, *prc_apply(theirs, lon, lat)).max() < 0.5, inverse.__name__
        # exact inverse: the forward image of the result is the input to 1 mm
        assert distance_m(*forward(*got), lon, lat).max() < 0.001, inverse.__name__
        back = inverse(*forward(lon, lat))
        assert distance_m(*back, lon, lat).max() < 0.001, inverse.__name__


@settings(max_examples=300, deadline=None)
@given(st.floats(73.5, 135.0), st.floats(18.0, 53.5))
def test_round_trips_are_exact_anywhere_in_the_box(lon, lat):
    assume(crs.in_mainland_china(lon, lat))
    gcj = crs.wgs84_to_gcj02(lon, lat)
    assert distance_m(*crs.gcj02_to_wgs84(*gcj), lon, lat) < 0.001
    bd = crs.wgs84_to_bd09(lon, lat)
    assert distance_m(*crs.bd09_to_wgs84(*bd), lon, lat) < 0.001
    want = prc_apply(prcoords.wgs_gcj, np.array([lon]), np.array([lat]))
    assert distance_m(*gcj, *want)[0] < 0.001


def test_non_convergence_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="geoplan.crs"):
        crs.gcj02_to_wgs84(118.55, 24.78, max_iter=1)
    assert "did not converge" in caplog.text


# --------------------------------------------------------------- where the offset applies
OUTSIDE = {
    "London": (-0.12, 51.5),
    "Tokyo": (139.7, 35.7),
    "Sydney": (151.2, -33.9),
    "HK Central": (114.158, 22.282),
    "Yuen Long": (114.03, 22.445),
    "Sheung Shui": (114.128, 22.502),
    "Lo Wu": (114.113, 22.527),
    "Macau": (113.543, 22.19),
    "Taipa": (113.56, 22.155),
    "Taipei": (121.52, 25.04),
    "Kaohsiung": (120.3, 22.62),
    "Kinmen": (118.32, 24.44),
    "Matsu Nangan": (119.93, 26.16),
}
MAINLAND = {
    "Futian": FUTIAN,
    "Futian CBD": (114.055, 22.535),
    "Luohu": (114.12, 22.54),
    "Shekou": (113.915, 22.49),
    "Gongbei": (113.55, 22.225),
    "Hengqin": (113.52, 22.12),
    "Xiamen": (118.09, 24.48),
    "Xiang'an Dadeng": (118.33, 24.56),
    "Jinjiang": JINJIANG,
    "Pingtan": (119.79, 25.5),
    "Beijing": (116.39, 39.91),
}
ALL_CONVERSIONS = [
    crs.wgs84_to_gcj02,
    crs.gcj02_to_wgs84,
    crs.gcj02_to_bd09,
    crs.bd09_to_gcj02,
    crs.wgs84_to_bd09,
    crs.bd09_to_wgs84,
]


@pytest.mark.parametrize("convert", ALL_CONVERSIONS, ids=lambda f: f.__name__)
def test_outside_mainland_points_pass_unchanged(convert):
    lon, lat = np.array(list(OUTSIDE.values())).T
    assert not crs.in_mainland_china(lon, lat).any()
    out_lon, out_lat = convert(lon, lat)
    np.testing.assert_array_equal(out_lon, lon)
    np.testing.assert_array_equal(out_lat, lat)


def test_mainland_points_near_borders_are_shifted_and_round_trip():
    lon, lat = np.array(list(MAINLAND.values())).T
    assert crs.in_mainland_china(lon, lat).all()
    gcj = crs.wgs84_to_gcj02(lon, lat)
    bd = crs.gcj02_to_bd09(*gcj)
    assert (distance_m(*gcj, lon, lat) > 80).all()
    assert (distance_m(*bd, *gcj) > 80).all()
    assert distance_m(*crs.wgs84_to_bd09(lon, lat), *bd).max() < 0.001
    assert distance_m(*crs.gcj02_to_wgs84(*gcj), lon, lat).max() < 0.001
    assert distance_m(*crs.bd09_to_gcj02(*bd), *gcj).max() < 0.001
    assert distance_m(*crs.bd09_to_wgs84(*bd), lon, lat).max() < 0.001


def test_every_mainland_point_round_trips_next_to_the_border(counties):
    """Inverses test their result, so Shenzhen/Zhuhai points right at the border come back."""
    near = counties["CODE"].str.match(r"^(4403|4404)")
    lon, lat = _sample_inside(shapely.union_all(counties.geometry[near].values), 100_000, 7)
    keep = crs.in_mainland_china(lon, lat)
    assert keep.mean() > 0.999
    lon, lat = lon[keep], lat[keep]
    gcj = crs.wgs84_to_gcj02(lon, lat)
    assert distance_m(*crs.gcj02_to_wgs84(*gcj), lon, lat).max() < 0.001
    bd = crs.wgs84_to_bd09(lon, lat)
    assert distance_m(*crs.bd09_to_wgs84(*bd), lon, lat).max() < 0.001
    assert distance_m(*crs.bd09_to_gcj02(*bd), *gcj).max() < 0.001


def test_futian_must_be_shifted():
    assert crs.in_mainland_china(*FUTIAN)
    assert distance_m(*crs.wgs84_to_gcj02(*FUTIAN), *FUTIAN) > 400


def test_borders_against_real_county_outlines(counties, shared_data):
    """Land >= 150 m from a border is classified right (outlines: CTAmap 2021, ~50 m)."""
    codes = counties["CODE"]
    for seed, pattern in enumerate(
        [r"^(4403|4404)", r"^(3502|3505)"]
    ):  # Shenzhen, Zhuhai; Xiamen, Quanzhou
        near = codes.str.match(pattern) & (codes != "350527")  # 350527 = Kinmen
        mainland = shapely.union_all(counties.geometry[near].values).buffer(-0.0015)
        lon, lat = _sample_inside(mainland, 100_000, seed=seed)
        assert lon.size > 10_000
        assert crs.in_mainland_china(lon, lat).all()

    country = shapely.make_valid(_layer(shared_data, "country").geometry.iloc[0])
    guangdong = shapely.union_all(counties.geometry[codes.str.startswith("44")].values)
    gaps = shapely.get_parts(
        country.intersection(shapely.box(113.5, 22.0, 114.5, 22.6)).difference(guangdong)
    )
    # Dachan Island (大铲岛, Shenzhen, 113.84E 22.51N) is in the country outline but in no county.
    dachan = shapely.box(113.83, 22.50, 113.86, 22.53)
    hk_macau = [part for part in gaps if part.area > 1e-4 and not part.intersects(dachan)]
    area_km2 = sum(gpd.GeoSeries(hk_macau, crs=4326).to_crs(4547).area) / 1e6
    assert 1000 < area_km2 < 1200  # Hong Kong ~1,110 km2 of land plus Macau ~33 km2
    kinmen = counties.geometry[codes == "350527"].iloc[0]
    # Along the Shenzhen River from Deep Bay to Lo Wu the CTAmap outlines are straight cuts
    # that put Huanggang and Luohu port in Hong Kong; the next test checks that stretch.
    river = shapely.box(114.04, 22.50, 114.125, 22.54)
    for seed, outside in enumerate([shapely.union_all(hk_macau), kinmen], start=3):
        lon, lat = _sample_inside(outside.buffer(-0.0015).difference(river), 100_000, seed=seed)
        assert lon.size > 10_000
        assert not crs.in_mainland_china(lon, lat).any()


@pytest.mark.parametrize(
    ("lon", "lat", "mainland"),
    [
        (114.110, 22.5335, True),  # Luohu port, 210 m north of the river
        (114.0812, 22.5222, True),  # Huanggang, west of the Lok Ma Chau Loop
        (114.100, 22.5375, True),  # Binhe, Futian
        (114.127, 22.5435, True),  # Wenjindu, Luohu
        (114.112, 22.5245, False),  # Lo Wu, Hong Kong
        (114.089, 22.527, False),  # Lok Ma Chau Loop, Hong Kong
        (114.155, 22.535, False),  # Ta Kwu Ling, Hong Kong
    ],
)
def test_shenzhen_river_border_follows_the_hong_kong_district_line(lon, lat, mainland):
    """Points 200-1,000 m from the North / Yuen Long District Council boundary (HK CSD)."""
    assert bool(crs.in_mainland_china(lon, lat)) is mainland
    shifted = bool(distance_m(*crs.wgs84_to_gcj02(lon, lat), lon, lat) > 400)
    assert shifted is mainland


def test_nan_scalars_and_shapes():
    for convert in ALL_CONVERSIONS:
        lon, lat = convert(np.nan, 24.78)
        assert np.isnan(lon)
        assert lat == 24.78
        lon, lat = convert(*JINJIANG)
        assert isinstance(lon, np.floating)
        assert np.ndim(lon) == 0
        grid_lon, grid_lat = np.meshgrid([118.5, 118.6, np.nan], [24.7, 24.8])
        out_lon, _out_lat = convert(grid_lon, grid_lat)
        assert out_lon.shape == (2, 3)
        assert np.isnan(out_lon[:, 2]).all()
        assert not np.isnan(out_lon[:, :2]).any()
    assert crs.in_mainland_china(np.nan, 30.0) == np.False_
    assert crs.in_mainland_china([114.05, 114.158], 22.54).tolist() == [True, False]


def test_inputs_are_not_modified():
    lon, lat = np.array([118.55, 114.05]), np.array([24.78, 22.54])
    crs.gcj02_to_wgs84(lon, lat)
    crs.bd09_to_wgs84(lon, lat)
    np.testing.assert_array_equal(lon, [118.55, 114.05])
    np.testing.assert_array_equal(lat, [24.78, 22.54])


# --------------------------------------------------------------------------- layers
@pytest.fixture
def gcj_layer() -> gpd.GeoDataFrame:
    """Points, a line and polygons with GCJ-02 numbers, labelled EPSG:4326 as files do."""
    geoms = [
        shapely.Point(118.556, 24.776),
        shapely.Point(114.158, 22.282),  # Hong Kong: no offset
        shapely.LineString([(118.50, 24.70), (118.60, 24.80), (118.62, 24.75)]),
        shapely.Polygon(
            [(118.5, 24.7), (118.6, 24.7), (118.6, 24.8)],
            [[(118.57, 24.71), (118.59, 24.71), (118.59, 24.73)]],
        ),
        shapely.MultiPolygon(
            [shapely.box(118.4, 24.6, 118.45, 24.65), shapely.box(118.7, 24.9, 118.72, 24.92)]
        ),
        shapely.Point(118.55, 24.78, 12.5),
        None,
    ]
    gdf = gpd.GeoDataFrame(
        {"name": list("abcdefg")},
        geometry=geoms,
        crs=4326,
        index=[f"f{i}" for i in range(len(geoms))],
    )
    return gdf.rename_geometry("geom")


@pytest.mark.parametrize(
    ("declared", "inverse"), [("gcj02", crs.gcj02_to_wgs84), ("百度", crs.bd09_to_wgs84)]
)
def test_to_cgcs2000_converts_every_vertex(gcj_layer, declared, inverse):
    before = gcj_layer.copy()
    out = crs.to_cgcs2000(gcj_layer, declared)
    assert out.crs.to_epsg() == 4490
    assert out.geometry.name == "geom"
    assert list(out.index) == list(gcj_layer.index)
    assert out["name"].tolist() == list("abcdefg")
    src = shapely.get_coordinates(gcj_layer.geometry.values)
    got = shapely.get_coordinates(out.geometry.values)
    want = np.column_stack(inverse(src[:, 0], src[:, 1]))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert distance_m(*got[0], *src[0]) > 400  # Jinjiang point moved
    np.testing.assert_array_equal(got[1], src[1])  # Hong Kong point did not
    assert shapely.get_z(out.geometry.iloc[5]) == 12.5
    assert out.geometry.iloc[6] is None
    assert list(shapely.get_type_id(out.geometry.values[:5])) == [0, 0, 1, 3, 6]
    assert_geodataframe_equal(gcj_layer, before)  # input untouched


def test_to_cgcs2000_on_a_geoseries_without_crs(gcj_layer):
    series = gcj_layer.geometry.set_crs(None, allow_override=True).rename("where")
    out = crs.to_cgcs2000(series, "gcj02")
    assert isinstance(out, gpd.GeoSeries)
    assert out.name == "where"
    assert out.crs.to_epsg() == 4490
    lon, lat = crs.gcj02_to_wgs84(118.556, 24.776)
    assert out.iloc[0].equals_exact(shapely.Point(lon, lat), 1e-12)


def test_to_cgcs2000_keeps_empty_and_missing_geometries():
    series = gpd.GeoSeries([shapely.Point(), shapely.Point(118.5, 24.8), None], index=list("abc"))
    for declared in ("gcj02", "bd09", "wgs84", "EPSG:4549"):
        out = crs.to_cgcs2000(series, declared)
        assert out.iloc[0].is_empty
        assert out.iloc[2] is None
        assert list(out.index) == list("abc")
    assert crs.to_cgcs2000(gpd.GeoSeries([], dtype="geometry"), "gcj02").empty


def test_to_cgcs2000_relabels_wgs84_and_cgcs2000(gcj_layer):
    for declared in ("wgs84", "EPSG:4326", "cgcs2000"):
        out = crs.to_cgcs2000(gcj_layer, declared)
        assert out.crs.to_epsg() == 4490
        assert out is not gcj_layer
        np.testing.assert_array_equal(
            shapely.get_coordinates(out.geometry.values, include_z=True),
            shapely.get_coordinates(gcj_layer.geometry.values, include_z=True),
        )
    assert gcj_layer.crs.to_epsg() == 4326


def test_to_cgcs2000_reprojects_declared_epsg():
    gk = gpd.GeoDataFrame(geometry=[shapely.Point(610498.6, 2708889.8)])  # Xiamen in EPSG:4548
    out = crs.to_cgcs2000(gk, "EPSG:4548")
    lon, lat = Transformer.from_crs(4548, 4490, always_xy=True).transform(610498.6, 2708889.8)
    assert out.crs.to_epsg() == 4490
    assert out.geometry.iloc[0].equals_exact(shapely.Point(lon, lat), 1e-9)
    assert distance_m(lon, lat, 118.09, 24.48) < 1  # the ecosystem note's published pair
    same = crs.to_cgcs2000(gk.set_crs(4548), "EPSG:4548")
    assert same.geometry.iloc[0].equals_exact(shapely.Point(lon, lat), 1e-9)


@pytest.mark.parametrize(
    ("file_epsg", "declared"),
    [
        (4549, "wgs84"),
        (4549, "gcj02"),
        (4326, "EPSG:4549"),
        (3857, "bd09"),
        (4548, "EPSG:4549"),
        (32650, "cgcs2000"),
    ],
)
def test_to_cgcs2000_refuses_a_declaration_that_contradicts_the_file(file_epsg, declared):
    layer = gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs=file_epsg)
    with pytest.raises(CRSError, match=rf"EPSG:{file_epsg}.*contradicts the declared"):
        crs.to_cgcs2000(layer, declared)


@pytest.mark.parametrize(("file_epsg", "declared"), [(4549, "cgcs2000"), (32650, "wgs84")])
def test_to_cgcs2000_accepts_a_projection_of_the_declared_datum(file_epsg, declared):
    layer = gpd.GeoDataFrame(geometry=[shapely.Point(600000, 2740000)], crs=file_epsg)
    out = crs.to_cgcs2000(layer, declared)
    assert out.crs.to_epsg() == 4490
    lon, lat = Transformer.from_crs(file_epsg, 4490, always_xy=True).transform(600000, 2740000)
    assert out.geometry.iloc[0].equals_exact(shapely.Point(lon, lat), 1e-9)


def test_to_cgcs2000_refuses_legacy_file_crs_and_undeclared():
    layer = gpd.GeoDataFrame(geometry=[shapely.Point(500000, 2700000)], crs=2384)
    with pytest.raises(CRSError, match=r"Xian 1980.*ballpark"):
        crs.to_cgcs2000(layer, "EPSG:4548")
    with pytest.raises(CRSError, match="坐标系未声明"):
        crs.to_cgcs2000(layer.set_crs(4548, allow_override=True), None)


def test_to_gcj02_display_shifts_a_metric_layer(gcj_layer):
    metric = crs.to_metric(crs.to_cgcs2000(gcj_layer.iloc[:5], "wgs84"), 4549)
    shown = crs.to_gcj02_display(metric)
    assert shown.crs.to_epsg() == 4326
    lonlat = shapely.get_coordinates(metric.to_crs(4326).geometry.values)
    want = np.column_stack(crs.wgs84_to_gcj02(lonlat[:, 0], lonlat[:, 1]))
    np.testing.assert_allclose(shapely.get_coordinates(shown.geometry.values), want, atol=1e-12)
    with pytest.raises(CRSError, match="has no CRS"):
        crs.to_gcj02_display(gcj_layer.set_crs(None, allow_override=True))


# --------------------------------------------------------------------------- Gauss-Krüger zones
@pytest.mark.parametrize(
    ("lon", "epsg"),
    [
        (118.1, 4548),
        (118.55, 4549),
        (123.8, 4550),
        (118.5, 4549),
        (117.0, 4548),
        (115.49, 4547),
        (115.5, 4548),
        (73.5, 4534),
        (75.0, 4534),
        (135.0, 4554),
        (136.49, 4554),
    ],
)
def test_gk_zone_epsg(lon, epsg):
    assert crs.gk_zone_epsg(lon) == epsg


def test_gk_zone_formula_matches_the_epsg_registry():
    for zone in range(25, 46):
        name = CRS.from_epsg(crs.gk_zone_epsg(3.0 * zone)).name
        assert name == f"CGCS2000 / 3-degree Gauss-Kruger CM {3 * zone}E"


@pytest.mark.parametrize("lon", [73.4, 136.5, 10.0, -118.5, np.nan, np.inf])
def test_gk_zone_epsg_refuses_longitudes_outside_china(lon):
    with pytest.raises(CRSError, match="outside the CGCS2000 3-degree"):
        crs.gk_zone_epsg(lon)


@pytest.mark.parametrize(
    ("codes", "epsg"),
    [(["350582"], 4549), (["350203"], 4548), (["210502", "210503", "210504", "210505"], 4550)],
)
def test_metric_crs_for_real_outlines(counties, codes, epsg):
    outline = counties[counties["CODE"].isin(codes)]
    assert len(outline) == len(codes)
    assert crs.metric_crs_for(outline) == epsg
    assert crs.metric_crs_for(outline.to_crs(ALBERS)) == epsg
    assert crs.metric_crs_for(outline.geometry.to_crs(3857)) == epsg


def test_metric_crs_for_uses_the_centroid_not_the_bounds(counties):
    # 甘井子区 (Dalian): bounds centre 121.45°E (zone CM 120E) but centroid 121.51°E (CM 123E)
    ganjingzi = counties[counties["CODE"] == "210211"]
    x0, _y0, x1, _y1 = ganjingzi.total_bounds
    assert (x0 + x1) / 2 < 121.5
    assert crs.metric_crs_for(ganjingzi) == 4550
    assert crs.metric_crs_for(ganjingzi.to_crs(ALBERS)) == 4550


def test_metric_crs_for_a_study_spanning_two_zones():
    """Most of the area east of 121.5°E, a small island far west: the zone of the area."""
    main = shapely.box(121.6, 31.0, 122.4, 31.6)
    island = shapely.box(119.0, 31.0, 119.1, 31.1)
    layer = gpd.GeoDataFrame(geometry=[main, island], crs=4490)
    assert crs.gk_zone_epsg((119.0 + 122.4) / 2) == 4549  # the bounds centre would say CM 120E
    assert crs.metric_crs_for(layer) == 4550
    points = gpd.GeoSeries([shapely.Point(121.4, 31.2), shapely.Point(121.45, 31.2),
                            shapely.Point(121.8, 31.2), None, shapely.Point()], crs=4490)
    assert crs.metric_crs_for(points) == 4550  # mean longitude 121.55°E
    lines = gpd.GeoSeries([shapely.LineString([(121.0, 31.0), (121.4, 31.0)]),
                           shapely.LineString([(121.4, 31.1), (121.45, 31.1)])], crs=4490)
    assert crs.metric_crs_for(lines) == 4549


@pytest.mark.parametrize(("lon", "epsg"), [(121.5, 4550), (121.4999, 4549), (124.5, 4551),
                                           (124.4999, 4550)])
def test_zone_edges_belong_to_the_eastern_zone(lon, epsg):
    assert crs.gk_zone_epsg(lon) == epsg
    point = gpd.GeoSeries([shapely.Point(lon, 40.0)], crs=4490)
    assert crs.metric_crs_for(point) == epsg


def test_metric_crs_for_refuses_empty_or_undeclared():
    with pytest.raises(CRSError, match="empty"):
        crs.metric_crs_for(gpd.GeoDataFrame(geometry=[], crs=4490))
    with pytest.raises(CRSError, match="empty"):
        crs.metric_crs_for(gpd.GeoSeries([None, shapely.Polygon()], crs=4490))
    with pytest.raises(CRSError, match="has no CRS"):
        crs.metric_crs_for(gpd.GeoDataFrame(geometry=[shapely.Point(118.5, 24.8)]))
    with pytest.raises(CRSError, match=r"Beijing 1954.*ballpark"):
        crs.metric_crs_for(gpd.GeoDataFrame(geometry=[shapely.Point(118.5, 24.8)], crs=4214))


def test_require_metric():
    layer = gpd.GeoDataFrame(geometry=[shapely.Point(118.5, 24.8)], crs=4490)
    assert crs.require_metric(layer.to_crs(4549), "facilities").to_epsg() == 4549
    assert crs.require_metric(4549, "study").to_epsg() == 4549
    assert crs.require_metric(CRS.from_epsg(4548), "study").to_epsg() == 4548
    with pytest.raises(CRSError, match=r"facilities is in degrees \(EPSG:4490"):
        crs.require_metric(layer, "facilities")
    with pytest.raises(CRSError, match="population has no CRS"):
        crs.require_metric(layer.set_crs(None, allow_override=True), "population")
    with pytest.raises(CRSError, match="not metres"):
        crs.require_metric(2227, "a California layer")  # US survey feet
    with pytest.raises(CRSError, match="unrecognised CRS"):
        crs.require_metric("EPSG:not-a-code", "grid")


def test_to_metric(gcj_layer):
    layer = crs.to_cgcs2000(gcj_layer.drop(index=["f1", "f6"]), "wgs84")  # Jinjiang only
    metric = crs.to_metric(layer, crs.metric_crs_for(layer))
    assert metric.crs.to_epsg() == 4549
    assert layer.crs.to_epsg() == 4490
    x, y = Transformer.from_crs(4490, 4549, always_xy=True).transform(118.556, 24.776)
    assert metric.geometry.iloc[0].equals_exact(shapely.Point(x, y), 1e-6)
    with pytest.raises(CRSError, match="is in degrees"):
        crs.to_metric(layer, 4326)
    with pytest.raises(CRSError, match="has no CRS"):
        crs.to_metric(layer.set_crs(None, allow_override=True), 4549)


def test_from_declared_leaves_a_layer_in_the_target_crs_untouched() -> None:
    from geoplan.crs.systems import from_declared

    pts = gpd.GeoSeries(shapely.points([[600_000.123456789, 2_720_000.987654321]]), crs=4548)
    same = from_declared(pts, "EPSG:4548", 4548)
    assert same.iloc[0].coords[0] == pts.iloc[0].coords[0]
    assert from_declared(pts, "cgcs2000", 4548).iloc[0].coords[0] == pts.iloc[0].coords[0]
    other = from_declared(pts, "EPSG:4548", 4549)
    direct = Transformer.from_crs(4548, 4549, always_xy=True).transform(*pts.iloc[0].coords[0])
    assert other.iloc[0].coords[0] == direct
    lonlat = gpd.GeoSeries(shapely.points([[118.1, 24.5]]))
    assert from_declared(lonlat, "wgs84", 4490).crs.to_epsg() == 4490
    assert from_declared(lonlat, "wgs84", 4490).iloc[0].coords[0] == (118.1, 24.5)
    with pytest.raises(CRSError, match="旧坐标系"):
        from_declared(lonlat, "wgs84", 2383)  # Xian 1980 / 3-degree GK CM 114E
