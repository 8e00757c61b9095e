"""Old cookies carried over: Starlette's SessionMiddleware and the original starlette-session.

Starlette's cookies come from Starlette's real ``SessionMiddleware`` driven through
``TestClient``. The original's come from the original package itself (0.4.3, run in a throwaway
virtualenv cached outside the repository; skipped locally without network, failed under CI), and
from ``original_cookie()`` below, which signs the way the original's code does.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import TimestampSigner
from starlette.applications import Starlette
from starlette.datastructures import Secret
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware as StarletteSessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from starlette_session.migration import (
    MAX_OLD_COOKIE_LENGTH,
    load_old_cookie,
    load_original_cookie,
    load_starlette_cookie,
    old_cookie_loader,
    original_session_key,
)
from tests.compat.cache import cache_directory
from tests.servers import server_unavailable

OLD_SECRET = "the-secret-of-the-application-before-the-migration"
NEW_SECRET = "a-new-secret-for-this-library-of-at-least-32-chars"
KEYS = [NEW_SECRET, OLD_SECRET]
FOURTEEN_DAYS = 14 * 24 * 60 * 60
SESSION: dict[str, Any] = {
    "user": "alice",
    "cart": ["apple", {"id": 7, "qty": 2}],
    "flags": {"admin": False, "beta": None},
    "name": "Zoë ☃",
    "ratio": 0.25,
}


def set_cookie_value(set_cookie: str, name: str) -> str:
    """The value of the cookie ``name`` in one ``Set-Cookie`` header, as a browser keeps it."""
    pair = set_cookie.split(";", 1)[0]
    cookie_name, _, value = pair.partition("=")
    assert cookie_name.strip() == name
    return value


def starlette_cookie(
    session: dict[str, Any], *, secret: str | Secret = OLD_SECRET, **settings: Any
) -> str:
    """A cookie issued by Starlette's own SessionMiddleware for ``session``."""

    async def store(request: Request) -> JSONResponse:
        request.session.update(await request.json())
        return JSONResponse({})

    app = Starlette(
        routes=[Route("/", store, methods=["POST"])],
        middleware=[Middleware(StarletteSessionMiddleware, secret_key=secret, **settings)],
    )
    with TestClient(app) as client:
        response = client.post("/", json=session)
    return set_cookie_value(
        response.headers["set-cookie"], settings.get("session_cookie", "session")
    )


def original_cookie(data: dict[str, Any], secret: str = OLD_SECRET, *, age: int = 0) -> str:
    """Signed the way the original 0.4.3 (and Starlette) did, ``age`` seconds ago."""

    class PastSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age

    payload = base64.b64encode(json.dumps(data).encode("utf-8"))
    return PastSigner(str(secret)).sign(payload).decode()


# Starlette's cookies


def test_a_cookie_from_starlettes_middleware_is_carried_over() -> None:
    cookie = starlette_cookie(SESSION)
    assert load_starlette_cookie(cookie, KEYS, max_age=FOURTEEN_DAYS) == SESSION
    assert load_old_cookie("starlette", cookie, KEYS, max_age=FOURTEEN_DAYS) == SESSION


def test_the_old_secret_may_be_a_starlette_secret_and_alone() -> None:
    cookie = starlette_cookie(SESSION, secret=Secret(OLD_SECRET))
    assert load_starlette_cookie(cookie, Secret(OLD_SECRET), max_age=None) == SESSION
    assert load_starlette_cookie(cookie, OLD_SECRET, max_age=None) == SESSION


def test_a_cookie_of_starlette_without_max_age_never_expires() -> None:
    cookie = starlette_cookie(SESSION, max_age=None)
    assert load_starlette_cookie(cookie, KEYS, max_age=None) == SESSION


def test_a_starlette_cookie_needs_the_secret_that_signed_it() -> None:
    cookie = starlette_cookie(SESSION)
    assert load_starlette_cookie(cookie, [NEW_SECRET], max_age=FOURTEEN_DAYS) is None
    assert load_starlette_cookie(cookie, "another-secret", max_age=FOURTEEN_DAYS) is None


def test_an_old_cookie_is_honoured_exactly_as_long_as_its_max_age() -> None:
    cookie = original_cookie(SESSION, age=1000)
    assert load_starlette_cookie(cookie, KEYS, max_age=1001) == SESSION
    assert load_starlette_cookie(cookie, KEYS, max_age=999) is None
    assert load_starlette_cookie(cookie, KEYS, max_age=None) == SESSION


@pytest.mark.parametrize("max_age", [0, -1])
def test_a_max_age_of_zero_or_less_honours_nothing(max_age: int) -> None:
    assert load_starlette_cookie(original_cookie(SESSION), KEYS, max_age=max_age) is None


def test_a_cookie_signed_in_the_future_is_refused() -> None:
    cookie = original_cookie(SESSION, age=-3600)
    assert load_starlette_cookie(cookie, KEYS, max_age=FOURTEEN_DAYS) is None


