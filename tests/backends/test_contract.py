"""The SessionBackend contract (starlette_session/backends/base.py), checked on every backend.

Values are compact JSON objects, the only values the store writes, so that LegacyBackend (which
hands JSON objects to the original interface) is held to the same contract as the others.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from starlette_session.backends import Replaced, SessionBackend
from starlette_session.backends.base import CAS_ATTEMPTS, Created, Merge, Swap
from starlette_session.exceptions import SessionConflictError, SessionDestroyedError
from tests.backends.conftest import BackendCase

OLD = b'{"v":"old"}'
NEW = b'{"v":"new"}'
GONE = b'{"v":"retired"}'
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
    # One wait for every expiry rule, so the Redis cases sleep once. Two seconds, not one:
    # memcached's clock ticks in whole seconds, so a one-second item can lapse at once.
    backend = backend_case.backend
    for key in ("plain", "read", "read-no-ttl", "expire-called", "replaced"):
        await backend.create(f"session:{key}", OLD, 2)
    assert await backend.read("session:read", 60) == OLD
    assert await backend.read("session:read-no-ttl") == OLD
    await backend.expire("session:expire-called", 60)
    await backend.replace("session:replaced", OLD, NEW, 60)

    await backend_case.elapse(2.2)

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


# update(): compare-and-set, merging what was stored meanwhile


def _tokens(*tokens: str) -> bytes:
    """A set of tokens as a compact JSON object (a stand-in for a session's fields)."""
    return json.dumps(dict.fromkeys(sorted(tokens), 1), separators=(",", ":")).encode()


def _read_tokens(value: bytes | None) -> set[str]:
    assert value is not None
    return set(json.loads(value))


def _adding(token: str) -> Merge:
    """A merge that adds ``token`` to what is stored (as the store merges a changed field)."""

    def merge(current: bytes | None) -> bytes:
        if current is None:
            raise SessionDestroyedError("gone")
        return _tokens(*_read_tokens(current), token)

    return merge


async def test_update_stores_the_value_when_the_expected_one_is_current(
    backend: SessionBackend,
) -> None:
    await backend.create("session:a", OLD, 60)
    calls: list[bytes | None] = []

    def merge(current: bytes | None) -> bytes:
        calls.append(current)
        return OTHER

    assert await backend.update("session:a", OLD, NEW, 60, merge) == NEW
    assert await backend.read("session:a") == NEW
    assert calls == []


async def test_update_merges_onto_what_another_write_stored(backend: SessionBackend) -> None:
    await backend.create("session:a", _tokens("x"), 60)
    await backend.replace("session:a", _tokens("x"), _tokens("x", "y"), 60)
    stored = await backend.update("session:a", _tokens("x"), _tokens("x", "z"), 60, _adding("z"))
    assert stored == _tokens("x", "y", "z")
    assert await backend.read("session:a") == stored


async def test_update_of_a_missing_key_raises_what_the_merge_raises(
    backend: SessionBackend,
) -> None:
    with pytest.raises(SessionDestroyedError):
        await backend.update("session:gone", OLD, NEW, 60, _adding("z"))
    assert await backend.read("session:gone") is None


async def test_concurrent_updates_of_one_key_all_keep_their_change(
    backend: SessionBackend,
) -> None:
    await backend.create("session:a", _tokens("0"), 60)
    tokens = [f"{n:02d}" for n in range(1, 21)]

    stored = await asyncio.gather(
        *(
            backend.update("session:a", _tokens("0"), _tokens("0", t), 60, _adding(t))
            for t in tokens
        )
    )

    final = await backend.read("session:a")
    assert _read_tokens(final) == {"0", *tokens}
    assert final in stored  # the last write returns what the key holds
    assert all(_read_tokens(value) >= {"0", t} for value, t in zip(stored, tokens, strict=True))


async def test_more_concurrent_writers_of_one_key_than_attempts_all_keep_their_change(
    backend: SessionBackend,
) -> None:
    """A single-page app firing parallel requests: with one compare-and-set each and a retry
    after every lost race, the k-th of N concurrent writers needs k attempts, so beyond
    ``CAS_ATTEMPTS`` some would be refused (409) although nothing conflicts."""
    await backend.create("session:a", _tokens("0"), 60)
    tokens = [f"{n:03d}" for n in range(1, CAS_ATTEMPTS + 37)]

    await asyncio.gather(
        *(
            backend.update("session:a", _tokens("0"), _tokens("0", t), 60, _adding(t))
            for t in tokens
        )
    )

    assert _read_tokens(await backend.read("session:a")) == {"0", *tokens}


async def test_an_update_whose_merge_refuses_fails_alone(backend: SessionBackend) -> None:
    await backend.create("session:a", _tokens("0"), 60)

    def refuse(current: bytes | None) -> bytes:
        raise SessionConflictError("strict")

    results = await asyncio.gather(
        backend.update("session:a", _tokens("0"), _tokens("0", "1"), 60, _adding("1")),
        backend.update("session:a", _tokens("0"), _tokens("0", "2"), 60, refuse),
        backend.update("session:a", _tokens("0"), _tokens("0", "3"), 60, _adding("3")),
        return_exceptions=True,
    )

    refused = isinstance(results[1], SessionConflictError)
    assert not any(isinstance(r, BaseException) for i, r in enumerate(results) if i != 1)
    final = _read_tokens(await backend.read("session:a"))
    assert {"1", "3"} <= final
    assert ("2" in final) is not refused  # refused, unless it went first and needed no merge


async def test_create_then_replaces_and_reads_in_order_only_after_a_create(
    backend: SessionBackend,
) -> None:
    # The log-in's batch: the new entry, the old one retired, a key read after both.
    await backend.create("session:old", OLD, 60)
    retire = Swap("session:old", OLD, GONE, 60)
    created = await backend.create_then(
        "session:new", NEW, 60, then_replace=retire, then_read="session:old"
    )
    assert created == Created(True, Replaced(True, None), GONE), "read after the replace"
    created = await backend.create_then("session:other", OLD, 60, then_read="session:other")
    assert created == Created(True, None, OLD), "read after the create"
    conflict = Swap("session:old", OLD, NEW, 60)
    created = await backend.create_then("session:third", OLD, 60, then_replace=conflict)
    assert created == Created(True, Replaced(False, GONE), None)

    # A key that exists is not created, and then nothing else may have changed.
    again = Swap("session:old", GONE, OLD, 60)
    created = await backend.create_then(
        "session:new", OLD, 60, then_replace=again, then_read="session:old"
    )
    assert created == Created(False)
    assert await backend.read("session:new") == NEW
    assert await backend.read("session:old") == GONE
