"""Layer contracts: the columns each layer kind must have, facility types and statuses.

Owns :data:`LAYER_CONTRACTS`, the facility-type registry (:data:`FACILITY_TYPES`) and
:func:`validate_layer`, which reports every problem of a layer at once with row and column.
Uses ``crs``.
"""

from geoplan._text import mojibake_encoding
from geoplan.schema._facility_types import (
    FACILITY_STATUSES,
    FACILITY_TYPES,
    FacilityType,
    facility_type_key,
    status_key,
)
from geoplan.schema.contracts import LAYER_CONTRACTS, ColumnSpec, LayerContract, validate_layer

__all__ = [
    "FACILITY_STATUSES",
    "FACILITY_TYPES",
    "LAYER_CONTRACTS",
    "ColumnSpec",
    "FacilityType",
    "LayerContract",
    "facility_type_key",
    "mojibake_encoding",
    "status_key",
    "validate_layer",
]