# The original starlette-session 0.4


def test_a_cookie_of_the_originals_cookie_backend_is_carried_over() -> None:
    cookie = original_cookie(SESSION)
    assert load_original_cookie(cookie, KEYS, max_age=FOURTEEN_DAYS) == SESSION
    loaded = load_old_cookie("starlette-session-0.4", cookie, KEYS, max_age=FOURTEEN_DAYS)
    assert loaded == SESSION


def test_a_cookie_of_the_originals_server_side_backends_holds_only_a_key() -> None:
    cookie = original_cookie({"_cssid": "0b7c6a8e-3f6e-4b8e-9d61-3f0e2c1b5a77"})
    assert load_original_cookie(cookie, KEYS, max_age=FOURTEEN_DAYS) is None
    key = original_session_key(cookie, KEYS, max_age=FOURTEEN_DAYS)
    assert key == "0b7c6a8e-3f6e-4b8e-9d61-3f0e2c1b5a77"
    assert original_session_key(original_cookie(SESSION), KEYS, max_age=FOURTEEN_DAYS) is None
    assert load_old_cookie("starlette-session-0.4", cookie, KEYS, max_age=FOURTEEN_DAYS) is None


ORIGINAL_SCRIPT = """
import json, sys
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette_session import SessionMiddleware
from starlette_session.backends import BackendType
from starlette_session.interfaces import ISessionBackend

secret, session = sys.argv[1], json.loads(sys.argv[2])
stored = {}

class Backend(ISessionBackend):
    async def get(self, key):
        return stored.get(key)
    async def set(self, key, value, exp):
        stored[key] = value
    async def delete(self, key):
        stored.pop(key, None)

async def setup(request):
    request.session.update(session)
    return JSONResponse({})

def cookie(**backend):
    app = Starlette(routes=[Route("/", setup)])
    app.add_middleware(SessionMiddleware, secret_key=secret, cookie_name="old", **backend)
    with TestClient(app) as client:
        return client.get("/").headers["set-cookie"]

print(json.dumps({
    "cookie": cookie(),
    "server": cookie(backend_type=BackendType.redis, custom_session_backend=Backend()),
    "stored": stored,
}))
"""


PACKAGES = ["starlette-session==0.4.3", "starlette<1", "httpx"]


@pytest.fixture(scope="session")
def original_python() -> Path:
    """The Python of a virtualenv holding starlette-session 0.4.3, built once and cached."""
    venv = cache_directory() / "original-starlette-session-0.4.3"
    python = venv / "bin" / "python"
    complete = venv / "complete"
    if complete.exists():
        return python
    commands = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PACKAGES],
    ]
    for command in commands:
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            server_unavailable("installing starlette-session 0.4.3 took over 600 s")
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-10:])
            server_unavailable(f"could not install starlette-session 0.4.3 to test with:\n{tail}")
    complete.touch()
    return python


