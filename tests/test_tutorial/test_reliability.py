"""docs_src/reliability: the samples of docs/reliability.md against a real redis-server that is
killed and restarted."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import make_app
from tests.servers import RedisServer
from tests.test_tutorial.conftest import LoadSample

pytestmark = pytest.mark.redis


async def test_the_recommended_client_settings_run_and_bound_an_outage(
    persistent_redis_server: RedisServer,
    load_sample: LoadSample,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = persistent_redis_server
    monkeypatch.setenv("REDIS_URL", server.url)
    sample = load_sample("docs_src.reliability.redis_client")
    client, store = sample.client, sample.store
    try:
        assert client.connection_pool.max_connections == 50
        transport = httpx.ASGITransport(app=make_app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.post("/increment")).json() == {"count": 1}
            server.kill()
            assert (await http.post("/increment")).status_code == 503
            server.restart()
            assert (await http.post("/increment")).json() == {"count": 2}
    finally:
        await client.aclose()


async def test_the_application_answers_an_outage_itself(
    fresh_redis_server: RedisServer, load_sample: LoadSample
) -> None:
    import redis.asyncio

    from starlette_session.backends import RedisBackend

    sample = load_sample("docs_src.reliability.catch_outage")
    client = redis.asyncio.Redis.from_url(fresh_redis_server.url, socket_timeout=0.5)
    app = sample.create_app(RedisBackend(client, timeout=0.5))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/")).text == "<p>Welcome!</p>"
            await http.post("/login", params={"user": "ann"})
            assert (await http.get("/")).text == "<p>Welcome, ann!</p>"
            fresh_redis_server.kill()
            down = await http.get("/")
            assert (down.status_code, down.text) == (
                200,
                "<p>Welcome! Signing in is briefly unavailable.</p>",
            )
    finally:
        await client.aclose()


async def test_anonymous_mode_serves_an_unsaved_session_while_redis_is_down(
    persistent_redis_server: RedisServer, load_sample: LoadSample, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", persistent_redis_server.url)
    sample = load_sample("docs_src.reliability.anonymous")
    transport = httpx.ASGITransport(app=make_app(sample.store))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.post("/increment")).json() == {"count": 1}
            persistent_redis_server.kill()
            down = await http.post("/increment")
            assert down.status_code == 200
            assert down.json() == {"count": 1}  # an empty session, not saved
            assert "set-cookie" not in down.headers
            persistent_redis_server.restart()
            assert (await http.post("/increment")).json() == {"count": 2}  # the real session
    finally:
        await sample.client.aclose()
