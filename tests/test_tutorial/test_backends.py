"""docs_src/backends: each backend's sample serves sessions, kept where the page says."""

from __future__ import annotations

import pytest
import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.testclient import TestClient

from starlette_session import load_session
from starlette_session.backends import CookieBackend, MemoryBackend
from tests.test_tutorial.conftest import LoadSample


async def visit(request: Request) -> JSONResponse:
    session = await load_session(request)
    session["visits"] = session.get("visits", 0) + 1
    return JSONResponse(session["visits"])


def count_visits(app: Starlette, times: int = 3) -> list[int]:
    """Visit ``app`` ``times`` times with one client; the counts it answered."""
    app.add_route("/visit", visit, methods=["POST"])
    with TestClient(app) as client:
        return [client.post("/visit").json() for _ in range(times)]


def test_memory(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.backends.memory")
    assert isinstance(sample.store.backend, MemoryBackend)
    assert sample.store.backend.max_entries == 100_000
    assert count_visits(sample.app) == [1, 2, 3]


def test_cookie_keeps_no_server_state(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.backends.cookie")
    assert isinstance(sample.store.backend, CookieBackend)
    app = sample.app
    app.add_route("/visit", visit, methods=["POST"])
    with TestClient(app) as client:
        client.post("/visit")
        cookie = client.cookies["session"]
        client.post("/visit")
        assert client.cookies["session"] != cookie  # the data is in the cookie
        client.cookies.set("session", cookie)  # an old copy still holds its data
        assert client.post("/visit").json() == 2


@pytest.mark.redis
@pytest.mark.parametrize("name", ["docs_src.backends.redis", "docs_src.backends.redis_sync"])
def test_redis(
    name: str, load_sample: LoadSample, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    sample = load_sample(name)
    assert count_visits(sample.app) == [1, 2, 3]
    if name.endswith("redis_sync"):
        sample.client.close()
    server = redis.Redis.from_url(redis_url)
    [key] = server.keys("session:*")
    assert 0 < server.ttl(key) <= 14 * 24 * 60 * 60
    server.close()


@pytest.mark.redis
def test_redis_cluster(
    load_sample: LoadSample, redis_cluster_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_CLUSTER_URL", redis_cluster_url)
    sample = load_sample("docs_src.backends.redis_cluster")
    assert count_visits(sample.app) == [1, 2, 3]
    cluster = redis.RedisCluster.from_url(redis_cluster_url)
    assert len(cluster.keys("session:*", target_nodes=redis.RedisCluster.ALL_NODES)) == 1
    cluster.close()


@pytest.mark.memcached
def test_memcached(
    load_sample: LoadSample, memcached_address: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    host, port = memcached_address
    monkeypatch.setenv("MEMCACHED_HOST", host)
    monkeypatch.setenv("MEMCACHED_PORT", str(port))
    sample = load_sample("docs_src.backends.memcached")
    assert count_visits(sample.app) == [1, 2, 3]


def test_custom(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.backends.custom")
    assert count_visits(sample.app) == [1, 2, 3]
