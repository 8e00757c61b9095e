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

A connection whose stored session was loaded is registered with the store's live connections
(``live.py``): when the session ends, in any process, the application is cancelled, the hooks
given to ``session.on_end()`` run (a last message), and the socket is closed with the store's
``ended_close_code`` and reason (1013 "session store unavailable" when the outage policy
``"fail"`` ends it). A connection that never loaded its session is never registered.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from starlette_session.durations import Duration
from starlette_session.events import SessionEvent, SessionEventInfo
from starlette_session.exceptions import (
    SessionConflictError,
    SessionDestroyedError,
    SessionWebSocketError,
)
from starlette_session.live import ENDED
from starlette_session.records import decode_record
from starlette_session.session import Session
from starlette_session.state import SessionState
from starlette_session.store import SessionStore

__all__ = ["UNAVAILABLE_CLOSE", "WebSocketSession", "serve_websocket"]

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
#: The close code and reason of a connection ended by the outage policy ``"fail"``.
UNAVAILABLE_CLOSE = (1013, "session store unavailable")
#: Seconds the ``on_end`` hooks may take, together.
HOOK_TIMEOUT = 1.0
EndHook = Callable[[str], Awaitable[None]]

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
    #: Cancelled when the session ends (set by ``serve_websocket``, around the application).
    cancel_on_end: anyio.CancelScope | None = None
    _end_hooks: list[EndHook] | None = None

    async def preload(self) -> None:
        """Load the session, and register the connection if it is stored (see ``on_end``)."""
        await super().preload()
        if self._live is None and self.cancel_on_end is not None:
            self._live = self.store.watch(self, self.cancel_on_end)

    def on_end(self, hook: EndHook) -> None:
        """Run ``await hook(reason)`` when the session ends while the socket is open (a
        log-out, a revocation, in any process), before the socket is closed: send a last
        message there. ``reason`` is ``"ended"`` (or ``"unavailable"``: the outage policy).
        The application's handler has been cancelled by then; hooks get 1 second in all."""
        if self._end_hooks is None:
            self._end_hooks = []
        self._end_hooks.append(hook)

    def stop_watching(self) -> None:
        """Unregister the connection (it is over)."""
        if self._live is not None:
            self.store.forget(self._live)

    async def close_ended(self, send: Send) -> None:
        """The session ended while the connection was open: run the ``on_end`` hooks, then
        close the socket with the store's close code (``send`` is the connection's)."""
        reason = self._live.reason if self._live is not None else None
        if reason is None:
            return
        self._end()
        with anyio.move_on_after(HOOK_TIMEOUT):
            for hook in self._end_hooks or ():
                try:
                    await hook(reason)
                except Exception as error:
                    logger.warning("a WebSocket on_end hook failed: %r", error)
        store = self.store
        code, text = (
            (store.ended_close_code, store.ended_close_reason)
            if reason == ENDED
            else UNAVAILABLE_CLOSE
        )
        try:
            await send({"type": "websocket.close", "code": code, "reason": text})
        except Exception as error:
            logger.debug("closing an ended WebSocket failed: %r", error)

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
        """Save at the end of the connection; what cannot be saved there is logged. Shielded:
        a server that cancels the application once the client left (Starlette's TestClient
        does) waits for the save, which the backend's timeout bounds."""
        if not (self.state.loaded and self.accessed):
            return
        try:
            with anyio.CancelScope(shield=True):
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
        self.store.views.rebase(self)

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
    closing = _Closing(send)
    with anyio.CancelScope() as cancel:
        session.cancel_on_end = cancel
        try:
            if autoload:
                await session.preload()
            await _serve(app, session, store, scope, receive, closing.send)
        finally:
            session.stop_watching()
    if cancel.cancelled_caught:  # its session ended: only that cancels this scope
        await session.close_ended(closing.send if not closing.closed else _nothing)


async def _serve(
    app: ASGIApp,
    session: WebSocketSession,
    store: SessionStore[Any],
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
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


class _Closing:
    """The connection's ``send``, noting whether the socket was closed already."""

    __slots__ = ("_send", "closed")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.closed = False

    async def send(self, message: Message) -> None:
        if message["type"] in ("websocket.close", "websocket.http.response.start"):
            self.closed = True
        await self._send(message)


async def _nothing(message: Message) -> None:
    """A ``send`` for a socket already closed."""
