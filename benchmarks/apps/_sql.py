"""SQL backends for the contenders: a private SQLite file, or a table of its own in PostgreSQL.

PostgreSQL is the machine's (``$BENCH_POSTGRES_URL``, default
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``); the table ``starlette_bench_sessions`` is
created if missing. The SQLite file lives in a temporary directory removed at exit.
"""

import asyncio
import atexit
import os
import shutil
import tempfile
import threading

from sqlalchemy.ext.asyncio import create_async_engine

from starlette_session.backends import SQLBackend

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
# Enough pooled connections for 32 concurrent requests, so that none waits for one.
POOL = {"pool_size": 32, "max_overflow": 0}


def _ready(url: str, table: str, **engine_options: int) -> SQLBackend:
    """A backend whose table exists. The table is made by a throwaway engine in a thread: the
    app's own engine must connect inside the server's event loop, which may already run."""
    failure: list[BaseException] = []

    async def create() -> None:
        engine = create_async_engine(url)
        try:
            await SQLBackend(engine, table=table).create_table()
        finally:
            await engine.dispose()

    def run() -> None:
        try:
            asyncio.run(create())
        except BaseException as error:  # reported in the importing thread
            failure.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise RuntimeError(f"cannot prepare the session table: {failure[0]}") from failure[0]
    return SQLBackend(create_async_engine(url, **engine_options), table=table)


def sqlite_backend() -> SQLBackend:
    directory = tempfile.mkdtemp(prefix="bench-sqlite-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    # One connection: requests queue in the pool, not in SQLite's busy handler (docs/sql.md).
    url = f"sqlite+aiosqlite:///{directory}/sessions.db"
    return _ready(url, "sessions", pool_size=1, max_overflow=0)


def postgres_backend() -> SQLBackend:
    url = os.environ.get("BENCH_POSTGRES_URL") or POSTGRES_URL
    return _ready(url, "starlette_bench_sessions", **POOL)
