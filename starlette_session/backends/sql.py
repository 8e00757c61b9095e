"""Sessions in one SQL table through SQLAlchemy's asyncio engine: SQLite, PostgreSQL, MariaDB.

One statement per operation where the database allows it; a read is one read-only ``SELECT``,
sent to asyncpg or aiosqlite directly. Expiries are the application's Unix milliseconds, NULL
for none. ``docs/sql.md`` has the SQL, the DDL and the reasons.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

from starlette_session.backends._notify import ended_message
from starlette_session.backends._pg_notify import PER_MESSAGE, PG_CHANNEL, PostgresNotifications
from starlette_session.backends.base import CombinedUpdates, Replaced
from starlette_session.exceptions import (
    SessionBackendError,
    SessionSettingsError,
    SessionSetupError,
)

try:
    import sqlalchemy as sa
    from sqlalchemy import event
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.dialects import mysql, postgresql, sqlite
    from sqlalchemy.engine import Connection, Dialect, Engine
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.util import await_only, greenlet_spawn  # await_only: 2.0 and 2.1
except ImportError as error:  # pragma: no cover - exercised by the no-extras CI run
    raise ImportError(
        "the SQL backend needs SQLAlchemy's asyncio extension and a driver: pip install "
        "'starlette-session[sqlite]' (or [postgresql], [mysql]; [sql] for SQLAlchemy alone)"
    ) from error

__all__ = ["SQLBackend"]

T = TypeVar("T")
logger = logging.getLogger("starlette_session")
_DRIVER_ERRORS = (sa_exc.SQLAlchemyError, OSError, TimeoutError)
_K: sa.BindParameter[str] = sa.bindparam("k")
_V: sa.BindParameter[bytes] = sa.bindparam("v")
_EXP: sa.BindParameter[int] = sa.bindparam("exp")
_NOW: sa.BindParameter[int] = sa.bindparam("now")
_MYSQL = ("mysql", "mariadb")
_COLUMNS = ("store_key", "value", "expires_at")
_LARGE_BLOBS = (mysql.LONGBLOB, mysql.MEDIUMBLOB)  # MariaDB/MySQL: a BLOB holds 64 KiB
KEY_LENGTH = 255


# The table


def build_table(name: str, schema: str | None = None) -> sa.Table:
    """The one table: a case-sensitive key, the value (``LONGBLOB`` on MariaDB/MySQL, whose
    ``BLOB`` holds 64 KiB) and an indexed expiry in Unix milliseconds (NULL: none)."""
    key = sa.String(KEY_LENGTH).with_variant(
        mysql.VARCHAR(KEY_LENGTH, charset="ascii", collation="ascii_bin"), *_MYSQL
    )
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("store_key", key, primary_key=True),
        sa.Column(
            "value", sa.LargeBinary().with_variant(mysql.LONGBLOB(), *_MYSQL), nullable=False
        ),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Index(f"ix_{name}_expires_at", "expires_at"),
        schema=schema,
    )


def _check_table(conn: Connection, table: sa.Table) -> None:
    """Raise :class:`SessionSettingsError` naming what makes an existing ``table`` unable to hold
    sessions; other columns are fine if they are nullable or have a default."""
    inspector, dialect = sa.inspect(conn), conn.dialect.name
    columns = {column["name"]: column for column in inspector.get_columns(table.name, table.schema)}
    found = [f"it has no column {name}" for name in _COLUMNS if name not in columns]
    key, value, expires = (columns[name]["type"] if name in columns else None for name in _COLUMNS)
    if key is not None:
        found += _key_differences(conn, table, key)
    if value is not None and _python_type(value) is not bytes:
        found.append(f"value is {_sql(value, conn)}, not binary (the records are bytes)")
    elif value is not None and dialect in _MYSQL and not isinstance(value, _LARGE_BLOBS):
        found.append(f"value is {_sql(value, conn)}, which holds at most 64 KiB: use LONGBLOB")
    wide = sa.Integer if dialect == "sqlite" else sa.BigInteger  # every SQLite INTEGER is 64-bit
    if expires is not None and not isinstance(expires, wide):  # Unix milliseconds need 64 bits
        found.append(f"expires_at is {_sql(expires, conn)}, not BIGINT (Unix milliseconds)")
    if expires is not None and not columns["expires_at"]["nullable"]:
        found.append("expires_at is NOT NULL, but entries that never expire hold NULL")
    primary = inspector.get_pk_constraint(table.name, table.schema)["constrained_columns"]
    if primary != ["store_key"]:
        have = f"({', '.join(primary)})" if primary else "missing"
        found.append(f"its primary key is {have}, not (store_key)")
    for name, column in columns.items():
        fillable = column["nullable"] or column.get("default") is not None
        if name not in table.c and not (fillable or column.get("autoincrement") is True):
            found.append(f"its column {name} is NOT NULL without a default, so inserts fail")
    if found:
        raise SessionSettingsError(
            f"the table {table.fullname} exists but cannot hold sessions: {'; '.join(found)}. "
            "Migrate it to the DDL that `python -m starlette_session ddl --dialect "
            f"{conn.dialect.name}` prints, or give SQLBackend(table=...) a table of its own"
        )


def _key_differences(conn: Connection, table: sa.Table, key: Any) -> list[str]:
    if _python_type(key) is not str:
        return [f"store_key is {_sql(key, conn)}, not VARCHAR({KEY_LENGTH})"]
    found = []
    if getattr(key, "length", None) is not None and key.length < KEY_LENGTH:
        found.append(f"store_key holds {key.length} characters, not {KEY_LENGTH}")
    if conn.dialect.name in _MYSQL:  # whose default collations ignore case
        collation = conn.execute(
            sa.text(
                "SELECT collation_name FROM information_schema.columns WHERE table_schema = "
                "COALESCE(:schema, DATABASE()) AND table_name = :table "
                "AND column_name = 'store_key'"
            ),
            {"schema": table.schema, "table": table.name},
        ).scalar()
        if collation is not None and not str(collation).endswith("_bin"):
            found.append(
                f"store_key compares case-insensitively (collation {collation}): keys are "
                "case-sensitive, use ascii_bin"
            )
    return found


def _has_table(conn: Connection, table: sa.Table) -> bool:
    return bool(sa.inspect(conn).has_table(table.name, table.schema))


def _python_type(column_type: Any) -> type | None:
    try:
        python_type: type = column_type.python_type
    except NotImplementedError:
        return None
    return python_type


def _sql(column_type: Any, conn: Connection) -> str:
    try:
        return str(column_type.compile(dialect=conn.dialect))
    except Exception:  # a reflected type the dialect cannot print back
        return repr(column_type)


# What differs between SQLite, PostgreSQL and MariaDB/MySQL


def _batch_delete(dialect: Dialect, table: sa.Table, limit: int) -> sa.Delete:
    """Delete at most ``limit`` rows expired at ``now``, found through the expiry index."""
    expired = table.c.expires_at <= sa.bindparam("now", type_=sa.BigInteger)
    if dialect.name in _MYSQL:  # no LIMIT in an IN sub-select, but on the DELETE itself
        return sa.delete(table).where(expired).with_dialect_options(mysql_limit=limit)
    batch = sa.select(table.c.store_key).where(expired).limit(limit)
    return sa.delete(table).where(table.c.store_key.in_(batch.scalar_subquery()))


def _setup_sqlite(engine: AsyncEngine, timeout: float | None) -> str | None:
    """Set up every new connection for several processes; return the database file, checked
    writable (None in memory)."""
    path = engine.url.database
    if path and path != ":memory:" and not path.startswith("file::memory:"):
        if path.startswith("file:"):  # a URI filename
            path = path[len("file:") :].split("?", 1)[0]
        path = os.path.abspath(path)
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            raise SessionSetupError(
                f"the SQLite session database {path} cannot be created: its directory "
                f"{directory} does not exist; create it first"
            )
        try:  # a real attempt: os.access() says yes to root on a read-only file system
            with tempfile.NamedTemporaryFile(dir=directory):
                pass
        except OSError as error:
            raise SessionSetupError(
                f"the SQLite session database {path} cannot be written: this process cannot "
                f"create files in its directory {directory} ({error.strerror}), where SQLite "
                "keeps the -wal and -shm files; choose a writable directory or fix its permissions"
            ) from None
    else:
        path = None
    # Shorter than the timeout, so that a lock held too long is reported as such.
    busy_ms = int((timeout if timeout is not None else 5.0) * 800)
    pragmas = (f"busy_timeout = {busy_ms}", "journal_mode = WAL", "synchronous = NORMAL")

    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(f"PRAGMA {pragma}")
        finally:
            cursor.close()

    event.listen(engine.sync_engine, "connect", on_connect)
    return path


DriverSelect = Callable[[Any, dict[str, Any]], Coroutine[Any, Any, Any]]


def _driver_select(dialect: Dialect, statement: sa.Select[Any]) -> DriverSelect | None:
    """``statement`` run on an asyncpg or aiosqlite connection itself, returning its first row
    (None for other drivers): none of SQLAlchemy Core's work per execution."""
    compiled = statement.compile(dialect=dialect)
    sql, names = compiled.string, compiled.positiontup or []
    if dialect.driver == "asyncpg":  # which prepares it once per connection

        async def fetch_row(driver: Any, params: dict[str, Any]) -> Any:
            return await driver.fetchrow(sql, *[params[name] for name in names])

        return fetch_row
    if dialect.driver == "aiosqlite":

        async def fetch_first(driver: Any, params: dict[str, Any]) -> Any:
            # One trip to aiosqlite's thread; a SELECT opens no transaction in sqlite3.
            rows = await driver.execute_fetchall(sql, [params[name] for name in names])
            return rows[0] if rows else None

        return fetch_first
    return None


