"""SessionMiddleware: a lazy session in ``scope["session"]``, one commit at response start."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starlette_session.arguments import original_store
from starlette_session.backends import BackendType
from starlette_session.cookies import CookieSettings, SameSite
from starlette_session.exceptions import SessionError
from starlette_session.interfaces import ISessionBackend
from starlette_session.responses import (
    ERROR_STATUSES,
    add_vary_cookie,
    error_response,
    set_session_cookie,
)
from starlette_session.session import Session
from starlette_session.signing import CookieSigner, SecretKey
from starlette_session.store import DEFAULT_LIFETIME, SessionStore

__all__ = ["SessionMiddleware"]

logger = logging.getLogger("starlette_session")


class SessionMiddleware:
    """Server-side sessions for Starlette and FastAPI, in ``request.session``.

    The cookie holds only a signed session id (or, with the cookie backend, the signed session).
    Nothing is read from the backend until the application uses the session; at the start of the
    response it is saved once, only if it changed, and ``Set-Cookie`` is sent only when the cookie
    must change. A used session adds ``Vary: Cookie``; a response that sets the cookie also gets
    ``Cache-Control: no-store`` (``cache_control=None`` to leave it alone).

    Pass ``store=SessionStore(...)``, or the original API's ``backend_type``, ``backend_client``
    and ``custom_session_backend``: without a store the session is loaded on every request that
    carries a cookie, as the original did, and the default backend is the original's signed cookie.

    ``secret_key`` is one key or a list, newest first: the first signs, all verify, and a cookie
    signed by an older key is re-issued. ``max_age`` is the cookie's Max-Age (``None`` for a
    browser-session cookie, capped at 400 days) and, without a store, the idle timeout.

    A :class:`SessionBackendError` that escapes the app before the response started is answered
    with 503, a :class:`SessionConflictError` or :class:`SessionDestroyedError` with 409.
    """

    def __init__(
        self,
        app: ASGIApp,
        secret_key: SecretKey | Sequence[SecretKey],
        cookie_name: str = "session",
        max_age: int | None = DEFAULT_LIFETIME,
        same_site: SameSite = "lax",
        https_only: bool = False,
        domain: str | None = None,
        backend_type: BackendType | None = None,
        backend_client: Any = None,
        custom_session_backend: ISessionBackend | None = None,
        *,
        store: SessionStore[Any] | None = None,
        path: str = "/",
        http_only: bool = True,
        partitioned: bool = False,
        autoload: bool | None = None,
        cache_control: str | None = "no-store",
    ) -> None:
        self.app = app
        self.cookie = CookieSettings(
            cookie_name, max_age, path, domain, https_only, http_only, same_site, partitioned
        )
        if store is None:  # the original API: the session of every request is loaded
            store = original_store(backend_type, backend_client, custom_session_backend, max_age)
            autoload = True if autoload is None else autoload
        elif any(arg is not None for arg in (backend_type, backend_client, custom_session_backend)):
            raise ValueError("pass either store= or the original backend_* arguments, not both")
        self.store = store
        self.signer = CookieSigner(secret_key, salt="starlette-session.cookie")
        store.bind(self.signer, self.cookie)
        self.autoload = bool(autoload)
        self.cache_control = cache_control
        self._cache_control = cache_control.encode("latin-1") if cache_control else None
        self._cookie_prefix = cookie_name.encode() + b"="

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if scope_type != "http":
            if scope_type == "websocket":
                await self._websocket(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        # The cookie is only looked for when the session is loaded: most requests never do.
        session = Session(self.store, headers=scope["headers"])
        scope["session"] = session
        started = False

        async def send_with_cookie(message: Message) -> None:
            nonlocal started
            # Not simply the first message: Starlette's TemplateResponse sends an
            # "http.response.debug" message first when the server offers that extension.
            if not started and message["type"] == "http.response.start":
                if session.accessed:
                    await self._commit(session, message)
                started = True
            await send(message)

        try:
            if self.autoload:
                await session.load()
            try:
                await self.app(scope, receive, send_with_cookie)
            except Exception:
                # No response passed through us to commit with; a log-out must still happen.
                if not started and session.state.destroyed:
                    await self.store.commit(session, 500)
                raise
        except SessionError as error:
            if started or error.status_code not in ERROR_STATUSES:
                raise
            logger.warning("session request answered with %d: %s", error.status_code, error)
            await error_response(error.status_code)(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A WebSocket can read its session; it cannot set a cookie, so nothing is saved.
        session = Session(self.store, headers=scope["headers"])
        scope["session"] = session
        if self.autoload:
            await session.load()
        await self.app(scope, receive, send)
        if session.loaded and session.accessed and self.store.has_changes(session):
            logger.warning("session changes made during a WebSocket connection are not saved")

    async def _commit(self, session: Session, message: Message) -> None:
        update = await self.store.commit(session, message["status"])
        headers = message["headers"] = list(message.get("headers", ()))
        add_vary_cookie(headers)
        if update is not None:
            if update.value is None:
                cookie = self.cookie.expire_cookie()
            else:
                cookie = self.cookie.set_cookie(update.value, update.max_age)
            set_session_cookie(headers, cookie, self._cookie_prefix, self._cache_control)
