"""Joint-inspection outputs: the inspection workbook and the archive folder (one file set per line).

The workbook has the sheets 界线一览 (line name, code, rounds), 界桩检查表 (marker checks),
问题清单 (all findings) and 联检计划 (the year's plan), with Chinese headers and a frozen header
row. :func:`archive_by_line` writes the archive-ready folder of the inspection results
(联检成果资料): for the whole set and for every line a workbook and a GeoPackage, plus a
manifest; the folder is built beside the target and moved into place only when complete.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from geoplan.boundary import BoundaryInspection
from geoplan.boundary.findings import FINDING_KINDS, finding_layers, normalize_code
from geoplan.io import write_layers_gpkg
from geoplan.report.writers import write_workbook

logger = logging.getLogger(__name__)

LINE_HEADERS = {
    "line_code": "界线编码",
    "name": "界线名称",
    "level": "界线级别",
    "left_code": "左侧政区代码",
    "left_name": "左侧政区",
    "right_code": "右侧政区代码",
    "right_name": "右侧政区",
    "version": "界线版本",
    "length_m": "界线长度（m）",
    "n_markers": "界桩数",
    "last_round_no": "最近联检轮次",
    "last_inspected_on": "最近联检日期",
    "agreement_signed": "平安边界协议已签订",
    "next_due": "下轮联检到期",
    "status": "联检状态",
    "hausdorff_m": "与共有边最大偏差（m）",
    "mean_deviation_m": "与共有边平均偏差（m）",
    "deviating_length_m": "偏离段长度（m）",
    "version_hausdorff_m": "与上一版最大偏移（m）",
    "version_changed_length_m": "与上一版变化段长度（m）",
    "n_findings": "问题数",
}
MARKER_HEADERS = {
    "marker_no": "界桩编号",
    "line_code": "界线编码",
    "marker_type": "界桩类型",
    "condition": "状况",
    "custodian": "管护员",
    "last_inspected": "上次检查日期",
    "displacement_m": "实测与登记位置差（m）",
    "distance_to_line_m": "登记位置距界线（m）",
    "problems": "检查问题",
    "row": "成果表行",
}
FINDING_HEADERS = {
    "finding_id": "问题编号",
    "kind_zh": "问题类型",
    "kind": "类型代码",
    "severity": "严重程度",
    "subject": "对象",
    "line_code": "界线编码",
    "detail": "说明",
    "value": "数值",
    "tolerance": "容差",
    "row": "所在行",
}
PLAN_HEADERS = {
    "plan_year": "计划年度",
    "line_code": "界线编码",
    "name": "界线名称",
    "level": "界线级别",
    "left_code": "左侧政区代码",
    "right_code": "右侧政区代码",
    "last_round_no": "上轮轮次",
    "last_inspected_on": "上轮联检日期",
    "next_round_no": "本轮轮次",
    "next_due": "到期日期",
    "status": "状态",
}
SEVERITY_ZH = {"error": "问题", "warning": "提示"}
SHEETS = ("界线一览", "界桩检查表", "问题清单", "联检计划")


def _labelled(table: pd.DataFrame, headers: dict[str, str]) -> pd.DataFrame:
    """Return the columns of ``table`` named in ``headers``, in that order, renamed to Chinese."""
    cols = [c for c in headers if c in table.columns]
    return pd.DataFrame(table[cols]).rename(columns=headers)


def inspection_sheets(
    result: BoundaryInspection, *, line_code: str | None = None
) -> dict[str, pd.DataFrame]:
    """Return the report tables with Chinese headers, for all lines or for one line.

    Parameters
    ----------
    result
        Output of :func:`geoplan.boundary.inspect_boundaries`.
    line_code
        Restrict every sheet to this line (findings without a line are left out).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``{"界线一览": …, "界桩检查表": …, "问题清单": …, "联检计划": …}``; each table has a
        boolean ``highlight`` column (rows with problems) that the workbook shows in colour.
    """
    lines, markers, plan = result.lines, result.markers, result.plan
    findings = pd.DataFrame(result.findings.drop(columns="geometry")).reset_index()
    if line_code is not None:
        lines = lines[lines["line_code"] == line_code]
        markers = markers[markers["line_code"] == line_code] if len(markers) else markers
        findings = findings[findings["line_code"] == line_code]
        plan = plan[plan["line_code"] == line_code]
    findings = findings.assign(
        kind_zh=[FINDING_KINDS[k][0] for k in findings["kind"]],
        severity=[SEVERITY_ZH.get(s, s) for s in findings["severity"]],
    )
    out = {
        "界线一览": _labelled(lines, LINE_HEADERS).assign(
            highlight=(lines["n_findings"] > 0).to_numpy()
        ),
        "界桩检查表": _labelled(markers, MARKER_HEADERS).assign(
            highlight=(markers["problems"].fillna("") != "").to_numpy() if len(markers) else []
        ),
        "问题清单": _labelled(findings, FINDING_HEADERS).assign(
            highlight=(findings["severity"] == SEVERITY_ZH["error"]).to_numpy()
        ),
        "联检计划": _labelled(plan, PLAN_HEADERS).assign(highlight=plan["overdue"].to_numpy()),
    }
    return out


def write_inspection_workbook(
    result: BoundaryInspection, path: str | os.PathLike[str], *, line_code: str | None = None
) -> Path:
    """Write the inspection workbook (all lines, or one line) atomically; return its path.

    Parameters
    ----------
    result
        Output of :func:`geoplan.boundary.inspect_boundaries`.
    path
        Output ``.xlsx``.
    line_code
        Write the report of this line only.
    """
    return write_workbook(inspection_sheets(result, line_code=line_code), path)


def _markers_layer(markers: pd.DataFrame, crs: object) -> gpd.GeoDataFrame:
    """Marker table as points at the registered position (None where it is missing)."""
    frame = pd.DataFrame(markers).copy()
    x = pd.to_numeric(frame.get("x_reg"), errors="coerce").to_numpy(dtype="float64")
    y = pd.to_numeric(frame.get("y_reg"), errors="coerce").to_numpy(dtype="float64")
    geoms = gpd.points_from_xy(x, y)
    geoms[np.isnan(x) | np.isnan(y)] = None
    frame = frame.drop(columns=[c for c in ("geometry",) if c in frame.columns])
    frame["line_code"] = [normalize_code(v) for v in frame["line_code"]]
    return gpd.GeoDataFrame(_gpkg_ready(frame), geometry=geoms, crs=crs)


def _gpkg_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns GeoPackage can store: object columns as text, datetimes kept."""
    out = frame.copy()
    for col in out.columns:
        if col == "geometry":
            continue
        if out[col].dtype == object:
            out[col] = [
                None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)
                for v in out[col]
            ]
    return out


