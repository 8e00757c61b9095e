"""Sessions in one SQL table through SQLAlchemy's asyncio engine: SQLite, PostgreSQL, MariaDB.

One statement per operation where the database allows it: a read one read-only ``SELECT`` of the
value and its expiry, followed by an ``UPDATE`` of the expiry only when it was last slid more than
the expiry granularity ago; a new session one ``INSERT`` that takes over only an expired row, a
change one compare-and-set ``UPDATE`` (plus a SELECT of the current value on a conflict), a
delete one ``DELETE``. "Now" is the application's clock, as for the store's own timeouts;
expiries are Unix milliseconds, NULL for none. ``docs/sql.md`` has the SQL, the DDL and the reasons.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from starlette_session.backends._combining import CombinedUpdates
from starlette_session.backends._notify import ended_message
from starlette_session.backends._pg_notify import PER_MESSAGE, PG_CHANNEL, PostgresNotifications
from starlette_session.backends.base import Replaced
from starlette_session.exceptions import SessionBackendError, SessionSetupError

try:
    import sqlalchemy as sa
    from sqlalchemy import event
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.engine import Connection, Dialect, Engine
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.util import await_, greenlet_spawn
except ImportError as error:  # pragma: no cover - exercised by the no-extras CI run
    raise ImportError(
        "the SQL backend needs SQLAlchemy's asyncio extension and a driver: pip install "
        "'starlette-session[sqlite]' (or [postgresql], [mysql]; [sql] for SQLAlchemy alone)"
    ) from error

from starlette_session.backends import _sql_schema as shape

__all__ = ["SQLBackend"]

T = TypeVar("T")
logger = logging.getLogger("starlette_session")
_DRIVER_ERRORS = (sa_exc.SQLAlchemyError, OSError, TimeoutError)
_K: sa.BindParameter[str] = sa.bindparam("k")
_V: sa.BindParameter[bytes] = sa.bindparam("v")
_EXP: sa.BindParameter[int] = sa.bindparam("exp")
_NOW: sa.BindParameter[int] = sa.bindparam("now")


# What differs between SQLite, PostgreSQL and MariaDB/MySQL


def upsert_if_expired(dialect: Dialect, table: sa.Table) -> sa.Insert:
    """``INSERT`` that takes over the key's row only when that row has expired.

    Its row count is 1 when it stored, 0 when a live row holds the key. Parameters: ``k``,
    ``v``, ``exp`` and ``now``. On MariaDB/MySQL (no such statement) this is a plain ``INSERT``
    that fails on any existing key; the backend then updates an expired row itself.
    """
    columns = table.c
    values: dict[str, Any] = {"store_key": sa.bindparam("k"), "value": sa.bindparam("v")}
    values["expires_at"] = sa.bindparam("exp")
    expired = columns.expires_at <= sa.bindparam("now")
    if dialect.name == "postgresql":
        pg = postgresql.insert(table).values(values)
        return pg.on_conflict_do_update(
            index_elements=[columns.store_key],
            set_={"value": pg.excluded.value, "expires_at": pg.excluded.expires_at},
            where=expired,
        )
    if dialect.name == "sqlite":
        lite = sqlite.insert(table).values(values)
        return lite.on_conflict_do_update(
            index_elements=[columns.store_key],
            set_={"value": lite.excluded.value, "expires_at": lite.excluded.expires_at},
            where=expired,
        )
    return sa.insert(table).values(values)


def batch_delete(dialect: Dialect, table: sa.Table, limit: int) -> sa.Delete:
    """Delete at most ``limit`` rows expired at ``now``, found through the expiry index."""
    columns, now = table.c, sa.bindparam("now", type_=sa.BigInteger)
    if dialect.name in ("mysql", "mariadb"):
        # MariaDB/MySQL refuse LIMIT in an IN sub-select, but take it on the DELETE itself.
        statement = sa.delete(table).where(columns.expires_at <= now)
        return statement.with_dialect_options(mysql_limit=limit)
    expired = sa.select(columns.store_key).where(columns.expires_at <= now).limit(limit)
    return sa.delete(table).where(columns.store_key.in_(expired.scalar_subquery()))


def sqlite_file(database: str | None) -> str | None:
    """The file of a SQLite URL's database, or None when it lives in memory."""
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    if database.startswith("file:"):  # a URI filename
        database = database[len("file:") :].split("?", 1)[0]
    return os.path.abspath(database)


