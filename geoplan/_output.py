"""Text outputs written atomically through :func:`geoplan.io.atomic_write`."""

from __future__ import annotations

import os
from pathlib import Path

from geoplan.io import atomic_write


def write_text_atomically(text: str, path: str | os.PathLike[str]) -> Path:
    """Write ``text`` as UTF-8 to ``path`` through a temporary file moved into place."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
