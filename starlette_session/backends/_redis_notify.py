"""Session-ended notifications over Redis or Valkey pub/sub: ``PUBLISH``/``SUBSCRIBE`` on one
server (Sentinel included), sharded ``SPUBLISH``/``SSUBSCRIBE`` on a cluster, so that a message
goes through the one shard that owns the channel, never to every node.

One subscription per process, on a connection of its own from the client's pool. A subscription
that redis-py restored by itself after a drop (it reconnects and subscribes again) is reported
as lost all the same: messages published meanwhile were missed, and the caller re-checks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from starlette_session.backends._notify import (
    CHANNEL,
    Delivered,
    Notifications,
    ended_message,
    read_message,
)

__all__ = ["PING_EVERY", "RedisNotifications"]

#: Seconds without a message after which the subscription is pinged, so that a connection that
#: died silently is noticed.
PING_EVERY = 5.0
#: Seconds closing the subscription may take.
CLOSE_TIMEOUT = 1.0
_CONFIRMATIONS = frozenset({"subscribe", "ssubscribe"})
_MESSAGES = frozenset({"message", "smessage"})


class RedisNotifications(Notifications):
    """The channel of a ``RedisBackend`` with an asyncio client; ``publish`` sends one command
    through ``command`` (the backend's, bounded by its timeout)."""

    def __init__(self, client: Any, command: Callable[..., Awaitable[Any]], sharded: bool) -> None:
        self.client = client
        self.sharded = sharded
        self.publish_command = "SPUBLISH" if sharded else "PUBLISH"
        self._command = command

    async def publish(self, keys: list[str]) -> None:
        if keys:
            await self._command(self.publish_command, CHANNEL, ended_message(keys))

    async def listen(self, delivered: Delivered, connected: Callable[[], Awaitable[None]]) -> None:
        pubsub = self.client.pubsub()
        try:
            if self.sharded:
                await pubsub.ssubscribe(CHANNEL)
                receive = pubsub.get_sharded_message
            else:
                await pubsub.subscribe(CHANNEL)
                receive = pubsub.get_message
            confirmed = False
            while True:
                message = await receive(timeout=PING_EVERY)
                if message is None:
                    if confirmed and not self.sharded:
                        await pubsub.ping()  # its answer arrives as a message
                    continue
                kind = _text(message.get("type"))
                if kind in _CONFIRMATIONS:
                    if confirmed:  # redis-py subscribed again after a drop: messages were lost
                        raise ConnectionError("the subscription was restored after a drop")
                    confirmed = True
                    await connected()
                elif kind in _MESSAGES:
                    delivered(read_message(message.get("data") or b""))
        finally:
            await _close(pubsub)


async def _close(pubsub: Any) -> None:
    close = getattr(pubsub, "aclose", None) or pubsub.reset
    # Bounded: it may run while the task is being cancelled, when nothing would interrupt it.
    with contextlib.suppress(Exception):  # a connection already lost cannot be closed better
        await asyncio.wait_for(close(), CLOSE_TIMEOUT)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
