"""``request.session.clear()``: a log-out for a user's session, "empty the data" for the others.

Starlette's and starsessions' applications log out with ``request.session.clear()``, often
followed by a flash message. A session that belongs to a user (``set_user``) therefore ends as
with ``destroy()``: the stored entry is deleted and leaves the user's list, and what the handler
writes afterwards starts a new session with a new id and no user, so the cookie from before the
log-out opens nothing. A session without a user is emptied as a dict is: it keeps its id, and
what is written after ``clear()`` is stored under it. Over HTTP, on memory, Redis, SQLite and
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from starlette_session import SessionStore, load_session
from starlette_session.backends import MemoryBackend, SessionBackend
from tests.helpers import (
    RedisClients,
    cookie_attributes,
    http_client,
    make_app,
    session_cookie,
)
from tests.sql_support import database_url, sql_backend, sqlite_url


async def _clear_then_flash(request: Request) -> Response:
    session = await load_session(request)
    session.clear()
    session["flash"] = "you are logged out"
    return JSONResponse(dict(session))


async def _whoami(request: Request) -> Response:
    session = await load_session(request)
    return JSONResponse({"user": session.user_id, "data": dict(session)})


async def _alice_sessions(request: Request) -> Response:
    store: SessionStore[Any] = request.app.state.store
    return JSONResponse(len(await store.user_sessions("alice")))


async def _ws_clear(websocket: WebSocket) -> None:
    await websocket.accept()
    session = await load_session(websocket)
    session.clear()
    session["note"] = "cleared"
    await websocket.send_json({"user": session.user_id})
    await websocket.close()


ROUTES = [
    Route("/clear-then-flash", _clear_then_flash),
    Route("/whoami", _whoami),
    Route("/alice-sessions", _alice_sessions),
]


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def backend_kind(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        request.getfixturevalue("redis_url")  # starts the server, or skips
    return str(request.param)


@pytest.fixture
async def server_backend(
    backend_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SessionBackend]:
    if backend_kind == "memory":
        yield MemoryBackend()
    elif backend_kind == "redis":
        from starlette_session.backends import RedisBackend

        clients = RedisClients()
        try:
            yield RedisBackend(clients.asyncio(request.getfixturevalue("redis_url")))
        finally:
            await clients.aclose()
    else:
        url = sqlite_url(tmp_path / "sessions.db") if backend_kind == "sqlite" else None
        async with sql_backend(url or database_url(backend_kind)) as backend:
            yield backend


def _client(store: SessionStore[Any]) -> httpx.AsyncClient:
    return http_client(make_app(store, routes=ROUTES))


async def _logged_in(client: httpx.AsyncClient) -> str:
    response = await client.get("/login", params={"user": "alice"})
    cookie = session_cookie(response)
    assert cookie
    return cookie


async def _as(client: httpx.AsyncClient, cookie: str, path: str) -> httpx.Response:
    client.cookies.clear()
    client.cookies.set("session", cookie)
    return await client.get(path)


async def test_clear_then_a_write_logs_the_user_out_under_a_new_id(
    server_backend: SessionBackend,
) -> None:
    store: SessionStore[Any] = SessionStore(server_backend)
    async with _client(store) as client:
        before = await _logged_in(client)
        assert len(await store.user_sessions("alice")) == 1

        response = await client.get("/clear-then-flash")
        assert response.json() == {"flash": "you are logged out"}
        after = session_cookie(response)
        assert after
        assert after != before
        assert response.headers.get("clear-site-data") == '"cache"'  # a log-out's headers

        # The cookie from before the log-out opens nothing: no user, no data.
        assert (await _as(client, before, "/whoami")).json() == {"user": None, "data": {}}
        assert await store.user_sessions("alice") == []
        # The new cookie holds the message, in a session of no one.
        assert (await _as(client, after, "/whoami")).json() == {
            "user": None,
            "data": {"flash": "you are logged out"},
        }


async def test_clear_alone_ends_a_users_session_and_expires_its_cookie(
    server_backend: SessionBackend,
) -> None:
    store: SessionStore[Any] = SessionStore(server_backend)
    async with _client(store) as client:
        before = await _logged_in(client)

        response = await client.get("/clear")
        assert response.json() == {}
        assert cookie_attributes(response)["max-age"] == "0"  # the cookie is expired

        assert (await _as(client, before, "/whoami")).json() == {"user": None, "data": {}}
        assert await store.user_sessions("alice") == []


async def test_clear_of_a_session_without_a_user_empties_it_as_a_dict_does(
    server_backend: SessionBackend,
) -> None:
    store: SessionStore[Any] = SessionStore(server_backend)
    async with _client(store) as client:
        first = await client.get("/set", params={"cart": "3 apples"})
        before = session_cookie(first)
        assert before

        response = await client.get("/clear-then-flash")
        assert response.json() == {"flash": "you are logged out"}
        assert "clear-site-data" not in response.headers  # nothing was logged out

        # The same session, under the same cookie: only what was written after clear().
        assert (await _as(client, before, "/whoami")).json() == {
            "user": None,
            "data": {"flash": "you are logged out"},
        }


def test_clear_over_a_websocket_forgets_the_user_and_keeps_the_session() -> None:
    """A WebSocket cannot expire the cookie: the session stays, emptied and of no one."""
    app = make_app(
        SessionStore(MemoryBackend()), routes=[*ROUTES, WebSocketRoute("/ws", _ws_clear)]
    )
    with TestClient(app) as client:
        client.get("/login", params={"user": "alice"})
        assert client.get("/alice-sessions").json() == 1
        with client.websocket_connect("/ws") as websocket:
            assert websocket.receive_json() == {"user": None}
        assert client.get("/whoami").json() == {"user": None, "data": {"note": "cleared"}}
        assert client.get("/alice-sessions").json() == 0
