"""RedisBackend's automatic pipelining and write combining, on real servers.

The commands that concurrent requests issue in one event-loop turn share one write; every caller
still gets its own reply, its own error and its own timeout. Checked on redis-server, Valkey and
a Redis Cluster, under concurrency, cancellation, error replies and a server that stalls or goes
away (through ``TcpProxy``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
import redis.asyncio

from starlette_session import SessionBackendError
from starlette_session.backends import RedisBackend
from tests.helpers import RedisClients
from tests.tcp_proxy import TcpProxy

CLIENTS = [
    pytest.param("redis_url", id="redis", marks=pytest.mark.redis),
    pytest.param("valkey_url", id="valkey", marks=pytest.mark.valkey),
    pytest.param("redis_cluster_url", id="redis-cluster", marks=pytest.mark.redis),
    pytest.param("valkey_cluster_url", id="valkey-cluster", marks=pytest.mark.valkey),
]


@pytest.fixture(params=CLIENTS)
def backend(request: pytest.FixtureRequest, redis_clients: RedisClients) -> RedisBackend:
    url: str = request.getfixturevalue(request.param)
    if "cluster" in request.param:
        return RedisBackend(redis_clients.cluster(url))
    return RedisBackend(redis_clients.asyncio(url))


def _value(n: int) -> bytes:
    return b'{"n":%d}' % n


async def test_concurrent_commands_each_get_their_own_reply(backend: RedisBackend) -> None:
    keys = [f"session:pipelined:{n}" for n in range(200)]
    assert all(
        await asyncio.gather(*(backend.create(k, _value(n), 60) for n, k in enumerate(keys)))
    )
    reads = await asyncio.gather(
        *(backend.read(k, 60 if n % 2 else None) for n, k in enumerate(keys))
    )
    assert reads == [_value(n) for n in range(200)]

    # Every other compare-and-set expects a stale value: it must get its own key's value back.
    replaced = await asyncio.gather(
        *(
            backend.replace(k, _value(n) if n % 2 else b"stale", _value(n + 1000), 60)
            for n, k in enumerate(keys)
        )
    )
    for n, result in enumerate(replaced):
        assert result.stored is bool(n % 2)
        assert result.current == (None if n % 2 else _value(n))
    await asyncio.gather(*(backend.expire(k, 30) for k in keys))
    reads = await asyncio.gather(*(backend.read(k) for k in keys))
    assert reads == [_value(n + 1000) if n % 2 else _value(n) for n in range(200)]


@pytest.mark.redis
async def test_the_commands_of_one_turn_share_one_write(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    admin = redis.Redis.from_url(redis_url)
    try:
        backend = RedisBackend(client)
        await backend.create("session:shared", _value(1), 60)
        await backend.read("session:shared")  # connected

        def reads_processed() -> int:
            return int(admin.info("stats")["total_reads_processed"])

        before = reads_processed()
        results = await asyncio.gather(*(backend.read("session:shared", 60) for _ in range(100)))
        after = reads_processed()
    finally:
        await client.aclose()
        admin.close()
    assert results == [_value(1)] * 100
    # The first command alone, then the 99 others in one write (plus the INFO itself and the
    # handshake of the connection the pipeline takes); one command per write would be 100.
    assert after - before <= 15


async def test_cancelled_callers_never_shift_the_replies_of_others(backend: RedisBackend) -> None:
    keys = [f"session:cancel:{n}" for n in range(60)]
    await asyncio.gather(*(backend.create(k, _value(n), 60) for n, k in enumerate(keys)))
    shuffle = random.Random(7)
    for round_ in range(8):
        tasks = [asyncio.ensure_future(backend.read(k, 60)) for k in keys]
        for _ in range(round_ % 4):
            await asyncio.sleep(0)
        cancelled = set(shuffle.sample(range(len(keys)), len(keys) // 2))
        for index in cancelled:
            tasks[index].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for index, result in enumerate(results):
            if not isinstance(result, asyncio.CancelledError):
                assert result == _value(index)
        assert await asyncio.gather(*(backend.read(k) for k in keys)) == [
            _value(n) for n in range(len(keys))
        ]


async def test_an_error_reply_reaches_its_caller_alone(backend: RedisBackend) -> None:
    await backend.create("session:fine", _value(1), 60)
    await backend.client.hset("session:{fine}hash", "field", "value")  # GET on it: WRONGTYPE
    results = await asyncio.gather(
        *(backend.read("session:fine") for _ in range(5)),
        backend.read("session:{fine}hash"),
        *(backend.read("session:fine", 60) for _ in range(5)),
        return_exceptions=True,
    )
    assert results[:5] == [_value(1)] * 5
    assert isinstance(results[5], SessionBackendError)
    assert results[6:] == [_value(1)] * 5


@pytest.fixture
async def proxied(redis_url: str) -> AsyncIterator[tuple[TcpProxy, RedisBackend]]:
    address = urlsplit(redis_url)
    with TcpProxy(address.hostname or "127.0.0.1", address.port or 6379) as proxy:
        client = redis.asyncio.Redis(host="127.0.0.1", port=proxy.port, socket_timeout=2)
        yield proxy, RedisBackend(client, timeout=0.3)
        await client.aclose()


@pytest.mark.redis
async def test_a_stalled_server_times_out_every_caller_and_no_late_reply_goes_astray(
    proxied: tuple[TcpProxy, RedisBackend],
) -> None:
    proxy, backend = proxied
    keys = [f"session:stall:{n}" for n in range(40)]
    await asyncio.gather(*(backend.create(k, _value(n), 60) for n, k in enumerate(keys)))
    with proxy.frozen():
        results = await asyncio.gather(*(backend.read(k, 60) for k in keys), return_exceptions=True)
        assert all(isinstance(result, SessionBackendError) for result in results)
    # The replies of the stalled write arrive now; they must not answer these commands.
    for _ in range(3):
        reads = await asyncio.gather(*(backend.read(k) for k in reversed(keys)))
        assert reads == [_value(n) for n in reversed(range(len(keys)))]


@pytest.mark.redis
async def test_a_server_that_goes_away_fails_the_write_and_the_next_ones_work(
    proxied: tuple[TcpProxy, RedisBackend],
) -> None:
    proxy, backend = proxied
    keys = [f"session:down:{n}" for n in range(40)]
    await asyncio.gather(*(backend.create(k, _value(n), 60) for n, k in enumerate(keys)))
    proxy.down()
    results = await asyncio.gather(*(backend.read(k, 60) for k in keys), return_exceptions=True)
    assert all(isinstance(result, SessionBackendError) for result in results)
    proxy.up()
    reads = await asyncio.gather(*(backend.read(k) for k in keys))
    assert reads == [_value(n) for n in range(len(keys))]


# Write combining: concurrent updates of one key, one compare-and-set


def _adding(token: int) -> Any:
    def merge(current: bytes | None) -> bytes:
        assert current is not None
        return current[:-1] + b',"%d":1}' % token

    return merge


@pytest.mark.redis
async def test_concurrent_updates_of_one_key_share_a_compare_and_set(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    admin = redis.Redis.from_url(redis_url)
    try:
        backend = RedisBackend(client, compare_and_set="script")
        start = b'{"0":1}'
        await backend.create("session:combined", start, 60)
        await backend.replace("session:combined", start, start, 60)  # the script is loaded
        admin.config_resetstat()
        stored = await asyncio.gather(
            *(
                backend.update("session:combined", start, b'{"0":1,"%d":1}' % n, 60, _adding(n))
                for n in range(1, 33)
            )
        )
        calls = admin.info("commandstats")["cmdstat_evalsha"]["calls"]
        final = await backend.read("session:combined")
    finally:
        await client.aclose()
        admin.close()
    assert final is not None
    assert sorted(final.strip(b"{}").split(b",")) == sorted(b'"%d":1' % n for n in range(33))
    assert final in stored
    assert calls <= 3  # the first alone, the 31 others together (not 32 * 33 / 2)
