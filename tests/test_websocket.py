"""WebSocket sessions that save, on the memory backend and a real redis-server.

The WebSocket handler below obeys commands sent over the socket and answers each one, so every
test orders what the socket and the HTTP requests do by waiting for those answers: no sleeps.
The save at the end of a connection runs after the handler returned; a wrapper of the app
(``Ends``) tells the test when the connection's handling is over, since leaving
``websocket_connect`` cancels the app.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, WebSocket
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from starlette_session import (
    SessionConflictError,
    SessionDestroyedError,
    SessionHandle,
    SessionMiddleware,
    SessionSetupError,
    SessionStore,
    SessionWebSocketError,
    get_session,
    load_session,
)
from starlette_session.backends import CookieBackend, MemoryBackend, RedisBackend
from starlette_session.records import RETIRED
from tests.helpers import SECRET, RedisClients, make_app

# The app: HTTP routes to set, read, log in and log out; a WebSocket that obeys commands.


async def login(request: Request) -> Response:
    session = await load_session(request)
    session.regenerate()
    await session.begin_login(request.query_params["user"])
    session.set_user(request.query_params["user"])
    return JSONResponse(dict(session))


async def commands(websocket: Any) -> None:
    session = await load_session(websocket)
    await websocket.accept()
    while True:
        try:
            command = await websocket.receive_json()
        except WebSocketDisconnect:
            return
        op = command["op"]
        try:
            if op == "set":
                session[command["key"]] = command["value"]
            elif op == "save":
                await session.save()
            elif op == "refresh":
                await websocket.send_json({"current": await session.refresh()})
                continue
            elif op in ("regenerate", "destroy"):
                getattr(session, op)()
            elif op == "set_lifetime":
                session.set_lifetime(60)
            elif op == "close":
                await websocket.close()
                return
        except (SessionWebSocketError, SessionDestroyedError, SessionConflictError) as error:
            await websocket.send_json({"error": type(error).__name__, "message": str(error)})
            continue
        await websocket.send_json({"data": dict(session)})


async def careless(websocket: Any) -> None:
    """Stores each text it receives, and lets the disconnection (or an error) escape."""
    session = await load_session(websocket)
    await websocket.accept()
    while True:
        text = await websocket.receive_text()
        if text == "fail":
            session["failed"] = True
            raise RuntimeError("the handler failed")
        session["last"] = text
        await websocket.send_json(dict(session))


#: /login?user=u (regenerate and set_user, nothing stored), ``/ws`` (commands), ``/careless``;
#: plus the usual routes of ``make_app`` (/set, /get, /logout...).
SOCKET_ROUTES = [
    Route("/login", login),
    WebSocketRoute("/ws", commands),
    WebSocketRoute("/careless", careless),
]


class Ends:
    """Wraps an app: ``saved`` is set when a WebSocket connection's handling is over, the save
    at its end included."""

    def __init__(self) -> None:
        self.saved = threading.Event()

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                await app(scope, receive, send)
            finally:
                if scope["type"] == "websocket":
                    self.saved.set()

        return wrapped


@pytest.fixture
def ends() -> Ends:
    return Ends()


@pytest.fixture
def loop_clients() -> RedisClients:
    """Redis clients used in the TestClient's event loop, and closed there by ``http``."""
    return RedisClients()


@pytest.fixture(
    params=["memory", "memory-encrypted", pytest.param("redis", marks=pytest.mark.redis)]
)
def store(request: pytest.FixtureRequest, loop_clients: RedisClients) -> SessionStore[Any]:
    if request.param == "memory":
        store: SessionStore[Any] = SessionStore(MemoryBackend())
    elif request.param == "memory-encrypted":  # the same saves and merges, sealed
        pytest.importorskip("cryptography")
        from starlette_session import KeyRing, generate_key

        store = SessionStore(MemoryBackend(), encryption=KeyRing([("k1", generate_key())]))
    else:
        client = loop_clients.asyncio(request.getfixturevalue("redis_url"))
        store = SessionStore(RedisBackend(client))
    return store


