"""After Redis comes back, the very next request succeeds, with the same application and client,
and sessions written before the outage are still valid when Redis persists them (AOF).

The redis-server process is really killed (SIGKILL) and started again on the same port.
"""

from __future__ import annotations

import pytest
import redis.asyncio

from starlette_session import SessionStore
from starlette_session.backends.redis import RedisBackend
from tests.helpers import http_client, make_app, set_cookie_headers
from tests.reliability.support import recommended_client
from tests.servers import RedisServer

pytestmark = pytest.mark.redis


def _redis_client(kind: str, server: RedisServer) -> redis.asyncio.Redis:
    if kind == "recommended":
        return recommended_client(server.url)
    if kind == "from_url":
        return redis.asyncio.Redis.from_url(server.url)
    return redis.asyncio.Redis(host=server.host, port=server.port)


@pytest.mark.parametrize("kind", ["recommended", "from_url", "constructor"])
async def test_the_first_request_after_a_restart_succeeds_and_old_sessions_are_valid(
    persistent_redis_server: RedisServer, kind: str
) -> None:
    redis_client = _redis_client(kind, persistent_redis_server)
    app = make_app(SessionStore(RedisBackend(redis_client, timeout=1.0)))
    users = [http_client(app) for _ in range(3)]
    try:
        for user in users:
            assert (await user.post("/increment")).json() == {"count": 1}
        cookies = [user.cookies.get("session") for user in users]

        persistent_redis_server.kill()
        assert (await users[0].post("/increment")).status_code == 503
        persistent_redis_server.restart()

        # users[1] and [2] find the pooled connections that died with the old server.
        for user, cookie in zip(users, cookies, strict=True):
            response = await user.post("/increment")
            assert (response.status_code, response.json()) == (200, {"count": 2})
            assert set_cookie_headers(response) == []
            assert user.cookies.get("session") == cookie
    finally:
        for user in users:
            await user.aclose()
        await redis_client.aclose()


async def test_without_persistence_a_restart_ends_every_session_cleanly(
    fresh_redis_server: RedisServer,
) -> None:
    """Not an error: the old cookie finds nothing, so the user starts a new session."""
    redis_client = recommended_client(fresh_redis_server.url)
    try:
        async with http_client(make_app(SessionStore(RedisBackend(redis_client)))) as user:
            await user.post("/increment")
            old_cookie = user.cookies.get("session")

            fresh_redis_server.kill()
            fresh_redis_server.restart()

            assert (await user.get("/session")).json() == {}
            assert (await user.post("/increment")).json() == {"count": 1}
            assert user.cookies.get("session") not in (None, old_cookie)
    finally:
        await redis_client.aclose()
