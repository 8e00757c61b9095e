"""Fixtures for the security suite: real backends, a call-counting wrapper and an in-process client.

- ``real`` (parametrized memory / Redis / Valkey / SQLite / PostgreSQL / MariaDB): a real backend, a
  :class:`CountingBackend` around it (the store talks to the wrapper, so every backend call is
  seen) and direct access to what is stored. On Redis, ``real.redis_commands()`` reads the
  server's own ``INFO commandstats``, and on SQL ``real.sql_statements()`` counts the statements
  the engine sent, so "no backend call" is checked below the wrapper too.
- :func:`build_app` wraps a small Starlette app, whose routes use the session the usual ways, in
  ``SessionMiddleware``; :class:`Client` calls it in-process (no threads, no cookie jar surprises:
  it keeps one session cookie and the test sees every raw header).

Nothing here replaces a backend: the wrapper only counts calls and delegates each one to the real
backend underneath.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message

from starlette_session import SessionMiddleware, SessionStore, load_session
from starlette_session.backends import MemoryBackend, Replaced, SessionBackend
from tests.helpers import RedisClients

if TYPE_CHECKING:
    import redis.asyncio

    from starlette_session.backends.sql import SQLBackend
    from tests.sql_support import StatementCounter

__all__ = [
    "OLD_SECRET",
    "SECRET",
    "Client",
    "CountingBackend",
    "FakeTime",
    "Real",
    "Reply",
    "asgi_request",
    "build_app",
    "redis_command_counts",
    "session_id",
    "store_factory",
]

SECRET = "security-suite-secret-0123456789-abcdefghijklmnop"
OLD_SECRET = "security-suite-old-secret-9876543210-zyxwvutsrqpo"
SECURITY_LOGGER = "starlette_session.security"
#: Commands a connection sends by itself, or that the test sends to inspect the server.
_NOT_SESSION_COMMANDS = ("info", "client|setinfo", "hello", "ping", "select", "dbsize", "keys")


class CountingBackend(SessionBackend):
    """Records every call, then delegates it to a real backend. Replaces nothing."""

    def __init__(self, inner: SessionBackend) -> None:
        self.inner = inner
        self.timeout = inner.timeout  # bounded as the backend it counts, not by the default
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        self.calls.append(("read", (key, ttl)))
        return await self.inner.read(key, ttl)

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        self.calls.append(("create", (key, value, ttl)))
        return await self.inner.create(key, value, ttl, logged_in=logged_in)

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        self.calls.append(("replace", (key, expected, value, ttl)))
        return await self.inner.replace(key, expected, value, ttl, logged_in=logged_in)

    async def expire(self, key: str, ttl: int) -> None:
        self.calls.append(("expire", (key, ttl)))
        await self.inner.expire(key, ttl)

    async def delete(self, *keys: str) -> None:
        self.calls.append(("delete", keys))
        await self.inner.delete(*keys)

    async def expiring_index_is_safe(self) -> bool:
        return await self.inner.expiring_index_is_safe()


async def redis_command_counts(client: redis.asyncio.Redis) -> Counter[str]:
    """The data commands the server has executed so far (``INFO commandstats``)."""
    stats: dict[str, dict[str, int]] = await client.info("commandstats")
    return Counter(
        {
            name.removeprefix("cmdstat_"): int(values["calls"])
            for name, values in stats.items()
            if name.removeprefix("cmdstat_") not in _NOT_SESSION_COMMANDS
        }
    )


@dataclass
class Real:
    """A real backend under test, the counting wrapper the store uses, and the raw storage."""

    kind: str
    inner: SessionBackend
    counting: CountingBackend
    redis: redis.asyncio.Redis | None = None
    sql: SQLBackend | None = None
    statements: StatementCounter | None = None
    fake_time: FakeTime | None = None
    _baseline: Counter[str] = field(default_factory=Counter)

    def freeze_time(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Memory and SQL (whose clock is the app's): let ``elapse`` move a fake clock. Redis
        keeps real time (its TTLs need it)."""
        if self.redis is None:
            self.fake_time = FakeTime(monkeypatch)

    async def elapse(self, seconds: float) -> None:
        """Let time pass: the fake clock when frozen, else really wait."""
        if self.fake_time is not None:
            self.fake_time.advance(seconds)
        else:
            await asyncio.sleep(seconds)

    async def keys(self) -> list[str]:
        """Every key held, read from the storage itself (not through the store)."""
        if self.redis is not None:
            keys = await self.redis.keys("*")
            return sorted(key.decode() if isinstance(key, bytes) else key for key in keys)
        if self.sql is not None:
            return await _live_sql_keys(self.sql)
        assert isinstance(self.inner, MemoryBackend)
        return sorted([key for key in list(self.inner._entries) if await self.inner.read(key)])

    async def session_keys(self) -> list[str]:
        """The keys of sessions (without the per-user indexes)."""
        return [key for key in await self.keys() if ":user:" not in key]

    async def size(self) -> int:
        return len(await self.keys())

    async def raw(self, key: str) -> bytes | None:
        """The stored bytes of ``key`` (without sliding its expiry)."""
        return await self.inner.read(key)

    async def put(self, key: str, value: bytes, ttl: int = 3600) -> None:
        """Write ``value`` under ``key`` directly into the storage (to plant corrupt data)."""
        await self.inner.delete(key)
        assert await self.inner.create(key, value, ttl)

    async def reset_counts(self) -> None:
        self.counting.calls.clear()
        if self.statements is not None:
            self.statements.reset()
        if self.redis is not None:
            self._baseline = await redis_command_counts(self.redis)

    async def redis_commands(self) -> Counter[str]:
        """The data commands Redis executed since ``reset_counts`` (empty for memory)."""
        if self.redis is None:
            return Counter()
        now = await redis_command_counts(self.redis)
        now.subtract(self._baseline)
        return +now

    def sql_statements(self) -> Counter[str]:
        """The statements sent since ``reset_counts``, by kind (empty unless SQL)."""
        return self.statements.counts() if self.statements is not None else Counter()

    async def assert_untouched(self) -> None:
        """No backend call since ``reset_counts``: seen by the wrapper and, on Redis or SQL,
        below it."""
        assert self.counting.calls == []
        assert await self.redis_commands() == Counter()
        assert self.sql_statements() == Counter()


