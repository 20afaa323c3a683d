"""Maps: self-contained folium HTML maps with offline assets, basemaps and Chinese legends.

Owns the map builders (coverage choropleths, gaps, service areas per tier, facilities,
proposed sites, standards shortfalls, boundary layers, labels), the one legend panel that
follows the visible layers, the basemaps (none, OSM, 天地图, 高德 with the
GCJ-02 display shift) and the inlining of Leaflet and its assets from ``assets/``; the
printed thematic maps (专题图: title, legend, scale bar, north arrow, sources, CRS) are
:mod:`geoplan.maps.static` (imported on its own: it loads matplotlib). Uses ``boundary``,
``schema``, ``crs`` and ``io``.
"""

from geoplan.maps._assets import inline_assets
from geoplan.maps._basemaps import BASEMAPS, GAODE_NOTE, INTERNAL_NOTE, add_note
from geoplan.maps._boundary import (
    FINDING_KIND_ZH,
    add_boundary_lines,
    add_boundary_markers,
    add_findings,
)
from geoplan.maps._core import (
    COORD_DECIMALS,
    MAX_VECTOR_FEATURES,
    SHARE_BINS,
    SHARE_COLORS,
    add_layer,
    add_layer_control,
    add_value_cells,
    base_map,
    bin_labels,
    binned_colors,
    display_layer,
    map_to_html,
    save_map,
)
from geoplan.maps._facilities import (
    CAPACITY_LABELS,
    FACILITY_STATUS_ZH,
    UNTYPED,
    add_facilities,
    add_service_areas,
    facility_type_name,
)
from geoplan.maps._labels import add_labels
from geoplan.maps._legend import add_legend
from geoplan.maps.overview import (
    INSPECTION_KINDS,
    SERVICE_AREA_COLOR,
    UNIT_TOLERANCE_M,
    add_coverage_choropleth,
    add_proposed_sites,
    add_standards_shortfalls,
    add_uncovered_cells,
    overview_map,
    quantile_class_limits,
    units_with_coverage,
)

__all__ = [
    "BASEMAPS",
    "CAPACITY_LABELS",
    "COORD_DECIMALS",
    "FACILITY_STATUS_ZH",
    "FINDING_KIND_ZH",
    "GAODE_NOTE",
    "INSPECTION_KINDS",
    "INTERNAL_NOTE",
    "MAX_VECTOR_FEATURES",
    "SERVICE_AREA_COLOR",
    "SHARE_BINS",
    "SHARE_COLORS",
    "UNIT_TOLERANCE_M",
    "UNTYPED",
    "add_boundary_lines",
    "add_boundary_markers",
    "add_coverage_choropleth",
    "add_facilities",
    "add_findings",
    "add_labels",
    "add_layer",
    "add_layer_control",
    "add_legend",
    "add_note",
    "add_proposed_sites",
    "add_service_areas",
    "add_standards_shortfalls",
    "add_uncovered_cells",
    "add_value_cells",
    "base_map",
    "bin_labels",
    "binned_colors",
    "display_layer",
    "facility_type_name",
    "inline_assets",
    "map_to_html",
    "overview_map",
    "quantile_class_limits",
    "save_map",
    "units_with_coverage",
]
