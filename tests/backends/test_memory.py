"""What MemoryBackend adds to the contract: a bound on its size, and expired entries swept."""

from __future__ import annotations

import pytest

from starlette_session.backends import MemoryBackend
from tests.helpers import ManualClock

VALUE = b'{"v":1}'


async def test_the_least_recently_used_entry_is_evicted_when_full() -> None:
    backend = MemoryBackend(max_entries=2)
    await backend.create("session:a", VALUE, 60)
    await backend.create("session:b", VALUE, 60)
    await backend.read("session:a")  # b is now the least recently used

    await backend.create("session:c", VALUE, 60)

    assert len(backend) == 2
    assert await backend.read("session:b") is None
    assert await backend.read("session:a") == VALUE
    assert await backend.read("session:c") == VALUE


async def test_a_write_sweeps_expired_entries() -> None:
    clock = ManualClock()
    backend = MemoryBackend(clock=clock)
    await backend.create("session:a", VALUE, 1)
    await backend.create("session:b", VALUE, 1)
    clock.advance(2)

    await backend.create("session:c", VALUE, 60)

    assert len(backend) == 1


@pytest.mark.parametrize("max_entries", [0, -1])
def test_max_entries_below_one_is_refused(max_entries: int) -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryBackend(max_entries=max_entries)


async def test_max_entries_none_keeps_every_entry() -> None:
    backend = MemoryBackend(max_entries=None)
    for index in range(50):
        await backend.create(f"session:{index}", VALUE, 60)
    assert len(backend) == 50
