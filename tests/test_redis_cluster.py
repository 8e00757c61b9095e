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
from tests.helpers import RedisClients, cookie_attributes, make_app, session_cookie
from tests.servers import free_port

if TYPE_CHECKING:
    from redis.asyncio import RedisCluster

redis = pytest.importorskip("redis")


@pytest.fixture
def cluster(redis_cluster_url: str, redis_clients: RedisClients) -> RedisCluster:
    """A new cluster client, not yet initialized: its first command finds the nodes."""
    return redis_clients.cluster(redis_cluster_url)


@pytest.fixture
def store(cluster: RedisCluster) -> SessionStore[Any]:
    from starlette_session.backends import RedisBackend

    return SessionStore(RedisBackend(cluster))


def client_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def http(store: SessionStore[Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(make_app(store)) as client:
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
        async with client_for(app) as http:  # one visitor each: no cookie jar shared
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

        async with client_for(make_app(SessionStore(backend))) as http:
            response = await http.get("/set", params={"cart": "1"})
        assert response.status_code == 503
    finally:
        await client.aclose()
