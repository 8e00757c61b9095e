"""Where a session lives: a server-side backend or the signed cookie itself, one interface.

Loading reads through a :class:`SessionStorage` what a verified cookie names; the store hands it
each :class:`~starlette_session.plan.CommitPlan` to carry out, and it says what the cookie
becomes. On the server every write is a compare-and-set or a create, each step ordered so that
nothing run between two steps can lose a change or bring an ended session back (the order is
set out in docs/architecture.md, "Where a session lives").
"""

from __future__ import annotations

import abc
import base64
import binascii
import logging
import secrets
import time
from typing import Any, NamedTuple

from starlette_session.backends._notify import LocalNotifications, Notifications
from starlette_session.backends.base import (
    CHANGING,
    CookieBackend,
    Replaced,
    SessionBackend,
    Swap,
    retry_compare_and_set,
)
from starlette_session.encryption import KeyRing, cookie_aad, record_aad
from starlette_session.events import SessionEvent, SessionEvents, count_round_trip, note
from starlette_session.exceptions import (
    SessionBackendError,
    SessionConflictError,
    SessionDestroyedError,
    SessionSettingsError,
    SessionSetupError,
    SessionTooLargeError,
)
from starlette_session.plan import CommitPlan, CookieAction, Lifetimes, Write
from starlette_session.records import (
    RETIRED,
    RETIRED_TTL,
    Record,
    Stored,
    encode_record,
    merge_records,
)
from starlette_session.signing import StoreKeys, Unsigned
from starlette_session.state import FLASHES, SessionState
from starlette_session.user_index import REVOKED_MESSAGE, REVOKED_TTL, Seen, UserIndex

__all__ = [
    "EXPIRE_COOKIE",
    "CookieStorage",
    "CookieUpdate",
    "ServerStorage",
    "SessionStorage",
    "storage_for",
]

security_logger = logging.getLogger("starlette_session.security")
MAX_CREATE_ATTEMPTS = 8
DESTROYED_MESSAGE = (
    "this session was destroyed by another request (a log-out) while this one ran; its changes "
    "were not saved"
)
#: How long a log-in may take from ``begin_login`` to its commit: well within the hour an empty
#: index keeps its revocation generation, so no revocation is forgotten while a log-in runs.
LOGIN_WINDOW = REVOKED_TTL // 4
LOGIN_TOO_OLD = (
    "this log-in began (session.begin_login) more than 15 minutes ago; check the credentials "
    "again, in a request of its own"
)
CONFLICT_MESSAGE = "another request changed this session after it was loaded; nothing was saved"


class CookieUpdate(NamedTuple):
    """What the response does with the session cookie. ``value=None`` expires it."""

    value: str | None
    max_age: int | None = None

    def __repr__(self) -> str:  # the value holds the session id: never in logs or tracebacks
        value = None if self.value is None else "<hidden>"
        return f"CookieUpdate(value={value}, max_age={self.max_age})"


EXPIRE_COOKIE = CookieUpdate(None)


class SessionStorage(abc.ABC):
    """Where one store's sessions live: read what a cookie names, carry a commit plan out."""

    #: The session travels in the cookie: a rule the plan follows (``CommitRules.cookie_only``).
    in_cookie = False

    def __init__(self, keys: StoreKeys, ring: KeyRing | None) -> None:
        self.keys = keys
        #: The keys that seal what is stored (None: plain JSON), and the bytes sealing adds to a
        #: record, counted against ``max_size``.
        self.ring = ring
        self.overhead = 0 if ring is None else ring.overhead

    @abc.abstractmethod
    async def read(self, unsigned: Unsigned, ttl: int | None) -> tuple[str | None, Stored]:
        """The store key of the session a verified cookie names and what it holds (opened when
        encrypted), its time to live reset to ``ttl``."""

    @abc.abstractmethod
    async def apply(
        self, plan: CommitPlan, state: SessionState, data: dict[str, Any], now: int
    ) -> CookieUpdate | None:
        """Carry ``plan`` out; return the cookie to send, if any."""

    def lapsed(self, meta: dict[str, Any], issued_at: int, now: int) -> bool:
        """Whether the idle timeout passed, when the storage cannot expire entries itself."""
        return False

    async def forget(self, key: str | None) -> None:  # noqa: B027 - nothing to do in a cookie
        """Drop the entry of a session found past its absolute timeout."""

    async def extend(self, key: str | None, ttl: int) -> None:  # noqa: B027
        """Give the entry of a session with its own lifetime that time to live."""

    async def reread(self, state: SessionState) -> Stored | None:
        """What is stored for the session now; None when the cookie holds it (nothing to read)."""
        return None

    def user_index(self) -> UserIndex:
        """The per-user index (``revoke_user_sessions``, ``user_sessions``, ...)."""
        raise SessionSetupError("the cookie backend keeps no sessions on the server")

    async def claim_old_cookie(self, value: str) -> bool:
        """Whether the old library's cookie ``value`` may be carried over now: only the first
        time (the cookie storage cannot remember: always)."""
        return True

    async def login_seen(self, user: str, state: SessionState) -> Seen | None:
        """What a log-in of ``user`` beginning now finds of the user's index (None: no index);
        raises ``SessionLimitError`` when the cap refuses it already."""
        return None

    def channels(self) -> tuple[Notifications | None, LocalNotifications | None]:
        """How this process learns that sessions ended: the backend's channel to every
        process, else this process's own deliveries; neither for the cookie (re-checked)."""
        return None, None

    def _signed(
        self, payload: str, plan: CommitPlan, state: SessionState, now: int
    ) -> CookieUpdate:
        value = self.keys.signer.sign(payload, now)
        self._check_size(value)
        state.signed(now)
        return CookieUpdate(value, plan.max_age)

    def _check_size(self, value: str) -> None:  # noqa: B027 - a server's cookie is an id
        """Refuse a cookie value the browser would drop."""


