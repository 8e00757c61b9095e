"""Session events, told to the application after the fact, and the operations observers see.

An operation (a load, a commit, a WebSocket save) is a context around the store's one usual
call that tells what happened by comparing the session's state before and after; the handlers
of its events run once it is over. Without a handler or observer nothing here runs.
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
    """What can happen to a session: ``created`` (stored with its first id), ``loaded``,
    ``saved`` (written back), ``rotated`` (a new id: a log-in, an old signing key),
    ``destroyed`` (by its request), ``revoked`` (from elsewhere), ``expired`` (the cookie of an
    ended session), ``conflict`` (another request changed it first), ``backend_error`` and
    ``tampered`` (a cookie or sealed value that failed verification). docs/operations.md says
    when each happens, with its ``reason`` values."""

    created = "created"
    loaded = "loaded"
    saved = "saved"
    rotated = "rotated"
    destroyed = "destroyed"
    revoked = "revoked"
    expired = "expired"
    conflict = "conflict"
    backend_error = "backend_error"
    tampered = "tampered"

    # By identity, as members compare: Enum's own hash is Python code, run for each event.
    __hash__ = object.__hash__


class SessionEventInfo(NamedTuple):
    """What a handler is told: the event, the session's store key (a keyed hash of its id,
    never the id or the cookie), its user when known, and why in a few fixed words."""

    event: SessionEvent
    key: str | None
    user: str | None
    reason: str | None = None


#: A handler: called with the event's info; may be a coroutine function.
Handler = Callable[[SessionEventInfo], Awaitable[None] | None]


class OperationObserver(Protocol):
    """Sees each operation start and end, synchronously: keep it quick. The operations are
    every load and every commit or save that has something to do (a commit whose plan is to do
    nothing, as after a request that only read its session, is none)."""

    def started(self, operation: Operation) -> Any:
        """Before any backend call; may set ``operation.first_call``. Returns ``token``."""

    def finished(self, operation: Operation, token: Any) -> None:
        """Once the operation is over, its ``outcome`` and ``duration`` set."""


_current: ContextVar[Operation | None] = ContextVar("starlette_session_operation", default=None)


class Operation:
    """A load, commit or WebSocket save (``name``) as observers see it, never with an id:
    ``outcome`` (one word: ``found``, ``saved``, ``conflict``...), ``error``, ``round_trips``
    (backend calls), ``duration`` (seconds), ``noted`` (its events, handed to the handlers at
    the end); ``first_call``, if an observer sets it, is called just before the first backend
    call."""

    __slots__ = ("duration", "error", "first_call", "name", "noted", "outcome", "round_trips")

    def __init__(self, name: str) -> None:
        self.name, self.outcome, self.round_trips, self.duration = name, "ok", 0, 0.0
        self.error: BaseException | None = None
        self.noted: list[SessionEventInfo] = []
        self.first_call: Callable[[], None] | None = None


class Observed:
    """``async with`` around an operation on the session of ``state``: tells what it did by
    comparing the state before and after, the observers when it starts and ends, then the
    handlers."""

    __slots__ = (
        "before",
        "events",
        "key_index",
        "observed",
        "operation",
        "started",
        "state",
        "token",
        "was_destroyed",
    )

    def __init__(self, events: SessionEvents, name: str, state: SessionState) -> None:
        self.events, self.state, self.operation = events, state, Operation(name)
        self.observed: list[tuple[OperationObserver, Any]] | tuple[()] = ()
        self.before = (state.session_id, state.store_key, state.raw, state.loaded_user)
        self.was_destroyed, self.key_index = state.destroyed, state.key_index

    async def __aenter__(self) -> Operation:
        operation = self.operation
        self.token = _current.set(operation)
        if self.events.observers:
            observed = self.observed = []
            for observer in self.events.observers:
                try:
                    observed.append((observer, observer.started(operation)))
                except Exception as error:
                    _failed("a session observer", error)
        self.started = time.perf_counter()
        return operation

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        operation, noted = self.operation, self.operation.noted
        operation.duration = time.perf_counter() - self.started
        _current.reset(self.token)
        if error is None:
            if operation.name == "load":
                operation.outcome = self._loaded(noted)
            else:
                derived = self._derived()
                if noted and any(info.event is SessionEvent.backend_error for info in noted):
                    operation.outcome = "backend_error"  # logged, not raised
                else:
                    operation.outcome = derived[-1].event.value if derived else "unchanged"
                noted += derived
        else:
            operation.error = error
            if isinstance(error, _CONFLICTS):
                operation.outcome, ended = "conflict", "moved" if self.state.moved else "ended"
                reason = "refused" if isinstance(error, SessionConflictError) else ended
                _, key, _, user = self.before
                noted.append(SessionEventInfo(SessionEvent.conflict, key, user, reason))
            elif isinstance(error, SessionBackendError):
                operation.outcome = "backend_error"
            else:
                operation.outcome = "error" if isinstance(error, Exception) else "cancelled"
        for observer, token in self.observed:
            try:
                observer.finished(operation, token)
            except Exception as failure:
                _failed("a session observer", failure)
        if noted and (error is None or isinstance(error, Exception)):  # not when cancelled
            await self.events.emit(noted)

    def _loaded(self, noted: list[SessionEventInfo]) -> str:
        state = self.state
        if state.degraded or state.moved:
            return "degraded" if state.degraded else "moved"
        if state.session_id is not None:
            noted.append(SessionEventInfo(SessionEvent.loaded, state.store_key, state.user))
            return "found"
        events = {info.event for info in noted}
        return next((event.value for event in _NEW if event in events), "new")

    def _derived(self) -> list[SessionEventInfo]:
        """The events of a commit that left the state as it is now."""
        state, found = self.state, []
        old_id, old_key, raw, user = self.before
        new_id, new_key, destroyed = state.session_id, state.store_key, self.was_destroyed
        if old_id is not None and (new_id is None or (destroyed and new_id != old_id)):
            reason = "destroy" if destroyed else "emptied"
            found.append(SessionEventInfo(SessionEvent.destroyed, old_key, user, reason))
            old_id = None
        if new_id is None or (new_id == old_id and state.raw is raw):
            return found
        event, why = SessionEvent.saved, None
        if old_id is None:
            event = SessionEvent.created
        elif new_key != old_key:  # a new id (the cookie backend's id is its data)
            event, why = SessionEvent.rotated, "signing key" if self.key_index else "regenerate"
        found.append(SessionEventInfo(event, new_key, state.user, why))
        return found


_CONFLICTS = (SessionConflictError, SessionDestroyedError)
#: Events noted while loading that name the outcome of a load that found nothing, the first.
_NEW = (SessionEvent.tampered, SessionEvent.expired)


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
                _failed("a session observer", error)


class SessionEvents:
    """The handlers and observers of one store."""

    def __init__(self) -> None:
        #: Whether any handler or observer is registered: the one attribute the hot path checks.
        self.active = False
        #: Whether any observer is registered (the code calling the backend then counts calls).
        self.observed = False
        self.handlers: dict[SessionEvent, list[Handler]] = {}
        self.observers: list[OperationObserver] = []
        self.tallies: list[Callable[[list[SessionEventInfo]], None]] = []

    def on(self, event: SessionEvent, handler: Handler) -> None:
        """Call ``handler`` after each ``event``."""
        if not isinstance(event, SessionEvent):
            raise TypeError(f"on() takes a SessionEvent, such as SessionEvent.created: {event!r}")
        if not callable(handler):
            raise TypeError("a session event handler must be callable")
        self.handlers.setdefault(event, []).append(handler)
        self.active = True

    def tally(self, counter: Callable[[list[SessionEventInfo]], None]) -> None:
        """Give ``counter`` every batch of events the handlers get, before them, in one
        synchronous call (telemetry counts them so, at a fraction of a handler's cost)."""
        self.tallies.append(counter)
        self.active = True

    def observe(self, observer: OperationObserver) -> None:
        """Tell ``observer`` when each operation starts and finishes."""
        self.observers.append(observer)
        self.active = self.observed = True

    def operation(self, name: str, state: SessionState) -> Observed:
        """``async with events.operation("load", state):`` around a load (or a ``commit``, a
        WebSocket ``save``) of the session whose state is ``state``."""
        return Observed(self, name, state)

    async def emit(self, infos: list[SessionEventInfo]) -> None:
        """Give ``infos`` to the tallies, then run their handlers in order; a failing tally or
        handler is logged and skipped."""
        for counter in self.tallies:
            try:
                counter(infos)
            except Exception as error:
                _failed("a session event tally", error)
        if not self.handlers:
            return
        for info in infos:
            for handler in self.handlers.get(info.event, ()):
                try:
                    result = handler(info)
                    if result is not None and inspect.isawaitable(result):
                        await result
                except Exception as error:  # handlers are given no id: none can be logged
                    _failed(f"a handler of the session event {info.event.value!r}", error)


def _failed(what: str, error: Exception) -> None:
    logger.error("%s raised %s", what, type(error).__name__, exc_info=error)
