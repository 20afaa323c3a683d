"""Put facilities, staff and population counts onto admin units, with the source of every count.

These helpers are shared by the standards checks and by the plan indicators computed
from spatial data. They never guess a denominator: each quantity comes back with the
layer it was taken from and the source/year recorded in that layer's metadata
(``GeoDataFrame.attrs``), or an explicit statement that no source was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from geoplan._text import codes_text
from geoplan.errors import CRSError, Problem, SchemaError
from geoplan.population import assign_to_units
from geoplan.schema import facility_type_key, status_key

QUANTITY_NAMES_ZH = {
    "households": "户数",
    "pop": "常住人口",
    "pop_60plus": "60岁及以上老年人口",
    "pop_80plus": "80岁及以上老年人口",
    "pop_registered": "户籍人口",
}


@dataclass(frozen=True)
class Quantity:
    """A denominator per unit code, with where it came from."""

    name: str
    values: pd.Series
    source: str
    year: str

    @property
    def label(self) -> str:
        """Chinese name of the quantity, e.g. ``"户数"``."""
        return QUANTITY_NAMES_ZH.get(self.name, self.name)


_LEVEL_WORDS = {
    "镇": "town",
    "乡": "town",
    "街道": "town",
    "乡镇": "town",
    "镇街": "town",
    "村": "village",
    "社区": "village",
    "村居": "village",
    "居委会": "village",
    "村委会": "village",
}


def level_key(value: object) -> object:
    """Return the unit level as ``town``/``village``; 镇/乡/街道 and 村/社区 count too."""
    if isinstance(value, str):
        text = value.strip()
        return _LEVEL_WORDS.get(text, text.lower())
    return value


def top_level(admin_units: gpd.GeoDataFrame) -> str:
    """Level whose units tile the study area: ``"town"``, or ``"village"`` when no towns."""
    levels = set(admin_units["level"].map(level_key)) if "level" in admin_units.columns else set()
    return "town" if "town" in levels or "village" not in levels else "village"


def units_at_level(admin_units: gpd.GeoDataFrame, level: str) -> gpd.GeoDataFrame:
    """Admin units of one level (``"town"`` or ``"village"``), indexed by ``code``.

    Codes are normalised with :func:`code_text` (int or float codes become digit strings).

    Raises
    ------
    SchemaError
        When ``code``, ``name`` or ``level`` columns are missing.
    """
    missing = [c for c in ("code", "name", "level") if c not in admin_units.columns]
    if missing:
        raise SchemaError(
            "admin units", [Problem(f"missing column {c!r}", column=c) for c in missing]
        )
    sub = admin_units.loc[admin_units["level"].map(level_key) == level].copy()
    codes = codes_text(sub["code"])
    bad = codes.isna() | codes.duplicated(keep=False)
    if bad.any():
        problems = [
            Problem("missing unit code" if c is None else f"duplicate unit code {c!r}", i, "code")
            for i, c in codes[bad].items()
        ]
        raise SchemaError(f"admin units ({level})", problems)
    sub["code"] = codes.to_numpy()
    sub.index = codes.to_numpy()
    return sub


def _layer_source(layer: pd.DataFrame | None, column: str, what: str) -> tuple[str, str]:
    """Source and year of ``column`` from the layer's metadata.

    Looks in ``attrs["sources"][column]`` (a dict with ``source``/``year`` or a string),
    then ``attrs["source"]``/``attrs["year"]``, then the same keys under
    ``attrs["geoplan"]`` (the provenance :mod:`geoplan.io` records when reading).
    """
    attrs = dict(getattr(layer, "attrs", {}) or {})
    named = QUANTITY_NAMES_ZH.get(column, column)  # 户数, not households
    for meta in (attrs, dict(attrs.get("geoplan") or {})):
        per_col = (meta.get("sources") or {}).get(column)
        if isinstance(per_col, dict) and per_col.get("source"):
            return f"{what} 列 {named}: {per_col['source']}", _year(per_col.get("year"))
        if isinstance(per_col, str) and per_col:
            return f"{what} 列 {named}: {per_col}", _year(meta.get("year"))
        if meta.get("source"):
            return f"{what} 列 {named}: {meta['source']}", _year(meta.get("year"))
    return f"{what} 列 {named}: (图层元数据未注明来源)", _year(None)


def layer_provenance(layer: pd.DataFrame | None, what: str) -> tuple[str, str]:
    """Source and year of a whole layer (for counts of units or sites), from its ``attrs``."""
    attrs = dict(getattr(layer, "attrs", {}) or {})
    for meta in (attrs, dict(attrs.get("geoplan") or {})):
        if meta.get("source"):
            return f"{what}: {meta['source']}", _year(meta.get("year"))
    return f"{what}: (图层元数据未注明来源)", _year(None)


def _year(value: object) -> str:
    return "(未注明年份)" if value in (None, "") else str(value)


def assign_to_level(things: pd.DataFrame, admin_units: gpd.GeoDataFrame, level: str) -> pd.Series:
    """Find the unit code at ``level`` for every row of ``things`` (facilities or staff).

    Uses ``admin_code``, then ``village_code`` (a village code is lifted to its town
    through ``parent_code``); rows without a usable code fall back to point-in-polygon
    when ``things`` has geometry. Unassigned rows get ``<NA>``.

    Raises
    ------
    CRSError
        When a spatial fallback is needed and the CRSs differ.
    """
    codes = pd.Series(pd.NA, index=things.index, dtype="object")
    level_units = units_at_level(admin_units, level)
    level_codes = set(level_units.index)
    parent = None
    if level == "town" and "parent_code" in admin_units.columns:
        parent = codes_text(units_at_level(admin_units, "village")["parent_code"])
    for col in ("admin_code", "village_code"):
        if col not in things.columns:
            continue
        raw = codes_text(things[col])
        found = raw.where(raw.isin(level_codes))
        if parent is not None:
            lifted = raw.map(parent)
            found = found.where(found.notna(), lifted.where(lifted.isin(level_codes)))
        codes = codes.where(codes.notna(), found.astype("object"))
    todo = codes.isna()
    if todo.any() and isinstance(things, gpd.GeoDataFrame) and len(level_units):
        if things.crs != level_units.crs:
            msg = (
                f"facilities/staff CRS {things.crs} differs from admin units CRS "
                f"{level_units.crs}; reproject both to the study's metric CRS first"
            )
            raise CRSError(msg)
        # on a shared edge the lowest code wins
        by_code = level_units.assign(unit_code=level_units.index).sort_index(kind="stable")
        codes.loc[todo] = assign_to_units(things.loc[todo], by_code, code_col="unit_code")
    return codes.where(codes.notna(), pd.NA)


def filter_facilities(
    facilities: pd.DataFrame,
    types: list[str] | tuple[str, ...],
    statuses: list[str] | tuple[str, ...],
) -> pd.DataFrame:
    """Facilities of the given ``type`` keys and ``status`` values (a copy).

    Types and statuses written in Chinese (社工站, 已建 …) are matched through the
    schema's registry; a blank status counts as ``existing`` (the layer contract's default).
    The copy's ``type`` column holds the registry keys.
    """
    kinds = facilities["facility_type"].map(lambda v: facility_type_key(v) or v)
    mask = kinds.isin(list(types))
    if "status" in facilities.columns:
        status = facilities["status"].map(
            lambda v: "existing" if pd.isna(v) else status_key(v) or v
        )
        mask &= status.isin(list(statuses))
    out = facilities.loc[mask].copy()
    out["facility_type"] = kinds.loc[mask]
    return out


def population_by_unit(
    population: gpd.GeoDataFrame, level_units: gpd.GeoDataFrame, column: str
) -> pd.Series:
    """Sum of a population-layer column per unit, assigning each cell by its representative point.

    Raises
    ------
    CRSError
        When the population layer and the units are in different CRSs.
    """
    if population.crs != level_units.crs:
        msg = (
            f"population CRS {population.crs} differs from admin units CRS {level_units.crs}; "
            "reproject both to the study's metric CRS first"
        )
        raise CRSError(msg)
    pts = gpd.GeoDataFrame(
        {"v": pd.to_numeric(population[column], errors="coerce").to_numpy()},
        geometry=population.geometry.representative_point().to_numpy(),
        crs=population.crs,
    )
    polys = gpd.GeoDataFrame(
        {"unit_code": level_units.index}, geometry=level_units.geometry.values, crs=level_units.crs
    )
    hit = gpd.sjoin(pts, polys, how="inner", predicate="intersects")
    hit = hit.sort_values("unit_code", kind="stable")  # on a shared edge: lowest code
    hit = hit[~hit.index.duplicated(keep="first")]
    return hit.groupby("unit_code")["v"].sum(min_count=1).reindex(level_units.index)


def quantity_by_unit(
    name: str,
    level_units: gpd.GeoDataFrame,
    *,
    population: gpd.GeoDataFrame | None = None,
    denominators: pd.DataFrame | None = None,
    admin_units: gpd.GeoDataFrame | None = None,
) -> Quantity | None:
    """Get a denominator (households, 60+ …) per unit from the most explicit source available.

    Order: an explicit ``denominators`` table (index = unit code) with a column ``name``;
    then the units' own column ``name`` when it is complete; then, for towns, the sum of
    their villages' column ``name`` (``parent_code``; needs ``admin_units`` and a value
    for every village of every town); then the population layer's column ``name`` summed
    per unit; last, the units' own column even if incomplete (units without a value are
    then not computable, each on its own). ``None`` when no source has the column.
    """
    if denominators is not None and name in denominators.columns:
        table = denominators.copy()
        table.index = codes_text(table.index).to_numpy()
        vals = pd.to_numeric(table[name], errors="coerce")
        vals = vals[~vals.index.duplicated(keep="first")].reindex(level_units.index)
        src, year = _layer_source(denominators, name, "分母表")
        return Quantity(name, vals, src, year)
    own = pd.to_numeric(level_units[name], errors="coerce") if name in level_units.columns else None
    if own is not None and own.notna().all():
        src, year = _layer_source(level_units, name, "行政区划图层")
        return Quantity(name, own, src, year)
    rolled = _village_sum(name, level_units, admin_units)
    if rolled is not None:
        return rolled
    if population is not None and name in population.columns:
        vals = population_by_unit(population, level_units, name)
        src, year = _layer_source(population, name, "人口图层(按格网代表点汇总)")
        return Quantity(name, vals, src, year)
    if own is not None:
        src, year = _layer_source(level_units, name, "行政区划图层")
        return Quantity(name, own, src + " (部分单元缺值)", year)
    return None


def _village_sum(
    name: str, level_units: gpd.GeoDataFrame, admin_units: gpd.GeoDataFrame | None
) -> Quantity | None:
    """Towns' ``name`` as the sum over their villages, when every village has a value."""
    if (
        admin_units is None
        or len(level_units) == 0
        or not (level_units["level"].map(level_key) == "town").all()
        or name not in admin_units.columns
        or "parent_code" not in admin_units.columns
    ):
        return None
    villages = units_at_level(admin_units, "village")
    vals = pd.to_numeric(villages[name], errors="coerce")
    if len(villages) == 0 or vals.isna().any():
        return None
    sums = vals.groupby(codes_text(villages["parent_code"]).to_numpy()).sum()
    out = sums.reindex(level_units.index)
    if out.isna().any():
        return None
    src, year = _layer_source(admin_units, name, "行政区划图层")
    return Quantity(name, out, src + " (村级按 parent_code 汇总到镇街)", year)


