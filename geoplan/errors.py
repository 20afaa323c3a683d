"""The exception hierarchy of geoplan.

Every error geoplan raises on purpose derives from :class:`GeoplanError`, so a caller
(or the ``geoplan`` command) can catch one type and show the message to the planner.
Validation errors carry *every* problem found, not just the first one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
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
    """

    def __init__(self, what: str, problems: Sequence[Problem]):
        self.what = what
        self.problems = list(problems)
        lines = [f"{what}: {len(self.problems)} problem(s)"]
        shown = self.problems[:50]
        lines += [f"  - {p}" for p in shown]
        if len(self.problems) > len(shown):
            lines.append(f"  … and {len(self.problems) - len(shown)} more")
        super().__init__("\n".join(lines))


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
