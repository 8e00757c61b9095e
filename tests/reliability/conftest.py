"""``backend``: a real session backend, parametrized over Redis, memory, SQLite, PostgreSQL and
MariaDB.

The Redis parameter carries the ``redis`` marker and talks to the suite's redis-server through a
client configured as ``docs/reliability.md`` recommends. Without the redis and fastapi extras
(tox's ``noextras`` run) the modules that import them are not collected.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator

import pytest

from starlette_session.backends import MemoryBackend, SessionBackend
from tests.reliability.support import recommended_client

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
        pytest.param("memory"),
        pytest.param("sqlite"),
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[SessionBackend]:
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

    url: str = request.getfixturevalue("redis_url")
    client = recommended_client(url)
    try:
        yield RedisBackend(client)
    finally:
        await client.aclose()
