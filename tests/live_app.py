"""The application of the live-connection tests (``tests/test_live.py``, in-process, and
``tests/test_live_workers.py``, under ``uvicorn --workers 4``).

HTTP: ``/login?user=u`` (a new id bound to ``u``), ``/put`` (an anonymous session),
``/logout``, ``/revoke?user=u`` (every session of ``u``), ``/revoke-one?user=u&key=k``,
``/key`` (this session's store key), ``/stream`` (a line every 50 ms until the session ends).
WebSockets: ``/ws`` loads its session, sends ``{"pid": ...}``, answers each text with
``{"echo": text}``, and says ``{"bye": reason}`` from its ``on_end`` hook; ``/plain`` never
touches its session. ``build_app(store)`` makes it; ``app`` is the one uvicorn serves, its
store chosen by ``$LIVE_BACKEND`` and ``$LIVE_URL``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from starlette_session import SessionMiddleware, SessionStore, load_session
from starlette_session.backends import MemoryBackend, SessionBackend
from starlette_session.websocket import WebSocketSession

SECRET = "a-secret-of-forty-characters-0123456789ab"


async def login(request: Request) -> Response:
    session = await load_session(request)
    user = request.query_params["user"]
    await session.begin_login(user)
    session.regenerate()
    session.set_user(user)
    session["user"] = user
    return JSONResponse({"pid": os.getpid()})


async def logout(request: Request) -> Response:
    session = await load_session(request)
    session.destroy()
    return JSONResponse({"pid": os.getpid()})


async def revoke(request: Request) -> Response:
    store: SessionStore[Any] = request.app.state.store
    ended = await store.revoke_user_sessions(request.query_params["user"])
    return JSONResponse({"ended": ended, "pid": os.getpid()})


async def revoke_one(request: Request) -> Response:
    store: SessionStore[Any] = request.app.state.store
    params = request.query_params
    return JSONResponse({"ended": await store.revoke_session(params["user"], params["key"])})


async def put(request: Request) -> Response:
    session = await load_session(request)
    session["n"] = request.query_params.get("n", "1")
    return JSONResponse({"pid": os.getpid()})


async def key(request: Request) -> Response:
    session = await load_session(request)
    return PlainTextResponse(session.state.store_key or "")


async def stream(request: Request) -> Response:
    session = await load_session(request)
    ended = await session.ended_event()

    async def lines() -> AsyncIterator[str]:
        count = 0
        while not ended.is_set():
            yield f"{count}\n"
            count += 1
            with anyio.move_on_after(0.05):
                await ended.wait()
        yield "ended\n"

    return StreamingResponse(lines(), media_type="text/plain")


async def socket(websocket: WebSocket) -> None:
    session = await load_session(websocket)

    async def bye(reason: str) -> None:
        await websocket.send_json({"bye": reason})

    assert isinstance(session, WebSocketSession)
    session.on_end(bye)
    await websocket.accept()
    await websocket.send_json({"pid": os.getpid(), "user": session.get("user")})
    while True:
        try:
            text = await websocket.receive_text()
        except WebSocketDisconnect:
            return
        await websocket.send_json({"echo": text})


async def plain(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"pid": os.getpid()})
    while True:
        try:
            text = await websocket.receive_text()
        except WebSocketDisconnect:
            return
        await websocket.send_json({"echo": text})


ROUTES = [
    Route("/login", login),
    Route("/logout", logout, methods=["POST"]),
    Route("/revoke", revoke, methods=["POST"]),
    Route("/revoke-one", revoke_one, methods=["POST"]),
    Route("/key", key),
    Route("/put", put),
    Route("/stream", stream),
    WebSocketRoute("/ws", socket),
    WebSocketRoute("/plain", plain),
]


def build_app(store: SessionStore[Any], lifespan: Any = None) -> Starlette:
    app = Starlette(routes=ROUTES, lifespan=lifespan)
    app.state.store = store
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=store)
    return app


def _backend() -> tuple[SessionBackend, Any]:
    """The backend ``$LIVE_BACKEND`` names, and what to close at shutdown."""
    kind, url = os.environ.get("LIVE_BACKEND", "memory"), os.environ.get("LIVE_URL", "")
    if kind in ("redis", "valkey"):
        import redis.asyncio

        from starlette_session.backends import RedisBackend

        client = redis.asyncio.Redis.from_url(url)
        return RedisBackend(client), client
    if kind == "cluster":
        import redis.asyncio

        from starlette_session.backends import RedisBackend

        cluster = redis.asyncio.RedisCluster.from_url(url)
        return RedisBackend(cluster), cluster
    if kind in ("postgres", "sqlite"):
        from sqlalchemy.ext.asyncio import create_async_engine

        from starlette_session.backends import SQLBackend

        name = os.environ.get("LIVE_APP_NAME", "live")
        options = {"server_settings": {"application_name": name}} if kind == "postgres" else {}
        engine = create_async_engine(url, connect_args=options)
        return SQLBackend(engine, table=os.environ["LIVE_TABLE"]), engine
    return MemoryBackend(), None


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    closing = app.state.closing
    if closing is not None:
        await (closing.dispose() if hasattr(closing, "dispose") else closing.aclose())


def _served_app() -> Starlette:
    backend, closing = _backend()
    recheck = int(os.environ.get("LIVE_RECHECK", "30"))
    served = build_app(SessionStore(backend, live_recheck_interval=recheck), _lifespan)
    served.state.closing = closing
    return served


app = _served_app() if os.environ.get("LIVE_BACKEND") else build_app(SessionStore())
