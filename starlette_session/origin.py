"""Cross-origin protection: refuse unsafe requests that another site made a browser send.

``SessionMiddleware(cross_origin=CrossOriginCheck(...))`` (or ``cross_origin=True``) checks
every request of an unsafe method (not GET, HEAD, OPTIONS), and every WebSocket handshake
(checked as the method ``WEBSOCKET``), that carries the session cookie,
before the application runs: the browser's ``Sec-Fetch-Site`` when it sends one (``same-origin``
and ``none``, a typed address or a bookmark, pass), else the ``Origin`` header against the
request's ``Host`` (a request without either passes: it does not come from a browser that a page
could drive). ``trusted_origins`` pass too; ``exempt_paths`` are not checked (an OAuth provider's
``form_post`` callback). Refused: 403 and one warning on ``starlette_session.security``. Pure: no
I/O; see ``docs/web-security.md`` for its relation to ``SameSite=Lax``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette_session.exceptions import SessionSettingsError

__all__ = ["REFUSED_BODY", "SAFE_METHODS", "CrossOriginCheck"]

security_logger = logging.getLogger("starlette_session.security")
#: Methods never checked: they must not change anything.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REFUSED_BODY = "Cross-origin request refused."
_PASSING_SITES = frozenset({"same-origin", "none"})

Headers = Iterable[tuple[bytes, bytes]]


class CrossOriginCheck:
    """Which cross-origin requests carrying the session cookie to refuse.

    ``trusted_origins``: origins (``"https://app.example.com"``, scheme and host, a port if
    not the default) whose pages may post to this app. ``exempt_paths``: paths never checked,
    each exact, or a prefix ending with ``*`` (``"/oauth/*"``).
    """

    def __init__(
        self, *, trusted_origins: Iterable[str] = (), exempt_paths: Iterable[str] = ()
    ) -> None:
        self.trusted_origins = frozenset(_checked_origin(origin) for origin in trusted_origins)
        paths = list(exempt_paths)
        self._exact = frozenset(path for path in paths if not path.endswith("*"))
        self._prefixes = tuple(path[:-1] for path in paths if path.endswith("*"))

    def exempt(self, path: str) -> bool:
        """Whether ``path`` is never checked."""
        return path in self._exact or path.startswith(self._prefixes)

    def refusal(self, method: str, path: str, headers: Headers) -> str | None:
        """Why a request of ``method`` to ``path`` (which carries the session cookie) is
        refused; None when it passes."""
        if method.upper() in SAFE_METHODS or self.exempt(path):
            return None
        site = origin = host = None
        for name, value in headers:
            if name == b"sec-fetch-site":
                site = value.decode("latin-1").strip().lower()
            elif name == b"origin":
                origin = value.decode("latin-1").strip().lower()
            elif name == b"host":
                host = value.decode("latin-1").strip().lower()
        if site is not None and site in _PASSING_SITES:
            return None
        if origin is not None and origin in self.trusted_origins:
            return None
        if site is not None:
            return f"Sec-Fetch-Site: {site}"
        if origin is None:
            return None  # no browser sent it (or one too old to tell): nothing to check
        if host is not None and origin in (f"https://{host}", f"http://{host}"):
            return None  # an Origin is exactly scheme://host[:port]: nothing to parse
        return f"Origin: {origin}, Host: {host}"

    def log_refusal(self, method: str, path: str, reason: str) -> None:
        """The one warning a refusal logs."""
        security_logger.warning(
            "cross-origin request refused: %s %s (%s)",
            method,
            printable(path),
            printable(reason[:200]),
        )


def printable(text: str) -> str:
    """``text`` with its control characters escaped (a log line cannot be split or forged)."""
    return text if text.isprintable() else repr(text)[1:-1]


def _checked_origin(origin: str) -> str:
    parts = urlsplit(origin.strip().lower())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise SessionSettingsError(
            f"trusted origin {origin!r} is not an origin: give the scheme and host alone, "
            "such as 'https://app.example.com'"
        )
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise SessionSettingsError(f"trusted origin {origin!r} is not an origin")
    return f"{parts.scheme}://{parts.netloc}"
