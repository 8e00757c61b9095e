"""Which sessions belong to which user: list, revoke, the cap.

Each user has one record, ``<prefix>user:<keyed hash of the user id>``, changed only by
compare-and-set (retried, so concurrent log-ins all land). Its rules (SECURITY.md, guarantees
26, 27, 38, 40, 41 and 60): a key is listed before its session is written with the user; a
revocation gives the index a new random generation, then deletes every session listed; a log-in
adds its key only under the generation it began with (``begin_login``) and, after its write,
deletes what it wrote if the generation changed, so no clock takes part; a key leaves only once
its session is known to be gone; the cap is counted inside the compare-and-set that lists the
new key. An index written under an older signing key is read until that key leaves the list,
and folded into the newest at the user's next log-in.
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
#: How long an index that lists nothing keeps its revocation: far longer than any request.
REVOKED_TTL = 3600
REVOKED_MESSAGE = (
    "this user's sessions were revoked while this request ran; its log-in was not saved"
)
LIMIT_MESSAGE = (
    "this user already has as many live sessions as the store allows (max_user_sessions, with "
    "at_user_cap='refuse'); the log-in was refused and nothing was saved"
)
#: How long a listed session not stored yet counts against the cap (its log-in is writing it).
PENDING_GRACE = 60

Entries = dict[str, int]
_UNREAD: object = object()  # nothing read yet


class IndexRecord(NamedTuple):
    """A user's index: store key -> when to check it again; the revocation generation ("" until
    the first); store key -> the last moment it can be used (absent: no bound); and, with
    ``at_user_cap="refuse"``, store key -> when it was listed (for ``PENDING_GRACE`` seconds)."""

    entries: Entries
    generation: str
    until: Entries
    added: Entries


class Seen(NamedTuple):
    """The index as a log-in found it when it began: its generation, and the bytes read (None: no
    index; ``_UNREAD``: not read), from which the first compare-and-set of its commit starts."""

    generation: str
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
        #: Opens the sessions it reads (the index itself holds no session data: never sealed).
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
        """Refuse now (``SessionLimitError``) a log-in that the cap would refuse at commit, on
        the index as ``seen``; ``replacing``: the session the log-in gives a new id."""
        if not self.refuse or not isinstance(seen.raw, bytes):
            return
        index = _decode(seen.raw)
        others = [listed for listed in index.entries if listed != replacing]
        holding = await self._holding(others, index.entries, index.added, int(time.time()))
        if len(holding) >= self.max_sessions:
            raise SessionLimitError(LIMIT_MESSAGE)

    async def _holding(
        self, others: list[str], entries: Entries, added: Entries, now: int
    ) -> list[str]:
        """Those of ``others`` that hold a place under the cap (read one by one only when they
        could fill it): stored and live, or not stored yet but listed less than
        ``PENDING_GRACE`` seconds ago and within their first time to live. A retired, expired or
        deleted one holds none."""
        if len(others) < self.max_sessions:
            return others
        holding = []
        for key in others:
            found = Stored(await self.counted().read(key))
            listed_at = added.get(key, now - PENDING_GRACE)
            pending = now < min(listed_at + PENDING_GRACE, entries.get(key, 0))
            if found.live or (found.raw is None and pending):
                holding.append(key)
        return holding

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
        # Keys found absent stay listed until their check time: one may be a log-in's that is
        # writing it right now, which must stay revocable.
        await self.remove(user_id, live, everywhere=True)
        return live, Seen(generation, _UNREAD)

    async def revoke_one(self, user_id: str, key: str) -> bool:
        """End the session ``key`` of ``user_id``; True when a live session was ended. Only if
        the user's index lists it and the stored session is the user's (a session that a log-in
        moves to a new id meanwhile is ended too: that log-in finds it gone)."""
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
        """List ``key`` as a session of ``user_id`` living ``ttl`` seconds for now, before it is
        written with the user; return the generation it was listed under.

        ``seen``: the index when the log-in began (None: it begins now); ``replacing``: the key
        this session had until now (a new id), which the cap does not count; ``until``: the
        last moment it can be used (0: no bound). :class:`SessionDestroyedError` if the user's
        sessions were revoked since ``seen``; ``SessionLimitError`` when the cap refuses.
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
            folded_until.update(old.until)
        alive: dict[str, bool] = {}
        ended: set[str] = set()
        listed_under = ""

        async def update(index: IndexRecord) -> IndexRecord:
            nonlocal listed_under
            if seen is not None and index.generation != seen.generation:
                raise SessionDestroyedError(REVOKED_MESSAGE)
            listed_under = index.generation
            entries, bounds, now = index.entries, index.until, int(time.time())
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
            others = [listed for listed in entries if listed != replacing]
            added: Entries = {}
            if self.refuse:
                added = {k: at for k, at in index.added.items() if now - at < PENDING_GRACE}
                # In this same compare-and-set: whatever it finds is what it writes.
                holding = await self._holding(others, entries, added, now)
                if len(holding) >= self.max_sessions:
                    raise _Full()  # refused on a fresh read only: see ``_update``
                for listed in set(others) - set(holding):
                    del entries[listed]
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
            return index._replace(added=added)

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
            if key in index.entries and index.until.get(key, until) < until:
                index.until[key] = until
            return index

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
            return index._replace(entries=kept)

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
            # Listing nothing, it expires on its own: after a minute (a log-in racing this write
            # then fails its compare-and-set instead of creating a second index), or an hour if
            # it holds a revocation that a request in flight must see. Listing sessions, it lives
            # as long as the last of them can be used (and that hour at least).
            ttl: int | None = REVOKED_TTL if index.generation else RETIRED_TTL
            if index.entries:
                bounds, ttl = index.until, None
                if all(key in bounds for key in index.entries) and await self._expiring_is_safe():
                    last = max(bounds[key] for key in index.entries) - int(time.time())
                    ttl = max(REVOKED_TTL if index.generation else 1, last)
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
    return index._replace(entries={})


def _encode(index: IndexRecord) -> bytes:
    data: dict[str, object] = {"k": index.entries}
    if index.generation:
        data["g"] = index.generation
    for field, times in (("u", index.until), ("a", index.added)):
        kept = {key: at for key, at in times.items() if key in index.entries}
        if kept:
            data[field] = kept
    return encode_record(data, {}, None)


def _decode(raw: bytes | None) -> IndexRecord:
    record = decode_record(raw) if raw is not None else None
    data = record.data if record is not None else {}
    generation = data.get("g")
    return IndexRecord(
        _times(data.get("k")),
        generation if isinstance(generation, str) else "",
        _times(data.get("u")),
        _times(data.get("a")),
    )


def _times(found: object) -> Entries:
    if not isinstance(found, dict):
        return {}
    return {
        key: at for key, at in found.items() if isinstance(at, int) and not isinstance(at, bool)
    }
