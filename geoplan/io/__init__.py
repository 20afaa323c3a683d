"""Reading and writing layers: GeoPackage, GeoJSON, Shapefile, Excel/CSV, rasters; atomic writes.

Owns the readers of every layer kind (Chinese and English header synonyms, GBK detection, declared
coordinate systems converted to the study CRS), the atomic writers every output goes through and
the KML writer for field apps.
Uses ``schema`` and ``crs``; never imports ``network`` (its sibling).
"""

from geoplan.io._headers import COLUMN_SYNONYMS
from geoplan.io.atomic import MANIFEST, atomic_write, staged_folder, write_text_atomically
from geoplan.io.kml import write_points_kml
from geoplan.io.layers import (
    read_admin_units,
    read_boundary_lines,
    read_boundary_markers,
    read_facilities,
    read_inspection_rounds,
    read_layer,
    read_population,
    read_table,
    reproject_layer,
    write_layers_gpkg,
)
from geoplan.io.postgis import (
    check_dsn,
    postgis_target_problems,
    read_postgis_layer,
    write_postgis_table,
    write_postgis_tables,
)

__all__ = [
    "COLUMN_SYNONYMS",
    "MANIFEST",
    "atomic_write",
    "check_dsn",
    "postgis_target_problems",
    "read_admin_units",
    "read_boundary_lines",
    "read_boundary_markers",
    "read_facilities",
    "read_inspection_rounds",
    "read_layer",
    "read_population",
    "read_postgis_layer",
    "read_table",
    "reproject_layer",
    "staged_folder",
    "write_layers_gpkg",
    "write_points_kml",
    "write_postgis_table",
    "write_postgis_tables",
    "write_text_atomically",
]
