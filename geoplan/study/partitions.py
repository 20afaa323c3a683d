"""Partitioned runs: a study split per county (large counties per 镇街), each part on Dask.

A province is too large for one process (about 2 GB per million network nodes), so the
coverage step runs per *partition*: a county, or a group of 镇街 of a county larger than
``[compute] max_partition_km2``. A partition counts the people of its **core** (the cells whose
centre lies in its units) and reads every layer only within a **window** around the core:

- facilities within the walking distance of the longest tier (900 m for 15 minutes), so a
  resident near a county line counts the stations across it;
- streets within that distance plus the snapping tolerance
  (:data:`geoplan.access.DEFAULT_MAX_ACCESS_M`, 500 m), so every facility and resident snaps
  to the edge it snaps to in the whole network, and every path within the tier stays inside.

A path of length ``L`` from a core cell never leaves the disc of radius ``L`` around it, so
the partition's distances equal the whole network's, and the merged counts equal a
single-process run's (``tests/test_partitions.py`` checks it). Each partition returns sums per
unit, facility type and tier; :func:`merge_coverage` adds them up and recomputes the shares:
one table with the study (province) total and every county, 镇街 and 社区/村.

Layers are read with :func:`read_window` ("this layer within this box, in the study CRS"),
which for files uses the file's spatial index (pyogrio ``bbox``). The partitions run on
``dask.distributed``: a ``LocalCluster`` sized to the machine (one single-threaded worker per
core while the memory allows, each with a memory limit), or the scheduler at ``[compute]
scheduler`` / ``geoplan run --scheduler ADDRESS``.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoplan import io as gio
from geoplan.access import (
    DEFAULT_MAX_ACCESS_M,
    assign_units,
    coverage_by_unit,
    nearest_facility_time,
    tier_reach_m,
)
from geoplan.errors import StudyConfigError
from geoplan.network import walk_network_from_file
from geoplan.schema import facility_type_key
from geoplan.study.config import StudyConfig, read_study_config
from geoplan.study.load import read_study_layer
from geoplan.study.preflight import CORE_TYPES

logger = logging.getLogger(__name__)

__all__ = [
    "Partition",
    "PartitionedCoverage",
    "coverage_of_partition",
    "coverage_single_process",
    "local_cluster_size",
    "merge_coverage",
    "partition_margin_m",
    "plan_partitions",
    "read_window",
    "run_partitioned_coverage",
]

Box = tuple[float, float, float, float]
#: Default largest area of one partition (km²); a larger county is split by its 镇街.
MAX_PARTITION_KM2 = 2500.0
#: Memory limit of one local worker when the study file gives none (bytes).
DEFAULT_WORKER_MEMORY = 4 * 2**30
#: Chinese headers of ``partitions.csv``.
STATS_ZH = {"partition": "分区", "level": "分区层级", "area_km2": "面积（平方公里）",
            "cells": "人口格网数", "facilities": "窗口内设施数", "nodes": "窗口内路网节点数",
            "edges": "窗口内路段数", "seconds": "用时（秒）",
            "start_rss_bytes": "开始时工作进程内存（字节）",
            "peak_rss_bytes": "工作进程内存峰值（字节）", "pid": "工作进程号"}
_SUMMED = ("n_cells", "_total", "_covered", "_covered_straight", "_detour_loss")


@dataclass(frozen=True)
class Partition:
    """One part of a partitioned run.

    Attributes
    ----------
    key
        The county code, or ``<county>-<n>`` for a group of 镇街 of a large county.
    level
        ``"county"`` or ``"town"``: the level of ``codes``.
    codes
        The units whose residents this partition counts (its core).
    bbox
        The box of the core ``(xmin, ymin, xmax, ymax)`` in the study's metric CRS.
    area_km2
        Area of the core.
    """

    key: str
    level: str
    codes: tuple[str, ...]
    bbox: Box
    area_km2: float


def _grow(box: Box, margin_m: float) -> Box:
    return (box[0] - margin_m, box[1] - margin_m, box[2] + margin_m, box[3] + margin_m)


def partition_margin_m(tiers_min: Sequence[float], speed_m_per_min: float | None = None,
                       snap_tolerance_m: float = DEFAULT_MAX_ACCESS_M) -> float:
    """Return the margin of network around a partition's core (metres).

    The walking distance of the longest tier (:func:`geoplan.access.tier_reach_m`) plus the
    snapping tolerance: 900 + 500 = 1,400 m for the GB 50180-2018 15-minute circle.
    """
    return float(max(tier_reach_m(tiers_min, speed_m_per_min))) + float(snap_tolerance_m)


def plan_partitions(units: gpd.GeoDataFrame, *,
                    max_partition_km2: float = MAX_PARTITION_KM2) -> list[Partition]:
    """Split a study into partitions: one per county, a large county by groups of 镇街.

    Parameters
    ----------
    units
        Admin units with ``code``, ``level`` and (for 镇街) ``parent_code``, in a metric CRS.
        Without county-level units the 镇街 are grouped as one county.
    max_partition_km2
        A county larger than this is split into groups of its 镇街 (in code order), each
        group closed once it reaches this area.

    Returns
    -------
    list of Partition
        In county-code order.

    Raises
    ------
    StudyConfigError
        If there are neither county nor 镇街 units.
    """
    level = units["level"].astype(str)
    counties = units[level == "county"].sort_values("code")
    towns = units[level == "town"].sort_values("code")
    if not len(counties) and not len(towns):
        msg = "a partitioned run needs admin units at county or 镇街 (town) level"
        raise StudyConfigError(msg)
    parents = towns["parent_code"].astype(str) if "parent_code" in towns else None
    groups: list[tuple[str, gpd.GeoDataFrame | None, Any]] = []
    if len(counties):
        for code, geom in zip(counties["code"].astype(str), counties.geometry, strict=True):
            mine = towns[parents == code] if parents is not None else towns.iloc[:0]
            groups.append((code, mine, geom))
    else:
        key = str(towns["parent_code"].iloc[0]) if parents is not None else "study"
        groups.append((key, towns, None))
    out = []
    for code, mine, geom in groups:
        area = geom.area / 1e6 if geom is not None else float(mine.area.sum()) / 1e6
        if area <= max_partition_km2 or mine is None or len(mine) < 2:
            bounds = shapely.bounds(geom) if geom is not None else mine.total_bounds
            out.append(Partition(code, "county" if geom is not None else "town",
                                 (code,) if geom is not None else
                                 tuple(mine["code"].astype(str)),
                                 tuple(float(v) for v in bounds), area))
            continue
        batch: list[int] = []
        batch_km2, number = 0.0, 0
        areas = mine.area.to_numpy() / 1e6
        for i in range(len(mine)):
            batch.append(i)
            batch_km2 += areas[i]
            if batch_km2 >= max_partition_km2 or i == len(mine) - 1:
                part = mine.iloc[batch]
                number += 1
                out.append(Partition(f"{code}-{number}", "town",
                                     tuple(part["code"].astype(str)),
                                     tuple(float(v) for v in part.total_bounds), batch_km2))
                batch, batch_km2 = [], 0.0
    return out


def read_window(config: StudyConfig, name: str, window: Box | None, epsg: int
                ) -> gpd.GeoDataFrame:
    """Read study layer ``name`` within the box ``window`` (in ``EPSG:epsg``; ``None``: all).

    A file layer reads only the features near the window (its spatial index, then an exact
    test), a PostGIS layer only those the SQL's spatial filter returns
    (:func:`geoplan.study.load.read_study_layer`); the result is in the study's metric CRS,
    validated as :func:`geoplan.study.load_study` validates it.
    """
    return read_study_layer(config, name, window=window, window_crs=epsg, to_crs=epsg)


def _read_kind(config: StudyConfig, kind: str, window: Box | None,
               epsg: int) -> gpd.GeoDataFrame:
    parts = [read_window(config, name, window, epsg) for name in config.layers
             if config.layer_kind(name) == kind]
    if not parts:
        msg = f"a partitioned run needs a layer of kind {kind}"
        raise StudyConfigError(msg)
    if len(parts) == 1:
        return parts[0]
    return gpd.GeoDataFrame(pd.concat(parts), geometry=parts[0].geometry.name, crs=parts[0].crs)


def _check_network(config: StudyConfig) -> None:
    net = config.network
    if net is None or net.path is None or net.path.suffix.lower() not in (
            ".gpkg", ".shp", ".geojson", ".json", ".fgb"):
        msg = ("a partitioned run reads the streets of each window from a centreline layer: "
               "give [network] path = \"….gpkg\" (with coords); see docs/study-file.md#compute")
        raise StudyConfigError(msg)


def _network_in(config: StudyConfig, window: Box, epsg: int):
    _check_network(config)
    net = config.network
    return walk_network_from_file(net.path, coords=net.coords, metric_epsg=epsg, window=window)


def _in_box(xy: np.ndarray, box: Box) -> np.ndarray:
    return (xy[:, 0] >= box[0]) & (xy[:, 0] <= box[2]) & (xy[:, 1] >= box[1]) & (xy[:, 1] <= box[3])


def _core_cells(cells: gpd.GeoDataFrame, units: gpd.GeoDataFrame, partition: Partition,
                partitions: Sequence[Partition]) -> gpd.GeoDataFrame:
    """Return the cells this partition counts: each cell is counted by exactly one partition.

    A cell belongs to the partition of its county (or, in a split county, of its 镇街), by
    the point :func:`geoplan.access.assign_units` tests. A cell in no such unit goes to the
    first partition (of its county, when it has one) whose box holds that point. Only cells
    whose point lies in the partition's box can be its own, and every unit holding such a
    point meets the box, so the answer is the same whichever window the cell was read in.
    """
    geoms = cells.geometry.to_numpy()
    is_point = shapely.get_type_id(geoms) == 0
    probes = np.where(is_point, geoms, shapely.point_on_surface(geoms)) if len(geoms) else geoms
    xy = shapely.get_coordinates(probes) if len(geoms) else np.empty((0, 2))
    inside = _in_box(xy, partition.bbox)
    cells, xy = cells[inside], xy[inside]
    unit_of = assign_units(cells, units[units["level"].astype(str).isin(["county", "town"])])
    none = pd.Series(None, index=cells.index, dtype=object)
    county = unit_of["county"] if "county" in unit_of.columns else none
    town = unit_of["town"] if "town" in unit_of.columns else none
    whole = {p.codes[0] for p in partitions if p.level == "county"}
    split = {c for p in partitions if p.level == "town" for c in p.codes}
    if partition.level == "county":
        mine = county.eq(partition.codes[0]).to_numpy()
    else:
        mine = town.isin(partition.codes).to_numpy()
    left = ~(county.isin(whole) | town.isin(split)).to_numpy()
    if left.any():  # in no unit that names a partition: the first box that holds it
        me = partitions.index(partition)
        owner = np.full(int(left.sum()), -1, dtype=np.int64)
        left_county = county.to_numpy(dtype=object)[left]
        for i, p in enumerate(partitions):
            same = np.array([c is None or not isinstance(c, str) or p.key.split("-")[0] == c
                             for c in left_county], dtype=bool)
            owner[(owner < 0) & same & _in_box(xy[left], p.bbox)] = i
        mine[left] = owner == me
    return cells[mine]


def _rss_bytes() -> int:
    """Resident memory of this process now (bytes)."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def _peak_rss_bytes() -> int:
    """Peak resident memory of this process so far (bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _zero_coverage(rows: pd.DataFrame) -> pd.DataFrame:
    """Return the rows with nobody covered (totals kept)."""
    rows = rows.copy()
    for col in rows.columns:
        if col.endswith(("_covered", "_covered_straight", "_detour_loss")):
            rows[col] = 0.0
        elif col.endswith("_share_straight"):
            rows[col] = np.where(rows[col.removesuffix("_share_straight") + "_total"] > 0,
                                 0.0, np.nan)
        elif col.endswith("_share"):
            rows[col] = np.where(rows[col.removesuffix("_share") + "_total"] > 0, 0.0, np.nan)
    return rows


def _pad_types(table: pd.DataFrame, present: list[str], types: Sequence[str]) -> pd.DataFrame:
    """Add zero-coverage rows for the types without a facility in the window."""
    template = table[table["facility_type"] == present[0]]
    extra = [_zero_coverage(template).assign(facility_type=t) for t in types if t not in present]
    return pd.concat([table, *extra], ignore_index=True) if extra else table


def coverage_of_partition(config_path: str | os.PathLike[str], partition: Partition,
                          partitions: Sequence[Partition], *, epsg: int,
                          types: Sequence[str]) -> dict[str, Any]:
    """Compute coverage for the residents of one partition's core (runs on a worker).

    Parameters
    ----------
    config_path
        The study file (each worker reads its own windows).
    partition
        The partition to compute.
    partitions
        Every partition of the run (to give people in no unit to exactly one).
    epsg
        The study's metric CRS.
    types
        Facility types to count.

    Returns
    -------
    dict
        ``coverage`` (:func:`geoplan.access.coverage_by_unit` rows for the core's residents;
        ``None`` when the core holds nobody) and ``stats`` (cells, facilities, nodes, edges,
        seconds, the worker's peak memory in bytes, its process id).
    """
    started = time.perf_counter()
    start_rss = _rss_bytes()
    config = read_study_config(config_path)
    tiers, speed = tuple(config.walking.tiers_min), config.walking.speed_m_per_min
    reach_m = float(max(tier_reach_m(tiers, speed)))
    units = _read_kind(config, "admin_units", partition.bbox, epsg)
    cells = _read_kind(config, "population", partition.bbox, epsg)
    core = _core_cells(cells, units, partition, partitions)
    facilities = _read_kind(config, "facilities", _grow(partition.bbox, reach_m), epsg)
    facilities = facilities[facilities["status"].eq("existing")
                            & facilities["facility_type"].isin(list(types))]
    stats: dict[str, Any] = {"partition": partition.key, "level": partition.level,
                             "area_km2": partition.area_km2, "cells": len(core),
                             "facilities": len(facilities)}
    table = None
    if len(core):
        network = _network_in(config, _grow(partition.bbox, partition_margin_m(tiers, speed)),
                              epsg)
        stats |= {"nodes": int(network.n_nodes), "edges": len(network.edges)}
        present = [t for t in types if facilities["facility_type"].eq(t).any()]
        placeholder = not present
        if placeholder:  # no facility at all in reach: a placeholder site gives the rows
            present = [types[0]]
            site = shapely.get_point(network.edges.geometry.iloc[0], 0)
            facilities = gpd.GeoDataFrame({"facility_type": [types[0]], "status": ["existing"]},
                                          geometry=[site], index=["placeholder"],
                                          crs=network.edges.crs)
        table = coverage_by_unit(network, core, facilities, units, tiers_min=tiers,
                                 speed_m_per_min=speed, types=present)
        if placeholder:
            table = _zero_coverage(table)
        table = _pad_types(table, present, types)
    stats |= {"seconds": time.perf_counter() - started, "start_rss_bytes": start_rss,
              "peak_rss_bytes": _peak_rss_bytes(), "pid": os.getpid()}
    return {"coverage": table, "stats": stats}


def merge_coverage(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Add up the partitions' coverage rows: one row per unit, type and tier; shares again.

    Counts (``n_cells``, ``*_total``, ``*_covered``, ``*_covered_straight``,
    ``*_detour_loss``) are summed; ``*_share`` and ``*_share_straight`` are recomputed from
    the sums; the rows are sorted by level (``study`` first), code, type and tier.
    """
    frames = [t for t in tables if t is not None and len(t)]
    if not frames:
        msg = "no partition holds any resident; nothing to merge"
        raise StudyConfigError(msg)
    joined = pd.concat(frames, ignore_index=True)
    key = ["level", "code", "facility_type", "tier_min"]
    summed = [c for c in joined.columns if c not in key and c.endswith(_SUMMED)]
    first = [c for c in joined.columns if c not in key and c not in summed
             and not c.endswith(("_share", "_share_straight"))]
    grouped = joined.groupby(key, sort=False, dropna=False)
    out = grouped[summed].sum().join(grouped[first].first()).reset_index()
    out["n_cells"] = out["n_cells"].round().astype(np.int64)
    for col in [c for c in joined.columns if c.endswith("_share_straight")]:
        m = col.removesuffix("_share_straight")
        out[col] = _share(out[f"{m}_covered_straight"], out[f"{m}_total"])
    for col in [c for c in joined.columns if c.endswith("_share")]:
        m = col.removesuffix("_share")
        out[col] = _share(out[f"{m}_covered"], out[f"{m}_total"])
    order = {lvl: i for i, lvl in enumerate(["study", "county", "town", "village"])}
    out = out.assign(_o=out["level"].map(order).fillna(9)).sort_values(
        ["_o", "code", "facility_type", "tier_min"], kind="stable").drop(columns="_o")
    return out[list(joined.columns)].reset_index(drop=True)


def _share(covered: pd.Series, total: pd.Series) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, covered / total, np.nan)


