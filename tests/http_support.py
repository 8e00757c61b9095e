"""Support for the FastAPI session tests: a real HTTP server, and counts of Redis commands.

- ``serve(app)`` runs ``app`` under uvicorn on a free loopback port, in the test's own event loop
  (so a ``redis.asyncio`` client keeps one loop), and yields its base URL.
- ``RedisCommands(url)`` reads ``INFO commandstats`` on one connection of its own; ``delta()``
  gives the commands other clients sent since the last call, by name (``getex``, ``set``, ...).
  Commands that a Lua script runs count too: an ``evalsha`` of the compare-and-set script adds a
  ``get`` and a ``set``.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import redis
import uvicorn
from starlette.types import ASGIApp

__all__ = ["WRITE_COMMANDS", "RedisCommands", "serve"]

#: Commands that change data; the session backend sends no others.
WRITE_COMMANDS = frozenset({"set", "evalsha", "eval", "del", "unlink", "expire", "getdel"})
# Our own INFO, and the connection set-up of a client's first command.
_NOT_COUNTED = frozenset({"info", "hello", "client|setinfo"})


@asynccontextmanager
async def serve(
    app: ASGIApp, *, lifespan: Literal["auto", "on", "off"] = "auto"
) -> AsyncIterator[str]:
    """Serve ``app`` over real HTTP on 127.0.0.1 until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan=lifespan, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # the server failed to start: raise its error
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class RedisCommands:
    """Counts the commands a Redis server processes, from ``INFO commandstats``."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._own: Counter[str] = Counter()  # commands this counter sent besides INFO
        self._last = self._snapshot()

    def _snapshot(self) -> Counter[str]:
        stats = self._client.info("commandstats")
        return Counter(
            {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}
        )

    def delta(self) -> Counter[str]:
        """The commands processed since the previous call (or since this counter was made)."""
        now = self._snapshot()
        counts = now - self._last - self._own
        self._last, self._own = now, Counter()
        for name in _NOT_COUNTED:
            del counts[name]
        return counts

    def writes(self, counts: Counter[str]) -> int:
        """How many of ``counts`` change data."""
        return sum(n for name, n in counts.items() if name in WRITE_COMMANDS)

    def keys(self) -> list[str]:
        """Every key in the database (the tests' database is flushed per test)."""
        names = self._client.keys("*")
        self._own["keys"] += 1
        return sorted(name.decode() if isinstance(name, bytes) else name for name in names)

    def close(self) -> None:
        self._client.close()
