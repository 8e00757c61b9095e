"""docs_src/redis: the Sentinel client of the Redis page, run as written through a failover."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.helpers import make_app
from tests.servers import RedisSentinelGroup
from tests.test_tutorial.conftest import LoadSample

pytestmark = [pytest.mark.redis, pytest.mark.sentinel, pytest.mark.slow]


async def test_the_documented_sentinel_client_follows_a_failover(
    load_sample: LoadSample, redis_sentinel: RedisSentinelGroup, monkeypatch: pytest.MonkeyPatch
) -> None:
    addresses = ",".join(f"{host}:{port}" for host, port in redis_sentinel.sentinel_addresses)
    monkeypatch.setenv("REDIS_SENTINELS", addresses)
    sample = load_sample("docs_src.redis.sentinel")
    assert redis_sentinel.sentinel_addresses == sample.SENTINELS
    assert sample.client.connection_pool.service_name == redis_sentinel.service
    master, replica = redis_sentinel.servers
    try:
        transport = httpx.ASGITransport(app=make_app(sample.store))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.post("/increment")).json() == {"count": 1}
            await asyncio.to_thread(redis_sentinel.wait_until_replicated, master)
            master.kill()
            assert (await http.post("/increment")).status_code == 503
            await asyncio.to_thread(redis_sentinel.wait_for_master, replica, 30)
            assert (await http.post("/increment")).json() == {"count": 2}
    finally:
        await sample.client.aclose()
        for each in sample.sentinel.sentinels:
            await each.aclose()
