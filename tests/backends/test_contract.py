"""The SessionBackend contract (starlette_session/backends/base.py), checked on every backend.

Values are compact JSON objects, the only values the store writes, so that LegacyBackend (which
hands JSON objects to the original interface) is held to the same contract as the others.
"""

from __future__ import annotations

import asyncio

from starlette_session.backends import Replaced, SessionBackend
from tests.backends.conftest import BackendCase

OLD = b'{"v":"old"}'
NEW = b'{"v":"new"}'
OTHER = b'{"v":"other"}'


async def test_read_of_a_missing_key_is_none(backend: SessionBackend) -> None:
    assert await backend.read("session:missing") is None
    assert await backend.read("session:missing", 60) is None


async def test_create_stores_a_new_key(backend: SessionBackend) -> None:
    assert await backend.create("session:a", OLD, 60) is True
    assert await backend.read("session:a") == OLD


async def test_create_never_overwrites_an_existing_key(backend: SessionBackend) -> None:
    await backend.create("session:a", OLD, 60)
    assert await backend.create("session:a", NEW, 60) is False
    assert await backend.read("session:a") == OLD


async def test_replace_stores_when_the_expected_value_is_current(backend: SessionBackend) -> None:
    await backend.create("session:a", OLD, 60)
    assert await backend.replace("session:a", OLD, NEW, 60) == Replaced(True, None)
    assert await backend.read("session:a") == NEW


async def test_replace_of_a_missing_key_stores_nothing(backend: SessionBackend) -> None:
    assert await backend.replace("session:gone", OLD, NEW, 60) == Replaced(False, None)
    assert await backend.read("session:gone") is None


async def test_replace_with_a_stale_expected_value_returns_the_current_one(
    backend: SessionBackend,
) -> None:
    await backend.create("session:a", OTHER, 60)
    assert await backend.replace("session:a", OLD, NEW, 60) == Replaced(False, OTHER)
    assert await backend.read("session:a") == OTHER


async def test_delete_removes_keys_and_ignores_missing_ones(backend: SessionBackend) -> None:
    await backend.create("session:a", OLD, 60)
    await backend.create("session:b", OLD, 60)
    await backend.create("session:c", OLD, 60)
    await backend.delete("session:a", "session:b", "session:missing")
    await backend.delete()
    await backend.delete("session:missing")
    assert await backend.read("session:a") is None
    assert await backend.read("session:b") is None
    assert await backend.read("session:c") == OLD


async def test_expire_of_a_missing_key_creates_nothing(backend: SessionBackend) -> None:
    await backend.expire("session:missing", 60)
    assert await backend.read("session:missing") is None


async def test_ttl_lapses_unless_a_read_expire_or_replace_renews_it(
    backend_case: BackendCase,
) -> None:
    # One wait for every expiry rule, so the Redis cases sleep once.
    backend = backend_case.backend
    for key in ("plain", "read", "read-no-ttl", "expire-called", "replaced"):
        await backend.create(f"session:{key}", OLD, 1)
    assert await backend.read("session:read", 60) == OLD
    assert await backend.read("session:read-no-ttl") == OLD
    await backend.expire("session:expire-called", 60)
    await backend.replace("session:replaced", OLD, NEW, 60)

    await backend_case.elapse(1.2)

    assert await backend.read("session:plain") is None
    assert await backend.read("session:read-no-ttl") is None
    assert await backend.create("session:plain", NEW, 60) is True, "an expired key is absent"
    assert await backend.read("session:expire-called") == OLD
    assert await backend.read("session:replaced") == NEW
    # LegacyBackend documents that a read cannot slide the expiry of the original interface.
    slid = await backend.read("session:read")
    assert slid == (OLD if backend_case.slides_on_read else None)


async def test_of_concurrent_replaces_with_the_same_expected_value_one_wins(
    backend: SessionBackend,
) -> None:
    await backend.create("session:a", OLD, 60)
    values = [b'{"v":%d}' % attempt for attempt in range(20)]

    results = await asyncio.gather(
        *(backend.replace("session:a", OLD, value, 60) for value in values)
    )

    winners = [value for value, result in zip(values, results, strict=True) if result.stored]
    assert len(winners) == 1
    assert await backend.read("session:a") == winners[0]
    losers = [result for result in results if not result.stored]
    assert all(result.current == winners[0] for result in losers)


async def test_of_concurrent_creates_of_one_key_one_wins(backend: SessionBackend) -> None:
    values = [b'{"v":%d}' % attempt for attempt in range(20)]

    results = await asyncio.gather(*(backend.create("session:a", value, 60) for value in values))

    assert results.count(True) == 1
    assert await backend.read("session:a") == values[results.index(True)]


async def test_an_entry_without_a_ttl_stays_until_deleted(backend_case: BackendCase) -> None:
    backend = backend_case.backend
    assert await backend.create("session:user:kept", OLD, None) is True
    await backend.create("session:user:made-permanent", OLD, 1)
    assert await backend.replace("session:user:made-permanent", OLD, NEW, None) == Replaced(
        True, None
    )
    await backend.create("session:ttl-again", OLD, None)
    await backend.replace("session:ttl-again", OLD, NEW, 1)

    await backend_case.elapse(1.2)

    assert await backend.read("session:user:kept") == OLD
    assert await backend.read("session:user:made-permanent") == NEW
    assert await backend.read("session:ttl-again") is None
    await backend.delete("session:user:kept", "session:user:made-permanent")
    assert await backend.read("session:user:kept") is None


async def test_logged_in_sessions_follow_the_same_contract(backend: SessionBackend) -> None:
    assert await backend.create("session:a", OLD, 60, logged_in=True) is True
    assert await backend.create("session:a", NEW, 60, logged_in=True) is False
    assert await backend.replace("session:a", OLD, NEW, 60, logged_in=True) == Replaced(True, None)
    assert await backend.replace("session:a", NEW, OLD, 60) == Replaced(True, None)
    assert await backend.read("session:a", 60) == OLD
