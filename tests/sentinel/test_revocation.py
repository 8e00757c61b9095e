"""A revocation and a Sentinel failover: with ``RedisBackend(wait_for_replicas=1)`` a revocation
returns only once a replica has it, so a failover cannot undo it; when no replica confirms in
time it raises ``SessionReplicationError``. Without it, the control run shows the failover
bringing revoked sessions back.

The replica is made to lag for real: it replicates through a TCP proxy (``tests.tcp_proxy``),
which the test freezes (no byte reaches the replica) and then cuts when the master is killed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio
import redis.sentinel

from starlette_session import SessionReplicationError, SessionSettingsError, SessionStore
from starlette_session.backends.redis import RedisBackend
from tests.helpers import make_app, session_cookie
from tests.sentinel.failover import FAILOVER_DEADLINE, sentinel_client
from tests.servers import RedisSentinelGroup
from tests.tcp_proxy import TcpProxy
from tests.test_events import BASE

pytestmark = [pytest.mark.redis, pytest.mark.sentinel, pytest.mark.slow]

#: The client's socket timeout, and how long a deletion waits for a replica.
SOCKET_TIMEOUT = 1.0
WAIT_TIMEOUT = 0.6


@pytest.fixture
def lagging(redis_sentinel: RedisSentinelGroup) -> Iterator[TcpProxy]:
    """A proxy between the master and its replica, through which the replica replicates."""
    master, replica = redis_sentinel.servers
    with TcpProxy(master.host, master.port) as proxy:
        direct = redis.Redis(host=replica.host, port=replica.port)
        try:
            direct.replicaof(master.host, proxy.port)
        finally:
            direct.close()
        redis_sentinel.wait_until_replicated(master)
        yield proxy


@pytest.fixture
async def sentinel_redis(redis_sentinel: RedisSentinelGroup) -> AsyncIterator[Any]:
    client = sentinel_client(redis_sentinel, timeout=SOCKET_TIMEOUT)
    try:
        yield client
    finally:
        await client.aclose()
        for sentinel in client.connection_pool.sentinel_manager.sentinels:
            await sentinel.aclose()


class App:
    """The app of ``store``, and its users' requests over HTTP (in process)."""

    def __init__(self, store: SessionStore[Any]) -> None:
        self.store = store
        self.app = make_app(store)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=BASE)


async def log_in_twice(app: App) -> list[str]:
    """alice logs in on two devices; their cookies."""
    cookies = []
    for _ in range(2):
        async with app.client() as c:
            cookie = session_cookie(await c.get("/login", params={"user": "alice"}))
        assert cookie is not None
        cookies.append(cookie)
    return cookies


async def opened(app: App, cookie: str) -> Any:
    """What the session of ``cookie`` holds now."""
    async with app.client() as c:
        response = await c.get("/get", headers={"cookie": f"session={cookie}"})
    assert response.status_code == 200, response.text
    return response.json()


async def fail_over(group: RedisSentinelGroup, proxy: TcpProxy) -> None:
    """Kill the master while the replica lags, drop what it had not received, and wait until the
    Sentinels have promoted the replica."""
    master, replica = group.servers
    master.kill()
    proxy.down()
    await asyncio.to_thread(group.wait_for_master, replica, FAILOVER_DEADLINE)


async def test_without_waiting_a_failover_brings_revoked_sessions_back(
    redis_sentinel: RedisSentinelGroup, lagging: TcpProxy, sentinel_redis: Any
) -> None:
    """The control run: what the docs warn of when wait_for_replicas is not set."""
    store: SessionStore[Any] = SessionStore(RedisBackend(sentinel_redis))
    app = App(store)
    cookies = await log_in_twice(app)
    await asyncio.to_thread(redis_sentinel.wait_until_replicated, redis_sentinel.servers[0])
    with lagging.frozen():
        assert await store.revoke_user_sessions("alice") == 2
        assert [await opened(app, cookie) for cookie in cookies] == [{}, {}]
        await fail_over(redis_sentinel, lagging)
    assert [(await opened(app, cookie)).get("user") for cookie in cookies] == ["alice"] * 2


