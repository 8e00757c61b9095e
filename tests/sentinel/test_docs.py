"""The Sentinel client of docs/redis.md, run as written (the Sentinels' addresses aside)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability.support import make_app
from tests.servers import RedisSentinelGroup

pytestmark = [pytest.mark.redis, pytest.mark.sentinel]

DOC = Path(__file__).resolve().parents[2] / "docs" / "redis.md"
DOC_SENTINELS = '[("sentinel-1", 26379), ("sentinel-2", 26379), ("sentinel-3", 26379)]'


def _sentinel_snippet() -> str:
    blocks: list[str] = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    [snippet] = [block for block in blocks if "master_for" in block]
    assert DOC_SENTINELS in snippet
    return snippet


async def test_the_documented_sentinel_client_follows_a_failover(
    redis_sentinel: RedisSentinelGroup,
) -> None:
    snippet = _sentinel_snippet().replace(DOC_SENTINELS, repr(redis_sentinel.sentinel_addresses))
    assert f'"{redis_sentinel.service}"' in snippet  # the service name of the docs is the test's
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)  # noqa: S102 - our own documentation
    client, sentinel, store = namespace["client"], namespace["sentinel"], namespace["store"]
    master, replica = redis_sentinel.servers
    try:
        transport = httpx.ASGITransport(app=make_app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.post("/increment")).json() == {"count": 1}
            await asyncio.to_thread(redis_sentinel.wait_until_replicated, master)
            master.kill()
            assert (await http.post("/increment")).status_code == 503
            await asyncio.to_thread(redis_sentinel.wait_for_master, replica, 30)
            assert (await http.post("/increment")).json() == {"count": 2}
    finally:
        await client.aclose()
        for each in sentinel.sentinels:
            await each.aclose()