def sqlite_pragmas(busy_timeout_ms: int) -> Any:
    """A ``connect`` listener that sets up every new SQLite connection for several processes.

    WAL lets readers run while one process writes; the busy timeout makes a writer wait for the
    lock (up to the backend's own timeout) instead of failing at once; ``synchronous=NORMAL`` is
    WAL's recommended durability (a power cut may lose the last commits, an application crash
    loses nothing).
    """

    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    return on_connect


def check_writable_directory(path: str) -> None:
    """Fail at start-up, naming the file, if SQLite could not create it and its WAL files."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise SessionSetupError(
            f"the SQLite session database {path} cannot be created: its directory {directory} "
            "does not exist; create it first"
        )
    try:  # a real attempt: os.access() says yes to root on a read-only file system
        with tempfile.NamedTemporaryFile(dir=directory):
            pass
    except OSError as error:
        raise SessionSetupError(
            f"the SQLite session database {path} cannot be written: this process cannot create "
            f"files in its directory {directory} ({error.strerror}), where SQLite keeps the "
            "-wal and -shm files beside it; choose a writable directory or fix its permissions"
        ) from None


def driver_select(dialect: Dialect, statement: sa.Select[Any]) -> DriverSelect | None:
    """``statement`` as a coroutine that runs it on an asyncpg or aiosqlite connection directly
    and returns its first row (None for other drivers): no SQLAlchemy Core per execution."""
    compiled = statement.compile(dialect=dialect)
    sql, names = compiled.string, compiled.positiontup or []
    if dialect.driver == "asyncpg":

        async def fetch_row(driver: Any, params: dict[str, Any]) -> Any:
            return await driver.fetchrow(sql, *[params[name] for name in names])

    elif dialect.driver == "aiosqlite":

        async def fetch_row(driver: Any, params: dict[str, Any]) -> Any:
            # One trip to aiosqlite's thread; a SELECT opens no transaction in sqlite3.
            rows = await driver.execute_fetchall(sql, [params[name] for name in names])
            return rows[0] if rows else None

    else:
        return None
    return fetch_row


DriverSelect = Callable[[Any, dict[str, Any]], Coroutine[Any, Any, Any]]


class _DriverFailed(Exception):
    """The driver's statement raised: SQLAlchemy runs it again and tells a dead connection."""


def _driver_row(engine: Engine, attempt: Attempt, select: DriverSelect, params: Any) -> Any:
    connection = engine.raw_connection()
    try:
        if attempt.abandoned:
            raise TimeoutError("abandoned before its first statement")
        try:
            return await_(select(connection.driver_connection, params))
        except Exception as error:
            raise _DriverFailed from error
        except BaseException:  # cancelled within the statement: the connection's state is unknown
            connection.invalidate()
            raise
    finally:
        connection.close()


def _observed(engine: Engine) -> bool:
    # Engine logging and cursor events (instrumentation, the tests' statement counter) see
    # only statements that SQLAlchemy runs itself.
    dispatch = engine.dispatch
    return bool(engine.echo or dispatch.before_cursor_execute or dispatch.after_cursor_execute)


# Running an operation: a pooled connection, a time bound, no transaction left open

# Abandoned operations still cleaning up; a task needs a reference until it is done.
_abandoned: set[asyncio.Future[Any]] = set()


class Attempt:
    """What :func:`within` tells the operation it runs: whether the caller stopped waiting (its
    time was up, or it was cancelled). An abandoned operation must commit nothing."""

    __slots__ = ("abandoned",)

    def __init__(self) -> None:
        self.abandoned = False


