"""RedisBackend on a real Redis Cluster: 3 masters that the suite starts (``redis_cluster``).

Session keys hash to slots all over the cluster, so one request's keys (a session and its user's
index, or the sessions a revocation deletes) usually live on different nodes. The backend contract
itself runs on the cluster too (``tests/backends``, id ``redis-cluster``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from starlette.applications import Starlette

from starlette_session import SessionBackendError, SessionStore
from starlette_session.records import RETIRED
from tests.helpers import RedisClients, cookie_attributes, http_client, make_app, session_cookie
from tests.servers import free_port

if TYPE_CHECKING:
    from redis.asyncio import RedisCluster

    from tests.servers import RedisClusterServer

redis = pytest.importorskip("redis")


@pytest.fixture
def cluster(redis_cluster_url: str, redis_clients: RedisClients) -> RedisCluster:
    """A new cluster client, not yet initialized: its first command finds the nodes."""
    return redis_clients.cluster(redis_cluster_url)


@pytest.fixture
def store(cluster: RedisCluster) -> SessionStore[Any]:
    from starlette_session.backends import RedisBackend

    return SessionStore(RedisBackend(cluster))


@pytest.fixture
async def http(store: SessionStore[Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(make_app(store)) as client:
        yield client


async def call(
    http: httpx.AsyncClient, path: str, cookie: str | None = None, **params: str
) -> httpx.Response:
    """GET ``path`` with exactly ``cookie`` as the session cookie (none when None)."""
    http.cookies.clear()
    headers = {"cookie": f"session={cookie}"} if cookie else {}
    response = await http.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response


def key_of(store: SessionStore[Any], cookie: str) -> str:
    """The store key of the session ``cookie`` names."""
    unsigned = store.signer.unsign(cookie)
    assert unsigned is not None
    return store.storage_key(unsigned.payload, unsigned.key_index)


def node_of(cluster: RedisCluster, key: str) -> str:
    """The name (host:port) of the master that holds ``key``'s slot."""
    node = cluster.get_node_from_key(key)
    assert node is not None
    return node.name


@pytest.mark.redis
async def test_a_session_is_set_read_changed_regenerated_and_destroyed(
    http: httpx.AsyncClient, cluster: RedisCluster
) -> None:
    first = session_cookie(await call(http, "/set", cart="1"))
    assert first is not None
    assert (await call(http, "/get", first)).json() == {"cart": "1"}

    changed = await call(http, "/set", first, cart="2")
    assert session_cookie(changed) is None, "a change keeps the id"
    assert (await call(http, "/get", first)).json() == {"cart": "2"}

    second = session_cookie(await call(http, "/regenerate", first))
    assert second is not None
    assert second != first
    assert (await call(http, "/get", second)).json() == {"cart": "2"}
    assert (await call(http, "/get", first)).json() == {}, "the old id is gone"

    destroyed = await call(http, "/destroy", second)
    assert cookie_attributes(destroyed)["max-age"] == "0"
    assert (await call(http, "/get", second)).json() == {}
    # The old id's entry says "retired" for a minute (requests still carrying it get a 409).
    leftovers = [await cluster.get(key) for key in await cluster.keys()]
    assert leftovers in ([], [RETIRED]), "nothing usable left on any node"


@pytest.mark.redis
async def test_revoking_a_user_deletes_sessions_on_every_node(
    http: httpx.AsyncClient, store: SessionStore[Any], cluster: RedisCluster
) -> None:
    # Log in until alice has sessions on all three masters (about 5 logins on average), so
    # that the one delete of revoke_user_sessions spans slots and nodes.
    cookies: list[str] = []
    nodes: set[str] = set()
    while len(nodes) < 3:
        assert len(cookies) < 50, "session keys do not spread over the cluster"
        cookie = session_cookie(await call(http, "/login", user="alice"))
        assert cookie is not None
        cookies.append(cookie)
        keys = [info.key for info in await store.user_sessions("alice")]
        nodes = {node_of(cluster, key) for key in keys}
    assert len({cluster.keyslot(key) for key in keys}) == len(cookies)
    bob = session_cookie(await call(http, "/login", user="bob"))

    assert await store.revoke_user_sessions("alice") == len(cookies)

    assert [await cluster.get(key) for key in keys] == [None] * len(keys)
    assert await store.user_sessions("alice") == []
    for cookie in cookies:
        assert (await call(http, "/get", cookie)).json() == {}
    assert (await call(http, "/get", bob)).json() == {"user": "bob"}


@pytest.mark.redis
async def test_a_new_client_serves_concurrent_first_requests(store: SessionStore[Any]) -> None:
    # The first commands of the not-yet-initialized client all arrive at once: redis-py would
    # route them before it knows the slots, and they would break each other's connections.
    app = make_app(store)

    async def visit(n: int) -> str | None:
        async with http_client(app) as http:  # one visitor each: no cookie jar shared
            response = await http.get("/set", params={"n": str(n)})
        assert response.status_code == 200, response.text
        return session_cookie(response)

    cookies = await asyncio.gather(*(visit(n) for n in range(20)))

    assert None not in cookies
    assert len(set(cookies)) == 20


