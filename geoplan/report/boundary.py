"""Joint-inspection outputs: the workbook, the field list as GeoPackage and KML, the archive.

The workbook has the sheets 界线一览 (line name, code, rounds), 界桩检查表 (marker checks),
问题清单 (every finding with its place and recommended action, sorted by line and severity;
:mod:`geoplan.boundary.fieldlist`) and 联检计划 (the year's plan), with Chinese headers and a
frozen header row. The field list is also written as a point layer (GeoPackage) and as KML
(GDAL's KML driver) for field apps. :func:`archive_by_line` writes the archive-ready folder of
the inspection results (联检成果资料): for the whole set and for every line a workbook, a
GeoPackage and a KML file, plus a manifest; the folder is built beside the target and moved
into place only when complete.
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
from openpyxl import load_workbook

from geoplan.boundary import BoundaryInspection
from geoplan.boundary.fieldlist import FIELD_HEADERS, field_list
from geoplan.boundary.findings import finding_layers, normalize_code
from geoplan.io import atomic_write, write_layers_gpkg
from geoplan.report.writers import write_workbook

__all__ = [
    "archive_by_line",
    "findings_layer",
    "inspection_sheets",
    "write_findings_kml",
    "write_inspection_workbook",
]

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
SHEETS = ("界线一览", "界桩检查表", "问题清单", "联检计划")
#: Number formats of the field list's coordinates: millimetres and 1e-7 degrees (1 cm).
_COORDINATE_FORMATS = {"gk_x_m": "0.000", "gk_y_m": "0.000", "lon": "0.0000000",
                       "lat": "0.0000000"}


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
    findings = field_list(result, line_code=line_code).drop(columns="geometry")
    if line_code is not None:
        lines = lines[lines["line_code"] == line_code]
        markers = markers[markers["line_code"] == line_code] if len(markers) else markers
        plan = plan[plan["line_code"] == line_code]
    out = {
        "界线一览": _labelled(lines, LINE_HEADERS).assign(
            highlight=(lines["n_findings"] > 0).to_numpy()
        ),
        "界桩检查表": _labelled(markers, MARKER_HEADERS).assign(
            highlight=(markers["problems"].fillna("") != "").to_numpy() if len(markers) else []
        ),
        "问题清单": _labelled(findings, FIELD_HEADERS).assign(
            highlight=findings["highlight"].to_numpy()
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
    with atomic_write(path) as tmp:
        write_workbook(inspection_sheets(result, line_code=line_code), tmp)
        _format_coordinates(tmp)
    return Path(path)


def _format_coordinates(path: Path) -> None:
    """Show the field list's coordinates to the millimetre / 1e-7 degree."""
    book = load_workbook(path)
    sheet = book["问题清单"]
    wanted = {FIELD_HEADERS[c]: fmt for c, fmt in _COORDINATE_FORMATS.items()}
    for cell in sheet[1]:
        fmt = wanted.get(cell.value)
        if fmt is None:
            continue
        for (value,) in sheet.iter_rows(min_row=2, min_col=cell.column, max_col=cell.column):
            value.number_format = fmt
    book.save(path)


def findings_layer(result: BoundaryInspection, *, line_code: str | None = None
                   ) -> gpd.GeoDataFrame:
    """Return the field list as points with Chinese column names, in the findings' CRS.

    Findings without a place are left out; see :func:`geoplan.boundary.fieldlist.field_list`.
    """
    table = field_list(result, line_code=line_code)
    table = table[table["geometry"].notna()]
    frame = _labelled(table, FIELD_HEADERS)
    return gpd.GeoDataFrame(frame, geometry=table["geometry"].to_numpy(), crs=result.findings.crs)


def write_findings_kml(result: BoundaryInspection, path: str | os.PathLike[str], *,
                       line_code: str | None = None) -> Path:
    """Write the field list as KML (WGS 84) for field apps, atomically; return its path.

    Each finding is a placemark at its place, named ``问题编号 问题类型 对象``, described by its
    说明 and 建议措施, with every column of the field list as extended data. Written by
    GDAL's KML driver (text escaped as XML).

    Parameters
    ----------
    result
        Output of :func:`geoplan.boundary.inspect_boundaries`.
    path
        Output ``.kml``.
    line_code
        Only the findings of this line.
    """
    layer = findings_layer(result, line_code=line_code).to_crs(4326)
    headers = FIELD_HEADERS
    layer.insert(0, "名称", [f"{i} {k} {o}" for i, k, o in zip(
        layer[headers["finding_id"]], layer[headers["kind_zh"]], layer[headers["subject"]],
        strict=True)])
    layer.insert(1, "描述", [f"{d}（建议：{a}）" for d, a in zip(
        layer[headers["detail"]], layer[headers["action"]], strict=True)])
    with atomic_write(path) as tmp:
        pyogrio.write_dataframe(_gpkg_ready(layer), tmp, driver="KML", layer="联检问题清单",
                                dataset_options={"NameField": "名称", "DescriptionField": "描述"})
    return Path(path)


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
    layers["问题清单"] = findings_layer(result, line_code=code)
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
    if findings_layer(result).shape[0]:
        write_findings_kml(result, staging / "问题清单.kml")
        manifest.append(("全部", "", "问题清单.kml"))
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
        if findings_layer(result, line_code=code).shape[0]:
            write_findings_kml(result, staging / f"{stem}.kml", line_code=code)
            manifest.append((code, names.get(code) or "", f"{stem}.kml"))
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

    Contents: ``联检报告.xlsx``, ``联检成果.gpkg`` and ``问题清单.kml`` for the whole set,
    then for every line ``<code>_<name>.xlsx``, ``<code>_<name>.gpkg`` (layers 界线,
    界线_上一版本, 界桩, 问题清单 (a point per finding, with its place and action),
    问题_点/线/面, whichever are non-empty) and ``<code>_<name>.kml`` (when the line has
    findings), and ``清单.csv`` listing every file. The folder is
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
