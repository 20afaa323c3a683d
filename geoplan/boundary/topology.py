"""Topology checks of the administrative layer: gaps, overlaps, slivers and nesting.

Adjacent units of one level (towns, streets and zones) must tile the study area without gaps
and without overlaps; each village must lie inside the town its ``parent_code`` names. Every
check returns rows of the boundary findings table (see :mod:`geoplan.boundary.findings`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geoplan._text import CODE_LEVELS, admin_code_key, code_text
from geoplan.boundary.findings import (
    Tolerances,
    finding,
    findings_frame,
    fmt_m,
    fmt_m2,
    normalize_code,
    tolerances_from,
)
from geoplan.crs import metric_crs_for, require_metric
from geoplan.errors import Problem, SchemaError, require_columns

logger = logging.getLogger(__name__)


def polygon_parts(geom: BaseGeometry | None) -> list[BaseGeometry]:
    """Return the polygons of any geometry (collections flattened, lines and points dropped)."""
    if geom is None or geom.is_empty:
        return []
    parts = shapely.get_parts(geom)
    out: list[BaseGeometry] = []
    for part in parts:
        if part.geom_type == "Polygon":
            out.append(part)
        elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
            out.extend(polygon_parts(part))
    return out


def line_parts(geom: BaseGeometry | None) -> BaseGeometry:
    """Return the linework of any geometry as one (merged) line geometry, possibly empty."""
    if geom is None or geom.is_empty:
        return shapely.MultiLineString()
    lines = [
        p
        for p in shapely.get_parts(geom)
        if p.geom_type in ("LineString", "MultiLineString", "LinearRing")
    ]
    nested = [p for p in shapely.get_parts(geom) if p.geom_type == "GeometryCollection"]
    for coll in nested:
        lines.extend(shapely.get_parts(line_parts(coll)))
    if not lines:
        return shapely.MultiLineString()
    merged = shapely.line_merge(shapely.union_all(lines))
    return merged


def mean_width_m(piece: BaseGeometry) -> float:
    """Return the mean width of a polygon, 2 × area / perimeter (metres); 0 for empty."""
    perimeter = piece.length
    return 0.0 if perimeter == 0 else 2.0 * piece.area / perimeter


def unit_codes(units: gpd.GeoDataFrame, code_col: str = "code") -> np.ndarray:
    """Return the unit codes as an array of str (the index when ``code_col`` is absent).

    Codes read as numbers (``350582001`` or ``350582001.0``) come back as digit text.
    """
    values = units[code_col] if code_col in units.columns else units.index.to_series()
    return np.array([code_text(v) or "" for v in values], dtype=object)


def code_key(value: object) -> str:
    """Return the significant digits of an admin code cell (``350203000000`` -> ``350203``).

    Codes are matched on these keys everywhere (:func:`geoplan._text.admin_code_key`), so a
    district written with 6 or 12 digits is the same unit.
    """
    return admin_code_key(code_text(value) or "")


def unit_keys(units: gpd.GeoDataFrame, code_col: str = "code") -> np.ndarray:
    """Return the unit codes' keys (:func:`code_key`) as an array of str."""
    return np.array([admin_code_key(c) for c in unit_codes(units, code_col)], dtype=object)


def unit_levels(units: gpd.GeoDataFrame, code_col: str = "code") -> np.ndarray:
    """Level of every unit: its ``level`` column when set, else read from its code.

    ``province``, ``city``, ``county``, ``town``, ``village`` (or ``"unit"`` when neither
    tells).
    """
    from_code = [CODE_LEVELS.get(len(k), "unit") if k.isdigit() else "unit"
                 for k in unit_keys(units, code_col)]
    if "level" not in units.columns:
        return np.array(from_code, dtype=object)
    written = [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
               for v in units["level"].astype(object)]
    known = set(CODE_LEVELS.values())
    return np.array([w if w in known else c for w, c in zip(written, from_code, strict=True)],
                    dtype=object)


def require_units(units: gpd.GeoDataFrame | None, what: str = "admin units") -> None:
    """Raise a clear :class:`~geoplan.errors.SchemaError` when there are no units at all."""
    if units is None or len(units) == 0:
        raise SchemaError(what, [Problem(
            "the layer has no units: boundary inspection needs the polygons of the units the "
            "lines separate (check the file, its layer and its level column)")])


def unit_geometry(key: str, geom_of: dict[str, BaseGeometry]) -> BaseGeometry | None:
    """Return the unit with this code key, else the union of the finer units inside it, else None.

    A county-level line between two districts is compared with the districts' polygons, or,
    when only their streets are given, with the union of those streets. ``geom_of`` (key ->
    polygon) is extended with the unions made, so each is made once.
    """
    if not key:
        return None
    if key not in geom_of:
        inside = [g for k, g in geom_of.items() if k.startswith(key) and len(k) > len(key)]
        if not inside:
            return None
        geom_of[key] = shapely.union_all(inside)
    return geom_of[key]


