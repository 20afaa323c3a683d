"""Where the GCJ-02 offset applies: mainland China, by the crude box minus excluded outlines.

Owns the crude China box every common implementation uses and the outlines of the areas
inside it where online maps apply no offset (Hong Kong, Macau, Taiwan, Kinmen, Matsu,
Dongyin), with their sources and accuracy, and :func:`in_mainland_china` (re-exported by
:mod:`geoplan.crs`, whose GCJ-02/BD-09 conversions use it), plus the small array helpers
that test shares with those conversions.
"""

from __future__ import annotations

import numpy as np
import shapely

_CHINA_BBOX = (72.004, 0.8293, 137.8347, 55.8271)  # the crude box every implementation uses

# Areas inside the crude box where online maps apply no offset, as (lon, lat) rings.
# Land borders follow the CTAmap 2021 county outlines (~50 m quantisation), except along the
# Shenzhen River (Futian port to Sha Tau Kok), where those outlines cut straight across
# Huanggang and Luohu: there the line follows the Hong Kong Census and Statistics Department
# District Council boundaries (North, Yuen Long; 2001, ~100 m), simplified by 30 m, and only
# where that puts more land in the mainland, so Luohu port and Huanggang are mainland while
# the Lok Ma Chau Loop and Lo Wu stay Hong Kong. Checked against those outlines, land more
# than ~100 m from a border is classified right (tests/test_crs.py); the lines through Deep
# Bay, Mirs Bay, the Pearl River mouth and the Taiwan Strait are hand-drawn mid-water lines
# (1-3 km rough). Kinmen's ring is its outline buffered by ~1.2 km; Matsu's are boxes; the
# Macau campus on Hengqin is mainland.
_EXCLUDED_RINGS = {
    "Hong Kong": (
        (113.82, 22.17), (113.82, 22.3), (113.87, 22.4), (113.915, 22.445), (113.96, 22.475),
        (114.0, 22.505), (114.026, 22.512), (114.036, 22.5081), (114.036, 22.505),
        (114.04, 22.505), (114.04, 22.504), (114.043, 22.504), (114.046, 22.503),
        (114.049, 22.501), (114.052, 22.501), (114.056, 22.503), (114.057, 22.503),
        (114.058, 22.505), (114.058, 22.509), (114.0586, 22.5102), (114.075, 22.516),
        (114.075, 22.515), (114.078, 22.515), (114.079, 22.516), (114.083, 22.518),
        (114.084, 22.519), (114.084, 22.52), (114.085, 22.52), (114.085, 22.522),
        (114.086, 22.523), (114.083, 22.526), (114.0819, 22.5266), (114.0852, 22.5317),
        (114.086, 22.532), (114.09, 22.536), (114.094, 22.536), (114.095, 22.534),
        (114.098, 22.534), (114.103, 22.535), (114.103, 22.532), (114.104, 22.532),
        (114.104, 22.533), (114.105, 22.534), (114.108, 22.533), (114.109, 22.53), (114.11, 22.53),
        (114.112, 22.529), (114.112, 22.528), (114.113, 22.528), (114.113, 22.53),
        (114.116, 22.531), (114.116, 22.535), (114.118, 22.535), (114.121, 22.534),
        (114.121, 22.536), (114.122, 22.535), (114.123, 22.536), (114.122, 22.536),
        (114.121, 22.537), (114.1224, 22.5384), (114.148, 22.541), (114.149, 22.542),
        (114.1482, 22.5428), (114.1503, 22.546), (114.151, 22.546), (114.152, 22.547),
        (114.152, 22.548), (114.1517, 22.548), (114.1558, 22.5542), (114.157, 22.555),
        (114.1563, 22.555), (114.161, 22.562), (114.162, 22.5617), (114.162, 22.561),
        (114.164, 22.559), (114.166, 22.559), (114.1664, 22.5604), (114.1776, 22.5573),
        (114.178, 22.556), (114.181, 22.554), (114.181, 22.555), (114.182, 22.556),
        (114.189, 22.554), (114.191, 22.554), (114.191, 22.5546), (114.194, 22.5555),
        (114.195, 22.555), (114.196, 22.5561), (114.199, 22.557), (114.2011, 22.5569),
        (114.202, 22.556), (114.2053, 22.5567), (114.2085, 22.5565), (114.209, 22.556),
        (114.211, 22.556), (114.212, 22.555), (114.217, 22.555), (114.217, 22.556),
        (114.218, 22.556), (114.228, 22.541), (114.228, 22.5434), (114.25, 22.553),
        (114.28, 22.565), (114.4, 22.575), (114.44, 22.565), (114.45, 22.545), (114.45, 22.14),
        (113.87, 22.14),
    ),
    "Macau": (
        (113.524, 22.176), (113.527, 22.186), (113.531, 22.196), (113.534, 22.2055),
        (113.554, 22.2165), (113.562, 22.212), (113.60, 22.214), (113.62, 22.20),
        (113.62, 22.10), (113.549, 22.10), (113.549, 22.143), (113.540, 22.157),
        (113.536, 22.165),
    ),
    "Taiwan": (
        (119.25, 22.9), (120.6, 21.75), (122.15, 21.75), (122.2, 25.7), (121.45, 25.45),
        (119.75, 23.95), (119.25, 23.95),
    ),
    "Kinmen": (
        (118.327, 24.375), (118.229, 24.401), (118.216, 24.416), (118.218, 24.448),
        (118.224, 24.457), (118.307, 24.501), (118.419, 24.538), (118.43, 24.536),
        (118.456, 24.513), (118.472, 24.485), (118.476, 24.43), (118.47, 24.419),
        (118.442, 24.402),
    ),
    "Matsu": ((119.89, 25.92), (120.05, 25.92), (120.05, 26.26), (119.89, 26.26)),
    "Dongyin": ((120.45, 26.33), (120.53, 26.33), (120.53, 26.40), (120.45, 26.40)),
}
_EXCLUDED = tuple(shapely.Polygon(ring) for ring in _EXCLUDED_RINGS.values())
for _polygon in _EXCLUDED:
    shapely.prepare(_polygon)