def coverage_single_process(study: Any, types: Sequence[str] | None = None) -> pd.DataFrame:
    """Coverage of a whole loaded study in one process, sorted like :func:`merge_coverage`."""
    existing = study.facilities[study.facilities["status"].eq("existing")]
    types = list(types or study_types(study.config, existing))
    nearest = nearest_facility_time(study.network(), study.population, existing,
                                    speed_m_per_min=study.speed_m_per_min,
                                    max_minutes=max(study.tiers_min), types=types)
    table = coverage_by_unit(study.network(), study.population, existing, study.admin_units,
                             tiers_min=study.tiers_min, speed_m_per_min=study.speed_m_per_min,
                             types=types, nearest=nearest)
    return merge_coverage([table])


def study_types(config: StudyConfig, existing: pd.DataFrame) -> list[str]:
    """Return the coverage types of a study with an existing facility (as a run counts them)."""
    aliases = config.types.aliases
    wanted = (config.coverage.types if config.coverage is not None and config.coverage.types
              else CORE_TYPES)
    keys = dict.fromkeys(facility_type_key(t, aliases) for t in wanted)
    have = set(existing["facility_type"].astype(str))
    return [t for t in keys if t in have]


def local_cluster_size(memory_per_worker: int | None = None, workers: int | None = None,
                       ) -> tuple[int, int]:
    """Return ``(workers, memory limit per worker in bytes)`` for this machine.

    One worker per core, as many as fit in 80 % of the available memory at
    ``memory_per_worker`` (default :data:`DEFAULT_WORKER_MEMORY`, or less when the machine
    has less), at least one.
    """
    import psutil

    cores = os.cpu_count() or 1
    available = psutil.virtual_memory().available * 0.8
    limit = int(memory_per_worker or min(DEFAULT_WORKER_MEMORY, available / max(cores, 1)))
    fit = max(1, int(available // limit))
    return max(1, min(workers or cores, fit)), limit


def _memory_bytes(text: str | int | None) -> int | None:
    if text is None or isinstance(text, int):
        return text
    from dask.utils import parse_bytes

    return int(parse_bytes(text))


@dataclass
class PartitionedCoverage:
    """What a partitioned coverage run gives.

    Attributes
    ----------
    coverage
        The merged coverage (:func:`merge_coverage`): study total, county, 镇街, 社区/村.
    partitions
        The partitions, in plan order.
    stats
        One row per partition: cells, facilities, nodes, edges, seconds, the memory of the
        worker process that ran it when it started and its peak so far (bytes), and its
        process id.
    wall_s
        Wall time of the whole run (seconds), cluster start included.
    workers
        Worker address → memory limit (bytes; 0 when unlimited).
    client_peak_rss_bytes
        Peak memory of the process that drove the run.
    """

    coverage: pd.DataFrame
    partitions: list[Partition]
    stats: pd.DataFrame
    wall_s: float
    workers: dict[str, int] = field(default_factory=dict)
    client_peak_rss_bytes: int = 0


def run_partitioned_coverage(
    config: StudyConfig | str | os.PathLike[str], *, scheduler: str | None = None,
    workers: int | None = None, memory_limit: str | int | None = None,
    processes: bool | None = None, max_partition_km2: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PartitionedCoverage:
    """Run the coverage step of a study partitioned per county, on Dask.

    Parameters
    ----------
    config
        The study file or its config; its ``[compute]`` section gives the defaults.
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``); default ``[compute]
        scheduler``, else a ``LocalCluster`` on this machine (:func:`local_cluster_size`).
    workers, memory_limit
        Local cluster only: number of workers and memory limit per worker (``"4GB"``).
    processes
        Local cluster only: workers in their own processes (default ``[compute]
        processes``, else ``True``).
    max_partition_km2
        Split counties larger than this by 镇街 (default ``[compute] max_partition_km2``).
    progress
        Called with ``(done, total)`` as partitions finish.

    Returns
    -------
    PartitionedCoverage

    Raises
    ------
    StudyConfigError
        If the study cannot be partitioned (no county or 镇街 units, no centreline layer).
    """
    from distributed import Client, LocalCluster, as_completed

    started = time.perf_counter()
    if not isinstance(config, StudyConfig):
        config = read_study_config(config)
    if config.path is None:
        msg = "a partitioned run needs a study file (its workers read the layers themselves)"
        raise StudyConfigError(msg)
    compute = config.compute
    if config.study.metric_crs is None:
        msg = "a partitioned run needs [study] metric_crs (every worker must use the same one)"
        raise StudyConfigError(msg)
    epsg = int(config.study.metric_crs.split(":")[1])
    _check_network(config)
    units = _read_kind(config, "admin_units", None, epsg)
    units = units[units["level"].astype(str).isin(["county", "town"])]
    partitions = plan_partitions(units, max_partition_km2=max_partition_km2 or getattr(
        compute, "max_partition_km2", MAX_PARTITION_KM2))
    facilities = _read_kind(config, "facilities", None, epsg)
    types = study_types(config, facilities[facilities["status"].eq("existing")])
    if not types:
        msg = "no existing facility of the coverage types; nothing to count"
        raise StudyConfigError(msg)
    scheduler = scheduler or getattr(compute, "scheduler", None)
    cluster = None
    if scheduler is None:
        n, limit = local_cluster_size(_memory_bytes(memory_limit or getattr(
            compute, "memory_limit", None)), workers or getattr(compute, "workers", None))
        use_processes = processes if processes is not None else getattr(
            compute, "processes", True)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, memory_limit=limit,
                               processes=use_processes, dashboard_address=":0")
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        info = client.scheduler_info(n_workers=-1)["workers"]
        limits = {addr: int(w.get("memory_limit") or 0) for addr, w in info.items()}
        futures = [client.submit(coverage_of_partition, str(config.path), p, partitions,
                                 epsg=epsg, types=types, key=f"partition-{p.key}", pure=False)
                   for p in partitions]
        results = []
        for done, future in enumerate(as_completed(futures), start=1):
            results.append(future.result())
            if progress is not None:
                progress(done, len(futures))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    coverage = merge_coverage([r["coverage"] for r in results])
    stats = pd.DataFrame([r["stats"] for r in results]).set_index("partition").reindex(
        [p.key for p in partitions]).reset_index()
    return PartitionedCoverage(coverage=coverage, partitions=partitions, stats=stats,
                               wall_s=time.perf_counter() - started, workers=limits,
                               client_peak_rss_bytes=_peak_rss_bytes())


def write_partitioned_outputs(result: PartitionedCoverage, units: gpd.GeoDataFrame,
                              out_dir: str | os.PathLike[str], *, study_name: str,
                              lang: str = "zh") -> dict[str, Path]:
    """Write the merged coverage (CSV per level, ``report.xlsx``) and the partitions table."""
    from geoplan import report
    from geoplan.study.deliverables import coverage_sheets
    from geoplan.study.pipeline import write_csv

    outputs: dict[str, Path] = {}
    meta = {"study": study_name, "partitions": len(result.partitions)}
    final = Path(out_dir)
    with gio.staged_folder(final, meta) as stage:
        table = result.coverage
        outputs["coverage"] = write_csv(table, stage / "coverage_by_unit.csv", lang=lang)
        stats = result.stats if lang == "en" else result.stats.rename(columns=STATS_ZH)
        outputs["partitions"] = write_csv(stats, stage / "partitions.csv", lang=lang)
        sheets = coverage_sheets(table, units)
        county = table[table["level"] == "county"]
        for tier in sorted(county["tier_min"].unique()):
            part = county[county["tier_min"] == tier]
            sheets[f"覆盖-县区-{tier:g}分钟"] = part.drop(columns=["level"])
        outputs["report_xlsx"] = report.write_workbook(sheets, stage / "report.xlsx", lang=lang)
    return {k: final / Path(v).relative_to(stage) for k, v in outputs.items()}
