"""WebSocket sessions that save: through the same loader, plan and storage as an HTTP request
(``store.commit(..., sets_cookie=False)``), when the connection ends and at ``await
session.save()``.

A WebSocket cannot set or expire a cookie, so it can only change a session that is already
stored, on a server-side backend (the plan's rule). Creating one, giving it a new id
(``regenerate()``), ending it (``destroy()``) or changing its lifetime raise
:class:`SessionWebSocketError`, whose message says what to do instead; ``clear()`` empties the
session and forgets its user, and the session stays stored under its id. A session that an HTTP
request ends (a log-out, a revocation) or moves to a new id (a log-in) while the WebSocket is
open is never written back: ``save()`` raises :class:`SessionDestroyedError`, the save at the
end logs it, and ``await session.refresh()`` returns False, so the handler can close the socket.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from starlette_session.durations import Duration
from starlette_session.events import SessionEvent, SessionEventInfo
from starlette_session.exceptions import (
    SessionConflictError,
    SessionDestroyedError,
    SessionWebSocketError,
)
from starlette_session.records import decode_record
from starlette_session.session import Session
from starlette_session.state import SessionState
from starlette_session.store import SessionStore

__all__ = ["WebSocketSession", "serve_websocket"]

logger = logging.getLogger("starlette_session")

REGENERATE = (
    "a WebSocket cannot give the session a new id, since it cannot set the cookie: call "
    "regenerate() in the HTTP request that logs the user in"
)
DESTROY = (
    "a WebSocket cannot end the session, since it cannot expire the cookie: log out with an "
    "HTTP request (a POST to your log-out endpoint), then close the WebSocket; "
    "`await session.refresh()` returns False once the session has ended"
)
SET_USER = (
    "a WebSocket cannot log a user in, since it cannot give the session a new id: call "
    "begin_login(), regenerate() and set_user() in the HTTP request that logs the user in"
)
LIFETIME = (
    "a WebSocket cannot change the session's lifetime, since the cookie's Max-Age changes with "
    "it: call set_lifetime() in an HTTP request"
)


class WebSocketSession(Session):
    """The session of a WebSocket connection (``websocket.session``): saved when the connection
    ends, and at ``await session.save()``; ``await session.refresh()`` reads it again."""

    _lock: anyio.Lock | None = None
    #: What device tracking reads of the connection (not its scope, which holds the session).
    connection: dict[str, Any] | None = None

    def regenerate(self, keep: Iterable[str] | None = None) -> None:
        """Not possible over a WebSocket: raises :class:`SessionWebSocketError`."""
        raise SessionWebSocketError(REGENERATE)

    async def begin_login(self, user_id: str) -> None:
        """Not possible over a WebSocket: raises :class:`SessionWebSocketError`."""
        raise SessionWebSocketError(SET_USER)

    def set_user(self, user_id: str | None, method: str = "password") -> None:
        """Only ``None`` (forget the user) or the session's own user over a WebSocket: binding
        another user to an id that was never rotated would be a fixation. Raises
        :class:`SessionWebSocketError`."""
        if user_id is not None and str(user_id) != self.user_id:
            raise SessionWebSocketError(SET_USER)
        super().set_user(user_id, method)

    def reauthenticated(self, method: str = "password") -> None:
        """Not possible over a WebSocket (it gives the session a new id): raises
        :class:`SessionWebSocketError`."""
        raise SessionWebSocketError(REGENERATE)

    def destroy(self) -> None:
        """Not possible over a WebSocket: raises :class:`SessionWebSocketError`."""
        raise SessionWebSocketError(DESTROY)

    def clear(self) -> None:
        """Empty the session and forget its user. It stays stored under its id, since a
        WebSocket cannot expire the cookie: log out in an HTTP request to end it."""
        dict.clear(self._data_for_write())
        if self.state.user is not None:
            self.state.set_user(None)

    def set_lifetime(self, lifetime: Duration | None) -> None:
        """Not possible over a WebSocket: raises :class:`SessionWebSocketError`."""
        raise SessionWebSocketError(LIFETIME)

    @property
    def ended(self) -> bool:
        """Whether the session was found ended (by ``save()`` or ``refresh()``)."""
        return self.state.ended

    async def save(self) -> None:
        """Write the changes made so far: compare-and-set on what was loaded (or last saved),
        merging other requests' changes field by field (or :class:`SessionConflictError` with
        ``strict=True``). Raises :class:`SessionDestroyedError` if the session has ended."""
        async with self._locked():
            await self._save()

    async def refresh(self) -> bool:
        """Save pending changes, then read the stored session again (other requests' changes
        show in the data and the typed views). False when it has ended (or never existed): the
        handler should close the socket. Reading does not extend the idle timeout."""
        async with self._locked():
            if not self.state.loaded:
                await self.load()
            if self.state.ended or self.state.is_new:
                return False  # nothing stored to read (changes of a new one: see save())
            try:
                await self._save()
            except SessionDestroyedError:
                self._end()
                return False
            await self._reread()
            return not self.state.ended

    async def finish(self) -> None:
        """Save at the end of the connection; what cannot be saved there is logged."""
        if not (self.state.loaded and self.accessed):
            return
        try:
            await self.save()
        except SessionDestroyedError:
            logger.info("WebSocket session changes not saved: the session ended meanwhile")
        except (SessionWebSocketError, SessionConflictError) as error:
            logger.warning("WebSocket session changes not saved: %s", error)

    def _locked(self) -> anyio.Lock:
        if self._lock is None:
            self._lock = anyio.Lock()
        return self._lock

    async def _save(self) -> None:
        # The same commit as an HTTP request's, for a connection that cannot set a cookie.
        try:
            await self.store.commit(self, 200, self.connection, sets_cookie=False)
        except SessionDestroyedError:
            self._end()
            raise
        state = self.state
        if state.merged and state.raw is not None:  # merged with another request's changes
            self._replace_data(state.raw, state.sealed)

    async def _reread(self) -> None:
        state, store = self.state, self.store
        found = await store.reread(self)
        if found is None:
            return  # the cookie backend: the session is the cookie, read at the handshake
        if not isinstance(found, str):
            if found.raw is not None and found.raw != state.raw:
                self._replace_data(found.raw, found.sealed)
            return
        if store.events.active:
            expired = SessionEventInfo(
                SessionEvent.expired, state.store_key, state.loaded_user, found
            )
            await store.events.emit([expired])
        self._end()

    def _replace_data(self, raw: bytes, sealed: bytes | None) -> None:
        """Take ``raw`` (stored by a merge, or found by a refresh; ``sealed`` as stored) as the
        session's data."""
        record = decode_record(raw)
        if record is None:
            return
        state = self.state
        state.loaded_from(
            session_id=state.session_id,
            store_key=state.store_key,
            raw=raw,
            meta=record.meta,
            issued_at=state.issued_at,
            key_index=state.key_index,
            sealed=sealed,
        )
        dict.clear(self)
        dict.update(self, record.data)
        _update_views(self, state)
        self.store.rebase_models(self)

    def _end(self) -> None:
        self.state.end()
        dict.clear(self)  # nothing of an ended session lingers in the handler


def _update_views(data: dict[str, Any], state: SessionState) -> None:
    """Show the new data in the typed views the handler holds, in place."""
    for model, (instance, _) in (state.models or {}).items():
        try:
            fresh = model.model_validate(dict.copy(data))
        except Exception:  # noqa: S112 - a view that no longer validates keeps its values
            continue
        for name in type(instance).model_fields:
            try:
                setattr(instance, name, getattr(fresh, name))
            except Exception:  # noqa: S112 - a frozen field keeps its value
                continue


async def serve_websocket(
    app: ASGIApp,
    store: SessionStore[Any],
    autoload: bool,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    """Run a WebSocket connection with its session in ``scope["session"]``, saved at the end
    (also after a disconnection; after another error only with ``save_on_error``)."""
    session = WebSocketSession(store, headers=scope["headers"])
    session.connection = {"headers": scope["headers"], "client": scope.get("client")}
    scope["session"] = session
    if autoload:
        await session.preload()
    try:
        await app(scope, receive, send)
    except WebSocketDisconnect:
        await session.finish()
        raise
    except Exception:
        if store.save_on_error:
            await session.finish()
        raise
    await session.finish()
