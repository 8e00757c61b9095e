"""Which sessions belong to which user, so that all of a user's sessions can be revoked.

Each user has one small record (``<prefix>user:<keyed hash of the user id>``) mapping the store
keys of their sessions to the time after which each is checked again and the last moment each
can be used, and its revocation generation. Its rules make ``revoke_user_sessions`` complete:

- **Listed before usable.** A session's key is added to its user's index *before* the session is
  written with that user, so no logged-in session ever exists unlisted, whatever fails or runs
  in between.
- **No log-in through a revocation, in the store's order.** A revocation first gives the index a
  new *generation* (a random value, never a time), then deletes every session it lists. A log-in
  reads the generation when it begins (``session.begin_login(user)``, before the credentials are
  checked; else at its commit), adds its session only if the generation is still the same, and
  after writing the session reads it again and deletes what it wrote if it changed. No clock of
  any host takes part: a log-in and a revocation are ordered by the store alone.
- **Kept until gone.** The record lives as long as the last of its sessions can be used (each
  entry's bound is the cookie's Max-Age from its last signing, within the absolute timeout;
  a re-signed cookie extends it), and at least an hour after a revocation, refreshed at each
  write; it has no time to live where a session's use is unbounded, or where a time to live
  would let the backend evict it before its sessions
  (``SessionBackend.expiring_index_is_safe``). A key leaves it only once its session is
  known to be gone: deleted by log-out or revocation, or found expired when its check time has
  passed (a key being created right now is never past its check time).
- **Only listed keys are revoked.** ``revoke_one`` ends a session only if the user's index lists
  it and the stored session still belongs to that user, so a key from a form cannot end
  someone else's session.
- **Bounded.** At each log-in, keys past their check time are looked up (each at most once per
  idle timeout) and dropped when gone; beyond ``max_sessions`` the oldest sessions are ended. A
  log-in costs the same however many log-ins came before.

Every change is a compare-and-set of the record, retried, so concurrent log-ins all land. An
index written before a secret rotation is read until its signing key leaves the list, and folded
into the newest one at the user's next log-in.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import NamedTuple

from starlette_session.backends.base import SessionBackend, retry_compare_and_set
from starlette_session.encryption import KeyRing, record_aad
from starlette_session.events import SessionEvent, SessionEvents, count_round_trip, note
from starlette_session.exceptions import (
    SessionConflictError,
    SessionDestroyedError,
    SessionLimitError,
)
from starlette_session.records import RETIRED_TTL, Stored, decode_record, encode_record
from starlette_session.signing import StoreKeys

__all__ = ["LIMIT_MESSAGE", "PENDING_GRACE", "REVOKED_MESSAGE", "IndexRecord", "Seen", "UserIndex"]

security_logger = logging.getLogger("starlette_session.security")
#: How long an index that lists nothing keeps its revocation stamp: far longer than any request.
REVOKED_TTL = 3600
REVOKED_MESSAGE = (
    "this user's sessions were revoked while this request ran; its log-in was not saved"
)
LIMIT_MESSAGE = (
    "this user already has as many live sessions as the store allows (max_user_sessions, with "
    "at_user_cap='refuse'); the log-in was refused and nothing was saved"
)
#: How long a listed session that is not stored yet counts as a log-in still writing it
#: (``at_user_cap="refuse"``): far longer than the few backend calls between listing and writing.
PENDING_GRACE = 60

Entries = dict[str, int]
#: ``_update(first=...)`` when nothing was read yet.
_UNREAD: object = object()


class IndexRecord(NamedTuple):
    """A user's index: store key -> when to check it again; its revocation generation (empty
    until the first revocation, then a new random value at each one); and store key -> the
    last moment its session can be used (a key without one: no bound)."""

    entries: Entries
    generation: str = ""
    until: Entries | None = None
    #: ``at_user_cap="refuse"``: store key -> when it was listed, for the last
    #: ``PENDING_GRACE`` seconds (a listed key not stored yet counts while its log-in writes it).
    added: Entries | None = None


class Seen(NamedTuple):
    """A user's index as a log-in found it when it began: its generation, and the bytes read
    (the first compare-and-set of the log-in's commit starts from them)."""

    generation: str
    #: bytes or None (no index) as read; ``_UNREAD`` when not read (a revocation's own).
    raw: object


#: A change of a user's index, applied in a compare-and-set loop (so it may run more than once).
Change = Callable[[IndexRecord], Awaitable[IndexRecord]]


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
        refuse: bool = False,
        ring: KeyRing | None = None,
    ) -> None:
        self.backend = backend
        #: At the cap, refuse the new log-in (``SessionLimitError``) instead of ending the oldest.
        self.refuse = refuse
        #: Opens the sessions it reads (the index itself is never encrypted: it holds keys,
        #: times and a random generation, nothing of the sessions' data).
        self.ring = ring
        self.events = events if events is not None else SessionEvents()
        self.keys = keys
        self.max_sessions = max_sessions
        self.recheck_after = recheck_after
        self._eviction_checked = False
        self._expiring_safe: bool | None = None

    def index_key(self, user_id: str, key_index: int = 0) -> str:
        """The backend key of a user's index under one signing key (never the raw user id)."""
        return self.keys.user_key(user_id, key_index)

    async def sessions(self, user_id: str) -> list[str]:
        """The store keys listed for ``user_id`` under every signing key (some may have ended)."""
        found: Entries = {}
        for key_index in range(self.keys.key_count):
            raw = await self.counted().read(self.index_key(user_id, key_index))
            for key, check_at in _decode(raw).entries.items():
                found.setdefault(key, check_at)
        return list(found)

    async def seen(self, user_id: str) -> Seen:
        """The user's index as a log-in beginning now sees it (one read)."""
        raw = await self.counted().read(self.index_key(user_id))
        return Seen(_decode(raw).generation, raw)

    async def check_room(self, user_id: str, seen: Seen, replacing: str | None) -> None:
        """Refuse now (``SessionLimitError``) a log-in the cap would refuse at commit: the
        index as ``seen`` lists as many sessions that still count as the cap allows (read one
        by one only then). ``replacing``: the session the log-in gives a new id."""
        if not self.refuse or not isinstance(seen.raw, bytes):
            return
        index = _decode(seen.raw)
        others = [listed for listed in index.entries if listed != replacing]
        if len(others) < self.max_sessions:
            return
        now, added = int(time.time()), index.added or {}
        counted = [k for k in others if await self._counts(k, index.entries, added, now)]
        if len(counted) >= self.max_sessions:
            raise SessionLimitError(LIMIT_MESSAGE)

    async def _counts(self, key: str, entries: Entries, added: Entries, now: int) -> bool:
        """Whether a listed session counts against the cap: stored and live, or not stored yet
        but listed less than ``PENDING_GRACE`` seconds ago and within its first time to live
        (its log-in is writing it). A retired entry (moved to a new id, listed on its own), an
        expired or a deleted one do not."""
        found = Stored(await self.counted().read(key))
        if found.live:
            return True
        listed_at = added.get(key, now - PENDING_GRACE)
        return found.raw is None and now < min(listed_at + PENDING_GRACE, entries.get(key, 0))

    async def revoke(self, user_id: str, *, keep: str | None = None) -> tuple[list[str], Seen]:
        """End every session of ``user_id`` but ``keep``: give the index a new generation, then
        delete every session it lists. Return the keys that were live, and the new generation."""
        generation = secrets.token_urlsafe(12)
        listed: Entries = {}

        async def stamp(index: IndexRecord) -> IndexRecord:
            listed.clear()
            listed.update(index.entries)
            return index._replace(generation=generation)

        await self._update(self.index_key(user_id), stamp)
        keys = [key for key in {*listed, *await self.sessions(user_id)} if key != keep]
        live = [key for key in keys if await self._alive(key)]
        await self.counted().end(*keys)  # deleted, and their live connections told
        # Keys found absent stay listed until their check time: one may belong to a log-in that
        # is writing it right now, which must stay revocable.
        await self.remove(user_id, live, everywhere=True)
        return live, Seen(generation, _UNREAD)

    async def revoke_one(self, user_id: str, key: str) -> bool:
        """End the session ``key`` of ``user_id``; True when a live session was ended.

        Nothing happens unless the user's index lists ``key`` and the stored session still
        belongs to the user (or is already gone, when the key is only unlisted). A session that
        a log-in is moving to a new id meanwhile is ended too: the log-in finds it gone.
        """
        if key not in await self.sessions(user_id):
            return False
        found = await self.read(key)
        if found.retired:
            return False  # moved to a new id a moment ago: that one is listed on its own
        if found.live:
            record = found.record
            if record is None or record.meta.get("u") != user_id:
                return False
            await self.counted().end(key)
        await self.remove(user_id, [key], everywhere=True)
        return found.live

    async def add(
        self,
        user_id: str,
        key: str,
        ttl: int,
        *,
        seen: Seen | None,
        replacing: str | None = None,
        until: int = 0,
    ) -> str:
        """List ``key`` as one of ``user_id``'s sessions, living ``ttl`` seconds for now; return
        the generation it was listed under.

        Call it before the session is written with this user. ``seen``: the index as the log-in
        found it when it began (None: it begins now); ``replacing``: the key this session had
        until now (a new id), which the cap does not count; ``until``: the last moment the
        session can be used (0: no bound). Raises :class:`SessionDestroyedError` if
        the user's sessions were revoked since.
        """
        if not self._eviction_checked:
            self._eviction_checked = True
            warning = await self.counted().eviction_warning()
            if warning:
                security_logger.error("%s", warning)
        older = [self.index_key(user_id, index) for index in range(1, self.keys.key_count)]
        folded: Entries = {}
        folded_until: Entries = {}
        for old_key in older:
            old = _decode(await self.counted().read(old_key))
            folded.update(old.entries)
            folded_until.update(old.until or {})
        alive: dict[str, bool] = {}
        ended: set[str] = set()
        listed_under = ""

        async def update(index: IndexRecord) -> IndexRecord:
            nonlocal listed_under
            if seen is not None and index.generation != seen.generation:
                raise SessionDestroyedError(REVOKED_MESSAGE)
            listed_under = index.generation
            entries, now = index.entries, int(time.time())
            bounds = dict(index.until or {})
            for listed, check_at in folded.items():
                if listed not in entries:
                    entries[listed] = check_at
                    if listed in folded_until:
                        bounds[listed] = folded_until[listed]
            entries.pop(key, None)
            for listed, check_at in list(entries.items()):
                if check_at <= now:
                    if listed not in alive:
                        alive[listed] = await self._alive(listed)
                    if alive[listed]:
                        entries[listed] = now + self.recheck_after
                    else:
                        del entries[listed]
            # The session this one replaces (a new id for it) is not counted: it ends next.
            others = [listed for listed in entries if listed not in (key, replacing)]
            added: Entries | None = None
            if self.refuse:
                added = {k: at for k, at in (index.added or {}).items() if now - at < PENDING_GRACE}
                if len(others) + 1 > self.max_sessions:
                    # In this same compare-and-set: whatever it finds is what it writes.
                    counted = [k for k in others if await self._counts(k, entries, added, now)]
                    if len(counted) + 1 > self.max_sessions:
                        raise _Full()  # refused on a fresh read only: see ``_update``
                    for listed in set(others) - set(counted):
                        del entries[listed]
                        bounds.pop(listed, None)
                added[key] = now
            entries[key] = now + ttl
            bounds.pop(key, None)
            if until:
                bounds[key] = until
            others = [listed for listed in entries if listed not in (key, replacing)]
            excess = others[: max(0, len(others) + 1 - self.max_sessions)]
            if excess:  # the oldest sessions end, before they leave the index
                await self.counted().end(*excess)
                for listed in excess:
                    del entries[listed]
                ended.update(excess)
            return index._replace(until=bounds, added=added)

        first = seen.raw if seen is not None else _UNREAD
        await self._update(self.index_key(user_id), update, first=first)
        for old_key in older:
            await self._update(old_key, _emptied)
        if ended and self.events.active:
            for listed in sorted(ended):
                note(SessionEvent.revoked, listed, user_id, "max_user_sessions")
        return listed_under

    async def extend(self, user_id: str, key: str, until: int) -> None:
        """The session ``key`` of ``user_id`` can be used until ``until`` now (its cookie was
        signed again): the index must live that long too."""
        if not until or not await self._expiring_is_safe():
            return  # the index keeps no time to live: nothing to extend

        async def update(index: IndexRecord) -> IndexRecord:
            bounds = index.until or {}
            if key not in index.entries or bounds.get(key, until) >= until:
                return index
            return index._replace(until={**bounds, key: until})

        await self._update(self.index_key(user_id), update)

    async def revoked_since(self, user_id: str, generation: str) -> bool:
        """Whether the user's sessions were revoked since the index had ``generation`` (read
        after a log-in's write)."""
        return self.revoked_in(await self.counted().read(self.index_key(user_id)), generation)

    def revoked_in(self, raw: bytes | None, generation: str) -> bool:
        """Whether the index's bytes ``raw`` (read after a log-in's write) show a revocation
        since it had ``generation``."""
        return _decode(raw).generation != generation

    async def remove(self, user_id: str, keys: Iterable[str], *, everywhere: bool = False) -> None:
        """Forget ``keys``, whose sessions are gone; ``everywhere`` also cleans the indexes of
        older signing keys."""
        gone = set(keys)

        async def update(index: IndexRecord) -> IndexRecord:
            kept = {key: check_at for key, check_at in index.entries.items() if key not in gone}
            bounds = {key: at for key, at in (index.until or {}).items() if key not in gone}
            return index._replace(entries=kept, until=bounds)

        for key_index in range(self.keys.key_count if everywhere else 1):
            await self._update(self.index_key(user_id, key_index), update)

    async def read(self, key: str) -> Stored:
        """What the session ``key`` holds (without extending its time to live), opened."""
        sealed, ring = await self.counted().read(key), self.ring
        return Stored(sealed) if ring is None else ring.stored(sealed, record_aad(key))

    def counted(self) -> SessionBackend:
        """The backend, for one call (counted while an observer is registered)."""
        if self.events.observed:
            count_round_trip()
        return self.backend

    async def _expiring_is_safe(self) -> bool:
        if self._expiring_safe is None:
            self._expiring_safe = await self.counted().expiring_index_is_safe()
        return self._expiring_safe

    async def _alive(self, key: str) -> bool:
        return Stored(await self.counted().read(key)).live

    async def _update(self, index_key: str, change: Change, *, first: object = _UNREAD) -> None:
        """Apply ``change`` by compare-and-set; ``first``: the index's bytes as already read
        (the first attempt starts from them instead of reading again)."""
        known = first

        async def attempt() -> bool:
            nonlocal known
            fresh = known is _UNREAD  # else read earlier: only a compare-and-set may settle it
            raw = known if isinstance(known, bytes) else None
            if fresh:
                raw = await self.counted().read(index_key)
            known = _UNREAD
            try:
                index = await change(_decode(raw))
            except _Full:
                if fresh:
                    raise SessionLimitError(LIMIT_MESSAGE) from None
                return False  # decided on bytes read earlier: read them again first
            if fresh and raw is None and not index.entries and not index.generation:
                return True
            new_raw = _encode(index)
            # An index listing nothing expires on its own: after a minute (a log-in racing this
            # write finds it, and its compare-and-set fails, instead of creating a second one),
            # or an hour when it holds a revocation that a request in flight must still see.
            # One that lists sessions lives as long as the last of them can be used, and that
            # hour at least.
            ttl: int | None = REVOKED_TTL if index.generation else RETIRED_TTL
            if index.entries:
                least = REVOKED_TTL if index.generation else 1
                bounds = index.until or {}
                ttl = None
                if all(key in bounds for key in index.entries) and await self._expiring_is_safe():
                    ttl = max(least, max(bounds[key] for key in index.entries) - int(time.time()))
            if raw is None:
                return await self.counted().create(index_key, new_raw, ttl)
            if fresh and new_raw == raw:
                return True
            return (await self.counted().replace(index_key, raw, new_raw, ttl)).stored

        if not await retry_compare_and_set(attempt):
            raise SessionConflictError("the user's session index kept changing; try again")


