"""The commit decision: what the end of a request does to its session. Pure: no I/O.

``plan_commit`` takes what loading found and the request did (the :class:`SessionState`), the
session's data, the response status and the time, and returns a :class:`CommitPlan`: which
backend writes to make and what the cookie becomes. ``commit.py`` carries the plan out. This is
the one place where the library's session semantics are written down:

- ``destroy()`` deletes the stored session even when the response is a 5xx; data written after
  it starts a new session under a new id.
- A session that could not be loaded (the backend was down, "anonymous" policy) is never saved;
  only a log-out still expires its cookie.
- A 5xx response (or an exception) saves nothing else, unless ``save_on_error``.
- An emptied session is deleted and its cookie expired; an empty new one is not stored at all.
  Pending flash messages count as content: a session holding only those is stored.
- An unchanged session writes nothing; its cookie is re-sent once half its Max-Age has passed, so
  that it does not lapse, and only if its id is still current. The cookie backend keeps the time
  of last use in the cookie, so with an idle timeout its cookie is re-signed on every request
  that uses it (at most once a second).
- A cookie whose session a log-in just moved to a new id reads as empty; a request that would
  write with it (or log out) is answered 409, so that it cannot replace the new cookie.
- A changed session is written with compare-and-set on the bytes loaded (``Write.REPLACE``).
- A new session, or one due a new id (``regenerate()``, an old signing key, undecodable data),
  is created under a fresh id (``Write.CREATE``); the old entry is retired after.
- A connection that cannot set a cookie (a WebSocket) only changes a session already stored
  server-side, with a compare-and-set: never a new session, a new id or a deletion (an emptied
  session is stored empty), nothing for the cookie backend, nothing past the absolute timeout.
"""

from __future__ import annotations

import base64
import enum
from dataclasses import dataclass
from typing import Any, NamedTuple

from starlette_session.exceptions import SessionDestroyedError, SessionWebSocketError
from starlette_session.records import RECORD_VERSION, encode_record
from starlette_session.state import FLASHES, SessionState

__all__ = ["CommitPlan", "CommitRules", "CookieAction", "Lifetimes", "Write", "plan_commit"]


@dataclass(frozen=True)
class Lifetimes:
    """The timeouts of a store and the Max-Age of its middleware's cookie."""

    idle_timeout: int | None
    absolute_timeout: int | None
    cookie_max_age: int | None

    def idle_limit(self, meta: dict[str, Any]) -> int | None:
        """Seconds a session lives unused: its own lifetime, else the store's idle timeout."""
        lifetime = meta.get("l")
        return lifetime if isinstance(lifetime, int) else self.idle_timeout

    def expired(self, meta: dict[str, Any], now: int) -> bool:
        """Whether the absolute timeout has ended the session (or it has no creation time)."""
        if self.absolute_timeout is None:
            return False
        created = meta.get("c")
        return not isinstance(created, int) or created + self.absolute_timeout <= now

    def lapsed(self, meta: dict[str, Any], issued_at: int, now: int) -> bool:
        """Cookie backend: whether the session went unused (unsigned) for longer than its limit."""
        limit = self.idle_limit(meta)
        return limit is not None and now - issued_at > limit

    def ttl(self, meta: dict[str, Any], now: int) -> int:
        """The backend time to live: the idle limit, within the absolute timeout."""
        ttl = self.idle_limit(meta)
        if self.absolute_timeout is not None:
            remaining = meta.get("c", now) + self.absolute_timeout - now
            ttl = remaining if ttl is None else min(ttl, remaining)
        return max(1, ttl or 1)

    def max_age(self, meta: dict[str, Any], now: int) -> int | None:
        """The cookie's Max-Age: the session's lifetime or the cookie's, within the absolute
        timeout; None for a browser-session cookie."""
        max_age = meta.get("l", self.cookie_max_age)
        if max_age is not None and self.absolute_timeout is not None:
            max_age = min(max_age, meta.get("c", now) + self.absolute_timeout - now)
        return max_age


