"""Declared coordinate systems, GCJ-02/BD-09 conversion and the study's Gauss-Krüger zone.

Every input declares its coordinates (``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09`` or
``EPSG:n``); :func:`parse_coords` refuses undeclared, unknown and legacy (Xian 1980 /
Beijing 1954) ones. GCJ-02 (高德/腾讯) and BD-09 (百度), which PROJ does not know, are
converted with the public formula (Krasovsky 1940 constants) and exact fixed-point inverses,
vectorised over NumPy arrays, only where the WGS 84 position lies in mainland China
(:func:`in_mainland_china`; the outlines of Hong Kong, Macau, Taiwan … are in
:mod:`geoplan.crs._mainland`). Use GCJ-02/BD-09 → CGCS2000 to bring a planner's own geocoded
lists into the analysis, not to publish de-obfuscated bulk data. CGCS2000 and WGS 84 lon/lat
differ by well under a metre (PROJ itself has a no-op between them), so WGS 84 numbers are
relabelled EPSG:4490 unchanged. Metric work happens in the study's CGCS2000 3-degree
Gauss-Krüger zone (EPSG:4534–4554, "CM nnnE", false easting 500 000 m).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as ProjCRSError

from geoplan.crs._mainland import _as_float, _in_box, _out, in_mainland_china
from geoplan.errors import CRSError

__all__ = [
    "BD09", "CGCS2000", "CGCS2000_EPSG", "GCJ02", "WGS84", "bd09_to_gcj02", "bd09_to_wgs84",
    "from_declared", "gcj02_offset_m", "gcj02_to_bd09", "gcj02_to_wgs84", "gk_zone_epsg",
    "in_mainland_china", "metric_crs_for", "parse_coords", "require_metric", "same_crs",
    "to_cgcs2000", "to_gcj02_display", "to_metric", "wgs84_to_bd09", "wgs84_to_gcj02",
]

logger = logging.getLogger(__name__)

WGS84, CGCS2000, GCJ02, BD09 = "wgs84", "cgcs2000", "gcj02", "bd09"
CGCS2000_EPSG = 4490
_LONLAT = (WGS84, CGCS2000, GCJ02, BD09)
_CHOICES = "wgs84 / cgcs2000 / gcj02(高德/腾讯) / bd09(百度) / EPSG:xxxx"
_DOCS = "docs/layers.md#coordinates"

_ALIASES = {
    WGS84: ("wgs84", "wgs1984", "gps", "crs84", "ogc:crs84"),
    CGCS2000: ("cgcs2000", "cgcs", "国家2000", "2000国家大地", "中国2000", "china2000", "天地图"),
    GCJ02: ("gcj02", "gcj", "火星", "国测局", "高德", "腾讯", "amap", "gaode", "tencent", "qq"),
    BD09: ("bd09", "bd09ll", "百度", "baidu"),
}
_ALIAS_TO_CANONICAL = {alias: name for name, aliases in _ALIASES.items() for alias in aliases}
_LEGACY_NAMES = ("xian80", "xian1980", "西安80", "西安1980", "1980西安", "beijing54",
                 "beijing1954", "北京54", "北京1954", "1954北京", "新北京54")
_LEGACY_DATUMS = ("xian1980", "beijing1954", "newbeijing")
_DATUMS = {WGS84: ("worldgeodeticsystem1984", "wgs84", "wgs1984"), CGCS2000: ("china2000",)}

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 formula.
_KRASOVSKY_A_M = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_BD_X_PI = math.pi * 3000.0 / 180.0
_CONTRACTION = 0.05  # bound on how much an offset changes per degree moved (see _invert)

Layer = gpd.GeoDataFrame | gpd.GeoSeries
ArrayPair = tuple[np.ndarray, np.ndarray]


# --------------------------------------------------------------------------- declarations
def _key(text: str) -> str:
    text = text.strip().lower()
    text = re.sub(r"[\s\-_.()（）]", "", text)
    return text.replace("坐标系", "").replace("坐标", "")


def _legacy_error(label: str) -> CRSError:
    return CRSError(
        f"{label} 是旧坐标系（西安80 / 北京54）：PROJ 只有无参数的近似（ballpark，不做任何改正）"
        "转换，真实偏差达数十米。请提供 CGCS2000 成果（EPSG:4490 或 EPSG:4534–4554）或当地公布的"
        f"七参数/四参数。 / {label} is a legacy Xian 1980 / Beijing 1954 system: PROJ only has a "
        "no-op 'ballpark' transformation to CGCS2000 while the true shift is tens of metres. "
        "Please supply the data in CGCS2000 or a published 7-/4-parameter set."
    )


def _datum_key(crs: CRS) -> str:
    datum = crs.geodetic_crs.datum if crs.geodetic_crs is not None else None
    return re.sub(r"[^a-z0-9]", "", datum.name.lower()) if datum is not None else ""


def _is_legacy(crs: CRS) -> bool:
    return any(name in _datum_key(crs) for name in _LEGACY_DATUMS)


def _label(crs: CRS) -> str:
    epsg = crs.to_epsg(min_confidence=70)
    return f"EPSG:{epsg} ({crs.name})" if epsg else crs.name


def _parse_epsg(code: int) -> str:
    try:
        crs = CRS.from_epsg(code)
    except ProjCRSError as exc:
        raise CRSError(f"未知的 EPSG 代码 / unknown EPSG code: EPSG:{code}") from exc
    if _is_legacy(crs):
        raise _legacy_error(f"EPSG:{code} ({crs.name})")
    return {4326: WGS84, CGCS2000_EPSG: CGCS2000}.get(code, f"EPSG:{code}")


def parse_coords(declared: str | int | None) -> str:
    """Return the canonical name of a declared coordinate system.

    Parameters
    ----------
    declared
        What the user wrote: ``"wgs84"``, ``"WGS-84"``, ``"cgcs2000"``, ``"国家2000"``,
        ``"gcj02"``, ``"高德"``, ``"腾讯"``, ``"bd09"``, ``"百度"``, ``"EPSG:4549"`` or a
        bare EPSG number.

    Returns
    -------
    str
        ``'wgs84'``, ``'cgcs2000'``, ``'gcj02'``, ``'bd09'`` or ``'EPSG:n'``. EPSG:4326 is
        returned as ``'wgs84'`` and EPSG:4490 as ``'cgcs2000'``, so one meaning has one name.

    Raises
    ------
    CRSError
        If the declaration is missing or unknown (the message lists the choices), names
        Baidu's Mercator (BD09MC), or names a Xian 1980 / Beijing 1954 system.
    """
    if declared is None or (isinstance(declared, str) and not declared.strip()):
        raise CRSError(f"坐标系未声明：{_CHOICES} / coordinate system not declared: {_CHOICES} "
                       f"(see {_DOCS})")
    if isinstance(declared, int) and not isinstance(declared, bool):
        return _parse_epsg(declared)
    if not isinstance(declared, str):
        raise CRSError(f"坐标系声明应为文字 / declaration must be text, not {declared!r}")
    key = _key(declared)
    if key in _ALIAS_TO_CANONICAL:
        return _ALIAS_TO_CANONICAL[key]
    if match := re.fullmatch(r"(?:epsg:?)?(\d{4,6})", key):
        return _parse_epsg(int(match.group(1)))
    if key in _LEGACY_NAMES:
        raise _legacy_error(repr(declared))
    if key in ("bd09mc", "百度墨卡托"):
        raise CRSError("BD09MC（百度墨卡托）不支持，请导出 bd09 经纬度 / Baidu Mercator (BD09MC) "
                       "is not supported; export BD-09 longitude/latitude ('bd09') instead")
    raise CRSError(f"未知坐标系 {declared!r}：请声明 {_CHOICES} / unknown coordinate system "
                   f"{declared!r}; declare one of {_CHOICES} (see {_DOCS})")


# --------------------------------------------------------------------------- array conversions
def _gcj_delta_deg(lon: np.ndarray, lat: np.ndarray) -> ArrayPair:
    """GCJ-02 minus WGS 84 at a WGS 84 point, in degrees (no mainland test)."""
    x, y = lon - 105.0, lat - 35.0
    sx = 2.0 * np.sin((6.0 * np.pi) * x) + 2.0 * np.sin((2.0 * np.pi) * x)
    sqrt_x = np.sqrt(np.abs(x))
    dlat_m = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_x
              + (sx + 2.0 * np.sin(np.pi * y) + 4.0 * np.sin((np.pi / 3.0) * y)
                 + 16.0 * np.sin((np.pi / 12.0) * y) + 32.0 * np.sin((np.pi / 30.0) * y))
              * (20.0 / 3.0))
    dlon_m = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_x
              + (sx + 2.0 * np.sin(np.pi * x) + 4.0 * np.sin((np.pi / 3.0) * x)
                 + 15.0 * np.sin((np.pi / 12.0) * x) + 30.0 * np.sin((np.pi / 30.0) * x))
              * (20.0 / 3.0))
    rad_lat = np.radians(lat)
    magic = 1.0 - _KRASOVSKY_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    lat_deg_m = (np.pi / 180.0 * _KRASOVSKY_A_M * (1.0 - _KRASOVSKY_EE)) / (magic * sqrt_magic)
    lon_deg_m = (np.pi / 180.0 * _KRASOVSKY_A_M) * np.cos(rad_lat) / sqrt_magic
    return dlon_m / lon_deg_m, dlat_m / lat_deg_m


def _wgs_to_gcj(lon: np.ndarray, lat: np.ndarray) -> ArrayPair:
    dlon, dlat = _gcj_delta_deg(lon, lat)
    return lon + dlon, lat + dlat


def _gcj_to_bd(lon: np.ndarray, lat: np.ndarray) -> ArrayPair:
    z = np.hypot(lon, lat) + 2e-5 * np.sin(lat * _BD_X_PI)
    theta = np.arctan2(lat, lon) + 3e-6 * np.cos(lon * _BD_X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_to_gcj_closed_form(lon: np.ndarray, lat: np.ndarray) -> ArrayPair:
    x, y = lon - 0.0065, lat - 0.006
    z = np.hypot(x, y) - 2e-5 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 3e-6 * np.cos(x * _BD_X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(forward: Callable[[np.ndarray, np.ndarray], ArrayPair], lon: np.ndarray,
            lat: np.ndarray, start: ArrayPair, tol_deg: float, max_iter: int) -> ArrayPair:
    """Solve ``forward(p) = (lon, lat)`` by the fixed-point iteration p <- p - (f(p) - target).

    Both GCJ-02 and BD-09 offsets change by < 5 % of a step per step (measured < 1 %), so
    the error after a correction is below 0.05 x that correction: stop when that is < tol.
    """
    x, y = start
    for _ in range(max_iter):
        fx, fy = forward(x, y)
        ex, ey = fx - lon, fy - lat
        x, y = x - ex, y - ey
        if ex.size == 0 or _CONTRACTION * max(np.abs(ex).max(), np.abs(ey).max()) < tol_deg:
            break
    else:
        logger.warning("inverse did not converge to %g° in %d iterations", tol_deg, max_iter)
    return x, y


def _mainland_wgs(lon: np.ndarray, lat: np.ndarray, gcj: bool) -> np.ndarray:
    """Mainland test of the WGS 84 position of points given in WGS 84 or (``gcj``) GCJ-02."""
    if not gcj:
        return np.asarray(in_mainland_china(lon, lat))
    dlon, dlat = _gcj_delta_deg(lon, lat)  # one-step WGS 84 estimate, good to ~2 m
    return _in_box(lon, lat) & np.asarray(in_mainland_china(lon - dlon, lat - dlat))


def _on_mainland(convert: Callable[[np.ndarray, np.ndarray], ArrayPair], lon: object,
                 lat: object, *, test_result: bool = False, gcj: bool = False) -> ArrayPair:
    """Apply ``convert`` to the points whose WGS 84 position lies in mainland China.

    Forward conversions test their input, inverses (``test_result``) their result, so every
    mainland point round-trips exactly, even next to the Hong Kong border. ``gcj`` says the
    tested side is GCJ-02 (GCJ-02 <-> BD-09), tested through its WGS 84 estimate.
    """
    lon_a, lat_a = _as_float(lon, lat)
    flat_lon, flat_lat = lon_a.reshape(-1), lat_a.reshape(-1)
    if test_result:
        idx = np.flatnonzero(_in_box(flat_lon, flat_lat))
        x, y = convert(flat_lon[idx], flat_lat[idx])
        keep = _mainland_wgs(x, y, gcj)
        idx, x, y = idx[keep], x[keep], y[keep]
    else:
        idx = np.flatnonzero(_mainland_wgs(flat_lon, flat_lat, gcj))
        x, y = convert(flat_lon[idx], flat_lat[idx])
    flat_lon[idx], flat_lat[idx] = x, y
    return _out(lon_a), _out(lat_a)


def wgs84_to_gcj02(lon: object, lat: object) -> ArrayPair:
    """Convert WGS 84 (or CGCS2000) lon/lat to GCJ-02 (高德/腾讯).

    Parameters
    ----------
    lon, lat
        Degrees, scalars or arrays (broadcast together); NaN passes through.

    Returns
    -------
    tuple of numpy.ndarray
        ``(lon, lat)`` in GCJ-02 degrees; unchanged outside mainland China.
    """
    return _on_mainland(_wgs_to_gcj, lon, lat)


def gcj02_to_wgs84(lon: object, lat: object, *, tol_deg: float = 1e-9,
                   max_iter: int = 20) -> ArrayPair:
    """Convert GCJ-02 lon/lat to WGS 84 exactly, by fixed-point iteration.

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees, scalars or arrays; NaN passes through.
    tol_deg
        Stop when the forward image of the result misses the input by less than this
        (1e-9° ≈ 0.1 mm).
    max_iter
        Iteration limit (3–4 iterations suffice in practice).

    Returns
    -------
    tuple of numpy.ndarray
        ``(lon, lat)`` in WGS 84 degrees; unchanged where the result would lie outside
        mainland China. So every mainland point round-trips exactly, while a Hong Kong point
        within ~0.3 km of the Shenzhen border may be taken for a mainland one.
    """
    def convert(x: np.ndarray, y: np.ndarray) -> ArrayPair:
        return _invert(_wgs_to_gcj, x, y, (x, y), tol_deg, max_iter)

    return _on_mainland(convert, lon, lat, test_result=True)


def gcj02_to_bd09(lon: object, lat: object) -> ArrayPair:
    """Convert GCJ-02 lon/lat to BD-09 (百度), degrees; unchanged off the mainland.

    Whether a point is mainland is decided on its one-step WGS 84 estimate (good to ~2 m),
    so this agrees with :func:`wgs84_to_bd09` right up to the Hong Kong border.
    """
    return _on_mainland(_gcj_to_bd, lon, lat, gcj=True)


def bd09_to_gcj02(lon: object, lat: object, *, tol_deg: float = 1e-9,
                  max_iter: int = 20) -> ArrayPair:
    """Convert BD-09 lon/lat to GCJ-02 exactly, degrees; unchanged off the mainland.

    Closed-form start, then fixed-point iteration; arguments as in :func:`gcj02_to_wgs84`.
    """
    def convert(x: np.ndarray, y: np.ndarray) -> ArrayPair:
        return _invert(_gcj_to_bd, x, y, _bd_to_gcj_closed_form(x, y), tol_deg, max_iter)

    return _on_mainland(convert, lon, lat, test_result=True, gcj=True)


def wgs84_to_bd09(lon: object, lat: object) -> ArrayPair:
    """Convert WGS 84 lon/lat to BD-09 (via GCJ-02), degrees; unchanged off the mainland."""
    return _on_mainland(lambda x, y: _gcj_to_bd(*_wgs_to_gcj(x, y)), lon, lat)


def bd09_to_wgs84(lon: object, lat: object, *, tol_deg: float = 1e-9,
                  max_iter: int = 20) -> ArrayPair:
    """Convert BD-09 lon/lat to WGS 84 exactly (via GCJ-02), degrees; unchanged off the mainland."""
    def convert(x: np.ndarray, y: np.ndarray) -> ArrayPair:
        gx, gy = _invert(_gcj_to_bd, x, y, _bd_to_gcj_closed_form(x, y), tol_deg, max_iter)
        return _invert(_wgs_to_gcj, gx, gy, (gx, gy), tol_deg, max_iter)

    return _on_mainland(convert, lon, lat, test_result=True)


def gcj02_offset_m(lon: object, lat: object) -> ArrayPair:
    """Return the GCJ-02 displacement at WGS 84 points, in metres east and north.

    Useful for plausibility checks: points that sit off the street network by about this
    vector were probably geocoded in GCJ-02 but declared WGS 84. Uses the local radii of
    curvature of the WGS 84 ellipsoid (error < 0.01 %). Zero outside mainland China.
    """
    lon_a, lat_a = _as_float(lon, lat)
    glon, glat = wgs84_to_gcj02(lon_a, lat_a)
    a_m, ee = 6378137.0, 0.00669437999014
    sin2 = np.sin(np.radians(lat_a)) ** 2
    east_m = np.radians(glon - lon_a) * a_m * np.cos(np.radians(lat_a)) / np.sqrt(1 - ee * sin2)
    north_m = np.radians(glat - lat_a) * a_m * (1 - ee) / (1 - ee * sin2) ** 1.5
    return _out(east_m), _out(north_m)


# --------------------------------------------------------------------------- layers
def _transform_layer(layer: Layer, convert: Callable[..., ArrayPair], crs: int) -> Layer:
    """Apply a lon/lat conversion to every vertex of the active geometry (z kept)."""
    geoms = np.asarray(layer.geometry.array, dtype=object)
    has_z = np.asarray(shapely.has_z(geoms), dtype=bool)

    def xy(coords: np.ndarray) -> np.ndarray:
        out = coords.copy()
        out[:, 0], out[:, 1] = convert(coords[:, 0], coords[:, 1])
        return out

    new = geoms.copy()
    for z in (False, True):
        pick = has_z == z
        if pick.any():
            new[pick] = shapely.transform(geoms[pick], xy, include_z=z)
    if isinstance(layer, gpd.GeoSeries):
        return gpd.GeoSeries(new, index=layer.index, crs=crs, name=layer.name)
    name = layer.geometry.name
    return layer.set_geometry(gpd.GeoSeries(new, index=layer.index, crs=crs, name=name))


def _has_datum(crs: CRS, declared: str) -> bool:
    return any(name in _datum_key(crs) for name in _DATUMS[declared])


def _is_lonlat(crs: CRS) -> bool:
    return crs.is_geographic and (_has_datum(crs, WGS84) or _has_datum(crs, CGCS2000))


def _check_file_crs(file_crs: CRS | None, declared: str) -> None:
    if file_crs is None:
        return
    if _is_legacy(file_crs):
        raise _legacy_error(_label(file_crs))
    if declared in (GCJ02, BD09):
        agrees = _is_lonlat(file_crs)
    elif declared in (WGS84, CGCS2000):  # a projection of the declared datum is explicit too
        agrees = _is_lonlat(file_crs) or (file_crs.is_projected and _has_datum(file_crs, declared))
    else:
        code = int(declared.split(":")[1])
        agrees = file_crs.to_epsg(min_confidence=70) == code or file_crs.equals(
            CRS.from_epsg(code), ignore_axis_order=True)
    if not agrees:
        raise CRSError(f"图层自带坐标系 {_label(file_crs)} 与声明的 {declared!r} 不一致 / the "
                       f"layer's own CRS {_label(file_crs)} contradicts the declared {declared!r}; "
                       "fix the declaration or the file's CRS")


def same_crs(a: CRS | int | str | None, b: CRS | int | str | None) -> bool:
    """Whether two CRSs are the same system (equal, or the same EPSG code); False for None."""
    if a is None or b is None:
        return False
    a, b = CRS.from_user_input(a), CRS.from_user_input(b)
    if a == b:
        return True
    code = a.to_epsg(min_confidence=70)
    return code is not None and code == b.to_epsg(min_confidence=70)


def from_declared(layer: Layer, coords: str | int | None,
                  crs: CRS | int | str = CGCS2000_EPSG) -> Layer:
    """Return a copy of a layer converted from its declared coordinates straight to ``crs``.

    The numbers are transformed once, directly from the declared system to ``crs``: a layer
    already in ``crs`` comes back with its coordinates untouched (bit for bit), and a layer
    in one Gauss-Krüger zone goes to another without a detour through longitude/latitude.
    GCJ-02 and BD-09, which PROJ does not know, are first undone to WGS 84 longitude/latitude
    (exact inverse); WGS 84 longitude/latitude is taken as CGCS2000 (they differ by < 1 m).

    Parameters
    ----------
    layer
        GeoDataFrame or GeoSeries. Its own ``crs`` may be unset; if set it must agree with
        ``coords`` (a lon/lat CRS such as EPSG:4326/4490 is normal for GCJ-02 or BD-09
        numbers, since file formats cannot say GCJ-02).
    coords
        The declared coordinate system (see :func:`parse_coords`).
    crs
        The CRS to return the layer in (default EPSG:4490, CGCS2000 longitude/latitude).

    Returns
    -------
    GeoDataFrame or GeoSeries
        A new object in ``crs``.

    Raises
    ------
    CRSError
        If the declaration is missing, unknown or legacy, or contradicts the layer's CRS
        (``cgcs2000``/``wgs84`` accept a projection of that datum, e.g. EPSG:4549 for
        ``cgcs2000``; ``gcj02``/``bd09`` need lon/lat), or ``crs`` is a legacy system.
    """
    declared = parse_coords(coords)
    _check_file_crs(layer.crs, declared)
    target = CRS.from_user_input(crs)
    if _is_legacy(target):
        raise _legacy_error(_label(target))
    if declared == GCJ02:
        source = _transform_layer(layer, gcj02_to_wgs84, CGCS2000_EPSG)
    elif declared == BD09:
        source = _transform_layer(layer, bd09_to_wgs84, CGCS2000_EPSG)
    elif declared in (WGS84, CGCS2000) and (layer.crs is None or layer.crs.is_geographic):
        source = layer.set_crs(CGCS2000_EPSG, allow_override=True)
    else:
        source = layer if layer.crs is not None else layer.set_crs(declared)
    if same_crs(source.crs, target):  # relabelled, the numbers untouched
        return source.set_crs(target, allow_override=True)
    return source.to_crs(target)


def to_cgcs2000(layer: Layer, coords: str | int | None) -> Layer:
    """Return a copy of a layer in CGCS2000 lon/lat (EPSG:4490), undoing GCJ-02/BD-09.

    :func:`from_declared` with ``crs=4490``: WGS 84 numbers are relabelled unchanged (the
    datums differ by < 1 m); GCJ-02/BD-09 are converted exactly to WGS 84 first; ``EPSG:n``
    is reprojected with PROJ (x = easting/longitude).

    Raises
    ------
    CRSError
        As :func:`from_declared`.
    """
    return from_declared(layer, coords, CGCS2000_EPSG)


def _require_crs(layer: Layer, what: str) -> CRS:
    if layer.crs is None:
        raise CRSError(f"{what} 没有坐标系 / {what} has no CRS; declare it with to_cgcs2000 first")
    if _is_legacy(layer.crs):
        raise _legacy_error(_label(layer.crs))
    return layer.crs


def to_gcj02_display(layer: Layer) -> Layer:
    """Return a copy shifted into GCJ-02, labelled EPSG:4326, for drawing on 高德 tiles only.

    Parameters
    ----------
    layer
        GeoDataFrame or GeoSeries in any true CRS (WGS 84, CGCS2000, a GK zone, ...).

    Raises
    ------
    CRSError
        If the layer has no CRS or a legacy one.
    """
    crs = _require_crs(layer, "layer")
    lonlat = layer if _is_lonlat(crs) else layer.to_crs(4326)
    return _transform_layer(lonlat, wgs84_to_gcj02, 4326)


# --------------------------------------------------------------------------- metric zone
def gk_zone_epsg(lon_deg: float) -> int:
    """Return the CGCS2000 3-degree Gauss-Krüger "CM nnnE" EPSG code for a longitude.

    Parameters
    ----------
    lon_deg
        Longitude in degrees east; the zone is n = round(lon / 3) (halves round east, so
        118.5°E is zone 40), EPSG = 4509 + n, central meridian 3n°E.

    Raises
    ------
    CRSError
        Outside zones 25–45 (73.5–136.5°E, central meridians 75–135°E) or not finite.
    """
    lon = float(lon_deg)
    zone = math.floor(lon / 3.0 + 0.5) if math.isfinite(lon) else 0
    if not 25 <= zone <= 45:
        raise CRSError(f"经度 {lon_deg}° 不在 CGCS2000 3 度带（73.5–136.5°E）内 / longitude "
                       f"{lon_deg}° is outside the CGCS2000 3-degree Gauss-Krüger zones "
                       "(central meridians 75°E–135°E)")
    return 4509 + zone


def metric_crs_for(layer: Layer) -> int:
    """Choose the study's Gauss-Krüger zone from the centroid of a layer.

    Parameters
    ----------
    layer
        GeoDataFrame or GeoSeries with a CRS (any CRS), e.g. the study-area outline.

    Returns
    -------
    int
        EPSG code 4534–4554 of the zone holding the centroid (Jinjiang → 4549). The centroid
        is area-weighted for polygons (computed in an equal-area projection), length-weighted
        for lines, the mean for points; for a study spanning two zones it is the zone where
        most of the study lies.

    Raises
    ------
    CRSError
        If the layer has no CRS, is empty, or lies outside China's zones.
    """
    crs = _require_crs(layer, "layer")
    geoms = gpd.GeoSeries(np.asarray(layer.geometry.array, dtype=object), crs=crs)
    geoms = geoms[~(geoms.isna() | geoms.is_empty)]
    bounds = np.asarray(geoms.to_crs(CGCS2000_EPSG).total_bounds, dtype=float)
    if not len(geoms) or not np.isfinite(bounds).all():
        raise CRSError("图层为空，无法选择投影带 / the layer is empty; cannot choose a zone")
    centre = (bounds[0] + bounds[2]) / 2.0, (bounds[1] + bounds[3]) / 2.0
    laea = CRS.from_proj4(f"+proj=laea +lon_0={centre[0]} +lat_0={centre[1]} +ellps=GRS80")
    parts = geoms.to_crs(laea)
    dims = np.asarray(shapely.get_dimensions(np.asarray(parts.array, dtype=object)))
    top = parts[dims == dims.max()]
    weights = (top.area if dims.max() == 2 else top.length if dims.max() == 1
               else pd.Series(1.0, index=top.index)).to_numpy(dtype=float)
    if not weights.sum() > 0:
        weights = np.ones(len(top))
    points = top.centroid
    x = float(np.average(points.x, weights=weights))
    y = float(np.average(points.y, weights=weights))
    lon, _lat = Transformer.from_crs(laea, CGCS2000_EPSG, always_xy=True).transform(x, y)
    return gk_zone_epsg(round(lon, 9))  # 0.1 mm: a point on a zone edge stays on it


def require_metric(obj: Layer | CRS | int | str | None, what: str) -> CRS:
    """Check that a layer (or CRS) is projected in metres, and return its CRS.

    Parameters
    ----------
    obj
        GeoDataFrame, GeoSeries, pyproj CRS, EPSG int or CRS string.
    what
        How to name it in the error, e.g. ``"facilities"``.

    Raises
    ------
    CRSError
        If there is no CRS, it is geographic (degrees), or its units are not metres.
    """
    crs = obj.crs if isinstance(obj, gpd.GeoDataFrame | gpd.GeoSeries) else obj
    if crs is None:
        raise CRSError(f"{what} 没有坐标系 / {what} has no CRS; distances need metres")
    try:
        crs = CRS.from_user_input(crs)
    except ProjCRSError as exc:
        raise CRSError(f"{what}: 无法识别的坐标系 / unrecognised CRS {crs!r}") from exc
    if not crs.is_projected:
        raise CRSError(f"{what} 使用经纬度（度），距离和面积需要米制投影 / {what} is in degrees "
                       f"({_label(crs)}); project it to the study's CGCS2000 Gauss-Krüger zone "
                       "first, e.g. geoplan.crs.to_metric(layer, 4549)")
    units = {axis.unit_name for axis in crs.axis_info}
    if units != {"metre"}:
        raise CRSError(f"{what} 的单位是 {sorted(units)} 而不是米 / {what} is in {sorted(units)}, "
                       "not metres")
    return crs


def to_metric(layer: Layer, epsg: int) -> Layer:
    """Return a copy of a layer projected to a metric CRS (normally the study's GK zone).

    Parameters
    ----------
    layer
        GeoDataFrame or GeoSeries with a CRS.
    epsg
        Target EPSG code, projected in metres (e.g. from :func:`metric_crs_for`).

    Raises
    ------
    CRSError
        If the layer has no or a legacy CRS, or the target is not metric.

    Notes
    -----
    A layer already in ``epsg`` comes back with its coordinates untouched (bit for bit).
    """
    crs = _require_crs(layer, "layer")
    target = require_metric(epsg, f"EPSG:{epsg}")
    if same_crs(crs, target):
        return layer.set_crs(target, allow_override=True)
    return layer.to_crs(target)
