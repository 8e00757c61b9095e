"""The "your session" panel: what the session of the visitor is doing, shown on every page.

It shows which backend holds the session, whether the visitor has one yet, when it expires (idle
and absolute), a short fingerprint of its store key (never the id: the store key is a keyed hash
of the id, and the fingerprint a hash of that), the fingerprint it had before logging in, and the
user's other sessions. Everything comes from the public API: ``Session``, ``SessionStore``
(``signer``, ``storage_key``, ``user_sessions``) and the request's cookie.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from fastapi import Request
from pydantic import BaseModel

from starlette_session import Session, SessionStore

from .secret import Secret, development_key_exposed


class LoginNote(BaseModel):
    """Kept in the session at log-in: the fingerprint the session had before its new id."""

    rotated_from: str | None = None


@dataclass(frozen=True)
class Moment:
    """A point in time, for the template: an ISO timestamp and "in 2 h"."""

    at: int

    @property
    def iso(self) -> str:
        return datetime.fromtimestamp(self.at, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    @property
    def relative(self) -> str:
        seconds = self.at - int(time.time())
        for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
            if abs(seconds) >= size:
                amount = f"{round(seconds / size)} {unit}"
                return f"in {amount}" if seconds > 0 else f"{amount[1:]} ago"
        return "now"


@dataclass(frozen=True)
class ActiveSession:
    fingerprint: str
    created: Moment | None
    current: bool


@dataclass(frozen=True)
class PanelView:
    backend: str
    has_session: bool
    fingerprint: str | None
    rotated_from: str | None
    idle_expiry: Moment | None
    absolute_expiry: Moment | None
    idle_timeout: int | None
    absolute_timeout: int | None
    user: str | None
    sessions: list[ActiveSession]
    development_key: bool
    exposed_development_key: bool


def fingerprint(store_key: str) -> str:
    """A short, stable name for a stored session: the first 8 hex digits of a hash of its key."""
    return hashlib.sha256(store_key.encode()).hexdigest()[:8]


def describe_backend(backend: object) -> str:
    name = type(backend).__name__
    if name == "SQLBackend":
        dialect = backend.engine.dialect.name  # type: ignore[attr-defined]
        database = {"sqlite": "a SQLite file", "postgresql": "PostgreSQL"}.get(dialect, dialect)
        return f"{database} (kept across restarts)"
    return {
        "MemoryBackend": "memory (this process: lost when it stops)",
        "RedisBackend": "Redis",
        "MemcachedBackend": "memcached",
        "CookieBackend": "the signed cookie",
    }.get(name, name)


class SessionPanel:
    """Builds the panel of one request; one per app, in ``app.state.panel``."""

    def __init__(self, store: SessionStore[Any], cookie_name: str, secret: Secret) -> None:
        self.store = store
        self.cookie_name = cookie_name
        self.secret = secret

    def store_key(self, request: Request, session: Session) -> str | None:
        """The store key of the session the request's cookie points to (None for a new one)."""
        cookie = request.cookies.get(self.cookie_name)
        if session.is_new or not cookie:
            return None
        unsigned = self.store.signer.unsign(cookie)
        return self.store.storage_key(unsigned.payload, unsigned.key_index) if unsigned else None

    def current_fingerprint(self, request: Request, session: Session) -> str | None:
        key = self.store_key(request, session)
        return fingerprint(key) if key else None

    async def view(self, request: Request, session: Session) -> PanelView:
        store, now = self.store, int(time.time())
        key = self.store_key(request, session)
        created = session.created_at
        idle = store.idle_timeout
        absolute = store.absolute_timeout
        sessions: list[ActiveSession] = []
        user = session.user_id
        if user is not None:
            for info in await store.user_sessions(user):
                when = Moment(info.created_at) if info.created_at else None
                sessions.append(ActiveSession(fingerprint(info.key), when, info.key == key))
        server = request.scope.get("server")
        return PanelView(
            backend=describe_backend(store.backend),
            has_session=key is not None,
            fingerprint=fingerprint(key) if key else None,
            rotated_from=session.model(LoginNote).rotated_from if key else None,
            # The read that loaded this session slid its idle expiry to now + idle_timeout.
            idle_expiry=Moment(now + idle) if key and idle else None,
            absolute_expiry=Moment(created + absolute) if key and created and absolute else None,
            idle_timeout=idle,
            absolute_timeout=absolute,
            user=user,
            sessions=sessions,
            development_key=self.secret.is_development_key,
            exposed_development_key=development_key_exposed(
                self.secret, server[0] if server else None
            ),
        )


def panel_of(request: Request) -> SessionPanel:
    panel: SessionPanel = request.app.state.panel
    return panel
