"""Live connections end with their session, in one process, on every mechanism: the memory
backend's in-process channel, Redis and Valkey pub/sub, a Redis Cluster's sharded pub/sub,
PostgreSQL LISTEN/NOTIFY, and the periodic re-check (SQLite). The multi-worker form of the same
guarantees is ``tests/test_live_workers.py``.

The app is ``tests/live_app.py``, served by Starlette's TestClient (one event loop, in a
thread); every wait is bounded (``receive``), and a socket that must stay open answers an echo.
"""

from __future__ import annotations

import logging
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from starlette.testclient import TestClient

from starlette_session import SessionStore
from starlette_session.backends import MemoryBackend, RedisBackend, SessionBackend
from starlette_session.backends._notify import ended_hash, ended_message, read_message
from starlette_session.exceptions import SessionBackendError
from starlette_session.live import BATCH, ENDED, UNAVAILABLE, LiveConnections
from starlette_session.state import SessionState
from tests.helpers import RedisClients
from tests.live_app import build_app
from tests.servers import RedisServer
from tests.sql_support import database_url, sql_backend, sqlite_url

#: How long a socket on an ended session may stay open: 1 s with a channel; with the periodic
#: re-check (1 s here), that interval and one more.
WITH_CHANNEL, WITH_RECHECK = 1.0, 2.5
KINDS = [
    "memory",
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("valkey", marks=pytest.mark.valkey),
    pytest.param("cluster", marks=pytest.mark.redis),
    pytest.param("postgres", marks=pytest.mark.postgres),
    "sqlite",
    pytest.param("mysql", marks=pytest.mark.mysql),
    pytest.param("memcached", marks=pytest.mark.memcached),
    pytest.param("redis-sync", marks=pytest.mark.redis),
]


#: The PostgreSQL application_name of each test's engine, so that a test ends only its own.
APPLICATION_NAMES: dict[int, str] = {}


#: The backends without a channel: other processes re-check.
RECHECKED = ("sqlite", "mysql", "memcached", "redis-sync")


