"""Atomic writes: every output goes to a temporary file and is moved into place whole.

A failed write leaves an existing file untouched and no partial file behind.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from geoplan.errors import OutputError

logger = logging.getLogger(__name__)

__all__ = ["atomic_write", "write_text_atomically"]


@contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Give a temporary path to write to; move it onto ``path`` only if the block succeeds.

    The temporary file lives in a private folder next to ``path`` (same file system, so the
    final :func:`os.replace` is atomic) and has the same name, so drivers that infer the
    format from the suffix work. On an exception the temporary folder is removed and an
    existing ``path`` is left untouched. For single-file outputs (GPKG, XLSX, HTML, CSV).

    Parameters
    ----------
    path
        The final output file. Missing parent folders are created.

    Yields
    ------
    pathlib.Path
        Where to write.

    Raises
    ------
    OutputError
        If the block finished without creating the temporary file, ``path`` is a folder, or
        its folder cannot be created.

    Examples
    --------
    >>> with atomic_write("out/summary.csv") as tmp:  # doctest: +SKIP
    ...     table.to_csv(tmp)
    """
    final = Path(path)
    if final.is_dir():
        msg = f"cannot write {final}: it is a folder"
        raise OutputError(msg)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmpdir = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    except OSError as exc:
        msg = f"cannot write {final}: {exc}"
        raise OutputError(msg) from exc
    tmp = tmpdir / final.name
    try:
        yield tmp
        if not tmp.exists():
            msg = f"nothing was written for {final}"
            raise OutputError(msg)
        os.replace(tmp, final)
        logger.debug("wrote %s", final)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def write_text_atomically(text: str, path: str | os.PathLike[str]) -> Path:
    """Write ``text`` as UTF-8 to ``path`` through a temporary file moved into place."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
