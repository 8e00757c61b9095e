"""The original starlette-session API in full: every BackendType, MemcacheJSONSerde, the original's
backend classes and its exception, with the original's behaviour (JSON where it pickled).
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from starlette_session import SessionMiddleware
from starlette_session.backends import (
    AioMemcacheSessionBackend,
    AioRedisSessionBackend,
    BackendType,
    CookieBackend,
    LegacyBackend,
    MemcacheJSONSerde,
    MemcacheSessionBackend,
    MemoryBackend,
    RedisSessionBackend,
    SessionBackend,
    UnknownPredefinedBackend,
)
from starlette_session.compat import build_original_backend, original_session_reader
from starlette_session.interfaces import ISessionBackend
from tests.helpers import SECRET, DictSessionBackend, original_app

FOURTEEN_DAYS = 14 * 24 * 60 * 60
ADDRESS = ("127.0.0.1", 1)  # never connected to


# MemcacheJSONSerde, as the original's own test_MemcacheJSONSerde checks it


def test_memcache_json_serde_behaves_as_the_originals() -> None:
    serde = MemcacheJSONSerde()
    assert serde.serialize("key", "test") == ("test", 1)
    assert serde.serialize("key", {"key1": "test"}) == ('{"key1": "test"}', 2)
    assert serde.deserialize("key", "value", 1) == "value"
    assert serde.deserialize("key", '{"key1": "test"}', 2) == {"key1": "test"}
    with pytest.raises(Exception, match="Unknown flags"):
        serde.deserialize("key", '{"key1": "test"}', -1)


def test_memcache_json_serde_keeps_bytes_and_never_unpickles() -> None:
    serde = MemcacheJSONSerde()
    assert serde.serialize("key", b"\x00raw") == (b"\x00raw", 0)
    assert serde.deserialize("key", b"\x00raw", 0) == b"\x00raw"
    with pytest.raises(ValueError, match="Unknown flags"):
        serde.deserialize("key", pickle.dumps({"a": 1}), 1 << 0 | 1 << 3)  # pymemcache's pickle
    with pytest.raises(ValueError, match="Unknown flags"):
        serde.deserialize("key", b"1", 16)


# build_original_backend: which backend each original choice builds


def test_no_backend_type_and_cookie_keep_the_session_in_the_cookie() -> None:
    assert isinstance(build_original_backend(None, None, None), CookieBackend)
    assert isinstance(build_original_backend(BackendType.cookie, object(), None), CookieBackend)


def test_memory_needs_no_client() -> None:
    assert isinstance(build_original_backend(BackendType.memory, None, None), MemoryBackend)


@pytest.mark.parametrize("backend_type", [None, *BackendType])
def test_a_custom_backend_wins_whatever_the_backend_type(backend_type: BackendType | None) -> None:
    custom = DictSessionBackend()
    backend = build_original_backend(backend_type, None, custom)
    assert isinstance(backend, LegacyBackend)
    assert backend.backend is custom


def test_a_new_style_backend_as_custom_backend_is_refused_with_the_fix() -> None:
    with pytest.raises(TypeError, match=r"store=SessionStore\(backend\)"):
        build_original_backend(None, None, MemoryBackend())  # type: ignore[arg-type]


@pytest.mark.parametrize("backend_type", ["redis", "cookie", 1, object()])
def test_anything_but_a_backend_type_is_the_originals_unknown_predefined_backend(
    backend_type: Any,
) -> None:
    with pytest.raises(UnknownPredefinedBackend, match="is not a BackendType") as caught:
        build_original_backend(backend_type, object(), None)
    assert isinstance(caught.value, ValueError)
    assert "BackendType.memcache" in str(caught.value)


@pytest.mark.parametrize(
    ("backend_type", "named"),
    [
        (BackendType.redis, "redis.Redis"),
        (BackendType.aioRedis, "redis.asyncio.Redis"),
        (BackendType.memcache, "pymemcache"),
        (BackendType.aioMemcache, "aiomcache.Client"),
    ],
)
def test_a_server_side_type_without_a_client_is_refused_naming_the_client(
    backend_type: BackendType, named: str
) -> None:
    with pytest.raises(ValueError, match=f"backend_client=<.*{named}"):
        build_original_backend(backend_type, None, None)


def test_redis_types_build_a_redis_backend_over_either_client() -> None:
    pytest.importorskip("redis")
    import redis
    import redis.asyncio

    from starlette_session.backends import RedisBackend

    for backend_type in (BackendType.redis, BackendType.aioRedis):
        for client in (redis.Redis(), redis.asyncio.Redis()):
            backend = build_original_backend(backend_type, client, None)
            assert isinstance(backend, RedisBackend)
            assert backend.client is client


def test_an_aioredis_client_is_refused_with_the_redis_asyncio_fix() -> None:
    pytest.importorskip("redis")
    aioredis_client = type("Redis", (), {"__module__": "aioredis.client"})()
    with pytest.raises(TypeError, match=r"aioredis is now part of redis-py.*redis\.asyncio"):
        build_original_backend(BackendType.aioRedis, aioredis_client, None)


@pytest.mark.parametrize("backend_type", [BackendType.redis, BackendType.aioRedis])
def test_a_redis_type_with_another_client_is_refused(backend_type: BackendType) -> None:
    pytest.importorskip("redis")
    with pytest.raises(TypeError, match="not dict"):
        build_original_backend(backend_type, {}, None)


def test_memcache_builds_a_pymemcache_backend_with_the_originals_json_serde() -> None:
    pytest.importorskip("pymemcache")
    from pymemcache.client.base import Client, PooledClient
    from pymemcache.client.hash import HashClient

    from starlette_session.backends import PymemcacheBackend

    hash_client = HashClient([ADDRESS, ("127.0.0.1", 2)])
    for client in (Client(ADDRESS), PooledClient(ADDRESS), hash_client):
        backend = build_original_backend(BackendType.memcache, client, None)
        assert isinstance(backend, PymemcacheBackend)
        assert backend.client is client
    assert isinstance(hash_client.default_kwargs["serde"], MemcacheJSONSerde)
    assert all(isinstance(c.serde, MemcacheJSONSerde) for c in hash_client.clients.values())


def test_the_memcache_types_refuse_each_others_clients() -> None:
    aiomcache = pytest.importorskip("aiomcache")
    pytest.importorskip("pymemcache")
    from pymemcache.client.base import Client

    with pytest.raises(TypeError, match=r"goes with backend_type=BackendType\.aioMemcache"):
        build_original_backend(BackendType.memcache, aiomcache.Client(*ADDRESS), None)
    with pytest.raises(TypeError, match=r"goes with backend_type=BackendType\.memcache"):
        build_original_backend(BackendType.aioMemcache, Client(ADDRESS), None)
    with pytest.raises(TypeError, match=r"needs an aiomcache\.Client, not dict"):
        build_original_backend(BackendType.aioMemcache, {}, None)


def test_a_pymemcache_client_for_aiomemcache_is_named_even_without_aiomcache() -> None:
    # Without the aiomcache extra, a pymemcache client given to BackendType.aioMemcache is still
    # told which BackendType takes it, not to install a library it does not need.
    pytest.importorskip("pymemcache")
    code = (
        "import sys\n"
        "sys.modules['aiomcache'] = None  # as if it were not installed\n"
        "from pymemcache.client.base import Client\n"
        "from starlette_session.compat import BackendType, build_original_backend\n"
        "try:\n"
        f"    build_original_backend(BackendType.aioMemcache, Client({ADDRESS!r}), None)\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.startswith("TypeError "), result.stdout + result.stderr
    assert "goes with backend_type=BackendType.memcache" in result.stdout


def test_aiomemcache_builds_the_aiomcache_backend() -> None:
    aiomcache = pytest.importorskip("aiomcache")
    from starlette_session.backends import MemcachedBackend

    client = aiomcache.Client(*ADDRESS)
    backend = build_original_backend(BackendType.aioMemcache, client, None)
    assert isinstance(backend, MemcachedBackend)
    assert backend.client is client


def test_the_old_server_side_sessions_are_readable_only_where_they_were_json() -> None:
    pytest.importorskip("pymemcache")
    from pymemcache.client.base import Client

    custom = DictSessionBackend()
    assert original_session_reader(BackendType.redis, object(), custom) is custom
    reader = original_session_reader(BackendType.memcache, Client(ADDRESS), None)
    assert isinstance(reader, MemcacheSessionBackend)
    for pickled in (BackendType.redis, BackendType.aioRedis, BackendType.aioMemcache):
        assert original_session_reader(pickled, object(), None) is None
    assert original_session_reader(None, None, None) is None


# The original's ISessionBackend classes, against real servers: JSON, never pickle


async def round_trip(backend: ISessionBackend) -> None:
    assert await backend.get("0b7c6a8e") is None
    await backend.set("0b7c6a8e", {"data": "session_data", "n": [1, 2]}, 60)
    assert await backend.get("0b7c6a8e") == {"data": "session_data", "n": [1, 2]}
    await backend.delete("0b7c6a8e")
    assert await backend.get("0b7c6a8e") is None


@pytest.mark.redis
async def test_the_original_redis_backends_store_json(redis_url: str) -> None:
    pytest.importorskip("redis")
    import redis
    import redis.asyncio

    sync_client = redis.Redis.from_url(redis_url)
    async_client = redis.asyncio.Redis.from_url(redis_url)
    try:
        await round_trip(RedisSessionBackend(sync_client))
        await round_trip(AioRedisSessionBackend(async_client))
        await RedisSessionBackend(sync_client).set("k", {"a": 1}, 60)
        assert json.loads(sync_client.get("k") or b"") == {"a": 1}
        assert 50 < sync_client.ttl("k") <= 60
        sync_client.set("pickled", pickle.dumps({"a": 1}))  # what the original wrote
        assert await RedisSessionBackend(sync_client).get("pickled") is None
    finally:
        sync_client.close()
        await async_client.aclose()


@pytest.mark.memcached
async def test_the_original_memcache_backends_store_json(
    memcached_address: tuple[str, int],
) -> None:
    aiomcache = pytest.importorskip("aiomcache")
    pytest.importorskip("pymemcache")
    from pymemcache.client.base import Client, PooledClient

    pooled = PooledClient(memcached_address)
    async_client = aiomcache.Client(*memcached_address)
    raw = Client(memcached_address)
    try:
        await round_trip(MemcacheSessionBackend(pooled))
        await round_trip(AioMemcacheSessionBackend(async_client))
        await MemcacheSessionBackend(pooled).set("k1", {"a": 1}, 60)
        await AioMemcacheSessionBackend(async_client).set("k2", {"a": 2}, 60)
        assert json.loads(raw.get("k1")) == {"a": 1}
        assert json.loads(raw.get("k2")) == {"a": 2}
    finally:
        pooled.close()
        raw.close()
        await async_client.close()


# Applications written for the original, unchanged


async def sets_views_and_clears(app: Starlette) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/view_session")).json() == {"session": {}}
        response = await client.get("/setup_session")
        assert response.json() == {"session": {"data": "session_data"}}
        assert f"Max-Age={FOURTEEN_DAYS};" in response.headers["set-cookie"]
        cookie = client.cookies["cookie22"]
        assert (await client.get("/view_session")).json() == {"session": {"data": "session_data"}}
        assert (await client.get("/clear_session")).json() == {"session": {}}
        assert "cookie22" not in client.cookies
        client.cookies.set("cookie22", cookie)  # the cookie from before the clear, replayed
        assert (await client.get("/view_session")).json() == {"session": {}}


@pytest.fixture
async def pymemcache_pooled_client(
    memcached_address: tuple[str, int],
) -> AsyncIterator[Any]:
    pytest.importorskip("pymemcache")
    from pymemcache.client.base import PooledClient

    client = PooledClient(memcached_address)  # as in the original's memcache example
    yield client
    client.close()


@pytest.fixture
async def aiomcache_client(memcached_address: tuple[str, int]) -> AsyncIterator[Any]:
    aiomcache = pytest.importorskip("aiomcache")
    client = aiomcache.Client(*memcached_address)  # as in the original's aiomcache example
    yield client
    await client.close()


@pytest.mark.memcached
async def test_an_application_with_backend_type_memcache_runs_unchanged(
    pymemcache_pooled_client: Any,
) -> None:
    app = original_app(backend_type=BackendType.memcache, backend_client=pymemcache_pooled_client)
    await sets_views_and_clears(app)
    assert isinstance(pymemcache_pooled_client.serde, MemcacheJSONSerde)  # as the original set


@pytest.mark.memcached
async def test_an_application_with_backend_type_aiomemcache_runs_unchanged(
    aiomcache_client: Any,
) -> None:
    app = original_app(backend_type=BackendType.aioMemcache, backend_client=aiomcache_client)
    await sets_views_and_clears(app)


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param(lambda: {}, id="default"),
        pytest.param(lambda: {"backend_type": BackendType.cookie}, id="cookie"),
        pytest.param(lambda: {"backend_type": BackendType.memory}, id="memory"),
    ],
)
async def test_applications_with_the_other_backend_types_run_unchanged(
    backend: Callable[[], dict[str, Any]],
) -> None:
    app = original_app(**backend())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await client.get("/setup_session")
        assert (await client.get("/view_session")).json() == {"session": {"data": "session_data"}}


@pytest.mark.redis
@pytest.mark.parametrize("backend_type", [BackendType.redis, BackendType.aioRedis])
async def test_applications_with_the_redis_backend_types_run_unchanged(
    redis_url: str, backend_type: BackendType
) -> None:
    pytest.importorskip("redis")
    import redis
    import redis.asyncio

    client: Any = (
        redis.Redis.from_url(redis_url)
        if backend_type is BackendType.redis
        else redis.asyncio.Redis.from_url(redis_url)
    )
    try:
        await sets_views_and_clears(original_app(backend_type=backend_type, backend_client=client))
    finally:
        if backend_type is BackendType.redis:
            client.close()
        else:
            await client.aclose()


@pytest.mark.redis
@pytest.mark.parametrize(
    "sync", [True, False], ids=["RedisSessionBackend", "AioRedisSessionBackend"]
)
async def test_the_originals_backend_classes_work_as_custom_backends(
    redis_url: str, sync: bool
) -> None:
    pytest.importorskip("redis")
    import redis
    import redis.asyncio

    if sync:
        sync_client = redis.Redis.from_url(redis_url)
        await sets_views_and_clears(
            original_app(custom_session_backend=RedisSessionBackend(sync_client))
        )
        sync_client.close()
    else:
        async_client = redis.asyncio.Redis.from_url(redis_url)
        custom = AioRedisSessionBackend(async_client)
        await sets_views_and_clears(original_app(custom_session_backend=custom))
        await async_client.aclose()


def test_an_unknown_backend_type_fails_at_start_up_with_the_originals_exception() -> None:
    with pytest.raises(UnknownPredefinedBackend):
        SessionMiddleware(original_app(), SECRET, backend_type="redis", backend_client=object())  # type: ignore[arg-type]


def test_the_middleware_refuses_a_client_of_the_wrong_library() -> None:
    pytest.importorskip("pymemcache")
    from pymemcache.client.base import Client

    with pytest.raises(TypeError, match=r"BackendType\.memcache"):
        SessionMiddleware(
            original_app(),
            SECRET,
            backend_type=BackendType.aioMemcache,
            backend_client=Client(ADDRESS),
        )


def test_every_backend_the_original_api_builds_is_a_backend_or_the_cookie() -> None:
    for backend_type in (None, BackendType.cookie, BackendType.memory):
        backend = build_original_backend(backend_type, None, None)
        assert isinstance(backend, SessionBackend | CookieBackend)
