"""SessionMiddleware: a lazy session in ``scope["session"]``, one commit at response start, and
what a session adds to responses (``Vary``, its one ``Set-Cookie``, ``Cache-Control``) or the
answer to a session error that escaped the application."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starlette_session.compat import BackendType, ISessionBackend, build_original_backend
from starlette_session.cookies import CookieSettings, SameSite
from starlette_session.durations import Duration, seconds
from starlette_session.exceptions import SessionError
from starlette_session.migration import MigrateFrom, old_cookie_loader
from starlette_session.origin import REFUSED_BODY, SAFE_METHODS, CrossOriginCheck
from starlette_session.session import Session
from starlette_session.setup_warnings import warn_setup
from starlette_session.signing import CookieSigner, SecretKey
from starlette_session.store import DEFAULT_LIFETIME, SessionStore
from starlette_session.websocket import serve_websocket

__all__ = ["SessionMiddleware"]

logger = logging.getLogger("starlette_session")


_ERROR_BODIES = {
    503: "The session store is unavailable. Please try again shortly.",
    409: "Your session changed while this request ran. Please try again.",
    403: "This account is signed in on too many devices. Sign out on one, then try again.",
}
#: The statuses of the session errors the middleware answers itself.
ERROR_STATUSES = frozenset(_ERROR_BODIES)

Headers = list[tuple[bytes, bytes]]


def add_vary_cookie(headers: Headers) -> None:
    """Add ``Cookie`` to the response's ``Vary`` header (a cache must not share the response)."""
    for index, (name, value) in enumerate(headers):
        if name == b"vary":
            if b"cookie" not in value.lower() and value.strip() != b"*":
                headers[index] = (name, value + b", Cookie")
            return
    headers.append((b"vary", b"Cookie"))


class ResponseHeaders:
    """What a used session adds to its response's headers.

    Always ``Vary: Cookie``. The session cookie, when it changes, replacing any ``Set-Cookie`` of
    the same name the application sent. ``cache_control`` (``no-store`` by default), replacing the
    application's, on a response that sets the cookie or shows a session with data: neither a
    shared cache nor the browser's back/forward cache may keep a signed-in page. And
    ``clear_site_data`` (``"cache"`` by default) on the response of a log-out, so that the pages
    the browser kept are gone too.
    """

    def __init__(
        self, cookie: CookieSettings, cache_control: str | None, clear_site_data: str | None
    ) -> None:
        self.cookie = cookie
        self.cookie_prefix = cookie.name.encode() + b"="
        self.cache_control = cache_control.encode("latin-1") if cache_control else None
        self.clear_site_data = clear_site_data.encode("latin-1") if clear_site_data else None

    def apply(
        self,
        headers: Headers,
        cookie: tuple[str | None, int | None] | None,
        private: bool,
        logged_out: bool,
        ended_before: bool = False,
    ) -> None:
        """Add the session's headers to ``headers`` (a response's, changed in place).

        ``cookie`` is the new cookie value and Max-Age (a value of None expires the cookie), or
        None to leave the cookie alone. ``logged_out``: this response ends the session.
        ``ended_before``: the browser's session ended a moment ago (its log-out set a marker):
        the pages the browser kept of it are cleared now, once they are in its back/forward
        cache (the log-out's own response may come before the page it left is stored there).
        """
        add_vary_cookie(headers)
        set_cookie = None
        if cookie is not None:
            value, max_age = cookie
            if value is None:
                set_cookie = self.cookie.expire_cookie()
            else:
                set_cookie = self.cookie.set_cookie(value, max_age)
        cache_control = self.cache_control if (private or set_cookie) else None
        clear = self.clear_site_data if (logged_out or ended_before) else None
        if set_cookie is None and cache_control is None and clear is None:
            return
        prefix = self.cookie_prefix
        headers[:] = [
            (name, value)
            for name, value in headers
            if not (name == b"set-cookie" and set_cookie and value.startswith(prefix))
            and not (name == b"cache-control" and cache_control)
        ]
        if set_cookie:
            headers.append((b"set-cookie", set_cookie))
        if cache_control:
            headers.append((b"cache-control", cache_control))
        if clear:
            headers.append((b"clear-site-data", clear))
            headers.append((b"set-cookie", self.cookie.ended_cookie(logged_out)))