async def test_a_cluster_that_cannot_be_reached_raises_session_backend_error() -> None:
    from starlette_session.backends import RedisBackend

    client = redis.asyncio.RedisCluster.from_url(f"redis://127.0.0.1:{free_port()}")
    try:
        backend = RedisBackend(client)
        with pytest.raises(SessionBackendError, match="Redis") as caught:
            await backend.read("session:a", 60)
        assert isinstance(caught.value.__cause__, redis.exceptions.RedisClusterException)

        async with http_client(make_app(SessionStore(backend))) as http:
            response = await http.get("/set", params={"cart": "1"})
        assert response.status_code == 503
    finally:
        await client.aclose()


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.parametrize("frozen_index", [0, 2], ids=["startup-node", "other-node"])
async def test_a_frozen_master_fails_no_read_of_a_session_on_the_healthy_ones(
    redis_cluster: RedisClusterServer, redis_cluster_url: str, frozen_index: int
) -> None:
    """60 users read their sessions while one of the 3 masters is stopped (SIGSTOP) for 3 s:
    every read of a session on a healthy master answers 200; those on the frozen one 200 or 503."""
    from starlette_session.backends import RedisBackend

    client = redis.asyncio.RedisCluster.from_url(redis_cluster_url)
    store: SessionStore[Any] = SessionStore(RedisBackend(client))
    app = make_app(store)
    try:
        async with http_client(app) as http:
            cookies = await asyncio.gather(*(_new_session(app, n) for n in range(60)))
            nodes = [node_of(client, key_of(store, cookie)) for cookie in cookies]
            frozen = redis_cluster.nodes[frozen_index]
            frozen_name = f"{frozen.host}:{frozen.port}"
            assert 0 < nodes.count(frozen_name) < len(nodes)
            outcomes: list[tuple[bool, int]] = []

            async def reader(cookie: str, node: str, until: float) -> None:
                loop = asyncio.get_running_loop()
                while loop.time() < until:
                    http.cookies.clear()
                    response = await http.get("/get", headers={"cookie": f"session={cookie}"})
                    outcomes.append((node == frozen_name, response.status_code))
                    await asyncio.sleep(0.01)

            frozen.freeze()
            try:
                until = asyncio.get_running_loop().time() + 3.0
                await asyncio.gather(*(map(reader, cookies, nodes, [until] * len(cookies))))
            finally:
                frozen.thaw()

            healthy = [status for on_frozen, status in outcomes if not on_frozen]
            stalled = [status for on_frozen, status in outcomes if on_frozen]
            assert len(healthy) > 100, "the healthy masters kept serving"
            failed = [status for status in healthy if status != 200]
            assert failed == [], f"{len(failed)} of {len(healthy)} healthy-node reads failed"
            assert set(stalled) <= {200, 503}
            # Once thawed, every session is there again.
            for n, cookie in enumerate(cookies):
                assert (await call(http, "/get", cookie)).json() == {"n": str(n)}
    finally:
        await client.aclose()


async def _new_session(app: Starlette, n: int) -> str:
    async with http_client(app) as http:  # a visitor of its own: no cookie jar shared
        response = await http.get("/set", params={"n": str(n)})
    cookie = session_cookie(response)
    assert cookie is not None
    return cookie


@pytest.fixture(
    params=[
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("valkey", marks=pytest.mark.valkey),
    ]
)
def any_cluster(request: pytest.FixtureRequest) -> tuple[RedisClusterServer, str]:
    """A Redis Cluster, or a Valkey one, and its URL (every node flushed)."""
    server: RedisClusterServer = request.getfixturevalue(f"{request.param}_cluster")
    return server, request.getfixturevalue(f"{request.param}_cluster_url")


async def test_one_turns_commands_for_a_frozen_node_fail_alone(
    any_cluster: tuple[RedisClusterServer, str],
) -> None:
    """The fast form of the test above: 30 reads that share one event-loop turn (hence one
    automatic pipeline per node) while a master is stopped; only that master's reads fail."""
    from starlette_session.backends import RedisBackend

    redis_cluster, url = any_cluster
    client = redis.asyncio.RedisCluster.from_url(url)
    backend = RedisBackend(client, timeout=0.3)
    keys = [f"session:{n}" for n in range(30)]
    try:
        for key in keys:
            await backend.create(key, key.encode(), 60)
        frozen = redis_cluster.nodes[1]
        frozen_name = f"{frozen.host}:{frozen.port}"
        on_frozen = [node_of(client, key) == frozen_name for key in keys]
        assert 0 < sum(on_frozen) < len(keys)
        frozen.freeze()
        try:
            results = await asyncio.gather(
                *(backend.read(key, 60) for key in keys), return_exceptions=True
            )
        finally:
            frozen.thaw()
        for key, stalled, result in zip(keys, on_frozen, results, strict=True):
            if stalled:
                assert isinstance(result, SessionBackendError)
            else:
                assert result == key.encode()
    finally:
        await client.aclose()