#: Cracks between neighbouring units narrower than twice this are closed in their outline (m).
OUTLINE_CLOSE_M = 5.0


def units_outline(units: gpd.GeoDataFrame, *, code_col: str = "code") -> gpd.GeoDataFrame:
    """Return the outline of a study made of its units: their union, valid, holes filled.

    Used as the study area when none is given. The units' polygons are repaired when
    invalid, unioned and made valid again (thin slivers and near-coincident edges between
    units cannot leave a degenerate ring); cracks narrower than 2 × :data:`OUTLINE_CLOSE_M`
    are closed (a morphological closing with mitred corners, in metres: units in lon/lat are
    closed in their Gauss-Krüger zone); interior holes are filled, so a gap between the
    units lies inside the outline and is reported as a gap (an enclave of another
    jurisdiction is then reported too: declare the study area for such a study).

    Returns
    -------
    geopandas.GeoDataFrame
        One feature (``code`` = the units' common code at a whole level, if any; ``name``),
        Polygon or MultiPolygon, valid, in the units' CRS; it passes the ``study_area``
        contract.

    Raises
    ------
    SchemaError
        If there are no units or a unit has no polygon.
    """
    require_units(units)
    units, _ = valid_units(units, "admin units", code_col)
    metric = units.crs is None or units.crs.is_projected
    work = units if metric else units.to_crs(metric_crs_for(units))
    union = shapely.union_all(np.asarray(work.geometry.values, dtype=object))
    if not union.is_valid:
        union = shapely.make_valid(union)
    # close cracks narrower than 2 × OUTLINE_CLOSE_M between units that do not quite meet,
    # so a crack reaching the outer edge lies inside the outline too (and is a gap finding)
    union = shapely.buffer(shapely.buffer(union, OUTLINE_CLOSE_M, join_style="mitre"),
                           -OUTLINE_CLOSE_M, join_style="mitre")
    shells = [shapely.Polygon(p.exterior) for p in polygon_parts(shapely.make_valid(union))]
    outline = shapely.union_all(shells)
    if not outline.is_valid:
        outline = shapely.union_all(polygon_parts(shapely.make_valid(outline)))
    if not metric:
        outline = gpd.GeoSeries([outline], crs=work.crs).to_crs(units.crs).iloc[0]
        if not outline.is_valid:
            outline = shapely.union_all(polygon_parts(shapely.make_valid(outline)))
    keys = [k for k in unit_keys(units, code_col) if k.isdigit()]
    common = ""
    if keys:
        common = keys[0]
        for k in keys[1:]:
            while not k.startswith(common):
                common = common[:-1]
        common = next((common[:n] for n in sorted(CODE_LEVELS, reverse=True)
                       if n <= len(common)), "")
    return gpd.GeoDataFrame({"code": [common or None], "name": ["各政区合并范围"]},
                            geometry=[outline], crs=units.crs)


def valid_units(
    units: gpd.GeoDataFrame, what: str = "admin units", code_col: str = "code"
) -> tuple[gpd.GeoDataFrame, list[dict[str, Any]]]:
    """Return the units with invalid polygons repaired, and a finding for each repaired one.

    Repaired units get an ``unit_invalid_geometry`` finding (the reason from GEOS).

    Raises
    ------
    SchemaError
        If a unit has no geometry, an empty one or one without any polygon area.
    """
    geoms = np.asarray(units.geometry.values, dtype=object)
    codes = unit_codes(units, code_col)
    problems = []
    for row, geom in zip(units.index, geoms, strict=True):
        if geom is None or geom.is_empty:
            problems.append(Problem("missing or empty geometry", row, "geometry"))
        elif geom.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(Problem(f"{geom.geom_type} is not a polygon", row, "geometry"))
    if problems:
        raise SchemaError(what, problems)
    bad = ~shapely.is_valid(geoms)
    if not bad.any():
        return units, []
    fixed = geoms.copy()
    records = []
    for k in np.flatnonzero(bad):
        reason = shapely.is_valid_reason(geoms[k])
        repaired = shapely.union_all(polygon_parts(shapely.make_valid(geoms[k])))
        fixed[k] = repaired
        records.append(
            finding(
                "unit_invalid_geometry",
                codes[k],
                f"政区图形无效（{reason}），已按有效图形修复后检查",
                geometry=repaired,
                row=units.index[k],
            )
        )
    out = units.copy()
    out[out.geometry.name] = gpd.GeoSeries(fixed, index=units.index, crs=units.crs)
    return out, records


