"""Opening vector files (GeoPackage, GeoJSON, Shapefile, any GDAL format) for :mod:`geoplan.io`.

Owns the choice of the layer to read (refusing to guess among several spatial layers), the
text encoding of Shapefiles (a ``.dbf`` without a ``.cpg`` whose text is garbled is re-read
as GBK, with a warning, also inside a ``.zip``; a ``.dbf`` that is not in the code page its
``.cpg`` names is re-read as GBK) and GeoJSON files without a ``"crs"`` member (GDAL's
WGS 84 default is not taken for a declaration). Headers, coordinates and validation are
:func:`geoplan.io.read_layer`'s.
"""

from __future__ import annotations

import glob
import re
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from geoplan._text import mojibake_encoding
from geoplan.errors import Problem, SchemaError


def _garbled_encoding(gdf: pd.DataFrame) -> str | None:
    """Which encoding would fix the garbled text of a frame (field names and strings)."""
    votes: dict[str, int] = {}
    texts = [c for c in gdf.columns if isinstance(c, str)]
    for col in gdf.columns:
        if not isinstance(gdf[col].dtype, gpd.array.GeometryDtype) and (
                gdf[col].dtype == object or pd.api.types.is_string_dtype(gdf[col])):
            texts += [v for v in gdf[col].dropna().astype(object).head(2000) if isinstance(v, str)]
    for text in texts:
        enc = mojibake_encoding(text)
        if enc:
            votes[enc] = votes.get(enc, 0) + 1
    return max(votes, key=votes.__getitem__) if votes else None


def _pick_layer(path: Path, layer: str | int | None, kind: str, what: str) -> str:
    """Check that the file opens and name the layer to read (refusing to guess among several)."""
    try:
        listing = pyogrio.list_layers(path)
    except pyogrio.errors.DataSourceError as exc:
        raise SchemaError(what, [Problem(f"not a readable vector file: {exc}")]) from None
    names = [str(n) for n in listing[:, 0]]
    listed = ", ".join(names) or "none"
    if isinstance(layer, int) and not isinstance(layer, bool):
        if not 0 <= layer < len(names):
            raise SchemaError(what, [Problem(f"no layer number {layer}; layers: {listed}")])
        return names[layer]
    if layer is not None:
        if str(layer) not in names:
            raise SchemaError(what, [Problem(f"no layer {layer!r}; layers: {listed}")])
        return str(layer)
    spatial = [str(n) for n, geom in listing if geom is not None]  # not e.g. QGIS layer_styles
    if len(spatial) == 1:
        return spatial[0]
    if kind in spatial:
        return kind
    raise SchemaError(what, [Problem(f"the file holds {len(spatial)} spatial layers ({listed}); "
                                     "name the one to read with layer= (``layer`` in the study "
                                     "file)")])


def _has_cpg(path: Path, layer: str) -> bool:
    """Whether a Shapefile (plain, in a folder or in a .zip) comes with a .cpg code page file."""
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive:
            return any(Path(n).stem == layer and n.lower().endswith(".cpg")
                       for n in archive.namelist())
    folder = path if path.is_dir() else path.parent
    return any(p.suffix.lower() == ".cpg" for p in folder.glob(f"{glob.escape(layer)}.*"))


def _geojson_declares_crs(path: Path) -> bool:
    """Whether a GeoJSON file has a ``"crs"`` member (GDAL assumes WGS 84 when it has none)."""
    with path.open("rb") as handle:
        tail = b""
        while chunk := handle.read(1 << 20):
            if re.search(rb'"crs"\s*:', tail + chunk):
                return True
            tail = chunk[-16:]
    return False


def _read_vector(path: Path, layer: str | int | None, encoding: str | None, kind: str,
                 what: str, window_for: Callable[[CRS | None], Any] | None = None,
                 ) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Read a vector layer; with ``window_for``, only the features intersecting its window.

    ``window_for`` gets the CRS the file stores (``None`` when it states none) and returns
    the window in those numbers; its bbox is handed to GDAL (a spatial filter that uses the
    file's index) and the features read are then tested exactly.
    """
    name = _pick_layer(path, layer, kind, what)
    info: dict[str, Any] = {}
    window = None
    bbox: dict[str, Any] = {}
    if window_for is not None:
        try:
            file_info = pyogrio.read_info(path, layer=name)
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
            raise SchemaError(what, [Problem(f"cannot read layer {name!r}: {exc}")]) from None
        stated = file_info.get("crs")
        if file_info["driver"] == "GeoJSON" and not _geojson_declares_crs(path):
            stated = None
        window = window_for(None if stated is None else CRS.from_user_input(stated))
        bbox = {"bbox": tuple(shapely.bounds(window))}
    try:
        try:
            driver = pyogrio.read_info(path, layer=name, encoding=encoding)["driver"]
        except UnicodeDecodeError:  # e.g. a GBK .dbf whose .cpg says UTF-8
            driver = pyogrio.read_info(path, layer=name, encoding="GBK")["driver"]
            if encoding is None and driver == "ESRI Shapefile":
                warnings.warn(f"{path.name}: the .dbf is not in the code page its .cpg names; "
                              "re-read as GBK / .dbf 与 .cpg 编码不符，已按 GBK 读取",
                              UserWarning, stacklevel=4)
                encoding = "GBK"
        if encoding:
            info["encoding"] = encoding
            gdf = gpd.read_file(path, layer=name, encoding=encoding, **bbox)
        else:
            gdf = gpd.read_file(path, layer=name, **bbox)
            if driver == "ESRI Shapefile" and not _has_cpg(path, name):
                enc = _garbled_encoding(gdf)
                if enc:
                    label = enc.upper()
                    warnings.warn(f"检测到{label}编码（无.cpg文件）：{path.name} 已按 {label} "
                                  f"重新读取 / {path.name} has no .cpg and its .dbf is {label}; "
                                  f"re-read with encoding='{label}'", UserWarning, stacklevel=4)
                    gdf = gpd.read_file(path, layer=name, encoding=label, **bbox)
                    info["encoding"] = f"{label} (detected, no .cpg)"
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, LookupError,
            UnicodeDecodeError) as exc:
        raise SchemaError(what, [Problem(f"cannot read layer {name!r}: {exc}")]) from None
    info["driver"] = driver
    if window is not None:
        gdf = gdf[gdf.geometry.intersects(window).to_numpy()]
        info["window"] = "bbox handed to GDAL, then an exact intersects test"
    if driver == "GeoJSON" and gdf.crs is not None and not _geojson_declares_crs(path):
        gdf = gdf.set_crs(None, allow_override=True)  # GDAL's WGS 84 default is not a declaration
        info["file_crs"] = "none (GeoJSON without a crs member)"
    if driver == "GPKG":
        meta = pyogrio.read_info(path, layer=name).get("layer_metadata")
        if meta:
            info["metadata"] = dict(meta)
    return gdf, info


