"""Recent authentication: "confirm your password" before a sensitive page.

``session.set_user(user, method="password")`` after ``begin_login`` records, in the session's
metadata (``AUTH_TIME``, ``AUTH_METHOD``; never in its data, so no session key can set them),
when and how the user proved who they are; ``session.reauthenticated(method)`` records it again
without a new log-in (and gives the session a new id). They survive the session's new ids and
end with its user (log-out, another user). :class:`RequireRecentAuth` checks them: without a
signed-in user it raises :class:`AuthenticationRequired` (401); with an authentication older
than ``max_age`` seconds, or by a method not in ``methods``, :class:`ReauthenticationRequired`
(403). Both are Starlette ``HTTPException`` subclasses: unhandled, they answer 401 and 403; an
exception handler can turn them into the log-in page or the "confirm your password" page.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from starlette_session.durations import Duration, seconds
from starlette_session.session import Session, load_session

__all__ = [
    "AuthenticationRequired",
    "ReauthenticationRequired",
    "RequireRecentAuth",
    "require_recent_auth",
]

#: How far in the future an authentication time may be (another server's clock) and count.
CLOCK_SKEW = 60


class AuthenticationRequired(HTTPException):
    """401: the session has no signed-in user."""

    def __init__(self) -> None:
        super().__init__(401, "sign in first")


class ReauthenticationRequired(HTTPException):
    """403: the user must prove who they are again (``session.reauthenticated(method)``):
    their last authentication is older than ``max_age`` seconds, or not by one of
    ``methods``. ``authenticated_at`` and ``method`` say what the session holds."""

    def __init__(
        self,
        max_age: int,
        methods: frozenset[str] | None,
        authenticated_at: int | None,
        method: str | None,
    ) -> None:
        super().__init__(403, "confirm who you are to continue")
        self.max_age = max_age
        self.methods = methods
        self.authenticated_at = authenticated_at
        self.method = method


class RequireRecentAuth:
    """Require an authentication of the session's user no older than ``max_age`` (seconds or
    a ``timedelta``), by one of ``methods`` if given. As a FastAPI dependency,
    ``Annotated[Session, Depends(RequireRecentAuth(300))]`` gives the loaded session; in
    Starlette, ``await RequireRecentAuth(300).check(request)``."""

    def __init__(self, max_age: Duration, *, methods: Iterable[str] | None = None) -> None:
        self.max_age = seconds(max_age, name="max_age")
        if isinstance(methods, str):
            raise TypeError("methods is a list of method names: methods=['password']")
        self.methods = None if methods is None else frozenset(methods)

    def satisfied_by(self, session: Session, now: float | None = None) -> bool:
        """Whether the loaded ``session`` has a recent enough authentication."""
        return self._problem(session, time.time() if now is None else now) is None

    async def check(self, connection: HTTPConnection) -> Session:
        """The loaded session, or :class:`AuthenticationRequired` /
        :class:`ReauthenticationRequired`."""
        session = await load_session(connection)
        problem = self._problem(session, time.time())
        if problem is not None:
            raise problem
        return session

    async def __call__(self, connection: HTTPConnection) -> Session:
        return await self.check(connection)

    def _problem(self, session: Session, now: float) -> HTTPException | None:
        if session.user_id is None:
            return AuthenticationRequired()
        at, method = session.authenticated_at, session.authentication_method
        recent = at is not None and -CLOCK_SKEW <= now - at <= self.max_age
        allowed = self.methods is None or method in self.methods
        if recent and allowed:
            return None
        return ReauthenticationRequired(self.max_age, self.methods, at, method)


async def require_recent_auth(
    connection: HTTPConnection, max_age: Duration, *, methods: Iterable[str] | None = None
) -> Session:
    """The loaded session if its user authenticated within ``max_age`` (by one of
    ``methods``); else raises :class:`AuthenticationRequired` (401) or
    :class:`ReauthenticationRequired` (403)."""
    return await RequireRecentAuth(max_age, methods=methods).check(connection)
