"""``python -m starlette_session``: maintenance of a SQL session table from the command line.

::

    python -m starlette_session purge --url URL [--table NAME] [--batch-size N]
    python -m starlette_session create-table --url URL [--table NAME]
    python -m starlette_session ddl --dialect postgresql [--table NAME]

``--url`` is a SQLAlchemy async URL (``postgresql+asyncpg://...``, ``mysql+asyncmy://...``,
``sqlite+aiosqlite:///path``); without it, ``$DATABASE_URL`` is used, which keeps a password out
of the process list. ``purge`` deletes the expired rows in batches (run it from cron or a
systemd timer), ``create-table`` creates the table unless it exists, and ``ddl`` prints the SQL
that creates it, for a migration.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]

DIALECTS = ("sqlite", "postgresql", "mysql", "mariadb")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "ddl":
        print(";\n\n".join(ddl(args.dialect, args.table, args.schema)) + ";")
        return 0
    url = args.url or os.environ.get("DATABASE_URL")
    if not url:
        print("error: give --url or set DATABASE_URL", file=sys.stderr)
        return 2
    return asyncio.run(_run(args, url))


def ddl(dialect: str, table: str = "starlette_sessions", schema: str | None = None) -> list[str]:
    """The statements that create the session table and its index in ``dialect``."""
    from sqlalchemy.dialects import mysql, postgresql, sqlite
    from sqlalchemy.engine import Dialect
    from sqlalchemy.schema import CreateIndex, CreateTable, ExecutableDDLElement

    from starlette_session.backends._sql_schema import build_table

    compilers: dict[str, Dialect] = {
        "sqlite": sqlite.dialect(),
        "postgresql": postgresql.dialect(),  # type: ignore[no-untyped-call]
        "mysql": mysql.dialect(),
        "mariadb": mysql.dialect(is_mariadb=True),
    }
    compiler = compilers[dialect]
    created = build_table(table, schema)
    statements: list[ExecutableDDLElement] = [CreateTable(created)]
    statements += [CreateIndex(index) for index in created.indexes]
    compiled = (str(statement.compile(dialect=compiler)).strip() for statement in statements)
    return ["\n".join(line.rstrip() for line in sql.splitlines()) for sql in compiled]


async def _run(args: argparse.Namespace, url: str) -> int:
    from sqlalchemy.ext.asyncio import create_async_engine

    from starlette_session.backends.sql import SQLBackend
    from starlette_session.exceptions import SessionError

    engine = create_async_engine(url)
    try:
        backend = SQLBackend(engine, table=args.table, schema=args.schema, timeout=args.timeout)
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m starlette_session", description="Maintain a SQL session table."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    purge = commands.add_parser("purge", help="delete the expired sessions")
    create = commands.add_parser("create-table", help="create the table unless it exists")
    show = commands.add_parser("ddl", help="print the SQL that creates the table")
    show.add_argument("--dialect", choices=DIALECTS, required=True)
    for command in (purge, create, show):
        command.add_argument("--table", default="starlette_sessions")
        command.add_argument("--schema", default=None)
    for command in (purge, create):
        command.add_argument("--url", help="SQLAlchemy async URL (default: $DATABASE_URL)")
        command.add_argument("--timeout", type=float, default=60.0, help="seconds per statement")
    purge.add_argument("--batch-size", type=int, default=1000, help="rows per DELETE")
    return parser
