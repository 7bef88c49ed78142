"""One set of argument checks for the whole library, with one message per kind of mistake.

Every public constructor and config checks its fields with these, so a bad value is refused the
same way everywhere: a ``ValueError`` that names the field, repeats the value and says what is
allowed. Numpy scalars count as the numbers they hold; ``bool`` never counts as a number (``True``
is not a count of 1 by mistake).

>>> check_int("slate_size", 10, low=1)
10
>>> check_int("slate_size", 0, low=1)
Traceback (most recent call last):
...
ValueError: slate_size=0 must be an integer >= 1
>>> check_choice("on_error", "retry", ON_ERROR)
Traceback (most recent call last):
...
ValueError: on_error='retry' must be one of ('raise', 'fallback')
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "MAX_COUNT",
    "ON_ERROR",
    "check_bool",
    "check_choice",
    "check_int",
    "check_number",
    "check_optional_bool",
    "check_probability",
    "check_seed",
    "config_from_arguments",
]

MAX_COUNT = 2**31 - 1
"""The largest count a config takes (items, users, slots, turns, envs): the int32 range the
engines index with."""

ON_ERROR: tuple[str, ...] = ("raise", "fallback")
"""What a component does when a language-model call fails: ``"raise"`` the error, or
``"fallback"`` to its documented non-LLM behaviour (counted as a failed call)."""

_Choice = TypeVar("_Choice")


def _range_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"in [{low}, {high}]"
    if low is not None:
        return f">= {low}"
    if high is not None:
        return f"<= {high}"
    return ""


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` if it is an integer (Python or numpy, not a bool) within
    ``[low, high]``; else ``ValueError`` naming ``name``."""
    if (
        isinstance(value, bool | np.bool_)
        or not isinstance(value, int | np.integer)
        or (low is not None and value < low)
        or (high is not None and value > high)
    ):
        bounds = _range_text(low, high)
        raise ValueError(f"{name}={value!r} must be an integer{' ' + bounds if bounds else ''}")
    return int(value)


def check_number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
) -> float:
    """``value`` as a ``float`` if it is a finite number (not a bool) within ``[low, high]``
    (``(low, high]`` with ``low_open``); else ``ValueError`` naming ``name``."""
    ok = (
        not isinstance(value, bool | np.bool_)
        and isinstance(value, int | float | np.integer | np.floating)
        and math.isfinite(value)
    )
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        if low_open and low is not None:
            bounds = f"> {low}" if high is None else f"in ({low}, {high}]"
        else:
            bounds = _range_text(low, high)
        raise ValueError(
            f"{name}={value!r} must be a finite number{' ' + bounds if bounds else ''}"
        )
    return float(value)


def check_probability(name: str, value: Any) -> float:
    """A number in ``[0, 1]``."""
    return check_number(name, value, 0.0, 1.0)


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (a numpy bool counts); else ``ValueError``."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name}={value!r} must be True or False")
    return bool(value)


def check_optional_bool(name: str, value: Any) -> bool | None:
    """``None``, ``True`` or ``False``; else ``ValueError``."""
    if value is None:
        return None
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name}={value!r} must be True, False or None")
    return bool(value)


def check_choice(name: str, value: _Choice, choices: Sequence[_Choice]) -> _Choice:
    """``value`` if it is one of ``choices``; else ``ValueError`` listing them."""
    try:
        allowed = value in choices
    except TypeError:  # an unhashable value against a set-like
        allowed = False
    if not allowed:
        raise ValueError(f"{name}={value!r} must be one of {tuple(choices)}")
    return value


def check_seed(name: str, value: Any) -> int:
    """A seed: a non-negative integer."""
    return check_int(name, value, low=0)


_Config = TypeVar("_Config")


def config_from_arguments(
    config_class: type[_Config],
    config: Any,
    settings: Mapping[str, Any],
    *,
    owner: str,
    other_arguments: Sequence[str] = (),
    moved: Mapping[str, str] | None = None,
) -> _Config:
    """The config of a constructor that takes ``config=`` or the config's field names as
    keywords (``settings``): the one rule every env follows.

    ``owner`` names the constructor in messages (``"RecoWorld-v0"``); ``other_arguments`` are
    its other keyword names (listed among the valid ones); ``moved`` maps a former argument name
    to where its setting went.

    Raises:
        ValueError: a keyword is neither a field nor another argument (named, with a "did you
            mean" or "now ..." hint and the valid names), ``config`` is not a
            ``config_class``, or ``config`` and keywords were both given (a config holds every
            setting: change one with ``dataclasses.replace``).

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Sizes:
    ...     slate_size: int = 10
    >>> config_from_arguments(Sizes, None, {"slate_size": 5}, owner="MyEnv-v0")
    Sizes(slate_size=5)
    >>> config_from_arguments(Sizes, None, {"slate_szie": 5}, owner="MyEnv-v0")
    Traceback (most recent call last):
    ...
    ValueError: unknown MyEnv-v0 argument 'slate_szie' (did you mean 'slate_size'?); valid \
arguments: config, slate_size
    """
    fields = [field.name for field in dataclasses.fields(config_class)]  # type: ignore[arg-type]
    valid = sorted({*fields, "config", *other_arguments})
    for key in settings:
        if key not in fields:
            if moved and key in moved:
                hint = f" (now {moved[key]})"
            else:
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"unknown {owner} argument {key!r}{hint}; valid arguments: {', '.join(valid)}"
            )
    if config is None:
        return config_class(**settings)
    if not isinstance(config, config_class):
        raise ValueError(f"config={config!r} must be a {config_class.__name__} or None")
    if settings:
        given = ", ".join(f"{key}={value!r}" for key, value in settings.items())
        raise ValueError(
            f"{given} given both as keyword(s) and in config=: a config holds every setting, so "
            f"set each in one place, e.g. config=dataclasses.replace(config, {given})"
        )
    return config