async def within(
    seconds: float | None,
    operation: Callable[[Attempt], Coroutine[Any, Any, T]],
    *,
    cancel: bool = True,
) -> T:
    """Run ``operation(attempt)`` and return its result, or raise ``TimeoutError`` after
    ``seconds``.

    The caller stops waiting when the time is up, or when it is cancelled itself, whatever the
    operation waits for. The operation is then marked abandoned and, with ``cancel``, cancelled:
    a network driver closes its connection in the background (asyncpg gives a stalled server
    2 s to answer a polite close). Without ``cancel`` it runs on to its own end, which must come
    by itself (``docs/sql.md``, "Failures", says why SQLite needs this).
    """
    attempt = Attempt()
    task = asyncio.ensure_future(operation(attempt))
    try:
        await asyncio.wait((task,), timeout=seconds)
    finally:
        if not task.done():  # the time is up, or the caller itself was cancelled
            attempt.abandoned = True
            if cancel:
                task.cancel()
            _abandoned.add(task)
            task.add_done_callback(_forget)
    if not task.done():
        raise TimeoutError(f"no answer within {seconds} s")
    return task.result()


async def on_a_connection(
    engine: AsyncEngine,
    attempt: Attempt,
    write: bool,
    operation: Callable[..., T],
    *args: Any,
) -> T:
    """``operation(conn, *args)`` on a pooled connection, committing if ``write`` (or if
    ``write(result)``). A connection found dead gets one more try; an abandoned attempt starts
    no statement and commits nothing.

    The operation is synchronous code on SQLAlchemy's sync ``Connection``, run with the
    connection's checkout and return in one greenlet, as ``AsyncConnection`` runs each of its
    calls: the driver's I/O is still awaited on the event loop, for a third of the CPU time.
    """
    sync_engine = engine.sync_engine
    try:
        return await greenlet_spawn(_once, sync_engine, attempt, write, operation, args)
    except sa_exc.DBAPIError as error:
        if not error.connection_invalidated or attempt.abandoned:
            raise
        # A pooled connection had died (a restart, an idle timeout): SQLAlchemy discarded the
        # pool's older connections, and a new one gets one more try.
        return await greenlet_spawn(_once, sync_engine, attempt, write, operation, args)


def _once(
    engine: Engine,
    attempt: Attempt,
    write: bool,
    operation: Callable[..., T],
    args: tuple[Any, ...],
) -> T:
    with engine.connect() as conn:
        if attempt.abandoned:  # its caller gave up while it waited for a connection
            raise TimeoutError("abandoned before its first statement")
        result = operation(conn, *args)
        if write and not _autocommits(conn):
            if attempt.abandoned:  # nobody waits for it: leaving the block rolls it back
                raise TimeoutError("abandoned before its commit")
            conn.commit()
        return result


def _autocommits(conn: Connection) -> bool:
    # SQLAlchemy has no public "this connection autocommits" (get_isolation_level() never
    # reports AUTOCOMMIT); without the private check we commit, which is merely one more trip.
    check = getattr(conn, "_is_autocommit_isolation", None)
    return bool(check()) if check is not None else False