class CookieStorage(SessionStorage):
    """The session in the signed cookie (:class:`CookieBackend`): nothing on the server."""

    in_cookie = True

    def __init__(
        self, keys: StoreKeys, lifetimes: Lifetimes, name: str, limit: int, ring: KeyRing | None
    ) -> None:
        super().__init__(keys, ring)
        self.lifetimes, self.cookie_name, self.limit = lifetimes, name, limit
        self._labels: dict[int, bytes] = {}

    def _aad(self, key_index: int) -> bytes:
        """What a payload is bound to: the cookie's name and a label derived from the signing
        key (``key_index``) that signed it, so that another app's payload does not open here."""
        aad = self._labels.get(key_index)
        if aad is None:
            label = self.keys.signer.derive(b"cookie-encryption", key_index)
            aad = self._labels[key_index] = cookie_aad(self.cookie_name, label)
        return aad

    async def read(self, unsigned: Unsigned, ttl: int | None) -> tuple[str | None, Stored]:
        payload = unsigned.payload
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        except (binascii.Error, ValueError):
            security_logger.warning("a signed session cookie could not be decoded")
            return None, Stored(None)
        ring = self.ring
        return None, Stored(raw) if ring is None else ring.stored(
            raw, self._aad(unsigned.key_index)
        )

    def lapsed(self, meta: dict[str, Any], issued_at: int, now: int) -> bool:
        # The cookie's issued-at is the time of last use: the idle timeout slides with it.
        return self.lifetimes.lapsed(meta, issued_at, now)

    async def apply(
        self, plan: CommitPlan, state: SessionState, data: dict[str, Any], now: int
    ) -> CookieUpdate | None:
        if plan.delete_loaded:
            state.forgotten()
        cookie = plan.cookie
        if cookie is CookieAction.EXPIRE:
            return EXPIRE_COOKIE
        if cookie not in (CookieAction.RESIGN, CookieAction.REFRESH, CookieAction.DATA):
            return None
        payload = plan.payload
        assert payload is not None  # noqa: S101 - the plan always names it
        ring, raw, meta = self.ring, plan.raw, plan.meta
        if cookie is not CookieAction.DATA and ring is not None and not ring.current(state.sealed):
            raw, meta = state.raw, state.meta  # sealed under an older key: seal it anew
        if raw is None:
            return self._signed(payload, plan, state, now)
        sealed = raw
        if ring is not None:
            sealed = ring.seal(raw, self._aad(0))
            payload = base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()
        update = self._signed(payload, plan, state, now)
        state.stored(payload, None, raw, sealed, meta)
        return update

    def _check_size(self, value: str) -> None:
        size = len(self.cookie_name) + 1 + len(value)
        if size > self.limit:
            raise SessionTooLargeError(
                f"the session cookie would take {size} bytes, over the {self.limit} "
                "browsers keep; store less, or use a server-side backend. Nothing was saved."
            )


