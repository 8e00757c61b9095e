"""The policy at the user cap: ``SessionStore(max_user_sessions=N, at_user_cap="refuse")``.

Over HTTP on every server-side backend (memory, Redis, SQLite, PostgreSQL, MariaDB, memcached):
40 log-ins of one user at once never leave more than the cap alive and are never refused while
under it; the refusal is decided in the same compare-and-set of the user's index that lists the
new session.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from starlette_session import SessionLimitError, SessionStore, load_session
from starlette_session.backends import MemoryBackend, SessionBackend
from tests.helpers import RedisClients
from tests.security.conftest import Client, CountingBackend, FakeTime, build_app

CAP = 5


async def _careful_login(request: Request) -> Response:
    # What an application does: the refusal comes from begin_login, before the password check
    # (a log-in that reached the cap meanwhile is refused at commit: SessionMiddleware's 403).
    session = await load_session(request)
    try:
        await session.begin_login("bob")
    except SessionLimitError:
        return PlainTextResponse("sign out on another device first", status_code=403)
    session.regenerate()
    session.set_user("bob")
    session["user"] = "bob"
    return JSONResponse({"user": "bob"})


CAREFUL = [Route("/careful", _careful_login, methods=["POST"])]

SERVER_BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
    pytest.param("memcached", id="memcached", marks=pytest.mark.memcached),
]


@pytest.fixture(params=SERVER_BACKENDS)
async def server_backend(
    request: pytest.FixtureRequest, redis_clients: RedisClients, tmp_path: Path
) -> AsyncIterator[SessionBackend]:
    kind = request.param
    if kind == "memory":
        yield MemoryBackend(clock=lambda: time.time())
    elif kind == "redis":
        from starlette_session.backends import RedisBackend

        client = redis_clients.asyncio(request.getfixturevalue("redis_url"))
        yield RedisBackend(client)
    elif kind == "memcached":
        aiomcache = pytest.importorskip("aiomcache")
        from starlette_session.backends import MemcachedBackend

        mc = aiomcache.Client(*request.getfixturevalue("memcached_address"))
        try:
            yield MemcachedBackend(mc)
        finally:
            await mc.close()
    else:
        pytest.importorskip("sqlalchemy")
        from tests.sql_support import database_url, sql_backend, sqlite_url

        url = sqlite_url(tmp_path / "s.db") if kind == "sqlite" else database_url(kind)
        async with sql_backend(url, clock=lambda: time.time()) as sql:
            yield sql


def refusing(backend: SessionBackend, **options: Any) -> SessionStore[Any]:
    return SessionStore(backend, max_user_sessions=CAP, at_user_cap="refuse", **options)


async def signed_in(clients: list[Client]) -> list[Client]:
    users = [(await client.get()).json()["user"] for client in clients]
    return [client for client, user in zip(clients, users, strict=True) if user == "bob"]


async def test_forty_log_ins_at_once_never_pass_the_cap_nor_are_refused_under_it(
    server_backend: SessionBackend,
) -> None:
    app = build_app(refusing(server_backend), routes=CAREFUL)
    clients = [Client(app) for _ in range(40)]

    replies = await asyncio.gather(*(c.post("/careful") for c in clients))

    statuses = sorted(reply.status for reply in replies)
    assert statuses == [200] * CAP + [403] * (40 - CAP), statuses
    bodies = {reply.body for reply in replies if reply.status == 403}
    assert bodies <= {
        b"sign out on another device first",
        b"This account is signed in on too many devices. Sign out on one, then try again.",
    }
    winners = await signed_in(clients)
    assert len(winners) == CAP
    assert len(await app.store.user_sessions("bob")) == CAP

    # Two log out: a second wave of 40 fills exactly the two places, no more, no fewer.
    for client in winners[:2]:
        assert (await client.post("/logout")).status == 200
    wave = [Client(app) for _ in range(40)]
    replies = await asyncio.gather(*(c.post("/careful") for c in wave))
    assert sorted(r.status for r in replies) == [200] * 2 + [403] * 38
    assert len(await signed_in([*clients, *wave])) == CAP
    assert len(await app.store.user_sessions("bob")) == CAP


async def test_the_default_still_ends_the_oldest(server_backend: SessionBackend) -> None:
    app = build_app(SessionStore(server_backend, max_user_sessions=CAP))
    clients = [Client(app) for _ in range(CAP + 2)]
    for client in clients:
        assert (await client.post("/login", {"user": "bob"})).status == 200
    assert await signed_in(clients) == clients[2:]


async def test_the_refusal_comes_from_begin_login_where_the_app_can_show_a_page(
    server_backend: SessionBackend,
) -> None:
    counting = CountingBackend(server_backend)
    app = build_app(refusing(counting), routes=CAREFUL)
    for _ in range(CAP):
        assert (await Client(app).post("/careful")).status == 200
    visitor = Client(app)
    await visitor.post("/write", {"cart": ["tea"]})
    counting.calls.clear()

    reply = await visitor.post("/careful")

    assert reply.body == b"sign out on another device first"
    assert reply.session_cookie() is None  # nothing written: the visitor keeps the cart
    assert [name for name in counting.names() if name != "read"] == []
    assert (await visitor.get()).json()["data"] == {"cart": ["tea"]}
    assert (await visitor.get()).json()["user"] is None


async def test_a_log_in_again_on_a_device_at_the_cap_is_not_refused(
    server_backend: SessionBackend,
) -> None:
    app = build_app(refusing(server_backend), routes=CAREFUL)
    clients = [Client(app) for _ in range(CAP)]
    for client in clients:
        await client.post("/careful")
    for client in clients:  # each device signs in again: it replaces its own session
        assert (await client.post("/careful")).status == 200
        assert (await client.post("/regenerate")).status == 200
    assert len(await signed_in(clients)) == CAP
    assert (await Client(app).post("/careful")).status == 403


async def test_sessions_that_ended_without_a_log_out_do_not_count(
    server_backend: SessionBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Expired (idle timeout 1 s) sessions hold no place, however recently they were listed.
    real_time = (
        not isinstance(server_backend, MemoryBackend) and "SQL" not in type(server_backend).__name__
    )
    clock = None if real_time else FakeTime(monkeypatch)
    app = build_app(refusing(server_backend, idle_timeout=1), routes=CAREFUL)
    for _ in range(CAP):
        assert (await Client(app).post("/careful")).status == 200
    assert (await Client(app).post("/careful")).status == 403
    if clock is not None:
        clock.advance(2.5)
    else:
        await asyncio.sleep(2.5)
    assert (await Client(app).post("/careful")).status == 200


async def test_refusing_costs_no_backend_call_under_the_cap(server_backend: SessionBackend) -> None:
    costs = {}
    for policy in ("end_oldest", "refuse"):
        counting = CountingBackend(server_backend)
        app = build_app(SessionStore(counting, max_user_sessions=CAP, at_user_cap=policy))
        for _ in range(CAP - 1):
            await Client(app).post("/login", {"user": policy})
        counting.calls.clear()
        await Client(app).post("/login", {"user": policy})
        costs[policy] = counting.names()
    assert costs["refuse"] == costs["end_oldest"]


def test_the_policy_is_checked() -> None:
    with pytest.raises(ValueError, match="at_user_cap"):
        SessionStore(at_user_cap="drop")  # type: ignore[arg-type]
    assert SessionLimitError("x").status_code == 403