class Write(enum.Enum):
    """The backend write a commit makes."""

    NONE = "none"
    #: Compare-and-set the stored entry from the bytes loaded to the new bytes.
    REPLACE = "replace"
    #: Store under a new id; a previously stored entry is retired after.
    CREATE = "create"


class CookieAction(enum.Enum):
    """What the response does with the session cookie."""

    KEEP = "keep"
    EXPIRE = "expire"
    #: Sign the id the new entry was created under.
    NEW_ID = "new id"
    #: Sign the current payload again (a fresh issued-at, a new Max-Age), after a write.
    RESIGN = "re-sign"
    #: Re-send an unchanged cookie before it lapses, if its session is still current.
    REFRESH = "refresh"
    #: Cookie backend: sign the encoded session itself.
    DATA = "data"


@dataclass(frozen=True)
class CommitRules:
    """The store's settings that the plan follows."""

    lifetimes: Lifetimes
    max_size: int | None
    save_on_error: bool
    #: The cookie backend: the data travels in the cookie, nothing is stored server-side.
    cookie_only: bool
    #: The bytes encryption adds to each stored record, counted against ``max_size``.
    overhead: int = 0


class CommitPlan(NamedTuple):
    """What to do at commit, in this order: delete, write, cookie."""

    #: Delete the entry that was loaded (and drop it from its user's index).
    delete_loaded: bool = False
    write: Write = Write.NONE
    raw: bytes | None = None
    meta: dict[str, Any] = {}  # noqa: RUF012 - never mutated: plans are read-only
    ttl: int = 0
    #: REPLACE: the session's user changed, so the per-user index must follow.
    user_changed: bool = False
    cookie: CookieAction = CookieAction.KEEP
    #: The cookie's Max-Age (None: a browser-session cookie).
    max_age: int | None = None
    #: What RESIGN, REFRESH or DATA signs.
    payload: str | None = None
    #: CREATE after ``regenerate(keep=...)``: concurrent changes merged in may only touch the
    #: keys this session kept.
    kept_only: bool = False

    @property
    def changes_anything(self) -> bool:
        """Whether carrying the plan out writes or deletes anything."""
        return (
            self.delete_loaded
            or self.write is not Write.NONE
            or self.cookie in (CookieAction.DATA, CookieAction.EXPIRE)
        )


MOVED_MESSAGE = (
    "this session was given a new id by another request (a log-in) while this one ran; its "
    "changes were not saved"
)
CREATE_MESSAGE = (
    "a WebSocket cannot create a session, since it cannot set the cookie: store something in "
    "the session in an HTTP request (a page or an API call) before the WebSocket opens"
)
COOKIE_ONLY_MESSAGE = (
    "the cookie backend keeps the session in the cookie, which a WebSocket cannot set: use a "
    "server-side backend to save from WebSockets, or change the session in an HTTP request"
)
ENDED_MESSAGE = (
    "this session ended (a log-out, a revocation, a timeout or a log-in elsewhere) while the "
    "WebSocket was open; its changes were not saved: close the WebSocket"
)
NOTHING = CommitPlan()
EXPIRE = CommitPlan(cookie=CookieAction.EXPIRE)


