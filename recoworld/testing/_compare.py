"""Exact structural comparison of observations, infos and actions, with a message saying where
two values first differ."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

__all__ = ["first_difference", "jsonable", "short_repr", "snapshot"]

_SKIPPED = object()
"""A leaf that is not JSON-able (a model, a dataclass, a callable): left out of comparisons."""


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (numpy arrays printed briefly)."""
    if isinstance(value, np.ndarray):
        with np.printoptions(threshold=8, edgeitems=3):
            text = repr(value)
    elif isinstance(value, np.generic) and not isinstance(value, np.void):
        text = repr(value.item())
    else:
        text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def snapshot(value: Any) -> Any:
    """A copy of a (nested) observation or action that later steps cannot overwrite."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, Mapping):
        return {key: snapshot(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return type(value)(snapshot(item) for item in value)
    return value


def jsonable(value: Any, ignore: Collection[str] = (), path: str = "") -> Any:
    """The JSON-able part of ``value`` (an ``info`` dict), for comparison.

    Numbers, strings, bools and ``None`` stay; numpy scalars become Python scalars; numeric,
    bool and string arrays are copied (and compared exactly); object arrays, lists and tuples
    become lists; mappings keep their keys. Any other leaf (a model object, a callable, a
    dataclass) is replaced by a marker that equals only itself, so it is left out of the
    comparison. Dotted paths in ``ignore`` (``"usage.latency_s"``) are dropped.
    """
    if path in ignore:
        return _SKIPPED
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item() if not isinstance(value, np.void) else _SKIPPED
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biufcUS":
            return value.copy()
        return [jsonable(item, ignore, path) for item in value.tolist()]
    if isinstance(value, Mapping):
        return {
            key: jsonable(item, ignore, f"{path}.{key}" if path else str(key))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [jsonable(item, ignore, path) for item in value]
    return _SKIPPED


def _key_text(key: Any) -> str:
    return f"[{key!r}]"


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Where ``a`` and ``b`` first differ (``"['candidates']: ..."``), or None if they are equal.

    Arrays must have the same shape, dtype and values (NaN equals NaN); mappings the same keys;
    sequences the same length; scalars the same value.
    """
    where = path or "the value"
    if a is _SKIPPED or b is _SKIPPED:
        if (a is _SKIPPED) != (b is _SKIPPED):
            return f"{where}: one side is not JSON-able ({short_repr(a)} vs {short_repr(b)})"
        return None
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        if not (isinstance(a, Mapping) and isinstance(b, Mapping)):
            return f"{where}: {short_repr(a)} != {short_repr(b)}"
        if set(a) != set(b):
            only_a = sorted(map(str, set(a) - set(b)))
            only_b = sorted(map(str, set(b) - set(a)))
            return (
                f"{where}: keys differ (only in the first: {only_a}; only in the second: {only_b})"
            )
        for key in a:
            found = first_difference(a[key], b[key], path + _key_text(key))
            if found:
                return found
        return None
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        x, y = np.asarray(a), np.asarray(b)
        if x.shape != y.shape:
            return f"{where}: shapes differ ({x.shape} vs {y.shape})"
        if x.dtype != y.dtype:
            return f"{where}: dtypes differ ({x.dtype} vs {y.dtype})"
        if x.dtype.kind == "O":
            return first_difference(x.tolist(), y.tolist(), path)
        if x.dtype.kind in "fc":
            differ = ~((x == y) | (np.isnan(x) & np.isnan(y)))
        else:
            differ = x != y
        if np.any(differ):
            index = tuple(int(i) for i in np.argwhere(differ)[0])
            return f"{where}: arrays differ first at index {index} ({x[index]!r} != {y[index]!r})"
        return None
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return f"{where}: lengths differ ({len(a)} vs {len(b)})"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    if _is_number(a) and _is_number(b):
        if float(a) == float(b) or (math.isnan(float(a)) and math.isnan(float(b))):
            return None
        return f"{where}: {a!r} != {b!r}"
    try:
        equal = bool(a == b) and type(a) is type(b)
    except Exception:  # an object whose == does not give a truth value
        equal = a is b
    return None if equal else f"{where}: {short_repr(a)} != {short_repr(b)}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating | np.bool_ | bool)
