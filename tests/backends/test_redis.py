"""What RedisBackend adds to the contract: worker threads for sync clients, wrapped errors."""

from __future__ import annotations

import threading

import pytest

from starlette_session.backends.base import Created, Replaced, Swap
from starlette_session.exceptions import SessionBackendError
from tests.backends.conftest import BackendCase
from tests.servers import RedisServer

pytestmark = pytest.mark.redis

VALUE = b'{"v":1}'


async def test_a_sync_client_is_called_from_worker_threads_only(
    redis_sync_case: BackendCase,
) -> None:
    backend = redis_sync_case.backend
    await backend.create("session:a", VALUE, 60)
    await backend.read("session:a", 60)
    await backend.replace("session:a", VALUE, b'{"v":2}', 60)
    await backend.expire("session:a", 60)
    await backend.delete("session:a")

    assert redis_sync_case.threads, "the client sent no command"
    assert threading.get_ident() not in redis_sync_case.threads


async def test_a_client_decoding_responses_still_reads_bytes(redis_url: str) -> None:
    from redis.asyncio import Redis

    from starlette_session.backends import RedisBackend

    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        backend = RedisBackend(client)
        await backend.create("session:a", VALUE, 60)
        assert await backend.read("session:a", 60) == VALUE
        assert await backend.replace("session:a", b"{}", VALUE, 60) == (False, VALUE)
    finally:
        await client.aclose()


async def test_a_stored_value_of_1_is_not_mistaken_for_a_successful_replace(
    redis_async_case: BackendCase,
) -> None:
    # The compare-and-set script answers 1 on success and the current value on a mismatch.
    backend = redis_async_case.backend
    await backend.create("session:a", b"1", 60)
    assert await backend.replace("session:a", VALUE, b"2", 60) == (False, b"1")
    assert await backend.read("session:a") == b"1"


async def test_a_batch_after_the_script_cache_was_flushed_loads_the_script(
    redis_async_case: BackendCase, redis_url: str
) -> None:
    import redis

    backend = redis_async_case.backend
    await backend.create("session:old", VALUE, 60)
    admin = redis.Redis.from_url(redis_url)
    admin.script_flush()  # a restart, a failover: the pipelined EVALSHA answers NOSCRIPT
    admin.close()
    retire = Swap("session:old", VALUE, b"retired", 60)
    created = await backend.create_then(
        "session:new", VALUE, 60, then_replace=retire, then_read="session:new"
    )
    assert created == Created(True, Replaced(True, None), VALUE)
    assert await backend.read("session:old") == b"retired"


@pytest.mark.parametrize("sync", [False, True], ids=["async-client", "sync-client"])
async def test_a_server_that_is_down_raises_session_backend_error(
    fresh_redis_server: RedisServer, sync: bool
) -> None:
    import redis
    import redis.asyncio

    from starlette_session.backends import RedisBackend

    url = fresh_redis_server.url
    client = redis.Redis.from_url(url) if sync else redis.asyncio.Redis.from_url(url)
    backend = RedisBackend(client)
    try:
        await backend.create("session:a", VALUE, 60)
        fresh_redis_server.kill()
        with pytest.raises(SessionBackendError, match="Redis") as caught:
            await backend.read("session:a", 60)
        assert isinstance(caught.value.__cause__, redis.exceptions.ConnectionError)
        assert "session:a" not in str(caught.value)
    finally:
        if isinstance(client, redis.asyncio.Redis):
            await client.aclose()
        else:
            client.close()


@pytest.mark.parametrize("sync", [False, True], ids=["async-client", "sync-client"])
async def test_a_server_that_does_not_answer_in_time_raises_session_backend_error(
    redis_url: str, sync: bool
) -> None:
    import redis
    import redis.asyncio

    from starlette_session.backends import RedisBackend

    client = redis.Redis.from_url(redis_url) if sync else redis.asyncio.Redis.from_url(redis_url)
    admin = redis.Redis.from_url(redis_url)
    backend = RedisBackend(client, timeout=0.2)
    try:
        await backend.read("session:a")  # connected before the pause
        admin.client_pause(600)
        with pytest.raises(SessionBackendError) as caught:
            await backend.read("session:a", 60)
        assert isinstance(caught.value.__cause__, TimeoutError)
    finally:
        admin.client_unpause()
        admin.close()
        if isinstance(client, redis.asyncio.Redis):
            await client.aclose()
        else:
            client.close()


@pytest.mark.parametrize("sync", [False, True], ids=["async-client", "sync-client"])
async def test_a_deletion_no_replica_confirms_is_done_on_the_master_and_raises(
    fresh_redis_server: RedisServer, sync: bool
) -> None:
    # wait_for_replicas on a server with no replica: DEL, PUBLISH and WAIT go in one pipeline;
    # WAIT answers 0. Deleted all the same; the application is told it is not safe yet. A user
    # whose ACL refuses the PUBLISH is only refused when the DEL found nothing (then nothing
    # else was replicated that WAIT could count on).
    import redis
    import redis.asyncio

    from starlette_session import SessionReplicationError
    from starlette_session.backends import RedisBackend

    admin = redis.Redis.from_url(fresh_redis_server.url)
    for user, channels in (("nopub", []), ("alice", ["*"])):
        admin.acl_setuser(
            user, enabled=True, nopass=True, keys=["*"], commands=["+@all"], channels=channels
        )
    for user, may_publish in (("alice", True), ("nopub", False)):
        url = fresh_redis_server.url.replace("redis://", f"redis://{user}@")
        client = redis.Redis.from_url(url) if sync else redis.asyncio.Redis.from_url(url)
        backend = RedisBackend(client, wait_for_replicas=1, wait_timeout=0.1)
        try:
            for ending in (backend.delete, backend.end):
                await backend.create("session:a", VALUE, 60)
                with pytest.raises(SessionReplicationError, match="0 of the 1 replicas"):
                    await ending("session:a")
                assert admin.get("session:a") is None  # deleted on the master
                # Nothing left to delete: the PUBLISH is all that WAIT can count on.
                expected = "0 of the 1 replicas" if may_publish else "may not PUBLISH"
                with pytest.raises(SessionReplicationError, match=expected) as raised:
                    await ending("session:a")
                assert "session:a" not in str(raised.value)
        finally:
            if isinstance(client, redis.asyncio.Redis):
                await client.aclose()
            else:
                client.close()
    admin.close()
