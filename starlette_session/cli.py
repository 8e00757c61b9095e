"""``python -m starlette_session``: maintenance of a SQL session table from the command line.

``purge`` deletes the expired rows in batches (run it from cron or a systemd timer),
``create-table`` creates the table unless it exists, both at ``--url`` (a SQLAlchemy async URL;
else ``$DATABASE_URL``, which keeps a password out of the process list); ``ddl --dialect``
prints the SQL that creates it, for a migration. Exit status: 0 done; 2 the command cannot run,
with one line on stderr naming the fix; 1 the database refused the operation.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["main"]

DIALECTS = ("sqlite", "postgresql", "mysql", "mariadb")
#: The async driver each database is tested with, and the other async drivers SQLAlchemy has.
ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg", "mysql": "asyncmy"}
_OTHER_ASYNC = {"psycopg", "aiomysql"}
_EXAMPLES = "sqlite+aiosqlite:///sessions.db or postgresql+asyncpg://user@host/db"
_INSTALL_SQL = "pip install 'sqlalchemy[asyncio]' aiosqlite (or asyncpg, or asyncmy)"


class _CommandError(Exception):
    """The command cannot run; the message (one line) says how to fix it."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "ddl":
            print(";\n\n".join(ddl(args.dialect, args.table, args.schema)) + ";")
            return 0
        url = args.url or os.environ.get("DATABASE_URL")
        if not url:
            raise _CommandError(f"give --url or set DATABASE_URL, for example {_EXAMPLES}")
        return asyncio.run(_run(args, url))
    except _CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def ddl(dialect: str, table: str = "starlette_sessions", schema: str | None = None) -> list[str]:
    """The statements that create the session table and its index in ``dialect``."""
    try:
        from sqlalchemy.dialects import mysql, postgresql, sqlite
        from sqlalchemy.engine import Dialect
        from sqlalchemy.schema import CreateIndex, CreateTable, ExecutableDDLElement
    except ImportError as error:
        raise _CommandError(f"SQLAlchemy is not installed: {_INSTALL_SQL}") from error

    from starlette_session.backends.sql import build_table

    compiler: Dialect = {
        "sqlite": sqlite.dialect(),
        "postgresql": postgresql.dialect(),  # type: ignore[no-untyped-call]
        "mysql": mysql.dialect(),
        "mariadb": mysql.dialect(is_mariadb=True),
    }[dialect]
    created = build_table(table, schema)
    statements: list[ExecutableDDLElement] = [CreateTable(created)]
    statements += [CreateIndex(index) for index in created.indexes]
    compiled = (str(statement.compile(dialect=compiler)).strip() for statement in statements)
    return ["\n".join(line.rstrip() for line in sql.splitlines()) for sql in compiled]


async def _run(args: argparse.Namespace, url: str) -> int:
    engine = _engine(url)  # first: it says what to install when SQLAlchemy is missing
    from starlette_session.backends.sql import SQLBackend
    from starlette_session.exceptions import SessionError, SessionSetupError

    try:
        try:
            backend = SQLBackend(engine, table=args.table, schema=args.schema, timeout=args.timeout)
        except SessionSetupError as error:  # such as an SQLite file in a missing directory
            raise _CommandError(str(error)) from error
        await _connect(engine, args.timeout)
        if args.command == "create-table":
            await backend.create_table()
            print(f"table {backend.table.fullname} is ready")
        else:
            deleted = await backend.purge_expired(batch_size=args.batch_size)
            print(f"deleted {deleted} expired sessions from {backend.table.fullname}")
    except SessionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    return 0


def _engine(url: str) -> AsyncEngine:
    """An async engine for ``url``, or a ``_CommandError`` naming the fix; never printing the URL
    (it may hold a password)."""
    try:
        from sqlalchemy import exc
        from sqlalchemy.engine import make_url
        from sqlalchemy.ext.asyncio import create_async_engine
    except ImportError as error:
        raise _CommandError(f"SQLAlchemy is not installed: {_INSTALL_SQL}") from error
    try:
        parsed = make_url(url)
    except exc.ArgumentError as error:
        raise _CommandError(f"--url is not a database URL; give one like {_EXAMPLES}") from error
    backend = parsed.get_backend_name()
    if backend not in DIALECTS:
        raise _CommandError(
            f"--url names {backend!r}; sessions live in SQLite, PostgreSQL, "
            f"MariaDB or MySQL: give a URL like {_EXAMPLES}"
        )
    driver = ASYNC_DRIVERS["mysql" if backend == "mariadb" else backend]
    suggested = parsed.set(drivername=f"{backend}+{driver}").render_as_string(hide_password=True)
    use_async = f"use the async driver {driver}: --url {suggested} (pip install {driver})"
    try:
        return create_async_engine(parsed)
    except exc.NoSuchModuleError as error:
        raise _CommandError(f"--url names an unknown driver; {use_async}") from error
    except (exc.InvalidRequestError, ImportError) as error:  # a sync driver, or a missing one
        name = parsed.get_driver_name()
        if isinstance(error, ImportError) and (name == driver or name in _OTHER_ASYNC):
            other = "" if name == driver else f", or {use_async}"
            message = f"the {name} driver is not installed: pip install {name}{other}"
        else:
            message = f"{parsed.drivername}:// means the synchronous driver {name}; {use_async}"
        raise _CommandError(message) from error


async def _connect(engine: AsyncEngine, seconds: float) -> None:
    url = engine.url
    port = f":{url.port}" if url.port else ""
    where = f"{url.database}" if url.get_backend_name() == "sqlite" else f"{url.host}{port}"
    fix = "check the host, port, user, password and database of --url (or $DATABASE_URL)"
    try:
        with anyio.fail_after(seconds):
            async with engine.connect():
                pass
    except (TimeoutError, asyncio.TimeoutError) as error:  # anyio's, or the driver's on 3.10
        message = f"the database at {where} did not answer in {seconds:g} s; {fix}"
        raise _CommandError(message) from error
    except Exception as error:  # every driver has errors of its own
        cause = getattr(error, "orig", None) or error
        detail = (str(cause).strip().splitlines() or [""])[0][:200]
        if "greenlet" in detail:
            raise _CommandError(
                "SQLAlchemy's asyncio needs greenlet: pip install greenlet"
            ) from error
        raise _CommandError(
            f"cannot connect to the database at {where} ({type(cause).__name__}: "
            f"{detail}); {fix} and that the server is running"
        ) from error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m starlette_session", description="Maintain a SQL session table."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    purge = commands.add_parser("purge", help="delete the expired sessions")
    create = commands.add_parser("create-table", help="create the table unless it exists")
    show = commands.add_parser("ddl", help="print the SQL that creates the table")
    show.add_argument("--dialect", choices=DIALECTS, required=True, help="the database's SQL")
    for command in (purge, create, show):
        command.add_argument(
            "--table", default="starlette_sessions", help="the table (%(default)s)"
        )
        command.add_argument("--schema", help="the table's schema (default: the database's own)")
    for command in (purge, create):
        command.add_argument(
            "--url", help=f"SQLAlchemy async URL, such as {_EXAMPLES} (default: $DATABASE_URL)"
        )
        timeout = "seconds to connect and per statement (%(default)g)"
        command.add_argument("--timeout", type=float, default=60.0, help=timeout)
    purge.add_argument("--batch-size", type=int, default=1000, help="rows per DELETE (%(default)s)")
    return parser