def error_response(status_code: int) -> PlainTextResponse:
    """The response to a session error with ``status_code`` (one of ``ERROR_STATUSES``)."""
    response = PlainTextResponse(_ERROR_BODIES[status_code], status_code=status_code)
    response.headers["Vary"] = "Cookie"
    response.headers["Cache-Control"] = "no-store"
    return response


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

    ``cross_origin=True`` (or a :class:`CrossOriginCheck` naming trusted origins and exempt
    paths) refuses with 403, before the app runs, a request of an unsafe method (or a WebSocket
    handshake) that carries the session cookie and that the browser says another site made
    (``Sec-Fetch-Site``, else ``Origin`` against ``Host``).

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
        cross_origin: CrossOriginCheck | bool = False,
    ) -> None:
        self.app = app
        self.cross_origin = CrossOriginCheck() if cross_origin is True else cross_origin or None
        _warn_if_added_twice(app)
        # Starlette's names: ``session_cookie`` for ``cookie_name``, a ``max_age`` of 0 or less
        # for "expire at once" (``Max-Age=0``).
        if cookie_name is not None and session_cookie is not None:
            raise TypeError(
                "pass cookie_name or session_cookie (Starlette's name for it), not both"
            )
        name = cookie_name if cookie_name is not None else session_cookie
        self.cookie = CookieSettings(
            name="session" if name is None else name,
            max_age=seconds(max_age, name="max_age", allow_none=True, negative_as_zero=True),
            path=path,
            domain=domain,
            secure=https_only,
            http_only=http_only,
            same_site=same_site,
            partitioned=partitioned,
        )
        # The original API's arguments: its backend, and the session of every request loaded.
        original = (backend_type, backend_client, custom_session_backend)
        original_api = store is None
        if store is None:
            store = SessionStore(build_original_backend(*original))
        elif any(argument is not None for argument in original):
            raise ValueError("pass either store= or the original backend_* arguments, not both")
        self.store = store
        self.signer = CookieSigner(secret_key, salt="starlette-session.cookie")
        old_cookies = None
        if migrate_from is not None and secret_key is not None:  # no key: the signer refused it
            old_cookies = old_cookie_loader(migrate_from, secret_key, max_age=self.cookie.max_age)
        store.bind(self.signer, self.cookie, old_cookies=old_cookies)
        self.autoload = original_api if autoload is None else autoload
        self.headers = ResponseHeaders(self.cookie, cache_control, clear_site_data)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        check = self.cross_origin
        if scope["type"] != "http":
            if scope["type"] != "websocket":
                await self.app(scope, receive, send)
            elif check is not None and self._cross_origin_refusal(check, scope, "WEBSOCKET"):
                # A handshake is a GET that SameSite=Lax lets a sibling subdomain send (and
                # same_site="none" any site): refused as an unsafe request (a 403 handshake).
                await send({"type": "websocket.close", "code": 1008})
            else:
                await self._websocket(scope, receive, send)
            return
        method = scope["method"]
        if (
            check is not None
            and method not in SAFE_METHODS
            and self._cross_origin_refusal(check, scope, method)
        ):
            response = PlainTextResponse(REFUSED_BODY, status_code=403)
            response.headers["Vary"] = "Cookie"
            await response(scope, receive, send)
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
                if started and session.state.models:
                    self.store.warn_late_changes(session)
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

    def _cross_origin_refusal(self, check: CrossOriginCheck, scope: Scope, method: str) -> bool:
        """Whether this unsafe request (or WebSocket handshake) is refused, logged if so: only
        one that carries the session cookie is checked, since only that one could act as the
        user."""
        headers = scope["headers"]
        if self.store.cookie(headers) is None:
            return False
        reason = check.refusal(method, scope["path"], headers)
        if reason is not None:
            check.log_refusal(method, scope["path"], reason)
        return reason is not None

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
        if state.extra_cookies:
            headers.extend((b"set-cookie", value) for value in state.extra_cookies.values())


def _warn_if_added_twice(app: object) -> None:
    """Warn when ``app`` (what a new ``SessionMiddleware`` wraps) already holds one.

    A warning, not an error: such an application works (the inner middleware serves
    ``request.session``, the outer one is never used), so it must not stop at an upgrade."""
    node, depth = app, 0
    while node is not None and depth < 100:  # the ASGI chain: each middleware's .app
        if isinstance(node, SessionMiddleware):
            warn_setup(
                "SessionMiddleware is added twice: the inner one serves request.session and the "
                "outer one is never used (its settings are ignored). Remove one of the "
                "add_middleware(SessionMiddleware, ...) or Middleware(SessionMiddleware, ...)."
            )
            return
        node, depth = getattr(node, "app", None), depth + 1
