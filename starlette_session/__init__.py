"""Server-side sessions for Starlette and FastAPI: typed, lazy, safe by default."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette_session.cookies import CookieSettings
from starlette_session.devices import DeviceTracking
from starlette_session.encryption import EncryptionKey, KeyRing, generate_key
from starlette_session.events import SessionEvent, SessionEventInfo
from starlette_session.exceptions import (
    SessionBackendError,
    SessionConflictError,
    SessionDataError,
    SessionDestroyedError,
    SessionError,
    SessionMiddlewareMissingError,
    SessionModelNotConfiguredError,
    SessionNotLoadedError,
    SessionNotSerializableError,
    SessionReplicationError,
    SessionSettingsError,
    SessionSetupError,
    SessionTooLargeError,
    SessionWebSocketError,
)
from starlette_session.middleware import SessionMiddleware
from starlette_session.session import Session, load_session
from starlette_session.store import SessionInfo, SessionStore

if TYPE_CHECKING:
    from starlette_session.dependencies import (
        SessionDependency,
        SessionHandle,
        get_session,
        get_session_handle,
        session_dependency,
    )

__version__ = "1.0.0"

__all__ = [
    "CookieSettings",
    "DeviceTracking",
    "EncryptionKey",
    "KeyRing",
    "Session",
    "SessionBackendError",
    "SessionConflictError",
    "SessionDataError",
    "SessionDependency",
    "SessionDestroyedError",
    "SessionError",
    "SessionEvent",
    "SessionEventInfo",
    "SessionHandle",
    "SessionInfo",
    "SessionMiddleware",
    "SessionMiddlewareMissingError",
    "SessionModelNotConfiguredError",
    "SessionNotLoadedError",
    "SessionNotSerializableError",
    "SessionReplicationError",
    "SessionSettingsError",
    "SessionSetupError",
    "SessionStore",
    "SessionTooLargeError",
    "SessionWebSocketError",
    "generate_key",
    "get_session",
    "get_session_handle",
    "load_session",
    "session_dependency",
]

_FASTAPI_NAMES = {
    "SessionDependency",
    "SessionHandle",
    "get_session",
    "get_session_handle",
    "session_dependency",
}


def __getattr__(name: str) -> Any:
    # The FastAPI dependencies import FastAPI, an optional extra: load them on first use.
    if name in _FASTAPI_NAMES:
        from starlette_session import dependencies

        return getattr(dependencies, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