@contextmanager
def _unsynced_sqlite() -> Iterator[None]:
    """Let GDAL skip SQLite's fsync while writing archive GeoPackages (about 6x faster).

    Safe here because every file is written to a temporary path and moved into place only
    when complete; the previous setting is restored afterwards.
    """
    key = "OGR_SQLITE_SYNCHRONOUS"
    before = pyogrio.get_gdal_config_option(key)
    pyogrio.set_gdal_config_options({key: "OFF"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({key: before})


def _write_gpkg(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    """Write the non-empty layers to one GeoPackage atomically."""
    write_layers_gpkg({name: _gpkg_ready(lyr) for name, lyr in layers.items() if len(lyr)}, path)


def _safe_name(text: str) -> str:
    """Return a file-name-safe version of a line name (keeps Chinese, drops path characters)."""
    return re.sub(r'[\\/:*?"<>|\s\x00-\x1f\x7f]+', "_", text).strip("_")[:60]


def _with_line_codes(lines: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return a copy of ``lines`` with the line codes as text (``7`` -> ``"0007"``)."""
    return lines.assign(line_code=[normalize_code(c) for c in lines["line_code"]])


def _line_layers(
    result: BoundaryInspection,
    lines: gpd.GeoDataFrame,
    markers_layer: gpd.GeoDataFrame | None,
    previous_lines: gpd.GeoDataFrame | None,
    code: str | None,
) -> dict[str, gpd.GeoDataFrame]:
    """GeoPackage layers of the whole set (``code`` None) or of one line."""
    findings = result.findings.reset_index()
    lines = _with_line_codes(lines)
    previous_lines = None if previous_lines is None else _with_line_codes(previous_lines)
    if code is not None:
        lines = lines[lines["line_code"] == code]
        findings = findings[findings["line_code"] == code]
        if markers_layer is not None:
            markers_layer = markers_layer[markers_layer["line_code"] == code]
        if previous_lines is not None:
            previous_lines = previous_lines[previous_lines["line_code"] == code]
    layers = {"界线": lines}
    if previous_lines is not None:
        layers["界线_上一版本"] = previous_lines
    if markers_layer is not None:
        layers["界桩"] = markers_layer
    split = finding_layers(gpd.GeoDataFrame(findings, geometry="geometry", crs=lines.crs))
    layers |= {"问题_点": split["points"], "问题_线": split["lines"], "问题_面": split["polygons"]}
    return layers


def _fill_archive(
    result: BoundaryInspection,
    lines: gpd.GeoDataFrame,
    markers: pd.DataFrame | None,
    previous_lines: gpd.GeoDataFrame | None,
    staging: Path,
) -> None:
    """Write every file of the archive into ``staging``."""
    markers_layer = None if markers is None else _markers_layer(markers, lines.crs)
    manifest = []
    write_inspection_workbook(result, staging / "联检报告.xlsx")
    _write_gpkg(
        _line_layers(result, lines, markers_layer, previous_lines, None),
        staging / "联检成果.gpkg",
    )
    manifest += [("全部", "", "联检报告.xlsx"), ("全部", "", "联检成果.gpkg")]
    names = {}
    if "name" in result.lines.columns:
        names = dict(zip(result.lines["line_code"], result.lines["name"], strict=True))
    for code in sorted(set(result.lines["line_code"])):
        stem = _safe_name(f"{code}_{names.get(code) or ''}")
        write_inspection_workbook(result, staging / f"{stem}.xlsx", line_code=code)
        _write_gpkg(
            _line_layers(result, lines, markers_layer, previous_lines, code),
            staging / f"{stem}.gpkg",
        )
        manifest += [
            (code, names.get(code) or "", f"{stem}.xlsx"),
            (code, names.get(code) or "", f"{stem}.gpkg"),
        ]
    table = pd.DataFrame(manifest, columns=["界线编码", "界线名称", "文件"])
    table.to_csv(staging / "清单.csv", index=False, encoding="utf-8-sig")


def archive_by_line(
    result: BoundaryInspection,
    lines: gpd.GeoDataFrame,
    markers: pd.DataFrame | None,
    out_dir: str | os.PathLike[str],
    *,
    previous_lines: gpd.GeoDataFrame | None = None,
) -> Path:
    """Write the archive-ready folder of the inspection results (联检成果资料).

    Contents: ``联检报告.xlsx`` and ``联检成果.gpkg`` for the whole set, then for every line
    ``<code>_<name>.xlsx`` and ``<code>_<name>.gpkg`` (layers 界线, 界线_上一版本, 界桩,
    问题_点/线/面, whichever are non-empty), and ``清单.csv`` listing every file. The folder is
    built as a temporary sibling and swapped into place at the end, so a failed run leaves an
    earlier archive intact.

    Parameters
    ----------
    result
        Output of :func:`geoplan.boundary.inspect_boundaries`.
    lines
        The boundary lines that were inspected (metric CRS).
    markers
        The marker table that was inspected (coordinates in the same CRS), or ``None``.
    out_dir
        Archive folder to create or replace.
    previous_lines
        Optional earlier version of the lines, archived beside the current one.

    Returns
    -------
    pathlib.Path
        The archive folder.
    """
    target = Path(out_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with _unsynced_sqlite():
            _fill_archive(result, lines, markers, previous_lines, staging)
        _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("wrote inspection archive %s (%d lines)", target, len(result.lines))
    return target


def _swap_into_place(staging: Path, target: Path) -> None:
    """Replace ``target`` (if any) by ``staging``; the old folder is removed only afterwards."""
    backup = None
    if target.exists():
        backup = target.with_name(f".{target.name}.old-{os.getpid()}")
        shutil.rmtree(backup, ignore_errors=True)
        os.replace(target, backup)
    try:
        os.replace(staging, target)
    except OSError:
        if backup is not None:
            os.replace(backup, target)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
