"""An in-process backend: the default for development, tests and single-process applications."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette_session.backends.base import Replaced, SessionBackend

__all__ = ["MemoryBackend"]


class MemoryBackend(SessionBackend):
    """Sessions in a dict of this process: lost on restart and not shared between workers.

    Bounded by ``max_entries``: when full, the least recently used session is evicted (its user is
    logged out). Expired entries are dropped when read, and every write sweeps the expired entries
    at the least recently used end, so no request scans the whole table. All methods are
    thread-safe.
    """

    def __init__(
        self, max_entries: int | None = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries is not None and max_entries < 1:
            raise ValueError("max_entries must be at least 1, or None for no bound")
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
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
        return entry[0]

    def _store(self, key: str, value: bytes, ttl: int) -> None:
        now = self._clock()
        self._entries[key] = (value, now + ttl)
        self._entries.move_to_end(key)
        entries = self._entries
        while entries:
            oldest_key, (_, expires_at) = next(iter(entries.items()))
            if expires_at > now and (self.max_entries is None or len(entries) <= self.max_entries):
                break
            del entries[oldest_key]

    def __repr__(self) -> str:
        return f"MemoryBackend(max_entries={self.max_entries})"
