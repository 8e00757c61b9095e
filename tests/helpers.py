"""Shared test helpers: a small real ISessionBackend, a manual clock, a Redis command counter, the
one factory of Redis-protocol clients (``RedisClients``) and the one factory of test apps
(``make_app``).

Nothing here fakes a backend: the ISessionBackend below is a complete in-memory implementation of
the original interface, and Redis commands are counted by the Redis server itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from starlette_session import SessionMiddleware, SessionStore, load_session
from starlette_session.backends import MemoryBackend
from starlette_session.interfaces import ISessionBackend
from starlette_session.records import RETIRED

if TYPE_CHECKING:
    import redis
    import redis.asyncio
    from fastapi import FastAPI

__all__ = [
    "ORIGINAL_README_ROUTES",
    "ROUTES",
    "SECRET",
    "CommandCounter",
    "DictSessionBackend",
    "ManualClock",
    "RedisClients",
    "cookie_attributes",
    "http_client",
    "make_app",
    "original_app",
    "session_cookie",
    "set_cookie_headers",
]

SECRET = "a-test-secret-that-is-long-enough-to-not-warn"

_Client = TypeVar("_Client")


def live_entries(backend: MemoryBackend) -> int:
    """How many entries of a memory backend hold something usable: an entry a log-in moved to a
    new id holds ``RETIRED`` for a minute, and is not counted."""
    return sum(1 for key in list(backend._entries) if backend._entries[key][0] != RETIRED)


def usable(backend: MemoryBackend, key: str) -> bool:
    """Whether ``key`` of a memory backend holds a session (not absent, not retired)."""
    entry = backend._entries.get(key)
    return entry is not None and entry[0] != RETIRED


class ManualClock:
    """A monotonic clock the test moves forward by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class DictSessionBackend(ISessionBackend):
    """A complete backend of the original interface, kept in a dict, with expiry."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.entries: dict[str, tuple[dict[str, Any], float]] = {}

    async def get(self, key: str) -> dict[str, Any] | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry[1] <= self.clock():
            del self.entries[key]
            return None
        return entry[0]

    async def set(self, key: str, value: dict[str, Any], exp: int | None) -> None:
        self.entries[key] = (value, self.clock() + exp if exp is not None else float("inf"))

    async def delete(self, key: str) -> None:
        self.entries.pop(key, None)


class CommandCounter:
    """Counts the commands a Redis server executed, from its own ``INFO commandstats``.

    Redis counts the commands a Lua script runs as well (``get`` and ``set`` inside ``evalsha``),
    so callers compare whole deltas and say which entries come from the script. The ``info``
    commands this counter sends are left out.
    """

    def __init__(self, url: str) -> None:
        import redis

        self._client: redis.Redis = redis.Redis.from_url(url)
        self._client.ping()  # connect now, so the connection's own setup is not counted later
        self._before = self._calls()

    def _calls(self) -> dict[str, int]:
        stats: Mapping[str, Mapping[str, int]] = self._client.info("commandstats")
        return {
            name.removeprefix("cmdstat_"): int(values["calls"])
            for name, values in stats.items()
            if name != "cmdstat_info"
        }

    def reset(self) -> None:
        """Start counting from now."""
        self._before = self._calls()

    def delta(self) -> dict[str, int]:
        """The commands executed since the last ``reset`` (or since this counter was built)."""
        after = self._calls()
        changed = {
            name: calls - self._before.get(name, 0)
            for name, calls in after.items()
            if calls != self._before.get(name, 0)
        }
        self._before = after
        return changed

    def close(self) -> None:
        self._client.close()


class RedisClients:
    """The one factory of Redis-protocol clients in the tests, on a server's URL.

    redis-py's asyncio, sync and cluster clients, and valkey-py's asyncio client (which
    ``RedisBackend`` takes too); ``keep`` adopts a client built elsewhere. ``aclose()`` closes
    every client, newest first; the ``redis_clients`` fixture does that at the end of the test.
    A client used inside a ``TestClient`` lives in that client's event loop: close it there
    (``test_client.portal.call(clients.aclose)``).
    """

    def __init__(self) -> None:
        self._made: list[Any] = []

    def keep(self, client: _Client) -> _Client:
        """Close ``client`` with the others."""
        self._made.append(client)
        return client

    def asyncio(self, url: str, **options: Any) -> redis.asyncio.Redis:
        import redis.asyncio

        return self.keep(redis.asyncio.Redis.from_url(url, **options))

    def sync(self, url: str, *, threads: set[int] | None = None, **options: Any) -> redis.Redis:
        """A sync ``redis.Redis``; with ``threads``, its connections note the thread of every
        command they send there."""
        import redis

        if threads is None:
            return self.keep(redis.Redis.from_url(url, **options))
        noted = threads

        class ThreadRecordingConnection(redis.Connection):
            def send_packed_command(self, command: Any, check_health: bool = True) -> None:
                noted.add(threading.get_ident())
                super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]

        pool = redis.ConnectionPool.from_url(
            url, connection_class=ThreadRecordingConnection, **options
        )
        return self.keep(redis.Redis(connection_pool=pool))

    def cluster(self, url: str, **options: Any) -> redis.asyncio.RedisCluster:
        import redis.asyncio

        return self.keep(redis.asyncio.RedisCluster.from_url(url, **options))

    def valkey(self, url: str, **options: Any) -> Any:
        """valkey-py's asyncio client (redis-py's fork); skips the test without valkey-py."""
        import pytest

        valkey_asyncio = pytest.importorskip("valkey.asyncio")
        return self.keep(valkey_asyncio.Valkey.from_url(url, **options))

    async def aclose(self) -> None:
        while self._made:
            client = self._made.pop()
            if hasattr(client, "aclose"):
                await client.aclose()
            else:
                client.close()
                client.connection_pool.disconnect()


def http_client(
    app: ASGIApp, base_url: str = "http://testserver", *, raise_app_exceptions: bool = True
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that calls ``app`` in-process (use it in ``async with``)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url=base_url)


def set_cookie_headers(response: httpx.Response) -> list[str]:
    """Every ``Set-Cookie`` header of a response, in order."""
    return response.headers.get_list("set-cookie")


def session_cookie(response: httpx.Response, name: str = "session") -> str | None:
    """The value the response's ``Set-Cookie`` gives the session cookie, or None if not set."""
    for header in set_cookie_headers(response):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            return cookie[name].value
    return None


