"""What differs between SQLite, PostgreSQL and MariaDB/MySQL for :class:`SQLBackend`.

Only four things do: the column types of MariaDB/MySQL (a case-sensitive key, a value over
64 KiB), an insert that takes over an expired row (``ON CONFLICT ... DO UPDATE ... WHERE`` on
SQLite and PostgreSQL; a plain ``INSERT`` then an ``UPDATE`` on MariaDB/MySQL, which has no
conditional upsert that says whether it wrote), a batched delete (``DELETE ... LIMIT`` on
MariaDB/MySQL, a ``LIMIT`` sub-select elsewhere), and SQLite's connection settings. Whether a
read can slide the expiry in one statement is the dialect's own ``update_returning`` flag. The
table's shape (MariaDB/MySQL's column types too) is in ``_sql_schema``.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from starlette_session.exceptions import SessionSetupError

__all__ = [
    "batch_delete",
    "check_writable_directory",
    "sqlite_file",
    "sqlite_pragmas",
    "upsert_if_expired",
]


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
