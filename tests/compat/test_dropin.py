"""Drop-in for Starlette's SessionMiddleware by keyword, durations, the max_age rule with a store,
and sessions carried over with ``migrate_from=`` (issue 15, items 2 to 5).

"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from itsdangerous import TimestampSigner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from starlette_session import SessionMiddleware, SessionStore, load_session
from starlette_session.backends import BackendType, MemoryBackend
from tests.helpers import (
    SECRET,
    cookie_attributes,
    http_client,
    make_app,
    session_cookie,
    set_cookie_headers,
)

OLD_SECRET = "the-secret-of-the-application-before-the-migration"
SESSION = {"user": "alice", "cart": ["apple"]}


async def put(request: Request) -> JSONResponse:
    session = await load_session(request)
    session.update(await request.json())
    return JSONResponse(dict(session))


async def view(request: Request) -> JSONResponse:
    return JSONResponse(dict(await load_session(request)))


def app_with(**middleware: Any) -> Starlette:
    """``make_app`` with ``/put`` and ``/view``, through Starlette's signature (no store)."""
    routes = [Route("/put", put, methods=["POST"]), Route("/view", view)]
    app: Starlette = make_app(routes=routes, original_api=True, **middleware)
    return app


# Starlette's keyword arguments, with Starlette's meanings


async def test_session_cookie_names_the_cookie_as_in_starlette() -> None:
    async with http_client(app_with(session_cookie="sid")) as client:
        response = await client.post("/put", json=SESSION)
        assert session_cookie(response, "sid") is not None
        assert (await client.get("/view")).json() == SESSION


def test_session_cookie_and_cookie_name_together_are_refused() -> None:
    with pytest.raises(TypeError, match=r"cookie_name.*session_cookie|session_cookie.*cookie_name"):
        SessionMiddleware(app_with(), SECRET, cookie_name="a", session_cookie="b")


@pytest.mark.parametrize(
    ("max_age", "expected"),
    [
        (timedelta(days=30), "2592000"),
        (timedelta(days=30).total_seconds(), "2592000"),
        (timedelta(minutes=1, milliseconds=500), "61"),
    ],
)
async def test_max_age_takes_a_timedelta_or_float_seconds(max_age: Any, expected: str) -> None:
    async with http_client(app_with(max_age=max_age)) as client:
        response = await client.post("/put", json=SESSION)
    assert cookie_attributes(response)["max-age"] == expected


@pytest.mark.parametrize(
    ("max_age", "error"),
    [("3600", TypeError), (True, TypeError), (float("nan"), ValueError), (-0.5, None)],
)
def test_an_invalid_max_age_fails_at_start_up_naming_it(
    max_age: Any, error: type[Exception] | None
) -> None:
    if error is None:  # negative: Starlette's "expire at once", accepted
        SessionMiddleware(app_with(), SECRET, max_age=max_age)
        return
    with pytest.raises(error, match="max_age"):
        SessionMiddleware(app_with(), SECRET, max_age=max_age)


@pytest.mark.parametrize("max_age", [0, -1])
async def test_a_max_age_of_zero_or_less_keeps_nothing_beyond_the_request(max_age: int) -> None:
    async with http_client(app_with(max_age=max_age)) as client:
        response = await client.post("/put", json=SESSION)
        assert response.json() == SESSION
        assert "; Max-Age=0;" in set_cookie_headers(response)[0]
        cookie = session_cookie(response)
        assert cookie is not None
        client.cookies.set(
            "session", cookie, domain="testserver.local"
        )  # replayed although the browser would drop it
        assert (await client.get("/view")).json() == {}


def test_with_a_store_and_no_idle_timeout_max_age_is_the_idle_timeout() -> None:
    middleware = SessionMiddleware(app_with(), SECRET, max_age=600, store=SessionStore())
    assert middleware.store.idle_timeout == 600


