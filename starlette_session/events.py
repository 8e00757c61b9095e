"""Session events: what happened to which session, told to the application after the fact.

``store.on(SessionEvent.created, handler)`` registers a handler, sync or async, called with a
:class:`SessionEventInfo`: the event, the opaque store key (a keyed hash, never the session id
or the cookie), the user when known, and a short reason. The library notes events while an
operation (a load, a commit, a WebSocket save or refresh, a revocation) runs and calls the
handlers once it is over, never between two backend calls of a commit; a handler that raises is
logged on the ``starlette_session`` logger and never fails the request.

Observers (``store.observe()``, what ``starlette_session.telemetry`` uses) see each operation
start and finish, with its outcome, duration and number of backend calls.

Nothing here runs when no handler or observer is registered: the store checks one attribute
(:attr:`SessionEvents.active`) before each operation, and every other emission site checks it
too, so a store without handlers does no extra call and no extra allocation.
"""

from __future__ import annotations

import enum
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar, Token
from typing import Any, NamedTuple, Protocol

from starlette_session.backends.base import Replaced, SessionBackend

__all__ = [
    "CountingBackend",
    "Handler",
    "Operation",
    "OperationObserver",
    "SessionEvent",
    "SessionEventInfo",
    "SessionEvents",
    "note",
    "observing",
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
    #: A session cookie that failed verification (bad signature, malformed).
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

    __slots__ = ("duration", "error", "name", "noted", "outcome", "round_trips", "started")

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

    def noted_events(self) -> set[SessionEvent]:
        """The kinds of event noted so far."""
        return {info.event for info in self.noted}


class OperationObserver(Protocol):
    """Sees each operation start and finish (synchronously: keep it quick)."""

    def started(self, operation: Operation) -> Any:
        """Called before the operation's first backend call; the value goes to ``finished``."""

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


def observing() -> bool:
    """Whether an operation is being observed in this context (so it records its events)."""
    return _current.get() is not None


class SessionEvents:
    """The handlers and observers of one store."""

    def __init__(self) -> None:
        # Instance attributes, not class defaults: the interpreter reads those fastest.
        #: Whether any handler or observer is registered: the one attribute the hot path checks.
        self.active = False
        #: Whether any observer is registered (backend calls are then counted).
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
        if operation.noted and isinstance(operation.error, Exception | None):  # not if cancelled
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


def _count() -> None:
    operation = _current.get()
    if operation is not None:
        operation.round_trips += 1


class CountingBackend(SessionBackend):
    """Counts the calls made to ``backend`` by the observed operation under way.

    The store's parts use it instead of the backend only while an observer is registered.
    """

    def __init__(self, backend: SessionBackend) -> None:
        self.backend = backend

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        _count()
        return await self.backend.read(key, ttl)

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        _count()
        return await self.backend.create(key, value, ttl, logged_in=logged_in)

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        _count()
        return await self.backend.replace(key, expected, value, ttl, logged_in=logged_in)

    async def expire(self, key: str, ttl: int) -> None:
        _count()
        await self.backend.expire(key, ttl)

    async def delete(self, *keys: str) -> None:
        _count()
        await self.backend.delete(*keys)

    async def eviction_warning(self) -> str | None:
        _count()
        return await self.backend.eviction_warning()

    def __repr__(self) -> str:
        return f"CountingBackend({self.backend!r})"