def line_code_by_pair(lines: gpd.GeoDataFrame | None) -> dict[frozenset[str], str]:
    """Return a lookup {frozenset({left key, right key}): line_code} (smallest code wins).

    The keys are the code keys (:func:`code_key`) of the two sides.
    """
    if lines is None or len(lines) == 0:
        return {}
    out: dict[frozenset[str], str] = {}
    triples = zip(lines["line_code"], lines["left_code"], lines["right_code"], strict=True)
    texts = ((normalize_code(c), code_key(a), code_key(b)) for c, a, b in triples)
    for code, left, right in sorted((str(c), str(a), str(b)) for c, a, b in texts):
        out.setdefault(frozenset((left, right)), code)
    return out


def _contact_codes(
    piece: BaseGeometry,
    geoms: np.ndarray,
    codes: np.ndarray,
    tree: shapely.STRtree,
    snap_m: float,
    min_contact_m: float,
) -> list[str]:
    """Codes of the units whose boundary runs along ``piece`` for at least ``min_contact_m``."""
    near = tree.query(piece, predicate="dwithin", distance=snap_m)
    ring = piece.boundary
    found: list[tuple[float, str]] = []
    for i in near:
        contact = shapely.intersection(ring, shapely.buffer(geoms[i].boundary, snap_m)).length
        if contact >= min_contact_m:
            found.append((contact, codes[i]))
    return sorted(code for _, code in found)


def coverage_gaps(
    units: gpd.GeoDataFrame, *, study_area: BaseGeometry | None = None
) -> list[BaseGeometry]:
    """Return the gap polygons of a layer: holes of its union, or the study area minus the union.

    Parameters
    ----------
    units
        Units of one level (metric CRS).
    study_area
        Optional outline; when given, gaps on the outer edge are included.
    """
    units, _ = valid_units(units)
    union = shapely.union_all(np.asarray(units.geometry.values, dtype=object))
    if study_area is not None:
        if not study_area.is_valid:
            study_area = shapely.make_valid(study_area)
        return polygon_parts(shapely.difference(study_area, union))
    return [shapely.Polygon(ring) for poly in polygon_parts(union) for ring in poly.interiors]


def check_coverage(
    units: gpd.GeoDataFrame,
    *,
    study_area: BaseGeometry | None = None,
    lines: gpd.GeoDataFrame | None = None,
    code_col: str = "code",
    tolerances: Tolerances | Mapping[str, float] | None = None,
) -> gpd.GeoDataFrame:
    """Return gaps, overlaps and slivers between units of one level as findings.

    Overlaps are the pairwise intersections of the units; gaps are the holes of their union
    (or, when ``study_area`` is given, the study area minus the union, so gaps on the outer
    edge count too). A piece smaller than ``topology_area_m2`` is ignored; a piece whose mean
    width is below ``sliver_width_m`` is reported as ``topology_sliver``.

    Parameters
    ----------
    units
        Units of one level (e.g. towns), polygons in a metric CRS, codes in ``code_col``.
    study_area
        Optional outline the units should fill, same CRS.
    lines
        Optional boundary lines; a finding between two units gets the code of their line.
    code_col
        Column holding the unit code.
    tolerances
        :class:`~geoplan.boundary.findings.Tolerances` or a mapping of overrides.

    Returns
    -------
    geopandas.GeoDataFrame
        Findings ``topology_gap`` / ``topology_overlap`` / ``topology_sliver``; ``subject`` is
        the sorted codes of the units involved joined by ``"|"``, ``value`` the area in m².

    Raises
    ------
    SchemaError
        If there are no units (an empty layer is not "the whole area is a gap"), or a unit
        has no polygon.
    """
    require_metric(units, "admin units")
    require_units(units)
    tol = tolerances_from(tolerances)
    units, records = valid_units(units, "admin units", code_col)
    geoms = np.asarray(units.geometry.values, dtype=object)
    codes = unit_codes(units, code_col)
    key_of = dict(zip(codes, unit_keys(units, code_col), strict=True))
    rows = np.array([str(i) for i in units.index], dtype=object)
    pair_line = line_code_by_pair(lines)

    def line_of(pair: list[str]) -> str | None:
        return pair_line.get(frozenset(key_of[c] for c in pair)) if len(pair) == 2 else None

    tree = shapely.STRtree(geoms)
    snap_m = max(tol.sliver_width_m / 2.0, 0.01)

    left, right = tree.query(geoms, predicate="intersects")
    for i, j in zip(left, right, strict=True):
        if i >= j:
            continue
        inter = shapely.intersection(geoms[i], geoms[j])
        pair = sorted((codes[i], codes[j]))
        for piece in polygon_parts(inter):
            records.extend(
                _piece_finding(
                    piece,
                    "topology_overlap",
                    pair,
                    [rows[i], rows[j]],
                    line_of(pair),
                    tol,
                )
            )

    for piece in coverage_gaps(units, study_area=study_area):
        if piece.area < tol.topology_area_m2:
            continue
        involved = _contact_codes(piece, geoms, codes, tree, snap_m, tol.sliver_width_m)
        involved_rows = [rows[k] for k in range(len(codes)) if codes[k] in involved]
        records.extend(
            _piece_finding(piece, "topology_gap", involved, involved_rows, line_of(involved), tol)
        )
    logger.debug("coverage check of %d units: %d findings", len(units), len(records))
    return findings_frame(records, units.crs)


