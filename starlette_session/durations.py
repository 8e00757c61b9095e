"""Durations in the API: whole seconds from an ``int``, a ``float`` or a ``datetime.timedelta``.

Every duration argument (``max_age``, ``idle_timeout``, ``absolute_timeout``,
``session.set_lifetime()``...) goes through :func:`seconds` where it is given, so a wrong value
fails at start-up with a message naming the argument, never at the first request, and what is
stored and sent is always a whole number of seconds (``Max-Age=2592000``, never ``2592000.0``).

Rounding: a duration is rounded **up** to whole seconds, so it is never shorter than asked and a
positive duration never becomes zero (``1.5`` and ``timedelta(milliseconds=1500)`` give ``2``,
``timedelta(milliseconds=1)`` gives ``1``). A float within a microsecond of a whole number is
that number, so floating-point noise does not add a second (``3600.0000000000005`` gives
``3600``); a ``timedelta`` is exact to the microsecond and needs no such allowance.
"""

from __future__ import annotations

import math
import operator
from datetime import timedelta
from typing import Literal, overload

__all__ = ["MAX_SECONDS", "Duration", "seconds"]

Duration = int | float | timedelta
#: The longest duration accepted, about 68 years: more than any backend's expiry or any
#: browser's cookie holds (memcached counts in 32 bits; browsers cap Max-Age at 400 days).
MAX_SECONDS = 2**31 - 1
_ONE_MICROSECOND = timedelta(microseconds=1)
#: A float this close to a whole number of seconds is taken as that number.
_FLOAT_NOISE = 1e-6


@overload
def seconds(
    value: Duration,
    *,
    name: str,
    allow_none: Literal[False] = ...,
    allow_zero: bool = ...,
    negative_as_zero: bool = ...,
) -> int: ...


@overload
def seconds(
    value: Duration | None,
    *,
    name: str,
    allow_none: bool,
    allow_zero: bool = ...,
    negative_as_zero: bool = ...,
) -> int | None: ...


def seconds(
    value: Duration | None,
    *,
    name: str,
    allow_none: bool = False,
    allow_zero: bool = False,
    negative_as_zero: bool = False,
) -> int | None:
    """``value`` as a whole number of seconds, rounded up; refused with a message naming ``name``.

    Accepts an ``int`` (or any integer with ``__index__``), a finite ``float`` (what
    ``timedelta.total_seconds()`` returns) or a ``datetime.timedelta``. Refuses ``bool``,
    strings and everything else (``TypeError``), NaN, infinities, negative values, zero unless
    ``allow_zero``, and more than :data:`MAX_SECONDS` (``ValueError``). ``None`` is returned
    as is when ``allow_none``, else refused. ``negative_as_zero`` turns a negative duration into
    0 instead of refusing it: Starlette's ``max_age=-1``, which like any cookie ``Max-Age`` of
    zero or less (RFC 6265, 5.2.2) means "expire at once"; it implies ``allow_zero``.
    """
    if value is None:
        if allow_none:
            return None
        raise TypeError(f"{name} must be a number of seconds or a datetime.timedelta, not None")
    whole, negative = _whole_seconds(value, name)
    if negative:
        if not negative_as_zero:
            raise ValueError(f"{name} must not be negative, got {value!r}")
        whole = 0
    if whole == 0 and not (allow_zero or negative_as_zero):
        raise ValueError(f"{name} must be at least one second, got {value!r}")
    if whole > MAX_SECONDS:
        raise ValueError(f"{name} must be at most {MAX_SECONDS} seconds (68 years), got {value!r}")
    return whole


def _whole_seconds(value: object, name: str) -> tuple[int, bool]:
    """``value`` rounded up to whole seconds, and whether it was negative."""
    # bool is an int subclass: True would silently mean one second.
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds or a datetime.timedelta, not a bool")
    if isinstance(value, timedelta):
        microseconds: int = value // _ONE_MICROSECOND  # exact: a timedelta counts microseconds
        return -(-microseconds // 1_000_000), microseconds < 0
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
        nearest = round(value)
        whole = nearest if abs(value - nearest) <= _FLOAT_NOISE else math.ceil(value)
        return whole, value < 0
    try:
        whole = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        pass
    else:
        return whole, whole < 0
    raise TypeError(
        f"{name} must be a number of seconds (int or float) or a datetime.timedelta, "
        f"not {type(value).__name__}"
    )
