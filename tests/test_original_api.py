"""The original starlette-session API keeps working: its README example, every BackendType, a
custom ISessionBackend, and its defaults.

``tests/original_readme_example.py`` is the README example as written; each test runs it afresh
with runpy and points its ``redis_client`` at the suite's own redis-server.
"""

from __future__ import annotations

import runpy
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from starlette_session import SessionMiddleware, SessionStore
from starlette_session.backends import BackendType, CookieBackend, LegacyBackend, MemoryBackend
from starlette_session.cookies import CookieSettings
from tests.helpers import (
    SECRET,
    DictSessionBackend,
    ManualClock,
    cookie_attributes,
    http_client,
    original_app,
)

README_EXAMPLE = Path(__file__).with_name("original_readme_example.py")
# The original README's secret, "secret", is a placeholder (and short): the library says so.
SHORT_SECRET_WARNING = "ignore:the session secret_key is a placeholder"
FOURTEEN_DAYS = 14 * 24 * 60 * 60


def run_readme_example(redis_url: str) -> dict[str, Any]:
    """The README example's globals, with its Redis client pointed at ``redis_url``."""
    redis = pytest.importorskip("redis")
    namespace = runpy.run_path(str(README_EXAMPLE))
    target = redis.ConnectionPool.from_url(redis_url).connection_kwargs
    namespace["redis_client"].connection_pool.connection_kwargs.update(target)
    return namespace


@pytest.mark.redis
@pytest.mark.filterwarnings(SHORT_SECRET_WARNING)
def test_the_readme_example_sets_views_and_clears_the_session_in_redis(redis_url: str) -> None:
    import redis

    example = run_readme_example(redis_url)
    redis_client = redis.Redis.from_url(redis_url)  # our own client on the suite's server
    with TestClient(example["app"]) as client:
        response = client.get("/setup_session")
        assert response.json() == {"session": {"data": "session_data"}}
        cookie = client.cookies["cookie22"]
        assert client.get("/view_session").json() == {"session": {"data": "session_data"}}
        [key] = redis_client.keys()
        assert b"session_data" in (redis_client.get(key) or b"")

        response = client.get("/clear_session")
        assert response.json() == {"session": {}}
        assert "cookie22" not in client.cookies
        assert redis_client.keys() == []

        client.cookies.set("cookie22", cookie)  # the cookie from before the clear, replayed
        assert client.get("/view_session").json() == {"session": {}}
    redis_client.close()
    example["redis_client"].close()


@pytest.mark.redis
def test_the_readme_example_warns_that_its_secret_is_guessable(redis_url: str) -> None:
    example = run_readme_example(redis_url)
    with (
        pytest.warns(UserWarning, match="placeholder, known to everyone"),
        TestClient(example["app"]),
    ):
        pass
    example["redis_client"].close()


@pytest.mark.redis
@pytest.mark.filterwarnings(SHORT_SECRET_WARNING)
def test_the_readme_example_keeps_the_original_cookie_defaults(redis_url: str) -> None:
    example = run_readme_example(redis_url)
    with TestClient(example["app"]) as client:
        attributes = cookie_attributes(client.get("/setup_session"), "cookie22")
    example["redis_client"].close()

    assert attributes == {
        "max-age": str(FOURTEEN_DAYS),
        "path": "/",
        "httponly": "",
        "samesite": "Lax",
    }


def test_the_original_signature_has_the_original_defaults() -> None:
    middleware = SessionMiddleware(original_app(), secret_key=SECRET, cookie_name="cookie22")
    assert middleware.cookie == CookieSettings(
        name="cookie22", max_age=FOURTEEN_DAYS, same_site="lax", secure=False, domain=None
    )
    assert isinstance(middleware.store.backend, CookieBackend)
    assert middleware.store.idle_timeout == FOURTEEN_DAYS
    assert middleware.autoload is True


def test_the_original_flags_set_secure_and_domain() -> None:
    app = original_app(https_only=True, domain="example.com", same_site="strict", max_age=600)
    with TestClient(app, base_url="https://testserver") as client:
        attributes = cookie_attributes(client.get("/setup_session"), "cookie22")
    assert attributes == {
        "max-age": "600",
        "path": "/",
        "domain": "example.com",
        "httponly": "",
        "samesite": "Strict",
        "secure": "",
    }