def _piece_finding(
    piece: BaseGeometry,
    kind: str,
    codes: list[str],
    rows: list[str],
    line_code: str | None,
    tol: Tolerances,
) -> list[dict[str, Any]]:
    """Return the finding for one gap or overlap piece (none below the area tolerance)."""
    area = piece.area
    if area < tol.topology_area_m2:
        return []
    width = mean_width_m(piece)
    what = "缝隙" if kind == "topology_gap" else "重叠"
    between = "、".join(codes) if codes else "（无相邻政区）"
    if width < tol.sliver_width_m:
        detail = f"狭长{what} {between}：面积 {fmt_m2(area)}，平均宽 {width:.2f} m"
        kind = "topology_sliver"
        value, tolerance = width, tol.sliver_width_m
    else:
        detail = f"{what}面积 {fmt_m2(area)}（{between}），平均宽 {fmt_m(width)}"
        value, tolerance = area, tol.topology_area_m2
    return [
        finding(
            kind,
            "|".join(codes),
            detail,
            geometry=piece,
            line_code=line_code,
            units=(*codes, None, None)[:2] if len(codes) <= 2 else None,
            value=value,
            tolerance=tolerance,
            row=rows,
        )
    ]


def check_nesting(
    children: gpd.GeoDataFrame,
    parents: gpd.GeoDataFrame,
    *,
    code_col: str = "code",
    parent_col: str = "parent_code",
    exclude: BaseGeometry | None = None,
    tolerances: Tolerances | Mapping[str, float] | None = None,
) -> gpd.GeoDataFrame:
    """Return the children (villages) that are not inside their parent (town) as findings.

    Parameters
    ----------
    children
        Child units with ``parent_col`` naming the parent's code; metric CRS.
    parents
        Parent units with their code in ``code_col``; same CRS.
    code_col, parent_col
        Columns with the unit code and the parent's code.
    exclude
        Area not counted as outside (the parent layer's own gaps, see :func:`coverage_gaps`):
        a village still covering a piece its town lost is one problem, the town-level gap,
        already reported by :func:`check_coverage`.
    tolerances
        Area outside the parent below ``topology_area_m2`` is ignored; pieces thinner than
        ``sliver_width_m`` are digitising slivers and reported as ``topology_sliver``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``not_nested`` findings (subject = child code, value = area outside its parent in m²,
        geometry = the part outside), ``topology_sliver`` for thin outside pieces and
        ``unit_unknown_parent`` when the parent code is not among the parents.
    """
    require_metric(children, "child units")
    require_metric(parents, "parent units")
    tol = tolerances_from(tolerances)
    require_columns(children, (parent_col,), "child units")
    parents, _ = valid_units(parents, "parent units", code_col)
    children, records = valid_units(children, "child units", code_col)
    parent_geom = dict(zip(unit_keys(parents, code_col), parents.geometry.values, strict=True))
    child_codes = unit_codes(children, code_col)
    for row, code, parent, geom in zip(
        children.index, child_codes, children[parent_col], children.geometry.values, strict=True
    ):
        parent_code = code_text(parent) or "(空)"
        if code_key(parent) not in parent_geom:
            records.append(
                finding(
                    "unit_unknown_parent",
                    code,
                    f"上级代码 {parent_code} 不在上级政区图层中",
                    geometry=geom,
                    row=row,
                )
            )
            continue
        outside = shapely.difference(geom, parent_geom[code_key(parent)])
        if exclude is not None and not outside.is_empty:
            outside = shapely.difference(outside, exclude)
        pieces = [p for p in polygon_parts(outside) if p.area >= tol.topology_area_m2]
        solid = [p for p in pieces if mean_width_m(p) >= tol.sliver_width_m]
        for piece in pieces:
            if mean_width_m(piece) < tol.sliver_width_m:
                records.extend(
                    _piece_finding(piece, "topology_overlap", [code, parent_code], [row], None, tol)
                )
        area = sum(p.area for p in solid)
        if solid and area >= tol.topology_area_m2:
            records.append(
                finding(
                    "not_nested",
                    code,
                    f"超出上级政区 {parent_code} 面积 {fmt_m2(area)}",
                    geometry=shapely.union_all(solid),
                    value=area,
                    tolerance=tol.topology_area_m2,
                    row=row,
                )
            )
    return findings_frame(records, children.crs)
