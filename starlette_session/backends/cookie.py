"""Sessions kept entirely in the signed cookie: no server state at all."""

from __future__ import annotations

__all__ = ["CookieBackend"]

#: Browsers drop cookies over 4096 bytes (name, value and attributes together).
BROWSER_COOKIE_LIMIT = 4096


class CookieBackend:
    """Keep the whole session in the signed cookie.

    Nothing is stored on the server, so this works across any number of workers with no setup,
    but: the data is signed, not encrypted (the user can read it) unless the store has
    ``encryption=``; a logout cannot revoke a copy
    of the cookie taken earlier (it stays valid until it expires); and the session must fit in a
    cookie: a session whose ``Set-Cookie`` would exceed ``max_size`` bytes raises
    :class:`~starlette_session.exceptions.SessionTooLargeError` when saved, instead of being
    silently dropped by the browser. Per-user session revocation is not available.
    """

    def __init__(self, max_size: int = BROWSER_COOKIE_LIMIT) -> None:
        self.max_size = max_size

    def __repr__(self) -> str:
        return f"CookieBackend(max_size={self.max_size})"
