"""One fixture per backend for the contract suite in this directory.

``backend_case`` is parametrized over every backend; each parameter carries the marker of the
server it needs. A new backend only adds a fixture here and a parameter to ``BACKENDS``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from starlette_session.backends import LegacyBackend, MemoryBackend, SessionBackend
from tests.helpers import DictSessionBackend, ManualClock, RedisClients


@dataclass
class BackendCase:
    """A backend under test, and how to let time pass for its expiry clock."""

    backend: SessionBackend
    elapse: Callable[[float], Awaitable[None]]
    #: Whether ``read(key, ttl)`` slides the expiry (LegacyBackend documents that it cannot).
    slides_on_read: bool = True
    #: The threads that talked to the server (sync Redis and pymemcache clients only).
    threads: set[int] = field(default_factory=set)


def _manual_elapse(clock: ManualClock) -> Callable[[float], Awaitable[None]]:
    async def elapse(seconds: float) -> None:
        clock.advance(seconds)

    return elapse


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@pytest.fixture
def memory_case() -> BackendCase:
    clock = ManualClock()
    return BackendCase(MemoryBackend(clock=clock), _manual_elapse(clock))


@pytest.fixture
def legacy_case() -> BackendCase:
    clock = ManualClock()
    backend = LegacyBackend(DictSessionBackend(clock=clock))
    return BackendCase(backend, _manual_elapse(clock), slides_on_read=False)


def _redis_like_case(
    request: pytest.FixtureRequest, url_fixture: str, client: str, **backend_options: Any
) -> BackendCase:
    """A ``RedisBackend`` on a client from the ``redis_clients`` factory, closed after the test."""
    pytest.importorskip("redis")
    from starlette_session.backends import RedisBackend

    url: str = request.getfixturevalue(url_fixture)
    clients: RedisClients = request.getfixturevalue("redis_clients")
    threads: set[int] = set()
    made = clients.sync(url, threads=threads) if client == "sync" else getattr(clients, client)(url)
    return BackendCase(RedisBackend(made, **backend_options), _sleep, threads=threads)


@pytest.fixture
def redis_async_case(request: pytest.FixtureRequest) -> BackendCase:
    return _redis_like_case(request, "redis_url", "asyncio")


@pytest.fixture
def redis_sync_case(request: pytest.FixtureRequest) -> BackendCase:
    return _redis_like_case(request, "redis_url", "sync")


@pytest.fixture
def redis_cluster_case(request: pytest.FixtureRequest) -> BackendCase:
    return _redis_like_case(request, "redis_cluster_url", "cluster")


@pytest.fixture
def valkey_async_case(request: pytest.FixtureRequest) -> BackendCase:
    """redis-py's asyncio client against Valkey: changes use the native ``SET ... IFEQ``."""
    return _redis_like_case(request, "valkey_url", "asyncio")


@pytest.fixture
def valkey_script_case(request: pytest.FixtureRequest) -> BackendCase:
    """The same, with the Lua compare-and-set forced (``compare_and_set="script"``)."""
    return _redis_like_case(request, "valkey_url", "asyncio", compare_and_set="script")


@pytest.fixture
def valkey_sync_case(request: pytest.FixtureRequest) -> BackendCase:
    return _redis_like_case(request, "valkey_url", "sync")


@pytest.fixture
def valkey_py_case(request: pytest.FixtureRequest) -> BackendCase:
    """valkey-py's asyncio client (redis-py's fork), which RedisBackend takes without importing."""
    return _redis_like_case(request, "valkey_url", "valkey")


@pytest.fixture
def valkey_cluster_case(request: pytest.FixtureRequest) -> BackendCase:
    return _redis_like_case(request, "valkey_cluster_url", "cluster")


@pytest.fixture
async def memcached_case(memcached_address: tuple[str, int]) -> AsyncIterator[BackendCase]:
    aiomcache = pytest.importorskip("aiomcache")
    from starlette_session.backends import MemcachedBackend

    client = aiomcache.Client(*memcached_address)
    try:
        yield BackendCase(MemcachedBackend(client), _sleep)
    finally:
        await client.close()


class ThreadRecordingSerde:
    """pymemcache's default behaviour (bytes in, bytes out), noting the thread of every call.

    pymemcache calls its serde in the thread that sends the command and reads the reply.
    """

    def __init__(self, threads: set[int]) -> None:
        self.threads = threads

    def serialize(self, key: Any, value: Any) -> tuple[Any, int]:
        self.threads.add(threading.get_ident())
        return value, 0

    def deserialize(self, key: Any, value: Any, flags: int) -> Any:
        self.threads.add(threading.get_ident())
        return value


