"""Loads and commits as events see them: run only when a handler or observer is registered.

``SessionStore.load`` and ``commit`` hand themselves to :func:`observed_load` and
:func:`observed_commit` when ``store.events.active``; these start an :class:`Operation`, call
the store again (which, inside an operation, does its usual work), then tell what happened by
comparing the session's state before and after, and run the handlers once it is all over.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette_session.events import SessionEvent, SessionEventInfo, SessionEvents
from starlette_session.exceptions import (
    SessionBackendError,
    SessionConflictError,
    SessionDestroyedError,
)
from starlette_session.state import SessionState, StatefulDict

__all__ = ["observed_commit", "observed_load"]

T = TypeVar("T")
Headers = list[tuple[bytes, bytes]]
#: Load outcomes named after the event noted while loading.
_LOAD_OUTCOMES = {SessionEvent.tampered: "tampered", SessionEvent.expired: "expired"}


async def observed_load(
    events: SessionEvents,
    load: Callable[[StatefulDict, str | None, Headers | None], Awaitable[None]],
    session: StatefulDict,
    cookie: str | None,
    headers: Headers | None = None,
) -> None:
    """Run ``load`` as an observed operation; note ``loaded`` when a stored session was found."""
    state = session.state
    operation, token, started = events.begin("load")
    try:
        await load(session, cookie, headers)
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
    except BaseException as error:
        operation.error = error
        operation.outcome = _failure(error)
        raise
    finally:
        await events.end(operation, token, started)


async def observed_commit(
    events: SessionEvents,
    name: str,
    commit: Callable[[StatefulDict], Awaitable[T]],
    session: StatefulDict,
) -> T:
    """Run ``commit`` (a request's commit, or a WebSocket's save) as an observed operation, and
    note what it did to the stored session."""
    state = session.state
    before = _Before(state)
    operation, token, started = events.begin(name)
    try:
        result = await commit(session)
        derived = before.events(state)
        noted = operation.noted
        if noted and SessionEvent.backend_error in operation.noted_events():  # logged, not raised
            operation.outcome = "backend_error"
        else:
            operation.outcome = derived[-1].event.value if derived else "unchanged"
        noted.extend(derived)
        return result
    except BaseException as error:
        operation.error = error
        operation.outcome = _failure(error)
        if isinstance(error, SessionDestroyedError | SessionConflictError):
            reason = _conflict_reason(error, state)
            operation.noted.append(
                SessionEventInfo(SessionEvent.conflict, before.key, before.user, reason)
            )
        raise
    finally:
        await events.end(operation, token, started)


class _Before:
    """What a commit starts from, to tell afterwards what it did."""

    __slots__ = ("destroyed", "key", "key_index", "raw", "session_id", "user")

    def __init__(self, state: SessionState) -> None:
        self.session_id, self.key, self.raw = state.session_id, state.store_key, state.raw
        self.user, self.destroyed, self.key_index = (
            state.loaded_user,
            state.destroyed,
            state.key_index,
        )

    def events(self, state: SessionState) -> list[SessionEventInfo]:
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
