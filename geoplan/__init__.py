"""geoplan: civil-affairs (民政) service-facility planning for Chinese cities.

What a notebook needs is here, imported on first use (``import geoplan`` itself loads no
pandas, GeoPandas or solver):

- studies: :func:`load_study`, :func:`load_demo` (the Jinjiang demo), :func:`load_byod`
  (files shaped like a planner's);
- readers: :func:`read_facilities`, :func:`read_admin_units`, :func:`read_population`,
  :func:`read_boundary_lines`, :func:`read_boundary_markers`, :func:`read_inspection_rounds`,
  :func:`read_layer`, :func:`read_table`, and :func:`walk_network_from_file`;
- walking access: :func:`nearest_facility_time`, :func:`coverage_by_unit`,
  :func:`coverage_gaps`, :func:`service_areas`, :func:`two_step_fca`;
- new sites: :func:`propose_sites`; boundary inspection: :func:`inspect_boundaries`.

The subpackages, lowest layer first (each may import only those below it):
``crs`` → ``schema`` → ``io`` | ``network`` → ``population`` → ``access`` | ``standards`` |
``boundary`` → ``siting`` | ``indicators`` → ``maps`` → ``report`` → ``study`` → ``datasets``
→ ``cli``. ``docs/design.md`` says what each one owns; ``docs/layers.md`` what the readers
read; ``docs/study-file.md`` the study file.

Examples
--------
>>> import geoplan
>>> study = geoplan.load_byod()  # data/byod/study.toml: a GCJ-02 register, a GBK shapefile
>>> study.metric_epsg, len(study.facilities)
(4548, 18)
>>> coverage = geoplan.coverage_by_unit(study.network(), study.population, study.facilities,
...                                     study.admin_units, tiers_min=15,
...                                     types="elderly_station")
>>> town = coverage[coverage["level"].eq("town")].iloc[0]
>>> f"{town['name']}: {town['pop_60plus_share']:.0%} of people aged 60+ within 15 minutes"
'莲湖街道: 96% of people aged 60+ within 15 minutes'
"""

import logging
from typing import Any

__version__ = "0.2.0"

_STUDIES = ("load_study", "load_demo", "load_byod")
_READERS = ("read_layer", "read_facilities", "read_admin_units", "read_population",
            "read_boundary_lines", "read_boundary_markers", "read_inspection_rounds",
            "read_table")
_ACCESS = ("nearest_facility_time", "coverage_by_unit", "coverage_gaps", "service_areas",
           "two_step_fca")

__all__ = ["__version__", *_STUDIES, *_READERS, "walk_network_from_file", *_ACCESS,
           "inspect_boundaries", "propose_sites"]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    """Import a name of :data:`__all__` on first use (``import geoplan`` stays light)."""
    if name == "load_study":
        from geoplan.study import load_study as found
    elif name in _STUDIES:
        from geoplan import datasets as module

        found = getattr(module, name)
    elif name in _READERS:
        from geoplan import io as module

        found = getattr(module, name)
    elif name == "walk_network_from_file":
        from geoplan.network import walk_network_from_file as found
    elif name in _ACCESS:
        from geoplan import access as module

        found = getattr(module, name)
    elif name == "inspect_boundaries":
        from geoplan.boundary import inspect_boundaries as found
    elif name == "propose_sites":
        from geoplan.siting import propose_sites as found
    else:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    globals()[name] = found
    return found


def __dir__() -> list[str]:
    """List the lazily imported names too (for tab completion)."""
    return sorted({*globals(), *__all__})
