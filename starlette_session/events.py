"""Session events: what happened to which session, told to the application after the fact.

``store.on(SessionEvent.created, handler)`` registers a handler, sync or async, called with a
:class:`SessionEventInfo`: the event, the opaque store key (a keyed hash, never the session id
or the cookie), the user when known, and a short reason. The library notes events while an
operation (a load, a commit, a WebSocket save or refresh, a revocation) runs and calls the
handlers once it is over, never between two backend calls of a commit; a handler that raises is
logged on the ``starlette_session`` logger and never fails the request.

Observers (``store.observe()``, what ``starlette_session.telemetry`` uses) see each operation
start and finish, with its outcome, duration and number of backend calls.

Observing changes nothing: the store runs the same load and commit inside
``events.operation(...)``, a context that only watches (no backend is wrapped, nothing is called
twice). Nothing here runs when no handler or observer is registered: the store checks one
attribute (:attr:`SessionEvents.active`) before each operation, and every other emission site
checks it too, so a store without handlers does no extra call and no extra allocation.
"""

from __future__ import annotations

import enum
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, NamedTuple, Protocol

from starlette_session.exceptions import (
    SessionBackendError,
    SessionConflictError,
    SessionDestroyedError,
)
from starlette_session.state import SessionState

__all__ = [
    "Handler",
    "Observed",
    "Operation",
    "OperationObserver",
    "SessionEvent",
    "SessionEventInfo",
    "SessionEvents",
    "count_round_trip",
    "note",
]

logger = logging.getLogger("starlette_session")


class SessionEvent(enum.Enum):
    """What can happen to a session. ``reason`` values are listed in ``docs/operations.md``."""

    #: A new session was stored (it got its first id).
    created = "created"
    #: A stored session was read for a request (or a WebSocket).
    loaded = "loaded"
    #: A changed session was written back (compare-and-set), under the same id.
    saved = "saved"
    #: A session was stored under a new id: ``regenerate()`` (log-in) or an old signing key.
    rotated = "rotated"
    #: A session was deleted by its request: ``destroy()`` (log-out), or emptied.
    destroyed = "destroyed"
    #: A session was ended from elsewhere: ``revoke_user_sessions``, ``revoke_session``, or a
    #: log-in beyond ``max_user_sessions``.
    revoked = "revoked"
    #: A signed cookie named a session that had ended: timed out, or gone from the store.
    expired = "expired"
    #: Another request changed or ended the session first: merged, or refused (409).
    conflict = "conflict"
    #: The backend failed (reason: the operation, ``load``, ``commit``, ``save``...).
    backend_error = "backend_error"
    #: A session cookie that failed verification (bad signature, malformed), or an encrypted
    #: session that did not open (changed, moved, its key removed, plain when refused).
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


