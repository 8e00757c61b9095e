"""The working parts of a bound store: built from its settings and its middleware's keys.

``SessionStore`` is the configuration users build; once ``SessionMiddleware`` binds it to its
signer and cookie, :func:`build_parts` makes the pieces that do the work, each with one job.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, Protocol

from starlette_session.backends.base import SessionBackend
from starlette_session.backends.cookie import CookieBackend
from starlette_session.commit import CommitExecutor
from starlette_session.cookies import CookieSettings
from starlette_session.devices import DeviceTracking
from starlette_session.events import CountingBackend, SessionEvents
from starlette_session.exceptions import SessionSettingsError, SessionSetupError
from starlette_session.keys import StoreKeys
from starlette_session.lifetimes import Lifetimes
from starlette_session.loading import OldCookieLoader, SessionLoader
from starlette_session.plan import CommitRules
from starlette_session.signing import CookieSigner
from starlette_session.user_index import UserIndex

__all__ = ["StoreParts", "StoreSettings", "build_parts"]

#: Rechecked this often when a store has neither timeout set (it cannot: one is required).
_FALLBACK_RECHECK = 14 * 24 * 60 * 60


class StoreSettings(Protocol):
    """What the parts need of a store's settings (``SessionStore`` has them all)."""

    @property
    def backend(self) -> SessionBackend | CookieBackend: ...

    idle_timeout: int | None
    absolute_timeout: int | None
    key_prefix: str
    max_size: int | None
    strict: bool
    save_on_error: bool
    on_backend_error: Literal["fail", "anonymous"]
    max_user_sessions: int
    events: SessionEvents
    devices: DeviceTracking | None


class StoreParts(NamedTuple):
    """Loading, the commit rules and executor, the per-user index, and key derivation."""

    keys: StoreKeys
    loader: SessionLoader
    rules: CommitRules
    executor: CommitExecutor
    users: UserIndex | None


def build_parts(
    settings: StoreSettings,
    signer: CookieSigner,
    cookie: CookieSettings,
    old_cookies: OldCookieLoader | None,
) -> StoreParts:
    """The parts of a store with ``settings``, bound to ``signer`` and ``cookie``.

    While an observer is registered, the parts call the backend through a
    :class:`CountingBackend`, which counts each operation's round trips.
    """
    backend, events = settings.backend, settings.events
    cookie_limit = backend.max_size if isinstance(backend, CookieBackend) else 0
    server = backend if isinstance(backend, SessionBackend) else None
    if server is None and settings.devices is not None:
        raise SessionSetupError(
            "track_devices needs a server-side backend: the cookie backend keeps no list of a "
            "user's sessions"
        )
    if server is None and settings.strict:
        raise SessionSettingsError(
            "strict=True needs a server-side backend: the cookie backend cannot see that another "
            "request changed the session (each response's cookie replaces the last); use Redis, "
            "SQL, memcached or memory for sessions changed by concurrent requests"
        )
    keys = StoreKeys(signer, settings.key_prefix)
    limit = server.max_key_length if server is not None else None
    if limit is not None and keys.longest_key > limit:
        longest, prefix = keys.longest_key, len(settings.key_prefix)
        raise SessionSettingsError(
            f"key_prefix is {prefix} characters: the longest key the store makes (a user's "
            f"session index) would be {longest} bytes, over the {limit} bytes {server!r} "
            f"accepts; use a key_prefix of at most {limit - (longest - prefix)} characters"
        )
    if server is not None and events.observed:
        server = CountingBackend(server)
    lifetimes = Lifetimes(settings.idle_timeout, settings.absolute_timeout, cookie.max_age)
    users = None
    if server is not None:
        recheck = settings.idle_timeout or settings.absolute_timeout or _FALLBACK_RECHECK
        users = UserIndex(
            server,
            keys,
            max_sessions=settings.max_user_sessions,
            recheck_after=recheck,
            events=events,
        )
    loader = SessionLoader(
        backend=server,
        keys=keys,
        lifetimes=lifetimes,
        cookie_name=cookie.name,
        degrade_on_error=settings.on_backend_error == "anonymous",
        old_cookies=old_cookies,
        events=events,
    )
    executor = CommitExecutor(
        backend=server,
        keys=keys,
        users=users,
        cookie=cookie,
        cookie_limit=cookie_limit,
        max_size=settings.max_size,
        strict=settings.strict,
        events=events,
    )
    rules = CommitRules(lifetimes, settings.max_size, settings.save_on_error, server is None)
    return StoreParts(keys, loader, rules, executor, users)
