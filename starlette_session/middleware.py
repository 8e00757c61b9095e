"""SessionMiddleware: a lazy session in ``scope["session"]``, one commit at response start, the
headers a session adds to its response, and the answers to session errors the app let escape."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
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
from starlette_session.state import SessionState
from starlette_session.store import DEFAULT_LIFETIME, SessionStore
from starlette_session.websocket import WebSocketSession

__all__ = ["SessionMiddleware"]

logger = logging.getLogger("starlette_session")

#: The session errors the middleware answers itself, by status.
_ERROR_BODIES = {
    503: "The session store is unavailable. Please try again shortly.",
    409: "Your session changed while this request ran. Please try again.",
    403: "This account is signed in on too many devices. Sign out on one, then try again.",
}


class SessionMiddleware:
    """Server-side sessions for Starlette and FastAPI, in ``request.session``: loaded when the
    application uses it, saved once at response start if it changed; ``Set-Cookie`` only when
    the cookie (a signed id, or the signed session with the cookie backend) must change.

    ``store=SessionStore(...)``, or the original API's ``backend_*`` arguments (every session
    then loaded; by default in the cookie). ``secret_key``: one key or a list, newest first.
    ``max_age`` (seconds, ``timedelta``; ``None``: a browser-session cookie, 0 or less: expire
    at once): the cookie's Max-Age (<= 400 days) and the default idle timeout. Starlette's
    ``session_cookie`` names the cookie too; ``migrate_from`` carries its cookies (or the
    original 0.4's) over. A response that shows a session gets ``Vary: Cookie`` and
    ``cache_control``, a log-out's ``clear_site_data``. ``cross_origin=True`` (or a
    :class:`CrossOriginCheck`) refuses with 403 an unsafe request or WebSocket handshake with
    the cookie that another site made. A session error escaping the app before the response
    started gets 503 (backend down), 409 (conflict, session ended) or 403 (user cap).
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
        if cookie_name is not None and session_cookie is not None:
            raise TypeError("pass cookie_name or session_cookie (Starlette's name), not both")
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
        self.autoload = store is None if autoload is None else autoload  # the original API's way
        original = (backend_type, backend_client, custom_session_backend)
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
        self.cookie_prefix = self.cookie.name.encode() + b"="
        self.cache_control = cache_control.encode("latin-1") if cache_control else None
        self.clear_site_data = clear_site_data.encode("latin-1") if clear_site_data else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        check = self.cross_origin
        if scope["type"] != "http":
            if scope["type"] != "websocket":
                await self.app(scope, receive, send)
            elif check is not None and self._refused(check, scope, "WEBSOCKET"):
                # A handshake is a GET that SameSite=Lax lets a sibling subdomain send.
                await send({"type": "websocket.close", "code": 1008})
            else:
                connection = WebSocketSession(self.store, headers=scope["headers"])
                await connection.serve(self.app, self.autoload, scope, receive, send)
            return
        method = scope["method"] if check is not None else "GET"  # looked at only to check
        if check is not None and method not in SAFE_METHODS and self._refused(check, scope, method):
            refused = PlainTextResponse(REFUSED_BODY, 403, headers={"Vary": "Cookie"})
            await refused(scope, receive, send)
            return
        # Nothing of the cookie is read until the session is used: most requests never do.
        session = _HTTPSession()
        session.bind(self, scope, send)
        scope["session"] = session
        try:
            if self.autoload:
                await session.preload()
            try:
                app = self.app  # an attribute, not a method: LOAD_METHOD would not specialize
                await app(scope, receive, session.send)
                if session.state.models and session.response_started:
                    self.store.warn_late_changes(session)
            except BaseException as error:
                # No response passed through us to commit with; a log-out must still happen.
                failed = isinstance(error, Exception)  # not a cancellation
                if failed and session.state.destroyed and not session.response_started:
                    await self.store.commit(session, 500)
                raise
            finally:
                session.release()
        except SessionError as error:
            status = error.status_code
            if session.response_started or status not in _ERROR_BODIES:
                raise
            logger.warning("session request answered with %d: %s", status, error)
            headers = {"Vary": "Cookie", "Cache-Control": "no-store"}
            await PlainTextResponse(_ERROR_BODIES[status], status, headers)(scope, receive, send)

    def _refused(self, check: CrossOriginCheck, scope: Scope, method: str) -> bool:
        """Whether this unsafe request is refused (logged): only one carrying the cookie is."""
        headers = scope["headers"]
        if self.store.cookie(headers) is None:
            return False
        reason = check.refusal(method, scope["path"], headers)
        if reason is not None:
            check.log_refusal(method, scope["path"], reason)
        return reason is not None


