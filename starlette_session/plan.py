"""The commit decision: what the end of a request does to its session. Pure: no I/O.

``plan_commit`` takes the :class:`SessionState`, the data, the response status and the time,
and returns a :class:`CommitPlan`, which ``storage`` carries out. The session semantics, all here:

- ``destroy()`` deletes the stored session even on a 5xx; data written after it starts a new
  session under a new id.
- A session that could not be loaded (backend down, "anonymous" policy) is never saved; only a
  log-out still expires its cookie.
- A 5xx response (or an exception) saves nothing else, unless ``save_on_error``.
- An emptied session is deleted and its cookie expired; an empty new one is not stored. Pending
  flash messages count as content.
- An unchanged session writes nothing; its cookie is re-sent once half its Max-Age has passed
  (the cookie backend, with an idle timeout: on every use, at most once a second).
- A cookie whose session a log-in just moved to a new id reads as empty; writing with it (or
  logging out) is answered 409, so that it cannot replace the new cookie.
- A changed session is written with compare-and-set on the bytes loaded (``Write.REPLACE``); a
  new one, or one due a new id (``regenerate()``, an old signing key, undecodable data), is
  created under a fresh id (``Write.CREATE``), the old entry retired after.
- A connection that cannot set a cookie (a WebSocket) only compare-and-sets a session already
  stored server-side: never a new session, a new id or a deletion (an emptied session is stored
  empty), nothing for the cookie backend, nothing past the absolute timeout.
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
        """The cookie's Max-Age (None: a browser-session cookie), within the absolute timeout."""
        max_age = meta.get("l", self.cookie_max_age)
        if max_age is not None and self.absolute_timeout is not None:
            max_age = min(max_age, meta.get("c", now) + self.absolute_timeout - now)
        return max_age


class Write(enum.Enum):
    """The backend write: none, ``REPLACE`` (compare-and-set from the bytes loaded) or
    ``CREATE`` (under a new id; an entry stored before is retired after)."""

    NONE = "none"
    REPLACE = "replace"
    CREATE = "create"


class CookieAction(enum.Enum):
    """What the response does with the cookie: ``NEW_ID`` signs the id just created,
    ``RESIGN`` the current payload after a write, ``REFRESH`` re-sends an unchanged cookie
    before it lapses (if still current), ``DATA`` signs the session itself (cookie backend)."""

    KEEP = "keep"
    EXPIRE = "expire"
    NEW_ID = "new id"
    RESIGN = "re-sign"
    REFRESH = "refresh"
    DATA = "data"


@dataclass(frozen=True)
class CommitRules:
    """The store's settings that the plan follows (``cookie_only``: the cookie backend;
    ``overhead``: the bytes encryption adds to a record, counted against ``max_size``)."""

    lifetimes: Lifetimes
    max_size: int | None
    save_on_error: bool
    cookie_only: bool
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
    max_age: int | None = None
    #: What RESIGN, REFRESH or DATA signs.
    payload: str | None = None
    #: CREATE after ``regenerate(keep=...)``: merged concurrent changes may touch only kept keys.
    kept_only: bool = False

    @property
    def changes_anything(self) -> bool:
        """Whether carrying the plan out writes or deletes anything."""
        return (
            self.delete_loaded
            or self.write is not Write.NONE
            or self.cookie in (CookieAction.DATA, CookieAction.EXPIRE)
        )


