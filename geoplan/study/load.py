"""A study: one TOML file naming the study area, its layers and the walking settings.

:func:`load_study` reads the file (``tomllib``), validates it (pydantic; unknown keys are
errors, every problem is listed with its key path), reads every layer with its declared
coordinate system, validates it against its contract (facilities and population must lie
in the study area), projects everything to the study's metric CRS (CGCS2000 3-degree
Gauss-Krüger zone) and returns a frozen :class:`Study`. Notebooks and the ``geoplan``
command use the same object. The config models (:class:`StudyConfig`, :class:`LayerConfig`,
:class:`NetworkConfig` …) and :func:`read_study_config` live in :mod:`geoplan.study.config`
and are re-exported here.

The file format
---------------
Paths are relative to the TOML file. Every layer declares ``coords``: ``"wgs84"``,
``"cgcs2000"``, ``"gcj02"`` (高德/腾讯), ``"bd09"`` (百度) or ``"EPSG:n"``. A layer whose
name is a layer kind (``study_area``, ``admin_units``, ``facilities``, ``population``,
``boundary_lines``, ``boundary_markers``, ``projects``; ``towns``/``villages`` mean
``admin_units``) needs no ``kind``; any other name gives its ``kind``, and layers of the same
kind are joined (their ids must be unique together). Only ``study_area`` is required;
other kinds left out are empty layers. ``[tables.<name>]`` are plain tables (no geometry);
``inspection_rounds`` (联检记录) has its headers recognised (界线编码, 联检轮次, 联检日期 …;
``columns = {...}`` maps others) and checked when the study loads. ``[network]`` has exactly
one of ``path`` (+ ``coords``), ``synthetic`` (a generator in :mod:`geoplan.datasets`) or
``osm_place`` (downloads).

.. code-block:: toml

    [study]
    name = "晋江市民政服务设施布局（示例）"
    admin_code = "350582"
    metric_crs = "EPSG:4549"       # optional: chosen from the study area when left out
    reference_date = 2025-12-31    # optional

    [walking]
    tiers_min = [5, 10, 15]        # default [5, 10, 15]
    # speed_m_per_min = 60         # optional: every tier = minutes × speed; left out, the
                                   # GB 50180-2018 life circles: 300 / 500 / 900 m

    [standards]
    profile = "national"           # default "national"

    [map]                          # optional
    basemap = "none"               # none (default) | osm | tianditu | gaode
    tianditu_tk = "..."            # 天地图 key; or the GEOPLAN_TIANDITU_TK variable

    [boundary]                     # optional: joint-inspection settings (the defaults)
    marker_to_line_m = 5.0         # registered position within 5 m of the line
    marker_displacement_m = 1.0    # surveyed position within 1 m of the registered one
    inspection_cycle_years = 5
    numbering = "GB/T 17796-2009"  # or [boundary.numbering]: pattern, single, pair, triple

    [layers.study_area]
    path = "boundaries/study_area.gpkg"
    layer = "study_area"
    coords = "cgcs2000"

    [layers.admin_units]           # towns (镇街) and villages (村社区), ``level`` column
    path = "boundaries/admin_units.gpkg"
    coords = "cgcs2000"

    [layers.facilities]
    path = "facilities/facilities.gpkg"
    coords = "cgcs2000"
    synthetic = true               # recorded in the layer's provenance

    [layers.canteens]              # a second facility table, joined into facilities
    kind = "facilities"
    path = "facilities/senior_canteens_gcj02.xlsx"
    sheet = "长者食堂"
    coords = "gcj02"

    [layers.population]
    path = "population/population.tif"
    coords = "EPSG:4549"
    source = "合成人口格网，总数与2020年人口普查一致"
    year = 2020

    [layers.boundary_lines]
    path = "boundaries/boundary_lines.gpkg"
    layer = "boundary_lines"
    coords = "cgcs2000"

    [layers.boundary_markers]
    path = "boundaries/boundary_markers.xlsx"
    coords = "EPSG:4549"
    x_axis = "east"                # only needed when the headers do not say X(东)/Y(北)

    [layers.projects]
    path = "boundaries/projects.gpkg"
    coords = "cgcs2000"

    [tables.inspection_rounds]
    path = "boundaries/inspection_rounds.csv"

    [network]
    synthetic = "jinjiang"         # or: path = "network/walk.graphml" + coords = "wgs84"
    seed = 350582                  #     or: osm_place = "晋江市, 福建省, 中国"

A layer may be a PostGIS table or query instead of a file: ``table = "schema.name"`` or
``sql = "SELECT …"``, with ``dsn`` (never a password; default libpq's environment,
``PGSERVICE`` …) and ``geometry_column``; its ``coords`` may be left out when the geometry
column's SRID says it. :func:`read_study_layer` reads one layer within a window, from a file
or PostGIS alike (the window pushed into the SQL).

Layer keys: ``path``, ``table``, ``sql``, ``dsn``, ``geometry_column``, ``coords``,
``kind``, ``layer`` (GeoPackage layer), ``sheet`` (Excel), ``encoding``, ``columns``
(``{"header in the file" = "contract name"}``), ``x_axis``, ``source``/``year`` (population
provenance), ``geometry`` (``"cell"``/``"point"`` for a population raster), ``synthetic``
(bool, provenance). ``[boundary]`` keys are the tolerances of
:class:`geoplan.boundary.Tolerances` and ``numbering`` (:class:`BoundarySection`;
``study.config.boundary.tolerances()`` and ``.marker_numbering()`` give what
:func:`geoplan.boundary.inspect_boundaries` takes).
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS, Proj

from geoplan import io as gio
from geoplan.boundary import units_outline
from geoplan.crs import metric_crs_for
from geoplan.errors import (
    CRSError,
    DatabaseError,
    GeoplanError,
    Problem,
    SchemaError,
    StudyConfigError,
    layer_docs,
)
from geoplan.io._window import Window
from geoplan.io.layers import RASTER_SUFFIXES
from geoplan.population import implausible_cells
from geoplan.schema import LAYER_CONTRACTS
from geoplan.study.config import (  # the section models stay importable from here
    BoundarySection,  # noqa: F401
    LayerConfig,
    MapSection,  # noqa: F401
    NetworkConfig,
    StandardsSection,  # noqa: F401
    StudyConfig,
    StudySection,  # noqa: F401
    TableConfig,  # noqa: F401
    WalkingSection,  # noqa: F401
    read_study_config,
)

__all__ = ["LayerConfig", "NetworkConfig", "Study", "StudyConfig", "load_study",
           "read_study_kind", "read_study_layer"]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- the study
@dataclass(frozen=True, eq=False)
class Study:
    """A loaded study: validated layers in the metric CRS, and the walking settings.

    Attributes
    ----------
    config
        The validated :class:`StudyConfig`.
    name, admin_code, reference_date, standards_profile
        From ``[study]`` and ``[standards]``.
    metric_epsg
        The metric CRS (EPSG code) every layer is in.
    speed_m_per_min, tiers_min
        Walking speed (``None``: GB 50180-2018 life-circle distances) and time tiers;
        :attr:`tier_distances_m` gives the distances.
    basemap, tianditu_tk
        From ``[map]``.
    study_area, admin_units, towns, villages, facilities, population, boundary_lines,
    boundary_markers, projects, candidate_sites, exclusion_zones
        Validated GeoDataFrames in ``EPSG:metric_epsg`` (empty, with the contract columns,
        for kinds the study file leaves out). ``towns``/``villages`` are the
        ``level == "town"``/``"village"`` rows of ``admin_units``. Without a study-area
        layer the study area is the union of the admin units. ``candidate_sites`` and
        ``exclusion_zones`` carry the study layer each row came from in ``source_layer``.
    previous_boundary_lines
        The earlier version of the boundary lines (e.g. the agreement line of the last
        round), from the layer named ``boundary_lines_previous``; ``None`` when absent.
    tables
        Plain tables from ``[tables]``; :attr:`inspection_rounds` is ``tables
        ["inspection_rounds"]`` (or ``None``).
    """

    config: StudyConfig
    name: str
    admin_code: str
    metric_epsg: int
    speed_m_per_min: float | None
    tiers_min: tuple[float, ...]
    reference_date: dt.date | None
    standards_profile: str | None
    study_area: gpd.GeoDataFrame
    admin_units: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    population: gpd.GeoDataFrame
    boundary_lines: gpd.GeoDataFrame
    boundary_markers: gpd.GeoDataFrame
    projects: gpd.GeoDataFrame
    candidate_sites: gpd.GeoDataFrame
    exclusion_zones: gpd.GeoDataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    previous_boundary_lines: gpd.GeoDataFrame | None = None
    basemap: str = "none"
    tianditu_tk: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def towns(self) -> gpd.GeoDataFrame:
        """Township-level units (街道/镇/乡/经济开发区)."""
        return self.admin_units.loc[self.admin_units["level"] == "town"].copy()

    @property
    def villages(self) -> gpd.GeoDataFrame:
        """Village-level units (社区/村)."""
        return self.admin_units.loc[self.admin_units["level"] == "village"].copy()

    @property
    def inspection_rounds(self) -> pd.DataFrame | None:
        """The ``[tables.inspection_rounds]`` table, if any."""
        return self.tables.get("inspection_rounds")

    @property
    def tier_distances_m(self) -> tuple[float, ...]:
        """Walking distance of each time tier, in metres (:func:`geoplan.access.tier_reach_m`)."""
        from geoplan.access import tier_reach_m

        return tier_reach_m(self.tiers_min, self.speed_m_per_min)

    def network(self) -> Any:
        """Return the study's walking network (:class:`geoplan.network.WalkNetwork`), built once.

        Raises
        ------
        StudyConfigError
            If the study has no ``[network]`` section or the builder is unavailable.
        """
        if "network" not in self._cache:
            self._cache["network"] = self._build_network()
        return self._cache["network"]

    def _build_network(self) -> Any:
        net = self.config.network
        if net is None:
            msg = f"{self.config.path}: no [network] section in the study file"
            raise StudyConfigError(msg)
        from geoplan import network as gnet

        if net.synthetic is not None:
            return gnet.walk_network_from_synthetic(
                self.config.base_dir, name=net.synthetic, seed=net.seed or 0,
                metric_epsg=self.metric_epsg)
        if net.path is not None:
            return gnet.walk_network_from_file(net.path, coords=net.coords,
                                               metric_epsg=self.metric_epsg)
        return gnet.walk_network_from_osm(net.osm_place, metric_epsg=self.metric_epsg)


#: Layer name of the earlier version of the boundary lines (kept apart from the current lines).
PREVIOUS_LINES = "boundary_lines_previous"


def _empty_layer(kind: str, epsg: int) -> gpd.GeoDataFrame:
    cols = [c.name for c in LAYER_CONTRACTS[kind].columns]
    gdf = gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in cols},
                           geometry=gpd.GeoSeries([], crs=epsg), crs=epsg)
    gdf.index = pd.Index([], dtype="str")
    gdf.attrs["geoplan"] = {"kind": kind, "empty": "not in the study file"}
    return gdf


def _read(name: str, layer: LayerConfig, kind: str, area: gpd.GeoDataFrame | None,
          aliases: dict[str, str] | None = None, epsg: int | None = None, *,
          window: Window | None = None, window_crs: str | int | None = None,
          ) -> gpd.GeoDataFrame:
    """Read one layer, converted once straight to ``EPSG:epsg`` (EPSG:4490 when None)."""
    common: dict[str, Any] = {"study_area": area, "to_crs": epsg, "window": window,
                              "window_crs": window_crs}
    if layer.columns is not None:
        common["columns"] = layer.columns
    if kind == "facilities":
        common |= {"facility_type": layer.type, "type_aliases": aliases}
    if layer.in_database:
        gdf = gio.read_postgis_layer(kind, layer.coords, table=layer.table, query=layer.sql,
                                     dsn=layer.dsn, geometry_column=layer.geometry_column,
                                     **common)
        if kind == "population":
            meta = gdf.attrs["geoplan"]
            meta["source"] = layer.source or meta.get("source")
            meta["year"] = layer.year
    elif kind == "population":
        kwargs: dict[str, Any] = {k: getattr(layer, k) for k in
                                  ("layer", "sheet", "encoding", "x_axis")
                                  if getattr(layer, k) is not None}
        raster_kw = {k: getattr(layer, k) for k in ("source", "year", "geometry")
                     if getattr(layer, k) is not None}
        if layer.path.suffix.lower() in RASTER_SUFFIXES:
            bad = (set(kwargs) - {"x_axis"}) | ({"columns"} & set(common))
            if bad:
                msg = f"layers.{name}: {sorted(bad)} do not apply to a raster"
                raise StudyConfigError(msg)
            kwargs = {}
        gdf = gio.read_population(layer.path, layer.coords, **raster_kw, **kwargs, **common)
    else:
        kwargs = {k: getattr(layer, k) for k in ("layer", "sheet", "encoding", "x_axis")
                  if getattr(layer, k) is not None}
        gdf = gio.read_layer(layer.path, kind, layer.coords, **kwargs, **common)
    if kind in ("facilities", "candidate_sites", "exclusion_zones"):
        gdf = gdf.assign(source_layer=name)  # which study layer (file) each row came from
    if not len(gdf) and window is None:
        warnings.warn(f"layers.{name} ({layer.label}) has no rows / 图层没有数据",
                      UserWarning, stacklevel=2)
    meta = gdf.attrs.setdefault("geoplan", {})
    meta["study_layer"] = name
    if layer.synthetic is not None:
        meta["synthetic"] = layer.synthetic
    return gdf


def read_study_layer(config: StudyConfig | str | Path, name: str, *,
                     window: Window | None = None, window_crs: str | int | None = None,
                     to_crs: int | None = None,
                     study_area: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Read one ``[layers.<name>]`` of a study, optionally only within a window.

    The one entry point whatever the source: a file's window goes to GDAL as a bbox (then
    an exact test), a PostGIS layer's into the SQL (``&&`` and ``ST_Intersects`` against
    the window in the column's SRID, so the GiST index does the work). A partitioned run
    calls it once per partition with the partition's outline (plus its margin).

    Parameters
    ----------
    config
        The study file (path) or its config (:func:`read_study_config`).
    name
        The layer's name in ``[layers]``.
    window
        Keep only features intersecting this: a shapely geometry, a GeoSeries/GeoDataFrame
        (its own CRS) or a bbox ``(xmin, ymin, xmax, ymax)``; ``None`` reads every feature.
    window_crs
        CRS of a bare geometry or bbox (default: ``to_crs`` if given, else EPSG:4490).
    to_crs
        EPSG code to return the layer in (the study's metric CRS; default EPSG:4490).
    study_area
        If given, facilities and population outside it are reported.

    Returns
    -------
    geopandas.GeoDataFrame
        Validated as :func:`load_study` validates it; ``attrs["geoplan"]["window"]`` says
        how the window was applied.

    Raises
    ------
    StudyConfigError
        If the file is malformed or has no layer ``name``.
    SchemaError, CRSError, DatabaseError
        As the readers raise them (:func:`geoplan.io.read_layer`,
        :func:`geoplan.io.read_postgis_layer`).

    Examples
    --------
    >>> from geoplan.datasets import byod_dir
    >>> study_file = byod_dir() / "study.toml"
    >>> every = read_study_layer(study_file, "population", to_crs=4548)
    >>> x0, y0, x1, y1 = every.total_bounds
    >>> west = read_study_layer(study_file, "population", to_crs=4548,
    ...                         window=(x0, y0, (x0 + x1) / 2, y1))
    >>> len(every), len(west) < len(every), west.attrs["geoplan"]["window"][:4]
    (432, True, 'bbox')
    """
    config = config if isinstance(config, StudyConfig) else read_study_config(config)
    if name not in config.layers:
        msg = f"{config.path}: no layer {name!r} in [layers] (has {', '.join(config.layers)})"
        raise StudyConfigError(msg)
    kind = "boundary_lines" if name == PREVIOUS_LINES else config.layer_kind(name)
    if window_crs is None and to_crs is not None and not isinstance(
            window, gpd.GeoSeries | gpd.GeoDataFrame):
        window_crs = to_crs
    return _read(name, config.layers[name], kind, study_area, config.types.aliases, to_crs,
                 window=window, window_crs=window_crs)