async def _live_sql_keys(backend: SQLBackend) -> list[str]:
    import sqlalchemy as sa

    columns, now = backend.table.c, int(time.time() * 1000)
    live = sa.or_(columns.expires_at.is_(None), columns.expires_at > now)
    async with backend.engine.connect() as conn:
        rows = await conn.execute(sa.select(columns.store_key).where(live))
        return sorted(row[0] for row in rows)


BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
    pytest.param("valkey", id="valkey", marks=pytest.mark.valkey),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
]


@pytest.fixture(params=BACKENDS)
async def real(request: pytest.FixtureRequest, redis_clients: RedisClients) -> AsyncIterator[Real]:
    if request.param == "memory":
        # Wall-clock time (looked up at each call), so FakeTime moves this backend's clock too.
        inner = MemoryBackend(clock=lambda: time.time())
        yield Real("memory", inner, CountingBackend(inner))
        return
    if request.param in ("sqlite", "postgres", "mysql"):
        pytest.importorskip("sqlalchemy")
        from tests.sql_support import StatementCounter, database_url, sql_backend, sqlite_url

        if request.param == "sqlite":
            database = sqlite_url(request.getfixturevalue("tmp_path") / "sessions.db")
        else:
            database = database_url(request.param)
        async with sql_backend(database, clock=lambda: time.time()) as sql:
            counter = StatementCounter(sql.engine)
            yield Real(request.param, sql, CountingBackend(sql), sql=sql, statements=counter)
            counter.close()
        return
    # Valkey: the same client and backend; changes use the server's SET ... IFEQ.
    url: str = request.getfixturevalue(f"{request.param}_url")
    from starlette_session.backends.redis import RedisBackend

    client = redis_clients.asyncio(url)
    await client.ping()  # connect now: the connection's own set-up commands are not counted
    backend = RedisBackend(client)
    yield Real(request.param, backend, CountingBackend(backend), client)


