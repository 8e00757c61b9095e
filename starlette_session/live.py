"""Live connections that end with their session: WebSockets and streams, in this process.

A connection that used a stored session registers here (:meth:`LiveConnections.watch`); one
that never did is never registered. Each store keeps one registry per process, and one task that
listens on its backend's session-ended channel (one subscription, whatever the number of
connections) or, for a backend without one, re-checks every registered session every
``recheck_interval`` seconds. A message names the sessions that ended by a hash of their store
key; every connection on one of them is ended: its :class:`LiveConnection` is marked, its
event set and its cancel scope (a WebSocket's application) cancelled.

Nothing is missed silently: when the channel drops, the task reconnects with a growing delay
(0.1 s up to 5 s), re-checks every registered session once it is back, in batches of
:data:`BATCH`, and logs how long it was gone; while it stays down, it re-checks every
``recheck_interval``. A re-check the backend cannot answer applies the store's outage policy:
``"fail"`` ends every registered connection (they cannot be vouched for), ``"anonymous"``
keeps them open and logs it. A hash delivered a moment before a connection registers (its load
read the session just before it ended) still ends it: the last hashes are kept
:data:`REMEMBER_FOR` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

from starlette_session.backends._notify import LocalNotifications, Notifications, ended_hash
from starlette_session.exceptions import SessionBackendError

if TYPE_CHECKING:
    from starlette_session.state import SessionState

__all__ = [
    "BATCH",
    "ENDED",
    "REMEMBER_FOR",
    "UNAVAILABLE",
    "LiveConnection",
    "LiveConnections",
]

logger = logging.getLogger("starlette_session")

#: Sessions re-checked at once (concurrent reads, which the Redis backend pipelines).
BATCH = 200
#: Seconds a delivered hash is remembered, for a connection registering just after it.
REMEMBER_FOR = 10.0
_REMEMBERED = 10_000
_FIRST_DELAY, _MAX_DELAY = 0.1, 5.0
#: Why a connection ended: its session ended; its session could not be checked ("fail").
ENDED, UNAVAILABLE = "ended", "unavailable"

#: True while the session of a state is still stored and usable; raises SessionBackendError.
Check = Callable[["SessionState"], Awaitable[bool]]


class LiveConnection:
    """One registered connection: its session's state, and how it is told that it ended."""

    __slots__ = ("__weakref__", "_event", "_scope", "key_hash", "reason", "state")

    def __init__(self, state: SessionState, key_hash: str, scope: anyio.CancelScope | None):
        self.state = state
        self.key_hash = key_hash
        #: None while live; then ``ENDED`` or ``UNAVAILABLE``.
        self.reason: str | None = None
        self._scope = scope
        self._event: anyio.Event | None = None

    @property
    def ended(self) -> anyio.Event:
        """Set when the session ends (created on first use)."""
        if self._event is None:
            self._event = anyio.Event()
            if self.reason is not None:
                self._event.set()
        return self._event

    def end(self, reason: str) -> None:
        """Mark it ended, set its event, cancel its scope (once)."""
        if self.reason is not None:
            return
        self.reason = reason
        if self._event is not None:
            self._event.set()
        if self._scope is not None:
            self._scope.cancel()