@pytest.fixture
def http(store: SessionStore[Any], ends: Ends, loop_clients: RedisClients) -> Iterator[TestClient]:
    with TestClient(ends.wrap(make_app(store, routes=SOCKET_ROUTES))) as client:
        yield client
        client.portal.call(loop_clients.aclose)


def stored(http: TestClient, store: SessionStore[Any], cookie: str) -> bytes | None:
    unsigned = store.signer.unsign(cookie)
    assert unsigned is not None
    key = store.storage_key(unsigned.payload)
    backend = store.backend
    assert isinstance(backend, MemoryBackend | RedisBackend)
    assert http.portal is not None
    return http.portal.call(backend.read, key)


def send(socket: Any, op: str, **fields: Any) -> dict[str, Any]:
    socket.send_json({"op": op, **fields})
    answer: dict[str, Any] = socket.receive_json()
    return answer


def close(socket: Any, ends: Ends) -> None:
    """Have the handler close the socket, and wait for the save at the end."""
    ends.saved.clear()
    socket.send_json({"op": "close"})
    with pytest.raises(WebSocketDisconnect):
        socket.receive_json()
    assert ends.saved.wait(10)


# Saving


def test_changes_are_saved_when_the_connection_ends(http: TestClient, ends: Ends) -> None:
    http.get("/set", params={"page": "1"})
    with http.websocket_connect("/ws") as socket:
        assert send(socket, "set", key="page", value="2") == {"data": {"page": "2"}}
        close(socket, ends)
    assert http.get("/get").json() == {"page": "2"}


def test_changes_are_saved_when_the_client_goes_away(http: TestClient, ends: Ends) -> None:
    http.get("/set", params={"page": "1"})
    with http.websocket_connect("/ws") as socket:
        send(socket, "set", key="page", value="2")
        socket.close(1001)  # the handler's receive raises WebSocketDisconnect; it returns
        assert ends.saved.wait(10)
    assert http.get("/get").json() == {"page": "2"}


def test_a_disconnection_the_handler_lets_escape_still_saves(http: TestClient, ends: Ends) -> None:
    http.get("/set", params={"page": "1"})

    def talk_then_go_away() -> None:
        with http.websocket_connect("/careless") as socket:
            socket.send_text("hello")
            assert socket.receive_json() == {"page": "1", "last": "hello"}
            socket.close(1001)
            assert ends.saved.wait(10)

    with pytest.raises(WebSocketDisconnect):  # re-raised, once the session was saved
        talk_then_go_away()
    assert http.get("/get").json() == {"page": "1", "last": "hello"}


def test_an_error_in_the_handler_saves_nothing(http: TestClient) -> None:
    http.get("/set", params={"page": "1"})

    def talk_then_fail() -> None:
        with http.websocket_connect("/careless") as socket:
            socket.send_text("hello")
            socket.receive_json()
            socket.send_text("fail")
            socket.receive_json()

    with pytest.raises(RuntimeError, match="the handler failed"):
        talk_then_fail()
    assert http.get("/get").json() == {"page": "1"}  # as after a 5xx, nothing was saved


def test_strict_mode_refuses_a_concurrent_change(ends: Ends) -> None:
    store: SessionStore[Any] = SessionStore(MemoryBackend(), strict=True)
    with TestClient(ends.wrap(make_app(store, routes=SOCKET_ROUTES))) as http:
        http.get("/set", params={"page": "1"})
        with http.websocket_connect("/ws") as socket:
            send(socket, "set", key="page", value="2")
            http.get("/set", params={"theme": "dark"})
            assert send(socket, "save")["error"] == "SessionConflictError"
            close(socket, ends)
        assert http.get("/get").json() == {"page": "1", "theme": "dark"}


def test_save_writes_now_and_merges_what_http_requests_changed(
    http: TestClient, store: SessionStore[Any], ends: Ends
) -> None:
    http.get("/set", params={"page": "1", "theme": "light"})
    cookie = http.cookies["session"]
    with http.websocket_connect("/ws") as socket:
        send(socket, "set", key="page", value="2")
        http.get("/set", params={"theme": "dark"})  # an HTTP request saves while it is open

        answer = send(socket, "save")

        # Compare-and-set found another value stored: the field this socket changed was merged
        # into it, and the socket's data now shows the other request's change too.
        assert answer == {"data": {"page": "2", "theme": "dark"}}
        assert http.get("/get").json() == {"page": "2", "theme": "dark"}
        before = stored(http, store, cookie)
        close(socket, ends)
    assert stored(http, store, cookie) == before  # nothing changed since: nothing written