class Operation:
    """One load, commit, save, refresh or revocation, as observers see it."""

    __slots__ = (
        "duration",
        "error",
        "first_call",
        "name",
        "noted",
        "outcome",
        "round_trips",
        "started",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        #: How it ended, in one word (``found``, ``saved``, ``conflict``...); set when over.
        self.outcome = "ok"
        #: The exception it raised, if any.
        self.error: BaseException | None = None
        #: Backend calls made (each one round trip for Redis, SQL, memcached).
        self.round_trips = 0
        #: The events noted while it ran, handed to the handlers when it is over.
        self.noted: list[SessionEventInfo] = []
        self.started = time.perf_counter()
        #: Seconds it took; set when over.
        self.duration = 0.0
        #: Called just before the first backend call, if any (an observer sets it in
        #: ``started``: a span begun only for operations that reach the backend).
        self.first_call: Callable[[], None] | None = None

    def noted_events(self) -> set[SessionEvent]:
        """The kinds of event noted so far."""
        return {info.event for info in self.noted}


class OperationObserver(Protocol):
    """Sees each operation start and finish (synchronously: keep it quick)."""

    def started(self, operation: Operation) -> Any:
        """Called as the operation starts, before any backend call; the value goes to
        ``finished``. It may set ``operation.first_call``."""

    def finished(self, operation: Operation, token: Any) -> None:
        """Called once the operation is over (its ``outcome`` and ``duration`` set)."""


#: The observers told of an operation's start, with what each returned.
Started = list[tuple[OperationObserver, Any]]
_current: ContextVar[Operation | None] = ContextVar("starlette_session_operation", default=None)


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
        # Instance attributes, not class defaults: the interpreter reads those fastest.
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

    def operation(self, name: str, state: SessionState) -> Observed:
        """``async with events.operation("load", state):`` around a load, a commit (``commit``)
        or a WebSocket save (``save``) of the session whose state is ``state``: observers see it
        start and end, and the handlers run once it is over."""
        return Observed(self, name, state)

    def begin(self, name: str) -> tuple[Operation, Token[Operation | None], Started]:
        """Start observing an operation in this context."""
        operation = Operation(name)
        token = _current.set(operation)
        started: Started = []
        for observer in self.observers:
            try:
                started.append((observer, observer.started(operation)))
            except Exception as error:
                _observer_failed(error)
        return operation, token, started

    async def end(
        self, operation: Operation, token: Token[Operation | None], started: Started
    ) -> None:
        """Finish an operation: tell the observers, then run the handlers of its events."""
        operation.duration = time.perf_counter() - operation.started
        _current.reset(token)
        for observer, value in started:
            try:
                observer.finished(operation, value)
            except Exception as error:
                _observer_failed(error)
        raised = operation.error
        if operation.noted and (raised is None or isinstance(raised, Exception)):  # not cancelled
            await self.emit(operation.noted)

    async def emit(self, infos: list[SessionEventInfo]) -> None:
        """Run the handlers of ``infos``, in order; a failing handler is logged and skipped."""
        for info in infos:
            for handler in self.handlers.get(info.event, ()):
                try:
                    result = handler(info)
                    if result is not None and inspect.isawaitable(result):
                        await result
                except Exception as error:
                    # The traceback, not the ids: handlers are never given a session id.
                    logger.error(
                        "a handler of the session event %r raised %s",
                        info.event.value,
                        type(error).__name__,
                        exc_info=error,
                    )


def _observer_failed(error: Exception) -> None:
    logger.error("a session observer raised %s", type(error).__name__, exc_info=error)


#: Load outcomes named after the event noted while loading.
_LOAD_OUTCOMES = {SessionEvent.tampered: "tampered", SessionEvent.expired: "expired"}


class Observed:
    """An operation on one session as events see it: what it did is told by comparing the
    session's state before and after (``created``, ``saved``, ``rotated``, ``destroyed``)."""

    __slots__ = (
        "destroyed",
        "events",
        "key",
        "key_index",
        "name",
        "operation",
        "raw",
        "session_id",
        "started",
        "state",
        "token",
        "user",
    )

    def __init__(self, events: SessionEvents, name: str, state: SessionState) -> None:
        self.events, self.name, self.state = events, name, state
        self.session_id, self.key, self.raw = state.session_id, state.store_key, state.raw
        self.user, self.destroyed, self.key_index = (
            state.loaded_user,
            state.destroyed,
            state.key_index,
        )

    async def __aenter__(self) -> Operation:
        self.operation, self.token, self.started = self.events.begin(self.name)
        return self.operation

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        operation, state = self.operation, self.state
        try:
            if error is not None:
                operation.error = error
                operation.outcome = _failure(error)
                if isinstance(error, SessionDestroyedError | SessionConflictError):
                    reason = _conflict_reason(error, state)
                    operation.noted.append(
                        SessionEventInfo(SessionEvent.conflict, self.key, self.user, reason)
                    )
            elif self.name == "load":
                self._loaded(operation, state)
            else:
                derived = self._derived(state)
                if operation.noted and SessionEvent.backend_error in operation.noted_events():
                    operation.outcome = "backend_error"  # logged, not raised
                else:
                    operation.outcome = derived[-1].event.value if derived else "unchanged"
                operation.noted.extend(derived)
        finally:
            await self.events.end(operation, self.token, self.started)

    @staticmethod
    def _loaded(operation: Operation, state: SessionState) -> None:
        if state.degraded:
            operation.outcome = "degraded"
        elif state.moved:
            operation.outcome = "moved"
        elif state.session_id is not None:
            operation.outcome = "found"
            operation.noted.append(
                SessionEventInfo(SessionEvent.loaded, state.store_key, state.user)
            )
        else:
            noted = operation.noted_events()
            found = [outcome for event, outcome in _LOAD_OUTCOMES.items() if event in noted]
            operation.outcome = found[0] if found else "new"

    def _derived(self, state: SessionState) -> list[SessionEventInfo]:
        """The events of a commit that left ``state`` as it is now."""
        found: list[SessionEventInfo] = []
        old_id, new_id = self.session_id, state.session_id
        if old_id is not None and (new_id is None or (self.destroyed and new_id != old_id)):
            reason = "destroy" if self.destroyed else "emptied"
            found.append(SessionEventInfo(SessionEvent.destroyed, self.key, self.user, reason))
            old_id = None
        if new_id is None or (new_id == old_id and state.raw is self.raw):
            return found
        key, user = state.store_key, state.user
        if old_id is None:
            found.append(SessionEventInfo(SessionEvent.created, key, user))
        elif key != self.key:  # a new id (the cookie backend has no key: its id is its data)
            reason = "signing key" if self.key_index else "regenerate"
            found.append(SessionEventInfo(SessionEvent.rotated, key, user, reason))
        else:
            found.append(SessionEventInfo(SessionEvent.saved, key, user))
        return found


def _failure(error: BaseException) -> str:
    if isinstance(error, SessionBackendError):
        return "backend_error"
    if isinstance(error, SessionDestroyedError | SessionConflictError):
        return "conflict"
    return "error" if isinstance(error, Exception) else "cancelled"


def _conflict_reason(error: BaseException, state: SessionState) -> str:
    if isinstance(error, SessionConflictError):
        return "refused"
    return "moved" if state.moved else "ended"
