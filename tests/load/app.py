"""The application the load harness serves: a small FastAPI app in the style of the examples.

Run by uvicorn in its own process (``uvicorn --factory tests.load.app:create_app``), configured
through environment variables so the harness can start it like any deployment:

- ``LOAD_BACKEND``: ``redis`` (default), ``memory`` or ``sql``;
- ``LOAD_REDIS_URL``: the Redis to use;
- ``LOAD_DATABASE_URL``, ``LOAD_SQL_TABLE``: the SQL database and table to use (the table is
  created at start-up by every worker, as an application without migrations would);
- ``LOAD_REDIS_TIMEOUT``: seconds for connect, read and pool waits (default 0.5);
- ``LOAD_MAX_ENTRIES``: the memory backend's bound (default 10000).

The Redis client is built the way ``docs/reliability.md`` recommends.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from starlette_session import (
    SessionHandle,
    SessionMiddleware,
    SessionStore,
    get_session,
)
from starlette_session.backends import MemoryBackend, SessionBackend

__all__ = ["Counter", "create_app"]

SECRET = "load-harness-secret-long-enough-not-to-warn"


class Counter(BaseModel):
    """The typed session of the counter routes."""

    count: int = 0


CounterSession = Annotated[Counter, Depends(get_session)]


def _rss_bytes() -> int | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def create_app() -> FastAPI:
    """Build the app from the ``LOAD_*`` environment variables."""
    backend: SessionBackend
    redis_client: Any = None
    sql: Any = None
    kind = os.environ.get("LOAD_BACKEND", "redis")
    if kind == "memory":
        backend = MemoryBackend(max_entries=int(os.environ.get("LOAD_MAX_ENTRIES", "10000")))
    elif kind == "sql":
        from sqlalchemy.ext.asyncio import create_async_engine

        from starlette_session.backends.sql import SQLBackend

        engine = create_async_engine(os.environ["LOAD_DATABASE_URL"])
        backend = sql = SQLBackend(engine, table=os.environ.get("LOAD_SQL_TABLE", "sessions"))
    else:
        import redis.asyncio
        import redis.exceptions
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        from starlette_session.backends.redis import RedisBackend

        timeout = float(os.environ.get("LOAD_REDIS_TIMEOUT", "0.5"))
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            os.environ["LOAD_REDIS_URL"],
            max_connections=64,
            timeout=timeout,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
        )
        redis_client = redis.asyncio.Redis.from_pool(pool)
        backend = RedisBackend(redis_client, timeout=2 * timeout)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if sql is not None:
            await sql.create_table()
        yield
        if redis_client is not None:
            await redis_client.aclose()
        if sql is not None:
            await sql.engine.dispose()

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(
        SessionMiddleware, secret_key=SECRET, store=SessionStore(backend, model=Counter)
    )

    @app.get("/health")
    async def health() -> dict[str, bool]:
        """Never touches the session: it must keep working while Redis is down."""
        return {"ok": True}

    @app.post("/counter")
    async def increment(session: CounterSession) -> Counter:
        session.count += 1
        return session

    @app.get("/counter")
    async def read_counter(session: CounterSession) -> Counter:
        return session

    @app.put("/fields/{name}")
    async def set_field(name: str, session: SessionHandle, value: str = "1") -> dict[str, str]:
        session[name] = value
        return {name: value}

    @app.get("/fields")
    async def read_fields(session: SessionHandle) -> dict[str, Any]:
        return dict(session)

    @app.get("/worker")
    async def worker(session: SessionHandle) -> dict[str, Any]:
        """The session as this worker process (``pid``) sees it."""
        return {"pid": os.getpid(), "fields": dict(session)}

    @app.post("/visit")
    async def visit(session: SessionHandle) -> dict[str, bool]:
        """A new visitor's first request: stores about 200 bytes in a new session."""
        session["visit"] = {"landing": "/welcome", "campaign": "x" * 120, "cart": [1, 2, 3]}
        return {"ok": True}

    @app.get("/stats")
    async def stats() -> dict[str, int | None]:
        entries = len(backend) if isinstance(backend, MemoryBackend) else None
        return {"entries": entries, "rss": _rss_bytes()}

    return app
