"""Coordinate systems: declared systems, GCJ-02/BD-09 conversion, the study's Gauss-Krüger zone.

Owns the names a layer declares (``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09``, ``EPSG:n``), the
vectorised GCJ-02/BD-09 offsets with their iterative inverses, the mainland-China test that says
where the offset applies, and the choice of the CGCS2000 3-degree Gauss-Krüger zone
(EPSG:4534–4554) in which all metric work happens. Uses nothing of geoplan but ``errors``.
"""

from geoplan.crs._mainland import in_mainland_china
from geoplan.crs.systems import (
    BD09,
    CGCS2000,
    CGCS2000_EPSG,
    GCJ02,
    WGS84,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_declared,
    gcj02_offset_m,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    gk_zone_epsg,
    metric_crs_for,
    parse_coords,
    require_metric,
    same_crs,
    to_cgcs2000,
    to_gcj02_display,
    to_metric,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

__all__ = [
    "BD09",
    "CGCS2000",
    "CGCS2000_EPSG",
    "GCJ02",
    "WGS84",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_declared",
    "gcj02_offset_m",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "gk_zone_epsg",
    "in_mainland_china",
    "metric_crs_for",
    "parse_coords",
    "require_metric",
    "same_crs",
    "to_cgcs2000",
    "to_gcj02_display",
    "to_metric",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]
