"""Plan indicators: registries of a plan's indicator table and their evaluation into buckets.

Owns the registries (``registries/*.toml``), the scoring of observed values against
yearly targets into 已经完成 / 达到预期或预期可以完成 / 未达到预期 / 不再统计, the measures
taken from layers, and the consistency checks between figures. Uses ``standards`` (its aggregation).
"""

from geoplan.indicators.consistency import check_results_vs_baselines, findings_table
from geoplan.indicators.evaluate import (
    EVALUATION_COLUMNS,
    bucket_counts,
    evaluate_indicators,
    expected_value,
    time_share,
)
from geoplan.indicators.measures import observations_from_layers
from geoplan.indicators.registry import (
    BEHIND,
    BUCKETS,
    COMPLETED,
    DISCONTINUED,
    NOT_EVALUABLE,
    ON_TRACK,
    Indicator,
    Observation,
    Override,
    Project,
    Registry,
    list_registries,
    load_registry,
    parse_override,
)

__all__ = [
    "BEHIND",
    "BUCKETS",
    "COMPLETED",
    "DISCONTINUED",
    "EVALUATION_COLUMNS",
    "NOT_EVALUABLE",
    "ON_TRACK",
    "Indicator",
    "Observation",
    "Override",
    "Project",
    "Registry",
    "bucket_counts",
    "check_results_vs_baselines",
    "evaluate_indicators",
    "expected_value",
    "findings_table",
    "list_registries",
    "load_registry",
    "observations_from_layers",
    "parse_override",
    "time_share",
]
