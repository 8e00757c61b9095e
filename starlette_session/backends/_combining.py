"""Concurrent changes of one session in this process, stored with one compare-and-set.

When requests of one user (a page firing parallel requests) change their session at the same
time, each compare-and-set but the first would fail, and merging and retrying one by one costs
O(N²) round trips for N writers. :class:`WriteCombiner` instead queues the changes of a key while
a write of it is in flight; the next write applies every queued change in turn, each exactly as
its own compare-and-set and merge would have (``value`` as is where the entry still holds what
that request loaded, else ``merge(current)``), and stores the result with one compare-and-set.
A change that cannot be merged (a destroyed session, strict mode, a session over its size)
fails alone; a backend error fails the changes of that write. A request cancelled before its
change was sent is left out; one cancelled after may still be stored, as with a single command.

:class:`CombinedUpdates` gives a backend that reaches a server (Redis, memcached, SQL) this
``update``; the memory backend keeps the plain loop, whose compare-and-set costs no round trip.
"""

from __future__ import annotations

import asyncio

from starlette_session.backends.base import (
    CHANGING,
    Merge,
    SessionBackend,
    retry_compare_and_set,
)
from starlette_session.exceptions import (
    SessionBackendError,
    SessionConflictError,
    SessionDestroyedError,
)

__all__ = ["CombinedUpdates", "WriteCombiner"]


class _Change:
    __slots__ = ("expected", "future", "logged_in", "merge", "ttl", "value")

    def __init__(
        self,
        expected: bytes,
        value: bytes,
        ttl: int | None,
        merge: Merge,
        logged_in: bool,
        future: asyncio.Future[bytes],
    ) -> None:
        self.expected, self.value, self.ttl, self.merge = expected, value, ttl, merge
        self.logged_in, self.future = logged_in, future


class WriteCombiner:
    """Runs :meth:`SessionBackend.update` for a backend: one writer task per key being changed."""

    def __init__(self, backend: SessionBackend) -> None:
        self.backend = backend
        self._queues: dict[str, list[_Change]] = {}
        # Keep a reference to each writer task: the event loop only keeps a weak one.
        self._writers: dict[str, asyncio.Task[None]] = {}

    async def update(
        self,
        key: str,
        expected: bytes,
        value: bytes,
        ttl: int | None,
        merge: Merge,
        logged_in: bool,
    ) -> bytes:
        """Store this change (merged with those queued beside it); return what was stored."""
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(key, []).append(
            _Change(expected, value, ttl, merge, logged_in, future)
        )
        if key not in self._writers:
            self._writers[key] = asyncio.create_task(self._write(key))
        # Cancelling the request cancels its future: the writer leaves it out if not yet sent.
        return await future

    async def _write(self, key: str) -> None:
        current: bytes | None = None  # what the key holds, when this task knows it
        changes: list[_Change] = []
        try:
            while True:
                changes = [c for c in self._queues.pop(key, ()) if not c.future.done()]
                if not changes:
                    return
                current = await self._store(key, changes, current)
        except BaseException:  # cancelled (the event loop is closing): fail what is waiting
            for change in (*changes, *self._queues.pop(key, ())):
                _fail(change, SessionBackendError("the session write was interrupted"))
            raise
        finally:
            del self._writers[key]

    async def _store(self, key: str, changes: list[_Change], known: bytes | None) -> bytes | None:
        """Store ``changes`` with one compare-and-set; return what the key holds after, if known."""
        expected = known if known is not None else changes[0].expected
        holds: bytes | None = None

        async def attempt() -> bool:
            nonlocal expected, changes, holds
            value, applied = _apply(expected, changes)
            if not applied:
                holds = expected
                return True
            ttl, logged_in = applied[-1].ttl, any(change.logged_in for change in applied)
            try:
                result = await self.backend.replace(key, expected, value, ttl, logged_in=logged_in)
            except Exception as error:  # a backend error or a timeout: these changes failed
                for change in applied:
                    _fail(change, error)
                return True
            if result.stored:
                for change in applied:
                    if not change.future.done():
                        change.future.set_result(value)
                holds = value
                return True
            if result.current is None:
                for change in applied:
                    _fail(change, _destroyed(change))
                return True
            expected = result.current
            changes = [change for change in applied if not change.future.done()]
            return False

        if not await retry_compare_and_set(attempt):
            for change in changes:
                _fail(change, SessionConflictError(CHANGING))
        return holds


class CombinedUpdates(SessionBackend):
    """A backend whose concurrent updates of one key in this process share one compare-and-set.

    N requests changing one session at once cost about one round trip each, not N, and none
    runs out of attempts while others keep winning. Every change is stored exactly as
    :meth:`SessionBackend.update`'s loop would store it. The combiner is made on first use, so a
    subclass need not call ``super().__init__()``.
    """

    _write_combiner: WriteCombiner | None = None

    async def update(
        self,
        key: str,
        expected: bytes,
        value: bytes,
        ttl: int | None,
        merge: Merge,
        *,
        logged_in: bool = False,
    ) -> bytes:
        combiner = self._write_combiner
        if combiner is None:
            combiner = self._write_combiner = WriteCombiner(self)
        return await combiner.update(key, expected, value, ttl, merge, logged_in)


def _apply(current: bytes, changes: list[_Change]) -> tuple[bytes, list[_Change]]:
    """Each change in turn on ``current``; the changes that could be applied."""
    applied = []
    for change in changes:
        if change.future.done():
            continue
        try:
            value = change.value if change.expected == current else change.merge(current)
        except Exception as error:  # destroyed, strict mode, too large: this change alone fails
            _fail(change, error)
            continue
        applied.append(change)
        current = value
    return current, applied


def _destroyed(change: _Change) -> BaseException:
    try:
        change.merge(None)
    except Exception as error:
        return error
    return SessionDestroyedError("the session was destroyed while this request ran")


def _fail(change: _Change, error: BaseException) -> None:
    if not change.future.done():
        change.future.set_exception(error)
