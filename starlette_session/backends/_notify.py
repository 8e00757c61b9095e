"""Session-ended notifications: what a backend tells every process when sessions end.

A message names each ended session by a hash of its store key (the store key is already a keyed
hash of the id; this hashes it once more), never by its id: whoever can read the channel learns
nothing that opens a session. A process holding a live connection (a WebSocket, a stream) on
one of them ends it (``starlette_session.live``).

:class:`Notifications` is a backend's channel: Redis and Valkey pub/sub (sharded on a cluster),
PostgreSQL ``LISTEN``/``NOTIFY``, or this process alone (:class:`LocalNotifications`, the memory
backend). A backend without one has its live connections re-checked periodically instead.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Awaitable, Callable, Iterable

import anyio

__all__ = [
    "CHANNEL",
    "HASH_LENGTH",
    "Delivered",
    "LocalNotifications",
    "Notifications",
    "ended_hash",
    "ended_message",
    "read_message",
]

#: The Redis/Valkey channel (an ACL user needs ``&starlette-session:*``).
CHANNEL = "starlette-session:ended"
#: Hex characters of a key's hash in a message.
HASH_LENGTH = 32
_HEX = frozenset("0123456789abcdef")

#: Called with the hashes a message named; it must not block (it only wakes connections up).
Delivered = Callable[[list[str]], None]


def ended_hash(key: str) -> str:
    """The hash of the store key ``key`` that a message names."""
    return hashlib.blake2b(key.encode(), digest_size=HASH_LENGTH // 2).hexdigest()


def ended_message(keys: Iterable[str]) -> bytes:
    """The message that says the sessions ``keys`` ended: their hashes, space-separated."""
    return " ".join(ended_hash(key) for key in keys).encode()


def read_message(payload: bytes | str) -> list[str]:
    """The hashes a message names; anything else in it is ignored."""
    text = payload.decode("ascii", "replace") if isinstance(payload, bytes) else payload
    return [word for word in text.split() if len(word) == HASH_LENGTH and _HEX.issuperset(word)]


class Notifications(abc.ABC):
    """A backend's session-ended channel: publish, and listen (one subscription per process)."""

    @abc.abstractmethod
    async def publish(self, keys: list[str]) -> None:
        """Tell every process that the sessions ``keys`` ended."""

    @abc.abstractmethod
    async def listen(self, delivered: Delivered, connected: Callable[[], Awaitable[None]]) -> None:
        """Subscribe, await ``connected()``, then call ``delivered`` with each message's hashes
        until the subscription is lost: then raise (the caller reconnects)."""


class LocalNotifications(Notifications):
    """The channel of a backend that lives in this process: a call, no server."""

    def __init__(self) -> None:
        self._listeners: set[Delivered] = set()

    async def publish(self, keys: list[str]) -> None:
        self.deliver(keys)

    def deliver(self, keys: list[str]) -> None:
        """Tell this process's listeners at once."""
        if self._listeners and keys:
            hashes = [ended_hash(key) for key in keys]
            for listener in list(self._listeners):
                listener(hashes)

    def subscribe(self, delivered: Delivered) -> None:
        """Call ``delivered`` with the hashes of each delivery from now on."""
        self._listeners.add(delivered)

    def unsubscribe(self, delivered: Delivered) -> None:
        """Stop calling ``delivered``."""
        self._listeners.discard(delivered)

    async def listen(self, delivered: Delivered, connected: Callable[[], Awaitable[None]]) -> None:
        self._listeners.add(delivered)
        try:
            await connected()
            await anyio.sleep_forever()
        finally:
            self._listeners.discard(delivered)