def test_cookies_written_by_the_original_package_itself_are_read(
    original_python: Path, tmp_path: Path
) -> None:
    run = subprocess.run(
        [str(original_python), "-c", ORIGINAL_SCRIPT, OLD_SECRET, json.dumps(SESSION)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=tmp_path,  # not the repository, whose starlette_session would be imported instead
        env=os.environ | {"PYTHONPATH": ""},
    )
    written = json.loads(run.stdout)
    cookie = set_cookie_value(written["cookie"], "old")
    server_cookie = set_cookie_value(written["server"], "old")

    assert load_original_cookie(cookie, KEYS, max_age=FOURTEEN_DAYS) == SESSION
    assert load_original_cookie(server_cookie, KEYS, max_age=FOURTEEN_DAYS) is None
    key = original_session_key(server_cookie, KEYS, max_age=FOURTEEN_DAYS)
    assert written["stored"] == {key: SESSION}
    # Forged: the original's cookie verified with another secret.
    assert load_original_cookie(cookie, [NEW_SECRET], max_age=FOURTEEN_DAYS) is None


# Forged, expired and hostile cookies


def tampered(cookie: str) -> list[str]:
    payload, timestamp, signature = cookie.rsplit(".", 2)
    other_time = original_cookie({}, age=100).rsplit(".", 2)[1]
    other = base64.b64encode(json.dumps({"user": "mallory"}).encode()).decode()
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    return [
        f"{other}.{timestamp}.{signature}",  # another payload under the old signature
        f"{payload}.{timestamp}.{flipped}",  # a signature one character off
        f"{payload}.{timestamp}",  # no signature
        f"{payload}",  # no timestamp either
        f"{payload}.{timestamp}.{signature}.{signature}",
        f"{payload}..{signature}",
        f"{payload}.{other_time}.{signature}",  # another timestamp
        " " + cookie,
    ]


@pytest.mark.parametrize("index", range(8))
def test_a_tampered_cookie_is_refused(index: int) -> None:
    forged = tampered(starlette_cookie(SESSION))[index]
    assert load_starlette_cookie(forged, KEYS, max_age=FOURTEEN_DAYS) is None
    assert load_original_cookie(forged, KEYS, max_age=FOURTEEN_DAYS) is None


def signed(payload: bytes, secret: str = OLD_SECRET) -> str:
    return TimestampSigner(secret).sign(payload).decode()


@pytest.mark.parametrize(
    "payload",
    [
        base64.b64encode(b"[1, 2, 3]"),  # JSON, but not an object
        base64.b64encode(b'"text"'),
        base64.b64encode(b"null"),
        base64.b64encode(b'{"a": NaN}'),  # Starlette's json.dumps writes NaN; we cannot hold it
        base64.b64encode(b'{"a": Infinity}'),
        base64.b64encode(b'{"a": 1e400}'),
        base64.b64encode(b'{"a": ' + b"9" * 5000 + b"}"),  # over Python's int digit limit
        base64.b64encode(b"[" * 3000 + b"]" * 3000),  # deeper than the recursion limit
        base64.b64encode(b'{"a": 1'),  # truncated
        base64.b64encode(b"\xff\xfe not utf-8"),
        base64.b64encode(b"\x80\x04\x95 a pickle"),
        b"not base64!",
        b"YWJj*",
        b"",
    ],
    ids=lambda payload: payload[:16].decode("latin-1"),
)
def test_a_well_signed_cookie_that_does_not_decode_to_a_session_is_refused(
    payload: bytes,
) -> None:
    cookie = signed(payload)
    assert load_starlette_cookie(cookie, KEYS, max_age=None) is None
    assert load_original_cookie(cookie, KEYS, max_age=None) is None


def test_an_oversized_cookie_is_refused_before_any_signature_check() -> None:
    big = {"blob": "x" * MAX_OLD_COOKIE_LENGTH}
    cookie = original_cookie(big)  # correctly signed, but no browser keeps it
    assert len(cookie) > MAX_OLD_COOKIE_LENGTH
    assert load_starlette_cookie(cookie, KEYS, max_age=None) is None
    assert load_starlette_cookie("a." * 500_000, KEYS, max_age=None) is None


@settings(max_examples=300)
@given(st.text(max_size=200) | st.from_regex(r"[A-Za-z0-9+/=_.\-]{0,300}", fullmatch=True))
def test_any_text_at_all_is_none_and_never_an_exception(value: str) -> None:
    assert load_starlette_cookie(value, KEYS, max_age=FOURTEEN_DAYS) is None
    assert load_original_cookie(value, KEYS, max_age=None) is None
    assert original_session_key(value, KEYS, max_age=None) is None


def test_nothing_is_logged_while_reading_cookies(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cookie = starlette_cookie(SESSION)
    caplog.clear()
    load_starlette_cookie(cookie, KEYS, max_age=FOURTEEN_DAYS)
    for forged in tampered(cookie):
        load_starlette_cookie(forged, KEYS, max_age=FOURTEEN_DAYS)
    assert caplog.records == []


@pytest.mark.parametrize("scheme", ["Starlette", "starlette-session", "0.4", ""])
def test_an_unknown_scheme_fails_at_start_up(scheme: Any) -> None:
    with pytest.raises(ValueError, match=r"migrate_from must be 'starlette' or 'starlette-session"):
        old_cookie_loader(scheme, KEYS, max_age=None)


@pytest.mark.parametrize("keys", [[], "", [NEW_SECRET, ""], [NEW_SECRET, None]])
def test_an_empty_key_fails_at_start_up(keys: Any) -> None:
    with pytest.raises(ValueError, match="secret_key"):
        old_cookie_loader("starlette", keys, max_age=None)


def test_a_loader_is_the_function_the_middleware_keeps() -> None:
    load = old_cookie_loader("starlette", KEYS, max_age=FOURTEEN_DAYS)
    assert load(starlette_cookie(SESSION)) == SESSION
    assert load("invalid") is None


def test_a_starsessions_cookie_store_cookie_is_carried_over_without_its_metadata() -> None:
    # starsessions' CookieStore signs Starlette's format, its metadata inside the session.
    metadata = {"lifetime": 1209600, "created": 1.7e9, "last_access": 1.7e9}
    cookie = original_cookie(SESSION | {"__metadata__": metadata})
    assert load_starlette_cookie(cookie, KEYS, max_age=FOURTEEN_DAYS) == SESSION
    assert old_cookie_loader("starlette", KEYS, max_age=None)(cookie) == SESSION
    # An application's own key of that name, not starsessions' metadata, is kept.
    own = SESSION | {"__metadata__": {"theme": "dark"}}
    assert load_starlette_cookie(original_cookie(own), KEYS, max_age=None) == own
