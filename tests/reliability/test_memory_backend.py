"""MemoryBackend stays bounded: at most ``max_entries``, expired entries dropped before any live
one is evicted, no scan of the whole table per request, and safe from many threads at once."""

from __future__ import annotations

import asyncio
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, ModuleType
from typing import Any, ClassVar

import pytest

from starlette_session.backends import MemoryBackend
from tests.helpers import ManualClock

VALUE = b'{"m":{"c":1},"d":{"user":"someone","cart":[1,2,3]}}'


async def test_the_number_of_entries_never_exceeds_max_entries() -> None:
    backend = MemoryBackend(max_entries=50)
    for index in range(500):
        await backend.create(f"session:{index}", VALUE, 60)
        assert len(backend) <= 50
    assert await backend.read("session:499") == VALUE
    assert await backend.read("session:449") is None


async def test_reads_and_writes_both_count_as_use_for_eviction() -> None:
    backend = MemoryBackend(max_entries=3)
    for name in "abc":
        await backend.create(f"session:{name}", VALUE, 60)
    await backend.read("session:a")
    await backend.replace("session:b", VALUE, b"{}", 60)

    await backend.create("session:d", VALUE, 60)

    assert await backend.read("session:c") is None  # the least recently used
    assert {await backend.read(f"session:{name}") for name in "abd"} == {VALUE, b"{}"}


async def test_expired_entries_are_dropped_before_a_live_entry_is_evicted() -> None:
    clock = ManualClock()
    backend = MemoryBackend(max_entries=3, clock=clock)
    await backend.create("session:long-lived", VALUE, 3600)  # the least recently used
    await backend.create("session:short-1", VALUE, 10)
    await backend.create("session:short-2", VALUE, 10)
    clock.advance(20)

    await backend.create("session:new", VALUE, 60)

    assert await backend.read("session:long-lived") == VALUE
    assert len(backend) == 2


async def test_expired_entries_behind_a_long_lived_entry_are_swept_without_a_bound() -> None:
    clock = ManualClock()
    backend = MemoryBackend(max_entries=None, clock=clock)
    await backend.create("session:long-lived", VALUE, 3600)
    for index in range(1000):
        await backend.create(f"session:{index}", VALUE, 1)
    clock.advance(2)

    await backend.create("session:new", VALUE, 60)

    assert len(backend) == 2


async def test_a_shortened_lifetime_is_swept_on_time() -> None:
    clock = ManualClock()
    backend = MemoryBackend(max_entries=None, clock=clock)
    await backend.create("session:a", VALUE, 3600)
    await backend.expire("session:a", 5)
    clock.advance(10)

    await backend.create("session:b", VALUE, 60)

    assert len(backend) == 1


class _Work(Exception):
    """Raised when an operation does far more work than a bounded one would."""


class _Instant(float):
    """A clock reading that counts each comparison made with it, or with an expiry computed from
    it: expiry checks, and the ordering of a heap or a sort by time."""

    counter: ClassVar[list[int]] = [0, 0]  # comparisons, budget

    def _count(self) -> None:
        self.counter[0] += 1
        if self.counter[0] > self.counter[1]:
            raise _Work("too many comparisons of times")

    def __lt__(self, other: object) -> bool:
        self._count()
        return float(self) < other  # type: ignore[operator]

    def __le__(self, other: object) -> bool:
        self._count()
        return float(self) <= other  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        self._count()
        return float(self) > other  # type: ignore[operator]

    def __ge__(self, other: object) -> bool:
        self._count()
        return float(self) >= other  # type: ignore[operator]

    def __add__(self, other: object) -> _Instant:
        return _Instant(float(self) + other)  # type: ignore[operator]

    __radd__ = __add__


@contextmanager
def _lines_run_in(module: ModuleType, budget: int) -> Iterator[list[int]]:
    """Count the lines of ``module`` that run inside the block (a Python loop over the table
    runs one or more per entry); raise ``_Work`` past ``budget``."""
    filename, count = module.__file__, [0]

    def local(frame: FrameType, event: str, arg: object) -> Any:
        if event == "line":
            count[0] += 1
            if count[0] > budget:
                raise _Work("too many lines run")
        return local

    def calls(frame: FrameType, event: str, arg: object) -> Any:
        return local if frame.f_code.co_filename == filename else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        yield count
    finally:
        sys.settrace(previous)