class _Full(Exception):
    """The cap refuses the log-in: raised by a change, turned into ``SessionLimitError`` by
    ``_update`` once the index it judged was read in that same attempt."""


async def _emptied(index: IndexRecord) -> IndexRecord:
    return index._replace(entries={}, until={})


def _encode(index: IndexRecord) -> bytes:
    data: dict[str, object] = {"k": index.entries}
    if index.generation:
        data["g"] = index.generation
    bounds = {key: at for key, at in (index.until or {}).items() if key in index.entries}
    if bounds:
        data["u"] = bounds
    added = {key: at for key, at in (index.added or {}).items() if key in index.entries}
    if added:
        data["a"] = added
    return encode_record(data, {}, None)


def _decode(raw: bytes | None) -> IndexRecord:
    record = decode_record(raw) if raw is not None else None
    if record is None:
        return IndexRecord({})
    listed, generation = record.data.get("k"), record.data.get("g")
    revoked = generation if isinstance(generation, str) else ""
    stamp = record.data.get("r")  # an earlier version's revocation time: a generation too
    if not revoked and isinstance(stamp, int | float) and not isinstance(stamp, bool):
        revoked = f"r{stamp!r}"
    if isinstance(listed, dict):
        entries = _times(listed)
        bounds, added = record.data.get("u"), record.data.get("a")
        return IndexRecord(
            entries,
            revoked,
            _times(bounds) if isinstance(bounds, dict) else {},
            _times(added) if isinstance(added, dict) else {},
        )
    if isinstance(listed, list):  # written by an earlier version: check each key soon
        return IndexRecord({key: 0 for key in listed if isinstance(key, str)}, revoked)
    return IndexRecord({}, revoked)


def _times(found: dict[str, object]) -> Entries:
    return {
        key: at for key, at in found.items() if isinstance(at, int) and not isinstance(at, bool)
    }