async def test_with_a_store_a_cookie_older_than_max_age_is_not_honoured() -> None:
    store: SessionStore[Any] = SessionStore(MemoryBackend(), idle_timeout=3600)
    middleware = SessionMiddleware(app_with(), SECRET, max_age=600, store=store)
    app = Starlette(routes=[Route("/put", put, methods=["POST"]), Route("/view", view)])
    middleware.app = app
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=middleware), base_url="http://testserver"
    ) as client:
        cookie = session_cookie(await client.post("/put", json=SESSION))
        assert cookie is not None
        unsigned = middleware.signer.unsign(cookie)
        assert unsigned is not None
        old = middleware.signer.sign(unsigned.payload, now=unsigned.issued_at - 601)
        client.cookies.set(
            "session", old, domain="testserver.local"
        )  # the same session id, signed 601 s earlier
        assert (await client.get("/view")).json() == {}


# migrate_from: old cookies carried over into a new session, once


def starlette_format(data: dict[str, Any], secret: str = OLD_SECRET) -> str:
    """A cookie in the format of Starlette's SessionMiddleware and the original's cookie backend
    (tests/test_migration.py checks these against the real middleware and package)."""
    return TimestampSigner(secret).sign(base64.b64encode(json.dumps(data).encode())).decode()


@pytest.mark.parametrize(
    ("scheme", "settings"),
    [
        ("starlette", {"store": "memory"}),
        ("starlette", {}),
        ("starlette-session-0.4", {"cookie_name": "cookie22"}),
        ("starlette-session-0.4", {"cookie_name": "cookie22", "backend_type": "memory"}),
    ],
    ids=["starlette-to-store", "starlette-to-cookie", "original-to-cookie", "original-to-memory"],
)
async def test_an_old_cookie_is_carried_over_into_a_new_session_once(
    scheme: str, settings: dict[str, Any]
) -> None:
    name = settings.get("cookie_name", "session")
    if settings.get("store") == "memory":
        settings["store"] = SessionStore(MemoryBackend())
    if settings.get("backend_type") == "memory":
        settings["backend_type"] = BackendType.memory
    app = app_with(secret_key=[SECRET, OLD_SECRET], migrate_from=scheme, **settings)
    async with http_client(app) as client:
        client.cookies.set(name, starlette_format(SESSION), domain="testserver.local")
        first = await client.get("/view")
        assert first.json() == SESSION
        new_cookie = session_cookie(first, name)
        assert new_cookie is not None, "the old cookie is replaced on the first request"
        assert "+" not in new_cookie
        assert "/" not in new_cookie
        assert new_cookie != starlette_format(SESSION)

        second = await client.get("/view")
        assert second.json() == SESSION
        if "store" in settings or "backend_type" in settings:
            assert set_cookie_headers(second) == [], "replaced once, not on every request"
        # (The cookie backend re-signs its cookie on every use a second or more apart: the
        # cookie is where its idle timeout lives.)
        changed = await client.post("/put", json={"more": 1})
        assert changed.json() == SESSION | {"more": 1}


@pytest.mark.parametrize(
    "forged",
    [
        starlette_format(SESSION, secret="not-the-old-secret"),
        starlette_format(SESSION)[:-3] + "AAA",
        "eyJ1c2VyIjogImFkbWluIn0=.Zy0xAA.invalid",
    ],
    ids=["other-secret", "bad-signature", "garbage"],
)
async def test_a_forged_old_cookie_is_refused(forged: str) -> None:
    app = app_with(secret_key=[SECRET, OLD_SECRET], migrate_from="starlette")
    async with http_client(app) as client:
        client.cookies.set("session", forged)
        response = await client.get("/view")
    assert response.json() == {}
    assert set_cookie_headers(response) == []


def test_an_unknown_migrate_from_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="migrate_from must be 'starlette' or"):
        SessionMiddleware(app_with(), SECRET, migrate_from="starsessions")  # type: ignore[arg-type]


async def test_without_migrate_from_an_old_cookie_is_not_honoured() -> None:
    app = app_with(secret_key=[SECRET, OLD_SECRET])
    async with http_client(app) as client:
        client.cookies.set("session", starlette_format(SESSION))
        assert (await client.get("/view")).json() == {}
