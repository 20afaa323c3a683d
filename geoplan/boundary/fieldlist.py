"""The 问题清单 a field team works from: every finding with where to go and what to do.

One row per finding, sorted by line and severity: the line and its name, the marker(s), the
two units concerned (code and name), what was measured against which tolerance, the
recommended action (复测, 补设, 更换, 修缮, 复位, 补签协议, 核实权属, …) and the place: a
point on the finding (the marker, a point on the deviating stretch or inside the gap) in
CGCS2000 Gauss-Krüger coordinates (X = northing, Y = easting, as surveyors write them) and
in WGS 84 longitude/latitude for phones and field apps. Computation only; the workbook,
GeoPackage and KML are written by :mod:`geoplan.report.boundary`.
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from geoplan.boundary.findings import FINDING_KINDS
from geoplan.boundary.inspection import BoundaryInspection
from geoplan.boundary.topology import code_key
from geoplan.crs import metric_crs_for

#: Columns of the field list (问题清单), in order, with their Chinese headers.
FIELD_HEADERS = {
    "finding_id": "问题编号",
    "line_code": "界线编码",
    "line_name": "界线名称",
    "severity_zh": "严重程度",
    "kind_zh": "问题类型",
    "subject": "对象",
    "marker_no": "界桩编号",
    "unit_a_text": "政区甲",
    "unit_b_text": "政区乙",
    "detail": "说明",
    "value": "实测值",
    "tolerance": "容差",
    "unit": "单位",
    "action": "建议措施",
    "gk_x_m": "X坐标（北，m）",
    "gk_y_m": "Y坐标（东，m）",
    "gk_crs": "平面坐标系",
    "lon": "经度（WGS84）",
    "lat": "纬度（WGS84）",
    "kind": "类型代码",
    "row": "所在行",
}
SEVERITY_ZH = {"error": "问题", "warning": "提示"}
_SEVERITY_RANK = {"error": 0, "warning": 1}


def _gk_crs(crs: CRS, where: np.ndarray) -> CRS:
    """Return the CGCS2000 Gauss-Krüger CRS to report in: the findings' own, or their zone."""
    code = crs.to_epsg(min_confidence=70) if crs is not None else None
    if code is not None and 4513 <= code <= 4554:
        return crs
    points = [p for p in where if p is not None]
    if not points:
        return crs
    return CRS.from_epsg(metric_crs_for(gpd.GeoSeries(points, crs=crs)))


def _place(geom: object) -> shapely.Point | None:
    """Where to go for a finding: the point, the middle of its longest line, inside its area.

    Lines (deviating stretches) win over areas in a mixed geometry: the team walks the line.
    """
    if geom is None or geom.is_empty:
        return None
    parts = shapely.get_parts(geom)
    while any(p.geom_type.startswith(("Multi", "Geometry")) for p in parts):
        parts = np.concatenate([shapely.get_parts(p) for p in parts])
    lines = [p for p in parts if p.geom_type in ("LineString", "LinearRing") and p.length > 0]
    if lines:
        return max(lines, key=lambda p: p.length).interpolate(0.5, normalized=True)
    areas = [p for p in parts if p.geom_type == "Polygon" and p.area > 0]
    if areas:
        return shapely.point_on_surface(max(areas, key=lambda p: p.area))
    points = [p for p in parts if p.geom_type == "Point"]
    return points[0] if points else None


def field_list(result: BoundaryInspection, *, line_code: str | None = None) -> pd.DataFrame:
    """Return the 问题清单: one row per finding, sorted by line and severity, with its place.

    Parameters
    ----------
    result
        Output of :func:`geoplan.boundary.inspect_boundaries` (findings in a metric CRS).
    line_code
        Only the findings of this line.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FIELD_HEADERS` (contract names; the headers are the Chinese names)
        plus ``geometry`` (the place, a point in the findings' CRS: for a marker its point,
        for a line the middle of its longest deviating stretch, for a gap or overlap a point
        inside it; None when a finding has no geometry) and ``highlight`` (errors).
        ``gk_x_m``/``gk_y_m`` are the CGCS2000 Gauss-Krüger northing and easting in
        ``gk_crs`` (the findings' CRS when it is a CGCS2000 zone, else the zone of the
        findings); ``lon``/``lat`` are WGS 84 degrees.
        Sorted by line code (findings without a line last), severity (问题 before 提示),
        kind (report order) and subject.
    """
    findings = result.findings
    if line_code is not None:
        findings = findings[findings["line_code"] == line_code]
    table = pd.DataFrame(findings.drop(columns="geometry")).reset_index()
    places = np.array([_place(g) for g in findings.geometry.values], dtype=object)
    crs = CRS.from_user_input(findings.crs) if findings.crs is not None else None
    x = np.array([np.nan if p is None else p.x for p in places])
    y = np.array([np.nan if p is None else p.y for p in places])
    gk = _gk_crs(crs, places) if crs is not None and len(findings) else crs
    ok = np.isfinite(x) & np.isfinite(y)
    east, north, lon, lat = (np.full(len(x), np.nan) for _ in range(4))
    if ok.any() and crs is not None:
        east[ok], north[ok] = Transformer.from_crs(crs, gk, always_xy=True).transform(x[ok], y[ok])
        lon[ok], lat[ok] = Transformer.from_crs(crs, 4326, always_xy=True).transform(x[ok], y[ok])
    names = dict(zip(result.lines["line_code"], result.lines.get("name", pd.Series(
        [""] * len(result.lines), index=result.lines.index)), strict=True))
    zone = "" if gk is None else f"{gk.name} (EPSG:{gk.to_epsg(min_confidence=70)})"
    table = table.assign(
        line_name=[(names.get(c) or "") if isinstance(c, str) else "" for c in table["line_code"]],
        severity_zh=[SEVERITY_ZH.get(s, s) for s in table["severity"]],
        kind_zh=[FINDING_KINDS[k].name_zh for k in table["kind"]],
        unit_a_text=[_unit_text(c, result.unit_names) for c in table["unit_a"]],
        unit_b_text=[_unit_text(c, result.unit_names) for c in table["unit_b"]],
        gk_x_m=north, gk_y_m=east, gk_crs=np.where(ok, zone, ""), lon=lon, lat=lat,
        geometry=places, highlight=(table["severity"] == "error").to_numpy(),
    )
    rank = {k: i for i, k in enumerate(FINDING_KINDS)}
    order = table.assign(
        _no_line=table["line_code"].isna(),
        _line=table["line_code"].fillna(""),
        _sev=table["severity"].map(_SEVERITY_RANK).fillna(9),
        _kind=table["kind"].map(rank),
    ).sort_values(["_no_line", "_line", "_sev", "_kind", "subject", "finding_id"],
                  kind="stable")
    return table.loc[order.index, [*FIELD_HEADERS, "geometry", "highlight"]].reset_index(drop=True)


def _unit_text(code: object, names: Mapping[str, str]) -> str:
    """Return ``"350211 集美区"`` (the code as written and its name), or '' without a code."""
    if code is None or code is pd.NA or (isinstance(code, float) and np.isnan(code)):
        return ""
    return f"{code} {names.get(code_key(code), '')}".strip()
