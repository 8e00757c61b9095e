"""A sync Redis client's worker threads are its own: a stalled Redis delays no request that does
not use the session.

Starlette runs sync endpoints in anyio's default thread limiter (40 threads). The original API's
``BackendType.redis`` takes a sync ``redis.Redis``, whose commands also run in worker threads;
when they shared that limiter, a stalled Redis with enough waiting session requests held every
one of its threads, and a sync endpoint that never touches the session waited for the session
requests' timeouts. Now the client's commands run in a limiter of their own, sized to its pool.

The server is really stalled (SIGSTOP). The test asserts on order, not on timings: the sync
endpoint answers while every session request is still waiting for Redis.
"""

from __future__ import annotations

import asyncio

import pytest
import redis
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from starlette_session.backends import BackendType
from tests.helpers import http_client, make_app, session_cookie
from tests.reliability.support import answers_within, stalled
from tests.servers import RedisServer

pytestmark = pytest.mark.redis

#: More waiting session requests than anyio's default limiter has threads (40).
REQUESTS = 60


def _plain(request: Request) -> Response:
    """A sync endpoint that never touches the session."""
    return PlainTextResponse("plain")


async def test_a_stalled_sync_client_delays_no_sync_endpoint_that_skips_the_session(
    fresh_redis_server: RedisServer,
) -> None:
    sync_client = redis.Redis.from_url(fresh_redis_server.url)  # the original API's client
    app = make_app(
        routes=[Route("/plain", _plain)],
        original_api=True,
        backend_type=BackendType.redis,
        backend_client=sync_client,
    )
    try:
        async with http_client(app) as client:
            cookie = session_cookie(await client.get("/set", params={"a": "1"}))
            assert cookie
            finished: list[str] = []

            async def use_session() -> int:
                async with http_client(app) as user:
                    user.cookies.set("session", cookie)
                    response = await user.get("/get")
                finished.append("session")
                return response.status_code

            async def plain() -> int:
                # No cookie: the original API's middleware reads no session for this request.
                async with http_client(app) as visitor:
                    response = await visitor.get("/plain")
                finished.append("plain")
                return response.status_code

            with stalled(fresh_redis_server):
                async with answers_within(2.0 * 2):  # two rounds of the default timeout at most
                    sessions = [asyncio.ensure_future(use_session()) for _ in range(REQUESTS)]
                    await asyncio.sleep(0.2)  # every session request is waiting for Redis
                    plain_status = await plain()
                    waiting_when_plain_answered = REQUESTS - finished.count("session")
                    statuses = await asyncio.gather(*sessions)

            assert plain_status == 200
            assert finished[0] == "plain"
            assert waiting_when_plain_answered == REQUESTS
            assert statuses == [503] * REQUESTS  # the backend's 2 s timeout, then 503
            assert (await client.get("/get")).json() == {"a": "1"}  # thawed: as before
    finally:
        sync_client.close()


async def test_a_sync_clients_threads_are_as_many_as_its_pool_has_connections(
    fresh_redis_server: RedisServer,
) -> None:
    """A redis-py pool that is full raises ("Too many connections") instead of waiting: no more
    threads use the client at once than it has connections, so the others wait their turn."""
    pool = redis.ConnectionPool.from_url(fresh_redis_server.url, max_connections=2)
    sync_client = redis.Redis(connection_pool=pool)
    app = make_app(original_api=True, backend_type=BackendType.redis, backend_client=sync_client)

    async def new_visitor() -> int:
        async with http_client(app) as user:
            first = await user.get("/set", params={"a": "1"})
            second = await user.get("/set", params={"b": "2"})
            return max(first.status_code, second.status_code)

    try:
        statuses = await asyncio.gather(*(new_visitor() for _ in range(REQUESTS)))
        assert statuses == [200] * REQUESTS
    finally:
        sync_client.close()
