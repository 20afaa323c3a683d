"""Walking networks: the CSR graph, its sources (OSM, files, synthetic), walk filters, snapping.

Owns :class:`WalkNetwork` and the ways to build one (``walk_network_from_*``), the filters that
keep what an older pedestrian can walk, snapping points to the nearest edge, and the seeded
synthetic street generator used by the demo and the benchmarks. Uses ``crs``; never imports ``io``.
"""

from geoplan.network.graph import WalkNetwork, walk_network_from_edges, walk_network_from_graph
from geoplan.network.snapping import check_snap_offset, check_snap_offsets, snap_points
from geoplan.network.sources import (
    overpass_walk_filter,
    walk_network_from_file,
    walk_network_from_osm,
    walk_network_from_synthetic,
)
from geoplan.network.synthetic import (
    NETWORK_GENERATOR_VERSION,
    street_network,
    synthetic_network,
    synthetic_network_inputs,
)
from geoplan.network.walk_filter import WALK_TAGS, walkable_mask

__all__ = [
    "NETWORK_GENERATOR_VERSION",
    "WALK_TAGS",
    "WalkNetwork",
    "check_snap_offset",
    "check_snap_offsets",
    "overpass_walk_filter",
    "snap_points",
    "street_network",
    "synthetic_network",
    "synthetic_network_inputs",
    "walk_network_from_edges",
    "walk_network_from_file",
    "walk_network_from_graph",
    "walk_network_from_osm",
    "walk_network_from_synthetic",
    "walkable_mask",
]