async def test_a_revocation_that_returned_survives_a_failover(
    redis_sentinel: RedisSentinelGroup, lagging: TcpProxy, sentinel_redis: Any
) -> None:
    backend = RedisBackend(sentinel_redis, wait_for_replicas=1, wait_timeout=WAIT_TIMEOUT)
    store: SessionStore[Any] = SessionStore(backend)
    app = App(store)
    cookies = await log_in_twice(app)
    with lagging.frozen():
        revoking = asyncio.create_task(store.revoke_user_sessions("alice"))
        await asyncio.sleep(0.2)
        assert not revoking.done(), "the revocation waits for the replica"
    assert await revoking == 2  # the replica caught up and confirmed
    with lagging.frozen():
        await fail_over(redis_sentinel, lagging)
    assert [await opened(app, cookie) for cookie in cookies] == [{}, {}]


@pytest.fixture(params=["async", "sync"])
def any_client(request: pytest.FixtureRequest, redis_sentinel: RedisSentinelGroup) -> Iterator[Any]:
    """The asyncio Sentinel client, or a sync one (whose calls run in worker threads)."""
    if request.param == "async":
        yield request.getfixturevalue("sentinel_redis")
        return
    sentinel = redis.sentinel.Sentinel(
        redis_sentinel.sentinel_addresses, sentinel_kwargs={"socket_timeout": SOCKET_TIMEOUT}
    )
    client = sentinel.master_for(redis_sentinel.service, socket_timeout=SOCKET_TIMEOUT)
    try:
        yield client
    finally:
        client.close()


async def test_a_revocation_no_replica_confirms_in_time_raises(
    redis_sentinel: RedisSentinelGroup, lagging: TcpProxy, any_client: Any
) -> None:
    backend = RedisBackend(any_client, wait_for_replicas=1, wait_timeout=WAIT_TIMEOUT)
    store: SessionStore[Any] = SessionStore(backend)
    app = App(store)
    cookies = await log_in_twice(app)
    with lagging.frozen():
        with pytest.raises(SessionReplicationError, match="0 of the 1 replicas") as raised:
            await store.revoke_user_sessions("alice")
        assert "a failover now could bring them back" in str(raised.value)
        # Deleted on the master all the same: the application knows it is not safe yet.
        assert [await opened(app, cookie) for cookie in cookies] == [{}, {}]
        # Trying again finds nothing left to delete, and still cannot confirm the deletions.
        with pytest.raises(SessionReplicationError, match="0 of the 1 replicas"):
            await store.revoke_user_sessions("alice")
    # Once the replica has caught up, trying again confirms the revocation.
    assert await store.revoke_user_sessions("alice") == 0


async def test_a_log_out_no_replica_confirms_in_time_answers_503(
    redis_sentinel: RedisSentinelGroup, lagging: TcpProxy, sentinel_redis: Any
) -> None:
    backend = RedisBackend(sentinel_redis, wait_for_replicas=1, wait_timeout=WAIT_TIMEOUT)
    app = App(SessionStore(backend))
    [cookie, _] = await log_in_twice(app)
    async with app.client() as c:
        headers = {"cookie": f"session={cookie}"}
        with lagging.frozen():
            response = await c.get("/logout", headers=headers)
            assert response.status_code == 503
            assert session_cookie(response) is None  # not confirmed: the browser keeps it
        response = await c.get("/logout", headers=headers)  # the replica is back
        assert response.status_code == 200
    assert await opened(app, cookie) == {}


def test_waiting_is_refused_where_it_cannot_work() -> None:
    client = redis.asyncio.Redis()
    with pytest.raises(SessionSettingsError, match="less than the backend's timeout"):
        RedisBackend(client, timeout=0.5, wait_for_replicas=1, wait_timeout=0.5)
    with pytest.raises(SessionSettingsError, match=r"0 \(do not wait\) or more"):
        RedisBackend(client, wait_for_replicas=-1)
    cluster = redis.asyncio.RedisCluster(host="127.0.0.1", port=7000)
    with pytest.raises(SessionSettingsError, match="cluster"):
        RedisBackend(cluster, wait_for_replicas=1)
