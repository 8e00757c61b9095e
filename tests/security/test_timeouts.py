"""Requirements 11-13: idle and absolute timeouts enforced server-side, per-session lifetimes;
durations given as numbers or ``timedelta``; the cookie backend's idle timeout.

On memory the clock is moved by hand; on Redis the test really waits, since the expiry is the
server's own, so those tests use timeouts of one to three seconds.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from starlette_session import SessionMiddleware, SessionStore, load_session
from starlette_session.backends import CookieBackend
from starlette_session.cookies import MAX_COOKIE_AGE
from tests.security.conftest import (
    SECRET,
    SECURITY_LOGGER,
    Client,
    FakeTime,
    Real,
    build_app,
    session_id,
)

DAY = 24 * 60 * 60

# 11. Idle timeout, server-side and sliding.


async def test_idle_timeout_is_enforced_server_side_and_slides(
    real: Real, monkeypatch: pytest.MonkeyPatch
) -> None:
    real.freeze_time(monkeypatch)
    # The cookie would live 14 days: only the server can end the session after 1 idle second.
    app = build_app(SessionStore(real.counting, idle_timeout=1), max_age=14 * DAY)
    client = Client(app)
    await client.post("/write", {"user": "alice"})
    cookie = client.cookie
    assert cookie is not None
    key = app.store.storage_key(session_id(cookie))

    for _ in range(3):  # used every 0.6 s: alive after 1.8 s, longer than the idle timeout
        await real.elapse(0.6)
        assert (await client.get()).json()["data"] == {"user": "alice"}

    await real.elapse(1.6)
    reply = await Client(app, cookie).get()  # a copy of the cookie, still "valid" for 14 days
    assert reply.json()["data"] == {}
    assert reply.json()["new"] is True
    assert key not in await real.keys()


async def test_sliding_the_idle_timeout_costs_no_extra_round_trip(real: Real) -> None:
    app = build_app(SessionStore(real.counting, idle_timeout=600))
    client = Client(app)
    await client.post("/write", {"user": "alice"})
    assert client.cookie is not None
    key = app.store.storage_key(session_id(client.cookie))
    await real.reset_counts()

    assert (await client.get()).json()["data"] == {"user": "alice"}

    assert real.counting.calls == [("read", (key, 600))]  # the read itself refreshes the TTL
    if real.redis is not None:
        assert await real.redis_commands() == Counter({"getex": 1})
        assert 590 <= await real.redis.ttl(key) <= 600
    if real.sql is not None:  # one SELECT: the expiry, slid a moment ago, is within granularity
        assert real.sql_statements() == Counter({"SELECT": 1})


# 12. Absolute timeout.


async def test_absolute_timeout_is_never_extended_by_activity(
    real: Real, monkeypatch: pytest.MonkeyPatch
) -> None:
    real.freeze_time(monkeypatch)
    app = build_app(SessionStore(real.counting, idle_timeout=3600, absolute_timeout=3))
    client = Client(app)
    await client.post("/write", {"user": "alice"})
    created = (await client.get()).json()["created"]
    assert isinstance(created, int)
    cookie = client.cookie

    for step in range(3):  # busy all along: a request every 0.5 s, each one changing the data
        await real.elapse(0.5)
        reply = await client.post("/write", {"step": step})
        assert reply.json()["data"]["user"] == "alice"
        assert reply.json()["created"] == created  # kept server-side, never moved

    await real.elapse(1.7)  # 3.2 s after creation
    assert (await Client(app, cookie).get()).json()["data"] == {}
    assert await real.session_keys() == []


async def test_session_data_cannot_extend_the_absolute_timeout(
    real: Real, monkeypatch: pytest.MonkeyPatch
) -> None:
    real.freeze_time(monkeypatch)
    app = build_app(SessionStore(real.counting, idle_timeout=3600, absolute_timeout=2))
    client = Client(app)
    # Keys named like the metadata, with a creation time in the far future.
    await client.post("/write", {"c": 4_000_000_000, "created": 4_000_000_000, "m": {"c": 4e9}})
    await real.elapse(1)
    await client.post("/write", {"c": 4_000_000_001})
    await real.elapse(2.2)
    assert (await client.get()).json()["data"] == {}


async def test_a_remembered_session_is_still_bound_by_the_absolute_timeout(
    real: Real, monkeypatch: pytest.MonkeyPatch
) -> None:
    real.freeze_time(monkeypatch)
    app = build_app(SessionStore(real.counting, idle_timeout=3600, absolute_timeout=2))
    client = Client(app)
    reply = await client.post("/remember", {"seconds": 30 * DAY})
    assert int(reply.cookie_attributes()["max-age"]) <= 2  # the cookie does not outlive it either
    await real.elapse(2.5)
    assert (await client.get()).json()["data"] == {}


async def test_idle_and_absolute_timeouts_together(
    real: Real, monkeypatch: pytest.MonkeyPatch
) -> None:
    real.freeze_time(monkeypatch)
    app = build_app(SessionStore(real.counting, idle_timeout=1, absolute_timeout=3))

    idle = Client(app)
    await idle.post("/write", {"who": "idle"})
    busy = Client(app)
    await busy.post("/write", {"who": "busy"})

    for step in range(1, 5):  # busy: used every 0.5 s, so only the absolute timeout can end it
        await real.elapse(0.5)
        assert (await busy.get()).json()["data"] == {"who": "busy"}, f"dead at {step * 0.5} s"
        if step == 3:  # idle: 1.5 s without use, over the idle timeout
            assert (await idle.get()).json()["data"] == {}
    await real.elapse(0.5)
    await busy.get()  # 2.5 s: used once more (whole-second creation times may end it here)
    await real.elapse(0.5)
    assert (await busy.get()).json()["data"] == {}  # 3 s after creation, 0.5 s after last use


# 13. Per-session lifetime ("remember me") and browser-session cookies; Max-Age capped.


async def test_remember_me_sets_both_the_cookie_and_the_server_side_lifetime(
    real: Real, monkeypatch: pytest.MonkeyPatch
) -> None:
    real.freeze_time(monkeypatch)
    app = build_app(SessionStore(real.counting, idle_timeout=60), max_age=60)
    client = Client(app)
    await client.post("/write", {"user": "alice"})
    reply = await client.post("/remember", {"seconds": 30 * DAY})
    assert reply.cookie_attributes()["max-age"] == str(30 * DAY)
    assert client.cookie is not None
    key = app.store.storage_key(session_id(client.cookie))
    if real.redis is not None:
        assert await real.redis.ttl(key) > 29 * DAY
        assert (await client.get()).json()["data"]["user"] == "alice"
        assert await real.redis.ttl(key) > 29 * DAY  # a read keeps the longer lifetime
    else:
        await real.elapse(10 * DAY)  # far beyond the store's 60 s idle timeout
        assert (await client.get()).json()["data"]["user"] == "alice"
        await real.elapse(31 * DAY)
        assert (await client.get()).json()["data"] == {}
    # Other sessions keep the store's idle timeout.
    other = Client(app)
    assert (await other.post("/write", {"a": 1})).cookie_attributes()["max-age"] == "60"


async def test_browser_session_cookie_has_no_max_age_but_still_expires_server_side(
    real: Real, monkeypatch: pytest.MonkeyPatch
) -> None:
    real.freeze_time(monkeypatch)
    app = build_app(SessionStore(real.counting, idle_timeout=1))
    client = Client(app)
    reply = await client.post("/remember", {"seconds": None})
    attributes = reply.cookie_attributes()
    assert "max-age" not in attributes
    assert "expires" not in attributes
    await real.elapse(0.5)
    assert (await client.get()).json()["data"] == {"remember": True}
    await real.elapse(1.6)
    assert (await client.get()).json()["data"] == {}


async def test_browser_session_cookies_for_every_session(real: Real) -> None:
    app = build_app(SessionStore(real.counting), max_age=None)
    reply = await Client(app).post("/write", {"a": 1})
    attributes = reply.cookie_attributes()
    assert "max-age" not in attributes
    assert "expires" not in attributes


@pytest.mark.parametrize("seconds", [401 * DAY, 10 * 365 * DAY])
async def test_max_age_is_capped_at_400_days(real: Real, seconds: int) -> None:
    app = build_app(SessionStore(real.counting), max_age=seconds)
    reply = await Client(app).post("/write", {"a": 1})
    assert reply.cookie_attributes()["max-age"] == str(MAX_COOKIE_AGE) == str(400 * DAY)
    remembered = await Client(app).post("/remember", {"seconds": seconds})
    assert remembered.cookie_attributes()["max-age"] == str(400 * DAY)


# Durations: numbers and ``timedelta`` everywhere, normalized to whole seconds.


async def _remember(request: Request) -> Response:
    session = await load_session(request)
    lifetime = (await request.json())["lifetime"]
    session.set_lifetime(timedelta(days=30) if lifetime == "timedelta" else lifetime)
    session["remember"] = True
    return JSONResponse(dict(session))


@pytest.mark.parametrize("lifetime", [2592000.0, 2592000, "timedelta"])
async def test_a_float_or_timedelta_lifetime_is_kept_as_whole_seconds(
    real: Real, lifetime: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app(
        SessionStore(real.counting), routes=[Route("/remember-me", _remember, methods=["POST"])]
    )
    client = Client(app)
    with caplog.at_level(logging.WARNING, logger=SECURITY_LOGGER):
        reply = await client.post("/remember-me", {"lifetime": lifetime})
        assert reply.cookie_attributes()["max-age"] == "2592000"
        assert (await client.get()).json()["data"] == {"remember": True}, "not logged out"
    assert not [r for r in caplog.records if r.name == SECURITY_LOGGER]


def test_every_duration_takes_a_timedelta_and_is_checked_when_built() -> None:
    store: SessionStore[Any] = SessionStore(
        idle_timeout=timedelta(minutes=30), absolute_timeout=timedelta(hours=8.5)
    )
    assert (store.idle_timeout, store.absolute_timeout) == (1800, 30600)
    middleware = SessionMiddleware(
        build_app(SessionStore()).app, secret_key=SECRET, max_age=timedelta(days=1)
    )
    assert middleware.cookie.max_age == 86400
    for bad in ("3600", True, float("nan"), float("inf")):
        with pytest.raises((TypeError, ValueError), match="idle_timeout"):
            SessionStore(idle_timeout=bad)  # type: ignore[arg-type]


# The cookie backend's idle timeout is the configured one.


async def test_the_cookie_backend_idle_timeout_is_the_configured_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeTime(monkeypatch)
    app = build_app(SessionStore(CookieBackend(), idle_timeout=1800))
    client = Client(app)
    await client.post("/write", {"cart": ["apple"]})
    clock.advance(14 * 60)
    assert (await client.get()).json()["data"] == {"cart": ["apple"]}
    clock.advance(17 * 60)  # idle 17 minutes of a 30-minute timeout, 31 since first signed
    assert (await client.get()).json()["data"] == {"cart": ["apple"]}
    clock.advance(30 * 60 + 1)  # idle just over 30 minutes
    assert (await client.get()).json()["data"] == {}
