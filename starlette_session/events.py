"""Session events, told to the application after the fact, and the operations observers see.

``store.on(event, handler)``: a handler (sync or async) is called with a
:class:`SessionEventInfo` once the operation that noted the event (a load, a commit, a WebSocket
save, a revocation) is over, never between two backend calls; one that raises is logged and
skipped. ``store.observe(observer)`` (what ``telemetry`` uses) sees each operation start and end.
Observing changes nothing: an operation is a context around the store's one usual call, which
tells what happened by comparing the session's state before and after. Without a handler or
observer nothing here runs: the request path checks :attr:`SessionEvents.active` first.
"""

from __future__ import annotations

import enum
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from types import TracebackType
from typing import Any, NamedTuple, Protocol

from starlette_session.exceptions import (
    SessionBackendError,
    SessionConflictError,
    SessionDestroyedError,
)
from starlette_session.state import SessionState

logger = logging.getLogger("starlette_session")


class SessionEvent(enum.Enum):
    """What can happen to a session; each event's ``reason`` values are in docs/operations.md."""

    #: A new session was stored (it got its first id).
    created = "created"
    #: A stored session was read for a request (or a WebSocket).
    loaded = "loaded"
    #: A changed session was written back under the same id.
    saved = "saved"
    #: A session was stored under a new id: ``regenerate()`` (log-in) or an old signing key.
    rotated = "rotated"
    #: A session was deleted by its request: ``destroy()`` (log-out), or emptied.
    destroyed = "destroyed"
    #: A session was ended from elsewhere: a revocation, or a log-in beyond the user's cap.
    revoked = "revoked"
    #: A signed cookie named a session that had ended: timed out, or gone from the store.
    expired = "expired"
    #: Another request changed or ended the session first: merged, or refused (409).
    conflict = "conflict"
    #: The backend failed (reason: the operation, ``load``, ``commit``, ``save``).
    backend_error = "backend_error"
    #: A cookie that failed verification, or an encrypted session that did not open.
    tampered = "tampered"


class SessionEventInfo(NamedTuple):
    """What a handler is told. Never the session id or the cookie."""

    event: SessionEvent
    #: The session's store key: a keyed hash of its id, which cannot be made into a cookie.
    key: str | None
    #: The session's user (``session.set_user``), when known.
    user: str | None
    #: Why, in a few fixed words (for example ``"regenerate"``, ``"merged"``, ``"absolute"``).
    reason: str | None = None


#: A handler: called with the event's info; may be a coroutine function.
Handler = Callable[[SessionEventInfo], Awaitable[None] | None]


class OperationObserver(Protocol):
    """Sees each operation start and end (synchronously: keep it quick)."""

    def started(self, operation: Operation) -> Any:
        """Called before any backend call; may set ``operation.first_call``. The value it
        returns is handed to ``finished``."""

    def finished(self, operation: Operation, token: Any) -> None:
        """Called once the operation is over, its ``outcome`` and ``duration`` set."""


_current: ContextVar[Operation | None] = ContextVar("starlette_session_operation", default=None)
#: Load outcomes named after an event noted while loading, the first found.
_LOAD_OUTCOMES = {SessionEvent.tampered: "tampered", SessionEvent.expired: "expired"}


