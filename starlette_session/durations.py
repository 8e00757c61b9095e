"""Every duration argument (``max_age``, ``idle_timeout``, ``set_lifetime()``...) as whole
seconds, checked where it is given: a wrong value fails at start-up, naming the argument."""

from __future__ import annotations

import math
import operator
from datetime import timedelta
from typing import overload

__all__ = ["MAX_SECONDS", "Duration", "seconds"]

Duration = int | float | timedelta
#: The longest duration accepted, about 68 years (memcached counts in 32 bits).
MAX_SECONDS = 2**31 - 1
_ONE_MICROSECOND = timedelta(microseconds=1)
_FLOAT_NOISE = 1e-6  # a float this close to a whole number of seconds is that number


@overload
def seconds(
    value: Duration,
    *,
    name: str,
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
    """``value`` (an ``int``, a finite ``float`` or a ``timedelta``) in whole seconds, rounded up
    (a float within a microsecond of a whole number is that number); else ``TypeError`` or
    ``ValueError`` naming ``name``. Refused: ``bool``, NaN, infinities, negative values, zero
    unless ``allow_zero``, more than :data:`MAX_SECONDS`, ``None`` unless ``allow_none``.
    ``negative_as_zero``: a negative value is 0 (Starlette's ``max_age=-1``, RFC 6265 5.2.2).
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
    if isinstance(value, bool):  # an int subclass: True would silently mean one second
        raise TypeError(f"{name} must be a number of seconds or a datetime.timedelta, not a bool")
    if isinstance(value, timedelta):
        microseconds: int = value // _ONE_MICROSECOND
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
        raise TypeError(
            f"{name} must be a number of seconds (int or float) or a datetime.timedelta, "
            f"not {type(value).__name__}"
        ) from None
    return whole, whole < 0