def test_refresh_shows_what_http_requests_changed(http: TestClient, ends: Ends) -> None:
    http.get("/set", params={"page": "1"})
    with http.websocket_connect("/ws") as socket:
        http.get("/set", params={"theme": "dark"})
        assert send(socket, "refresh") == {"current": True}
        assert send(socket, "set", key="page", value="3") == {
            "data": {"page": "3", "theme": "dark"}
        }
        close(socket, ends)
    assert http.get("/get").json() == {"page": "3", "theme": "dark"}


# Logged out (or moved to a new id) while connected


def test_a_log_out_while_connected_is_never_undone(
    http: TestClient, store: SessionStore[Any], ends: Ends
) -> None:
    store.end_live_connections = False  # the handler finds out itself (test_live.py)
    http.get("/set", params={"page": "1"})
    cookie = http.cookies["session"]
    with http.websocket_connect("/ws") as socket:
        send(socket, "set", key="page", value="2")
        http.post("/logout")  # another tab logs out; the socket is still open
        assert stored(http, store, cookie) is None

        answer = send(socket, "save")

        assert answer["error"] == "SessionDestroyedError"
        assert send(socket, "refresh") == {"current": False}
        send(socket, "set", key="page", value="3")
        assert send(socket, "save")["error"] == "SessionDestroyedError"
        close(socket, ends)
    assert stored(http, store, cookie) is None  # not resurrected, not even at the end


def test_refresh_reports_a_log_out_and_the_end_saves_nothing(
    http: TestClient, store: SessionStore[Any], ends: Ends, caplog: pytest.LogCaptureFixture
) -> None:
    store.end_live_connections = False  # the handler finds out itself (test_live.py)
    http.get("/set", params={"page": "1"})
    cookie = http.cookies["session"]
    with http.websocket_connect("/ws") as socket:
        send(socket, "set", key="page", value="2")  # not saved yet
        http.post("/logout")

        assert send(socket, "refresh") == {"current": False}

        with caplog.at_level(logging.INFO, "starlette_session"):
            send(socket, "set", key="page", value="3")
            close(socket, ends)
    assert stored(http, store, cookie) is None
    assert "ended meanwhile" in caplog.text


def test_a_log_in_elsewhere_moves_the_session_and_the_socket_finds_out(
    http: TestClient, store: SessionStore[Any], ends: Ends
) -> None:
    store.end_live_connections = False  # the handler finds out itself (test_live.py)
    http.get("/set", params={"page": "1"})
    old_cookie = http.cookies["session"]
    with http.websocket_connect("/ws") as socket:
        http.get("/login", params={"user": "alice"})  # a new id: the old entry is retired
        assert stored(http, store, old_cookie) == RETIRED

        send(socket, "set", key="page", value="2")
        assert send(socket, "save")["error"] == "SessionDestroyedError"
        assert send(socket, "refresh") == {"current": False}
        close(socket, ends)
    assert stored(http, store, old_cookie) == RETIRED
    assert http.get("/get").json() == {"page": "1"}


# What a WebSocket cannot do


@pytest.mark.parametrize(
    ("op", "advice"),
    [
        ("regenerate", "in the HTTP request that logs the user in"),
        ("destroy", "log out with an HTTP request"),
        ("set_lifetime", "call set_lifetime() in an HTTP request"),
    ],
)
def test_rotating_or_ending_the_session_raises_a_named_error(
    http: TestClient, op: str, advice: str
) -> None:
    http.get("/set", params={"page": "1"})
    with http.websocket_connect("/ws") as socket:
        answer = send(socket, op)
        assert answer["error"] == "SessionWebSocketError"
        assert advice in answer["message"]
    assert http.get("/get").json() == {"page": "1"}


