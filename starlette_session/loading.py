"""Loading, one way down: cookie -> signature -> store key -> backend read -> record -> state.

Nothing touches the backend before the signature verified, so a forged cookie costs no backend
call. What loading finds goes into the request's :class:`SessionState`; the data is returned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from starlette_session.cookies import read_session_cookies
from starlette_session.events import SessionEvent, SessionEvents, note
from starlette_session.exceptions import SessionBackendError
from starlette_session.plan import Lifetimes
from starlette_session.records import Stored
from starlette_session.signing import CookieSigner, Unsigned
from starlette_session.state import SessionState
from starlette_session.storage import SessionStorage

__all__ = ["SessionLoader"]

logger = logging.getLogger("starlette_session")
security_logger = logging.getLogger("starlette_session.security")

#: Reads a cookie of the session's previous library (``migrate_from=``): its data, or None.
OldCookieLoader = Callable[[str], dict[str, Any] | None]


class SessionLoader:
    """Reads one request's session, from ``storage``.

    A signed cookie older than its Max-Age is never honoured, even if the session lives on: the
    browser would have dropped it, so someone kept or replayed it. With ``old_cookies``, a cookie
    that verifies under the previous library's scheme becomes a new session holding its data.
    """

    def __init__(
        self,
        storage: SessionStorage,
        signer: CookieSigner,
        lifetimes: Lifetimes,
        cookie_name: str,
        degrade_on_error: bool,
        old_cookies: OldCookieLoader | None,
        events: SessionEvents,
    ) -> None:
        self.storage = storage
        self.signer = signer
        self.lifetimes = lifetimes
        self.cookie_name = cookie_name.encode()
        self.ended_name = f"{cookie_name}-ended".encode()
        self.degrade_on_error = degrade_on_error
        self.old_cookies = old_cookies
        self.events = events

    async def load(
        self,
        state: SessionState,
        cookie: str | None,
        headers: Sequence[tuple[bytes, bytes]] | None = None,
    ) -> dict[str, Any]:
        """Fill ``state`` from ``cookie`` (or the session cookie in ``headers``) and the backend;
        return the session's data."""
        if headers is not None:
            cookie, marker = read_session_cookies(headers, self.cookie_name, self.ended_name)
            if marker:
                state.saw_ended_marker()
        unsigned = None
        if cookie and self.lifetimes.cookie_max_age != 0:  # Max-Age=0: no cookie is kept
            unsigned = self.signer.unsign(cookie, log=self.old_cookies is None)
            if unsigned is None:
                if self.old_cookies is not None:
                    return await self._carried_over(state, cookie)
                if self.events.active:
                    note(SessionEvent.tampered, None, None, "signature")
        data: dict[str, Any] = {}
        try:
            if unsigned is not None:
                data = await self._read(state, unsigned)
        except SessionBackendError as error:
            return self._unavailable(state, error)
        if not state.loaded:
            state.loaded_from(session_id=None, store_key=None, raw=None)
        return data

    async def _read(self, state: SessionState, unsigned: Unsigned) -> dict[str, Any]:
        now = int(time.time())
        lifetimes, storage = self.lifetimes, self.storage
        key, found = await storage.read(unsigned, lifetimes.idle_timeout)
        if found.sealed is None:
            if self.events.active:
                note(SessionEvent.expired, key, None, "gone")
            return {}
        if found.retired:  # a log-in gave the session a new id a moment ago
            state.found_moved()
            return {}
        record = found.record
        if record is None:
            # Undecodable or refused data is dropped: a write gets a new id, else the entry is
            # deleted (the compare-and-set compares the bytes stored, ``sealed``).
            if found.refused is not None and self.events.active:
                note(SessionEvent.tampered, key, None, found.refused)
            state.loaded_from(
                session_id=unsigned.payload,
                store_key=key,
                raw=found.raw,
                rotate=True,
                sealed=found.sealed,
            )
            return {}
        meta = record.meta
        if storage.lapsed(meta, unsigned.issued_at, now):
            if self.events.active:
                _note_expired(key, meta, "idle")
            return {}
        max_age = meta.get("l", lifetimes.cookie_max_age)
        if max_age is not None and now - unsigned.issued_at > max_age:
            security_logger.warning("session cookie older than its Max-Age ignored")
            if self.events.active:
                _note_expired(key, meta, "max_age")
            return {}
        if lifetimes.expired(meta, now):
            await storage.forget(key)
            if self.events.active:
                _note_expired(key, meta, "absolute")
            return {}
        lifetime = meta.get("l")
        if isinstance(lifetime, int) and lifetime != lifetimes.idle_timeout:  # its own
            await storage.extend(key, lifetimes.ttl(meta, now))
        state.loaded_from(
            session_id=unsigned.payload,
            store_key=key,
            raw=found.raw,
            meta=meta,
            issued_at=unsigned.issued_at,
            key_index=unsigned.key_index,
            rotate=unsigned.key_index > 0,
            sealed=found.sealed,
        )
        return record.data

    def _unavailable(self, state: SessionState, error: SessionBackendError) -> dict[str, Any]:
        """The backend failed while loading: raise, or serve an unsaved anonymous session."""
        if self.events.active:
            note(SessionEvent.backend_error, None, None, "load")
        if not self.degrade_on_error:
            raise error
        logger.warning("session backend unavailable: serving an unsaved anonymous session")
        state.degrade()
        return {}

    async def reread(self, state: SessionState) -> Stored | str | None:
        """The stored session read again, the idle timeout not extended (a WebSocket's
        refresh): what is stored, or why it ended (``"gone"``, ``"absolute"``); None when
        the cookie holds the session."""
        found = await self.storage.reread(state)
        if found is None:
            return None
        record = found.record
        if record is None:
            return "gone"
        if self.lifetimes.expired(record.meta, int(time.time())):
            return "absolute"
        return found

    async def still_live(self, state: SessionState) -> bool:
        """Whether a live connection's session is still stored and within its timeouts;
        raises :class:`SessionBackendError`."""
        if state.ended:
            return False
        found = await self.reread(state)
        if found is None:  # in the cookie, as read at the handshake
            meta, now = state.meta, int(time.time())
            lapsed = self.storage.lapsed(meta, state.issued_at or now, now)
            return not (self.lifetimes.expired(meta, now) or lapsed)
        return not isinstance(found, str)

    async def _carried_over(self, state: SessionState, cookie: str) -> dict[str, Any]:
        """A cookie of the previous library: its data in a new session, saved at commit; only
        the first time it is seen, so that a copy of it opens nothing once that session ended."""
        assert self.old_cookies is not None  # noqa: S101 - only called with a loader
        data = self.old_cookies(cookie)
        state.loaded_from(session_id=None, store_key=None, raw=None)
        if not data:
            security_logger.warning("session cookie ignored: not signed by any of our keys")
            if self.events.active:
                note(SessionEvent.tampered, None, None, "signature")
            return {}
        try:
            first = await self.storage.claim_old_cookie(cookie)
        except SessionBackendError as error:
            return self._unavailable(state, error)
        if not first:
            security_logger.warning("an old session cookie already carried over was ignored")
            if self.events.active:
                note(SessionEvent.tampered, None, None, "replayed")
            return {}
        state.mark_changed()
        return dict(data)


def _note_expired(key: str | None, meta: dict[str, Any], reason: str) -> None:
    user = meta.get("u")
    note(SessionEvent.expired, key, user if isinstance(user, str) else None, reason)
