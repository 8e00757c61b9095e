"""WebSocket sessions: saved through the same loader, plan and storage as an HTTP request
(``store.commit(..., sets_cookie=False)``), when the connection ends and at ``save()``. A
WebSocket cannot set a cookie, so it only changes a stored session; a connection that loaded
one is closed when that session ends, in any process (see docs/operations.md)."""

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

__all__ = ["UNAVAILABLE_CLOSE", "WebSocketSession"]

logger = logging.getLogger("starlette_session")

REGENERATE = (
    "a WebSocket cannot set the cookie: call regenerate() in the HTTP request that logs the user in"
)
SET_USER = (
    "a WebSocket cannot log a user in (it cannot give the session a new id): call begin_login(), "
    "regenerate() and set_user() in the HTTP request that logs the user in"
)
#: The close code and reason of a connection ended by the outage policy ``"fail"``.
UNAVAILABLE_CLOSE = (1013, "session store unavailable")
HOOK_TIMEOUT = 1.0  # seconds for all the on_end hooks
EndHook = Callable[[str], Awaitable[None]]


class WebSocketSession(Session):
    """The session of a WebSocket connection (``websocket.session``): saved when the connection
    ends, and at ``await session.save()``; ``await session.refresh()`` reads it again."""

    _lock: anyio.Lock | None = None
    _connection: dict[str, Any] | None = None  # what device tracking reads (not the scope)
    _cancel_on_end: anyio.CancelScope | None = None  # around the application
    _end_hooks: list[EndHook] | None = None

    async def serve(
        self, app: ASGIApp, autoload: bool, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Run the connection with this session in ``scope["session"]``: saved at the end (after
        another error than a disconnection only with ``save_on_error``). When the session ends
        meanwhile: the app cancelled, the ``on_end`` hooks run, the socket closed."""
        self._connection = {"headers": scope["headers"], "client": scope.get("client")}
        scope["session"] = self
        closed = False

        async def send_noting_close(message: Message) -> None:
            nonlocal closed
            if message["type"] in ("websocket.close", "websocket.http.response.start"):
                closed = True
            await send(message)

        with anyio.CancelScope() as cancel:
            self._cancel_on_end = cancel
            try:
                if autoload:
                    await self.preload()
                try:
                    await app(scope, receive, send_noting_close)
                except Exception as error:
                    if isinstance(error, WebSocketDisconnect) or self.store.save_on_error:
                        await self.finish()
                    raise
                await self.finish()
            finally:
                if self._live is not None:
                    self.store.forget(self._live)
        live = self._live
        if not cancel.cancelled_caught or live is None or live.reason is None:
            return  # only the end of its session cancels this scope
        self._end()
        with anyio.move_on_after(HOOK_TIMEOUT):
            for hook in self._end_hooks or ():
                try:
                    await hook(live.reason)
                except Exception as error:
                    logger.warning("a WebSocket on_end hook failed: %r", error)
        if closed:
            return
        code, text = UNAVAILABLE_CLOSE
        if live.reason == ENDED:
            code, text = self.store.ended_close_code, self.store.ended_close_reason
        try:
            await send({"type": "websocket.close", "code": code, "reason": text})
        except Exception as error:
            logger.debug("closing an ended WebSocket failed: %r", error)

    async def preload(self) -> None:
        """Load the session, and register the connection if it is stored (see ``on_end``)."""
        await super().preload()
        if self._live is None and self._cancel_on_end is not None:
            self._live = self.store.watch(self, self._cancel_on_end)

    def on_end(self, hook: EndHook) -> None:
        """Run ``await hook(reason)`` (``"ended"``, or ``"unavailable"``: the outage policy) when
        the session ends while the socket is open, in any process: after the handler was
        cancelled, before the socket is closed (a last message). Hooks get 1 second in all."""
        if self._end_hooks is None:
            self._end_hooks = []
        self._end_hooks.append(hook)

    def regenerate(self, keep: Iterable[str] | None = None) -> None:
        """Not possible over a WebSocket: raises :class:`SessionWebSocketError`."""
        raise SessionWebSocketError(REGENERATE)

    async def begin_login(self, user_id: str) -> None:
        """Not possible over a WebSocket: raises :class:`SessionWebSocketError`."""
        raise SessionWebSocketError(SET_USER)

    def set_user(self, user_id: str | None, method: str = "password") -> None:
        """Only ``None`` (forget the user) or the session's own user over a WebSocket: binding
        another user to an id never rotated would be a fixation (:class:`SessionWebSocketError`)."""
        if user_id is not None and str(user_id) != self.user_id:
            raise SessionWebSocketError(SET_USER)
        super().set_user(user_id, method)

    def reauthenticated(self, method: str = "password") -> None:
        """Not possible over a WebSocket: raises :class:`SessionWebSocketError`."""
        raise SessionWebSocketError(REGENERATE)

    def destroy(self) -> None:
        """Not possible over a WebSocket: raises :class:`SessionWebSocketError`."""
        raise SessionWebSocketError(
            "a WebSocket cannot end the session, since it cannot expire the cookie: log out with "
            "an HTTP request (a POST to your log-out endpoint), then close the WebSocket; "
            "`await session.refresh()` returns False once the session has ended"
        )

    def clear(self) -> None:
        """Empty the session and forget its user. It stays stored under its id, since a
        WebSocket cannot expire the cookie: log out in an HTTP request to end it."""
        dict.clear(self._data_for_write())
        if self.state.user is not None:
            self.state.set_user(None)

    def set_lifetime(self, lifetime: Duration | None) -> None:
        """Not possible over a WebSocket: raises :class:`SessionWebSocketError`."""
        raise SessionWebSocketError(
            "a WebSocket cannot change the session's lifetime, since the cookie's Max-Age "
            "changes with it: call set_lifetime() in an HTTP request"
        )

    @property
    def ended(self) -> bool:
        """Whether the session was found ended (by ``save()`` or ``refresh()``)."""
        return self.state.ended

    async def save(self) -> None:
        """Write the changes made so far, merged field by field with other requests' (or
        :class:`SessionConflictError` with ``strict=True``); :class:`SessionDestroyedError` if
        the session has ended."""
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
                return False
            await self._reread()
            return not self.state.ended

    async def finish(self) -> None:
        """Save at the end of the connection, logging what cannot be saved. Shielded: a server
        that cancels the application once the client left waits for the save (which the
        backend's timeout bounds)."""
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
        try:
            await self.store.commit(self, 200, self._connection, sets_cookie=False)
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
        """Take ``raw`` (stored by a merge, or found by a refresh) as the session's data, and
        show it in the typed views the handler holds, in place."""
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
        for model, (instance, _) in (state.models or {}).items():
            try:
                fresh = model.model_validate(dict.copy(self))
            except Exception:  # noqa: S112 - a view that no longer validates keeps its values
                continue
            for name in type(instance).model_fields:
                try:
                    setattr(instance, name, getattr(fresh, name))
                except Exception:  # noqa: S112 - a frozen field keeps its value
                    continue
        self.store.views.rebase(self)

    def _end(self) -> None:
        self.state.end()
        dict.clear(self)  # nothing of an ended session lingers in the handler
