"""Shared test helpers: a small real ISessionBackend, a manual clock, a Redis command counter and
a Starlette app whose routes exercise the session the usual ways.

Nothing here fakes a backend: the ISessionBackend below is a complete in-memory implementation of
the original interface, and Redis commands are counted by the Redis server itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from starlette_session import SessionMiddleware, SessionStore, load_session
from starlette_session.backends import MemoryBackend
from starlette_session.interfaces import ISessionBackend
from starlette_session.records import RETIRED

if TYPE_CHECKING:
    import redis

__all__ = [
    "SECRET",
    "CommandCounter",
    "DictSessionBackend",
    "ManualClock",
    "cookie_attributes",
    "make_app",
    "make_login_app",
    "session_cookie",
    "set_cookie_headers",
]

SECRET = "a-test-secret-that-is-long-enough-to-not-warn"


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


def make_app(store: SessionStore[Any] | None = None, **middleware: Any) -> Starlette:
    """An app with ``SessionMiddleware`` and routes that use the session in the usual ways.

    ``/set?k=v`` stores the query parameters, ``/get`` returns the session, ``/clear`` empties
    it, ``/unused`` never touches it; ``/sync-get`` and ``/sync-set`` do the same from sync
    endpoints. Without ``store``, a ``SessionStore`` over a fresh ``MemoryBackend`` is used.
    """
    app = Starlette(
        routes=[
            Route("/set", _set),
            Route("/get", _get),
            Route("/clear", _clear),
            Route("/unused", _unused),
            Route("/sync-get", _sync_get),
            Route("/sync-set", _sync_set),
        ]
    )
    middleware.setdefault("secret_key", SECRET)
    app.add_middleware(
        SessionMiddleware, store=store if store is not None else SessionStore(), **middleware
    )
    return app


async def _login(request: Request) -> Response:
    session = await load_session(request)
    session.regenerate()
    session.set_user(request.query_params["user"])
    session["user"] = request.query_params["user"]
    return JSONResponse(dict(session))


def make_login_app(store: SessionStore[Any], **middleware: Any) -> Starlette:
    """:func:`make_app`'s routes and ``/login?user=u``: a new id, indexed for the user."""
    app = make_app(store, **middleware)
    app.router.routes.append(Route("/login", _login))
    return app
