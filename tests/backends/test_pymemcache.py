"""What PymemcacheBackend adds to the contract: worker threads, one command at a time on a client
that is not thread-safe, clients that would lose or unpickle data refused, wrapped errors."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from starlette_session.backends import MemcacheJSONSerde
from starlette_session.exceptions import SessionBackendError
from tests.backends.conftest import BackendCase
from tests.reliability.support import stalled
from tests.servers import MemcachedServer, ServerNotFoundError, server_unavailable

pymemcache = pytest.importorskip("pymemcache")
from pymemcache import serde  # noqa: E402
from pymemcache.client.base import Client, PooledClient  # noqa: E402
from pymemcache.client.hash import HashClient  # noqa: E402
from pymemcache.client.retrying import RetryingClient  # noqa: E402

from starlette_session.backends import PymemcacheBackend  # noqa: E402

VALUE = b'{"v":1}'
ADDRESS = ("127.0.0.1", 1)  # never connected to: the checks happen at construction


@pytest.mark.memcached
@pytest.mark.parametrize("case", ["pymemcache_pooled_case", "pymemcache_single_case"])
async def test_the_client_is_called_from_worker_threads_only(
    case: str, request: pytest.FixtureRequest
) -> None:
    backend_case: BackendCase = request.getfixturevalue(case)
    backend = backend_case.backend
    await backend.create("session:a", VALUE, 60)
    await backend.read("session:a", 60)
    await backend.replace("session:a", VALUE, b'{"v":2}', 60)
    await backend.delete("session:a")

    assert backend_case.threads, "the client sent no command"
    assert threading.get_ident() not in backend_case.threads


@pytest.mark.memcached
async def test_many_concurrent_requests_on_one_socket_each_get_their_own_answer(
    pymemcache_single_case: BackendCase,
) -> None:
    # A plain Client is one socket: two threads using it at once would read each other's replies.
    backend = pymemcache_single_case.backend
    keys = [f"session:{number}" for number in range(40)]
    await asyncio.gather(*(backend.create(key, key.encode(), 60) for key in keys))

    values = await asyncio.gather(*(backend.read(key, 60) for key in keys * 3))

    assert values == [key.encode() for key in keys * 3]


def test_a_client_that_hides_errors_is_refused() -> None:
    with pytest.raises(ValueError, match="ignore_exc=True"):
        PymemcacheBackend(PooledClient(ADDRESS, ignore_exc=True))
    with pytest.raises(ValueError, match="ignore_exc=True"):
        PymemcacheBackend(HashClient([ADDRESS], ignore_exc=True))


@pytest.mark.parametrize(
    "pickling",
    [
        serde.pickle_serde,
        serde.compressed_serde,
        serde.LegacyWrappingSerde(
            serde.python_memcache_serializer, serde.python_memcache_deserializer
        ),
    ],
    ids=["pickle_serde", "compressed_serde", "python_memcache_deserializer"],
)
def test_a_serde_that_unpickles_is_refused(pickling: Any) -> None:
    with pytest.raises(ValueError, match=r"unpickles.*MemcacheJSONSerde"):
        PymemcacheBackend(Client(ADDRESS, serde=pickling))
    with pytest.raises(ValueError, match="unpickles"):
        PymemcacheBackend(HashClient([ADDRESS], serde=pickling))


class TextSerde:
    """A serde that turns everything into text: bytes would not come back as stored."""

    def serialize(self, key: Any, value: Any) -> tuple[Any, int]:
        return str(value), 0

    def deserialize(self, key: Any, value: Any, flags: int) -> Any:
        return value.decode("latin-1")


def test_a_serde_that_changes_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="does not hand bytes back unchanged"):
        PymemcacheBackend(Client(ADDRESS, serde=TextSerde()))


@pytest.mark.parametrize(
    "client",
    [
        Client(ADDRESS),
        Client(ADDRESS, serde=MemcacheJSONSerde()),
        PooledClient(ADDRESS, serde=MemcacheJSONSerde()),
        HashClient([ADDRESS], use_pooling=True),
        RetryingClient(Client(ADDRESS), attempts=2),
    ],
    ids=["default-serde", "json-serde", "pooled", "hash", "retrying"],
)
def test_clients_that_keep_bytes_are_accepted(client: Any) -> None:
    assert repr(PymemcacheBackend(client)) == f"PymemcacheBackend({type(client).__name__})"


@pytest.mark.memcached
async def test_a_value_another_serde_wrote_is_an_error_not_a_session(
    memcached_address: tuple[str, int],
) -> None:
    writer = Client(memcached_address, serde=MemcacheJSONSerde())
    reader = Client(memcached_address, serde=MemcacheJSONSerde())
    try:
        # flags 2: read back as a dict, not bytes; noreply=False: stored before the read is sent
        writer.set("session:json", {"a": 1}, noreply=False)
        with pytest.raises(SessionBackendError, match="memcached"):
            await PymemcacheBackend(reader).read("session:json")
    finally:
        writer.close()
        reader.close()


@pytest.fixture
def memcached() -> Iterator[MemcachedServer]:
    try:
        server = MemcachedServer()
    except ServerNotFoundError as exc:
        server_unavailable(str(exc))
    with server:
        yield server


@pytest.fixture(params=["pooled", "single"])
async def stallable(
    request: pytest.FixtureRequest, memcached: MemcachedServer
) -> AsyncIterator[PymemcacheBackend]:
    settings: dict[str, Any] = {"connect_timeout": 2, "timeout": 2}
    if request.param == "pooled":
        client: Any = PooledClient(memcached.address, max_pool_size=1, **settings)
    else:
        client = Client(memcached.address, **settings)
    try:
        yield PymemcacheBackend(client, timeout=0.3)
    finally:
        client.close()


@pytest.mark.memcached
async def test_a_timed_out_command_does_not_hand_its_reply_to_the_next_one(
    stallable: PymemcacheBackend, memcached: MemcachedServer
) -> None:
    await stallable.create("session:alice", b"alice", 60)
    await stallable.create("session:bob", b"bob", 60)

    with stalled(memcached), pytest.raises(SessionBackendError) as caught:
        await stallable.read("session:alice")
    assert isinstance(caught.value.__cause__, TimeoutError)

    assert await stallable.read("session:bob") == b"bob"
    assert await stallable.read("session:alice") == b"alice"
    assert await stallable.create("session:bob", b"other", 60) is False


@pytest.mark.memcached
async def test_a_server_that_is_down_raises_session_backend_error(
    memcached: MemcachedServer,
) -> None:
    client = PooledClient(memcached.address, connect_timeout=1, timeout=1)
    backend = PymemcacheBackend(client)
    try:
        await backend.create("session:a", VALUE, 60)
        memcached.kill()
        with pytest.raises(SessionBackendError, match="memcached") as caught:
            await backend.read("session:a", 60)
        assert isinstance(caught.value.__cause__, OSError | pymemcache.exceptions.MemcacheError)
        assert "session:a" not in str(caught.value)
    finally:
        client.close()


@pytest.mark.memcached
@pytest.mark.parametrize("pooling", ["PooledClient", "HashClient"])
async def test_more_requests_than_pooled_connections_wait_for_one(
    pooling: str, memcached: MemcachedServer
) -> None:
    """A full pymemcache pool raises instead of waiting: the backend must never hand the
    client more concurrent calls than it has connections."""
    settings: dict[str, Any] = {"connect_timeout": 2, "timeout": 2, "max_pool_size": 2}
    if pooling == "PooledClient":
        client: Any = PooledClient(memcached.address, **settings)
    else:
        client = HashClient([memcached.address], use_pooling=True, **settings)
    backend = PymemcacheBackend(client)
    try:
        await backend.create("session:a", VALUE, 60)
        values = await asyncio.gather(*(backend.read("session:a", 60) for _ in range(200)))
        assert values == [VALUE] * 200
    finally:
        client.close()
