"""The middleware's arguments, from any of the APIs it accepts, turned into its settings.

``SessionMiddleware`` takes its own arguments, the original starlette-session's (``cookie_name``,
``backend_type``, ``backend_client``, ``custom_session_backend``) and Starlette's own
``SessionMiddleware``'s (``session_cookie``, ``max_age`` of 0 or less, ...), with their meanings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette_session.backends import BackendType
from starlette_session.backends.original import build_original_backend
from starlette_session.cookies import CookieSettings, SameSite
from starlette_session.durations import Duration, seconds
from starlette_session.interfaces import ISessionBackend
from starlette_session.loading import OldCookieLoader
from starlette_session.migration import MigrateFrom, old_cookie_loader
from starlette_session.setup_warnings import warn_setup
from starlette_session.signing import SecretKey
from starlette_session.store import SessionStore

__all__ = ["cookie_settings", "middleware_store", "old_cookie_reader", "warn_if_added_twice"]


def cookie_settings(
    cookie_name: str | None,
    session_cookie: str | None,
    max_age: Duration | None,
    path: str,
    domain: str | None,
    https_only: bool,
    http_only: bool,
    same_site: SameSite,
    partitioned: bool,
) -> CookieSettings:
    """The session cookie. ``session_cookie`` is Starlette's name for ``cookie_name``; a
    ``max_age`` of 0 or less is Starlette's "expire at once" (``Max-Age=0``)."""
    if cookie_name is not None and session_cookie is not None:
        raise TypeError("pass cookie_name or session_cookie (Starlette's name for it), not both")
    name = cookie_name if cookie_name is not None else session_cookie
    return CookieSettings(
        name="session" if name is None else name,
        max_age=seconds(max_age, name="max_age", allow_none=True, negative_as_zero=True),
        path=path,
        domain=domain,
        secure=https_only,
        http_only=http_only,
        same_site=same_site,
        partitioned=partitioned,
    )


def middleware_store(
    store: SessionStore[Any] | None,
    backend_type: BackendType | None,
    backend_client: Any,
    custom_session_backend: ISessionBackend | None,
) -> tuple[SessionStore[Any], bool]:
    """The store to use, and whether it comes from the original API (which loads the session of
    every request, as the original did)."""
    original = (backend_type, backend_client, custom_session_backend)
    if store is not None:
        if any(argument is not None for argument in original):
            raise ValueError("pass either store= or the original backend_* arguments, not both")
        return store, False
    return SessionStore(build_original_backend(*original)), True


def old_cookie_reader(
    migrate_from: MigrateFrom | None,
    secret_key: SecretKey | Sequence[SecretKey] | None,
    max_age: int | None,
) -> OldCookieLoader | None:
    """How to read the previous library's cookies, for ``migrate_from=`` (None: not at all)."""
    if migrate_from is None or secret_key is None:  # no key: the signer has refused it already
        return None
    return old_cookie_loader(migrate_from, secret_key, max_age=max_age)


def warn_if_added_twice(app: object) -> None:
    """Warn when ``app`` (what a new ``SessionMiddleware`` wraps) already holds one.

    A warning, not an error: such an application works (the inner middleware serves
    ``request.session``, the outer one is never used), so it must not stop at an upgrade."""
    node, depth = app, 0
    while node is not None and depth < 100:  # the ASGI chain: each middleware's .app
        if any(
            cls.__module__ == "starlette_session.middleware" and cls.__name__ == "SessionMiddleware"
            for cls in type(node).__mro__
        ):
            warn_setup(
                "SessionMiddleware is added twice: the inner one serves request.session and the "
                "outer one is never used (its settings are ignored). Remove one of the "
                "add_middleware(SessionMiddleware, ...) or Middleware(SessionMiddleware, ...)."
            )
            return
        node, depth = getattr(node, "app", None), depth + 1
