"""One denominator per unit: the same population and households on every sheet of a study.

A study can know a unit's households (or people, 60+, 80+) from more than one source: the
admin-unit layer's own column (a 社区/村 register), a census table, or the population grid
summed over the unit. Left alone, each output would take whichever it reads first, and one
town would show three different household counts. :func:`one_denominator_per_unit` picks
one source per measure, the most explicit one that covers every unit of a level (finest
level first), and spreads each unit's figure over the unit's grid cells in proportion to
the grid (largest remainder, so the cells add up to the figure exactly). Every step of a run
then counts the same cells: coverage, summaries, standards and siting all add up to the
chosen figure, and the coarser levels are the sums of the finer ones. The figures of the
sources not used are kept beside the one used (:attr:`Denominators.reconciliation`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from geoplan._text import codes_text
from geoplan.access import assign_units
from geoplan.population import COUNT_COLUMNS, allocate_integer_total

__all__ = ["MEASURE_NAMES_ZH", "Denominators", "one_denominator_per_unit"]

logger = logging.getLogger(__name__)

#: The denominators, as a planner names them.
MEASURE_NAMES_ZH = {"pop": "常住人口", "households": "户数", "pop_60plus": "60岁以上人口",
                    "pop_80plus": "80岁以上人口"}
#: A calibrated count never exceeds the count it is part of, cell by cell.
_PART_OF = {"pop_60plus": "pop", "pop_80plus": "pop_60plus"}
_LEVEL_ZH = {"village": "社区/村", "town": "镇街", "county": "全域"}


@dataclass(frozen=True)
class Denominators:
    """The one figure per unit and measure a run uses, and where it came from.

    Attributes
    ----------
    population
        The population cells, each measure spread so that it adds up to the chosen figure
        of every unit (a copy; the input is not modified).
    units
        One row per unit (``level`` county/town/village, ``code``, ``name``,
        ``parent_code``) with one column per measure: the figure used everywhere.
    sources
        Measure → the source of its figures, in words (e.g. ``行政区划图层 社区/村 户数``).
    reconciliation
        Where sources disagree: per unit and measure, the grid sum, the unit attribute,
        the figure used, its source and the difference; empty when all sources agree.
    """

    population: gpd.GeoDataFrame
    units: pd.DataFrame
    sources: dict[str, str]
    reconciliation: pd.DataFrame

    def table(self) -> pd.DataFrame:
        """Return the figures used, indexed by unit code (a denominators table for standards)."""
        table = self.units.set_index("code")[[m for m in self.sources]]
        table.attrs["sources"] = {m: {"source": s} for m, s in self.sources.items()}
        return table


def _layer_source(layer: pd.DataFrame) -> str:
    meta = dict(layer.attrs.get("geoplan") or {})
    return str(meta.get("source") or meta.get("study_layer") or "")


def _complete(units: pd.DataFrame, column: str) -> pd.Series | None:
    """Return the units' own ``column`` when every unit has a value >= 0, else None."""
    if column not in units.columns or not len(units):
        return None
    values = pd.to_numeric(units[column], errors="coerce")
    return values if values.notna().all() and (values >= 0).all() else None


def _spread(weights: np.ndarray, figure: float, caps: np.ndarray | None) -> np.ndarray | None:
    """Spread ``figure`` over cells in proportion to ``weights`` (uniform when all zero)."""
    if not len(weights):
        return None if figure > 0 else weights
    w = weights if weights.sum() > 0 else np.ones_like(weights)
    if float(figure).is_integer():
        try:
            return allocate_integer_total(w, int(figure), caps=caps).astype(float)
        except ValueError:  # the caps leave too little room: not possible without changing them
            return None
    return w * (figure / w.sum())


def _calibrate(cells: pd.DataFrame, measure: str, unit_of: pd.Series,
               figures: pd.Series) -> list[str]:
    """Spread each unit's figure over its cells, in place; return the units it failed for."""
    values = cells[measure].to_numpy(dtype=float).copy()
    part_of = _PART_OF.get(measure)
    caps_all = (cells[part_of].to_numpy(dtype=float) if part_of in cells.columns else None)
    positions = pd.Series(np.arange(len(cells))).groupby(unit_of.to_numpy()).indices
    failed = []
    for code, figure in figures.items():
        idx = positions.get(code, np.array([], dtype=int))
        caps = None if caps_all is None else np.floor(caps_all[idx]).astype(np.int64)
        spread = _spread(values[idx], float(figure), caps)
        if spread is None:
            failed.append(str(code))
            continue
        values[idx] = spread
    whole = np.array_equal(values, np.round(values))
    cells[measure] = values.astype(np.int64) if whole else values
    return failed


def _sums(cells: gpd.GeoDataFrame, unit_of: pd.Series, codes: pd.Index,
          measures: list[str]) -> pd.DataFrame:
    sums = cells[measures].groupby(unit_of.to_numpy()).sum()
    return sums.reindex(codes).fillna(0)


