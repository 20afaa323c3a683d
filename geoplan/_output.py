"""Atomic output files: write to a temporary file in the target folder, then move it into place."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_output_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` if the block succeeds.

    Uses :func:`geoplan.io.atomic_write` when the io module provides it. On failure the
    temporary file is removed and an existing ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        from geoplan.io import atomic_write
    except ImportError:  # io module without the helper: same behaviour, locally
        atomic_write = None
    if atomic_write is not None:
        with atomic_write(target) as tmp:
            yield Path(tmp)
        return
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomically(text: str, path: str | os.PathLike[str]) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically; return the path."""
    with atomic_output_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
