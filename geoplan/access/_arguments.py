"""Checks of the arguments the access functions are called with.

A wrong type (a table where a network belongs, ``"15分钟"`` for a tier) is an
:class:`~geoplan.errors.ArgumentError` naming the function, the argument and what it takes,
raised before any work, instead of a ``TypeError`` or ``AttributeError`` from deep inside
NumPy or pandas. Values of the right type that are out of range (a negative tier) stay
:class:`~geoplan.errors.SchemaError`, as the layer checks report them.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from geoplan.errors import ArgumentError
from geoplan.network import WalkNetwork


def _shown(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def one_or_more_numbers(value: object, function: str, name: str, unit: str
                        ) -> tuple[tuple[float, ...], bool]:
    """Read a number or a list of numbers; return them and whether one number was given.

    Parameters
    ----------
    value
        A number (``15``), or a list, tuple, NumPy array or pandas Series of numbers
        (``[5, 10, 15]``).
    function, name
        The function and argument, for the message.
    unit
        What the numbers are (``"minutes"``, ``"metres"``), for the message.

    Raises
    ------
    ArgumentError
        If ``value`` is text, ``None``, a bool, a mapping or a list holding anything but
        numbers. An empty list is returned as it is: the caller's range check reports it.
    """
    example = "15 or [5, 10, 15]" if unit == "minutes" else "900 or [300, 500, 900]"
    what = (f"{function}: {name} must be a number of {unit} or a list of them (e.g. {example}),"
            f" not {_shown(value)}")
    if _is_number(value):
        return (float(value),), True
    if isinstance(value, np.ndarray | pd.Series | pd.Index) and value.ndim <= 1:
        items = list(np.asarray(value).ravel())
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items = list(value)
    else:
        raise ArgumentError(what)
    if not all(_is_number(v) for v in items):  # an empty list is a value error, not a type one
        raise ArgumentError(what)
    return tuple(float(v) for v in items), False


def one_number(value: object, function: str, name: str, unit: str) -> float:
    """Read one number (``None`` is not one); raise :class:`ArgumentError` otherwise."""
    if not _is_number(value):
        msg = f"{function}: {name} must be a number of {unit}, not {_shown(value)}"
        raise ArgumentError(msg)
    return float(value)


def optional_number(value: object, function: str, name: str, unit: str) -> float | None:
    """Read ``None`` or one number."""
    return None if value is None else one_number(value, function, name, unit)


def require_network(network: object, function: str) -> None:
    """Raise :class:`ArgumentError` unless ``network`` is a :class:`WalkNetwork`."""
    if not isinstance(network, WalkNetwork):
        msg = (f"{function}: network must be a WalkNetwork (study.network(), "
               f"geoplan.network.walk_network_from_file …), not {_shown(network)}")
        raise ArgumentError(msg)


def require_layer(layer: object, function: str, name: str) -> None:
    """Raise :class:`ArgumentError` unless ``layer`` is a GeoDataFrame."""
    if not isinstance(layer, gpd.GeoDataFrame):
        hint = (" (a table without geometry: read it with geoplan.io, which gives a "
                "GeoDataFrame)" if isinstance(layer, pd.DataFrame) else "")
        msg = f"{function}: {name} must be a GeoDataFrame, not {_shown(layer)}{hint}"
        raise ArgumentError(msg)


def require_table(table: object, function: str, name: str) -> None:
    """Raise :class:`ArgumentError` unless ``table`` is a DataFrame."""
    if not isinstance(table, pd.DataFrame):
        msg = f"{function}: {name} must be a DataFrame, not {_shown(table)}"
        raise ArgumentError(msg)


def optional_names(value: object, function: str, name: str) -> None:
    """Raise :class:`ArgumentError` unless ``value`` is ``None``, a name or a list of names."""
    if value is None or isinstance(value, str):
        return
    if isinstance(value, Sequence | np.ndarray | pd.Index | pd.Series) and all(
            isinstance(v, str | numbers.Integral) for v in value):
        return
    msg = (f"{function}: {name} must be a name or a list of names (e.g. \"elderly_station\" "
           f"or [\"elderly_station\", \"senior_canteen\"]), not {_shown(value)}")
    raise ArgumentError(msg)