class ServerStorage(SessionStorage):
    """Sessions in a :class:`SessionBackend`, with the per-user index beside them."""

    def __init__(
        self,
        backend: SessionBackend,
        keys: StoreKeys,
        users: UserIndex,
        lifetimes: Lifetimes,
        events: SessionEvents,
        *,
        max_size: int | None,
        strict: bool,
        ring: KeyRing | None,
    ) -> None:
        super().__init__(keys, ring)
        self.backend, self.users, self.lifetimes, self.events = backend, users, lifetimes, events
        self.max_size, self.strict = max_size, strict

    def channels(self) -> tuple[Notifications | None, LocalNotifications | None]:
        notifications = self.backend.notifications
        return notifications, None if notifications else self.backend.local_notifications()

    async def read(self, unsigned: Unsigned, ttl: int | None) -> tuple[str | None, Stored]:
        key = self.keys.session_key(unsigned.payload, unsigned.key_index)
        return key, self._opened(key, await self._server().read(key, ttl))

    async def reread(self, state: SessionState) -> Stored:
        key = state.store_key
        return Stored(None) if key is None else self._opened(key, await self._server().read(key))

    def _opened(self, key: str, sealed: bytes | None) -> Stored:
        """What ``key`` holding ``sealed`` holds, opened with the key ring."""
        ring = self.ring
        return Stored(sealed) if ring is None else ring.stored(sealed, record_aad(key))

    def _sealed(self, key: str, raw: bytes) -> bytes:
        """The record ``raw`` as ``key`` stores it (sealed under the newest key, bound to it)."""
        ring = self.ring
        return raw if ring is None else ring.seal(raw, record_aad(key))

    async def forget(self, key: str | None) -> None:
        if key is not None:  # it ended (absolute timeout): its live connections end too
            await self._server().end(key)

    async def extend(self, key: str | None, ttl: int) -> None:
        if key is not None:
            await self._server().expire(key, ttl)

    def user_index(self) -> UserIndex:
        return self.users

    async def login_seen(self, user: str, state: SessionState) -> Seen | None:
        seen = await self.users.seen(user)
        await self.users.check_room(user, seen, _replaced(state, user))
        return seen

    async def claim_old_cookie(self, value: str) -> bool:
        # Remembered as long as the old cookie itself would be honoured (its Max-Age).
        key = self.keys.old_cookie_key(value)
        return await self._server().create(key, b"1", self.lifetimes.cookie_max_age)

    async def apply(
        self, plan: CommitPlan, state: SessionState, data: dict[str, Any], now: int
    ) -> CookieUpdate | None:
        if plan.delete_loaded:
            key = state.store_key
            if key is not None:  # a log-out: deleted, and its live connections told, in one trip
                await self._server().end(key)
                if state.loaded_user:
                    await self.users.remove(state.loaded_user, [key])
            state.forgotten()
        if plan.write is Write.REPLACE:
            await self._replace(plan, state, data)
        elif plan.write is Write.CREATE:
            session_id = await self._create(plan, state, data)
            return None if session_id is None else self._signed(session_id, plan, state, now)
        cookie = plan.cookie
        if cookie is CookieAction.EXPIRE:
            return EXPIRE_COOKIE
        refresh = cookie is CookieAction.REFRESH and plan.write is Write.NONE
        if refresh and not (await self.reread(state)).live:
            return None  # a log-in or log-out replaced it meanwhile: never re-send it
        if cookie in (CookieAction.RESIGN, CookieAction.REFRESH):
            assert plan.payload is not None  # noqa: S101 - the plan always names it
            user, key = state.user, state.store_key
            if user is not None and key is not None:  # its index must outlive the new cookie
                await self.users.extend(user, key, self._usable_until(state.meta, now))
            return self._signed(plan.payload, plan, state, now)
        return None

    async def _replace(self, plan: CommitPlan, state: SessionState, data: dict[str, Any]) -> None:
        key, loaded, raw = state.store_key, state.sealed, plan.raw
        assert key is not None  # noqa: S101 - REPLACE is only planned for stored sessions
        assert loaded is not None  # noqa: S101
        assert raw is not None  # noqa: S101
        user = _user(plan)
        generation = ""
        if plan.user_changed and user is not None:
            generation = await self._index(user, key, plan, state)
        value = self._sealed(key, raw)
        records = {value: raw}  # what each value this request stores holds

        def merge(current: bytes | None) -> bytes:
            merged = self._merged(self._opened(key, current), plan, state, data)
            sealed = self._sealed(key, merged)
            records[sealed] = merged
            return sealed

        # Compare-and-set from the bytes loaded, merging what other requests stored meanwhile.
        stored = await self._server().update(
            key, loaded, value, plan.ttl, merge, logged_in=user is not None
        )
        if (
            plan.user_changed
            and user is not None
            and await self.users.revoked_since(user, generation)
        ):
            await self._server().delete(key)  # the user was revoked meanwhile: undone
            raise SessionDestroyedError(REVOKED_MESSAGE)
        written = records.get(stored)
        if written is None:  # another request's merge, written with ours (write combining)
            written = self._opened(key, stored).raw or raw
        state.written(written, stored, plan.meta, stored != value)
        if plan.user_changed:
            if state.loaded_user:
                await self.users.remove(state.loaded_user, [key])
            state.indexed_as(user)

    def _merged(
        self, found: Stored, plan: CommitPlan, state: SessionState, data: dict[str, Any]
    ) -> bytes:
        """The record to store instead, now that ``found`` was stored by another request."""
        if not found.live:
            raise SessionDestroyedError(DESTROYED_MESSAGE)
        if self.strict:
            raise SessionConflictError(CONFLICT_MESSAGE)
        base = Stored(state.raw).record
        ours = Record(dict.copy(data), dict(plan.meta))
        merged = merge_records(
            base or Record({}, {}), ours, found.record or base or ours, queues=(FLASHES,)
        )
        if plan.kept_only:  # what did not survive the log-in does not come back with a merge
            merged = Record({k: v for k, v in merged.data.items() if k in ours.data}, merged.meta)
        if self.events.active:
            note(SessionEvent.conflict, state.store_key, _user(plan), "merged")
        return encode_record(merged.data, merged.meta, self.max_size, self.overhead)

    async def _create(
        self, plan: CommitPlan, state: SessionState, data: dict[str, Any]
    ) -> str | None:
        raw = plan.raw
        assert raw is not None  # noqa: S101 - CREATE always carries the bytes
        user, old_key, generation = _user(plan), state.store_key, ""
        # The new entry, then (in one round trip where the backend runs a batch in order) the
        # old one retired and the user's index read again, after the write with the user.
        retire = (
            None if old_key is None else Swap(old_key, state.sealed or b"", RETIRED, RETIRED_TTL)
        )
        index_key = None if user is None else self.users.index_key(user)
        for _ in range(MAX_CREATE_ATTEMPTS):
            session_id = secrets.token_urlsafe(32)
            key = self.keys.session_key(session_id)
            if user is not None:
                generation = await self._index(user, key, plan, state, _replaced(state, user))
            sealed = self._sealed(key, raw)
            created = await self._server().create_then(
                key,
                sealed,
                plan.ttl,
                then_replace=retire,
                then_read=index_key,
                logged_in=user is not None,
            )
            if created.stored:
                break
        else:  # pragma: no cover - 256-bit ids do not collide
            raise SessionBackendError("could not find a free session id")
        if old_key is not None:
            assert created.replaced is not None  # noqa: S101 - asked for with old_key
            retired = await self._retire(key, (raw, sealed), plan, state, data, created.replaced)
            if retired is None:
                return None
            raw, sealed = retired
            if state.loaded_user:
                await self.users.remove(state.loaded_user, [old_key])
        if user is not None and self.users.revoked_in(created.read, generation):
            await self._server().delete(key)  # the index, read after the write, moved on: undone
            raise SessionDestroyedError(REVOKED_MESSAGE)
        state.stored(session_id, key, raw, sealed, plan.meta)
        state.indexed_as(user)
        return session_id

    async def _retire(
        self,
        key: str,
        written: tuple[bytes, bytes],
        plan: CommitPlan,
        state: SessionState,
        data: dict[str, Any],
        first: Replaced,
    ) -> tuple[bytes, bytes] | None:
        """Retire the entry the session was loaded from, once the new one (``key``) holds every
        change made to it meanwhile; return what the new one holds (its record, as stored).
        None when only a re-signing was due and another request did it. ``first``: the outcome
        of the first attempt, made with the create."""
        old_key = state.store_key
        assert old_key is not None  # noqa: S101 - only a loaded session is retired
        expected: bytes = state.sealed or b""  # loaded with its key: never empty
        holds: tuple[bytes, bytes] | None = written
        made: Replaced | None = first

        async def attempt() -> bool:
            nonlocal expected, holds, made
            assert holds is not None  # noqa: S101 - set to None only when settled
            result = made or await self._server().replace(old_key, expected, RETIRED, RETIRED_TTL)
            announced, made = made is not None, None  # create_then announced its own swap
            if result.stored:  # the old id is retired: its live connections end
                if not announced:
                    await self._server().announce(old_key)
                return True
            current = result.current
            if not Stored(current).live and state.key_index and holds[0] == state.raw:
                # Only re-signing after a secret rotation, which a parallel request did first
                # (or a log-out ended the session): this request loses nothing.
                await self._server().delete(key)
                holds = None
                return True
            try:
                merged = self._merged(self._opened(old_key, current), plan, state, data)
            except (SessionDestroyedError, SessionConflictError):
                await self._server().delete(key)
                raise
            sealed = self._sealed(key, merged)
            replaced = await self._server().replace(
                key, holds[1], sealed, plan.ttl, logged_in=_user(plan) is not None
            )
            if not replaced.stored:
                raise SessionDestroyedError(DESTROYED_MESSAGE)  # revoked meanwhile
            assert current is not None  # noqa: S101 - live
            expected, holds = current, (merged, sealed)
            return False

        if not await retry_compare_and_set(attempt):
            await self._server().delete(key)
            raise SessionConflictError(CHANGING)
        return holds

    def _usable_until(self, meta: dict[str, Any], now: int) -> int:
        """The last moment a session with ``meta`` whose cookie is signed ``now`` can be used:
        the cookie's Max-Age, within the absolute timeout (0: no bound)."""
        max_age = self.lifetimes.max_age(meta, now)
        if max_age is not None:
            return now + max(max_age, 1)
        absolute = self.lifetimes.absolute_timeout
        if absolute is not None:
            created = meta.get("c")
            return (created if isinstance(created, int) else now) + absolute
        return 0

    async def _index(
        self,
        user: str,
        key: str,
        plan: CommitPlan,
        state: SessionState,
        replacing: str | None = None,
    ) -> str:
        """List ``key`` in ``user``'s index before it is written; the generation it was listed
        under. A log-in begun with ``begin_login`` is refused if the user's sessions were
        revoked since; one begun too long ago too (its revocation may have been forgotten)."""
        login, seen = state.login, None
        if login is not None and login[0] == user:
            if time.monotonic() - login[2] > LOGIN_WINDOW:
                raise SessionDestroyedError(LOGIN_TOO_OLD)
            seen = login[1]
        until = self._usable_until(plan.meta, int(time.time()))
        return await self.users.add(
            user, key, plan.ttl, seen=seen, replacing=replacing, until=until
        )

    def _server(self) -> SessionBackend:
        """The backend, for one call (counted while an observer is registered)."""
        if self.events.observed:
            count_round_trip()
        return self.backend