class LiveConnections:
    """The live connections on one store's sessions in this process."""

    def __init__(
        self,
        notifications: Notifications | None,
        check: Check,
        *,
        recheck_interval: float,
        fail_closed: bool,
        local: LocalNotifications | None = None,
    ) -> None:
        self.notifications = notifications
        #: Without a channel: this process's deliveries (the others re-check).
        self.local = local
        self.check = check
        self.recheck_interval = recheck_interval
        self.fail_closed = fail_closed
        self._by_hash: dict[str, dict[int, weakref.ref[LiveConnection]]] = {}
        self._recent: OrderedDict[str, float] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._down_since: float | None = None
        #: Re-checks made (after a reconnection, while the channel is down, or periodically).
        self.rechecks = 0

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self._by_hash.values())

    def watch(self, state: SessionState, scope: anyio.CancelScope | None = None) -> LiveConnection:
        """Register the connection of ``state`` (a stored session); ``scope`` is cancelled when
        it ends. Held weakly: a connection dropped without :meth:`forget` leaves nothing."""
        # A session in the cookie has no store key: no message names it, re-checks find it.
        key_hash = ended_hash(state.store_key or f"cookie:{id(state)}")
        connection = LiveConnection(state, key_hash, scope)
        ident = id(connection)

        def dropped(_: object) -> None:
            self._drop(key_hash, ident)

        self._by_hash.setdefault(key_hash, {})[ident] = weakref.ref(connection, dropped)
        self._start()
        seen = self._recent.get(key_hash)
        if seen is not None and time.monotonic() - seen < REMEMBER_FOR:
            connection.end(ENDED)
        return connection

    def forget(self, connection: LiveConnection) -> None:
        """Unregister ``connection`` (it closed)."""
        self._drop(connection.key_hash, id(connection))

    def connections(self) -> list[LiveConnection]:
        """Every registered connection still alive."""
        found = []
        for bucket in self._by_hash.values():
            for ref in bucket.values():
                connection = ref()
                if connection is not None:
                    found.append(connection)
        return found

    def delivered(self, hashes: list[str]) -> None:
        """A message named ``hashes``: end their connections."""
        now = time.monotonic()
        recent = self._recent
        for key_hash in hashes:
            recent[key_hash] = now
            recent.move_to_end(key_hash)
            for ref in list(self._by_hash.get(key_hash, {}).values()):
                connection = ref()
                if connection is not None:
                    connection.end(ENDED)
        while len(recent) > _REMEMBERED or (recent and now - next(iter(recent.values())) > 60):
            recent.popitem(last=False)

    async def recheck(self) -> int:
        """Check every registered session, :data:`BATCH` at a time, and end those that ended;
        return how many were ended. A backend failure applies the outage policy."""
        self.rechecks += 1
        ended = 0
        connections = [c for c in self.connections() if c.reason is None]
        for start in range(0, len(connections), BATCH):
            batch = connections[start : start + BATCH]
            try:
                results = await asyncio.gather(*(self.check(c.state) for c in batch))
            except SessionBackendError as error:
                self._outage(error, connections[start:])
                return ended
            for connection, live in zip(batch, results, strict=True):
                if not live:
                    connection.end(ENDED)
                    ended += 1
        return ended

    def _outage(self, error: SessionBackendError, unchecked: list[LiveConnection]) -> None:
        if self.fail_closed:
            logger.error(
                "live sessions could not be re-checked (%s): %d connections closed "
                '(on_backend_error="fail")',
                error,
                len(unchecked),
            )
            for connection in unchecked:
                connection.end(UNAVAILABLE)
        else:
            logger.warning(
                "live sessions could not be re-checked (%s): %d connections kept open "
                '(on_backend_error="anonymous")',
                error,
                len(unchecked),
            )

    def close(self) -> None:
        """Stop listening and re-checking (the store was given another backend)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            loop = task.get_loop()
            if not loop.is_closed():  # from any thread
                loop.call_soon_threadsafe(task.cancel)

    def _drop(self, key_hash: str, ident: int) -> None:
        bucket = self._by_hash.get(key_hash)
        if bucket is not None:
            bucket.pop(ident, None)
            if not bucket:
                del self._by_hash[key_hash]

    def _start(self) -> None:
        task = self._task
        loop = asyncio.get_running_loop()
        if task is not None and not task.done() and task.get_loop() is loop:
            return
        self._task = loop.create_task(self._run(), name="starlette-session live connections")

    async def _run(self) -> None:
        if self.notifications is None:
            if self.local is not None:
                self.local.subscribe(self.delivered)
            try:
                while True:
                    await asyncio.sleep(self.recheck_interval)
                    await self.recheck()
            finally:
                if self.local is not None:
                    self.local.unsubscribe(self.delivered)
        await self._listen(self.notifications)

    async def _listen(self, notifications: Notifications) -> None:
        delay = _FIRST_DELAY
        checked = time.monotonic()
        while True:
            try:
                await notifications.listen(self.delivered, self._connected)
            except Exception as error:
                if _cancelling():  # a driver turned our cancellation into an error
                    raise asyncio.CancelledError from error
                now = time.monotonic()
                if self._down_since is None:
                    self._down_since = now
                    delay = _FIRST_DELAY
                    logger.warning(
                        "session notification channel lost (%s); reconnecting",
                        type(error).__name__,
                    )
                if now - checked >= self.recheck_interval:  # down a while: re-check meanwhile
                    checked = now
                    await self.recheck()
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - spreading
            delay = min(delay * 2, _MAX_DELAY)

    async def _connected(self) -> None:
        down_since, self._down_since = self._down_since, None
        count = len(self)
        if down_since is not None:
            logger.warning(
                "session notification channel back after %.1f s; re-checking %d live connections",
                time.monotonic() - down_since,
                count,
            )
        if count:
            await self.recheck()


def _cancelling() -> bool:
    """Whether the running task is being cancelled (always False on Python 3.10)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling()) if cancelling is not None else False
