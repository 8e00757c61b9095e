"""Every error starlette-session raises on purpose.

::

    SessionError                       base class: catch this to catch them all
    ├── SessionSetupError              the application is wired wrongly (a bug)
    │   ├── SessionMiddlewareMissingError   no SessionMiddleware in front of the endpoint
    │   ├── SessionNotLoadedError           used in async code before it was loaded
    │   ├── SessionModelNotConfiguredError  typed access without SessionStore(model=...)
    │   ├── SessionSettingsError            a setting that cannot work (start-up)
    │   └── SessionWebSocketError           a WebSocket tried to create, rotate or end it
    ├── SessionDataError               a value the session cannot store (nothing written)
    │   ├── SessionNotSerializableError     a value JSON cannot hold; names the key
    │   └── SessionTooLargeError            over max_size, memcached's item size, 4 KiB
    ├── SessionBackendError            the backend failed or timed out            -> 503
    │   └── SessionReplicationError         too few replicas confirmed a deletion
    ├── SessionConflictError           changed first by another request (strict)  -> 409
    ├── SessionDestroyedError          destroyed by another request meanwhile     -> 409
    └── SessionLimitError              a log-in refused at max_user_sessions      -> 403

``SessionMiddleware`` answers the last four with their ``status_code`` when they escape the
application before the response started. Messages never contain session ids or secrets.
"""

from __future__ import annotations

__all__ = [
    "SessionBackendError",
    "SessionConflictError",
    "SessionDataError",
    "SessionDestroyedError",
    "SessionError",
    "SessionLimitError",
    "SessionMiddlewareMissingError",
    "SessionModelNotConfiguredError",
    "SessionNotLoadedError",
    "SessionNotSerializableError",
    "SessionReplicationError",
    "SessionSettingsError",
    "SessionSetupError",
    "SessionTooLargeError",
    "SessionWebSocketError",
]


class SessionError(Exception):
    """Base class of every error raised by starlette-session."""

    #: The HTTP status ``SessionMiddleware`` answers with when this error escapes the app.
    status_code: int = 500


class SessionSetupError(SessionError, RuntimeError):
    """The application uses sessions in a way that cannot work; the message says how to fix it."""


class SessionMiddlewareMissingError(SessionSetupError):
    """A session was requested but no ``SessionMiddleware`` handled the request."""

    def __init__(self) -> None:
        super().__init__(
            "No session on this request: add the middleware, for example "
            "app.add_middleware(SessionMiddleware, secret_key=..., store=SessionStore(...))."
        )


class SessionNotLoadedError(SessionSetupError):
    """The session was read or changed in async code before it was loaded."""

    def __init__(self) -> None:
        super().__init__(
            "The session is not loaded yet, and async code cannot load it implicitly without "
            "blocking the event loop. Load it first with `await load_session(request)`, declare "
            "it with `Depends(get_session)` in FastAPI, or build the middleware with "
            "SessionMiddleware(..., autoload=True)."
        )


class SessionModelNotConfiguredError(SessionSetupError):
    """A typed session was requested from a store that has no model."""

    def __init__(self) -> None:
        super().__init__(
            "Depends(get_session) returns the session as the model of the application's "
            "SessionStore, and it has none (SessionMiddleware builds a store without a model "
            "when given no store=). Pass one: app.add_middleware(SessionMiddleware, "
            "secret_key=..., store=SessionStore(model=YourModel)); or depend on "
            "session_dependency(YourModel) for a model of the endpoint's own, or on "
            "get_session_handle (SessionHandle) for the untyped session."
        )


class SessionSettingsError(SessionSetupError, ValueError):
    """A setting that cannot work, refused at start-up; the message names it and the fix."""


class SessionWebSocketError(SessionSetupError):
    """A WebSocket tried what only an HTTP response can: create, re-id, destroy the session or
    change its lifetime (all set or expire the cookie)."""


class SessionDataError(SessionError, ValueError):
    """The session holds a value that cannot be stored. Nothing was written."""


class SessionNotSerializableError(SessionDataError, TypeError):
    """A session value is not JSON: only dict, list, str, int, float, bool and None are stored."""


class SessionTooLargeError(SessionDataError):
    """The serialized session is larger than the configured limit. Nothing was written."""


class SessionBackendError(SessionError):
    """The backend failed or timed out; the driver's error is the ``__cause__``."""

    status_code = 503


class SessionReplicationError(SessionBackendError):
    """``RedisBackend(wait_for_replicas=N)``: fewer than N replicas confirmed a deletion within
    ``wait_timeout``, so a failover could bring the deleted sessions back."""


class SessionConflictError(SessionError):
    """Strict mode: another request changed this session after it was loaded; nothing written."""

    status_code = 409


class SessionDestroyedError(SessionError):
    """Another request destroyed this session (a log-out) meanwhile; the change is not written."""

    status_code = 409


class SessionLimitError(SessionError):
    """A log-in refused at ``max_user_sessions`` (``at_user_cap="refuse"``); nothing written.

    Raised by ``session.begin_login(user)``, or at commit (answered 403) if the cap was reached
    meanwhile.
    """

    status_code = 403
