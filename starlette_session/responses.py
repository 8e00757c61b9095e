"""What a session adds to responses (``Vary``, its one ``Set-Cookie``, ``Cache-Control``), and
the answer to a session error that escaped the application."""

from __future__ import annotations

from starlette.responses import PlainTextResponse

from starlette_session.cookies import CookieSettings

__all__ = ["ERROR_STATUSES", "ResponseHeaders", "add_vary_cookie", "error_response"]

_ERROR_BODIES = {
    503: "The session store is unavailable. Please try again shortly.",
    409: "Your session changed while this request ran. Please try again.",
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
