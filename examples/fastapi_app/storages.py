"""Where the shop keeps its sessions, chosen from the environment by :func:`from_environment`:

- ``REDIS_URL`` set: Redis (``redis://host:6379/0``);
- else ``DATABASE_URL`` set: PostgreSQL or MariaDB/MySQL through SQLAlchemy
  (``postgresql+asyncpg://user@host/db``, ``mysql+asyncmy://user@host/db``; a plain
  ``postgresql://`` or ``mysql://`` URL gets those drivers);
- else a SQLite file, ``examples/fastapi_app/.data/sessions.db`` (``SESSIONS_DB`` names another),
  so that sessions survive a restart and ``uvicorn --workers 4`` shares them.

Each choice is a :class:`Storage`: the backend, and what the app's lifespan must do around it
(create the SQL table, purge expired rows every hour, close the client or engine).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette_session.backends import MemoryBackend, SessionBackend

__all__ = [
    "DEFAULT_SQLITE_PATH",
    "Storage",
    "database",
    "from_environment",
    "memory",
    "redis",
    "sqlite",
]

DEFAULT_SQLITE_PATH = Path(__file__).resolve().parent / ".data" / "sessions.db"
_DRIVERS = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}
_DRIVERS |= {"mysql": "mysql+asyncmy", "mariadb": "mysql+asyncmy"}


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield


@dataclass(frozen=True)
class Storage:
    """A session backend and the lifespan that prepares and closes it."""

    backend: SessionBackend
    #: Entered by the app's lifespan: set up at start-up, close at shutdown.
    lifespan: Callable[[], AbstractAsyncContextManager[None]] = _nothing
    #: For the start-up log line (never a password).
    description: str = "in memory"


def memory() -> Storage:
    """Sessions in this process only: lost at restart, not shared between workers."""
    return Storage(MemoryBackend())


def redis(url: str) -> Storage:
    """Sessions in Redis."""
    import redis.asyncio

    from starlette_session.backends import RedisBackend

    client = redis.asyncio.Redis.from_url(url)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.aclose()  # the application owns its client

    return Storage(RedisBackend(client), lifespan, "Redis")


def database(url: str, **engine_options: Any) -> Storage:
    """Sessions in a SQL database (SQLite, PostgreSQL, MariaDB/MySQL): the table is created at
    start-up if missing, and expired rows are purged every hour."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from starlette_session.backends import SQLBackend

    scheme, separator, rest = url.partition("://")
    engine = create_async_engine(_DRIVERS.get(scheme, scheme) + separator + rest, **engine_options)
    backend = SQLBackend(engine)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        try:
            await backend.create_table()
            async with backend.purging(every=3600):
                yield
        finally:
            await engine.dispose()  # the application owns its engine

    return Storage(backend, lifespan, engine.dialect.name)


def sqlite(path: Path) -> Storage:
    """Sessions in a SQLite file, created with its directory if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # One connection per process: requests queue in the pool, not in SQLite's busy handler.
    storage = database(f"sqlite+aiosqlite:///{path}", pool_size=1, max_overflow=0)
    return Storage(storage.backend, storage.lifespan, f"SQLite file {path}")


def from_environment() -> Storage:
    """The storage the environment asks for (see the module docstring)."""
    if os.environ.get("REDIS_URL"):
        return redis(os.environ["REDIS_URL"])
    if os.environ.get("DATABASE_URL"):
        return database(os.environ["DATABASE_URL"])
    return sqlite(Path(os.environ.get("SESSIONS_DB") or DEFAULT_SQLITE_PATH))