# Running an operation: a pooled connection, a time bound, no transaction left open

# Abandoned operations still cleaning up; a task needs a reference until it is done.
_abandoned: set[asyncio.Future[Any]] = set()


class Attempt:
    """Whether the caller stopped waiting (time up, or cancelled): then commit nothing."""

    abandoned = False


def on_a_connection(
    engine: Engine, attempt: Attempt, write: bool, operation: Callable[..., T], args: Any
) -> T:
    """``operation(conn, *args)`` on a pooled connection, committing if ``write``, in the
    greenlet that checks it out and returns it; a connection found dead gets one more try."""
    retried = False
    while True:
        try:
            with engine.connect() as conn:
                if attempt.abandoned:  # its caller gave up while it waited for a connection
                    raise TimeoutError("abandoned before its first statement")
                result = operation(conn, *args)
                # No public "this connection autocommits" (get_isolation_level() never says
                # AUTOCOMMIT); without the private check we commit, merely one more trip.
                autocommits = getattr(conn, "_is_autocommit_isolation", None)
                if write and not (autocommits is not None and autocommits()):
                    if attempt.abandoned:  # nobody waits for it: leaving the block rolls it back
                        raise TimeoutError("abandoned before its commit")
                    conn.commit()
                return result
        except sa_exc.DBAPIError as error:
            # A pooled connection had died (a restart, an idle timeout): SQLAlchemy discarded
            # the pool's older connections, and a new one gets one more try.
            if retried or not error.connection_invalidated or attempt.abandoned:
                raise
            retried = True