class Operation:
    """A load, commit or WebSocket save of one session as observers see it, and the context
    (``async with``) that runs it: what it did is told by comparing the state before and after."""

    __slots__ = (
        "before",
        "duration",
        "error",
        "events",
        "first_call",
        "name",
        "noted",
        "observed",
        "outcome",
        "round_trips",
        "started",
        "state",
        "token",
    )

    def __init__(self, events: SessionEvents, name: str, state: SessionState) -> None:
        self.events, self.name, self.state = events, name, state
        self.before = (
            state.session_id,
            state.store_key,
            state.raw,
            state.loaded_user,
            state.destroyed,
            state.key_index,
        )
        #: How it ended, in one word (``found``, ``saved``, ``conflict``...); set when over.
        self.outcome = "ok"
        #: The exception it raised, if any.
        self.error: BaseException | None = None
        #: Backend calls made (each one round trip for Redis, SQL, memcached).
        self.round_trips = 0
        #: The events noted while it ran, handed to the handlers when it is over.
        self.noted: list[SessionEventInfo] = []
        #: Seconds it took; set when over.
        self.duration = 0.0
        #: Called just before its first backend call, if any (set by an observer).
        self.first_call: Callable[[], None] | None = None

    async def __aenter__(self) -> Operation:
        self.token = _current.set(self)
        self.observed: list[tuple[OperationObserver, Any]] = []
        for observer in self.events.observers:
            try:
                self.observed.append((observer, observer.started(self)))
            except Exception as error:
                _observer_failed(error)
        self.started = time.perf_counter()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.duration = time.perf_counter() - self.started
        _current.reset(self.token)
        if error is not None:
            self.error, self.outcome = error, _failure(error)
            if isinstance(error, SessionDestroyedError | SessionConflictError):
                if isinstance(error, SessionConflictError):
                    reason = "refused"
                else:
                    reason = "moved" if self.state.moved else "ended"
                key, user = self.before[1], self.before[3]
                self.noted.append(SessionEventInfo(SessionEvent.conflict, key, user, reason))
        elif self.name == "load":
            self.outcome = self._loaded()
        else:
            derived = self._derived()
            if any(info.event is SessionEvent.backend_error for info in self.noted):
                self.outcome = "backend_error"  # logged, not raised
            else:
                self.outcome = derived[-1].event.value if derived else "unchanged"
            self.noted.extend(derived)
        for observer, value in self.observed:
            try:
                observer.finished(self, value)
            except Exception as failure:
                _observer_failed(failure)
        if self.noted and (error is None or isinstance(error, Exception)):  # not cancelled
            await self.events.emit(self.noted)

    def _loaded(self) -> str:
        state = self.state
        if state.degraded:
            return "degraded"
        if state.moved:
            return "moved"
        if state.session_id is not None:
            self.noted.append(SessionEventInfo(SessionEvent.loaded, state.store_key, state.user))
            return "found"
        noted = {info.event for info in self.noted}
        return next((name for event, name in _LOAD_OUTCOMES.items() if event in noted), "new")

    def _derived(self) -> list[SessionEventInfo]:
        """The events of a commit that left the state as it is now."""
        state, found = self.state, []
        old_id, old_key, raw, user, destroyed, key_index = self.before
        new_id = state.session_id
        if old_id is not None and (new_id is None or (destroyed and new_id != old_id)):
            reason = "destroy" if destroyed else "emptied"
            found.append(SessionEventInfo(SessionEvent.destroyed, old_key, user, reason))
            old_id = None
        if new_id is None or (new_id == old_id and state.raw is raw):
            return found
        if old_id is None:
            found.append(SessionEventInfo(SessionEvent.created, state.store_key, state.user))
        elif state.store_key != old_key:  # a new id (the cookie backend's id is its data)
            reason = "signing key" if key_index else "regenerate"
            info = SessionEventInfo(SessionEvent.rotated, state.store_key, state.user, reason)
            found.append(info)
        else:
            found.append(SessionEventInfo(SessionEvent.saved, state.store_key, state.user))
        return found


def note(event: SessionEvent, key: str | None, user: str | None, reason: str | None = None) -> None:
    """Record ``event`` for the operation under way; its handlers run when it is over."""
    operation = _current.get()
    if operation is not None:
        operation.noted.append(SessionEventInfo(event, key, user, reason))


def count_round_trip() -> None:
    """Count one backend call for the operation under way (called only while observed)."""
    operation = _current.get()
    if operation is not None:
        operation.round_trips += 1
        if operation.first_call is not None:
            first_call, operation.first_call = operation.first_call, None
            try:
                first_call()
            except Exception as error:
                _observer_failed(error)


class SessionEvents:
    """The handlers and observers of one store."""

    def __init__(self) -> None:
        #: Whether any handler or observer is registered: the one attribute the hot path checks.
        self.active = False
        #: Whether any observer is registered (the code calling the backend then counts calls).
        self.observed = False
        self.handlers: dict[SessionEvent, list[Handler]] = {}
        self.observers: list[OperationObserver] = []

    def on(self, event: SessionEvent, handler: Handler) -> None:
        """Call ``handler`` after each ``event``."""
        if not isinstance(event, SessionEvent):
            raise TypeError(f"on() takes a SessionEvent, such as SessionEvent.created: {event!r}")
        if not callable(handler):
            raise TypeError("a session event handler must be callable")
        self.handlers.setdefault(event, []).append(handler)
        self.active = True

    def observe(self, observer: OperationObserver) -> None:
        """Tell ``observer`` when each operation starts and finishes."""
        self.observers.append(observer)
        self.active = self.observed = True

    def operation(self, name: str, state: SessionState) -> Operation:
        """``async with events.operation("load", state):`` around a load (or a ``commit``, a
        WebSocket ``save``) of the session whose state is ``state``."""
        return Operation(self, name, state)

    async def emit(self, infos: list[SessionEventInfo]) -> None:
        """Run the handlers of ``infos``, in order; a failing handler is logged and skipped."""
        for info in infos:
            for handler in self.handlers.get(info.event, ()):
                try:
                    result = handler(info)
                    if result is not None and inspect.isawaitable(result):
                        await result
                except Exception as error:  # the traceback, not the ids: handlers have none
                    logger.error(
                        "a handler of the session event %r raised %s",
                        info.event.value,
                        type(error).__name__,
                        exc_info=error,
                    )


def _observer_failed(error: Exception) -> None:
    logger.error("a session observer raised %s", type(error).__name__, exc_info=error)


def _failure(error: BaseException) -> str:
    if isinstance(error, SessionBackendError):
        return "backend_error"
    if isinstance(error, SessionDestroyedError | SessionConflictError):
        return "conflict"
    return "error" if isinstance(error, Exception) else "cancelled"