async def _sent_after_return(message: Message) -> None:
    raise RuntimeError(f"ASGI message {message['type']!r} sent after the application returned")


class _HTTPSession(Session):
    """An HTTP request's session, which also makes the ``send`` its application is given
    (:meth:`send`): at ``http.response.start`` a session the application used is committed and
    the response gets the session's headers. One object per request, rather than a session and
    a closure, as most requests never use their session and should cost next to nothing."""

    __slots__ = ("_middleware", "_scope", "_send", "_started")

    # Made in two steps, _HTTPSession() then bind(): the type call runs dict's own __init__, in
    # C, and bind() is an ordinary method call, cheaper than a Python __init__ behind a type.
    __init__ = dict.__init__

    def bind(self, middleware: SessionMiddleware, scope: Scope, send: Send) -> None:
        """What ``Session(middleware.store, headers=scope["headers"])`` sets (inline: a call
        less on every request), and what the response needs."""
        self._store = middleware.store
        self.state = SessionState()
        self._cookie = None
        self._headers = scope["headers"]
        self._accessed = False
        self._live = None
        self._middleware = middleware
        # The scope is held until the response starts (device tracking reads it at commit), the
        # server's send until the application returns (release()); the scope holds the session,
        # and a server's send holds the scope (uvicorn's is a bound method of an object holding
        # it): kept longer, each request would leave a reference cycle for the collector.
        self._scope: Scope | None = scope
        self._send = send
        self._started = False

    @property
    def response_started(self) -> bool:
        """Whether ``http.response.start`` went out: too late for another status."""
        return self._started

    def release(self) -> None:
        """The application returned or raised: nothing more is sent, and the session keeps
        nothing of the request's scope or of the server's ``send``."""
        self._scope, self._send = None, _sent_after_return

    def send(self, message: Message) -> Awaitable[None]:
        """Send ``message`` on; commit first at the response start of a session that was used.
        Not a coroutine: what it passes on costs no coroutine of its own."""
        send = self._send
        # Not simply the first message: TemplateResponse may send "http.response.debug".
        if self._started or message["type"] != "http.response.start":
            return send(message)
        if not self._accessed:
            self._started, self._scope = True, None
            return send(message)
        return self._commit_then_send(message)

    async def _commit_then_send(self, message: Message) -> None:
        await self._commit(message)
        self._started, self._scope = True, None
        await self._send(message)

    async def _commit(self, message: Message) -> None:
        """Commit, then add ``Vary: Cookie``, the cookie (replacing the app's of that name),
        ``cache_control`` when it is set or the session shows data, ``clear_site_data`` on a
        log-out's response or the next one (once the page left is in the back/forward cache)."""
        middleware, state = self._middleware, self.state
        private = not state.is_new or bool(dict.__len__(self))  # as loaded, or as written
        logged_out = state.destroyed and not state.is_new
        update = await middleware.store.commit(self, message["status"], self._scope)
        headers: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
        message["headers"] = headers
        _add_vary_cookie(headers)
        set_cookie = None
        if update is not None:
            value, age = update
            cookie = middleware.cookie
            set_cookie = cookie.expire_cookie() if value is None else cookie.set_cookie(value, age)
        cache_control = middleware.cache_control if (private or set_cookie) else None
        clear = middleware.clear_site_data if (logged_out or state.ended_before) else None
        if set_cookie or cache_control or clear:
            prefix = middleware.cookie_prefix
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
                headers.append((b"set-cookie", middleware.cookie.ended_cookie(logged_out)))
        if state.extra_cookies:
            headers.extend((b"set-cookie", value) for value in state.extra_cookies.values())


def _add_vary_cookie(headers: list[tuple[bytes, bytes]]) -> None:
    for index, (name, value) in enumerate(headers):
        if name == b"vary":
            if b"cookie" not in value.lower() and value.strip() != b"*":
                headers[index] = (name, value + b", Cookie")
            return
    headers.append((b"vary", b"Cookie"))


def _warn_if_added_twice(app: object) -> None:
    """Warn (it works: the inner middleware serves the session) when ``app`` holds one already."""
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