@pytest.fixture(
    params=[
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("aioRedis", marks=pytest.mark.redis),
        "custom",
        "memory",
    ]
)
async def server_side_app(
    request: pytest.FixtureRequest,
) -> AsyncIterator[Starlette]:
    """The README routes over each original server-side backend choice."""
    if request.param == "custom":
        yield original_app(custom_session_backend=DictSessionBackend())
    elif request.param == "memory":
        yield original_app(backend_type=BackendType.memory)
    else:
        import redis
        import redis.asyncio

        redis_url = request.getfixturevalue("redis_url")
        if request.param == "redis":
            client: Any = redis.Redis.from_url(redis_url)
        else:
            client = redis.asyncio.Redis.from_url(redis_url)
        yield original_app(backend_type=BackendType[request.param], backend_client=client)
        if request.param == "redis":
            client.close()
        else:
            await client.aclose()


async def test_every_server_side_backend_type_sets_views_and_clears(
    server_side_app: Starlette,
) -> None:
    async with http_client(server_side_app) as client:
        assert (await client.get("/setup_session")).json() == {"session": {"data": "session_data"}}
        cookie = client.cookies["cookie22"]
        assert (await client.get("/view_session")).json() == {"session": {"data": "session_data"}}
        assert (await client.get("/clear_session")).json() == {"session": {}}
        assert "cookie22" not in client.cookies

        client.cookies.set("cookie22", cookie)
        assert (await client.get("/view_session")).json() == {"session": {}}


@pytest.mark.parametrize("backend_type", [BackendType.cookie, None], ids=["cookie", "default"])
async def test_the_cookie_backend_keeps_the_session_in_the_cookie(
    backend_type: BackendType | None,
) -> None:
    app = original_app(backend_type=backend_type)
    async with http_client(app) as client:
        assert (await client.get("/setup_session")).json() == {"session": {"data": "session_data"}}
        cookie = client.cookies["cookie22"]
        assert (await client.get("/view_session")).json() == {"session": {"data": "session_data"}}
        assert (await client.get("/clear_session")).json() == {"session": {}}
        assert "cookie22" not in client.cookies
        assert (await client.get("/view_session")).json() == {"session": {}}

        # Documented: a copy of a cookie-backend cookie taken earlier cannot be revoked.
        client.cookies.set("cookie22", cookie)
        assert (await client.get("/view_session")).json() == {"session": {"data": "session_data"}}


async def test_a_custom_backend_gets_json_objects_that_expire_after_max_age() -> None:
    clock = ManualClock()
    custom = DictSessionBackend(clock=clock)
    app = original_app(custom_session_backend=custom, max_age=600)
    async with http_client(app) as client:
        await client.get("/setup_session")

    [(value, expires_at)] = custom.entries.values()
    assert value["d"] == {"data": "session_data"}
    assert expires_at == clock.now + 600


async def test_a_custom_backend_is_wrapped_in_legacy_backend() -> None:
    custom = DictSessionBackend()
    middleware = SessionMiddleware(
        original_app(), secret_key=SECRET, cookie_name="c", custom_session_backend=custom
    )
    assert isinstance(middleware.store.backend, LegacyBackend)
    assert middleware.store.backend.backend is custom


@pytest.mark.redis
async def test_max_age_is_the_idle_timeout_of_a_redis_session(redis_url: str) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    app = original_app(backend_type=BackendType.aioRedis, backend_client=client, max_age=120)
    async with http_client(app) as http:
        response = await http.get("/setup_session")
    [key] = await client.keys()
    ttl = await client.ttl(key)
    await client.aclose()

    assert 110 <= ttl <= 120
    assert cookie_attributes(response, "cookie22")["max-age"] == "120"


NEEDS_CLIENT: list[Callable[[], SessionMiddleware]] = [
    lambda: SessionMiddleware(original_app(), SECRET, backend_type=BackendType.redis),
    lambda: SessionMiddleware(original_app(), SECRET, backend_type=BackendType.aioRedis),
]


@pytest.mark.parametrize("build", NEEDS_CLIENT, ids=["redis", "aioRedis"])
def test_a_redis_backend_type_without_a_client_is_refused(
    build: Callable[[], SessionMiddleware],
) -> None:
    with pytest.raises(ValueError, match="backend_client"):
        build()


def test_a_store_and_the_original_backend_arguments_are_refused_together() -> None:
    with pytest.raises(ValueError, match="not both"):
        SessionMiddleware(
            original_app(),
            SECRET,
            backend_type=BackendType.memory,
            store=SessionStore(MemoryBackend()),
        )


def test_the_new_api_does_not_autoload_unless_asked() -> None:
    lazy = SessionMiddleware(original_app(), SECRET, store=SessionStore())
    eager = SessionMiddleware(original_app(), SECRET, store=SessionStore(), autoload=True)
    assert (lazy.autoload, eager.autoload) == (False, True)
