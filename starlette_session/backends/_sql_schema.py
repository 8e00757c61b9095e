"""The session table: its shape, and the check of a table that already exists.

One table: a key (case-sensitive: a binary ASCII collation on MariaDB/MySQL, whose default
collations ignore case), the value (a ``LONGBLOB`` on MariaDB/MySQL, whose ``BLOB`` holds 64 KiB)
and an indexed expiry in Unix milliseconds, NULL for none. ``create_table`` makes it unless it
exists, then :func:`check_table` makes sure an existing one can hold sessions, naming each
difference, rather than letting every request fail on it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from starlette_session.exceptions import SessionSettingsError

__all__ = ["KEY_LENGTH", "build_table", "check_table", "create_table", "has_table"]

KEY_LENGTH = 255


def build_table(name: str, schema: str | None = None) -> sa.Table:
    """The one table: a key, the value, and an indexed expiry in Unix milliseconds (NULL: none)."""
    key = sa.String(KEY_LENGTH).with_variant(
        mysql.VARCHAR(KEY_LENGTH, charset="ascii", collation="ascii_bin"), "mysql", "mariadb"
    )
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


def create_table(sync_conn: Any, table: sa.Table) -> None:
    """Create ``table`` and its index unless they exist."""
    table.metadata.create_all(sync_conn, checkfirst=True)


def has_table(sync_conn: Any, table: sa.Table) -> bool:
    """Whether ``table`` exists."""
    return bool(sa.inspect(sync_conn).has_table(table.name, table.schema))


def check_table(sync_conn: Any, table: sa.Table) -> None:
    """Raise :class:`SessionSettingsError` naming every difference that makes the existing
    ``table`` unable to hold sessions (see :func:`table_differences`)."""
    found = table_differences(sync_conn, table)
    if found:
        raise SessionSettingsError(
            f"the table {table.fullname} exists but cannot hold sessions: "
            + "; ".join(found)
            + ". Migrate it to the DDL that `python -m starlette_session ddl --dialect "
            f"{sync_conn.dialect.name}` prints, or give SQLBackend(table=...) a table of its own"
        )
