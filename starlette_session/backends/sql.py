"""Sessions in one SQL table through SQLAlchemy's asyncio engine: SQLite, PostgreSQL, MariaDB.

One statement per operation where the database allows it: a read that slides the expiry is one
``UPDATE ... RETURNING`` (MariaDB/MySQL, which cannot return from an UPDATE: a SELECT and an
UPDATE), a new session one ``INSERT`` that takes over only an expired row, a change one
compare-and-set ``UPDATE`` (plus a SELECT of the current value on a conflict), a delete one
``DELETE``. "Now" is the application's clock, as for the store's own timeouts; expiries are Unix
milliseconds, NULL for none. ``docs/sql.md`` has the SQL, the DDL and the reasons.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from starlette_session.backends._combining import CombinedUpdates
from starlette_session.backends.base import Replaced
from starlette_session.exceptions import SessionBackendError

try:
    import sqlalchemy as sa
    from sqlalchemy import event
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
except ImportError as error:  # pragma: no cover - exercised by the no-extras CI run
    raise ImportError(
        "the SQL backend needs SQLAlchemy's asyncio extension and a driver: pip install "
        "'starlette-session[sqlite]' (or [postgresql], [mysql]; [sql] for SQLAlchemy alone)"
    ) from error

from starlette_session.backends import _sql_dialects as dialects
from starlette_session.backends import _sql_tasks as tasks

__all__ = ["SQLBackend"]

T = TypeVar("T")
_DRIVER_ERRORS = (sa_exc.SQLAlchemyError, OSError, TimeoutError)
_K: sa.BindParameter[str] = sa.bindparam("k")
_V: sa.BindParameter[bytes] = sa.bindparam("v")
_EXP: sa.BindParameter[int] = sa.bindparam("exp")
_NOW: sa.BindParameter[int] = sa.bindparam("now")


class SQLBackend(CombinedUpdates):
    """Sessions in one SQL table, through a SQLAlchemy ``AsyncEngine`` the application built.

    Tested on SQLite (``sqlite+aiosqlite``), PostgreSQL (``postgresql+asyncpg``) and MariaDB
    (``mysql+asyncmy``). The application owns the engine: its pool, its credentials and its
    ``await engine.dispose()`` at shutdown. ``table`` (in ``schema``) must exist: run
    :meth:`create_table` once, or the DDL of ``docs/sql.md`` in a migration.

    ``timeout`` (seconds, None for no bound) bounds every operation, waiting for a pooled
    connection or a new one included; a failure or a timeout raises
    :class:`SessionBackendError`; an operation that timed out leaves no transaction open and
    commits nothing more. A connection found dead (the database restarted) is replaced
    and the operation tried once more within the same ``timeout``. ``clock`` is the time source
    of every expiry. On SQLite every new connection gets WAL mode, ``synchronous=NORMAL`` and a
    busy timeout of 80% of ``timeout``, so several processes can share the file. The ``logged_in``
    hint is ignored: a table evicts nothing, every row stays until it expires or is deleted.
    Expired rows are never returned; :meth:`purge_expired` deletes them.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        table: str = "starlette_sessions",
        schema: str | None = None,
        timeout: float | None = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.timeout = timeout
        self.clock = clock
        self.table = dialects.build_table(table, schema)
        dialect = engine.dialect
        self._returning = dialect.update_returning  # False before SQLite 3.35: reads take two
        self._sqlite_file: str | None = None
        # aiosqlite cannot stop a statement it runs: cancelled, one held SQLite's lock on. A
        # timed-out operation runs on instead (the busy timeout bounds it), committing nothing.
        self._cancel_on_timeout = dialect.name != "sqlite"
        if dialect.name == "sqlite":
            self._setup_sqlite(engine)
        # An asyncpg connection in autocommit mode sends each statement alone: no BEGIN, no
        # COMMIT, one round trip. Elsewhere switching costs round trips: commit instead.
        self._engine = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if dialect.name == "postgresql"
            else engine
        )
        self._prepare_statements(dialect)

    def _setup_sqlite(self, engine: AsyncEngine) -> None:
        self._sqlite_file = dialects.sqlite_file(engine.url.database)
        if self._sqlite_file is not None:
            dialects.check_writable_directory(self._sqlite_file)
        # Shorter than the timeout, so that a lock held too long is reported as such.
        busy_ms = int((self.timeout if self.timeout is not None else 5.0) * 800)
        event.listen(engine.sync_engine, "connect", dialects.sqlite_pragmas(busy_ms))

    def _prepare_statements(self, dialect: Any) -> None:
        c = self.table.c
        live = sa.or_(c.expires_at.is_(None), c.expires_at > _NOW)
        this_live = sa.and_(c.store_key == _K, live)
        self._select = sa.select(c.value).where(this_live)
        self._slide = sa.update(self.table).where(this_live).values(expires_at=_EXP)
        self._slide_returning = self._slide.returning(c.value)
        self._insert = dialects.upsert_if_expired(dialect, self.table)
        self._take_expired = (
            sa.update(self.table)
            .where(c.store_key == _K, c.expires_at <= _NOW)
            .values(value=_V, expires_at=_EXP)
        )
        self._compare_and_set = (
            sa.update(self.table)
            .where(this_live, c.value == sa.bindparam("expected"))
            .values(value=_V, expires_at=_EXP)
        )
        self._delete = sa.delete(self.table).where(
            c.store_key.in_(sa.bindparam("keys", expanding=True))
        )
        self._upsert_reports = dialect.name in ("postgresql", "sqlite")

    # The contract

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        now = self._now()
        if ttl is None:
            return await self._run(self._scalar, self._select, {"k": key, "now": now})
        params = {"k": key, "now": now, "exp": now + ttl * 1000}
        if self._returning:
            return await self._run(self._scalar, self._slide_returning, params, write=True)
        return await self._run(self._read_then_slide, params, write=True)

    async def _read_then_slide(self, conn: AsyncConnection, params: dict[str, Any]) -> Any:
        value = await self._scalar(conn, self._select, params)
        if value is not None:
            await conn.execute(self._slide, params)
        return value

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        now = self._now()
        params = {"k": key, "v": value, "now": now, "exp": _expiry(now, ttl)}
        stored: bool = await self._run(self._create, params, write=True)
        return stored

    async def _create(self, conn: AsyncConnection, params: dict[str, Any]) -> bool:
        if self._upsert_reports:
            return await self._rowcount(conn, self._insert, params) == 1
        try:
            return await self._rowcount(conn, self._insert, params) == 1
        except sa_exc.IntegrityError:
            # The key exists: take it over only if it expired. The failed INSERT left a shared
            # lock on the row; end its transaction first, or concurrent creates of one key
            # deadlock upgrading their shared locks for the UPDATE.
            await conn.rollback()
            return await self._rowcount(conn, self._take_expired, params) == 1

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        now = self._now()
        params = {"k": key, "v": value, "expected": expected, "now": now, "exp": _expiry(now, ttl)}
        replaced: Replaced = await self._run(self._replace, params, write=True)
        return replaced

    async def _replace(self, conn: AsyncConnection, params: dict[str, Any]) -> Replaced:
        if await self._rowcount(conn, self._compare_and_set, params) == 1:
            return Replaced(True, None)
        return Replaced(False, await self._scalar(conn, self._select, params))

    async def expire(self, key: str, ttl: int) -> None:
        now = self._now()
        params = {"k": key, "now": now, "exp": now + ttl * 1000}
        await self._run(self._rowcount, self._slide, params, write=True)

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._run(self._rowcount, self._delete, {"keys": list(keys)}, write=True)

    # Maintenance

    async def create_table(self) -> None:
        """Create the table and its expiry index unless they exist (safe to run on every start,
        from several processes at once)."""

        async def create(conn: AsyncConnection) -> None:
            await conn.run_sync(self.table.metadata.create_all, checkfirst=True)

        try:
            await self._run(create, write=True)
        except SessionBackendError:
            # Another process may have created it between our check and our CREATE.
            if not await self._run(self._has_table):
                raise

    async def _has_table(self, conn: AsyncConnection) -> bool:
        def check(sync_conn: Any) -> bool:
            return bool(sa.inspect(sync_conn).has_table(self.table.name, self.table.schema))

        return await conn.run_sync(check)

    async def purge_expired(self, *, batch_size: int = 1000) -> int:
        """Delete every expired row, ``batch_size`` rows per statement and transaction (found
        through the expiry index, so each batch locks few rows briefly); return how many."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        statement = dialects.batch_delete(self.engine.dialect, self.table, batch_size)
        params, total = {"now": self._now()}, 0
        while True:
            deleted = await self._run(self._rowcount, statement, params, write=True)
            total += deleted
            if deleted < batch_size:
                return total

    def purging(
        self, every: float = 3600.0, *, batch_size: int = 1000
    ) -> AbstractAsyncContextManager[None]:
        """Purge expired rows every ``every`` seconds while the block runs, for an app's lifespan:
        ``async with backend.purging(every=3600): yield``. The first purge comes after a random
        part of ``every``, so that several workers spread out; a failure is logged and tried
        again next time."""

        async def purge() -> str:
            return f"{await self.purge_expired(batch_size=batch_size)} rows deleted"

        return tasks.periodically(every, purge, "purging expired sessions")

    # Running statements

    def _now(self) -> int:
        return int(self.clock() * 1000)

    @staticmethod
    async def _scalar(conn: AsyncConnection, statement: Any, params: dict[str, Any]) -> Any:
        return (await conn.execute(statement, params)).scalar_one_or_none()

    @staticmethod
    async def _rowcount(conn: AsyncConnection, statement: Any, params: dict[str, Any]) -> int:
        return (await conn.execute(statement, params)).rowcount

    async def _run(
        self, operation: Callable[..., Awaitable[T]], *args: Any, write: bool = False
    ) -> T:
        async def attempts(attempt: tasks.Attempt) -> T:
            return await tasks.on_a_connection(self._engine, attempt, write, operation, *args)

        try:
            return await tasks.within(self.timeout, attempts, cancel=self._cancel_on_timeout)
        except _DRIVER_ERRORS as error:
            raise SessionBackendError(self._failure(error)) from _driver_error(error)

    def _failure(self, error: BaseException) -> str:
        name = type(_driver_error(error)).__name__
        if self._sqlite_file:
            return (
                f"the SQL session backend failed ({name}) on the SQLite file {self._sqlite_file}: "
                f"check that it is writable, that the table {self.table.fullname} exists and "
                "that no process holds its lock for long"
            )
        return (
            f"the SQL session backend failed ({name}); check that the database is reachable and "
            f"that the table {self.table.fullname} exists (SQLBackend.create_table() makes it)"
        )

    def __repr__(self) -> str:  # never the URL: it may hold a password
        dialect = self.engine.dialect
        return f"SQLBackend({dialect.name}+{dialect.driver}, table={self.table.fullname!r})"


def _expiry(now: int, ttl: int | None) -> int | None:
    return None if ttl is None else now + ttl * 1000


def _driver_error(error: BaseException) -> BaseException:
    # SQLAlchemy's own message repeats the statement and its parameters (session data): chain
    # the driver's exception instead.
    orig = getattr(error, "orig", None)
    return orig if isinstance(orig, BaseException) else error