# --------------------------------------------------------------------------- mainland test
def _as_float(lon: object, lat: object) -> tuple[np.ndarray, np.ndarray]:
    lon_b, lat_b = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return lon_b.astype(float, copy=True), lat_b.astype(float, copy=True)


def _out(values: np.ndarray) -> np.ndarray:
    return values[()] if values.ndim == 0 else values


def _in_box(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = _CHINA_BBOX
    return (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)


def in_mainland_china(lon: object, lat: object) -> np.ndarray:
    """Tell which points get the GCJ-02 offset: inside mainland China.

    Parameters
    ----------
    lon, lat
        Longitude and latitude in degrees (scalars or arrays, broadcast together).

    Returns
    -------
    numpy.ndarray of bool
        True inside the crude China box (72.004–137.8347°E, 0.8293–55.8271°N) and outside
        Hong Kong, Macau, Taiwan, Kinmen and Matsu; False for NaN. A NumPy bool for scalars.
        Neighbouring countries inside the box count as "mainland", as in every common
        implementation. Land more than ~100 m from the Hong Kong / Macau border is classified
        right.
    """
    lon_a, lat_a = _as_float(lon, lat)
    inside = _in_box(lon_a, lat_a)
    flat, lon_f, lat_f = inside.reshape(-1), lon_a.reshape(-1), lat_a.reshape(-1)
    for polygon in _EXCLUDED:
        px0, py0, px1, py1 = polygon.bounds
        near = np.flatnonzero(flat & (lon_f >= px0) & (lon_f <= px1)
                              & (lat_f >= py0) & (lat_f <= py1))
        if near.size:
            flat[near] = ~shapely.intersects_xy(polygon, lon_f[near], lat_f[near])
    return _out(flat.reshape(inside.shape))