def _pymemcache_case(address: tuple[str, int], *, pooled: bool) -> Iterator[BackendCase]:
    pytest.importorskip("pymemcache")
    from pymemcache.client.base import Client, PooledClient

    from starlette_session.backends import PymemcacheBackend

    threads: set[int] = set()
    settings: dict[str, Any] = {"serde": ThreadRecordingSerde(threads), "timeout": 2}
    client = PooledClient(address, **settings) if pooled else Client(address, **settings)
    backend = PymemcacheBackend(client)
    threads.clear()  # the backend tried the serde when it was built, here in the test's thread
    try:
        yield BackendCase(backend, _sleep, threads=threads)
    finally:
        client.close()


@pytest.fixture
def pymemcache_pooled_case(memcached_address: tuple[str, int]) -> Iterator[BackendCase]:
    yield from _pymemcache_case(memcached_address, pooled=True)


@pytest.fixture
def pymemcache_single_case(memcached_address: tuple[str, int]) -> Iterator[BackendCase]:
    # One socket, not thread-safe: the backend must serve it one command at a time.
    yield from _pymemcache_case(memcached_address, pooled=False)


@asynccontextmanager
async def _sql_case(url: str) -> AsyncIterator[BackendCase]:
    pytest.importorskip("sqlalchemy")
    from tests.sql_support import sql_backend

    clock = ManualClock(time.time())
    async with sql_backend(url, clock=clock) as backend:
        yield BackendCase(backend, _manual_elapse(clock))


@pytest.fixture
async def sqlite_case(tmp_path: Path) -> AsyncIterator[BackendCase]:
    from tests.sql_support import sqlite_url

    async with _sql_case(sqlite_url(tmp_path / "sessions.db")) as case:
        yield case


@pytest.fixture
async def postgres_case() -> AsyncIterator[BackendCase]:
    from tests.sql_support import database_url

    async with _sql_case(database_url("postgres")) as case:
        yield case


@pytest.fixture
async def mysql_case() -> AsyncIterator[BackendCase]:
    from tests.sql_support import database_url

    async with _sql_case(database_url("mysql")) as case:
        yield case


BACKENDS = [
    pytest.param("memory_case", id="memory"),
    pytest.param("redis_async_case", id="redis-async", marks=pytest.mark.redis),
    pytest.param("redis_sync_case", id="redis-sync", marks=pytest.mark.redis),
    pytest.param("redis_cluster_case", id="redis-cluster", marks=pytest.mark.redis),
    pytest.param("valkey_async_case", id="valkey-async", marks=pytest.mark.valkey),
    pytest.param("valkey_script_case", id="valkey-script", marks=pytest.mark.valkey),
    pytest.param("valkey_sync_case", id="valkey-sync", marks=pytest.mark.valkey),
    pytest.param("valkey_py_case", id="valkey-py", marks=pytest.mark.valkey),
    pytest.param("valkey_cluster_case", id="valkey-cluster", marks=pytest.mark.valkey),
    pytest.param("legacy_case", id="legacy"),
    pytest.param("memcached_case", id="memcached", marks=pytest.mark.memcached),
    pytest.param("pymemcache_pooled_case", id="pymemcache-pooled", marks=pytest.mark.memcached),
    pytest.param("pymemcache_single_case", id="pymemcache-single", marks=pytest.mark.memcached),
    pytest.param("sqlite_case", id="sqlite"),
    pytest.param("postgres_case", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql_case", id="mysql", marks=pytest.mark.mysql),
]


SQL_BACKENDS = BACKENDS[-3:]


@pytest.fixture(params=SQL_BACKENDS)
def sql_case(request: pytest.FixtureRequest) -> BackendCase:
    """A :class:`SQLBackend` case on SQLite, PostgreSQL and MariaDB, with a manual clock."""
    case: BackendCase = request.getfixturevalue(request.param)
    return case


@pytest.fixture(params=BACKENDS)
def backend_case(request: pytest.FixtureRequest) -> BackendCase:
    case: BackendCase = request.getfixturevalue(request.param)
    return case


@pytest.fixture
def backend(backend_case: BackendCase) -> SessionBackend:
    return backend_case.backend
