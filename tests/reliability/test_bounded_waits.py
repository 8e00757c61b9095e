"""A stalled Redis answers 503 within the configured timeouts instead of piling up requests.

The server is really stalled: SIGSTOP freezes the redis-server process, whose kernel still
accepts connections, so clients connect and then wait for replies that never come, as with a
hung or overloaded Redis. Every test thaws it (SIGCONT) and checks that it is usable again.

Time is the guarantee here, so these tests time: each wait must end within its timeout plus a
generous slack (``support.SLACK``, for a loaded machine), and is cut off there, so a wait with
no bound fails instead of hanging. Where a count shows the failure too, they count.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
import redis
import redis.asyncio

from starlette_session import SessionBackendError, SessionStore
from starlette_session.backends.redis import RedisBackend
from tests.helpers import make_app
from tests.reliability.support import answers_within, recommended_client, stalled
from tests.servers import RedisServer

pytestmark = pytest.mark.redis

VALUE = b'{"m":{},"d":{}}'


def _client(backend: RedisBackend) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=make_app(SessionStore(backend)))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_a_request_needing_its_session_gets_503_within_the_client_socket_timeout(
    fresh_redis_server: RedisServer,
) -> None:
    redis_client = recommended_client(fresh_redis_server.url, timeout=0.3)
    try:
        async with _client(RedisBackend(redis_client)) as client:
            await client.post("/increment")
            with stalled(fresh_redis_server):
                async with answers_within(0.3):  # the socket timeout
                    response = await client.get("/session")
                health = await client.get("/health")
            assert response.status_code == 503
            assert health.status_code == 200

            assert (await client.get("/session")).json() == {"count": 1}
    finally:
        await redis_client.aclose()


@contextlib.contextmanager
def accept_queue_filled(server: RedisServer) -> Iterator[None]:
    """Fill the stalled server's accept queue (redis-server's tcp-backlog is 511): new
    connections then hang in the handshake, as with a host that drops packets."""
    sockets = []
    try:
        for _ in range(600):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sockets.append(sock)
            with contextlib.suppress(BlockingIOError):
                sock.connect((server.host, server.port))
        yield
    finally:
        for sock in sockets:
            sock.close()


async def test_a_connection_attempt_that_hangs_gives_up_after_the_connect_timeout(
    fresh_redis_server: RedisServer,
) -> None:
    redis_client = recommended_client(fresh_redis_server.url, timeout=0.3)
    backend = RedisBackend(redis_client)
    try:
        await backend.create("session:a", VALUE, 60)
        await redis_client.connection_pool.disconnect()  # the next command must connect
        with stalled(fresh_redis_server), accept_queue_filled(fresh_redis_server):
            async with answers_within(0.3):  # the connect timeout
                with pytest.raises(SessionBackendError) as caught:
                    await backend.read("session:a", 60)
        assert "Timeout connecting" in str(caught.value.__cause__)

        # Once thawed, Redis first drains the abandoned connections; then it answers again.
        deadline = time.monotonic() + 30
        while True:
            try:
                assert await backend.read("session:a", 60) == VALUE
                break
            except SessionBackendError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
    finally:
        await redis_client.aclose()


async def test_the_backend_timeout_bounds_a_client_without_short_socket_timeouts(
    fresh_redis_server: RedisServer,
) -> None:
    # from_url's defaults: a 5-second socket timeout.
    redis_client = redis.asyncio.Redis.from_url(fresh_redis_server.url)
    backend = RedisBackend(redis_client, timeout=0.3)
    try:
        await backend.create("session:a", VALUE, 60)
        with stalled(fresh_redis_server):
            async with answers_within(0.3):  # the backend's timeout, not the client's 5 s
                with pytest.raises(SessionBackendError) as caught:
                    await backend.read("session:a", 60)
        assert isinstance(caught.value.__cause__, TimeoutError)
        # The cancelled command's connection was dropped: no stale reply is read later.
        assert await backend.read("session:a", 60) == VALUE
    finally:
        await redis_client.aclose()


async def test_the_backend_timeout_bounds_a_sync_client_too(
    fresh_redis_server: RedisServer,
) -> None:
    sync_client = redis.Redis.from_url(fresh_redis_server.url)
    backend = RedisBackend(sync_client, timeout=0.3)
    try:
        await backend.create("session:a", VALUE, 60)
        with stalled(fresh_redis_server):
            async with answers_within(0.3):  # a sync client has no timeout of its own here
                with pytest.raises(SessionBackendError):
                    await backend.read("session:a", 60)
        assert await backend.read("session:a", 60) == VALUE
    finally:
        sync_client.close()


async def test_the_default_backend_timeout_answers_within_two_seconds(
    fresh_redis_server: RedisServer,
) -> None:
    redis_client = redis.asyncio.Redis.from_url(fresh_redis_server.url)
    backend = RedisBackend(redis_client)
    assert backend.timeout == 2.0
    try:
        await backend.create("session:a", VALUE, 60)
        with stalled(fresh_redis_server):
            async with answers_within(2.0) as watch:  # not the client's 5-second socket timeout
                with pytest.raises(SessionBackendError):
                    await backend.read("session:a", 60)
        assert watch.elapsed >= 2.0 - 0.05  # a timeout never fires early
    finally:
        await redis_client.aclose()


async def test_many_requests_on_a_stalled_redis_fail_fast_through_a_small_blocking_pool(
    fresh_redis_server: RedisServer,
) -> None:
    """50 concurrent requests share 4 connections: none waits longer than the pool timeout plus
    the socket timeout, and Redis sees a handful of connections, not one per request."""
    stats = redis.Redis.from_url(fresh_redis_server.url)
    redis_client = recommended_client(fresh_redis_server.url, timeout=0.3, max_connections=4)
    try:
        async with _client(RedisBackend(redis_client)) as client:
            await client.post("/increment")
            connections_before = stats.info("stats")["total_connections_received"]

            with stalled(fresh_redis_server):
                # 4 wait for a reply (socket timeout), the 46 others for a connection (pool
                # timeout): all of them answered within the two timeouts, not one after another.
                async with answers_within(0.3 + 0.3):
                    responses = await asyncio.gather(*(client.get("/session") for _ in range(50)))

            assert [response.status_code for response in responses] == [503] * 50
            # Counted: a pool that grew, or dropped and reopened connections one after another,
            # opens many more (the count can only come out low, if Redis has not yet accepted
            # every queued connection when it answers INFO).
            opened = stats.info("stats")["total_connections_received"] - connections_before
            assert opened <= 8, f"{opened} connections for a pool of 4"

            # After the stall every request gets its own reply again.
            replies = await asyncio.gather(*(client.get("/session") for _ in range(20)))
            assert {reply.status_code for reply in replies} == {200}
            assert all(reply.json() == {"count": 1} for reply in replies)
    finally:
        await redis_client.aclose()
        stats.close()
