"""The walking filter for older residents: which OSM ways a walking network keeps.

Kept: footway, path, steps, pedestrian, living_street, residential, service, track,
unclassified, tertiary/secondary/primary (and links), cycleways with ``foot=yes``. Dropped:
motorways and trunk roads unless tagged with a sidewalk/footway or ``foot=yes``, anything
under construction or proposed, platforms and race tracks, ``foot=no``, ``area=yes``,
``access=no`` and — unless asked — ``access=private`` (gated compounds, 小区 internal paths,
which OSMnx's ``walk`` network always drops).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["EXCLUDED_HIGHWAYS", "FAST_ROADS", "WALK_TAGS", "walkable_mask"]

#: Highway values never walkable (construction, proposals, platforms, race tracks...).
EXCLUDED_HIGHWAYS = frozenset(
    {
        "abandoned", "bus_guideway", "busway", "construction", "escape", "no", "planned",
        "platform", "proposed", "raceway", "razed", "rest_area", "services", "elevator",
        "bus_stop", "corridor_construction", "disused",
    }
)  # fmt: skip
#: Fast roads, kept only with a sidewalk/footway tag or explicit foot access.
FAST_ROADS = frozenset({"motorway", "motorway_link", "trunk", "trunk_link"})
_SIDEWALK_YES = frozenset({"both", "left", "right", "yes", "separate"})
_FOOT_YES = frozenset({"yes", "designated", "permissive", "official"})
#: Tags a walking filter reads; loaders must keep them on the edges.
WALK_TAGS = (
    "highway", "access", "foot", "sidewalk", "sidewalk:both", "sidewalk:left",
    "sidewalk:right", "footway", "service", "area",
)  # fmt: skip


def _missing(value: Any) -> bool:
    """Whether a scalar tag value is missing (None, NaN, pandas NA)."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _tag_values(value: Any) -> list[str]:
    """Return the tag value(s) of one edge as a list of strings (OSMnx merges ways into lists)."""
    if isinstance(value, list | tuple | set | np.ndarray):
        return [str(v) for v in value if not _missing(v)]
    if _missing(value):
        return []
    text = str(value).strip()
    if not text:
        return []
    if text.startswith("[") and text.endswith("]"):  # a list written to GraphML as text
        return [v.strip(" '\"") for v in text[1:-1].split(",") if v.strip(" '\"")]
    return [text]


def _edge_is_walkable(tags: Mapping[str, Any], include_private: bool) -> bool:
    highways = _tag_values(tags.get("highway"))
    if not highways:
        return False
    foot = set(_tag_values(tags.get("foot")))
    if "no" in foot and not foot & _FOOT_YES:
        return False
    if "yes" in _tag_values(tags.get("area")):
        return False
    access = (set(_tag_values(tags.get("access"))) | set(_tag_values(tags.get("service")))
              | foot)
    if "private" in access and not include_private and not foot & _FOOT_YES:
        return False
    if "no" in set(_tag_values(tags.get("access"))) and not foot & _FOOT_YES:
        return False
    sidewalk = set()
    for key in ("sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right"):
        sidewalk |= set(_tag_values(tags.get(key)))
    footway = set(_tag_values(tags.get("footway"))) - {"no", "none"}
    has_footway = bool(sidewalk & _SIDEWALK_YES) or bool(footway)
    for hw in highways:
        if hw in EXCLUDED_HIGHWAYS:
            continue
        if hw in FAST_ROADS and not (has_footway or foot & _FOOT_YES):
            continue
        if hw == "cycleway" and not foot & _FOOT_YES:
            continue
        return True  # at least one of the merged ways is walkable
    return False


def walkable_mask(edges: pd.DataFrame, *, include_private: bool = False) -> np.ndarray:
    """Return which edges are walkable for older residents, from their OSM tags.

    Kept: footway, path, steps, pedestrian, living_street, residential, service, track,
    unclassified, tertiary/secondary/primary (and their links), and cycleways with
    ``foot=yes``. Dropped: edges without ``highway``; construction/proposed/platform/raceway
    and similar; ``motorway``/``trunk`` (and links) unless tagged with a sidewalk
    (``sidewalk[:both|:left|:right]`` = ``both``/``left``/``right``/``yes``/``separate``), a
    ``footway=*`` other than ``no``/``none``, or ``foot=yes``/``designated``/``permissive``;
    ``foot=no``; ``area=yes``; ``access=no`` (unless ``foot=yes``); and ``access=private`` /
    ``service=private`` / ``foot=private`` unless ``include_private`` (gated compounds, 小区
    internal paths, which OSMnx's ``walk`` network drops). An edge merged from several ways
    (list-valued tags) is kept when any of its ways is walkable.

    Parameters
    ----------
    edges
        One row per edge with OSM tag columns (missing columns count as untagged).
    include_private
        Keep ``access=private``, ``service=private`` and ``foot=private`` ways.

    Returns
    -------
    numpy.ndarray
        Boolean mask aligned with ``edges``.
    """
    cols = [c for c in WALK_TAGS if c in edges.columns]
    if "highway" not in cols:
        return np.zeros(len(edges), dtype=bool)
    records = edges[cols].to_dict("records")
    return np.fromiter(
        (_edge_is_walkable(r, include_private) for r in records), dtype=bool, count=len(records)
    )