def sum_by_unit(
    frame: pd.DataFrame, codes: pd.Series, column: str
) -> tuple[pd.Series, pd.Series, list[str]]:
    """Per-unit sum of ``column``, per-unit count of rows where it is missing, and skipped types.

    A facility type none of whose rows has a value in ``column`` does not record that
    capacity at all (e.g. stations without beds): it is left out and named in the third
    return value. Where a type records the column for some rows but not others, the
    missing rows are counted per unit, so callers can refuse to treat them as zero.
    """
    vals = (
        pd.to_numeric(frame[column], errors="coerce")
        if column in frame.columns
        else pd.Series(np.nan, index=frame.index)
    )
    skipped: list[str] = []
    if "facility_type" in frame.columns:
        recorded = vals.notna().groupby(frame["facility_type"]).any()
        skipped = sorted(str(t) for t, ok in recorded.items() if not ok)
        keep = ~frame["facility_type"].isin(skipped)
        frame, vals = frame.loc[keep], vals.loc[keep]
    df = pd.DataFrame({"code": codes.reindex(frame.index), "v": vals}).dropna(subset=["code"])
    total = df.groupby("code")["v"].sum()
    missing = df["v"].isna().groupby(df["code"]).sum()
    return total, missing, skipped


def check_tables(facilities: pd.DataFrame, staff: pd.DataFrame | None) -> None:
    """Check the columns the standards read from the facility and staff tables.

    Raises
    ------
    SchemaError
        Facilities without ``type``; a staff table without ``role``, without any way to
        place a row (``admin_code``, ``village_code`` or point geometry), or with a
        ``count`` that is not a non-negative number. Every problem is listed.
    """
    if "facility_type" not in facilities.columns:
        problem = Problem("missing column 'facility_type'", column="facility_type")
        raise SchemaError("facilities", [problem])
    if staff is None:
        return
    problems = []
    if "role" not in staff.columns:
        problems.append(Problem("missing column 'role'", column="role"))
    placed = {"admin_code", "village_code"} & set(staff.columns)
    if not placed and not isinstance(staff, gpd.GeoDataFrame):
        problems.append(
            Problem(
                "needs 'admin_code' (or 'village_code', or point geometry)", column="admin_code"
            )
        )
    if "count" in staff.columns:
        n = pd.to_numeric(staff["count"], errors="coerce")
        problems += [
            Problem(f"count must be a number ≥ 0, got {raw!r}", i, "count")
            for i, raw, v in zip(staff.index, staff["count"], n, strict=True)
            if pd.isna(v) or v < 0
        ]
    if problems:
        raise SchemaError("staff table", problems)


def staff_count_by_unit(staff: pd.DataFrame, codes: pd.Series, role: str) -> pd.Series:
    """Count staff with ``role`` per unit code (``count`` column if present, else rows)."""
    mask = (staff["role"].astype("string").str.strip() == role).fillna(False).astype(bool)
    n = (
        pd.to_numeric(staff["count"], errors="coerce")
        if "count" in staff.columns
        else pd.Series(1.0, index=staff.index)
    )
    df = pd.DataFrame({"code": codes, "n": n}).loc[mask].dropna(subset=["code"])
    return df.groupby("code")["n"].sum()
