"""The two JSON codecs agree: the same bytes stored, or the same refusal, with msgspec or without.

``records.py`` lets msgspec (the ``msgspec`` extra) do the work only where its result is the
standard library's; everything else goes the standard library's way. Here both ways run on the
same generated values: the stored bytes, the refusal (its type and its message, which names the
key) and what each reads back must be the same. An install without the extra is the first way
alone: the tests that compare the two are skipped there.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from starlette_session import (
    SessionMiddleware,
    SessionNotSerializableError,
    SessionStore,
    load_session,
    records,
)
from starlette_session.records import Record, decode_record, encode_record
from tests.security.conftest import SECRET, Real

needs_msgspec = pytest.mark.skipif(
    records._fast_encode is None, reason="the msgspec extra is not installed: one codec only"
)
CODECS = ["msgspec", "json"]
# Python's limit on the digits of an integer written as text: 4,300 unless the process changed
# it; 0 (none) before Python 3.10.7, where both ways store any integer.
_LIMIT = getattr(sys, "get_int_max_str_digits", lambda: 0)()
needs_limit = pytest.mark.skipif(_LIMIT == 0, reason="no limit on an integer's digits")
LIMIT = _LIMIT or 4300


@contextmanager
def codec(name: str) -> Iterator[None]:
    """Run with msgspec (as installed with the extra) or the standard library alone (without)."""
    with pytest.MonkeyPatch.context() as patch:
        if name == "json":
            patch.setattr(records, "_fast_encode", None)
            patch.setattr(records, "_fast_decode", None)
        elif records._fast_encode is None:
            pytest.skip("the msgspec extra is not installed")
        yield


def encode_with(name: str, data: dict[str, Any], meta: dict[str, Any]) -> bytes | tuple[str, str]:
    """The stored bytes, or the refusal as (exception type, message)."""
    with codec(name):
        try:
            return encode_record(data, meta, None)
        except (SessionNotSerializableError, ValueError, TypeError, RecursionError) as error:
            return type(error).__name__, str(error)


def decode_with(name: str, raw: bytes) -> Record | None:
    with codec(name):
        return decode_record(raw)


def exactly(value: Any) -> Any:
    """``value`` in a form that compares types and float bits too (1 != 1.0, 0.0 != -0.0)."""
    if isinstance(value, dict):
        return ("dict", [(exactly(key), exactly(item)) for key, item in value.items()])
    if isinstance(value, list | tuple):
        return ("list", [exactly(item) for item in value])
    if isinstance(value, float):
        return ("float", value.hex())
    return (type(value).__name__, value)


# Values: everything JSON holds, what it holds only one way (1e16), and what it cannot hold.
# Half the sessions are made of values JSON holds only; the other half may also hold what gets
# a session refused (a lone surrogate, NaN, an integer too long, an integer key).


def with_surrogate(text: str, surrogate: str, at: int) -> str:
    return text[:at] + surrogate + text[at:]


def power_of_ten(digits: int) -> int:
    """The smallest integer of ``digits`` digits (kept out of reprs: over LIMIT they fail)."""
    return int(10 ** (digits - 1))


def longest(digits: int) -> int:
    """The largest integer of ``digits`` digits."""
    return int(10**digits) - 1


# Any Unicode but surrogates: non-ASCII, control characters, astral planes, JSON's escapes.
texts = st.text(max_size=10) | st.sampled_from(["é", "€", "😀", "\x00", "\u2028", '"\\/'])
SURROGATES = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
surrogate_texts = st.builds(with_surrogate, st.text(max_size=10), SURROGATES, st.integers(0, 10))
BOUNDARY_INTS = [0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1]
BOUNDARY_INTS += [2**64, -(2**64)]
integers = st.integers() | st.sampled_from(BOUNDARY_INTS)
# Around Python's limit on the digits of an integer written as text, either sign.
huge_ints = st.builds(
    lambda make, digits, sign: sign * make(digits),
    st.sampled_from([power_of_ten, longest]),
    st.integers(LIMIT - 3, LIMIT + 3) | st.sampled_from([LIMIT + 700]),
    st.sampled_from([1, -1]),
)
SPECIAL_FLOATS = [
    0.0,
    -0.0,
    1e16,
    -1e16,
    1e-7,
    1e-4,
    9.999999999999999e-05,
    9999999999999998.0,
    1e15,
    1e-5,
    5e-324,  # the smallest subnormal
    2.2250738585072009e-308,  # the largest subnormal
    2.2250738585072014e-308,
    1.7976931348623157e308,
    0.1,
    1 / 3,
    1e22,
]
floats = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(min_value=-1e-300, max_value=1e-300)  # subnormals
    | st.floats(min_value=1e-6, max_value=1e18)  # both sides of 1e-4 and 1e16
    | st.sampled_from(SPECIAL_FLOATS)
)
non_finite = st.sampled_from([math.nan, math.inf, -math.inf])


def sessions_of(
    scalars: st.SearchStrategy[Any], keys: st.SearchStrategy[Any]
) -> st.SearchStrategy[dict[str, Any]]:
    values = st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.lists(children, max_size=3).map(tuple)
            | st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=12,
    )
    return st.dictionaries(texts, values, max_size=4)


plain = st.none() | st.booleans() | integers | floats | texts
sessions = sessions_of(plain, texts) | sessions_of(
    plain | surrogate_texts | huge_ints | non_finite, texts | surrogate_texts | st.integers(0, 3)
)


@pytest.mark.slow  # a large generated input: the full run only
@needs_msgspec
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=sessions)
@example(data={"big": 10**LIMIT})
@example(data={"big": -(10 ** (LIMIT + 100)), "fine": 1})
@example(data={"a": 1e16, "b": 1e-7, "c": [1e-5, 1.5e300]})
@example(data={"a": {"nested": [5e-324, -0.0, 1e16]}})
def test_both_codecs_store_the_same_bytes_or_refuse_alike(data: dict[str, Any]) -> None:
    meta = {"c": 1_800_000_000, "v": 1}
    fast, standard = encode_with("msgspec", data, meta), encode_with("json", data, meta)
    assert fast == standard
    if isinstance(standard, tuple):
        # The one refusal: the library's own error, naming a key of the session.
        assert standard[0] == "SessionNotSerializableError"
        event("refused")
        return
    event("stored")
    read_fast, read_standard = decode_with("msgspec", standard), decode_with("json", standard)
    assert read_fast is not None
    assert read_standard is not None
    assert exactly(read_fast) == exactly(read_standard) == exactly(Record(data, meta))


# What is read: msgspec reads a record only where it reads it as the standard library does.

digits = st.text("0123456789", min_size=1, max_size=30)
number_literals = st.builds(
    lambda sign, whole, fraction, exponent: f"{sign}{whole}{fraction}{exponent}",
    st.sampled_from(["", "-"]),
    st.sampled_from(["0"])
    | digits.filter(lambda text: text[0] != "0")
    | st.sampled_from(["1" * (LIMIT - 1), "1" * LIMIT, "1" * (LIMIT + 1), "9" * 400]),
    st.sampled_from([""]) | digits.map(lambda text: "." + text),
    st.sampled_from(["", "e400", "e-400", "E16", "e+16", "e-07", "e308", "e-324", "e-330"])
    | st.integers(-400, 400).map(lambda exponent: f"e{exponent}"),
)
raw_values = (
    number_literals
    | st.sampled_from(["NaN", "Infinity", "-Infinity", '"\\ud800"', '"\\udfff\\ud800"', "[]"])
    | st.sampled_from(["\x01", "\x7f", "\u2028", "\\u0000", "é"]).map(lambda text: f'"{text}"')
)


@pytest.mark.slow  # a large generated input: the full run only
@needs_msgspec
@settings(max_examples=2000, deadline=None)
@given(value=raw_values)
def test_both_codecs_read_the_same_value_from_the_same_bytes(value: str) -> None:
    raw = ('{"m":{"c":1},"d":{"x":' + value + "}}").encode("utf-8", "surrogatepass")
    read_fast, read_standard = decode_with("msgspec", raw), decode_with("json", raw)
    assert exactly(read_fast) == exactly(read_standard)


@pytest.mark.parametrize(
    ("value", "stored"),
    [(1e16, b"1e+16"), (1e-7, b"1e-07"), (1e-5, b"1e-05"), (1.5e300, b"1.5e+300")],
)
@pytest.mark.parametrize("name", CODECS)
def test_a_float_with_an_exponent_is_stored_as_python_writes_it(
    name: str, value: float, stored: bytes
) -> None:
    assert encode_with(name, {"x": value}, {}) == b'{"m":{},"d":{"x":' + stored + b"}}"


@needs_limit
@pytest.mark.parametrize("name", CODECS)
def test_an_integer_too_long_to_write_is_refused_naming_its_key(name: str) -> None:
    refusal = encode_with(name, {"fine": 1, "big": 10**LIMIT}, {})
    assert isinstance(refusal, tuple)
    assert refusal[0] == "SessionNotSerializableError"
    assert "'big'" in refusal[1]


# Over HTTP: the documented answer to a value that cannot be stored, on every backend.


async def _store_kept(request: Request) -> Response:
    (await load_session(request))["kept"] = 1
    return JSONResponse({"ok": True})


async def _store_big(request: Request) -> Response:
    session = await load_session(request)
    session["kept"] = 2
    session["big"] = 10**LIMIT  # an integer over Python's 4,300-digit limit
    return JSONResponse({"ok": True})


@needs_limit
@pytest.mark.parametrize("name", CODECS)
async def test_an_endpoint_storing_an_integer_too_long_gets_the_named_refusal(
    real: Real, name: str
) -> None:
    """The app answers 500 with ``SessionNotSerializableError`` naming the key in the server's
    log (the documented answer: "values JSON cannot hold raise at save"), with either codec, and
    nothing is written; never a bare ``ValueError``."""
    app = Starlette(
        routes=[
            Route("/write", _store_kept, methods=["POST"]),
            Route("/big", _store_big, methods=["POST"]),
        ],
        middleware=[
            Middleware(SessionMiddleware, secret_key=SECRET, store=SessionStore(real.counting))
        ],
    )
    with codec(name):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            first = await client.post("/write")
            assert first.status_code == 200
            before = sorted([(key, await real.raw(key)) for key in await real.keys()])
            with pytest.raises(SessionNotSerializableError, match="under 'big' cannot be stored"):
                await client.post("/big")
        quiet = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=quiet, base_url="https://testserver") as client:
            client.cookies = first.cookies
            answer = await client.post("/big")
        assert answer.status_code == 500
        assert "set-cookie" not in answer.headers
    assert sorted([(key, await real.raw(key)) for key in await real.keys()]) == before
