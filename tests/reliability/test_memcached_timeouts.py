"""A memcached command cut short by the backend's timeout must not leave its reply behind for the
next command on the same connection (aiomcache returns a cancelled command's connection to its
pool as if it were clean). The server is really stalled with SIGSTOP.

No sleep is needed before the next command: memcached answers a connection's commands in order,
so a stale reply, if the connection came back with one, is always read first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from starlette_session import SessionBackendError
from tests.reliability.support import answers_within, stalled
from tests.servers import MemcachedServer, ServerNotFoundError, server_unavailable

pytestmark = pytest.mark.memcached


@pytest.fixture
def memcached() -> Iterator[MemcachedServer]:
    try:
        server = MemcachedServer()
    except ServerNotFoundError as exc:
        server_unavailable(str(exc))
    with server:
        yield server


@pytest.fixture
async def backend(memcached: MemcachedServer) -> AsyncIterator[object]:
    aiomcache = pytest.importorskip("aiomcache")
    from starlette_session.backends.memcached import MemcachedBackend

    client = aiomcache.Client(memcached.host, memcached.port, pool_size=1)
    try:
        yield MemcachedBackend(client, timeout=0.3)
    finally:
        await client.close()


async def test_a_timed_out_read_does_not_hand_its_reply_to_the_next_command(
    backend: object, memcached: MemcachedServer
) -> None:
    from starlette_session.backends.memcached import MemcachedBackend

    assert isinstance(backend, MemcachedBackend)
    await backend.create("session:alice", b"alice", 60)
    await backend.create("session:bob", b"bob", 60)

    with stalled(memcached):
        async with answers_within(0.3):  # the backend's timeout: aiomcache has none
            with pytest.raises(SessionBackendError):
                await backend.read("session:alice")

    assert await backend.read("session:bob") == b"bob"
    assert await backend.read("session:alice") == b"alice"


async def test_a_timed_out_write_does_not_answer_for_the_next_write(
    backend: object, memcached: MemcachedServer
) -> None:
    from starlette_session.backends.memcached import MemcachedBackend

    assert isinstance(backend, MemcachedBackend)
    await backend.create("session:taken", b"x", 60)

    with stalled(memcached):
        async with answers_within(0.3):
            with pytest.raises(SessionBackendError):
                await backend.create("session:new", b"new", 60)  # its reply: STORED

    assert await backend.create("session:taken", b"y", 60) is False
    assert await backend.read("session:taken") == b"x"
