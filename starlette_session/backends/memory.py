"""An in-process backend: the default for development, tests and single-process applications."""

from __future__ import annotations

import heapq
import multiprocessing
import os
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

from starlette_session.backends._notify import LocalNotifications
from starlette_session.backends.base import Replaced, SessionBackend
from starlette_session.setup_warnings import warn_setup

__all__ = ["MemoryBackend", "server_workers"]

#: Bytes counted for an entry on top of its key and value (the Python objects holding it).
ENTRY_OVERHEAD = 200
_ANONYMOUS, _LOGGED_IN, _KEPT = 0, 1, 2


class MemoryBackend(SessionBackend):
    """Sessions in a dict of this process: lost on restart and not shared between workers.

    Bounded by ``max_entries`` and ``max_bytes`` (keys and values, plus ``ENTRY_OVERHEAD`` bytes
    each): a write drops the expired entries, then evicts the least recently used anonymous
    session, and a logged-in one only when no anonymous one is left; entries without a time to
    live (a user's index) never. Thread-safe. The first session created warns when this process
    is one of several workers of a server (``uvicorn --workers N``, gunicorn).
    """

    def __init__(
        self,
        max_entries: int | None = 100_000,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_bytes: int | None = 64 * 1024 * 1024,
    ) -> None:
        if max_entries is not None and max_entries < 1:
            raise ValueError("max_entries must be at least 1, or None for no bound")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be at least 1, or None for no bound")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        # key -> (value, expires_at, class); one least-recently-used order per class.
        self._entries: dict[str, tuple[bytes, float, int]] = {}
        self._orders: tuple[OrderedDict[str, None], ...] = (OrderedDict(), OrderedDict())
        self._bytes = 0
        # (expires_at, key), no later than each live entry's expiry; stale items are skipped.
        self._expiries: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._checked_workers = False
        self.notifications = LocalNotifications()

    def __len__(self) -> int:
        """The number of entries held, expired ones not yet swept included."""
        return len(self._entries)

    @property
    def size(self) -> int:
        """The bytes counted against ``max_bytes``."""
        return self._bytes

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        with self._lock:
            return self._read(key, ttl)

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        if not self._checked_workers:  # then, not in __init__: gunicorn --preload builds the app
            self._checked_workers = True  # in the master, before it forks
            if (workers := server_workers()) > 1:
                warn_setup(
                    f"MemoryBackend keeps sessions in the memory of one process, and this is one "
                    f"of {workers} worker processes of the server: a request served by another "
                    "worker does not find its session. Use a backend the workers share: "
                    "RedisBackend (Redis or Valkey), SQLBackend (SQLite, PostgreSQL, MariaDB, "
                    "MySQL) or MemcachedBackend; or run a single worker."
                )
        with self._lock:
            if self._read(key, None) is not None:
                return False
            self._store(key, value, ttl, logged_in)
            return True

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        with self._lock:
            current = self._read(key, None)
            if current is None or current != expected:
                return Replaced(False, current)
            self._store(key, value, ttl, logged_in)
            return Replaced(True, None)

    async def expire(self, key: str, ttl: int) -> None:
        with self._lock:
            self._read(key, ttl)

    async def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._remove(key)

    def _read(self, key: str, ttl: int | None) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires_at, kind = entry
        now = self._clock()
        if expires_at <= now:
            self._remove(key)
            return None
        if kind != _KEPT:
            self._orders[kind].move_to_end(key)
            if ttl is not None:
                self._entries[key] = (value, now + ttl, kind)
                if now + ttl < expires_at:
                    heapq.heappush(self._expiries, (now + ttl, key))
        return value

    def _store(self, key: str, value: bytes, ttl: int | None, logged_in: bool) -> None:
        now = self._clock()
        self._remove(key)
        if ttl is None:
            kind, expires_at = _KEPT, float("inf")
        else:
            kind, expires_at = (_LOGGED_IN if logged_in else _ANONYMOUS), now + ttl
            heapq.heappush(self._expiries, (expires_at, key))
            self._orders[kind][key] = None
        self._entries[key] = (value, expires_at, kind)
        self._bytes += _cost(key, value)
        self._sweep(now)
        self._evict()

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= _cost(key, entry[0])
            if entry[2] != _KEPT:
                self._orders[entry[2]].pop(key, None)

    def _evict(self) -> None:
        entries, bytes_ = self.max_entries or float("inf"), self.max_bytes or float("inf")
        for order in self._orders:  # anonymous sessions first
            while order and (len(self._entries) > entries or self._bytes > bytes_):
                self._remove(next(iter(order)))

    def _sweep(self, now: float) -> None:
        entries, expiries = self._entries, self._expiries
        while expiries and expiries[0][0] <= now:
            _, key = heapq.heappop(expiries)
            entry = entries.get(key)
            if entry is not None and entry[1] <= now:
                self._remove(key)
            elif entry is not None and entry[1] != float("inf"):  # extended: look again later
                heapq.heappush(expiries, (entry[1], key))
        if len(expiries) > 2 * len(entries) + 64:  # forget the items of deleted entries
            self._expiries = [
                (expires_at, key) for key, (_, expires_at, kind) in entries.items() if kind != _KEPT
            ]
            heapq.heapify(self._expiries)

    async def expiring_index_is_safe(self) -> bool:
        # Bounded, the table evicts entries with a time to live, never those without.
        return self.max_entries is None and self.max_bytes is None

    def __repr__(self) -> str:
        return f"MemoryBackend(max_entries={self.max_entries}, max_bytes={self.max_bytes})"


def _cost(key: str, value: bytes) -> int:
    return len(key) + len(value) + ENTRY_OVERHEAD


def server_workers(
    proc: str = "/proc",
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """How many worker processes of a multi-process server serve this app, this one included
    (1: not such a worker). A worker has a multiprocessing parent (uvicorn, hypercorn) or
    ``SERVER_SOFTWARE=gunicorn/...``; its fellows are the parent's children running the same
    command line but for numbers (``/proc``); without ``/proc``: ``--workers``/``-w`` in the
    command line, or ``$WEB_CONCURRENCY``."""
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    if multiprocessing.parent_process() is None and not environ.get(
        "SERVER_SOFTWARE", ""
    ).startswith("gunicorn/"):
        return 1
    own = _command_line(proc, "self")
    if own is None:
        value = environ.get("WEB_CONCURRENCY", "1")
        for option, following in zip(argv, [*argv[1:], ""], strict=True):
            if option in ("--workers", "-w"):
                value = following
            elif option.startswith("--workers="):
                value = option.partition("=")[2]
        return int(value) if value.isdigit() else 1
    parent = str(os.getppid()).encode()
    return sum(
        1
        for pid in os.listdir(proc)
        if pid.isdigit() and _parent(proc, pid) == parent and _command_line(proc, pid) == own
    )


def _command_line(proc: str, pid: str) -> bytes | None:
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as file:
            return re.sub(rb"[0-9]+", b"", file.read())
    except OSError:  # no /proc, or the process has just ended
        return None


def _parent(proc: str, pid: str) -> bytes | None:
    try:
        with open(f"{proc}/{pid}/stat", "rb") as file:
            # "pid (command) state ppid ...": the command may hold spaces and parentheses.
            return file.read().rpartition(b")")[2].split()[1]
    except (OSError, IndexError):
        return None
