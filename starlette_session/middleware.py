"""SessionMiddleware: a lazy session in ``scope["session"]``, one commit at response start, the
headers a session adds to its response, and the answers to session errors the app let escape."""

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
        method = scope["method"]
        if check is not None and method not in SAFE_METHODS and self._refused(check, scope, method):
            refused = PlainTextResponse(REFUSED_BODY, 403, headers={"Vary": "Cookie"})
            await refused(scope, receive, send)
            return
        # The cookie is only looked for when the session is loaded: most requests never do.
        session = Session(self.store, headers=scope["headers"])
        scope["session"] = session
        started = False

        async def send_with_cookie(message: Message) -> None:
            nonlocal started
            # Not simply the first message: TemplateResponse may send "http.response.debug".
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
            status = error.status_code
            if started or status not in _ERROR_BODIES:
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

    async def _commit(self, session: Session, message: Message, scope: Scope) -> None:
        """Commit, then add ``Vary: Cookie``, the cookie (replacing the app's of that name),
        ``cache_control`` when it is set or the session shows data, ``clear_site_data`` on a
        log-out's response or the next one (once the page left is in the back/forward cache)."""
        state = session.state
        private = not state.is_new or bool(dict.__len__(session))  # as loaded, or as written
        logged_out = state.destroyed and not state.is_new
        update = await self.store.commit(session, message["status"], scope)
        headers: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
        message["headers"] = headers
        _add_vary_cookie(headers)
        set_cookie = None
        if update is not None:
            value, age = update
            cookie = self.cookie
            set_cookie = cookie.expire_cookie() if value is None else cookie.set_cookie(value, age)
        cache_control = self.cache_control if (private or set_cookie) else None
        clear = self.clear_site_data if (logged_out or state.ended_before) else None
        if set_cookie or cache_control or clear:
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
