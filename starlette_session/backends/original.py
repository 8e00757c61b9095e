"""The original API's way of choosing a backend: ``backend_type`` and ``backend_client``."""

from __future__ import annotations

from typing import Any

from starlette_session.backends import BackendType
from starlette_session.backends.base import SessionBackend
from starlette_session.backends.cookie import CookieBackend
from starlette_session.backends.legacy import LegacyBackend
from starlette_session.backends.memory import MemoryBackend
from starlette_session.interfaces import ISessionBackend

__all__ = ["build_original_backend"]


def build_original_backend(
    backend_type: BackendType | None,
    backend_client: Any,
    custom_session_backend: ISessionBackend | None,
) -> SessionBackend | CookieBackend:
    """The backend the original ``SessionMiddleware`` arguments name (the signed cookie when
    none is named)."""
    if custom_session_backend is not None:
        return LegacyBackend(custom_session_backend)
    if backend_type in (None, BackendType.cookie):
        return CookieBackend()
    if backend_type is BackendType.memory:
        return MemoryBackend()
    if backend_client is None:
        raise ValueError(f"backend_type={backend_type} needs backend_client=<a redis client>")
    from starlette_session.backends.redis import RedisBackend

    return RedisBackend(backend_client)