def cookie_attributes(response: httpx.Response, name: str = "session") -> dict[str, str]:
    """The attributes of the session ``Set-Cookie`` header, lower-cased names; flags map to ''."""
    for header in set_cookie_headers(response):
        first, *attributes = (part.strip() for part in header.split(";"))
        if first.startswith(f"{name}="):
            result = {}
            for attribute in attributes:
                key, _, value = attribute.partition("=")
                result[key.lower()] = value
            return result
    raise AssertionError(f"no Set-Cookie for {name!r} in {set_cookie_headers(response)}")


# The usual routes of a test app (``ROUTES``)


async def _set(request: Request) -> Response:
    session = await load_session(request)
    session.update(request.query_params)
    return JSONResponse(dict(session))


async def _get(request: Request) -> Response:
    session = await load_session(request)
    return JSONResponse(dict(session))


async def _clear(request: Request) -> Response:
    session = await load_session(request)
    session.clear()
    return JSONResponse(dict(session))


async def _unused(request: Request) -> Response:
    return PlainTextResponse("no session here")


def _sync_get(request: Request) -> Response:
    return JSONResponse(dict(request.session))


def _sync_set(request: Request) -> Response:
    request.session.update(request.query_params)
    return JSONResponse(dict(request.session))


async def _login(request: Request) -> Response:
    session = await load_session(request)
    session.regenerate()
    session.set_user(request.query_params["user"])
    session["user"] = request.query_params["user"]
    return JSONResponse(dict(session))


async def _regenerate(request: Request) -> Response:
    session = await load_session(request)
    session.regenerate()
    return JSONResponse(dict(session))


async def _destroy(request: Request) -> Response:
    (await load_session(request)).destroy()
    return JSONResponse({})


async def _revoke_others(request: Request) -> Response:
    session = await load_session(request)
    store: SessionStore[Any] = request.app.state.store
    return JSONResponse(await store.revoke_user_sessions(session["user"], keep=session))


async def _health(request: Request) -> Response:
    return PlainTextResponse("ok")


async def _increment(request: Request) -> Response:
    session = await load_session(request)
    session["count"] = session.get("count", 0) + 1
    return JSONResponse({"count": session["count"]})


async def _set_field(request: Request) -> Response:
    """``POST /fields/{name}?value=v``: load, set one field."""
    session = await load_session(request)
    session[request.path_params["name"]] = request.query_params.get("value", "1")
    return JSONResponse({})