def _read_on_the_driver(
    engine: Engine, attempt: Attempt, select: DriverSelect, statement: Any, params: Any
) -> Any:
    connection = engine.raw_connection()
    try:
        if attempt.abandoned:
            raise TimeoutError("abandoned before its first statement")
        return await_only(select(connection.driver_connection, params))
    except BaseException as error:
        if not isinstance(error, Exception):  # cancelled within the statement: state unknown
            connection.invalidate()
            raise
        # Else SQLAlchemy runs it again below: it tells a dead connection, and says why.
    finally:
        connection.close()
    return on_a_connection(engine, attempt, False, _one, (statement, params))


def _observed(engine: Engine) -> bool:
    """Whether the engine logs or has cursor events (instrumentation): they see only the
    statements SQLAlchemy runs itself."""
    events = engine.dispatch
    return bool(engine.echo or events.before_cursor_execute or events.after_cursor_execute)


def _one(conn: Connection, statement: Any, params: dict[str, Any]) -> Any:
    return conn.execute(statement, params).one_or_none()


def _rowcount(conn: Connection, statement: Any, params: dict[str, Any]) -> int:
    return conn.execute(statement, params).rowcount


def _forget(task: asyncio.Future[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.debug("an abandoned session database operation failed: %r", task.exception())


class SQLBackend(CombinedUpdates):
    """Sessions in one SQL table, through a SQLAlchemy ``AsyncEngine`` the application built
    and owns (its pool, credentials and ``dispose()``); tested on ``sqlite+aiosqlite``,
    ``postgresql+asyncpg`` and ``mysql+asyncmy``. ``table`` (in ``schema``) must exist:
    :meth:`create_table`, or the DDL of ``docs/sql.md`` in a migration.

    ``timeout`` (seconds, None: no bound) bounds every operation, connecting included: a failure
    or a timeout raises :class:`SessionBackendError` and commits nothing more; a dead pooled
    connection is replaced and tried once more. ``clock`` is the time of every expiry. A read
    slides the expiry only when it lags by more than ``expiry_granularity`` (seconds, at most a
    tenth of the ttl; 0: every read writes). The ``logged_in`` hint is ignored.
    """

    max_key_length = KEY_LENGTH  # the key column's: a longer key_prefix is refused

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
        self.table = build_table(table, schema)
        dialect = engine.dialect
        # aiosqlite cannot stop a statement it runs: cancelled, one held SQLite's lock on. A
        # timed-out operation runs on instead (the busy timeout bounds it), committing nothing.
        self._cancel_on_timeout = dialect.name != "sqlite"
        self._sqlite_file = _setup_sqlite(engine, timeout) if dialect.name == "sqlite" else None
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

    def _prepare_statements(self, dialect: Dialect) -> None:
        table, c = self.table, self.table.c
        this_live = sa.and_(c.store_key == _K, sa.or_(c.expires_at.is_(None), c.expires_at > _NOW))
        self._select = sa.select(c.value, c.expires_at).where(this_live)
        self._driver_select = _driver_select(dialect, self._select)
        # The expiry lags by more than the granularity (``fresh`` = ``exp`` - granularity). A
        # read only lengthens it: a longer one a concurrent write set stays.
        stale = sa.or_(c.expires_at.is_(None), c.expires_at < sa.bindparam("fresh"))
        slide = sa.update(table).values(expires_at=_EXP)
        self._slide = slide.where(this_live, stale)
        # expire() sets the expiry to within the granularity, shortening it as well.
        self._reset = slide.where(this_live, sa.or_(stale, c.expires_at > _EXP))
        values = {"value": _V, "expires_at": _EXP}
        upsert: Any = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect.name)
        if upsert is None:  # MariaDB/MySQL: a plain INSERT, then _take_expired on a conflict
            self._insert = sa.insert(table).values(store_key=_K, **values)
        else:  # takes over the key's row only when that row has expired: row count 0 if not
            insert = upsert(table).values(store_key=_K, **values)
            self._insert = insert.on_conflict_do_update(
                index_elements=[c.store_key],
                set_={"value": insert.excluded.value, "expires_at": insert.excluded.expires_at},
                where=c.expires_at <= _NOW,
            )
        expired = sa.and_(c.store_key == _K, c.expires_at <= _NOW)
        self._take_expired = sa.update(table).where(expired).values(values)
        expected = c.value == sa.bindparam("expected")
        self._compare_and_set = sa.update(table).where(this_live, expected).values(values)
        self._delete = sa.delete(table).where(c.store_key.in_(sa.bindparam("keys", expanding=True)))
        # PostgreSQL: NOTIFY the session-ended message in the DELETE's own statement.
        notify = sa.select(sa.func.pg_notify(PG_CHANNEL, sa.bindparam("payload", type_=sa.Text)))
        self._notify = notify
        self._delete_notify = notify.add_cte(self._delete.cte("ended"))

    # The contract

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        now = self._now()
        params = {"k": key, "now": now} if ttl is None else self._sliding(key, now, ttl)
        row = await self._read_row(params)
        if row is None:
            return None
        value, expires_at = row
        if ttl is not None and (expires_at is None or expires_at < params["fresh"]):
            await self._run(_rowcount, self._slide, params, write=True)
        return value  # type: ignore[no-any-return]

    async def _read_row(self, params: dict[str, Any]) -> Any:
        """The value and expiry of a live row, or None; straight to the driver where it can."""
        select, engine = self._driver_select, self._engine.sync_engine
        if select is None or _observed(self.engine.sync_engine):
            return await self._run(_one, self._select, params)
        return await self._bounded(
            lambda attempt: greenlet_spawn(
                _read_on_the_driver, engine, attempt, select, self._select, params
            )
        )

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
        return await self._run(self._create, params, write=True)

    def _create(self, conn: Connection, params: dict[str, Any]) -> bool:
        try:
            return _rowcount(conn, self._insert, params) == 1
        except sa_exc.IntegrityError:
            if self.engine.dialect.name not in _MYSQL:
                raise
            # The key exists: take it over only if it expired. The failed INSERT left a shared
            # lock on the row; end its transaction first, or concurrent creates of one key
            # deadlock upgrading their shared locks for the UPDATE.
            conn.rollback()
            return _rowcount(conn, self._take_expired, params) == 1

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        now = self._now()
        params = {"k": key, "v": value, "expected": expected, "now": now, "exp": _expiry(now, ttl)}
        return await self._run(self._replace, params, write=True)

    def _replace(self, conn: Connection, params: dict[str, Any]) -> Replaced:
        if _rowcount(conn, self._compare_and_set, params) == 1:
            return Replaced(True, None)
        row = _one(conn, self._select, params)
        return Replaced(False, None if row is None else row[0])

    async def expire(self, key: str, ttl: int) -> None:
        params = self._sliding(key, self._now(), ttl)
        await self._run(_rowcount, self._reset, params, write=True)

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._run(_rowcount, self._delete, {"keys": list(keys)}, write=True)

    async def end(self, *keys: str) -> None:
        if not keys:
            return
        if self.notifications is None or len(keys) > PER_MESSAGE:  # more than one NOTIFY holds
            await self.delete(*keys)
            await self.announce(*keys)
            return
        # One statement: WITH ended AS (DELETE ...) SELECT pg_notify(...).
        params = {"keys": list(keys), "payload": ended_message(keys).decode()}
        await self._run(_one, self._delete_notify, params, write=True)

    async def announce(self, *keys: str) -> None:
        if self.notifications is None:
            self.local_notifications().deliver(list(keys))
            return
        for start in range(0, len(keys), PER_MESSAGE):
            payload = ended_message(keys[start : start + PER_MESSAGE]).decode()
            await self._run(_one, self._notify, {"payload": payload}, write=True)

    # Maintenance

    async def create_table(self) -> None:
        """Create the table and its expiry index unless they exist (safe on every start, from
        several processes at once); an existing table of another shape raises
        :class:`SessionSettingsError` naming what differs."""
        try:
            await self._run(self.table.metadata.create_all, write=True)
        except SessionBackendError:
            # Another process may have created it between our check and our CREATE.
            if not await self._run(_has_table, self.table):
                raise
        await self._run(_check_table, self.table)

    async def purge_expired(self, *, batch_size: int = 1000) -> int:
        """Delete every expired row, ``batch_size`` rows per statement and transaction (found
        through the expiry index, so each batch locks few rows briefly); return how many."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        statement = _batch_delete(self.engine.dialect, self.table, batch_size)
        params, total = {"now": self._now()}, 0
        while True:
            deleted = await self._run(_rowcount, statement, params, write=True)
            total += deleted
            if deleted < batch_size:
                return total

    @contextlib.asynccontextmanager
    async def purging(
        self, every: float = 3600.0, *, batch_size: int = 1000
    ) -> AsyncIterator[None]:
        """Purge expired rows every ``every`` seconds while the block runs, for an app's lifespan:
        ``async with backend.purging(every=3600): yield``. The first purge comes after a random
        part of ``every``, to spread several workers; a failure is logged and tried again."""
        if every <= 0:
            raise ValueError("every must be a positive number of seconds")

        async def loop() -> None:
            await asyncio.sleep(random.uniform(0, every))  # noqa: S311 - spreading, not secrecy
            while True:
                try:
                    deleted = await self.purge_expired(batch_size=batch_size)
                except Exception as error:  # logged; the next round tries again
                    logger.warning("purging expired sessions failed: %s", error)
                else:
                    logger.debug("purging expired sessions: %s rows deleted", deleted)
                await asyncio.sleep(every)

        task = asyncio.ensure_future(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # Running statements

    def _now(self) -> int:
        return int(self.clock() * 1000)

    async def _run(self, operation: Callable[..., T], *args: Any, write: bool = False) -> T:
        engine = self._engine.sync_engine
        return await self._bounded(
            lambda attempt: greenlet_spawn(on_a_connection, engine, attempt, write, operation, args)
        )

    async def _bounded(self, operation: Callable[[Attempt], Coroutine[Any, Any, T]]) -> T:
        """``operation(attempt)``'s result, or :class:`SessionBackendError` after ``timeout``.

        The caller stops waiting then, or when it is cancelled itself: the operation is marked
        abandoned and cancelled (a network driver closes its connection in the background), on
        SQLite left to run to its own end (``docs/sql.md``, "Failures").
        """
        attempt = Attempt()
        task = asyncio.ensure_future(operation(attempt))
        try:
            try:
                await asyncio.wait((task,), timeout=self.timeout)
            finally:
                if not task.done():  # the time is up, or the caller itself was cancelled
                    attempt.abandoned = True
                    if self._cancel_on_timeout:
                        task.cancel()
                    _abandoned.add(task)
                    task.add_done_callback(_forget)
            if not task.done():
                raise TimeoutError(f"no answer within {self.timeout} s")
            return task.result()
        except _DRIVER_ERRORS as error:
            # SQLAlchemy's message repeats the statement and its parameters (session data):
            # chain the driver's exception instead.
            orig = getattr(error, "orig", None)
            cause = orig if isinstance(orig, BaseException) else error
            failed, table = f"the SQL session backend failed ({type(cause).__name__})", self.table
            if self._sqlite_file:
                raise SessionBackendError(
                    f"{failed} on the SQLite file {self._sqlite_file}: check that it is writable, "
                    f"that the table {table.fullname} exists and that no process holds its lock "
                    "for long"
                ) from cause
            raise SessionBackendError(
                f"{failed}; check that the database is reachable and that the table "
                f"{table.fullname} exists (SQLBackend.create_table() makes it)"
            ) from cause

    def __repr__(self) -> str:  # never the URL: it may hold a password
        dialect = self.engine.dialect
        return f"SQLBackend({dialect.name}+{dialect.driver}, table={self.table.fullname!r})"


def _expiry(now: int, ttl: int | None) -> int | None:
    return None if ttl is None else now + ttl * 1000