def _forget(task: asyncio.Future[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.debug("an abandoned session database operation failed: %r", task.exception())


@contextlib.asynccontextmanager
async def periodically(
    every: float, job: Callable[[], Awaitable[Any]], what: str
) -> AsyncIterator[None]:
    """Run ``job`` every ``every`` seconds while the block runs, the first time after a random
    part of ``every`` (so that several workers spread out). A failure is logged, not raised."""
    if every <= 0:
        raise ValueError("every must be a positive number of seconds")

    async def loop() -> None:
        await asyncio.sleep(random.uniform(0, every))  # noqa: S311 - spreading, not secrecy
        while True:
            try:
                result = await job()
            except Exception as error:  # logged; the next round tries again
                logger.warning("%s failed: %s", what, error)
            else:
                logger.debug("%s: %s", what, result)
            await asyncio.sleep(every)

    task = asyncio.ensure_future(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


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

    ``expiry_granularity`` (seconds, 60 by default, at most a tenth of the ttl) is how far a
    sliding expiry may lag: a read, or :meth:`expire`, writes the new expiry only when the stored
    one is that much short of it; otherwise a read is one read-only ``SELECT``. A session then
    lives between ``ttl - granularity`` and ``ttl`` after its last use; 0 writes on every read.
    """

    max_key_length = shape.KEY_LENGTH  # the key column's: a longer key_prefix is refused

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        table: str = "starlette_sessions",
        schema: str | None = None,
        timeout: float | None = 2.0,
        clock: Callable[[], float] = time.time,
        expiry_granularity: float = 60.0,
    ) -> None:
        if not expiry_granularity >= 0:  # NaN too
            raise ValueError("expiry_granularity must be a number of seconds, 0 or more")
        self.engine = engine
        self.timeout = timeout
        self.clock = clock
        self.expiry_granularity = expiry_granularity
        self.table = shape.build_table(table, schema)
        dialect = engine.dialect
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
        if dialect.name == "postgresql" and dialect.driver == "asyncpg":
            self.notifications = PostgresNotifications(self._engine, self.announce, timeout)

    def _setup_sqlite(self, engine: AsyncEngine) -> None:
        self._sqlite_file = sqlite_file(engine.url.database)
        if self._sqlite_file is not None:
            check_writable_directory(self._sqlite_file)
        # Shorter than the timeout, so that a lock held too long is reported as such.
        busy_ms = int((self.timeout if self.timeout is not None else 5.0) * 800)
        event.listen(engine.sync_engine, "connect", sqlite_pragmas(busy_ms))

    def _prepare_statements(self, dialect: Any) -> None:
        c = self.table.c
        live = sa.or_(c.expires_at.is_(None), c.expires_at > _NOW)
        this_live = sa.and_(c.store_key == _K, live)
        self._select = sa.select(c.value).where(this_live)
        self._select_expiry = sa.select(c.value, c.expires_at).where(this_live)
        self._driver_select = driver_select(dialect, self._select_expiry)
        # The expiry lags by more than the granularity (``fresh`` = ``exp`` - granularity). A
        # read only lengthens it: a longer one a concurrent write set stays.
        stale = sa.or_(c.expires_at.is_(None), c.expires_at < sa.bindparam("fresh"))
        slide = sa.update(self.table).values(expires_at=_EXP)
        self._slide = slide.where(this_live, stale)
        # expire() sets the expiry to within the granularity, shortening it as well.
        self._reset = slide.where(this_live, sa.or_(stale, c.expires_at > _EXP))
        self._insert = upsert_if_expired(dialect, self.table)
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
        # PostgreSQL: NOTIFY the session-ended message in the DELETE's own statement.
        notify = sa.func.pg_notify(PG_CHANNEL, sa.bindparam("payload", type_=sa.Text))
        self._notify = sa.select(notify)
        self._delete_notify = sa.select(notify).add_cte(self._delete.cte("ended"))

    # The contract

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        now = self._now()
        if ttl is None:
            return await self._run(self._scalar, self._select, {"k": key, "now": now})
        params = self._sliding(key, now, ttl)
        row = await self._read_row(params)
        if row is None:
            return None
        value, expires_at = row
        if expires_at is None or expires_at < params["fresh"]:
            await self._run(self._rowcount, self._slide, params, write=True)
        return value  # type: ignore[no-any-return]

    async def _read_row(self, params: dict[str, Any]) -> Any:
        """The value and expiry of a live row, or None: straight to the driver where it can."""
        select, engine = self._driver_select, self._engine
        if select is None or _observed(engine.sync_engine):
            return await self._run(self._one, self._select_expiry, params)

        async def attempts(attempt: Attempt) -> Any:
            try:
                return await greenlet_spawn(
                    _driver_row, engine.sync_engine, attempt, select, params
                )
            except _DriverFailed:
                return await on_a_connection(
                    engine, attempt, False, self._one, self._select_expiry, params
                )

        return await self._bounded(attempts)

    def _sliding(self, key: str, now: int, ttl: int) -> dict[str, Any]:
        """The parameters of a slide to ``now + ttl``: ``fresh`` is the oldest expiry kept."""
        exp = now + ttl * 1000
        lag = min(int(self.expiry_granularity * 1000), ttl * 100)  # at most a tenth of ttl
        return {"k": key, "now": now, "exp": exp, "fresh": exp - lag}

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        now = self._now()
        params = {"k": key, "v": value, "now": now, "exp": _expiry(now, ttl)}
        stored: bool = await self._run(self._create, params, write=True)
        return stored

    def _create(self, conn: Connection, params: dict[str, Any]) -> bool:
        if self._upsert_reports:
            return self._rowcount(conn, self._insert, params) == 1
        try:
            return self._rowcount(conn, self._insert, params) == 1
        except sa_exc.IntegrityError:
            # The key exists: take it over only if it expired. The failed INSERT left a shared
            # lock on the row; end its transaction first, or concurrent creates of one key
            # deadlock upgrading their shared locks for the UPDATE.
            conn.rollback()
            return self._rowcount(conn, self._take_expired, params) == 1

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        now = self._now()
        params = {"k": key, "v": value, "expected": expected, "now": now, "exp": _expiry(now, ttl)}
        replaced: Replaced = await self._run(self._replace, params, write=True)
        return replaced

    def _replace(self, conn: Connection, params: dict[str, Any]) -> Replaced:
        if self._rowcount(conn, self._compare_and_set, params) == 1:
            return Replaced(True, None)
        return Replaced(False, self._scalar(conn, self._select, params))

    async def expire(self, key: str, ttl: int) -> None:
        params = self._sliding(key, self._now(), ttl)
        await self._run(self._rowcount, self._reset, params, write=True)

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._run(self._rowcount, self._delete, {"keys": list(keys)}, write=True)

    async def end(self, *keys: str) -> None:
        if not keys:
            return
        if self.notifications is None:
            await self.delete(*keys)
            self.local_notifications().deliver(list(keys))
            return
        if len(keys) > PER_MESSAGE:  # more than one NOTIFY holds
            await self.delete(*keys)
            await self.announce(*keys)
            return
        # One statement: WITH ended AS (DELETE ...) SELECT pg_notify(...).
        params = {"keys": list(keys), "payload": ended_message(keys).decode()}
        await self._run(self._scalar, self._delete_notify, params, write=True)

    async def announce(self, *keys: str) -> None:
        if self.notifications is None:
            self.local_notifications().deliver(list(keys))
            return
        for start in range(0, len(keys), PER_MESSAGE):
            payload = ended_message(keys[start : start + PER_MESSAGE]).decode()
            await self._run(self._scalar, self._notify, {"payload": payload}, write=True)

    # Maintenance

    async def create_table(self) -> None:
        """Create the table and its expiry index unless they exist (safe to run on every start,
        from several processes at once); an existing table of another shape raises
        :class:`SessionSettingsError` naming what differs."""
        try:
            await self._run(self._sync, shape.create_table, write=True)
        except SessionBackendError:
            # Another process may have created it between our check and our CREATE.
            if not await self._run(self._sync, shape.has_table):
                raise
        await self._run(self._sync, shape.check_table)

    def _sync(self, conn: Connection, function: Callable[..., T]) -> T:
        return function(conn, self.table)

    async def purge_expired(self, *, batch_size: int = 1000) -> int:
        """Delete every expired row, ``batch_size`` rows per statement and transaction (found
        through the expiry index, so each batch locks few rows briefly); return how many."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        statement = batch_delete(self.engine.dialect, self.table, batch_size)
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

        return periodically(every, purge, "purging expired sessions")

    # Running statements

    def _now(self) -> int:
        return int(self.clock() * 1000)

    @staticmethod
    def _scalar(conn: Connection, statement: Any, params: dict[str, Any]) -> Any:
        return conn.execute(statement, params).scalar_one_or_none()

    @staticmethod
    def _one(conn: Connection, statement: Any, params: dict[str, Any]) -> Any:
        return conn.execute(statement, params).one_or_none()

    @staticmethod
    def _rowcount(conn: Connection, statement: Any, params: dict[str, Any]) -> int:
        return conn.execute(statement, params).rowcount

    async def _run(self, operation: Callable[..., T], *args: Any, write: bool = False) -> T:
        async def attempts(attempt: Attempt) -> T:
            return await on_a_connection(self._engine, attempt, write, operation, *args)

        return await self._bounded(attempts)

    async def _bounded(self, attempts: Callable[[Attempt], Coroutine[Any, Any, T]]) -> T:
        try:
            return await within(self.timeout, attempts, cancel=self._cancel_on_timeout)
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
