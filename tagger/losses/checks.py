"""Argument checks shared by the losses.

Each returns the checked value or raises ``ConfigError`` saying what is valid.
"""

from __future__ import annotations

import contextlib
import difflib
import math
from collections.abc import Iterable
from typing import Any

from tagger.errors import ConfigError


def suggest(word: str, valid: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``valid``, or ``""`` when none is close."""
    close = difflib.get_close_matches(word, list(valid), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number within the stated bounds, as ``float``; else ``ConfigError`` naming the range.

    YAML 1.1 reads ``1e-3`` (no dot) as a string, so a string that parses as a number is accepted.
    """
    lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
    hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
    want = " and ".join(s for s in (lo, hi) if s)
    want = f"a number {want}" if want else "a finite number"
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value)
    if number is None or not math.isfinite(number):
        raise ConfigError(f"{name} must be {want}, got {value!r}")
    if low is not None and (number < low or (low_open and number == low)):
        raise ConfigError(f"{name} must be {want}, got {value!r}")
    if high is not None and (number > high or (high_open and number == high)):
        raise ConfigError(f"{name} must be {want}, got {value!r}")
    return number


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """One of ``choices``; else ``ConfigError`` listing them."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        hint = suggest(value, choices) if isinstance(value, str) else ""
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}{hint}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """``value`` itself if it is a bool; else ``ConfigError`` (no truthiness: ``"no"`` is not False)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    return value
