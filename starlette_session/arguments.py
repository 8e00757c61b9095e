"""The middleware's arguments of the original starlette-session API, turned into a store."""

from __future__ import annotations

from typing import Any

from starlette_session.backends import BackendType
from starlette_session.backends.original import build_original_backend
from starlette_session.interfaces import ISessionBackend
from starlette_session.store import DEFAULT_LIFETIME, SessionStore

__all__ = ["original_store"]


def original_store(
    backend_type: BackendType | None,
    backend_client: Any,
    custom_session_backend: ISessionBackend | None,
    max_age: int | None,
) -> SessionStore[Any]:
    """The store the original ``SessionMiddleware`` arguments describe; ``max_age`` is also its
    idle timeout."""
    backend = build_original_backend(backend_type, backend_client, custom_session_backend)
    return SessionStore(backend, idle_timeout=max_age or DEFAULT_LIFETIME)
