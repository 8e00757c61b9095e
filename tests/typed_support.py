"""What the typed-session tests share: a real backend per test (memory, Redis, SQLite), an
in-process HTTP client for a FastAPI app, and a count of the writes that reached the backend.

The app runs in the test's own event loop (``httpx.ASGITransport``), so the Redis client and the
SQLite engine are used from the loop that made them. Writes are counted through the store's own
events (``created``, ``saved``, ``rotated``, ``destroyed``), the same on every backend.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import BaseRoute

from starlette_session import SessionEvent, SessionStore
from starlette_session.backends import MemoryBackend, SessionBackend
from tests.helpers import RedisClients, http_client, make_app
from tests.sql_support import sql_backend, sqlite_url

__all__ = ["WRITES", "TypedApp", "backend_with_sqlite", "client"]

#: The events of a write (or a deletion) reaching the backend.
WRITES = (
    SessionEvent.created,
    SessionEvent.saved,
    SessionEvent.rotated,
    SessionEvent.destroyed,
)


class TypedApp:
    """A FastAPI app over ``store`` (built by ``make_app``), and the writes its store made."""

    def __init__(self, store: SessionStore[Any], routes: Sequence[BaseRoute]) -> None:
        self.store = store
        self.app: FastAPI = make_app(store, routes=routes, fastapi=True)
        self.writes: Counter[SessionEvent] = Counter()
        for event in WRITES:
            store.on(event, self._count)

    def _count(self, info: Any) -> None:
        self.writes[info.event] += 1

    def total_writes(self) -> int:
        return sum(self.writes.values())


def client(app: TypedApp) -> httpx.AsyncClient:
    """An HTTP client calling ``app`` in-process, with its own cookie jar."""
    return http_client(app.app)


async def backend_with_sqlite(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SessionBackend]:
    """The ``backend_with_sqlite`` fixture's backend: memory, Redis or a SQLite file."""
    kind = request.param
    if kind == "memory":
        yield MemoryBackend()
    elif kind == "redis":
        from starlette_session.backends import RedisBackend

        clients = RedisClients()  # not the async fixture: this one is async itself
        try:
            yield RedisBackend(clients.asyncio(request.getfixturevalue("redis_url")))
        finally:
            await clients.aclose()
    else:
        async with sql_backend(sqlite_url(tmp_path / "sessions.db")) as backend:
            yield backend
