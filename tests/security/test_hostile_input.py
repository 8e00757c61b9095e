"""Requirement 22: hostile Cookie headers get an anonymous session, with no backend call, no
exception and bounded work; and a property-based test over 10,000 generated Cookie headers.

The work is counted, not timed: the lines of the library's own code that run for the request
(``sys.settrace``), which must stay within a fixed base plus a few per cookie pair in the
header. A parse that is quadratic in anything (the header's length, its pairs, backslashes)
runs hundreds of thousands of lines on these inputs. What runs in C underneath is linear:
``bytes.split``/``partition``/``strip``, and one regular expression without backtracking
(``[A-Za-z0-9_\\-.]+``), on at most 4,096 characters.

FastAPI parses every request's cookies itself (``request.cookies``), quadratically in
backslashes before Python 3.12.6, 3.11.10, 3.10.15 and 3.9.20 (CVE-2024-7592); that is the
framework's work, not counted here (SECURITY.md says what to do about it).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.requests import Request

import starlette_session
from starlette_session import SessionHandle, SessionMiddleware, SessionStore
from starlette_session.backends import MemoryBackend
from tests.security.conftest import SECRET, Client, CountingBackend, Real, asgi_request, build_app

#: Lines of the library's own code a request may run, whatever its cookie: a whole read of a
#: stored session runs about 290, a refused cookie about 160...
BASE_LINES = 600
#: ...plus this many per cookie pair in the Cookie headers (reading one runs 3).
LINES_PER_PAIR = 4
_PACKAGE = str(Path(starlette_session.__file__).parent)

Headers = list[tuple[bytes, bytes]]


def _hostile(valid: bytes) -> dict[str, Headers]:
    """The hostile inputs of the requirement; ``valid`` is a genuine cookie value to mangle."""

    def cookie(value: bytes) -> Headers:
        return [(b"cookie", value)]

    backslashes = b"\\" * 8192
    return {
        "value-over-4kib": cookie(b"session=" + b"A" * 5000),
        "valid-value-padded-over-4kib": cookie(b"session=" + valid + b"." + b"A" * 4100),
        "valid-value-with-4kib-suffix": cookie(b"session=" + valid + b"A" * 4096),
        "cr": cookie(b"session=" + valid[:20] + b"\r" + valid[20:]),
        "lf": cookie(b"session=" + valid[:20] + b"\n" + valid[20:]),
        "nul": cookie(b"session=" + valid[:20] + b"\x00" + valid[20:]),
        "crlf-header-injection": cookie(b"session=" + valid + b"\r\nSet-Cookie: evil=1"),
        "trailing-nul": cookie(b"session=" + valid + b"\x00"),
        "non-utf8": cookie(b"session=\xff\xfe\xfd\xfc\x80"),
        "non-utf8-inside-valid": cookie(b"session=" + valid[:10] + b"\xc3\x28" + valid[10:]),
        "latin1-lookalike": cookie(b"session=" + valid.replace(b"A", b"\xc0", 1) + b"\xc0"),
        "invalid-base64": cookie(b"session=!!!notbase64***.zz.@@@"),
        "base64-padding-only": cookie(b"session=====.====.===A"),
        "empty": cookie(b"session="),
        "empty-quoted": cookie(b'session=""'),
        "name-only": cookie(b"session"),
        "lone-quote": cookie(b'session="'),
        "only-separators": cookie(b";;;;; ; ;=;=="),
        "thousand-cookies": cookie(
            b"; ".join(b"c%d=v%d" % (i, i) for i in range(1000)) + b"; session=garbage.x.A"
        ),
        "thousand-session-cookies": cookie(b"; ".join(b"session=x%d" % i for i in range(1000))),
        "thousand-cookie-headers": [(b"cookie", b"c%d=v" % i) for i in range(1000)],
        "16kib-cookie-header": cookie(b"session=" + b"a" * (16 * 1024)),
        "16kib-of-cookies": cookie(b"; ".join([b"k=" + b"v" * 60] * 256) + b"; session=x.y.A"),
        "16kib-quoted-backslashes": cookie(b'session="' + b"\\" * (16 * 1024) + b'"'),
        "quoted-8kb-backslashes": cookie(b'session="' + backslashes + b'"'),
        "quoted-8kb-backslashes-in-another-cookie": cookie(
            b'other="' + backslashes + b'"; session=garbage.x.A'
        ),
        "quoted-8kb-escaped-octals": cookie(b'session="' + b"\\012" * 2048 + b'"'),
    }


def _starlette_app(store: SessionStore[Any]) -> SessionMiddleware:
    return build_app(store)


def _fastapi_app(store: SessionStore[Any]) -> SessionMiddleware:
    app = FastAPI()

    @app.get("/read")
    async def read(session: SessionHandle) -> dict[str, Any]:
        return {
            "data": dict(session),
            "new": session.is_new,
            "user": session.user_id,
            "created": session.created_at,
        }

    @app.post("/write")
    async def write(session: SessionHandle, request: Request) -> dict[str, Any]:
        session.update(await request.json())
        return {"data": dict(session)}

    return SessionMiddleware(app, secret_key=SECRET, store=store)


APPS = {"starlette": _starlette_app, "fastapi": _fastapi_app}


def _pairs(headers: Headers) -> int:
    return sum(value.count(b";") + 1 for name, value in headers if name == b"cookie")


@contextmanager
def _library_lines() -> Iterator[list[int]]:
    """Count the lines of ``starlette_session`` that run in this thread inside the block."""
    count = [0]

    def local(frame: FrameType, event: str, arg: object) -> Any:
        if event == "line":
            count[0] += 1
        return local

    def calls(frame: FrameType, event: str, arg: object) -> Any:
        return local if frame.f_code.co_filename.startswith(_PACKAGE) else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        yield count
    finally:
        sys.settrace(previous)


@pytest.mark.parametrize("kind", APPS)
@pytest.mark.parametrize("case", list(_hostile(b"x" * 100)))
async def test_hostile_cookie_gets_an_anonymous_session_with_bounded_work_and_no_backend_call(
    real: Real, kind: str, case: str
) -> None:
    app = APPS[kind](SessionStore(real.counting))
    owner = Client(app)
    await owner.post("/write", {"secret": "data"})
    assert owner.cookie is not None
    headers = _hostile(owner.cookie.encode())[case]
    await real.reset_counts()

    with _library_lines() as lines:
        reply = await asgi_request(app, headers=headers)

    assert reply.status == 200, reply.body
    assert reply.json()["data"] == {}
    assert reply.header_list("set-cookie") == []
    assert lines[0] <= BASE_LINES + LINES_PER_PAIR * _pairs(headers), f"{case}: {lines[0]} lines"
    await real.assert_untouched()


@pytest.mark.parametrize("kind", APPS)
async def test_a_hostile_cookie_beside_the_session_cookie_does_not_hide_it(
    real: Real, kind: str
) -> None:
    app = APPS[kind](SessionStore(real.counting))
    owner = Client(app)
    await owner.post("/write", {"secret": "data"})
    assert owner.cookie is not None
    valid = owner.cookie.encode()
    backslashes = b'"' + b"\\" * 8192 + b'"'
    header = b"a=" + backslashes + b"; " + b"; ".join(b"c%d=v" % i for i in range(500))
    headers = [(b"cookie", header + b"; session=" + valid)]
    with _library_lines() as lines:
        reply = await asgi_request(app, headers=headers)
    assert reply.json()["data"] == {"secret": "data"}
    assert lines[0] <= BASE_LINES + LINES_PER_PAIR * _pairs(headers), f"{lines[0]} lines"


# Property-based: 10,000 generated Cookie headers.

_COOKIE_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=;" \\\t,%'


def _mutations(valid: list[str]) -> st.SearchStrategy[str]:
    def mutate(draw: st.DrawFn) -> str:
        value = draw(st.sampled_from(valid))
        how = draw(st.sampled_from(["flip", "cut", "insert", "swap-part", "respell", "case"]))
        if how == "flip":
            index = draw(st.integers(0, len(value) - 1))
            replacement = draw(st.characters(codec="latin-1"))
            return value[:index] + replacement + value[index + 1 :]
        if how == "cut":
            start = draw(st.integers(0, len(value)))
            return value[:start] + value[draw(st.integers(start, len(value))) :]
        if how == "insert":
            index = draw(st.integers(0, len(value)))
            inserted = draw(st.text(_COOKIE_CHARS, min_size=1, max_size=8))
            return value[:index] + inserted + value[index:]
        if how == "swap-part":
            other = draw(st.sampled_from(valid)).split(".")
            parts = value.split(".")
            index = draw(st.integers(0, 2))
            parts[index] = other[index]
            return ".".join(parts)
        if how == "respell":  # the same signature bytes, last character's unused bits set
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            last = alphabet.index(value[-1])
            return value[:-1] + alphabet[last + draw(st.integers(1, 3))]
        return value.swapcase()

    return st.composite(mutate)()


def _cookie_headers(valid: list[str]) -> st.SearchStrategy[list[bytes]]:
    name = st.one_of(
        st.just("session"),
        st.sampled_from(["Session", "session ", " session", "sessio", "session2", "x", ""]),
        st.text(_COOKIE_CHARS, max_size=10),
    )
    value = st.one_of(
        _mutations(valid),
        st.sampled_from(valid),  # validly signed: allowed to reach the backend
        st.text(_COOKIE_CHARS, max_size=60),
        st.text(max_size=40),
        st.builds(lambda v: f'"{v}"', _mutations(valid)),
        st.builds(lambda n: '"' + "\\" * n + '"', st.integers(0, 9000)),
        st.builds(lambda n: "A" * n, st.integers(4000, 5000)),
    )
    pair = st.builds(lambda n, v: f"{n}={v}".encode("utf-8", "surrogatepass"), name, value)
    structured = st.builds(
        lambda pairs, sep: sep.join(pairs),
        st.lists(pair, min_size=1, max_size=6),
        st.sampled_from([b"; ", b";", b" ; ", b",", b"\r\n", b"\x00"]),
    )
    raw = st.binary(max_size=200)
    return st.lists(st.one_of(structured, structured, raw), min_size=1, max_size=3)


@pytest.mark.slow  # 10,000 generated headers
def test_ten_thousand_generated_cookie_headers_never_fail_nor_reach_the_backend() -> None:
    """On the memory backend only: what it checks happens before any backend is called, and the
    counting wrapper sees every call. The same refusals on every real backend, counted by the
    servers too: ``test_hostile_cookie_...`` here and ``test_ids_and_signing.py::
    test_unverified_cookie_causes_zero_backend_calls`` (10,000 examples take 25 s on memory)."""
    counting = CountingBackend(MemoryBackend())
    app = build_app(SessionStore(counting))
    loop = asyncio.new_event_loop()
    try:
        valid = []
        for _ in range(3):
            client = Client(app)
            loop.run_until_complete(client.post("/write", {"a": 1}))
            assert client.cookie is not None
            valid.append(client.cookie)
        outcomes = {"examples": 0, "signed": 0, "reached-backend": 0}

        @settings(
            max_examples=10_000,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(_cookie_headers(valid))
        def check(cookie_headers: list[bytes]) -> None:
            outcomes["examples"] += 1
            counting.calls.clear()
            headers = [(b"cookie", header) for header in cookie_headers]
            reply = loop.run_until_complete(asgi_request(app, headers=headers))
            assert reply.status == 200, reply.body
            joined = b"\n".join(cookie_headers)
            if any(value.encode() in joined for value in valid):
                outcomes["signed"] += 1  # may hold a genuine cookie: backend calls allowed
                outcomes["reached-backend"] += bool(counting.calls)
            else:
                assert counting.calls == [], (cookie_headers, counting.calls)
                assert reply.json()["data"] == {}
                assert reply.header_list("set-cookie") == []

        check()
    finally:
        loop.close()
    assert outcomes["examples"] >= 10_000
    assert outcomes["reached-backend"] > 0, "no genuine cookie was ever generated: test is blind"
