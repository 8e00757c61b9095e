"""Session-ended notifications over PostgreSQL ``LISTEN``/``NOTIFY`` (asyncpg).

The listening process holds one connection of the engine's pool for its subscription (asyncpg's
``add_listener`` on SQLAlchemy's raw connection), pings it every few seconds, and throws it away
(never back to the pool) when it ends. ``NOTIFY`` payloads are limited to 8000 bytes: a message
names at most :data:`PER_MESSAGE` sessions, more take several.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette_session.backends._notify import Delivered, Notifications, read_message

__all__ = ["PER_MESSAGE", "PG_CHANNEL", "PING_EVERY", "PostgresNotifications"]

#: The ``LISTEN`` channel.
PG_CHANNEL = "starlette_session_ended"
#: Sessions named by one ``NOTIFY`` (33 bytes each, well within its 8000).
PER_MESSAGE = 200
#: Seconds between two pings of the listening connection.
PING_EVERY = 5.0


class PostgresNotifications(Notifications):
    """The channel of a ``SQLBackend`` on PostgreSQL through asyncpg."""

    def __init__(
        self,
        engine: Any,
        publish: Callable[..., Awaitable[None]],
        timeout: float | None,
    ) -> None:
        self.engine = engine
        self.timeout = timeout or PING_EVERY
        self._publish = publish

    async def publish(self, keys: list[str]) -> None:
        await self._publish(*keys)

    async def listen(self, delivered: Delivered, connected: Callable[[], Awaitable[None]]) -> None:
        lost = asyncio.Event()

        def on_notify(connection: Any, pid: int, channel: str, payload: str) -> None:
            delivered(read_message(payload))

        def on_lost(connection: Any) -> None:
            lost.set()

        async with self.engine.connect() as conn:
            try:
                # Through SQLAlchemy first: a pooled connection that died with the server
                # (a restart) is found here, and the pool drops every connection as old.
                await asyncio.wait_for(conn.exec_driver_sql("SELECT 1"), self.timeout)
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection
                driver.add_termination_listener(on_lost)
                await asyncio.wait_for(driver.add_listener(PG_CHANNEL, on_notify), self.timeout)
                await connected()
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), PING_EVERY)
                    except asyncio.TimeoutError:
                        await asyncio.wait_for(driver.execute("SELECT 1"), self.timeout)
                raise ConnectionError("the LISTEN connection was closed")
            finally:
                # Never back to the pool: it still listens (or is dead).
                await conn.invalidate()
