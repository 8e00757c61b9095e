"""``uvicorn --workers 4`` on one port shares its sessions through SQLite, PostgreSQL and Redis.

Each worker is its own process with its own engine or client; the kernel hands each new
connection to one of them. A user logs in on one worker and reads the session on the others
(every request on a new connection, and every answer names its worker's pid); then twenty
concurrent requests, spread over the workers, each set a different field of the one session,
and every field must be kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from tests.load.harness import AppServer
from tests.servers import RedisServer, ServerNotFoundError, server_unavailable

pytestmark = [pytest.mark.load, pytest.mark.slow]

WORKERS = 4
FIELDS = 20


@asynccontextmanager
async def _sql_env(kind: str, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    pytest.importorskip("sqlalchemy")
    from tests.sql_support import database_url, sqlite_url, unique_table

    if kind == "sqlite":
        yield {"LOAD_DATABASE_URL": sqlite_url(tmp_path / "sessions.db"), "LOAD_SQL_TABLE": "s"}
        return
    url, table = database_url(kind), unique_table()
    try:
        yield {"LOAD_DATABASE_URL": url, "LOAD_SQL_TABLE": table}
    finally:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        await engine.dispose()


@asynccontextmanager
async def _backend_env(kind: str, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    if kind != "redis":
        async with _sql_env(kind, tmp_path) as env:
            yield {"LOAD_BACKEND": "sql", **env}
        return
    try:
        server = RedisServer()
    except ServerNotFoundError as error:
        server_unavailable(str(error))
    with server:
        yield {"LOAD_BACKEND": "redis", "LOAD_REDIS_URL": server.url}


def _new_connection_each_time(url: str, cookie: str | None = None) -> httpx.AsyncClient:
    # No keep-alive: every request is a new connection, which any worker may accept.
    limits = httpx.Limits(max_keepalive_connections=0)
    cookies = {"session": cookie} if cookie else None
    return httpx.AsyncClient(base_url=url, limits=limits, timeout=10.0, cookies=cookies)


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("sqlite"),
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ],
)
async def test_four_workers_share_sessions_and_keep_concurrent_changes(
    kind: str, tmp_path: Path
) -> None:
    async with _backend_env(kind, tmp_path) as env:
        app = AppServer(env, workers=WORKERS)
        await app.start()
        try:
            async with _new_connection_each_time(app.url) as client:
                login = await client.put("/fields/user", params={"value": "alice"})
                assert login.status_code == 200, app.log_tail()
                cookie = client.cookies.get("session")
                assert cookie
                login_pid = (await client.get("/worker")).json()["pid"]

                seen = {login_pid}
                for _ in range(400):
                    answer = (await client.get("/worker")).json()
                    assert answer["fields"] == {"user": "alice"}, answer
                    seen.add(answer["pid"])
                    if len(seen) == WORKERS:
                        break
                assert len(seen) >= 3, f"only workers {seen} answered"

                responses = await asyncio.gather(
                    *(client.put(f"/fields/f{index}") for index in range(FIELDS))
                )
                assert [response.status_code for response in responses] == [200] * FIELDS
                fields = (await client.get("/fields")).json()
            assert fields == {"user": "alice", **{f"f{index}": "1" for index in range(FIELDS)}}
        finally:
            await app.stop()
