"""A SQL database that is down, stalled or locked: 503 within the backend's timeout, then the next
request after recovery succeeds, with the same application, engine and cookie.

PostgreSQL and MariaDB are real servers reached through ``tests.tcp_proxy.TcpProxy``, which the
test takes down (connections cut, new ones refused) or freezes (nothing moves). SQLite is a real
file whose write lock a second connection holds (``BEGIN IMMEDIATE``), as another worker process
in a long write would: the writes answer 503, the reads (which write nothing) are served.

Time is the guarantee, so the waits are timed: each must end within the backend's timeout plus a
generous slack for a loaded machine (``support.answers_within``), and is cut off there, so a
wait with no bound fails the test instead of hanging it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

pytest.importorskip("sqlalchemy")

from starlette_session import SessionBackendError, SessionStore
from tests.helpers import make_app, set_cookie_headers
from tests.reliability.support import answers_within
from tests.sql_support import database_url, sql_backend, sqlite_url
from tests.tcp_proxy import TcpProxy

TIMEOUT = 0.5


@pytest.fixture(
    params=[
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def server_url(request: pytest.FixtureRequest) -> str:
    return database_url(request.param)


@asynccontextmanager
async def _serving(url: str) -> AsyncIterator[tuple[TcpProxy, httpx.AsyncClient]]:
    from sqlalchemy.engine import make_url

    real = make_url(url)
    with TcpProxy(real.host or "127.0.0.1", real.port or 0) as proxy:
        proxied = real.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        async with sql_backend(proxied, timeout=TIMEOUT) as backend:
            transport = httpx.ASGITransport(app=make_app(SessionStore(backend)))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                yield proxy, client
                proxy.up()  # the table is dropped through the proxy


async def _start_counter(client: httpx.AsyncClient) -> str:
    assert (await client.post("/increment")).json() == {"count": 1}
    cookie = client.cookies.get("session")
    assert cookie
    return cookie


def _assert_503(response: httpx.Response) -> None:
    assert response.status_code == 503
    assert set_cookie_headers(response) == []


async def test_a_database_that_is_down_answers_503_then_recovers(server_url: str) -> None:
    async with _serving(server_url) as (proxy, client):
        cookie = await _start_counter(client)
        proxy.down()

        async with answers_within(2 * TIMEOUT):
            reading = await client.get("/session")
            writing = await client.post("/increment")
        _assert_503(reading)
        _assert_503(writing)
        assert (await client.get("/health")).status_code == 200

        proxy.up()
        response = await client.post("/increment")
        assert (response.status_code, response.json()) == (200, {"count": 2})
        assert client.cookies.get("session") == cookie


async def test_after_a_restart_nobody_saw_the_first_request_succeeds(server_url: str) -> None:
    """The pooled connections died while no request ran: the first request after recovery finds
    a dead one, and the backend retries on a new connection instead of answering 503."""
    async with _serving(server_url) as (proxy, client):
        await _start_counter(client)
        proxy.down()
        proxy.up()

        response = await client.post("/increment")
        assert (response.status_code, response.json()) == (200, {"count": 2})


async def test_a_stalled_database_answers_503_within_the_timeout(server_url: str) -> None:
    async with _serving(server_url) as (proxy, client):
        await _start_counter(client)

        with proxy.frozen():
            async with answers_within(TIMEOUT):
                response = await client.get("/session")
            health = await client.get("/health")
        _assert_503(response)
        assert health.status_code == 200

        response = await client.post("/increment")
        assert (response.status_code, response.json()) == (200, {"count": 2})


async def test_a_new_connection_to_a_stalled_database_gives_up_within_the_timeout(
    server_url: str,
) -> None:
    async with _serving(server_url) as (proxy, client):
        await _start_counter(client)
        proxy.down()  # the pool's connections die...
        proxy.up()
        with proxy.frozen():  # ...and the new one hangs in its handshake
            async with answers_within(TIMEOUT):
                response = await client.get("/session")
        _assert_503(response)
        assert (await client.get("/session")).json() == {"count": 1}


async def test_sqlite_locked_by_another_writer_answers_503_within_the_timeout(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sessions.db"
    async with sql_backend(sqlite_url(path), timeout=TIMEOUT) as backend:
        transport = httpx.ASGITransport(app=make_app(SessionStore(backend)))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await _start_counter(client)
            other = sqlite3.connect(path, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")  # another process in a long write
                async with answers_within(TIMEOUT):
                    reading = await client.get("/session")
                # A read writes nothing (its expiry is within the granularity), and a WAL
                # reader waits for no writer: served. A change waits for the lock: 503.
                assert (reading.status_code, reading.json()) == (200, {"count": 1})
                async with answers_within(TIMEOUT):
                    response = await client.post("/increment")
                _assert_503(response)
                with pytest.raises(SessionBackendError) as caught:
                    await backend.create("session:x", b"{}", 60)
                assert "database is locked" in str(caught.value.__cause__)
                assert str(path) in str(caught.value)
            finally:
                other.execute("ROLLBACK")
                other.close()

            response = await client.post("/increment")
            assert (response.status_code, response.json()) == (200, {"count": 2})
