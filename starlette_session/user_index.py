"""Which sessions belong to which user, so that all of a user's sessions can be revoked.

Each user has one small record (``<prefix>user:<keyed hash of the user id>``) mapping the store
keys of their sessions to the time after which each is checked again. Its rules make
``revoke_user_sessions`` complete:

- **Listed before usable.** A session's key is added to its user's index *before* the session is
  written with that user, so no logged-in session ever exists unlisted, whatever fails or runs
  in between.
- **Kept until gone.** The record has no time to live (a backend that must evict drops sessions
  first; see ``SessionBackend.eviction_warning``). A key leaves it only once its session is
  known to be gone: deleted by log-out or revocation, or found expired when its check time has
  passed (a key being created right now is never past its check time).
- **Bounded.** At each log-in, keys past their check time are looked up (each at most once per
  idle timeout) and dropped when gone; beyond ``max_sessions`` the oldest sessions are ended. A
  log-in costs the same however many log-ins came before.
- **Only listed keys are revoked.** ``revoke_one`` ends a session only if the user's index lists
  it and the stored session still belongs to that user, so a key from a form cannot end
  someone else's session.

Every change is a compare-and-set of the record, retried, so concurrent log-ins all land. An
index written before a secret rotation is read until its signing key leaves the list, and folded
into the newest one at the user's next log-in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import NamedTuple

from starlette_session.backends.base import SessionBackend
from starlette_session.devices import CLIENT, LAST_USED, USER_AGENT
from starlette_session.events import SessionEvent, SessionEvents, note
from starlette_session.exceptions import SessionConflictError
from starlette_session.keys import StoreKeys
from starlette_session.records import RETIRED, RETIRED_TTL, decode_record, encode_record

__all__ = ["SessionInfo", "UserIndex"]

security_logger = logging.getLogger("starlette_session.security")
#: A failed compare-and-set means another request updated the index, so retrying makes progress;
#: with N concurrent log-ins of one user the last needs N attempts.
MAX_WRITE_ATTEMPTS = 64

Entries = dict[str, int]
#: A change of a user's entries, applied in a compare-and-set loop (so it may run more than once).
Change = Callable[[Entries], Awaitable[Entries]]


class SessionInfo(NamedTuple):
    """One stored session of a user, as listed by ``SessionStore.user_sessions``.

    ``user_agent``, ``client`` and ``last_used`` are recorded with
    ``SessionStore(track_devices=True)``; without it they are None.
    """

    #: The opaque store key (a hash: it cannot be turned back into a cookie).
    key: str
    #: When the session was first stored (Unix time).
    created_at: int | None
    #: The ``User-Agent`` of the device, truncated.
    user_agent: str | None = None
    #: The client address, as coarse as configured (``"203.0.113.0/24"`` by default).
    client: str | None = None
    #: When the session was last used, to within ``last_used_interval`` (Unix time).
    last_used: int | None = None
    #: Whether this is the session passed as ``current=``.
    current: bool = False


class UserIndex:
    """The store keys of each user's sessions, in ``backend``."""

    def __init__(
        self,
        backend: SessionBackend,
        keys: StoreKeys,
        *,
        max_sessions: int,
        recheck_after: int,
        events: SessionEvents | None = None,
    ) -> None:
        self.backend = backend
        self.events = events if events is not None else SessionEvents()
        self.keys = keys
        self.max_sessions = max_sessions
        self.recheck_after = recheck_after
        self._eviction_checked = False

    def index_key(self, user_id: str, key_index: int = 0) -> str:
        """The backend key of a user's index under one signing key (never the raw user id)."""
        return self.keys.user_key(user_id, key_index)

    async def entries(self, user_id: str) -> Entries:
        """Every key listed for ``user_id``, under every signing key, with its check time."""
        found: Entries = {}
        for key_index in range(self.keys.key_count):
            raw = await self.backend.read(self.index_key(user_id, key_index))
            for key, check_at in _decode(raw).items():
                found.setdefault(key, check_at)
        return found

    async def sessions(self, user_id: str) -> list[str]:
        """The store keys listed for ``user_id`` (some may have ended since)."""
        return list(await self.entries(user_id))

    async def user_sessions(self, user_id: str, current: str | None = None) -> list[SessionInfo]:
        """The live sessions listed for ``user_id`` that still belong to that user, most
        recently used first; the one whose key is ``current`` is marked."""
        sessions = []
        for key in await self.sessions(user_id):
            meta = await self._meta_of(key)
            if meta is not None and meta.get("u") == user_id:
                sessions.append(
                    SessionInfo(
                        key,
                        _int(meta.get("c")),
                        _text(meta.get(USER_AGENT)),
                        _text(meta.get(CLIENT)),
                        _int(meta.get(LAST_USED)),
                        key == current,
                    )
                )
        sessions.sort(key=lambda info: info.last_used or info.created_at or 0, reverse=True)
        return sessions

    async def revoke(self, user_id: str, *, keep: str | None = None) -> list[str]:
        """Delete every session listed for ``user_id`` but ``keep``; return the keys that were
        live.

        Keys whose sessions were not there stay listed until their check time: one may belong to
        a log-in that is writing it right now, which must stay revocable.
        """
        keys = [key for key in await self.sessions(user_id) if key != keep]
        live = [key for key in keys if await self._alive(key)]
        await self.backend.delete(*keys)
        await self.remove(user_id, live, everywhere=True)
        return live

    async def revoke_one(self, user_id: str, key: str) -> bool:
        """End the session ``key`` of ``user_id``; True when a live session was ended.

        Nothing happens unless the user's index lists ``key`` and the stored session still
        belongs to the user (or is already gone, when the key is only unlisted). A session that
        a log-in is moving to a new id meanwhile is ended too: the log-in finds it gone.
        """
        if key not in await self.entries(user_id):
            return False
        raw = await self.backend.read(key)
        if raw == RETIRED:
            return False  # moved to a new id a moment ago: that one is listed on its own
        if raw is not None:
            record = decode_record(raw)
            if record is None or record.meta.get("u") != user_id:
                return False
            await self.backend.delete(key)
        await self.remove(user_id, [key], everywhere=True)
        return raw is not None

    async def add(self, user_id: str, key: str, ttl: int) -> None:
        """List ``key`` as one of ``user_id``'s sessions, living ``ttl`` seconds for now.

        Call it before the session is written with this user.
        """
        if not self._eviction_checked:
            self._eviction_checked = True
            warning = await self.backend.eviction_warning()
            if warning:
                security_logger.error("%s", warning)
        older = [self.index_key(user_id, index) for index in range(1, self.keys.key_count)]
        folded: Entries = {}
        for old_key in older:
            folded.update(_decode(await self.backend.read(old_key)))
        alive: dict[str, bool] = {}

        async def update(entries: Entries) -> Entries:
            now = int(time.time())
            for listed, check_at in folded.items():
                entries.setdefault(listed, check_at)
            entries.pop(key, None)
            for listed, check_at in list(entries.items()):
                if check_at <= now:
                    if listed not in alive:
                        alive[listed] = await self._alive(listed)
                    if alive[listed]:
                        entries[listed] = now + self.recheck_after
                    else:
                        del entries[listed]
            entries[key] = now + ttl
            excess = list(entries)[: max(0, len(entries) - self.max_sessions)]
            if excess:  # the oldest sessions end, before they leave the index
                await self.backend.delete(*excess)
                for listed in excess:
                    del entries[listed]
                ended.update(excess)
            return entries

        ended: set[str] = set()
        await self._update(self.index_key(user_id), update)
        if ended and self.events.active:
            for listed in sorted(ended):
                note(SessionEvent.revoked, listed, user_id, "max_user_sessions")
        for old_key in older:
            await self._update(old_key, _emptied)

    async def remove(self, user_id: str, keys: Iterable[str], *, everywhere: bool = False) -> None:
        """Forget ``keys``, whose sessions are gone; ``everywhere`` also cleans the indexes of
        older signing keys."""
        gone = set(keys)

        async def update(entries: Entries) -> Entries:
            return {key: check_at for key, check_at in entries.items() if key not in gone}

        for key_index in range(self.keys.key_count if everywhere else 1):
            await self._update(self.index_key(user_id, key_index), update)

    async def _meta_of(self, key: str) -> dict[str, object] | None:
        raw = await self.backend.read(key)
        record = decode_record(raw) if raw is not None and raw != RETIRED else None
        return record.meta if record is not None else None

    async def _alive(self, key: str) -> bool:
        raw = await self.backend.read(key)
        return raw is not None and raw != RETIRED

    async def _update(self, index_key: str, change: Change) -> None:
        for _ in range(MAX_WRITE_ATTEMPTS):
            raw = await self.backend.read(index_key)
            entries = await change(dict(_decode(raw)))
            if raw is None and not entries:
                return
            # An emptied index lives a minute more, so that a log-in racing this write finds it
            # (and its compare-and-set fails) instead of creating a second one.
            new_raw = encode_record({"k": entries}, {}, None)
            ttl = None if entries else RETIRED_TTL
            if raw is None:
                if await self.backend.create(index_key, new_raw, ttl):
                    return
            elif (
                new_raw == raw or (await self.backend.replace(index_key, raw, new_raw, ttl)).stored
            ):
                return
        raise SessionConflictError("the user's session index kept changing; try again")


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


async def _emptied(entries: Entries) -> Entries:
    return {}


def _decode(raw: bytes | None) -> Entries:
    record = decode_record(raw) if raw is not None else None
    listed = record.data.get("k") if record is not None else None
    if isinstance(listed, dict):
        return {
            key: check_at
            for key, check_at in listed.items()
            if isinstance(check_at, int) and not isinstance(check_at, bool)
        }
    if isinstance(listed, list):  # written by an earlier version: check each key soon
        return {key: 0 for key in listed if isinstance(key, str)}
    return {}
