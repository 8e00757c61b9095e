"""``backend``: a real session backend, parametrized over Redis, Valkey and memory.

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
if importlib.util.find_spec("redis") is None:
    collect_ignore += ["test_bounded_waits.py", "test_outage_policy.py", "test_recovery.py"]
elif importlib.util.find_spec("fastapi") is None:
    collect_ignore += ["test_outage_policy.py"]


@pytest.fixture(
    params=[
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("valkey", marks=pytest.mark.valkey),
        pytest.param("memory"),
    ],
)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[SessionBackend]:
    if request.param == "memory":
        yield MemoryBackend()
        return
    from starlette_session.backends.redis import RedisBackend

    url: str = request.getfixturevalue(f"{request.param}_url")
    client = recommended_client(url)
    try:
        yield RedisBackend(client)
    finally:
        await client.aclose()
