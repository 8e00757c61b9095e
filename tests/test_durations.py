"""Durations: int, float and timedelta become whole seconds; anything else is refused by name."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from starlette_session.durations import MAX_SECONDS, Duration, seconds

THIRTY_DAYS = 30 * 24 * 60 * 60


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1),
        (THIRTY_DAYS, THIRTY_DAYS),
        (float(THIRTY_DAYS), THIRTY_DAYS),  # issue 10 item 11: set_lifetime(2592000.0)
        (timedelta(days=30).total_seconds(), THIRTY_DAYS),
        (timedelta(days=30), THIRTY_DAYS),
        (timedelta(minutes=30), 1800),
        (1.5, 2),  # rounded up: never shorter than asked
        (0.001, 1),  # a positive duration never becomes zero
        (timedelta(milliseconds=1500), 2),
        (timedelta(microseconds=1), 1),
        (timedelta(minutes=30, microseconds=1), 1801),
        (3600.0000000000005, 3600),  # float noise does not add a second
        (timedelta(hours=1).total_seconds() * 1.1, 3960),  # 3960.0000000000005
        (3599.9999999999995, 3600),
        (MAX_SECONDS, MAX_SECONDS),
    ],
)
def test_durations_become_whole_seconds(value: Any, expected: int) -> None:
    result = seconds(value, name="max_age")
    assert result == expected
    assert type(result) is int


class Index:
    """An integer type that is not an int (as numpy.int64 is)."""

    def __index__(self) -> int:
        return 60


def test_any_integer_with_index_is_accepted() -> None:
    assert seconds(Index(), name="idle_timeout") == 60  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (True, TypeError, "max_age must be a number of seconds or a datetime.timedelta, not a "
         "bool"),
        (False, TypeError, "not a bool"),
        ("3600", TypeError, "max_age must be a number of seconds (int or float) or a "
         "datetime.timedelta, not str"),
        (b"3600", TypeError, "not bytes"),
        (Decimal("10"), TypeError, "not Decimal"),
        ([60], TypeError, "not list"),
        (None, TypeError, "max_age must be a number of seconds or a datetime.timedelta, not None"),
        (math.nan, ValueError, "max_age must be a finite number of seconds, got nan"),
        (math.inf, ValueError, "finite"),
        (-math.inf, ValueError, "finite"),
        (-1, ValueError, "max_age must not be negative, got -1"),
        (-0.5, ValueError, "must not be negative"),
        (timedelta(seconds=-1), ValueError, "must not be negative"),
        (0, ValueError, "max_age must be at least one second, got 0"),
        (0.0, ValueError, "at least one second"),
        (timedelta(0), ValueError, "at least one second"),
        (MAX_SECONDS + 1, ValueError, "max_age must be at most 2147483647 seconds"),
        (1e300, ValueError, "at most"),
        (timedelta.max, ValueError, "at most"),
    ],
)  # fmt: skip
def test_invalid_durations_are_refused_naming_the_argument(
    value: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        seconds(value, name="max_age")
    assert message in str(caught.value)


def test_none_is_kept_only_when_allowed() -> None:
    assert seconds(None, name="max_age", allow_none=True) is None
    assert seconds(60, name="max_age", allow_none=True) == 60


def test_zero_only_when_allowed() -> None:
    assert seconds(0, name="max_age", allow_zero=True) == 0
    assert seconds(timedelta(0), name="max_age", allow_zero=True) == 0
    with pytest.raises(ValueError, match="must not be negative"):
        seconds(-1, name="max_age", allow_zero=True)


@pytest.mark.parametrize("value", [-1, -1.0, -3600, timedelta(days=-1), 0])
def test_negative_as_zero_reads_a_negative_max_age_as_expire_at_once(value: Any) -> None:
    # Starlette accepts max_age=-1; as a cookie Max-Age (RFC 6265 5.2.2) it means "expire now".
    assert seconds(value, name="max_age", negative_as_zero=True) == 0


def test_negative_as_zero_still_refuses_nan_and_wrong_types() -> None:
    with pytest.raises(ValueError, match="finite"):
        seconds(-math.inf, name="max_age", negative_as_zero=True)
    with pytest.raises(TypeError, match="bool"):
        seconds(True, name="max_age", negative_as_zero=True)


def test_the_name_given_is_the_name_in_the_message() -> None:
    with pytest.raises(ValueError, match=r"^SessionStore\(idle_timeout=\.\.\.\) must not be"):
        seconds(-5, name="SessionStore(idle_timeout=...)")


@given(st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=24_000)))
def test_a_timedelta_is_its_microseconds_rounded_up(value: timedelta) -> None:
    microseconds = value // timedelta(microseconds=1)
    assert seconds(value, name="ttl") == -(-microseconds // 1_000_000)


@given(st.integers(min_value=1, max_value=MAX_SECONDS))
def test_whole_seconds_survive_every_spelling(value: int) -> None:
    spellings: list[Duration] = [value, float(value), timedelta(seconds=value)]
    spellings.append(timedelta(seconds=value).total_seconds())
    assert {seconds(spelling, name="ttl") for spelling in spellings} == {value}


@given(st.floats(min_value=0.001, max_value=MAX_SECONDS - 1, allow_nan=False))
def test_a_float_is_never_shortened_by_more_than_float_noise(value: float) -> None:
    result = seconds(value, name="ttl")
    assert result >= value - 1e-6
    assert result < value + 1