class FakeTime:
    """Wall-clock time the test moves by hand: ``time.time`` and a ``MemoryBackend`` clock."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: float = 1_800_000_000.0) -> None:
        self.now = start
        monkeypatch.setattr(time, "time", self)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# The application


def _state(session: Any) -> dict[str, Any]:
    return {
        "data": dict(session),
        "new": session.is_new,
        "user": session.user_id,
        "created": session.created_at,
    }


async def _read(request: Request) -> Response:
    session = await load_session(request)
    return JSONResponse(_state(session))


async def _write(request: Request) -> Response:
    session = await load_session(request)
    session.update(await request.json())
    return JSONResponse(_state(session))


async def _login(request: Request) -> Response:
    user = (await request.json())["user"]
    session = await load_session(request)
    await session.begin_login(user)  # (the password is checked here)
    session.regenerate()
    session.set_user(user)
    session["user"] = user
    return JSONResponse(_state(session))


async def _set_user(request: Request) -> Response:
    session = await load_session(request)
    user = (await request.json())["user"]
    await session.begin_login(user)
    session.set_user(user)
    return JSONResponse(_state(session))


async def _logout(request: Request) -> Response:
    session = await load_session(request)
    session.destroy()
    return PlainTextResponse("bye")


async def _regenerate(request: Request) -> Response:
    session = await load_session(request)
    session.regenerate()
    return JSONResponse(_state(session))


async def _remember(request: Request) -> Response:
    session = await load_session(request)
    session.set_lifetime((await request.json())["seconds"])
    session["remember"] = True
    return JSONResponse(_state(session))


async def _change_password(request: Request) -> Response:
    # What an application does after a password change: end every other session of the user.
    session = await load_session(request)
    user = session.user_id
    assert user is not None
    revoked = await session.store.revoke_user_sessions(user, keep=session)
    session.regenerate()
    return JSONResponse({"revoked": revoked})


async def _my_sessions(request: Request) -> Response:
    session = await load_session(request)
    user = session.user_id
    infos = await session.store.user_sessions(user) if user else []
    return JSONResponse({"keys": [info.key for info in infos]})


async def _plain(request: Request) -> Response:
    return PlainTextResponse("no session used")


def build_app(
    store: SessionStore[Any],
    *,
    routes: Sequence[BaseRoute] = (),
    secret_key: str | Sequence[str] = SECRET,
    **middleware: Any,
) -> SessionMiddleware:
    """``SessionMiddleware`` around an app whose routes use the session the usual ways.

    GET /read, POST /write (JSON object merged into the session), /login ({"user"}: regenerate,
    set_user, store the user), /set-user ({"user"}: set_user only), /logout (destroy),
    /regenerate, /remember ({"seconds"}: set_lifetime), /change-password (revoke the user's other
    sessions), GET /my-sessions, GET /plain (never touches the session); plus ``routes``.
    """
    app = Starlette(
        routes=[
            *routes,
            Route("/read", _read),
            Route("/write", _write, methods=["POST"]),
            Route("/login", _login, methods=["POST"]),
            Route("/set-user", _set_user, methods=["POST"]),
            Route("/logout", _logout, methods=["POST"]),
            Route("/regenerate", _regenerate, methods=["POST"]),
            Route("/remember", _remember, methods=["POST"]),
            Route("/change-password", _change_password, methods=["POST"]),
            Route("/my-sessions", _my_sessions),
            Route("/plain", _plain),
        ]
    )
    return SessionMiddleware(app, secret_key=secret_key, store=store, **middleware)


# The client


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header_list(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]

    def header(self, name: str) -> str | None:
        values = self.header_list(name)
        assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)

    def session_cookies(self, name: str = "session") -> list[str]:
        """Every ``Set-Cookie`` header for the session cookie."""
        return [value for value in self.header_list("set-cookie") if value.startswith(name + "=")]

    def session_cookie(self, name: str = "session") -> str | None:
        """The one ``Set-Cookie`` header for the session cookie, or None."""
        cookies = self.session_cookies(name)
        assert len(cookies) <= 1, f"more than one session cookie: {cookies}"
        return cookies[0] if cookies else None

    def cookie_value(self, name: str = "session") -> str | None:
        """The value the session ``Set-Cookie`` carries ('' when it expires the cookie)."""
        header = self.session_cookie(name)
        return None if header is None else header.split(";", 1)[0][len(name) + 1 :]

    def cookie_attributes(self, name: str = "session") -> dict[str, str]:
        """The attributes of the session ``Set-Cookie``; names lower-cased, flags map to ''."""
        header = self.session_cookie(name)
        assert header is not None, "no session cookie sent"
        attributes = {}
        for part in header.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            attributes[key.lower()] = value
        return attributes


async def asgi_request(
    app: ASGIApp,
    method: str = "GET",
    path: str = "/read",
    *,
    headers: Iterable[tuple[bytes, bytes]] = (),
    body: bytes = b"",
    query: bytes = b"",
) -> Reply:
    """One HTTPS request, straight into the ASGI app in this event loop."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 443),
        "state": {},
    }
    received = False
    messages: list[Message] = []

    async def receive() -> Message:
        nonlocal received
        if received:
            return {"type": "http.disconnect"}
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    await app(scope, receive, send)
    start = next(message for message in messages if message["type"] == "http.response.start")
    return Reply(
        start["status"],
        [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in start["headers"]],
        b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body"),
    )


_KEEP: Any = object()


class Client:
    """Calls the app in-process and keeps the session cookie like a browser would."""

    def __init__(self, app: SessionMiddleware, cookie: str | None = None) -> None:
        self.app = app
        self.name = app.cookie.name
        self.cookie = cookie

    async def request(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        cookie: str | None = _KEEP,
        headers: Iterable[tuple[bytes, bytes]] = (),
        query: bytes = b"",
    ) -> Reply:
        value = self.cookie if cookie is _KEEP else cookie
        sent = list(headers)
        if value is not None:
            sent.append((b"cookie", f"{self.name}={value}".encode()))
        body = b""
        if payload is not None:
            body = json.dumps(payload).encode()
            sent.append((b"content-type", b"application/json"))
        reply = await asgi_request(self.app, method, path, headers=sent, body=body, query=query)
        new_value = reply.cookie_value(self.name)
        if new_value is not None and cookie is _KEEP:
            self.cookie = new_value or None
        return reply

    async def get(self, path: str = "/read", **kwargs: Any) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, payload: Any = None, **kwargs: Any) -> Reply:
        return await self.request("POST", path, {} if payload is None else payload, **kwargs)


def session_id(cookie_value: str) -> str:
    """The id inside a signed cookie value ``<id>.<issued-at>.<signature>``."""
    return cookie_value.rsplit(".", 2)[0]


def store_factory(real: Real) -> Callable[..., SessionStore[Any]]:
    def make(**options: Any) -> SessionStore[Any]:
        return SessionStore(real.counting, **options)

    return make
