"""What a session adds to responses (``Vary``, its one ``Set-Cookie``, ``Cache-Control``), and
the answer to a session error that escaped the application."""

from __future__ import annotations

from starlette.responses import PlainTextResponse

__all__ = ["ERROR_STATUSES", "add_vary_cookie", "error_response", "set_session_cookie"]

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


def set_session_cookie(
    headers: Headers, set_cookie: bytes, cookie_prefix: bytes, cache_control: bytes | None
) -> None:
    """Send ``set_cookie`` as the one session cookie of the response, replacing any the
    application set, and ``cache_control`` (when given) instead of the application's."""
    headers[:] = [
        (name, value)
        for name, value in headers
        if not (name == b"set-cookie" and value.startswith(cookie_prefix))
        and not (name == b"cache-control" and cache_control)
    ]
    headers.append((b"set-cookie", set_cookie))
    if cache_control:
        headers.append((b"cache-control", cache_control))


def error_response(status_code: int) -> PlainTextResponse:
    """The response to a session error with ``status_code`` (one of ``ERROR_STATUSES``)."""
    response = PlainTextResponse(_ERROR_BODIES[status_code], status_code=status_code)
    response.headers["Vary"] = "Cookie"
    response.headers["Cache-Control"] = "no-store"
    return response