def plan_commit(
    state: SessionState,
    data: dict[str, Any],
    status: int,
    now: int,
    rules: CommitRules,
    *,
    sets_cookie: bool = True,
) -> CommitPlan:
    """Decide the commit of a loaded session whose response has ``status``; ``sets_cookie``
    False for a connection that cannot set a cookie (a WebSocket)."""
    if state.degraded:  # the backend was down at load: only a log-out's cookie goes out
        return CommitPlan(cookie=CookieAction.EXPIRE) if state.destroyed else NOTHING
    if not sets_cookie:
        return _without_cookie(state, data, now, rules)
    if state.moved:
        if data or state.destroyed:
            raise SessionDestroyedError(MOVED_MESSAGE)
        return NOTHING
    failed = status >= 500 and not rules.save_on_error
    existed = state.session_id is not None
    destroyed = state.destroyed and existed
    content = bool(data) or bool(state.meta.get(FLASHES))
    if destroyed:
        existed = False  # a log-out happens even on a 5xx
        if not content or failed:
            return CommitPlan(delete_loaded=True, cookie=CookieAction.EXPIRE)
    if not content:
        if existed and not failed:
            return CommitPlan(delete_loaded=True, cookie=CookieAction.EXPIRE)
        return NOTHING
    if failed:
        return NOTHING
    lifetimes = rules.lifetimes
    if existed and not (state.changed or state.rotate):
        return _refreshed(state, now, rules)
    meta = dict(state.meta)
    meta.setdefault("c", now)
    meta.setdefault("v", RECORD_VERSION)
    raw = encode_record(data, meta, rules.max_size, rules.overhead)
    max_age = lifetimes.max_age(meta, now)
    if rules.cookie_only:
        if existed and raw == state.raw and not state.rotate:
            return _refreshed(state, now, rules)
        # Sealed (``overhead``): the storage makes the payload from the sealed bytes.
        payload = "" if rules.overhead else base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return CommitPlan(
            raw=raw, meta=meta, cookie=CookieAction.DATA, max_age=max_age, payload=payload
        )
    ttl = lifetimes.ttl(meta, now)
    if existed and not state.rotate:
        if raw == state.raw:
            write, user_changed = Write.NONE, False
        else:
            write, user_changed = Write.REPLACE, meta.get("u") != state.loaded_user
        if state.lifetime_changed:  # the cookie must get the new Max-Age now
            cookie = CommitPlan(
                cookie=CookieAction.RESIGN, max_age=max_age, payload=state.session_id
            )
        else:
            cookie = _refreshed(state, now, rules)
        return CommitPlan(
            write=write,
            raw=raw,
            meta=meta,
            ttl=ttl,
            user_changed=user_changed,
            cookie=cookie.cookie,
            max_age=cookie.max_age,
            payload=cookie.payload,
        )
    return CommitPlan(
        delete_loaded=destroyed,
        write=Write.CREATE,
        raw=raw,
        meta=meta,
        ttl=ttl,
        cookie=CookieAction.NEW_ID,
        max_age=max_age,
        kept_only=state.keep is not None,
    )


def _without_cookie(
    state: SessionState, data: dict[str, Any], now: int, rules: CommitRules
) -> CommitPlan:
    """The commit of a connection that cannot set a cookie: a compare-and-set, or nothing."""
    if not state.changed:
        return NOTHING
    if state.ended:
        raise SessionDestroyedError(ENDED_MESSAGE)
    if rules.cookie_only:
        raise SessionWebSocketError(COOKIE_ONLY_MESSAGE)
    if state.is_new:
        if data or state.moved:
            raise SessionWebSocketError(CREATE_MESSAGE)
        return NOTHING
    meta = dict(state.meta)
    meta.setdefault("c", now)
    meta.setdefault("v", RECORD_VERSION)
    if rules.lifetimes.expired(meta, now):
        raise SessionDestroyedError(ENDED_MESSAGE)
    raw = encode_record(data, meta, rules.max_size, rules.overhead)
    if raw == state.raw:
        return NOTHING
    user_changed = meta.get("u") != state.loaded_user
    ttl = rules.lifetimes.ttl(meta, now)
    return CommitPlan(write=Write.REPLACE, raw=raw, meta=meta, ttl=ttl, user_changed=user_changed)


def _refreshed(state: SessionState, now: int, rules: CommitRules) -> CommitPlan:
    """Re-send an unchanged cookie before it lapses."""
    lifetimes = rules.lifetimes
    meta = state.meta
    max_age = lifetimes.max_age(meta, now)
    if rules.cookie_only and lifetimes.idle_limit(meta) is not None:
        # The cookie's issued-at is the time of last use: the idle timeout slides with it.
        due = now > state.issued_at
    else:
        due = max_age is not None and now - state.issued_at >= max_age // 2
    if not due:
        return NOTHING
    return CommitPlan(cookie=CookieAction.REFRESH, max_age=max_age, payload=state.session_id)
