"""docs_src/migration_*: the migration guides' samples, "before" and "after", run for real.

The "before" samples of Starlette's ``SessionMiddleware``, starsessions and fastapi-sessions run
on those libraries (all three are in the ``test`` extra), and their cookies and stored sessions
are then handed to the "after" samples, as a deploy would. The original starlette-session 0.4.3
cannot be installed beside this library (both are the ``starlette_session`` package): its sample
runs here, unchanged, which is what the guide promises; the original's cookie format is made by
Starlette's middleware, which wrote the same format.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import anyio
import pytest
import redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware as StarletteSessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.helpers import cookie_attributes, session_cookie, set_cookie_headers
from tests.test_tutorial.conftest import SECRET, LoadSample

ROOT = Path(__file__).resolve().parents[2]

NEW_SECRET = "the-new-secret-of-the-migrated-application-0123"
HTTPS = "https://testserver"
DOMAIN = "testserver.local"  # where the test client keeps the cookies the app sets


@pytest.fixture
def new_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEW_SESSION_SECRET", NEW_SECRET)


def redis_keys(url: str, pattern: str) -> list[str]:
    client = redis.Redis.from_url(url)
    try:
        return sorted(
            key.decode() if isinstance(key, bytes) else key for key in client.keys(pattern)
        )
    finally:
        client.close()


# From the original starlette-session (0.4.3)


@pytest.mark.redis
def test_an_original_application_runs_unchanged(
    load_sample: LoadSample, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    sample = load_sample("docs_src.migration_original.app")
    with TestClient(sample.app) as client:
        visits = [client.get("/visit").json()["session"]["visits"] for _ in range(3)]
        assert visits == [1, 2, 3]
        assert "cookie22" in client.cookies
        [key] = redis_keys(redis_url, "session:*")  # a keyed hash of the id, never the id
        assert client.cookies["cookie22"] not in key
        forgotten = client.get("/forget")
        assert forgotten.json() == {"session": {}}
        assert cookie_attributes(forgotten, "cookie22")["max-age"] == "0"
    assert redis_keys(redis_url, "session:*") == []


def original_cookie(data: dict[str, object], secret: str) -> str:
    """A cookie of 0.4.3's cookie backend, which wrote Starlette's own format."""

    async def put(request: Request) -> JSONResponse:
        request.session.update(data)
        return JSONResponse({})

    old = Starlette(
        routes=[Route("/put", put)],
        middleware=[
            Middleware(StarletteSessionMiddleware, secret_key=secret, session_cookie="cookie22")
        ],
    )
    with TestClient(old) as client:
        client.get("/put")
        cookie: str = client.cookies["cookie22"]
        return cookie


def test_the_rollout_carries_original_cookies_over(
    load_sample: LoadSample, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_secret = "the-secret-the-original-application-used"
    monkeypatch.setenv("OLD_SESSION_SECRET", old_secret)
    sample = load_sample("docs_src.migration_original.rollout")
    old = original_cookie({"visits": 7}, old_secret)
    with TestClient(sample.app) as client:
        client.cookies.set("cookie22", old, domain=DOMAIN)
        response = client.get("/visit")
        assert response.json() == {"session": {"visits": 8}}
        assert session_cookie(response, "cookie22") not in (None, old)  # replaced, once
        assert client.get("/visit").json() == {"session": {"visits": 9}}
        # A cookie signed with another secret is refused like any bad cookie.
        client.cookies.set(
            "cookie22", original_cookie({"visits": 7}, "not-the-old-secret"), domain=DOMAIN
        )
        assert client.get("/visit").json() == {"session": {"visits": 1}}


# From Starlette's SessionMiddleware


def test_starlette_before_and_after_share_their_users(
    load_sample: LoadSample, new_secret: None
) -> None:
    before = load_sample("docs_src.migration_starlette.before")
    with TestClient(before.app, base_url=HTTPS) as client:
        assert [client.post("/visit").json() for _ in range(2)] == [{"visits": 1}, {"visits": 2}]
        old = client.cookies["session"]
    after = load_sample("docs_src.migration_starlette.after")
    with TestClient(after.app, base_url=HTTPS) as client:
        client.cookies.set("session", old, domain=DOMAIN)
        response = client.post("/visit")
        assert response.json() == {"visits": 3}  # the user's Starlette session, carried over
        attributes = cookie_attributes(response)
        assert attributes["max-age"] == str(14 * 24 * 3600)
        assert attributes["path"] == "/"
        assert attributes["samesite"] == "Lax"
        assert "secure" in attributes
        assert session_cookie(response) != old
        assert client.post("/visit").json() == {"visits": 4}


@pytest.mark.redis
def test_starlette_cookies_carried_over_into_redis(
    load_sample: LoadSample, new_secret: None, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    before = load_sample("docs_src.migration_starlette.before")
    with TestClient(before.app, base_url=HTTPS) as client:
        client.post("/visit")
        old = client.cookies["session"]
    sample = load_sample("docs_src.migration_starlette.with_store")
    with TestClient(sample.app, base_url=HTTPS) as client:
        client.cookies.set("session", old, domain=DOMAIN)
        assert client.post("/visit").json() == {"visits": 2}
        keys = redis_keys(redis_url, "session:*")
        # The session, and the mark that the old cookie was carried over (once only).
        assert len([key for key in keys if not key.startswith("session:old:")]) == 1
        assert len(redis_keys(redis_url, "session:old:*")) == 1
        assert client.post("/visit").json() == {"visits": 3}
        assert client.cookies["session"] != old


# From starsessions


def test_starsessions_cookie_store_users_are_carried_over(
    load_sample: LoadSample, new_secret: None
) -> None:
    from starsessions import CookieStore, SessionAutoloadMiddleware
    from starsessions import SessionMiddleware as StarsessionsMiddleware

    async def visit(request: Request) -> JSONResponse:
        request.session["visits"] = request.session.get("visits", 0) + 1
        return JSONResponse({})

    old = Starlette(
        routes=[Route("/visit", visit, methods=["POST"])],
        middleware=[
            Middleware(StarsessionsMiddleware, store=CookieStore(SECRET), lifetime=3600),
            Middleware(SessionAutoloadMiddleware),
        ],
    )
    with TestClient(old, base_url=HTTPS) as client:
        client.post("/visit")
        client.post("/visit")
        cookie = client.cookies["session"]
    # The Starlette guide's "after" app, whose key list holds the old secret.
    after = load_sample("docs_src.migration_starlette.after")
    with TestClient(after.app, base_url=HTTPS) as client:
        client.cookies.set("session", cookie, domain=DOMAIN)
        assert client.post("/visit").json() == {"visits": 3}  # starsessions' metadata left out


@pytest.mark.redis
def test_starsessions_before_after_and_the_transition(
    load_sample: LoadSample, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    before = load_sample("docs_src.migration_starsessions.before")
    with TestClient(before.app, base_url=HTTPS) as client:
        assert [client.post("/visit").json() for _ in range(2)] == [{"visits": 1}, {"visits": 2}]
        old = client.cookies["session"]
    assert re.fullmatch(r"[0-9a-f]{32}", old)
    assert redis_keys(redis_url, "starsessions.*") == [f"starsessions.{old}"]

    after = load_sample("docs_src.migration_starsessions.after")
    with TestClient(after.app, base_url=HTTPS) as client:
        client.cookies.set(
            "session", old, domain=DOMAIN
        )  # not a cookie of ours: a new, empty session
        assert client.post("/visit").json() == {"visits": 1}
        assert client.post("/visit").json() == {"visits": 2}  # autoload=True, request.session

    carry = load_sample("docs_src.migration_starsessions.carry_over")
    with TestClient(carry.app, base_url=HTTPS) as client:
        client.cookies.set("session", old, domain=DOMAIN)
        response = client.post("/visit")
        assert response.json() == {"visits": 3}  # the starsessions session, imported
        assert session_cookie(response) not in (None, old)
        assert client.post("/visit").json() == {"visits": 4}
        assert redis_keys(redis_url, "starsessions.*") == []  # imported once
        client.cookies.set("session", old, domain=DOMAIN)
        assert client.post("/visit").json() == {"visits": 1}  # nothing left to import


# From fastapi-sessions (0.3.2, written for Pydantic 1: its model.copy() warns under Pydantic 2)

PYDANTIC_1_COPY = pytest.mark.filterwarnings("ignore:The `copy` method is deprecated")


@PYDANTIC_1_COPY
def test_fastapi_sessions_before(load_sample: LoadSample) -> None:
    before = load_sample("docs_src.migration_fastapi_sessions.before")
    with TestClient(before.app) as client:
        assert client.get("/whoami").status_code == 403
        client.post("/create_session/ann")
        assert client.get("/whoami").json() == {"username": "ann"}
        client.post("/delete_session")
        assert client.get("/whoami").status_code == 403


def test_fastapi_sessions_after(load_sample: LoadSample) -> None:
    after = load_sample("docs_src.migration_fastapi_sessions.after")
    with TestClient(after.app) as client:
        assert client.get("/whoami").status_code == 403
        assert "cookie" not in client.cookies  # a visitor who changed nothing has no session
        client.post("/create_session/ann")
        assert client.get("/whoami").json() == {"username": "ann"}
        deleted = client.post("/delete_session")
        assert cookie_attributes(deleted, "cookie")["max-age"] == "0"
        assert client.get("/whoami").status_code == 403


@PYDANTIC_1_COPY
def test_fastapi_sessions_carried_over(
    load_sample: LoadSample, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLD_SESSION_SECRET", SECRET)  # the "before" sample's SESSION_SECRET
    # carry_over.py imports the old app's module as a reader has it, beside it: `before`.
    monkeypatch.syspath_prepend(str(ROOT / "docs_src" / "migration_fastapi_sessions"))
    carry = load_sample("docs_src.migration_fastapi_sessions.carry_over")
    before = sys.modules["before"]
    with TestClient(before.app) as client:
        client.post("/create_session/ann")
        old = client.cookies["cookie"]
    assert len(before.backend.data) == 1

    with TestClient(carry.app) as client:
        client.cookies.set("cookie", old, domain=DOMAIN)
        response = client.get("/whoami")
        assert response.json() == {"username": "ann"}
        assert any(header.startswith("cookie=") for header in set_cookie_headers(response))
        assert session_cookie(response, "session") is not None
        assert before.backend.data == {}  # imported once
        client.cookies.delete("cookie")
        assert client.get("/whoami").json() == {"username": "ann"}
        assert len(anyio.run(carry.store.user_sessions, "ann")) == 1  # set_user at import
        client.cookies.clear()
        client.cookies.set("cookie", old, domain=DOMAIN)  # replayed: nothing left to import
        assert client.get("/whoami").status_code == 403