async def _delete_field(request: Request) -> Response:
    session = await load_session(request)
    session.pop(request.path_params["name"], None)
    return JSONResponse({})


#: ``/set?k=v`` stores the query parameters, ``/get`` (and ``/session``) returns the session,
#: ``/clear`` empties it, ``/unused`` and ``/health`` never touch it; ``/sync-get`` (and
#: ``/sync-session``) and ``/sync-set`` do the same from sync endpoints. ``/login?user=u``
#: regenerates, calls ``set_user(u)`` and stores ``user``; ``/regenerate``; ``/logout`` and
#: ``/destroy`` destroy (GET or POST); ``/revoke-others`` revokes the other sessions of the
#: stored ``user``. ``POST /increment`` adds one to ``count``; ``POST /fields/{name}?value=v``
#: sets one field and ``DELETE /fields/{name}`` deletes it.
ROUTES: list[BaseRoute] = [
    Route("/set", _set),
    Route("/get", _get),
    Route("/session", _get),
    Route("/clear", _clear),
    Route("/unused", _unused),
    Route("/health", _health),
    Route("/sync-get", _sync_get),
    Route("/sync-session", _sync_get),
    Route("/sync-set", _sync_set),
    Route("/login", _login),
    Route("/regenerate", _regenerate),
    Route("/logout", _destroy, methods=["GET", "POST"]),
    Route("/destroy", _destroy, methods=["GET", "POST"]),
    Route("/revoke-others", _revoke_others),
    Route("/increment", _increment, methods=["POST"]),
    Route("/fields/{name}", _set_field, methods=["POST"]),
    Route("/fields/{name}", _delete_field, methods=["DELETE"]),
]


@overload
def make_app(
    store: SessionStore[Any] | None = None,
    *,
    routes: Sequence[BaseRoute] = (),
    fastapi: Literal[True],
    original_api: bool = False,
    **middleware: Any,
) -> FastAPI: ...


@overload
def make_app(
    store: SessionStore[Any] | None = None,
    *,
    routes: Sequence[BaseRoute] = (),
    fastapi: bool = False,
    original_api: bool = False,
    **middleware: Any,
) -> Starlette: ...


def make_app(
    store: SessionStore[Any] | None = None,
    *,
    routes: Sequence[BaseRoute] = (),
    fastapi: bool = False,
    original_api: bool = False,
    **middleware: Any,
) -> Starlette:
    """The one factory of the suite's apps: ``routes``, then ``ROUTES``, behind
    ``SessionMiddleware``.

    A Starlette app, or a FastAPI app with ``fastapi=True`` (its routes from an ``APIRouter``).
    The middleware gets ``secret_key=SECRET`` unless given, and ``store``: a ``SessionStore``
    over a fresh ``MemoryBackend`` when None, none at all with ``original_api=True`` (the 0.4.3
    API, or Starlette's signature: configured through the middleware's own arguments).
    ``app.state.store`` is the store.
    """
    app: Starlette
    if fastapi:
        from fastapi import FastAPI  # here: the core install's run (tox -e noextras) has none

        app = FastAPI(routes=[*routes, *ROUTES])
    else:
        app = Starlette(routes=[*routes, *ROUTES])
    middleware.setdefault("secret_key", SECRET)
    if not original_api:
        app.state.store = middleware["store"] = store if store is not None else SessionStore()
    app.add_middleware(SessionMiddleware, **middleware)
    return app


# The original README's app (typed copies of tests/original_readme_example.py's routes)


async def _setup_session(request: Request) -> JSONResponse:
    request.session.update({"data": "session_data"})
    return JSONResponse({"session": request.session})


async def _clear_session(request: Request) -> JSONResponse:
    request.session.clear()
    return JSONResponse({"session": request.session})


def _view_session(request: Request) -> JSONResponse:
    return JSONResponse({"session": request.session})


ORIGINAL_README_ROUTES: list[BaseRoute] = [
    Route("/setup_session", endpoint=_setup_session),
    Route("/clear_session", endpoint=_clear_session),
    Route("/view_session", endpoint=_view_session),
]


def original_app(**middleware: Any) -> Starlette:
    """``make_app`` with the original README's routes, through the original API
    (``SessionMiddleware(**middleware)``, cookie ``cookie22`` unless given)."""
    middleware.setdefault("cookie_name", "cookie22")
    app: Starlette = make_app(routes=ORIGINAL_README_ROUTES, original_api=True, **middleware)
    return app
