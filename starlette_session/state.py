"""What the library knows about one request's session, kept in one object.

Loading fills a :class:`SessionState`, the session's lifecycle methods change it through its
methods, the commit plan reads it. The data is the :class:`StatefulDict` itself: the state never
refers back to it, so a request leaves no reference cycle behind.
"""

from __future__ import annotations

import secrets
from typing import Any

__all__ = ["AUTH_METHOD", "AUTH_TIME", "CSRF_SECRET", "FLASHES", "SessionState", "StatefulDict"]

#: Metadata keys of the web helpers: pending flash messages, the CSRF secret, when and how the
#: user last proved who they are. Beside the data, never in it: no session key can set them.
FLASHES, CSRF_SECRET, AUTH_TIME, AUTH_METHOD = "f", "x", "at", "am"
#: The size of a signed-in session's CSRF secret (URL-safe base64 in ``CSRF_SECRET``).
CSRF_SECRET_BYTES = 32


class SessionState:
    """One session's bookkeeping: where it is stored, what was loaded, what the request did.
    Every attribute has a class-level default: creating one is a single allocation."""

    #: Whether loading has run (or degraded under the "anonymous" outage policy).
    loaded = False
    #: The cookie payload: a session id, or (cookie backend) the session itself. None when new.
    session_id: str | None = None
    #: The backend key of ``session_id`` (None for the cookie backend and for new sessions).
    store_key: str | None = None
    #: The record's JSON as loaded, then as last written; ``sealed``: the same as the backend
    #: holds it (``raw``, or ``raw`` encrypted), which the compare-and-set compares.
    raw: bytes | None = None
    sealed: bytes | None = None
    #: When the cookie was signed, and by which key (0: the newest).
    issued_at = 0
    key_index = 0
    #: The user the stored session belonged to when loaded (then: as indexed).
    loaded_user: str | None = None
    #: ``begin_login(user)``: the user, that user's index then (its revocation generation) and
    #: when (monotonic): the log-in is refused at commit if the user was revoked since.
    login: tuple[str, Any, float] | None = None
    #: A new id is due at commit (log-in, an old signing key, data that had to be dropped).
    rotate = False
    destroyed = False
    #: The data may have changed (a write, or a nested value handed out).
    changed = False
    lifetime_changed = False
    #: The backend failed while loading, under the "anonymous" policy: never saved.
    degraded = False
    #: The cookie named a session that a log-in moved to a new id while this request ran.
    moved = False
    #: A WebSocket found the session ended (a log-out, a revocation) while it was open.
    ended = False
    #: The browser carried the marker of a session that ended a moment ago (a log-out).
    ended_before = False
    #: The last write merged other requests' changes in: ``raw`` holds more than this request's.
    merged = False
    #: ``regenerate(keep=...)``: the keys that survive the new id (None: every key).
    keep: frozenset[str] | None = None
    #: ``Set-Cookie`` values of cookies beside the session's (the CSRF cookie), by name.
    extra_cookies: dict[str, bytes] | None = None
    #: The CSRF secret of a visitor without a signed-in session, once read or made (csrf.py).
    csrf_nonce: str | None = None
    #: Typed views: model -> (instance, snapshot of its dump), kept by ``typed.py``.
    models: dict[type[Any], tuple[Any, Any]] | None = None
    _meta: dict[str, Any] | None = None

    @property
    def meta(self) -> dict[str, Any]:
        """The metadata stored beside the data: created (``c``), user (``u``), lifetime (``l``)."""
        if self._meta is None:
            self._meta = {}
        return self._meta

    @property
    def is_new(self) -> bool:
        """True until the session has been stored once."""
        return self.session_id is None

    @property
    def user(self) -> str | None:
        """The user recorded in the metadata, if any."""
        user = self.meta.get("u")
        return user if isinstance(user, str) else None

    def loaded_from(
        self,
        *,
        session_id: str | None,
        store_key: str | None,
        raw: bytes | None,
        meta: dict[str, Any] | None = None,
        issued_at: int = 0,
        key_index: int = 0,
        rotate: bool = False,
        sealed: bytes | None = None,
    ) -> None:
        """Record what loading found (``sealed``: as stored, when it differs from ``raw``)."""
        self.session_id, self.store_key, self.raw = session_id, store_key, raw
        self.sealed = raw if sealed is None else sealed
        self._meta = meta
        self.issued_at, self.key_index, self.rotate = issued_at, key_index, rotate
        self.loaded_user = self.user
        self.loaded, self.merged = True, False

    def began_login(self, user: str, seen: Any, at: float) -> None:
        """A log-in of ``user`` began at ``at`` (monotonic), finding the user's index ``seen``."""
        self.login = (user, seen, at)

    def saw_ended_marker(self) -> None:
        """The browser's previous session ended a moment ago: the pages it kept must go."""
        self.ended_before = True

    def found_moved(self) -> None:
        """The cookie's session was just given a new id by another request (a log-in)."""
        self.loaded_from(session_id=None, store_key=None, raw=None)
        self.moved = True

    def degrade(self) -> None:
        """Loading failed under the "anonymous" policy: an empty session that is never saved."""
        self.loaded_from(session_id=None, store_key=None, raw=None)
        self.degraded = True

    def end(self) -> None:
        """A WebSocket found the session ended: nothing of it is ever written again."""
        self.ended = True

    def mark_changed(self) -> None:
        """The data may differ from what was loaded."""
        self.changed = True

    def set_user(self, user_id: str | None, method: str | None = None, at: int = 0) -> None:
        """Record (None: forget) the session's user; ``method`` and ``at``: how and when it
        authenticated. Another user drops the CSRF secret and authentication of the one before;
        a new user gets its own CSRF secret, saved with the log-in."""
        self.changed = True
        meta = self.meta
        if user_id != meta.get("u"):
            for key in (CSRF_SECRET, AUTH_TIME, AUTH_METHOD):
                meta.pop(key, None)
            if user_id is not None:
                meta[CSRF_SECRET] = secrets.token_urlsafe(CSRF_SECRET_BYTES)
        if user_id is None:
            meta.pop("u", None)
        else:
            meta["u"] = user_id
        if user_id is not None and method is not None:
            self.authenticated(method, at)

    def authenticated(self, method: str, at: int) -> None:
        """The session's user proved who they are at ``at`` (Unix time), by ``method``."""
        self.changed = True
        self.meta[AUTH_TIME], self.meta[AUTH_METHOD] = at, method

    def set_cookie_beside(self, name: str, header: bytes) -> None:
        """Send ``header`` (a ``Set-Cookie`` value for the cookie ``name``) with the response."""
        if self.extra_cookies is None:
            self.extra_cookies = {}
        self.extra_cookies[name] = header

    def set_lifetime(self, seconds: int | None) -> None:
        """Give the session its own lifetime (None: a browser-session cookie)."""
        self.changed = self.lifetime_changed = True
        self.meta["l"] = seconds

    def request_rotation(self, keep: frozenset[str] | None = None) -> None:
        """Store the session under a new id at commit, keeping only ``keep`` if given."""
        self.changed = self.rotate = True
        if keep is not None:
            self.keep = keep if self.keep is None else self.keep & keep

    def reset(self) -> None:
        """The stored data was dropped (it no longer validates): a fresh session with no user
        nor lifetime of its own, under a new id if anything is written."""
        self.changed = True
        self._meta = {}
        if not self.is_new:
            self.rotate = True

    def destroy(self) -> None:
        """Delete the stored session at commit and forget its metadata."""
        self.changed = self.destroyed = True
        self._meta = {}

    def stored(
        self, session_id: str, key: str | None, raw: bytes, sealed: bytes, meta: dict[str, Any]
    ) -> None:
        """Record a successful write under ``session_id`` (``key`` in the backend)."""
        self.session_id, self.store_key, self.raw, self.sealed = session_id, key, raw, sealed
        self._meta, self.rotate = meta, False

    def written(self, raw: bytes, sealed: bytes, meta: dict[str, Any], merged: bool) -> None:
        """Record a successful compare-and-set of the stored entry to ``sealed``."""
        self.raw, self.sealed, self._meta, self.merged = raw, sealed, meta, merged

    def indexed_as(self, user: str | None) -> None:
        """The per-user index now lists the session under ``user``."""
        self.loaded_user = user

    def signed(self, issued_at: int) -> None:
        """The cookie was (re-)signed at ``issued_at``."""
        self.issued_at, self.key_index = issued_at, 0

    def forgotten(self) -> None:
        """The stored session was deleted: the session is new again."""
        self.session_id = self.store_key = self.raw = self.sealed = None


class StatefulDict(dict[str, Any]):
    """A dict carrying its :class:`SessionState`: what the store needs to know of a session
    (:class:`~starlette_session.Session` is one; the store never imports it)."""

    __slots__ = ("state",)

    #: The library's bookkeeping for this session. Applications have no need to use it.
    state: SessionState
