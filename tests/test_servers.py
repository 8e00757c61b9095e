"""The real-server fixtures themselves: they start, answer, isolate tests, crash and come back."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from tests.servers import (
    ExternalServer,
    MemcachedServer,
    RedisClusterServer,
    RedisSentinelGroup,
    RedisServer,
    RespError,
    ServerNotFoundError,
    redis_command,
    server_unavailable,
)


def _memcached(address: tuple[str, int], payload: bytes) -> bytes:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(payload)
        reply = b""
        while not reply.endswith((b"END\r\n", b"STORED\r\n", b"ERROR\r\n")):
            chunk = sock.recv(4096)
            assert chunk, f"memcached closed the connection after {reply!r}"
            reply += chunk
        return reply


@pytest.mark.redis
@pytest.mark.parametrize("attempt", [1, 2])
async def test_redis_url_answers_and_starts_empty(
    redis_server: RedisServer | ExternalServer, redis_url: str, attempt: int
) -> None:
    pytest.importorskip("redis")
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        assert await client.ping() is True
        if redis_server.owned:  # $REDIS_URL's data is not ours to check or to touch
            # The second attempt proves that redis_url flushed what the first one left behind.
            assert await client.dbsize() == 0
            await client.set("left-behind", attempt)
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_fresh_redis_server_restarts_on_the_same_port(
    fresh_redis_server: RedisServer,
) -> None:
    pytest.importorskip("redis")
    from redis.asyncio import Redis

    port, url = fresh_redis_server.port, fresh_redis_server.url
    fresh_redis_server.kill()
    assert not fresh_redis_server.is_running
    assert not fresh_redis_server.ping()

    fresh_redis_server.restart()
    assert fresh_redis_server.is_running
    assert (fresh_redis_server.port, fresh_redis_server.url) == (port, url)
    client = Redis.from_url(url)
    try:
        assert await client.ping() is True
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_persistent_redis_server_keeps_acknowledged_writes_across_a_crash(
    persistent_redis_server: RedisServer,
) -> None:
    pytest.importorskip("redis")
    from redis.asyncio import Redis

    client = Redis.from_url(persistent_redis_server.url)
    try:
        await client.set("session:abc", b"payload")
    finally:
        await client.aclose()

    persistent_redis_server.kill()
    persistent_redis_server.restart()

    client = Redis.from_url(persistent_redis_server.url)
    try:
        assert await client.get("session:abc") == b"payload"
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_default_redis_server_forgets_everything_on_a_crash(
    fresh_redis_server: RedisServer,
) -> None:
    pytest.importorskip("redis")
    from redis.asyncio import Redis

    client = Redis.from_url(fresh_redis_server.url)
    try:
        await client.set("session:abc", b"payload")
    finally:
        await client.aclose()

    fresh_redis_server.kill()
    fresh_redis_server.restart()

    client = Redis.from_url(fresh_redis_server.url)
    try:
        assert await client.get("session:abc") is None
    finally:
        await client.aclose()


@pytest.mark.redis
@pytest.mark.parametrize("attempt", [1, 2])
async def test_redis_cluster_url_answers_and_starts_empty(
    redis_cluster: RedisClusterServer, redis_cluster_url: str, attempt: int
) -> None:
    pytest.importorskip("redis")
    from redis.asyncio import RedisCluster

    client = RedisCluster.from_url(redis_cluster_url)
    try:
        assert await client.dbsize() == 0, "redis_cluster_url flushes every node"
        # Keys on every master, so the second attempt checks that each node was flushed.
        await client.mset_nonatomic({f"left-behind-{n}": attempt for n in range(30)})
        assert {node.name for node in client.get_primaries()} == {
            f"{host}:{port}" for host, port in redis_cluster.startup_nodes
        }
    finally:
        await client.aclose()


@pytest.mark.memcached
@pytest.mark.parametrize("attempt", [1, 2])
def test_memcached_address_stores_and_starts_empty(
    memcached_server: MemcachedServer | ExternalServer,
    memcached_address: tuple[str, int],
    attempt: int,
) -> None:
    assert _memcached(memcached_address, b"get no-such-key\r\n") == b"END\r\n"
    if memcached_server.owned:
        # The second attempt proves that memcached_address flushed the first one's key.
        assert _memcached(memcached_address, b"get left-behind\r\n") == b"END\r\n"
        assert _memcached(memcached_address, b"set left-behind 0 0 1\r\nx\r\n") == b"STORED\r\n"
        assert _memcached(memcached_address, b"get left-behind\r\n") == (
            b"VALUE left-behind 0 1\r\nx\r\nEND\r\n"
        )


def test_missing_binary_names_the_variable_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_SERVER_BIN", "/nonexistent/redis-server")
    with pytest.raises(ServerNotFoundError, match=r"REDIS_SERVER_BIN=.*apt-get install redis"):
        RedisServer()
    monkeypatch.setenv("MEMCACHED_BIN", "/nonexistent/memcached")
    with pytest.raises(ServerNotFoundError, match=r"MEMCACHED_BIN=.*apt-get install memcached"):
        MemcachedServer()


def test_missing_redis_cli_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    (tmp_path / "redis-server").symlink_to(server)  # no redis-cli beside it, none on PATH
    monkeypatch.setenv("REDIS_SERVER_BIN", str(tmp_path / "redis-server"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServerNotFoundError, match=r"redis-cli not found.*apt-get install redis"):
        RedisClusterServer()


@pytest.mark.parametrize("ci", ["", "0", "false", "False"])
def test_server_unavailable_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="no server"):
        server_unavailable("no server")


@pytest.mark.parametrize("ci", ["1", "true", "yes"])
def test_server_unavailable_fails_in_ci(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="no server"):
        server_unavailable("no server")


def test_external_server_is_never_crashed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    server = ExternalServer(
        "redis://:secret@cache.internal/3",
        name="redis-server",
        env_var="REDIS_URL",
        default_port=6379,
    )
    assert (server.host, server.port, server.owned) == ("cache.internal", 6379, False)
    with pytest.raises(pytest.skip.Exception, match=r"cannot be killed; unset REDIS_URL") as skip:
        server.kill()
    assert "secret" not in str(skip.value)
    with pytest.raises(pytest.skip.Exception, match="cannot be restarted"):
        server.restart()


@pytest.mark.valkey
async def test_valkey_url_answers_as_valkey_and_starts_empty(valkey_url: str) -> None:
    pytest.importorskip("redis")
    from redis.asyncio import Redis

    client = Redis.from_url(valkey_url)
    try:
        info = await client.info("server")
        assert info["server_name"] == "valkey"
        assert await client.dbsize() == 0
    finally:
        await client.aclose()


def test_redis_command_parses_every_kind_of_reply(fresh_redis_server: RedisServer) -> None:
    port = fresh_redis_server.port
    assert redis_command(port, "SET", "k", "v") == b"OK"
    assert redis_command(port, "GET", "k") == b"v"
    assert redis_command(port, "GET", "missing") is None
    assert redis_command(port, "INCR", "n") == 1
    assert redis_command(port, "MGET", "k", "missing") == [b"v", None]
    with pytest.raises(RespError, match="WRONGTYPE"):
        redis_command(port, "LPUSH", "k", "x")


@pytest.mark.sentinel
@pytest.mark.slow
def test_a_sentinel_group_starts_ready_to_fail_over(redis_sentinel: RedisSentinelGroup) -> None:
    master, replica = redis_sentinel.servers
    assert redis_sentinel.master_ports_seen() == {master.port}
    assert redis_sentinel.role(master) == "master"
    assert redis_sentinel.role(replica) == "slave"
    redis_command(master.port, "SET", "k", "v")
    redis_sentinel.wait_until_replicated(master)
    assert redis_command(replica.port, "GET", "k") == b"v"
    for sentinel in redis_sentinel.sentinels:
        state = sentinel.master_state()
        assert (state["num-slaves"], state["num-other-sentinels"]) == ("1", "2")
