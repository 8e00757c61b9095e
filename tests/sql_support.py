"""Real SQL databases for the tests: SQLite files, and the machine's PostgreSQL and MariaDB.

PostgreSQL and MariaDB are not started by the tests: they run on the machine (``.ci/run`` makes
sure of it). Their URLs come from ``$POSTGRES_URL`` / ``$MYSQL_URL`` when set, else
``postgresql+asyncpg://postgres@127.0.0.1:5432/test`` and ``mysql+asyncmy://root@127.0.0.1:3306/test``
(a URL without a driver gets asyncpg or asyncmy). Every test works in a table of its own, named
``sessions_<random>``: on those two servers a finished test empties its table and leaves it to
the next test of the same process (creating and dropping a table costs more than most tests),
and ``drop_spare_tables()`` drops them all at the end of the run. A server that does not answer
skips the test locally and fails it in CI (``tests.servers.server_unavailable``).

``StatementCounter`` records the statements an engine sends, through SQLAlchemy's
``before_cursor_execute`` event, and the transactions it commits; ``driver_statements`` those
that the driver of a one-connection pool runs, SQLAlchemy aside.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.servers import server_unavailable

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from starlette_session.backends.sql import SQLBackend

__all__ = [
    "DEFAULT_URLS",
    "SQL_KINDS",
    "StatementCounter",
    "database_url",
    "driver_statements",
    "drop_spare_tables",
    "sql_backend",
    "sqlite_url",
    "unique_table",
]

SQL_KINDS = ("sqlite", "postgres", "mysql")
DEFAULT_URLS = {
    "postgres": "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
    "mysql": "mysql+asyncmy://root@127.0.0.1:3306/test",
}
_ENV = {"postgres": "POSTGRES_URL", "mysql": "MYSQL_URL"}
_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "mysql": "mysql+asyncmy",
    "mariadb": "mysql+asyncmy",
}


def sqlite_url(path: Path | str) -> str:
    """The aiosqlite URL of a database file."""
    return f"sqlite+aiosqlite:///{path}"


def database_url(kind: str) -> str:
    """The URL of the ``postgres`` or ``mysql`` server to test against; unreachable ones skip
    (locally) or fail (CI) the calling test."""
    url = os.environ.get(_ENV[kind]) or DEFAULT_URLS[kind]
    scheme, sep, rest = url.partition("://")
    url = _DRIVERS.get(scheme, scheme) + sep + rest
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    host, port = parsed.host or "127.0.0.1", parsed.port or (5432 if kind == "postgres" else 3306)
    try:
        socket.create_connection((host, port), timeout=1.0).close()
    except OSError as error:
        server_unavailable(f"{kind} at {host}:{port} is not reachable ({error}); set ${_ENV[kind]}")
    _spare_tables.setdefault(url, [])
    return url


def unique_table() -> str:
    return f"sessions_{uuid.uuid4().hex[:12]}"


#: Empty tables that finished tests left, by server URL (``database_url``'s only).
_spare_tables: dict[str, list[str]] = {}


@asynccontextmanager
async def sql_backend(
    url: str, *, table: str | None = None, engine_options: Any = None, **options: Any
) -> AsyncIterator[SQLBackend]:
    """A ``SQLBackend`` on a new engine and a new table of its own, dropped afterwards (or, on
    the machine's PostgreSQL and MariaDB, emptied for the next test)."""
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    from starlette_session.backends.sql import SQLBackend

    # The product's 2-second bound is for production; these tests are about behaviour, and a
    # loaded CI machine once stalled one SQLite read of 10,000 past it. Tests of the bound pass
    # their own timeout.
    options.setdefault("timeout", 10.0)
    spare = _spare_tables.get(url) if table is None and options.get("schema") is None else None
    engine = create_async_engine(url, **(engine_options or {}))
    backend = SQLBackend(
        engine, table=table or (spare and spare.pop()) or unique_table(), **options
    )
    try:
        await backend.create_table()
        yield backend
    finally:
        try:
            async with engine.begin() as conn:
                if spare is None:
                    await conn.run_sync(backend.table.drop, checkfirst=True)
                else:
                    await conn.execute(sa.delete(backend.table))
                    spare.append(backend.table.name)
        finally:
            await engine.dispose()


async def drop_spare_tables() -> None:
    """Drop the tables ``sql_backend`` kept for reuse."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from starlette_session.backends.sql import SQLBackend

    while _spare_tables:
        url, names = _spare_tables.popitem()
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                for name in names:
                    await conn.run_sync(SQLBackend(engine, table=name).table.drop, checkfirst=True)
        finally:
            await engine.dispose()


class StatementCounter:
    """Counts the statements ``engine`` sends (by first word: SELECT, UPDATE...) and commits."""

    def __init__(self, engine: AsyncEngine) -> None:
        from sqlalchemy import event

        self.engine = engine.sync_engine
        self.statements: list[str] = []
        self.commits = 0
        self._on = True
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "commit", self._commit)

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self._on:
            self.statements.append(statement)

    def _commit(self, conn: Any) -> None:
        if self._on:
            self.commits += 1

    def reset(self) -> None:
        self.statements.clear()
        self.commits = 0

    def counts(self) -> Counter[str]:
        """Statements since ``reset``, by kind: ``{"UPDATE": 1}``."""
        return Counter(statement.split(None, 1)[0].upper() for statement in self.statements)

    def close(self) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "commit", self._commit)


async def driver_statements(engine: AsyncEngine) -> list[str]:
    """The statements the driver of ``engine``'s one pooled connection runs from now on, as
    asyncpg's query logger or sqlite3's trace callback sees them (a pool of one connection)."""
    seen: list[str] = []
    async with engine.connect() as conn:
        driver: Any = (await conn.get_raw_connection()).driver_connection
        if engine.dialect.driver == "asyncpg":
            driver.add_query_logger(lambda logged: seen.append(logged.query))
        else:
            await driver.set_trace_callback(seen.append)
    return seen
