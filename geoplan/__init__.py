"""geoplan: civil-affairs (民政) service-facility planning for Chinese cities.

The subpackages, lowest layer first (each may import only those below it):
``crs`` → ``schema`` → ``io`` | ``network`` → ``population`` → ``access`` | ``standards`` |
``boundary`` → ``siting`` | ``indicators`` → ``maps`` → ``report`` → ``study`` → ``datasets``
→ ``cli``. ``docs/design.md`` says what each one owns.
"""

import logging
from typing import Any

__version__ = "0.2.0"
__all__ = ["__version__", "load_demo", "load_study"]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    """Import ``load_study`` and ``load_demo`` on first use (``import geoplan`` stays light)."""
    if name == "load_study":
        from geoplan.study import load_study

        return load_study
    if name == "load_demo":
        from geoplan.datasets import load_demo

        return load_demo
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
