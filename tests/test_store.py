"""SessionStore, untyped: timeouts, create/rotate/delete, merging and strict mode, the cookie
backend, backend failure policies. Sessions are driven as the middleware drives them: load, use,
commit with a status code."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest

from starlette_session import (
    Session,
    SessionBackendError,
    SessionConflictError,
    SessionDestroyedError,
    SessionMiddleware,
    SessionSetupError,
    SessionStore,
    SessionTooLargeError,
)
from starlette_session.backends import CookieBackend, LegacyBackend, MemoryBackend
from starlette_session.records import encode_record
from starlette_session.signing import CookieSigner
from starlette_session.store import CookieUpdate
from tests.helpers import SECRET, DictSessionBackend, ManualClock, live_entries, make_app, usable

DAY = 24 * 60 * 60
COOKIE_SALT = "starlette-session.cookie"
SIGNER = CookieSigner(SECRET, salt=COOKIE_SALT)


def bound(store: SessionStore[Any], **middleware: Any) -> SessionStore[Any]:
    """``store``, bound to a SessionMiddleware as in an application."""
    SessionMiddleware(make_app(), secret_key=SECRET, store=store, **middleware)
    return store


async def load(store: SessionStore[Any], cookie: str | None = None) -> Session:
    return await Session(store, cookie).load()


async def commit(store: SessionStore[Any], session: Session, status: int = 200) -> CookieUpdate:
    update = await store.commit(session, status)
    assert update is not None, "the cookie did not change"
    return update


async def new_session(store: SessionStore[Any], **data: Any) -> str:
    """Save a new session holding ``data``; return its cookie value."""
    session = await load(store)
    session.update(data)
    value = (await commit(store, session)).value
    assert value is not None
    return value


def payload(cookie: str) -> str:
    unsigned = SIGNER.unsign(cookie)
    assert unsigned is not None
    return unsigned.payload


def aged(cookie: str, seconds: int) -> str:
    """The same cookie, as if it had been issued ``seconds`` earlier."""
    unsigned = SIGNER.unsign(cookie)
    assert unsigned is not None
    return SIGNER.sign(unsigned.payload, unsigned.issued_at - seconds)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def backend(clock: ManualClock) -> MemoryBackend:
    return MemoryBackend(clock=clock)


@pytest.fixture
def store(backend: MemoryBackend) -> SessionStore[Any]:
    return bound(SessionStore(backend, idle_timeout=600))


def stored(backend: MemoryBackend) -> list[bytes]:
    return [entry[0] for entry in backend._entries.values()]


# Construction


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"idle_timeout": None}, "every session expires"),
        ({"idle_timeout": 0}, "idle_timeout must be at least one second"),
        ({"absolute_timeout": -1}, "absolute_timeout must not be negative"),
        ({"on_backend_error": "ignore"}, "on_backend_error"),
        ({"key_prefix": "my sessions:"}, "key_prefix"),
        ({"key_prefix": "sessión:"}, "key_prefix"),
    ],
)
def test_a_store_that_cannot_work_is_refused(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        SessionStore(**options)


def test_the_default_backend_is_memory_and_a_given_empty_backend_is_kept() -> None:
    assert isinstance(SessionStore().backend, MemoryBackend)
    empty = MemoryBackend()
    assert SessionStore(empty).backend is empty


def test_a_store_serves_one_middleware() -> None:
    store = bound(SessionStore())
    with pytest.raises(SessionSetupError, match="build one each"):
        bound(store)


def test_an_unbound_store_says_it_needs_a_middleware() -> None:
    with pytest.raises(SessionSetupError, match="not used by any SessionMiddleware"):
        SessionStore().signer  # noqa: B018


# Create, change, rotate, delete


async def test_a_new_session_is_created_under_a_hashed_key(
    store: SessionStore[Any], backend: MemoryBackend
) -> None:
    cookie = await new_session(store, a=1)
    [key] = backend._entries
    session_id = payload(cookie)
    assert key == store.storage_key(session_id)
    assert key.startswith("session:")
    assert session_id not in key
    assert b'"d":{"a":1}' in stored(backend)[0]


async def test_an_empty_new_session_is_not_saved(
    store: SessionStore[Any], backend: MemoryBackend
) -> None:
    session = await load(store)
    assert await store.commit(session, 200) is None
    assert len(backend) == 0


async def test_a_changed_session_is_replaced_in_place(
    store: SessionStore[Any], backend: MemoryBackend
) -> None:
    cookie = await new_session(store, a=1)
    session = await load(store, cookie)
    session["a"] = 2
    assert await store.commit(session, 200) is None  # same id: the cookie stays
    assert (await load(store, cookie)) == {"a": 2}
    assert len(backend) == 1


async def test_an_emptied_session_is_deleted_and_its_cookie_expired(
    store: SessionStore[Any], backend: MemoryBackend
) -> None:
    cookie = await new_session(store, a=1)
    session = await load(store, cookie)
    session.clear()
    assert await commit(store, session) == CookieUpdate(None)
    assert len(backend) == 0


async def test_regenerate_moves_the_data_to_a_new_id(
    store: SessionStore[Any], backend: MemoryBackend
) -> None:
    cookie = await new_session(store, a=1)
    session = await load(store, cookie)
    session.regenerate()
    new_cookie = (await commit(store, session)).value
    assert new_cookie is not None
    assert payload(new_cookie) != payload(cookie)
    assert await load(store, new_cookie) == {"a": 1}
    assert await load(store, cookie) == {}
    assert live_entries(backend) == 1


async def test_a_key_prefix_is_used_for_every_key(backend: MemoryBackend) -> None:
    store = bound(SessionStore(backend, key_prefix="app1:"))
    await new_session(store, a=1)
    assert all(key.startswith("app1:") for key in backend._entries)


async def test_stored_data_that_cannot_be_decoded_gives_a_fresh_session_under_a_new_id(
    store: SessionStore[Any], backend: MemoryBackend
) -> None:
    cookie = await new_session(store, a=1)
    [key] = backend._entries
    await backend.delete(key)
    await backend.create(key, b"garbage", 600)

    session = await load(store, cookie)
    assert session == {}
    session["b"] = 2
    new_cookie = (await commit(store, session)).value
    assert new_cookie is not None
    assert payload(new_cookie) != payload(cookie)
    assert not usable(backend, key)


async def test_undecodable_data_read_by_a_request_is_deleted(
    store: SessionStore[Any], backend: MemoryBackend
) -> None:
    cookie = await new_session(store, a=1)
    [key] = backend._entries
    await backend.delete(key)
    await backend.create(key, b"garbage", 600)

    session = await load(store, cookie)
    assert session.get("a") is None
    assert await commit(store, session) == CookieUpdate(None)
    assert len(backend) == 0


async def test_a_5xx_saves_nothing_but_destroy_always_deletes(
    store: SessionStore[Any], backend: MemoryBackend
) -> None:
    cookie = await new_session(store, a=1)
    session = await load(store, cookie)
    session["a"] = 2
    session["b"] = 3
    assert await store.commit(session, 500) is None
    emptied = await load(store, cookie)
    emptied.clear()
    assert await store.commit(emptied, 503) is None
    assert await load(store, cookie) == {"a": 1}

    destroyed = await load(store, cookie)
    destroyed.destroy()
    assert await commit(store, destroyed, 500) == CookieUpdate(None)
    assert len(backend) == 0


async def test_too_large_a_session_is_refused_and_nothing_written(backend: MemoryBackend) -> None:
    store = bound(SessionStore(backend, max_size=100))
    cookie = await new_session(store, a=1)
    before = stored(backend)
    session = await load(store, cookie)
    session["big"] = "x" * 100
    with pytest.raises(SessionTooLargeError, match="over the limit of 100"):
        await store.commit(session, 200)
    assert stored(backend) == before


# Timeouts


async def test_the_idle_timeout_is_the_backend_ttl_and_each_read_slides_it(
    store: SessionStore[Any], clock: ManualClock
) -> None:
    cookie = await new_session(store, a=1)
    for _ in range(3):
        clock.advance(500)
        assert await load(store, cookie) == {"a": 1}
    clock.advance(601)
    assert await load(store, cookie) == {}


async def test_an_absolute_timeout_ends_a_session_however_active(
    backend: MemoryBackend,
) -> None:
    store = bound(SessionStore(backend, idle_timeout=600, absolute_timeout=3600))
    cookie = await new_session(store, a=1)
    [key] = backend._entries
    # The session was created more than an hour ago: rewrite its creation time.
    old = encode_record({"a": 1}, {"c": 1_000_000}, None)
    await backend.delete(key)
    await backend.create(key, old, 600)

    assert await load(store, cookie) == {}
    assert len(backend) == 0, "an expired session is deleted when found"


async def test_the_absolute_timeout_bounds_the_ttl_and_the_cookie(
    backend: MemoryBackend, clock: ManualClock
) -> None:
    store = bound(SessionStore(backend, idle_timeout=DAY, absolute_timeout=3600))
    session = await load(store)
    session["a"] = 1
    update = await commit(store, session)
    [(_, expires_at, _)] = backend._entries.values()
    assert expires_at - clock.now <= 3600
    assert update.max_age is not None
    assert update.max_age <= 3600


async def test_set_lifetime_sets_the_ttl_and_cookie_max_age_of_one_session(
    store: SessionStore[Any], backend: MemoryBackend, clock: ManualClock
) -> None:
    session = await load(store)
    session["a"] = 1
    session.set_lifetime(30 * DAY)
    update = await commit(store, session)
    assert update.max_age == 30 * DAY
    [(_, expires_at, _)] = backend._entries.values()
    assert expires_at - clock.now == 30 * DAY

    # A read keeps the session's own lifetime, not the store's idle timeout.
    assert update.value is not None
    clock.advance(DAY)
    assert await load(store, update.value) == {"a": 1}
    [(_, expires_at, _)] = backend._entries.values()
    assert expires_at - clock.now == 30 * DAY


async def test_an_unchanged_cookie_is_resent_after_half_its_max_age(
    store: SessionStore[Any],
) -> None:
    cookie = await new_session(store, a=1)
    fresh = await load(store, aged(cookie, 6 * DAY))
    assert await store.commit(fresh, 200) is None
    old = await load(store, aged(cookie, 8 * DAY))
    update = await commit(store, old)
    assert update.value is not None
    assert payload(update.value) == payload(cookie)


# Concurrent requests


async def test_changes_of_concurrent_requests_to_different_fields_are_merged(
    store: SessionStore[Any],
) -> None:
    cookie = await new_session(store, a=1, b=1, c=1)
    first, second = await load(store, cookie), await load(store, cookie)
    first["a"] = 2
    del first["c"]
    second["b"] = 2
    second["d"] = 2
    await store.commit(first, 200)
    await store.commit(second, 200)
    assert await load(store, cookie) == {"a": 2, "b": 2, "d": 2}


async def test_a_field_changed_by_two_requests_keeps_the_last_write(
    store: SessionStore[Any],
) -> None:
    cookie = await new_session(store, a=1)
    first, second = await load(store, cookie), await load(store, cookie)
    first["a"] = "first"
    second["a"] = "second"
    await store.commit(first, 200)
    await store.commit(second, 200)
    assert await load(store, cookie) == {"a": "second"}


async def test_strict_mode_refuses_a_change_to_a_session_changed_meanwhile(
    backend: MemoryBackend,
) -> None:
    store = bound(SessionStore(backend, strict=True))
    cookie = await new_session(store, a=1)
    first, second = await load(store, cookie), await load(store, cookie)
    first["a"] = 2
    second["b"] = 2
    await store.commit(first, 200)
    with pytest.raises(SessionConflictError, match="nothing was saved"):
        await store.commit(second, 200)
    assert await load(store, cookie) == {"a": 2}


async def test_a_change_to_a_session_destroyed_meanwhile_is_refused(
    store: SessionStore[Any], backend: MemoryBackend
) -> None:
    cookie = await new_session(store, a=1)
    slow, log_out = await load(store, cookie), await load(store, cookie)
    slow["a"] = 2
    log_out.destroy()
    await store.commit(log_out, 200)
    with pytest.raises(SessionDestroyedError, match="not saved"):
        await store.commit(slow, 200)
    assert len(backend) == 0


async def test_many_concurrent_changes_all_land(store: SessionStore[Any]) -> None:
    cookie = await new_session(store, start=0)
    sessions = [await load(store, cookie) for _ in range(20)]
    for index, session in enumerate(sessions):
        session[f"k{index}"] = index
    for session in sessions:
        await store.commit(session, 200)
    assert await load(store, cookie) == {"start": 0} | {f"k{i}": i for i in range(20)}


# Backend failures


class DownBackend(DictSessionBackend):
    async def get(self, key: str) -> dict[str, Any] | None:
        raise ConnectionError("down")

    async def set(self, key: str, value: dict[str, Any], exp: int | None) -> None:
        raise ConnectionError("down")


async def test_a_failing_backend_raises_by_default() -> None:
    store = bound(SessionStore(LegacyBackend(DownBackend())))
    with pytest.raises(SessionBackendError):
        await load(store, SIGNER.sign("some-id"))


async def test_the_anonymous_policy_serves_an_empty_session_that_is_never_saved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = bound(SessionStore(LegacyBackend(DownBackend()), on_backend_error="anonymous"))
    with caplog.at_level(logging.WARNING, "starlette_session"):
        session = await load(store, SIGNER.sign("some-id"))
        assert session == {}
        session["a"] = 1
        assert await store.commit(session, 200) is None
        new = await load(store)
        new["a"] = 1
        assert await store.commit(new, 200) is None
    assert "not saved" in caplog.text


# The cookie backend


@pytest.fixture
def cookie_store() -> SessionStore[Any]:
    return bound(SessionStore(CookieBackend()))


async def test_the_cookie_backend_keeps_the_data_in_the_signed_cookie(
    cookie_store: SessionStore[Any],
) -> None:
    cookie = await new_session(cookie_store, a=1)
    data = payload(cookie)
    record = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    assert b'"d":{"a":1}' in record
    assert await load(cookie_store, cookie) == {"a": 1}


async def test_an_unchanged_cookie_backend_session_sends_no_cookie(
    cookie_store: SessionStore[Any],
) -> None:
    cookie = await new_session(cookie_store, a=1)
    session = await load(cookie_store, cookie)
    assert session["a"] == 1
    assert await cookie_store.commit(session, 200) is None


async def test_a_changed_cookie_backend_session_gets_a_new_cookie(
    cookie_store: SessionStore[Any],
) -> None:
    cookie = await new_session(cookie_store, a=1)
    session = await load(cookie_store, cookie)
    session["a"] = 2
    new_cookie = (await commit(cookie_store, session)).value
    assert new_cookie is not None
    assert await load(cookie_store, new_cookie) == {"a": 2}


async def test_a_cookie_over_4096_bytes_is_refused_when_saved(
    cookie_store: SessionStore[Any],
) -> None:
    session = await load(cookie_store)
    session["big"] = "x" * 3000  # about 4000 bytes once base64-encoded and signed
    with pytest.raises(SessionTooLargeError, match="over the 4096 browsers keep"):
        await cookie_store.commit(session, 200)


async def test_a_cookie_that_fits_is_accepted(cookie_store: SessionStore[Any]) -> None:
    session = await load(cookie_store)
    session["big"] = "x" * 2800
    update = await commit(cookie_store, session)
    assert update.value is not None
    assert len("session=") + len(update.value) <= 4096


async def test_the_cookie_backend_keeps_no_sessions_of_users(
    cookie_store: SessionStore[Any],
) -> None:
    with pytest.raises(SessionSetupError, match="keeps no sessions on the server"):
        await cookie_store.user_sessions("alice")


async def test_a_cookie_backend_session_expires_after_the_idle_timeout() -> None:
    store = bound(SessionStore(CookieBackend(), idle_timeout=600))
    cookie = await new_session(store, a=1)
    assert await load(store, aged(cookie, 599)) == {"a": 1}
    assert await load(store, aged(cookie, 601)) == {}


async def test_an_active_cookie_backend_session_outlives_the_idle_timeout() -> None:
    # Only reads, every 400 seconds, with a 600-second idle timeout: never idle for 600 s.
    store = bound(SessionStore(CookieBackend(), idle_timeout=600))
    cookie = await new_session(store, a=1)
    for _ in range(3):
        session = await load(store, aged(cookie, 400))
        assert session == {"a": 1}
        update = await store.commit(session, 200)
        assert update is not None, "the cookie must be renewed before the idle timeout"
        assert update.value is not None
        cookie = update.value


async def test_a_cookie_backend_session_lives_its_own_lifetime() -> None:
    store = bound(SessionStore(CookieBackend()))  # a 14-day idle timeout
    session = await load(store)
    session["a"] = 1
    session.set_lifetime(30 * DAY)
    cookie = (await commit(store, session)).value
    assert cookie is not None
    assert await load(store, aged(cookie, 20 * DAY)) == {"a": 1}
    assert await load(store, aged(cookie, 31 * DAY)) == {}


# Sessions of a user


async def logged_in(store: SessionStore[Any], user: str) -> str:
    session = await load(store)
    session["name"] = user
    await session.begin_login(user)
    session.set_user(user)
    value = (await commit(store, session)).value
    assert value is not None
    return value


async def test_revoking_a_users_sessions_ends_every_one_of_them(store: SessionStore[Any]) -> None:
    cookies = [await logged_in(store, "alice") for _ in range(3)]
    bob = await logged_in(store, "bob")
    assert len(await store.user_sessions("alice")) == 3
    assert await store.revoke_user_sessions("alice") == 3
    assert [await load(store, cookie) for cookie in cookies] == [{}, {}, {}]
    assert await load(store, bob) == {"name": "bob"}


async def test_sessions_of_a_user_made_before_a_key_rotation_can_be_revoked(
    backend: MemoryBackend,
) -> None:
    old_secret, new_secret = "o" * 40, "n" * 40
    before: SessionStore[Any] = SessionStore(backend)
    SessionMiddleware(make_app(), secret_key=old_secret, store=before)
    cookie = await logged_in(before, "alice")

    after: SessionStore[Any] = SessionStore(backend)
    SessionMiddleware(make_app(), secret_key=[new_secret, old_secret], store=after)
    assert await load(after, cookie) == {"name": "alice"}, "still valid after the rotation"

    assert len(await after.user_sessions("alice")) == 1
    assert await after.revoke_user_sessions("alice") == 1
    assert await load(after, cookie) == {}


# Secret rotation


async def rotated_pair(backend: MemoryBackend) -> tuple[SessionStore[Any], str]:
    """A store signing with a new key, and a cookie for a session saved under the old one."""
    old_secret, new_secret = "o" * 40, "n" * 40
    before: SessionStore[Any] = SessionStore(backend)
    SessionMiddleware(make_app(), secret_key=old_secret, store=before)
    cookie = await new_session(before, a=1)
    after: SessionStore[Any] = SessionStore(backend)
    SessionMiddleware(make_app(), secret_key=[new_secret, old_secret], store=after)
    return after, cookie


async def test_an_old_key_cookie_is_moved_to_a_new_id_signed_by_the_new_key(
    backend: MemoryBackend,
) -> None:
    store, cookie = await rotated_pair(backend)
    update = await commit(store, await load(store, cookie))
    assert update.value is not None
    assert await load(store, update.value) == {"a": 1}
    assert await load(store, cookie) == {}
    assert live_entries(backend) == 1


async def test_parallel_requests_after_a_secret_rotation_do_not_fail(
    backend: MemoryBackend,
) -> None:
    store, cookie = await rotated_pair(backend)
    first, second = await load(store, cookie), await load(store, cookie)
    update = await commit(store, first)
    # The second, loaded before the first moved the session, has nothing to save.
    assert await store.commit(second, 200) is None
    assert update.value is not None
    assert await load(store, update.value) == {"a": 1}
    assert live_entries(backend) == 1


async def test_a_change_to_an_old_key_session_moved_meanwhile_is_refused(
    backend: MemoryBackend,
) -> None:
    store, cookie = await rotated_pair(backend)
    first, second = await load(store, cookie), await load(store, cookie)
    await commit(store, first)
    second["a"] = 2
    with pytest.raises(SessionDestroyedError):
        await store.commit(second, 200)
    assert live_entries(backend) == 1