def _replaced(state: SessionState, user: str) -> str | None:
    """The key a new id of ``user``'s session replaces (already listed for that user)."""
    return state.store_key if state.loaded_user == user else None


def _user(plan: CommitPlan) -> str | None:
    user = plan.meta.get("u")
    return user if isinstance(user, str) else None


def storage_for(
    backend: SessionBackend | CookieBackend,
    keys: StoreKeys,
    lifetimes: Lifetimes,
    events: SessionEvents,
    *,
    cookie_name: str,
    max_size: int | None,
    strict: bool,
    max_user_sessions: int,
    track_devices: bool,
    refuse_at_cap: bool = False,
    ring: KeyRing | None = None,
) -> SessionStorage:
    """The storage of ``backend``: the one place that tells a server-side backend from the
    cookie backend."""
    if isinstance(backend, CookieBackend):
        if track_devices:
            raise SessionSetupError(
                "track_devices needs a server-side backend: the cookie backend keeps no list of "
                "a user's sessions"
            )
        if strict:
            raise SessionSettingsError(
                "strict=True needs a server-side backend: the cookie backend cannot see that "
                "another request changed the session (each response's cookie replaces the last)"
            )
        return CookieStorage(keys, lifetimes, cookie_name, backend.max_size, ring)
    if ring is not None and ring.overhead and backend.json_values:
        raise SessionSettingsError(
            f"{backend!r} stores each session as a JSON object, which cannot hold an encrypted "
            "one: use a SessionBackend that stores bytes (Redis, SQL, memcached, memory) with "
            "encryption="
        )
    limit = backend.max_key_length
    if limit is not None and keys.longest_key > limit:
        longest, prefix = keys.longest_key, len(keys.prefix)
        raise SessionSettingsError(
            f"key_prefix is {prefix} characters: the longest key the store makes (a user's "
            f"session index) would be {longest} bytes, over the {limit} bytes {backend!r} "
            f"accepts; use a key_prefix of at most {limit - (longest - prefix)} characters"
        )
    # Whenever both timeouts are None, the store refused its settings already.
    recheck = lifetimes.idle_timeout or lifetimes.absolute_timeout or 14 * 24 * 60 * 60
    users = UserIndex(
        backend,
        keys,
        max_sessions=max_user_sessions,
        recheck_after=recheck,
        events=events,
        refuse=refuse_at_cap,
        ring=ring,
    )
    return ServerStorage(
        backend, keys, users, lifetimes, events, max_size=max_size, strict=strict, ring=ring
    )
