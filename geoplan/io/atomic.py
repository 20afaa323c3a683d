"""Atomic writes: every output goes to a temporary file and is moved into place whole.

A failed write leaves an existing file untouched and no partial file behind; a whole run
writes into a staging folder that replaces the output folder only when every step succeeded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyogrio.errors

from geoplan.errors import OutputError

logger = logging.getLogger(__name__)

#: What a write can fail with that is not a bug: the OS (disk full, read-only, permissions)
#: and GDAL (through pyogrio) refusing to create or fill a file.
WRITE_ERRORS = (OSError, pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
                pyogrio.errors.FieldError, pyogrio.errors.GeometryError)

__all__ = ["MANIFEST", "atomic_write", "staged_folder", "write_manifest", "write_text_atomically"]


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
    >>> import tempfile
    >>> from pathlib import Path
    >>> out = Path(tempfile.mkdtemp()) / "summary.csv"
    >>> with atomic_write(out) as tmp:
    ...     _ = tmp.write_text("350203001,67951", encoding="utf-8")
    ...     out.exists()  # nothing at the final path until the block ends
    False
    >>> out.read_text(encoding="utf-8")
    '350203001,67951'
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
    except WRITE_ERRORS as exc:  # a full disk, a read-only folder, GDAL refusing to write
        msg = f"cannot write {final.name}: {write_error_cause(exc, final.parent)}"
        raise OutputError(msg) from exc
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


#: Free space below which a write that failed for a reason its library did not name
#: (GDAL's "Failed to commit transaction") is reported as a full disk.
FULL_DISK_BYTES = 1 << 20


def write_error_cause(exc: BaseException, folder: str | os.PathLike[str] | None = None) -> str:
    """Say why a write failed, in a planner's words (GDAL's message, or the OS's).

    Parameters
    ----------
    exc
        The error the write raised.
    folder
        Where it wrote: when the message names no cause and less than
        :data:`FULL_DISK_BYTES` are free there, the cause is a full disk.
    """
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    for words, cause in (("disk is full", "No space left on device"),
                         ("No space left", "No space left on device"),
                         ("read-only", "Read-only file system"),
                         ("readonly", "Read-only file system")):
        if words.lower() in text.lower():
            return f"{cause} ({text})"
    if folder is not None:
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            return text
        if free < FULL_DISK_BYTES:
            return f"No space left on device (磁盘已满，剩余 {free // 1024} KB; {text})"
    return text


def write_text_atomically(text: str, path: str | os.PathLike[str]) -> Path:
    """Write ``text`` as UTF-8 to ``path`` through a temporary file moved into place."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


#: The manifest a run writes into its output folder: files, sizes, hashes, version, study.
MANIFEST = "geoplan-manifest.json"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale(final: Path) -> None:
    """Remove staging folders of dead runs; put back a folder a dead run had moved aside."""
    for path in final.parent.glob(f".{final.name}.*-geoplan-*"):
        pid = path.name.rsplit("-", 2)[-2]
        if not pid.isdigit() or _pid_alive(int(pid)):
            continue
        if ".previous-" in path.name and not final.exists():
            os.replace(path, final)  # a run died between its two renames: restore
            logger.warning("restored %s from %s", final, path.name)
        else:
            shutil.rmtree(path, ignore_errors=True)
            logger.info("removed the stale staging folder %s", path)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(folder: Path, metadata: dict[str, object]) -> Path:
    """Write :data:`MANIFEST`: every file under ``folder`` with its size and SHA-256."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    manifest = {**metadata, "files": [
        {"path": p.relative_to(folder).as_posix(), "bytes": p.stat().st_size,
         "sha256": _file_digest(p)} for p in files]}
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def _previous_outputs(final: Path) -> set[str] | None:
    try:
        manifest = json.loads((final / MANIFEST).read_text(encoding="utf-8"))
        return {f["path"] for f in manifest["files"]} | {MANIFEST}
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextmanager
def staged_folder(final: str | os.PathLike[str], metadata: dict[str, object]) -> Iterator[Path]:
    """Give a staging folder for a whole set of outputs; swap it in only if the block succeeds.

    The staging folder lies beside ``final`` (same file system). On success a manifest
    (:data:`MANIFEST`: every file with size and SHA-256, plus ``metadata``) is written into
    it, the files in ``final`` that the previous run did not write (a planner's own notes) are
    carried over, and the folders are swapped by two renames, so ``final`` holds either the
    previous run's outputs or this run's, never a mix. On failure ``final`` is left as it was
    and the staging folder stays for inspection (its path is in the raised error's notes);
    the next run removes it.

    Parameters
    ----------
    final
        The output folder.
    metadata
        Recorded in the manifest (e.g. geoplan version, study hash).

    Yields
    ------
    pathlib.Path
        The staging folder to write into.

    Raises
    ------
    OutputError
        If ``final`` is a file, or the staging folder cannot be made or swapped in.
    """
    final = Path(final)
    if final.exists() and not final.is_dir():
        msg = f"cannot write the outputs to {final}: it is a file, not a folder"
        raise OutputError(msg)
    token = f"{os.getpid()}-{os.urandom(3).hex()}"
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        _clean_stale(final)
        staging = final.parent / f".{final.name}.staging-geoplan-{token}"
        staging.mkdir()
    except OSError as exc:
        msg = f"cannot write the outputs to {final}: {exc.strerror or exc}"
        raise OutputError(msg) from exc
    try:
        yield staging
        write_manifest(staging, metadata)
    except BaseException as exc:
        exc.add_note(f"partial outputs of this run are in {staging} (removed by the next run); "
                     f"{final} is unchanged")
        raise
    try:
        if final.exists():
            ours = _previous_outputs(final) or set()
            for path in sorted(final.iterdir()):
                if path.name not in {p.split("/")[0] for p in ours} and not (
                        staging / path.name).exists():
                    os.replace(path, staging / path.name)  # the planner's own files stay
            aside = final.parent / f".{final.name}.previous-geoplan-{token}"
            os.replace(final, aside)
            os.replace(staging, final)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(staging, final)
    except OSError as exc:
        msg = (f"cannot move the outputs into {final}: {exc.strerror or exc}; this run's "
               f"outputs are complete in {staging}")
        raise OutputError(msg) from exc
    logger.info("outputs swapped into %s", final)
