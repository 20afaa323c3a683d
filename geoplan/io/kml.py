"""KML of points for field apps (奥维, 两步路, Google Earth): a placemark per point, WGS 84.

:func:`write_points_kml` writes one KML 2.2 document with the Python standard library
(:mod:`xml.etree.ElementTree`): a folder per group (e.g. facility type), a placemark per
point named by a column, a description table of chosen columns under readable labels, the
same values as ``ExtendedData`` (machine name, label as ``displayName``), and coordinates in
WGS 84 lon/lat as KML requires (converted from the layer's CRS). Written atomically.
"""

from __future__ import annotations

import html
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoplan.errors import OutputError, require_columns
from geoplan.io.atomic import atomic_write

__all__ = ["KML_NAMESPACE", "write_points_kml"]

KML_NAMESPACE = "http://www.opengis.net/kml/2.2"


def _text(value: object, spec: str | None) -> str:
    """Return a cell as a planner reads it: whole numbers with separators, missing as empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if spec is not None and isinstance(value, int | float) and not isinstance(value, bool):
        return format(value, spec)
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}"
    return str(value)


def _description(pairs: list[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th style=\"text-align:left\">{html.escape(label)}</th>"
                   f"<td>{html.escape(text)}</td></tr>" for label, text in pairs)
    style = "border-collapse:collapse"
    return f"<table border=\"1\" cellpadding=\"2\" style=\"{style}\">{rows}</table>"


def write_points_kml(
    layer: gpd.GeoDataFrame,
    path: str | os.PathLike[str],
    *,
    name_column: str,
    fields: Mapping[str, str],
    folder_column: str | None = None,
    document_name: str = "",
    formats: Mapping[str, str] | None = None,
) -> Path:
    """Write points as a KML document: named placemarks with a description table.

    Parameters
    ----------
    layer
        Points (any CRS; converted to WGS 84 lon/lat). Polygons are placed at a point
        inside them.
    path
        Output ``.kml``; written atomically.
    name_column
        Column giving each placemark's name (e.g. a readable site id).
    fields
        Column → label of the rows of each description table (and of the ``ExtendedData``),
        in order, e.g. ``{"town_name": "所在镇街", "lon_gcj02": "经度（GCJ-02）"}``.
    folder_column
        Column whose values group the placemarks into folders (e.g. the facility type);
        ``None``: no folders.
    document_name
        Name of the document (shown as the layer name in a field app).
    formats
        Column → format spec of its numbers (e.g. ``{"lon_wgs84": ".6f"}``); by default
        whole numbers get thousands separators and other numbers one decimal.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    OutputError
        If a column is missing, the layer has no CRS, or a geometry is missing or empty.

    Examples
    --------
    >>> import tempfile
    >>> sites = gpd.GeoDataFrame({"site_id": ["青阳街道-养老服务站-01"], "pop": [1200]},
    ...                          geometry=gpd.points_from_xy([118.55], [24.78]), crs=4326)
    >>> out = write_points_kml(sites, Path(tempfile.mkdtemp()) / "sites.kml",
    ...                        name_column="site_id", fields={"pop": "常住人口"})
    >>> "<coordinates>118.5500000,24.7800000,0</coordinates>" in out.read_text(encoding="utf-8")
    True
    """
    formats = dict(formats or {})
    require_columns(layer, [name_column, *fields, *([folder_column] if folder_column else [])],
                    "KML points", error=OutputError)
    if layer.crs is None:
        msg = f"cannot write {Path(path).name}: the layer has no coordinate system"
        raise OutputError(msg)
    geoms = layer.geometry.to_numpy()
    bad = [str(i) for i, g in zip(layer.index, geoms, strict=True)
           if g is None or shapely.is_empty(g)]
    if bad:
        msg = f"cannot write {Path(path).name}: rows without a location: {', '.join(bad[:5])}"
        raise OutputError(msg)
    points = layer.geometry.representative_point().to_crs(4326)
    lon, lat = points.x.to_numpy(), points.y.to_numpy()
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        msg = f"cannot write {Path(path).name}: a location is not finite"
        raise OutputError(msg)

    ET.register_namespace("", KML_NAMESPACE)
    ns = f"{{{KML_NAMESPACE}}}"
    root = ET.Element(f"{ns}kml")
    doc = ET.SubElement(root, f"{ns}Document")
    ET.SubElement(doc, f"{ns}name").text = document_name or Path(path).stem
    groups = (pd.unique(layer[folder_column].astype(str)) if folder_column else [None])
    for group in groups:
        parent = doc
        if group is not None:
            parent = ET.SubElement(doc, f"{ns}Folder")
            ET.SubElement(parent, f"{ns}name").text = group
        rows = (np.flatnonzero(layer[folder_column].astype(str).to_numpy() == group)
                if group is not None else range(len(layer)))
        for i in rows:
            row = layer.iloc[i]
            mark = ET.SubElement(parent, f"{ns}Placemark")
            ET.SubElement(mark, f"{ns}name").text = _text(row[name_column], None)
            pairs = [(label, _text(row[col], formats.get(col))) for col, label in fields.items()]
            ET.SubElement(mark, f"{ns}description").text = _description(pairs)
            extended = ET.SubElement(mark, f"{ns}ExtendedData")
            for (col, label), (_, text) in zip(fields.items(), pairs, strict=True):
                data = ET.SubElement(extended, f"{ns}Data", name=col)
                ET.SubElement(data, f"{ns}displayName").text = label
                ET.SubElement(data, f"{ns}value").text = text
            point = ET.SubElement(mark, f"{ns}Point")
            ET.SubElement(point, f"{ns}coordinates").text = f"{lon[i]:.7f},{lat[i]:.7f},0"
    ET.indent(root)
    with atomic_write(path) as tmp:
        ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    return Path(path)
