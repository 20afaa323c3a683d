"""The exception hierarchy of geoplan.

Every error geoplan raises on purpose derives from :class:`GeoplanError`, so a caller
(or the ``geoplan`` command) can catch one type and show the message to the planner.
Validation errors carry *every* problem found, not just the first one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ArgumentError",
    "CRSError",
    "DatabaseError",
    "GeoplanError",
    "InfeasibleError",
    "NetworkError",
    "OutputError",
    "Problem",
    "RuleError",
    "SchemaError",
    "StudyConfigError",
    "layer_docs",
    "pointing_to_docs",
    "require_columns",
]


class GeoplanError(Exception):
    """Base class of all errors raised by geoplan."""


class CRSError(GeoplanError):
    """A coordinate system is undeclared, unknown, or unsuitable for the operation."""


@dataclass(frozen=True)
class Problem:
    """One problem found while validating a layer or a file.

    Parameters
    ----------
    message
        What is wrong, in words a planner understands.
    row
        The row id (index label) the problem is on, or ``None`` for the whole layer.
    column
        The column the problem is in, or ``None``.
    """

    message: str
    row: object | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row!r}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class SchemaError(GeoplanError):
    """A layer or file breaks its contract; ``problems`` lists every problem found.

    Parameters
    ----------
    what
        The layer or file that was validated, e.g. ``"facilities (data/facilities.gpkg)"``.
    problems
        Every problem found, in the order found.
    docs
        The documentation pages that say what the layer should hold, e.g.
        ``("docs/layers.md#facilities",)`` (see :func:`pointing_to_docs`); shown last.
    """

    def __init__(self, what: str, problems: Sequence[Problem], *,
                 docs: Sequence[str] = ()):
        self.what = what
        self.problems = list(problems)
        self.docs = tuple(docs)
        super().__init__(what, self.problems)

    def __str__(self) -> str:
        lines = [f"{self.what}: {len(self.problems)} problem(s)"]
        shown = self.problems[:50]
        lines += [f"  - {p}" for p in shown]
        if len(self.problems) > len(shown):
            lines.append(f"  … and {len(self.problems) - len(shown)} more")
        if self.docs:
            lines.append(f"  see {' and '.join(self.docs)}")
        return "\n".join(lines)


class ArgumentError(GeoplanError, TypeError):
    """A function was called with an argument of the wrong type (a table for a network …).

    Also a :class:`TypeError`, so code that catches that keeps working; the ``geoplan``
    command reports it as a usage error (exit code 2).
    """


class StudyConfigError(GeoplanError):
    """A study configuration (TOML) file is missing, malformed or inconsistent."""


class NetworkError(GeoplanError):
    """A walking network cannot be built or used (no edges, wrong CRS, points off the network)."""


class InfeasibleError(GeoplanError):
    """A siting model has no solution; the message says which constraint cannot be met."""


class RuleError(GeoplanError):
    """A standards rule or plan-indicator file is malformed (missing unit, threshold, direction)."""


class OutputError(GeoplanError):
    """A map, chart or report cannot be produced as asked (missing basemap key, no CJK font, …)."""


class DatabaseError(GeoplanError):
    """The database cannot be reached, or refused a statement."""


def require_columns(table: Any, columns: Iterable[str], what: str, *,
                    error: type[GeoplanError] = SchemaError) -> None:
    """Raise ``error`` naming every column of ``columns`` that ``table`` lacks.

    The one check of required columns: readers and analysis raise a :class:`SchemaError`
    (a problem per missing column, with the columns the table has); map and report builders
    pass ``error=OutputError``.
    """
    missing = [c for c in columns if c not in table.columns]
    if not missing:
        return
    present = ", ".join(str(c) for c in table.columns if c != "geometry") or "none"
    problems = [Problem(f"missing column (the table has: {present})", None, c) for c in missing]
    if error is SchemaError:
        raise SchemaError(what, problems)
    raise error(str(SchemaError(what, problems)))


def layer_docs(kind: str) -> str:
    """Return the documentation page of a layer kind, e.g. ``docs/layers.md#facilities``."""
    return f"docs/layers.md#{kind}"


@contextmanager
def pointing_to_docs(*docs: str) -> Iterator[None]:
    """Let a :class:`SchemaError` raised inside point to ``docs`` (unless it points already).

    Examples
    --------
    >>> try:
    ...     with pointing_to_docs(layer_docs("facilities")):
    ...         raise SchemaError("facilities (站点.xlsx)", [Problem("missing column", None,
    ...                                                             "name")])
    ... except SchemaError as exc:
    ...     print(exc)
    facilities (站点.xlsx): 1 problem(s)
      - column 'name': missing column
      see docs/layers.md#facilities
    """
    try:
        yield
    except SchemaError as exc:
        if not exc.docs:
            exc.docs = tuple(docs)
        raise
