"""The printed thematic maps (专题图) of a run: one PNG and one PDF per theme in ``maps/``.

A theme is drawn only when the run has its data: coverage per 镇街 and the uncovered cells
(``[coverage]``), the proposed sites of each type (``[siting]``), the shortfall of the mapped
standard (``[standards]``) and the boundary findings (``[boundary]``). Each sheet is drawn by
:mod:`geoplan.maps.static` (A4, title, legend, scale bar, north arrow, coordinate system,
sources, date) from the same layers as ``map.html``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd

from geoplan.maps import static
from geoplan.schema import FACILITY_TYPES
from geoplan.study.deliverables import layer_name_zh
from geoplan.study.denominators import MEASURE_NAMES_ZH
from geoplan.study.load import Study

logger = logging.getLogger(__name__)

#: Folder of the thematic maps in the output folder.
MAPS_DIR = "maps"
#: File names (without suffix) of the themes, numbered in the order of the report.
THEME_FILES = {"coverage": "01_服务圈覆盖率", "gaps": "02_未覆盖网格",
               "sites": "03_建议选址_{type}", "shortfall": "04_标准缺口",
               "findings": "05_联检发现"}
#: Resolution of the PNG sheets (an A4 sheet is 1654 × 2339 pixels): for documents and
#: slides; the PDF beside it is vector, for print.
PNG_DPI = 200
#: Layer kinds whose sources each theme names in its footer.
_THEME_SOURCES = {
    "coverage": ("admin_units", "population", "facilities"),
    "gaps": ("admin_units", "population", "facilities"),
    "sites": ("admin_units", "population", "facilities", "candidate_sites"),
    "shortfall": ("admin_units", "population", "facilities"),
    "findings": ("admin_units", "boundary_lines", "boundary_markers"),
}


def _file_part(text: str) -> str:
    """Return ``text`` usable in a file name on every system (``/`` → ``、`` and so on)."""
    return text.translate(str.maketrans('/\\:*?"<>|', "、、：＊？＂＜＞｜"))


def map_sources(study: Study, theme: str) -> list[str]:
    """Return the footer's data sources of ``theme``: each layer's kind and stated source.

    Synthetic layers say so; a layer without a stated source is named with its file (or its
    PostGIS table). The walking network is named for the themes drawn from walking distances.
    """
    config = study.config
    sources = []
    for name, layer in config.layers.items():
        kind = config.layer_kind(name)
        if kind not in _THEME_SOURCES[theme]:
            continue
        label = layer_name_zh(name, kind)
        text = layer.source or layer.label
        if layer.synthetic:
            text += "（合成数据，仅供演示）"
        sources.append(f"{label}：{text}")
    network = config.network
    if theme in ("coverage", "gaps", "sites") and network is not None:
        if network.synthetic is not None:
            sources.append("步行网络：合成网络（仅供演示）")
        elif network.path is not None:
            sources.append(f"步行网络：{network.path.name}")
        else:
            sources.append("步行网络：© OpenStreetMap contributors (ODbL)")
    return sources


def write_thematic_maps(
    study: Study,
    layers: dict[str, gpd.GeoDataFrame],
    out_dir: Path,
    *,
    key: str | None,
    tier_min: float,
    proposals: dict[str, gpd.GeoDataFrame],
) -> dict[str, Path]:
    """Draw and write the thematic maps the run has data for; return output name → PDF path.

    Parameters
    ----------
    study
        The study (its layers, sources and name).
    layers
        The layers of ``map.html`` (:func:`geoplan.study.pipeline.run_study`): ``towns`` with
        the coverage of ``key``, ``uncovered_cells`` with ``covered``, ``standards`` (its
        ``attrs["rule_label"]``), ``facilities``, ``boundary_lines``, ``boundary_markers``,
        ``findings``; each optional.
    out_dir
        The run's output folder; the maps go in its ``maps/`` folder, as
        ``01_服务圈覆盖率.png`` and ``.pdf`` and so on.
    key
        The facility type of the coverage maps (``None``: no coverage maps).
    tier_min
        The tier of the coverage maps (minutes).
    proposals
        Facility type → ranked proposed sites (one map per type).

    Returns
    -------
    dict
        ``{"map_<theme>": pdf path, "map_<theme>_png": png path}``, e.g. ``map_coverage``,
        ``map_sites_elderly_station_png``.
    """
    folder = out_dir / MAPS_DIR
    towns = layers.get("towns")
    if towns is None or not len(towns):
        towns = study.towns
    written: dict[str, Path] = {}

    def write(name: str, theme: str, fig: object, **fmt: str) -> None:
        stem = THEME_FILES[theme].format(**{k: _file_part(v) for k, v in fmt.items()})
        files = static.write_map_files(fig, folder / stem, dpi=PNG_DPI)
        written[name] = files["pdf"]
        written[f"{name}_png"] = files["png"]

    facilities = layers.get("facilities")
    if key is not None and "towns" in layers:
        subject = FACILITY_TYPES[key].name_zh
        existing = None
        if facilities is not None:
            existing = facilities[facilities["facility_type"].eq(key)
                                  & facilities["status"].eq("existing")]
        write("map_coverage", "coverage", static.coverage_map(
            layers["towns"], title=f"{study.name} {subject}{tier_min:g}分钟服务圈覆盖率（镇街）",
            facilities=existing, sources=map_sources(study, "coverage")))
        if "uncovered_cells" in layers:
            write("map_gaps", "gaps", static.gaps_map(
                layers["uncovered_cells"], towns,
                title=f"{study.name} {subject}{tier_min:g}分钟服务圈未覆盖网格",
                sources=map_sources(study, "gaps")))
    demand = study.config.siting.demand if study.config.siting is not None else "pop_60plus"
    for facility_type, sites in proposals.items():
        subject = FACILITY_TYPES[facility_type].name_zh
        existing = None
        if facilities is not None:
            existing = facilities[facilities["facility_type"].eq(facility_type)
                                  & facilities["status"].isin(("existing", "building"))]
        write(f"map_sites_{facility_type}", "sites", static.proposed_sites_map(
            sites, towns, existing=existing, title=f"{study.name} {subject}建议选址",
            gain_col=f"new_{demand}", gain_label=f"新增覆盖{MEASURE_NAMES_ZH.get(demand, demand)}",
            sources=map_sources(study, "sites")), type=subject)
    if "standards" in layers:
        shown = layers["standards"]
        rule = shown.attrs.get("rule_label", "标准")
        unit = shown["shortfall_unit"].dropna() if "shortfall_unit" in shown else []
        write("map_shortfall", "shortfall", static.shortfall_map(
            shown, title=f"{study.name} {rule}达标情况", rule_label=rule,
            shortfall_unit=str(unit.iloc[0]) if len(unit) else "",
            sources=map_sources(study, "shortfall")))
    if "findings" in layers:
        write("map_findings", "findings", static.boundary_findings_map(
            layers["findings"], towns if len(towns) else study.admin_units,
            lines=layers.get("boundary_lines"), markers=layers.get("boundary_markers"),
            title=f"{study.name} 行政区域界线联检发现",
            sources=map_sources(study, "findings")))
    logger.info("wrote %d thematic maps in %s", len(written), folder)
    return written


def thematic_maps_text(outputs: dict[str, Path]) -> str:
    """Return the line of 说明 that lists the thematic maps written (empty when none)."""
    names = [f"{MAPS_DIR}/{Path(path).stem}" for key, path in outputs.items()
             if key.startswith("map_") and not key.endswith("_png")]
    if not names:
        return ""
    return ("、".join(names) + "（各有 .png 与 .pdf，A4，含图名、图例、比例尺、指北针、坐标系、"
            "数据来源和制图日期；PDF 为矢量图，用于打印）")
