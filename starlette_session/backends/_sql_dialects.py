"""What differs between SQLite, PostgreSQL and MariaDB/MySQL for :class:`SQLBackend`.

Only five things do: the column types of MariaDB/MySQL (a case-sensitive key, a value over
64 KiB), an insert that takes over an expired row (``ON CONFLICT ... DO UPDATE ... WHERE`` on
SQLite and PostgreSQL; a plain ``INSERT`` then an ``UPDATE`` on MariaDB/MySQL, which has no
conditional upsert that says whether it wrote), a batched delete (``DELETE ... LIMIT`` on
MariaDB/MySQL, a ``LIMIT`` sub-select elsewhere), SQLite's connection settings, and what an
existing table must look like (:func:`table_differences`). Whether a read can slide the expiry in
one statement is the dialect's own ``update_returning`` flag.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect

from starlette_session.exceptions import SessionSetupError

__all__ = [
    "batch_delete",
    "build_table",
    "check_writable_directory",
    "sqlite_file",
    "sqlite_pragmas",
    "table_differences",
    "upsert_if_expired",
]

KEY_LENGTH = 255


def build_table(name: str, schema: str | None = None) -> sa.Table:
    """The one table: a key, the value, and an indexed expiry in Unix milliseconds (NULL: none)."""
    # MariaDB/MySQL compare strings case-insensitively by default; the keys are case-sensitive.
    key = sa.String(KEY_LENGTH).with_variant(
        mysql.VARCHAR(KEY_LENGTH, charset="ascii", collation="ascii_bin"), "mysql", "mariadb"
    )
    # A MariaDB/MySQL BLOB holds 64 KiB, the store's default max_size before the envelope.
    value = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("store_key", key, primary_key=True),
        sa.Column("value", value, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Index(f"ix_{name}_expires_at", "expires_at"),
        schema=schema,
    )


def table_differences(sync_conn: Any, table: sa.Table) -> list[str]:
    """What makes the existing ``table`` unusable as the session table, one phrase each; empty
    when it has the columns, types and primary key the backend needs (other columns are fine
    if they are nullable or have a default)."""
    inspector = sa.inspect(sync_conn)
    columns = {column["name"]: column for column in inspector.get_columns(table.name, table.schema)}
    found = [f"it has no column {name}" for name in _COLUMNS if name not in columns]
    if "store_key" in columns:
        found += _key_differences(sync_conn, table, columns["store_key"]["type"])
    if "value" in columns:
        found += _value_differences(sync_conn, columns["value"]["type"])
    if "expires_at" in columns:
        found += _expiry_differences(sync_conn, columns["expires_at"])
    primary = inspector.get_pk_constraint(table.name, table.schema)["constrained_columns"]
    if primary != ["store_key"]:
        have = f"({', '.join(primary)})" if primary else "missing"
        found.append(f"its primary key is {have}, not (store_key)")
    for name, column in columns.items():
        fillable = column["nullable"] or column.get("default") is not None
        if name not in _COLUMNS and not (fillable or column.get("autoincrement") is True):
            found.append(f"its column {name} is NOT NULL without a default, so inserts fail")
    return found


_COLUMNS = ("store_key", "value", "expires_at")


def _value_differences(sync_conn: Any, value: Any) -> list[str]:
    if _python_type(value) is not bytes:
        return [f"value is {_sql(value, sync_conn)}, not binary (the records are bytes)"]
    if _is_mysql(sync_conn) and not isinstance(value, mysql.LONGBLOB | mysql.MEDIUMBLOB):
        return [f"value is {_sql(value, sync_conn)}, which holds at most 64 KiB: use LONGBLOB"]
    return []


def _expiry_differences(sync_conn: Any, expires: Any) -> list[str]:
    found = []
    column_type = expires["type"]
    # Unix milliseconds need 64 bits; every SQLite INTEGER has them.
    wide = isinstance(column_type, sa.BigInteger) or (
        sync_conn.dialect.name == "sqlite" and isinstance(column_type, sa.Integer)
    )
    if not wide:
        found.append(
            f"expires_at is {_sql(column_type, sync_conn)}, not BIGINT (Unix milliseconds)"
        )
    if not expires["nullable"]:
        found.append("expires_at is NOT NULL, but entries that never expire hold NULL")
    return found


def _is_mysql(sync_conn: Any) -> bool:
    return sync_conn.dialect.name in ("mysql", "mariadb")


def _key_differences(sync_conn: Any, table: sa.Table, key: Any) -> list[str]:
    if _python_type(key) is not str:
        return [f"store_key is {_sql(key, sync_conn)}, not VARCHAR({KEY_LENGTH})"]
    found = []
    length = getattr(key, "length", None)
    if length is not None and length < KEY_LENGTH:
        found.append(f"store_key holds {length} characters, not {KEY_LENGTH}")
    if _is_mysql(sync_conn):
        collation = sync_conn.execute(
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


def _python_type(column_type: Any) -> type | None:
    try:
        python_type: type = column_type.python_type
    except NotImplementedError:
        return None
    return python_type


def _sql(column_type: Any, sync_conn: Any) -> str:
    try:
        return str(column_type.compile(dialect=sync_conn.dialect))
    except Exception:  # a reflected type the dialect cannot print back
        return repr(column_type)


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
