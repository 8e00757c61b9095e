"""``backend``: a real session backend, parametrized over Redis and memory.

The Redis parameter carries the ``redis`` marker and talks to the suite's redis-server through a
client configured as ``docs/reliability.md`` recommends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from starlette_session.backends import MemoryBackend, SessionBackend
from tests.reliability.support import recommended_client


@pytest.fixture(
    params=[pytest.param("redis", marks=pytest.mark.redis), pytest.param("memory")],
)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[SessionBackend]:
    if request.param == "memory":
        yield MemoryBackend()
        return
    from starlette_session.backends.redis import RedisBackend

    url: str = request.getfixturevalue("redis_url")
    client = recommended_client(url)
    try:
        yield RedisBackend(client)
    finally:
        await client.aclose()
