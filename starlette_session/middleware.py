"""SessionMiddleware: a lazy session in ``scope["session"]``, one commit at response start."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starlette_session.arguments import (
    cookie_settings,
    middleware_store,
    old_cookie_reader,
    warn_if_added_twice,
)
from starlette_session.backends import BackendType
from starlette_session.cookies import SameSite
from starlette_session.durations import Duration
from starlette_session.exceptions import SessionError
from starlette_session.interfaces import ISessionBackend
from starlette_session.migration import MigrateFrom
from starlette_session.responses import ERROR_STATUSES, ResponseHeaders, error_response
from starlette_session.session import Session
from starlette_session.signing import CookieSigner, SecretKey
from starlette_session.store import DEFAULT_LIFETIME, SessionStore
from starlette_session.websocket import serve_websocket

__all__ = ["SessionMiddleware"]

logger = logging.getLogger("starlette_session")


class SessionMiddleware:
    """Server-side sessions for Starlette and FastAPI, in ``request.session``.

    The cookie holds only a signed session id (or, with the cookie backend, the signed session).
    Nothing is read from the backend until the application uses the session; at the start of the
    response it is saved once, only if it changed, and ``Set-Cookie`` is sent only when the cookie
    must change. Headers (``cache_control``, ``clear_site_data``): see ``ResponseHeaders``.

    Pass ``store=SessionStore(...)``, or the original API's ``backend_type``, ``backend_client``
    and ``custom_session_backend`` (every request's session is then loaded, as the original did;
    the default backend is the signed cookie). Starlette's ``session_cookie`` and a ``max_age`` of
    0 or less work as in Starlette's middleware.

    ``secret_key`` is one key or a list, newest first: the first signs, all verify, and a cookie
    signed by an older key is re-issued. ``max_age`` (seconds or a ``timedelta``; ``None``: a
    browser-session cookie) is the cookie's Max-Age, capped at 400 days: an older cookie is never
    honoured, and it is the store's default idle timeout. ``migrate_from`` carries cookies of
    Starlette's middleware or the original 0.4 over into new sessions (see the migration guides).

    A :class:`SessionBackendError` that escapes the app before the response started is answered
    with 503, a :class:`SessionConflictError` or :class:`SessionDestroyedError` with 409.
    """

    def __init__(
        self,
        app: ASGIApp,
        secret_key: SecretKey | Sequence[SecretKey] | None = None,  # None: an error saying why
        cookie_name: str | None = None,
        max_age: Duration | None = DEFAULT_LIFETIME,
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
        clear_site_data: str | None = '"cache"',
        session_cookie: str | None = None,
        migrate_from: MigrateFrom | None = None,
    ) -> None:
        self.app = app
        warn_if_added_twice(app)
        self.cookie = cookie_settings(
            cookie_name,
            session_cookie,
            max_age,
            path,
            domain,
            https_only,
            http_only,
            same_site,
            partitioned,
        )
        store, original_api = middleware_store(
            store, backend_type, backend_client, custom_session_backend
        )
        self.store = store
        self.signer = CookieSigner(secret_key, salt="starlette-session.cookie")
        old_cookies = old_cookie_reader(migrate_from, secret_key, self.cookie.max_age)
        store.bind(self.signer, self.cookie, old_cookies=old_cookies)
        self.autoload = original_api if autoload is None else autoload
        self.headers = ResponseHeaders(self.cookie, cache_control, clear_site_data)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            handler = self._websocket if scope["type"] == "websocket" else self.app
            await handler(scope, receive, send)
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
                    await self._commit(session, message, scope)
                started = True
            await send(message)

        try:
            if self.autoload:
                await session.preload()
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
        # Saved at the end and at `await session.save()`; it cannot set a cookie (websocket.py).
        await serve_websocket(self.app, self.store, self.autoload, scope, receive, send)

    async def _commit(self, session: Session, message: Message, scope: Scope) -> None:
        state = session.state
        private = not state.is_new or bool(dict.__len__(session))  # as loaded, or as written
        logged_out = state.destroyed and not state.is_new
        update = await self.store.commit(session, message["status"], scope)
        headers = message["headers"] = list(message.get("headers", ()))
        self.headers.apply(headers, update, private, logged_out, state.ended_before)