NOTHING = CommitPlan()
EXPIRE = CommitPlan(cookie=CookieAction.EXPIRE)
DELETE = CommitPlan(delete_loaded=True, cookie=CookieAction.EXPIRE)
ENDED = (
    "this session ended (a log-out, a revocation, a timeout or a log-in elsewhere) while the "
    "WebSocket was open; its changes were not saved: close the WebSocket"
)


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
        return EXPIRE if state.destroyed else NOTHING
    if not sets_cookie:
        return _without_cookie(state, data, now, rules)
    if state.moved:
        if data or state.destroyed:
            raise SessionDestroyedError(
                "this session was given a new id by another request (a log-in) while this one "
                "ran; its changes were not saved"
            )
        return NOTHING
    failed = status >= 500 and not rules.save_on_error
    existed = state.session_id is not None
    destroyed = state.destroyed and existed
    if failed or (not data and not state.meta.get(FLASHES)):
        # A log-out happens even on a 5xx; an emptied session is deleted.
        return DELETE if destroyed or (existed and not failed) else NOTHING
    existed = existed and not destroyed
    if existed and not (state.changed or state.rotate):
        return _refreshed(state, now, rules)
    meta = dict(state.meta)
    meta.setdefault("c", now)
    meta.setdefault("v", RECORD_VERSION)
    raw = encode_record(data, meta, rules.max_size, rules.overhead)
    max_age = rules.lifetimes.max_age(meta, now)
    if rules.cookie_only:
        if existed and raw == state.raw and not state.rotate:
            return _refreshed(state, now, rules)
        # Sealed (``overhead``): the storage makes the payload from the sealed bytes.
        value = "" if rules.overhead else base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return CommitPlan(
            raw=raw, meta=meta, cookie=CookieAction.DATA, max_age=max_age, payload=value
        )
    ttl = rules.lifetimes.ttl(meta, now)
    if existed and not state.rotate:
        write = Write.NONE if raw == state.raw else Write.REPLACE
        user_changed = write is Write.REPLACE and meta.get("u") != state.loaded_user
        if state.lifetime_changed:  # the cookie must get the new Max-Age now
            cookie, payload = CookieAction.RESIGN, state.session_id
        else:
            refresh = _refreshed(state, now, rules)
            cookie, max_age, payload = refresh.cookie, refresh.max_age, refresh.payload
    else:
        write, user_changed, cookie, payload = Write.CREATE, False, CookieAction.NEW_ID, None
    return CommitPlan(
        delete_loaded=destroyed,
        write=write,
        raw=raw,
        meta=meta,
        ttl=ttl,
        user_changed=user_changed,
        cookie=cookie,
        max_age=max_age,
        payload=payload,
        kept_only=write is Write.CREATE and state.keep is not None,
    )


def _without_cookie(
    state: SessionState, data: dict[str, Any], now: int, rules: CommitRules
) -> CommitPlan:
    """The commit of a connection that cannot set a cookie: a compare-and-set, or nothing."""
    if not state.changed:
        return NOTHING
    if state.ended:
        raise SessionDestroyedError(ENDED)
    if rules.cookie_only:
        raise SessionWebSocketError(
            "the cookie backend keeps the session in the cookie, which a WebSocket cannot set: "
            "use a server-side backend to save from WebSockets, or change the session in an HTTP "
            "request"
        )
    if state.is_new:
        if data or state.moved:
            raise SessionWebSocketError(
                "a WebSocket cannot create a session, since it cannot set the cookie: store "
                "something in the session in an HTTP request (a page or an API call) before the "
                "WebSocket opens"
            )
        return NOTHING
    meta = dict(state.meta)
    meta.setdefault("c", now)
    meta.setdefault("v", RECORD_VERSION)
    if rules.lifetimes.expired(meta, now):
        raise SessionDestroyedError(ENDED)
    raw = encode_record(data, meta, rules.max_size, rules.overhead)
    if raw == state.raw:
        return NOTHING
    user_changed = meta.get("u") != state.loaded_user
    ttl = rules.lifetimes.ttl(meta, now)
    return CommitPlan(write=Write.REPLACE, raw=raw, meta=meta, ttl=ttl, user_changed=user_changed)


def _refreshed(state: SessionState, now: int, rules: CommitRules) -> CommitPlan:
    """Re-send an unchanged cookie before it lapses."""
    lifetimes, meta = rules.lifetimes, state.meta
    max_age = lifetimes.max_age(meta, now)
    if rules.cookie_only and lifetimes.idle_limit(meta) is not None:
        due = now > state.issued_at  # the issued-at is the last use: the idle timeout slides
    else:
        due = max_age is not None and now - state.issued_at >= max_age // 2
    if not due:
        return NOTHING
    return CommitPlan(cookie=CookieAction.REFRESH, max_age=max_age, payload=state.session_id)