def test_a_new_visitor_cannot_create_a_session_over_a_websocket(
    http: TestClient, ends: Ends, caplog: pytest.LogCaptureFixture
) -> None:
    with http.websocket_connect("/ws") as socket:
        send(socket, "set", key="page", value="1")
        answer = send(socket, "save")
        assert answer["error"] == "SessionWebSocketError"
        assert "in an HTTP request" in answer["message"]
        assert send(socket, "refresh") == {"current": False}  # nothing stored, nothing to read
        with caplog.at_level(logging.WARNING, "starlette_session"):
            close(socket, ends)
    assert "cannot create a session" in caplog.text  # the save at the end says it too
    assert "session" not in http.cookies


def test_the_cookie_backend_cannot_save_over_a_websocket() -> None:
    with TestClient(make_app(SessionStore(CookieBackend()), routes=SOCKET_ROUTES)) as http:
        http.get("/set", params={"page": "1"})
        with http.websocket_connect("/ws") as socket:
            send(socket, "set", key="page", value="2")
            answer = send(socket, "save")
        assert answer["error"] == "SessionWebSocketError"
        assert "server-side backend" in answer["message"]
        assert http.get("/get").json() == {"page": "1"}


async def test_save_and_refresh_in_an_http_request_say_they_are_for_websockets() -> None:
    store: SessionStore[Any] = SessionStore()
    errors: list[str] = []

    async def endpoint(request: Request) -> Response:
        session = await load_session(request)
        for method in (session.save, session.refresh):
            try:
                await method()
            except SessionSetupError as error:
                errors.append(str(error))
        return JSONResponse({})

    app = Starlette(routes=[Route("/", endpoint)])
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=store)
    with TestClient(app) as http:
        http.get("/")
    assert len(errors) == 2
    assert all("for WebSocket handlers" in error for error in errors)


# FastAPI: the typed dependency in a WebSocket endpoint


class Board(BaseModel):
    notes: list[str] = []


BoardSession = Annotated[Board, Depends(get_session)]


board_routes = APIRouter()


@board_routes.post("/notes")
async def add(note: str, board: BoardSession) -> Board:
    board.notes.append(note)
    return board


@board_routes.post("/logout")
async def log_out(session: SessionHandle) -> None:
    session.destroy()


@board_routes.websocket("/ws")
async def notes(websocket: WebSocket, board: BoardSession, session: SessionHandle) -> None:
    await websocket.accept()
    while True:
        try:
            text = await websocket.receive_text()
        except WebSocketDisconnect:
            return
        if text == "save":
            await session.save()
        elif text == "refresh":
            if not await session.refresh():
                await websocket.close(code=4401)  # the app's own "logged out" code
                return
        else:
            board.notes.append(text)
        await websocket.send_json(board.model_dump())


def test_the_typed_dependency_saves_and_refreshes_in_a_websocket(
    store: SessionStore[Any], ends: Ends
) -> None:
    typed_store = SessionStore(store.backend, model=Board)
    with TestClient(
        ends.wrap(make_app(typed_store, routes=board_routes.routes, fastapi=True))
    ) as http:
        http.post("/notes", params={"note": "one"})
        with http.websocket_connect("/ws") as socket:
            socket.send_text("two")
            assert socket.receive_json() == {"notes": ["one", "two"]}
            socket.send_text("save")
            socket.receive_json()
            assert http.post("/notes", params={"note": "three"}).json() == {
                "notes": ["one", "two", "three"]
            }
            socket.send_text("refresh")  # the typed view shows the HTTP request's change
            assert socket.receive_json() == {"notes": ["one", "two", "three"]}
            socket.send_text("four")
            assert socket.receive_json() == {"notes": ["one", "two", "three", "four"]}
            ends.saved.clear()
            socket.close(1000)
            assert ends.saved.wait(10)
        assert http.post("/notes", params={"note": "five"}).json()["notes"][-2:] == [
            "four",
            "five",
        ]

        with http.websocket_connect("/ws") as socket:
            http.post("/logout")
            socket.send_text("refresh")
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_json()
            assert closed.value.code == 4401
        backend = typed_store.backend
        if isinstance(backend, RedisBackend):
            http.portal.call(backend.client.aclose)
