"""geoplan: civil-affairs (民政) service-facility planning for Chinese cities."""

import logging
from typing import Any

__version__ = "0.1.0"
__all__ = ["load_study"]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    """Import :func:`geoplan.study.load_study` on first use (keeps ``import geoplan`` light)."""
    if name == "load_study":
        from geoplan.study import load_study

        return load_study
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