#: Lines run and comparisons of times allowed per operation before a run is stopped (a bounded
#: operation takes a few dozen of each; a scan of the table, one or more per entry).
STEPS_PER_OPERATION = 200


async def _work_of_operations(table_size: int) -> tuple[int, int]:
    """Lines of memory.py run and comparisons of times made by 1,000 writes and 1,000 reads on a
    table of ``table_size`` live entries, while entries keep expiring. Filling the table is
    held to the same budget per operation, so a scan stops the run early there too."""
    import starlette_session.backends.memory as memory

    clock = ManualClock(_Instant(1000.0))
    backend = MemoryBackend(max_entries=None, clock=clock)
    budget = (table_size + 2000) * STEPS_PER_OPERATION
    _Instant.counter[:] = [0, budget]
    with _lines_run_in(memory, budget) as lines:
        for index in range(table_size):
            await backend.create(f"session:{index}", VALUE, 3600)
        filled = lines[0], _Instant.counter[0]
        for index in range(1000):
            clock.advance(0.1)  # 10 s in: the first of these writes expire as the later run
            await backend.create(f"session:more-{index}", VALUE, 10)
            await backend.read(f"session:{index * 7 % table_size}", 3600)
    assert len(backend) < table_size + 200  # the expiring entries were dropped
    return lines[0] - filled[0], _Instant.counter[0] - filled[1]


async def test_an_operation_does_not_scan_the_whole_table() -> None:
    """Counted, not timed: the same 2,000 operations run about the same lines and compare about
    as many times on a table of 20,000 entries as on one of 200 (a heap of expiry times and
    an ordered dict: a few steps per operation and per expired entry). A scan of the table would
    cost 100 times more; the budget stops such a run early instead of letting it crawl."""
    small = await _work_of_operations(200)
    large = await _work_of_operations(20_000)

    assert large[0] <= small[0] * 1.1, f"lines run: {large[0]} on 20,000 vs {small[0]} on 200"
    assert large[1] <= small[1] * 2, f"comparisons: {large[1]} vs {small[1]}"


async def test_memory_stays_flat_once_the_bound_is_reached() -> None:
    """Traced memory oscillates (expiry records are compacted in batches) but does not grow: its
    peak over the last 10,000 new sessions is no higher than over the 10,000 before."""
    backend = MemoryBackend(max_entries=1000)
    peaks = []
    tracemalloc.start()
    try:
        for index in range(30_000):
            await backend.create(f"session:{index:06d}", VALUE, 3600)
            if index % 10_000 == 9_999:
                peaks.append(tracemalloc.get_traced_memory()[1])
                tracemalloc.reset_peak()
    finally:
        tracemalloc.stop()
    assert len(backend) == 1000
    assert peaks[2] <= peaks[1] * 1.01


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_many_threads_at_once_keep_the_bound_and_lose_no_compare_and_set() -> None:
    backend = MemoryBackend(max_entries=200)
    threads, increments = 8, 300
    errors: list[BaseException] = []
    largest = 0

    async def work(worker: int) -> None:
        nonlocal largest
        for step in range(increments):
            while True:  # increment the shared counter by compare-and-set, as the store does
                current = await backend.read("session:counter", 60)
                assert current is not None
                incremented = b"%d" % (int(current) + 1)
                if (await backend.replace("session:counter", current, incremented, 60)).stored:
                    break
            await backend.create(f"session:{worker}-{step}", VALUE, 60)
            await backend.read(f"session:{worker}-{step // 2}", 60)
            if step % 7 == 0:
                await backend.delete(f"session:{worker}-{step - 3}")
            largest = max(largest, len(backend))

    def run(worker: int) -> None:
        try:
            asyncio.run(work(worker))
        except BaseException as error:
            errors.append(error)

    asyncio.run(backend.create("session:counter", b"0", 60))
    pool = [threading.Thread(target=run, args=(worker,)) for worker in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()

    assert errors == []
    assert largest <= 200
    assert asyncio.run(backend.read("session:counter")) == b"%d" % (threads * increments)