def read_study_kind(config: StudyConfig | str | Path, kind: str, *,
                    window: Window | None = None, window_crs: str | int | None = None,
                    to_crs: int | None = None,
                    study_area: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Read every layer of one kind of a study within a window, joined as :func:`load_study` joins.

    The facilities of a partition, say, from the facility register in PostGIS and the
    canteens in an Excel file alike; each layer is read by :func:`read_study_layer`.

    Raises
    ------
    StudyConfigError
        If the study has no layer of ``kind``.
    SchemaError, CRSError, DatabaseError
        As :func:`read_study_layer`; ids repeated across the layers.
    """
    config = config if isinstance(config, StudyConfig) else read_study_config(config)
    names = [n for n in config.layers if n != PREVIOUS_LINES and config.layer_kind(n) == kind]
    if not names:
        msg = f"{config.path}: no layer of kind {kind} in [layers]"
        raise StudyConfigError(msg)
    parts = [read_study_layer(config, n, window=window, window_crs=window_crs, to_crs=to_crs,
                              study_area=study_area) for n in names]
    return _join(parts, kind)


def _join(parts: list[gpd.GeoDataFrame], kind: str) -> gpd.GeoDataFrame:
    if len(parts) == 1:
        return parts[0]
    joined = pd.concat(parts)
    dup = joined.index[joined.index.duplicated()].unique()
    if len(dup) and not LAYER_CONTRACTS[kind].flag_duplicates:
        raise SchemaError(f"{kind} (joined from {len(parts)} layers)",
                          [Problem("id used in more than one layer", i,
                                   LAYER_CONTRACTS[kind].id_column) for i in dup],
                          docs=(layer_docs(kind),))
    joined = gpd.GeoDataFrame(joined, geometry=parts[0].geometry.name, crs=parts[0].crs)
    joined.attrs = {"geoplan": {"kind": kind, "parts": [p.attrs.get("geoplan") for p in parts]}}
    return joined


#: Largest scale error of a user-chosen metric CRS over the study area (0.5 %).
MAX_SCALE_ERROR = 0.005


def _check_distortion(epsg: int, area: gpd.GeoDataFrame, config: StudyConfig) -> None:
    """Refuse a metric CRS that distorts distances in the study area (e.g. Web Mercator)."""
    x0, y0, x1, y1 = area.to_crs(4490).total_bounds
    lon = np.array([x0, x1, x0, x1, (x0 + x1) / 2])
    lat = np.array([y0, y0, y1, y1, (y0 + y1) / 2])
    factors = Proj(CRS.from_epsg(epsg)).get_factors(lon, lat)
    scale = np.concatenate([factors.meridional_scale, factors.parallel_scale])
    worst = float(np.nanmax(np.abs(scale - 1.0))) if np.isfinite(scale).any() else np.inf
    if worst > MAX_SCALE_ERROR:
        msg = (f"{config.path}: study.metric_crs EPSG:{epsg} distorts distances by up to "
               f"{worst:.1%} in the study area (limit {MAX_SCALE_ERROR:.1%}); use the study's "
               f"CGCS2000 Gauss-Krüger zone EPSG:{metric_crs_for(area)} or leave metric_crs out")
        raise StudyConfigError(msg)


def _raise_failures(failed: list[tuple[str, GeoplanError]], config: StudyConfig) -> None:
    """Raise the layer errors of a study: one as it is, several together in a SchemaError."""
    if len(failed) == 1:
        name, exc = failed[0]
        if isinstance(exc, SchemaError):  # names its file already
            raise exc
        raise type(exc)(f"layers.{name} ({config.layers[name].label}): {exc}") from exc
    if failed:
        problems, docs = [], []
        for name, exc in failed:
            if isinstance(exc, SchemaError):
                problems += [Problem(f"layers.{name} [{exc.what}]: {p.message}", p.row, p.column)
                             for p in exc.problems]
                docs += exc.docs
            else:
                problems.append(Problem(f"layers.{name}: {exc}"))
        raise SchemaError(f"{config.path}: {len(failed)} layers", problems,
                          docs=tuple(dict.fromkeys(docs)))


def _read_outline(config: StudyConfig, name: str, epsg: int | None) -> gpd.GeoDataFrame:
    """Read the study-area layer; its errors named as every layer's are."""
    try:
        return _read(name, config.layers[name], "study_area", None, epsg=epsg)
    except (SchemaError, CRSError, DatabaseError) as exc:
        _raise_failures([(name, exc)], config)
        raise  # not reached: _raise_failures raises


def _outline_of_units(config: StudyConfig, epsg: int | None
                      ) -> tuple[gpd.GeoDataFrame, dict[str, gpd.GeoDataFrame]]:
    """Read the admin-unit layers; return their union as the study area, and the layers."""
    units, failed = {}, []
    for name in config.layers:
        if config.layer_kind(name) == "admin_units":
            try:
                units[name] = _read(name, config.layers[name], "admin_units", None, epsg=epsg)
            except (SchemaError, CRSError, DatabaseError) as exc:
                failed.append((name, exc))
    _raise_failures(failed, config)
    joined = pd.concat(list(units.values())) if len(units) > 1 else next(iter(units.values()))
    if not len(joined):
        msg = (f"{config.path}: the admin units are empty, so they cannot give the study "
               "area; add a layers.study_area or fill the admin-unit layer")
        raise StudyConfigError(msg)
    area = units_outline(joined)
    area.attrs["geoplan"] = {"kind": "study_area", "source": "union of the admin units"}
    return area, units


#: Largest share by which a population grid may miss the census totals the study names.
CENSUS_TOLERANCE = 0.05


def _check_population(population: gpd.GeoDataFrame, config: StudyConfig) -> None:
    """Refuse implausible cells; warn when the grid misses the census totals the study names."""
    problems = implausible_cells(population)
    if problems:
        raise SchemaError(f"{config.path}: population", problems)
    for name, layer in config.layers.items():
        if config.layer_kind(name) != "population" or not layer.census:
            continue
        for column, census in layer.census.items():
            if column not in population.columns or not census:
                continue
            total = float(population[column].sum())
            if abs(total - census) > CENSUS_TOLERANCE * census:
                warnings.warn(
                    f"layers.{name}: the grid holds {total:,.0f} {column} but the census named "
                    f"in the study file says {census:,.0f} ({(total - census) / census:+.1%}); "
                    "人口格网合计与普查不符", UserWarning, stacklevel=2)


def load_study(path: str | Path | StudyConfig) -> Study:
    """Load a study: read the TOML file, read, validate and project every layer.

    Parameters
    ----------
    path
        The study TOML file (format in this module's docstring), or its config already read.

    Returns
    -------
    Study
        Frozen; every layer validated and in the metric CRS ``study.metric_epsg``.

    Raises
    ------
    StudyConfigError
        If the file is missing, malformed, or names missing files or unknown keys.
    CRSError
        If a layer's declared coordinates contradict its file.
    SchemaError
        If a layer breaks its contract (every problem listed, with rows and columns).

    Examples
    --------
    >>> from geoplan.datasets import byod_dir
    >>> study = load_study(byod_dir() / "study.toml")
    >>> study.metric_epsg, study.config.steps
    (4548, ('coverage', 'siting'))
    >>> len(study.towns), len(study.villages), len(study.facilities), len(study.population)
    (1, 6, 18, 432)
    """
    config = path if isinstance(path, StudyConfig) else read_study_config(path)
    if not config.layers:
        msg = f"{config.path}: the study file names no layers ([layers.<name>] tables)"
        raise StudyConfigError(msg)
    outline = [n for n in config.layers if config.layer_kind(n) == "study_area"]
    if len(outline) > 1:
        msg = f"layers.{outline[1]}: only one study_area layer is allowed"
        raise StudyConfigError(msg)
    # every layer is converted once, straight to the metric CRS (not at all if already in
    # it); without a metric_crs, the outline is read first in lon/lat to choose the zone
    given = None if config.study.metric_crs is None else int(config.study.metric_crs[5:])
    read: dict[str, gpd.GeoDataFrame] = {}
    if outline:
        area = _read_outline(config, outline[0], given)
    else:  # the union of the admin units
        area, read = _outline_of_units(config, given)
    if config.study.metric_crs is not None:
        epsg = int(config.study.metric_crs.split(":")[1])
        _check_distortion(epsg, area, config)
    else:
        epsg = metric_crs_for(area)
        logger.info("metric CRS chosen from the study area: EPSG:%d", epsg)
    aliases = config.types.aliases
    if given is None:  # read again, straight to the zone
        read = {}
        area = _read_outline(config, outline[0], epsg) if outline else area.to_crs(epsg)
    parts: dict[str, list[gpd.GeoDataFrame]] = {}
    previous = None
    failed: list[tuple[str, GeoplanError]] = []
    for name, layer in config.layers.items():
        if name in outline:
            continue
        kind = "boundary_lines" if name == PREVIOUS_LINES else config.layer_kind(name)
        try:  # read every layer, so the planner sees the problems of all files at once
            gdf = read[name] if name in read else _read(name, layer, kind, area, aliases,
                                                        epsg)
        except (SchemaError, CRSError, DatabaseError) as exc:
            failed.append((name, exc))
            continue
        if name == PREVIOUS_LINES:
            previous = gio.reproject_layer(gdf, epsg)
        else:
            parts.setdefault(kind, []).append(gdf)
    _raise_failures(failed, config)
    layers = {kind: gio.reproject_layer(_join(p, kind), epsg) for kind, p in parts.items()}
    if "population" in layers:
        _check_population(layers["population"], config)
    for kind in LAYER_CONTRACTS:
        if kind != "study_area" and kind not in layers:
            layers[kind] = _empty_layer(kind, epsg)
    tables = {}
    for name, table in config.tables.items():
        try:
            if name == "inspection_rounds":  # headers mapped and checked before any run
                tables[name] = gio.read_inspection_rounds(
                    table.path, sheet=table.sheet, encoding=table.encoding,
                    columns=table.columns)
            else:
                tables[name] = gio.read_table(table.path, sheet=table.sheet,
                                              encoding=table.encoding)
        except (ValueError, GeoplanError) as exc:
            msg = f"tables.{name}: cannot read {table.path}: {exc}"
            raise StudyConfigError(msg) from exc
    study = Study(
        config=config, name=config.study.name, admin_code=config.study.admin_code,
        metric_epsg=epsg, speed_m_per_min=config.walking.speed_m_per_min,
        tiers_min=tuple(config.walking.tiers_min), reference_date=config.study.reference_date,
        standards_profile=None if config.standards is None else config.standards.profile,
        study_area=gio.reproject_layer(area, epsg), tables=tables,
        previous_boundary_lines=previous, basemap=config.map.basemap,
        tianditu_tk=config.map.tianditu_tk,
        **{k: v for k, v in layers.items()},
    )
    logger.info("loaded study %s: %s", study.name, ", ".join(
        f"{k} {len(v)}" for k, v in layers.items()))
    return study
