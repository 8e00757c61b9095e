"""Server-side sessions for Starlette and FastAPI: typed, lazy, safe by default."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette_session.cookies import CookieSettings
from starlette_session.csrf import CSRFProtection, csrf_token, verify_csrf
from starlette_session.devices import DeviceTracking
from starlette_session.encryption import EncryptionKey, KeyRing, generate_key
from starlette_session.events import SessionEvent, SessionEventInfo
from starlette_session.exceptions import (
    SessionBackendError,
    SessionConflictError,
    SessionDataError,
    SessionDestroyedError,
    SessionError,
    SessionLimitError,
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
from starlette_session.flash import FlashDependency, Flashes, FlashMessage, get_flashes
from starlette_session.middleware import SessionMiddleware
from starlette_session.origin import CrossOriginCheck
from starlette_session.recent_auth import (
    AuthenticationRequired,
    ReauthenticationRequired,
    RequireRecentAuth,
    require_recent_auth,
)
from starlette_session.session import Session, load_session
from starlette_session.store import SessionInfo, SessionStore

if TYPE_CHECKING:
    from starlette_session.dependencies import (
        CSRFToken,
        FlashMessages,
        SessionDependency,
        SessionHandle,
        get_session,
        get_session_handle,
        session_dependency,
    )

__version__ = "1.0.0"

__all__ = [
    "AuthenticationRequired",
    "CSRFProtection",
    "CSRFToken",
    "CookieSettings",
    "CrossOriginCheck",
    "DeviceTracking",
    "EncryptionKey",
    "FlashDependency",
    "FlashMessage",
    "FlashMessages",
    "Flashes",
    "KeyRing",
    "ReauthenticationRequired",
    "RequireRecentAuth",
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
    "SessionLimitError",
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
    "csrf_token",
    "generate_key",
    "get_flashes",
    "get_session",
    "get_session_handle",
    "load_session",
    "require_recent_auth",
    "session_dependency",
    "verify_csrf",
]


def __getattr__(name: str) -> Any:
    # Only the FastAPI dependencies get here (FastAPI is an optional extra): loaded on first use.
    if name in __all__:
        from starlette_session import dependencies

        return getattr(dependencies, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
