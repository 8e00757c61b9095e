"""``backend``: a real session backend, parametrized over Redis, Valkey, memory, SQLite,
PostgreSQL and MariaDB.

The Redis parameter carries the ``redis`` marker and talks to the suite's redis-server through a
client configured as ``docs/reliability.md`` recommends; the Valkey one the same with Valkey.
``fresh_redis_server`` and ``persistent_redis_server`` (which the fault tests kill, stall and
restart) are redis-server, then valkey-server, here. Without the redis and fastapi extras
(tox's ``noextras`` run) the modules that import them are not collected.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Iterator

import pytest

from starlette_session.backends import MemoryBackend, SessionBackend
from tests.helpers import RedisClients
from tests.reliability.support import recommended_client
from tests.servers import RedisServer, ServerNotFoundError, ValkeyServer, server_unavailable

collect_ignore = []
if importlib.util.find_spec("sqlalchemy") is None:
    collect_ignore += ["test_sql_outages.py"]
if importlib.util.find_spec("redis") is None:
    collect_ignore += ["test_bounded_waits.py", "test_outage_policy.py", "test_recovery.py"]
elif importlib.util.find_spec("fastapi") is None:
    collect_ignore += ["test_outage_policy.py"]


@pytest.fixture(
    params=[
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("valkey", marks=pytest.mark.valkey),
        pytest.param("memory"),
        pytest.param("sqlite"),
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
async def backend(
    request: pytest.FixtureRequest, redis_clients: RedisClients
) -> AsyncIterator[SessionBackend]:
    if request.param == "memory":
        yield MemoryBackend()
        return
    if request.param in ("sqlite", "postgres", "mysql"):
        pytest.importorskip("sqlalchemy")
        from tests.sql_support import database_url, sql_backend, sqlite_url

        if request.param == "sqlite":
            database = sqlite_url(request.getfixturevalue("tmp_path") / "sessions.db")
        else:
            database = database_url(request.param)
        async with sql_backend(database) as sql:
            yield sql
        return
    from starlette_session.backends.redis import RedisBackend

    url: str = request.getfixturevalue(f"{request.param}_url")
    yield RedisBackend(redis_clients.keep(recommended_client(url)))


SERVERS = [
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("valkey", marks=pytest.mark.valkey),
]


def _private_server(kind: str, *, persistent: bool) -> Iterator[RedisServer]:
    try:
        server_class = ValkeyServer if kind == "valkey" else RedisServer
        server = server_class(persistent=persistent)
    except ServerNotFoundError as exc:
        reason = str(exc)
    else:
        try:
            server.start()
            yield server
        finally:
            server.stop()
        return
    server_unavailable(reason)


@pytest.fixture(params=SERVERS)
def fresh_redis_server(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A private server the test may kill, stall and restart."""
    yield from _private_server(request.param, persistent=False)


@pytest.fixture(params=SERVERS)
def persistent_redis_server(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """The same with an fsync-always AOF, so acknowledged writes survive ``kill()``."""
    yield from _private_server(request.param, persistent=True)