def one_denominator_per_unit(
    population: gpd.GeoDataFrame,
    admin_units: gpd.GeoDataFrame,
    *,
    county_code: str = "",
    county_name: str = "全域",
) -> Denominators:
    """Pick one figure per unit and measure, and make the grid add up to it.

    For each measure (常住人口, 户数, 60+, 80+) the source is the admin units' own column
    at the finest level where every unit has a value (社区/村 before 镇街); without one,
    the population grid summed per unit. With a unit column, the grid cells of each unit
    are scaled to the unit's figure (:func:`geoplan.population.allocate_integer_total`,
    whole numbers that add up exactly; a 60+ cell never above the cell's people). Coarser
    levels are the sums of their cells, so they add up across levels; where a coarser
    level's own column disagrees, :attr:`Denominators.reconciliation` shows both.

    Parameters
    ----------
    population
        Population cells (metric CRS) with some of ``pop``, ``households``,
        ``pop_60plus``, ``pop_80plus``.
    admin_units
        Admin units with ``code``, ``name``, ``level`` (``town``/``village``), same CRS.
    county_code, county_name
        Code and name of the whole-study row.

    Returns
    -------
    Denominators
        The calibrated cells, the figures per unit, their sources and the reconciliation.
    """
    cells = population.copy()
    measures = [m for m in COUNT_COLUMNS if m in cells.columns]
    units = admin_units.assign(code=codes_text(admin_units["code"]).to_numpy())
    levels = [lv for lv in ("village", "town") if (units["level"] == lv).any()]
    by_level = {lv: units[units["level"] == lv] for lv in levels}
    assigned = assign_units(cells, units[units["level"].isin(levels)])  # nested by parent_code
    unit_of = {lv: assigned[lv] for lv in levels}
    grid_raw = {lv: _sums(cells, unit_of[lv], pd.Index(layer["code"]), measures)
                for lv, layer in by_level.items()}
    sources: dict[str, str] = {}
    grid_source = _layer_source(population)
    for measure in measures:
        chosen = next(((lv, vals) for lv in levels
                       if (vals := _complete(by_level[lv], measure)) is not None), None)
        if chosen is None:
            sources[measure] = f"人口格网按单元汇总（{grid_source}）" if grid_source else \
                "人口格网按单元汇总"
            continue
        level, values = chosen
        figures = pd.Series(values.to_numpy(), index=by_level[level]["code"].to_numpy())
        failed = _calibrate(cells, measure, unit_of[level], figures)
        text = f"行政区划图层 {_LEVEL_ZH[level]}「{MEASURE_NAMES_ZH[measure]}」属性"
        attr_source = _layer_source(admin_units)
        sources[measure] = text + (f"（{attr_source}）" if attr_source else "") + \
            "；人口格网按此比例分配到格网"
        if failed:
            sources[measure] += f"（{len(failed)} 个单元无格网可分配，沿用格网汇总）"
            logger.warning("%s: %d units have no cells to take their figure: %s", measure,
                           len(failed), ", ".join(failed[:5]))
    rows = []
    for lv in ("town", "village"):
        if lv not in by_level:
            continue
        layer = by_level[lv]
        used = _sums(cells, unit_of[lv], pd.Index(layer["code"]), measures)
        frame = pd.DataFrame({"level": lv, "code": layer["code"].to_numpy(),
                              "name": layer["name"].to_numpy(),
                              "parent_code": (codes_text(layer["parent_code"]).to_numpy()
                                              if "parent_code" in layer.columns else None)})
        for m in measures:
            frame[m] = used[m].to_numpy()
        rows.append(frame)
    county = pd.DataFrame({"level": ["county"], "code": [county_code], "name": [county_name],
                           "parent_code": [None]})
    for m in measures:
        county[m] = cells[m].sum()
    table = pd.concat([county, *rows], ignore_index=True)
    reconciliation = _reconciliation(table, by_level, grid_raw, measures, sources)
    cells.attrs = {**population.attrs, "geoplan": {
        **dict(population.attrs.get("geoplan") or {}),
        "calibrated": "; ".join(f"{m}: {s}" for m, s in sources.items())}}
    return Denominators(cells, table, sources, reconciliation)


def _reconciliation(table: pd.DataFrame, by_level: dict[str, pd.DataFrame],
                    grid_raw: dict[str, pd.DataFrame], measures: list[str],
                    sources: dict[str, str]) -> pd.DataFrame:
    """Rows where the grid sum or a unit column differs from the figure used."""
    out = []
    for lv, layer in by_level.items():
        used = table[table["level"] == lv].set_index("code")
        for m in measures:
            attr = (pd.to_numeric(layer[m], errors="coerce").to_numpy()
                    if m in layer.columns else np.full(len(layer), np.nan))
            frame = pd.DataFrame({
                "level": lv, "code": layer["code"].to_numpy(), "name": layer["name"].to_numpy(),
                "measure": MEASURE_NAMES_ZH[m], "grid_sum": grid_raw[lv][m].to_numpy(),
                "unit_attribute": attr, "used": used.loc[layer["code"], m].to_numpy(),
                "used_source": sources[m]})
            frame["difference"] = frame["grid_sum"] - frame["used"]
            differs = ((frame["grid_sum"] - frame["used"]).abs() > 1e-6) | (
                frame["unit_attribute"].notna()
                & ((frame["unit_attribute"] - frame["used"]).abs() > 1e-6))
            if differs.any():
                out.append(frame.assign(highlight=differs.to_numpy()))
    columns = ["level", "code", "name", "measure", "grid_sum", "unit_attribute", "used",
               "used_source", "difference", "highlight"]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=columns)
