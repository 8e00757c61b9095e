"""An in-process backend: the default for development, tests and single-process applications."""

from __future__ import annotations

import heapq
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette_session.backends.base import Replaced, SessionBackend

__all__ = ["MemoryBackend"]


class MemoryBackend(SessionBackend):
    """Sessions in a dict of this process: lost on restart and not shared between workers.

    Bounded by ``max_entries``. Every write first drops the entries that have expired (found
    through a heap of expiry times: a few steps per expired entry, never a scan of the whole
    table); then, if the table is still over ``max_entries``, it evicts the least recently used
    live sessions, read or written (their users are logged out). Expired entries are also
    dropped when read. All methods are thread-safe.
    """

    def __init__(
        self, max_entries: int | None = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries is not None and max_entries < 1:
            raise ValueError("max_entries must be at least 1, or None for no bound")
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        # (expires_at, key), no later than each live entry's expiry; stale items are skipped.
        self._expiries: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """The number of entries held, expired ones not yet swept included."""
        return len(self._entries)

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        with self._lock:
            return self._read(key, ttl)

    async def create(self, key: str, value: bytes, ttl: int) -> bool:
        with self._lock:
            if self._read(key, None) is not None:
                return False
            self._store(key, value, ttl)
            return True

    async def replace(self, key: str, expected: bytes, value: bytes, ttl: int) -> Replaced:
        with self._lock:
            current = self._read(key, None)
            if current is None or current != expected:
                return Replaced(False, current)
            self._store(key, value, ttl)
            return Replaced(True, None)

    async def expire(self, key: str, ttl: int) -> None:
        with self._lock:
            self._read(key, ttl)

    async def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

    def _read(self, key: str, ttl: int | None) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = self._clock()
        if entry[1] <= now:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        if ttl is not None:
            self._entries[key] = (entry[0], now + ttl)
            if now + ttl < entry[1]:
                heapq.heappush(self._expiries, (now + ttl, key))
        return entry[0]

    def _store(self, key: str, value: bytes, ttl: int) -> None:
        now = self._clock()
        previous = self._entries.get(key)
        if previous is None or now + ttl < previous[1]:
            heapq.heappush(self._expiries, (now + ttl, key))
        self._entries[key] = (value, now + ttl)
        self._entries.move_to_end(key)
        self._sweep(now)
        while self.max_entries is not None and len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def _sweep(self, now: float) -> None:
        entries, expiries = self._entries, self._expiries
        while expiries and expiries[0][0] <= now:
            _, key = heapq.heappop(expiries)
            entry = entries.get(key)
            if entry is not None and entry[1] <= now:
                del entries[key]
            elif entry is not None:  # its lifetime was extended: look again when it ends
                heapq.heappush(expiries, (entry[1], key))
        if len(expiries) > 2 * len(entries) + 64:  # forget the items of deleted entries
            self._expiries = [(expires_at, key) for key, (_, expires_at) in entries.items()]
            heapq.heapify(self._expiries)

    def __repr__(self) -> str:
        return f"MemoryBackend(max_entries={self.max_entries})"