class Live:
    """A TestClient on the live app with a store on one backend."""

    def __init__(self, kind: str, store: SessionStore[Any], http: TestClient) -> None:
        self.kind = kind
        self.store = store
        self.http = http
        self.within = WITH_RECHECK if kind in RECHECKED else WITH_CHANNEL

    def session(self, path: str = "/put", **params: str) -> str:
        """A new session (its cookie value), made by ``path``."""
        self.http.cookies.clear()
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        cookie = response.cookies["session"]
        self.http.cookies.clear()
        return cookie

    def post(self, path: str, cookie: str | None = None, **params: str) -> Any:
        headers = {"cookie": f"session={cookie}"} if cookie else {}
        response = self.http.post(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        self.http.cookies.clear()
        return response

    def socket(self, stack: ExitStack, cookie: str, path: str = "/ws") -> Any:
        socket = stack.enter_context(
            self.http.websocket_connect(path, headers={"cookie": f"session={cookie}"})
        )
        assert "pid" in receive(socket, 5)
        return socket


def receive(socket: Any, timeout: float) -> dict[str, Any]:
    """The next message of a TestClient socket, within ``timeout`` seconds."""

    async def one() -> dict[str, Any]:
        with anyio.fail_after(timeout):
            message: dict[str, Any] = await socket._send_rx.receive()
        if message["type"] == "websocket.send":
            import json

            decoded: dict[str, Any] = json.loads(message["text"])
            return decoded
        return message

    result: dict[str, Any] = socket.portal.call(one)
    return result


def assert_closed(live: Live, socket: Any, reason: str = ENDED) -> float:
    """The socket says goodbye and is closed with the store's code; how long it took."""
    started = time.monotonic()
    assert receive(socket, live.within + 1) == {"bye": reason}
    closed = receive(socket, 1)
    elapsed = time.monotonic() - started
    code = live.store.ended_close_code if reason == ENDED else 1013
    assert closed["type"] == "websocket.close"
    assert closed["code"] == code
    return elapsed


def assert_open(socket: Any) -> None:
    socket.send_text("ping")
    assert receive(socket, 5) == {"echo": "ping"}


def portal(http: TestClient) -> Any:
    assert http.portal is not None
    return http.portal


def _backend_for(kind: str, request: pytest.FixtureRequest, http: TestClient) -> Any:
    """The backend of ``kind`` (made in the TestClient's loop where it must be), and what
    to call at the end."""
    clients = RedisClients()
    if kind in ("redis", "valkey"):
        url = request.getfixturevalue("redis_url" if kind == "redis" else "valkey_url")
        return RedisBackend(clients.asyncio(url)), lambda: portal(http).call(clients.aclose)
    if kind == "redis-sync":  # a sync client cannot subscribe: it publishes, and re-checks
        url = request.getfixturevalue("redis_url")
        return RedisBackend(clients.sync(url)), lambda: portal(http).call(clients.aclose)
    if kind == "cluster":
        import redis.asyncio

        url = request.getfixturevalue("redis_cluster_url")
        cluster = clients.keep(redis.asyncio.RedisCluster.from_url(url))
        return RedisBackend(cluster), lambda: portal(http).call(clients.aclose)
    if kind == "memcached":
        import aiomcache

        from starlette_session.backends import MemcachedBackend

        client = aiomcache.Client(*request.getfixturevalue("memcached_address"))
        return MemcachedBackend(client), lambda: portal(http).call(client.close)
    if kind in ("postgres", "sqlite", "mysql"):
        url = (
            database_url(kind)
            if kind in ("postgres", "mysql")
            else sqlite_url(request.getfixturevalue("tmp_path") / "live.db")
        )
        name = f"live-{uuid.uuid4().hex[:8]}"
        options = {"connect_args": {"server_settings": {"application_name": name}}}
        context = sql_backend(url, engine_options=options if kind == "postgres" else None)
        wrapped = portal(http).wrap_async_context_manager(context)
        backend = wrapped.__enter__()
        APPLICATION_NAMES[id(backend)] = name
        return backend, lambda: wrapped.__exit__(None, None, None)
    return MemoryBackend(), lambda: None


def open_live(request: pytest.FixtureRequest, kind: str, **options: Any) -> Iterator[Live]:
    options.setdefault("live_recheck_interval", 1 if kind in RECHECKED else 30)
    store: SessionStore[Any] = SessionStore(MemoryBackend(), **options)
    with TestClient(build_app(store)) as http:
        backend, close = _backend_for(kind, request, http)
        try:
            store.backend = backend
            yield Live(kind, store, http)
        finally:
            close()


@pytest.fixture(params=KINDS)
def live(request: pytest.FixtureRequest) -> Iterator[Live]:
    yield from open_live(request, request.param)


# What ends a session ends its sockets, and only its sockets


def test_a_log_out_closes_that_sessions_sockets_and_no_other(live: Live) -> None:
    alice, bob = live.session(), live.session()
    with ExitStack() as stack:
        first, second = live.socket(stack, alice), live.socket(stack, alice)
        other = live.socket(stack, bob)
        unused = live.socket(stack, alice, "/plain")  # never touches its session
        assert len(live.store.live) == 3  # the one that never loaded it is not registered
        live.post("/logout", alice)
        assert assert_closed(live, first) < live.within
        assert assert_closed(live, second) < live.within
        assert_open(other)
        assert_open(unused)
    assert len(live.store.live) == 0


def test_revoking_a_users_sessions_closes_their_sockets(live: Live) -> None:
    phone, laptop = live.session("/login", user="alice"), live.session("/login", user="alice")
    bobs = live.session("/login", user="bob")
    with ExitStack() as stack:
        sockets = [live.socket(stack, phone), live.socket(stack, laptop)]
        other = live.socket(stack, bobs)
        assert live.post("/revoke", user="alice").json()["ended"] == 2
        for socket in sockets:
            assert assert_closed(live, socket) < live.within
        assert_open(other)


def test_revoking_one_session_closes_its_sockets(live: Live) -> None:
    phone, laptop = live.session("/login", user="alice"), live.session("/login", user="alice")
    key = live.http.get("/key", headers={"cookie": f"session={phone}"}).text
    live.http.cookies.clear()
    with ExitStack() as stack:
        on_phone, on_laptop = live.socket(stack, phone), live.socket(stack, laptop)
        assert live.post("/revoke-one", user="alice", key=key).json()["ended"] is True
        assert assert_closed(live, on_phone) < live.within
        assert_open(on_laptop)


def test_a_log_in_closes_the_sockets_of_the_id_it_retires(live: Live) -> None:
    anonymous = live.session()
    with ExitStack() as stack:
        socket = live.socket(stack, anonymous)
        live.http.get(
            "/login", params={"user": "alice"}, headers={"cookie": f"session={anonymous}"}
        )
        live.http.cookies.clear()
        assert assert_closed(live, socket) < live.within


@pytest.mark.parametrize("kind", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_the_user_cap_closes_the_sockets_of_the_session_it_ends(
    request: pytest.FixtureRequest, kind: str
) -> None:
    for live in open_live(request, kind, max_user_sessions=1):
        oldest = live.session("/login", user="alice")
        with ExitStack() as stack:
            socket = live.socket(stack, oldest)
            live.session("/login", user="alice")  # over the cap: the oldest ends
            assert assert_closed(live, socket) < live.within


@pytest.mark.parametrize("kind", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_an_expired_session_found_on_read_closes_its_sockets(
    request: pytest.FixtureRequest, kind: str
) -> None:
    for live in open_live(request, kind, absolute_timeout=2):
        cookie = live.session()
        with ExitStack() as stack:
            socket = live.socket(stack, cookie)
            time.sleep(2.1)
            live.http.get("/key", headers={"cookie": f"session={cookie}"})  # finds it expired
            assert assert_closed(live, socket) < live.within


def test_a_stream_stops_when_its_session_ends(live: Live) -> None:
    cookie = live.session()
    body: list[str] = []

    def read() -> None:
        response = live.http.get("/stream", headers={"cookie": f"session={cookie}"})
        body.append(response.text)

    reader = threading.Thread(target=read)
    reader.start()
    deadline = time.monotonic() + 5
    while len(live.store.live) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(live.store.live) == 1
    live.post("/logout", cookie)
    reader.join(live.within + 1)
    assert not reader.is_alive()
    assert body[0].endswith("ended\n")


def test_without_a_channel_a_session_ended_elsewhere_closes_within_the_recheck(
    request: pytest.FixtureRequest,
) -> None:
    # SQLite has no channel: the process that ends a session closes its own sockets at once,
    # and the others find out at their periodic re-check (1 s here). "Elsewhere" is a
    # deletion this process does not hear of (another process's).
    for live in open_live(request, "sqlite"):
        cookie = live.session()
        key = live.http.get("/key", headers={"cookie": f"session={cookie}"}).text
        live.http.cookies.clear()
        with ExitStack() as stack:
            socket = live.socket(stack, cookie)
            backend = live.store.backend
            assert isinstance(backend, SessionBackend)
            portal(live.http).call(backend.delete, key)  # no announcement
            started = time.monotonic()
            assert_closed(live, socket)
            assert time.monotonic() - started < WITH_RECHECK


# A lost channel, and the outage policy


def _drop_channel(live: Live, redis_url: str) -> None:
    """End the subscription (``CLIENT KILL TYPE pubsub``), or PostgreSQL's listening
    connection."""
    if live.kind == "postgres":
        import sqlalchemy as sa

        async def terminate() -> int:
            engine = live.store.backend.engine  # type: ignore[union-attr]
            name = APPLICATION_NAMES[id(live.store.backend)]
            async with engine.connect() as conn:
                rows = await conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                        "application_name = :name AND pid <> pg_backend_pid() AND "
                        "query NOT LIKE 'SELECT pg_terminate_backend%'"
                    ),
                    {"name": name},
                )
                return len(rows.fetchall())

        assert portal(live.http).call(terminate) >= 1
        return
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        assert client.client_kill_filter(_type="pubsub") >= 1
    finally:
        client.close()


@pytest.mark.parametrize("kind", [pytest.param("redis", marks=pytest.mark.redis), "postgres"])
def test_a_session_ended_while_the_channel_was_down_closes_after_reconnection(
    request: pytest.FixtureRequest, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    for live in open_live(request, kind):
        redis_url = request.getfixturevalue("redis_url") if kind == "redis" else ""
        cookie, other = live.session(), live.session()
        key = live.http.get("/key", headers={"cookie": f"session={cookie}"}).text
        live.http.cookies.clear()
        with ExitStack() as stack, caplog.at_level(logging.WARNING, "starlette_session"):
            socket, kept = live.socket(stack, cookie), live.socket(stack, other)
            backend = live.store.backend
            assert isinstance(backend, SessionBackend)
            # Ended without any message (as if published while the channel was down).
            portal(live.http).call(backend.delete, key)
            _drop_channel(live, redis_url)
            # Reconnected and re-checked: within a second here; the bound leaves room for a
            # busy machine and for a drop only the 5-second ping finds.
            live.within = 6
            assert assert_closed(live, socket) < 6
            assert_open(kept)
            # A busy machine may close the socket by the re-check made while the channel is
            # still down; the reconnection (and its log line) then follows within the bound.
            deadline = time.monotonic() + 6
            while "channel back after" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.05)
        assert "session notification channel lost" in caplog.text
        assert "session notification channel back after" in caplog.text


@pytest.mark.redis
def test_after_a_redis_restart_that_lost_the_sessions_their_sockets_close(
    fresh_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    # A restart without persistence ends every session: no message can say so, the
    # re-check after the reconnection does.
    store: SessionStore[Any] = SessionStore(MemoryBackend())
    clients = RedisClients()
    with TestClient(build_app(store)) as http, caplog.at_level(logging.WARNING):
        store.backend = RedisBackend(clients.asyncio(fresh_redis_server.url))
        live = Live("redis", store, http)
        live.within = 5  # the restart, then a reconnection delay of up to 5 s
        try:
            cookie = live.session()
            with ExitStack() as stack:
                socket = live.socket(stack, cookie)
                fresh_redis_server.restart()
                assert assert_closed(live, socket) < 6
        finally:
            portal(http).call(clients.aclose)
    assert "session notification channel back after" in caplog.text


@pytest.mark.redis
@pytest.mark.parametrize("policy", ["fail", "anonymous"])
def test_when_the_store_cannot_be_reached_the_outage_policy_decides(
    request: pytest.FixtureRequest, fresh_redis_server: RedisServer, policy: str
) -> None:
    store: SessionStore[Any] = SessionStore(
        MemoryBackend(),
        live_recheck_interval=1,
        on_backend_error=policy,  # type: ignore[arg-type]
    )
    clients = RedisClients()
    with TestClient(build_app(store)) as http:
        store.backend = RedisBackend(clients.asyncio(fresh_redis_server.url, socket_timeout=0.5))
        live = Live("redis", store, http)
        try:
            cookie = live.session()
            with ExitStack() as stack:
                socket = live.socket(stack, cookie)
                fresh_redis_server.kill()
                if policy == "fail":
                    assert assert_closed(live, socket, UNAVAILABLE) < 5
                else:
                    time.sleep(3)
                    assert_open(socket)
        finally:
            http.portal.call(clients.aclose)


# The registry itself


def test_a_message_names_hashes_of_store_keys_never_ids() -> None:
    message = ended_message(["session:abc", "session:def"])
    assert b"abc" not in message
    assert read_message(message) == [ended_hash("session:abc"), ended_hash("session:def")]
    assert read_message(b"junk " + b"z" * 32 + b" " + ended_hash("k").encode()) == [ended_hash("k")]


def _state(key: str) -> SessionState:
    state = SessionState()
    state.loaded_from(session_id="id", store_key=key, raw=b"{}")
    return state


async def test_ten_thousand_connections_are_rechecked_in_batches() -> None:
    running = peak = checked = 0

    async def check(state: SessionState) -> bool:
        nonlocal running, peak, checked
        running += 1
        peak = max(peak, running)
        await anyio.lowlevel.checkpoint()
        running -= 1
        checked += 1
        return state.store_key != "session:5"

    live = LiveConnections(None, check, recheck_interval=3600, fail_closed=True)
    states = [_state(f"session:{n}") for n in range(10_000)]
    connections = [live.watch(state) for state in states]
    assert await live.recheck() == 1
    assert checked == 10_000
    assert peak == BATCH
    assert connections[5].reason == ENDED
    assert sum(c.reason is not None for c in connections) == 1


async def test_a_recheck_the_backend_cannot_answer_follows_the_policy() -> None:
    async def unreachable(state: SessionState) -> bool:
        raise SessionBackendError("down")

    for fail_closed, reason in ((True, UNAVAILABLE), (False, None)):
        live = LiveConnections(None, unreachable, recheck_interval=3600, fail_closed=fail_closed)
        connection = live.watch(_state("session:1"))
        await live.recheck()
        assert connection.reason == reason


async def test_a_message_just_before_registering_still_ends_the_connection() -> None:
    async def alive(state: SessionState) -> bool:
        return True

    live = LiveConnections(None, alive, recheck_interval=3600, fail_closed=True)
    live.delivered([ended_hash("session:1")])  # read just before it ended, registered after
    assert live.watch(_state("session:1")).reason == ENDED
    assert live.watch(_state("session:2")).reason is None


async def test_a_connection_dropped_without_forget_leaves_nothing() -> None:
    async def alive(state: SessionState) -> bool:
        return True

    live = LiveConnections(None, alive, recheck_interval=3600, fail_closed=True)
    connection = live.watch(_state("session:1"))
    assert len(live) == 1
    del connection
    assert len(live) == 0


async def test_a_registered_connection_costs_under_a_kilobyte() -> None:
    async def alive(state: SessionState) -> bool:
        return True

    live = LiveConnections(None, alive, recheck_interval=3600, fail_closed=True)
    states = [_state(f"session:{n:040d}") for n in range(2000)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = [live.watch(state) for state in states]
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per_connection = (after - before) / len(kept)
    print(f"bytes per registered connection: {per_connection:.0f}")
    assert per_connection < 1024
