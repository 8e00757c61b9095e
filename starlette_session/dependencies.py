"""FastAPI dependencies: a typed session per endpoint, and the session's lifecycle handle.

Each is a cookie security scheme (an ``APIKeyCookie`` that does not require the cookie: a first
visit has none), so the session cookie shows in the OpenAPI schema at no cost per request.
"""

from typing import Annotated, Any, Generic, TypeVar, overload

from starlette.requests import HTTPConnection

from starlette_session.csrf import csrf_token
from starlette_session.flash import FlashDependency, Flashes
from starlette_session.session import Session, load_session
from starlette_session.typed import check_model

try:
    from fastapi import Depends
    from fastapi.security import APIKeyCookie
except ImportError as error:  # pragma: no cover - exercised by the no-extras CI run
    raise ImportError(
        "the FastAPI dependencies need FastAPI: pip install 'starlette-session[fastapi]'"
    ) from error

__all__ = [
    "CSRFToken",
    "FlashMessages",
    "SessionDependency",
    "SessionHandle",
    "get_session",
    "get_session_handle",
    "session_dependency",
]

M = TypeVar("M")


class _SessionCookieScheme(APIKeyCookie):
    def __init__(self, cookie_name: str) -> None:
        description = "The signed session cookie; optional: a new visitor has none yet."
        super().__init__(
            name=cookie_name, scheme_name="SessionCookie", description=description, auto_error=False
        )


class SessionDependency(_SessionCookieScheme, Generic[M]):
    """A dependency returning the request's session validated as ``model`` (by default the
    store's). Several models can share one session: each sees the keys named by its fields, and
    the changes of all are saved. ``cookie_name`` only names the cookie in the OpenAPI schema."""

    def __init__(self, model: type[M] | None = None, *, cookie_name: str = "session") -> None:
        super().__init__(cookie_name)
        if model is not None:
            check_model(model)
        self.session_model = model

    async def __call__(self, connection: HTTPConnection) -> M:  # type: ignore[override]
        session = await load_session(connection)
        model = self.session_model
        return session.model(model if model is not None else session.store.default_model())


@overload
def session_dependency(model: None = None, *, cookie_name: str = ...) -> SessionDependency[Any]: ...
@overload
def session_dependency(model: type[M], *, cookie_name: str = ...) -> SessionDependency[M]: ...
def session_dependency(
    model: type[M] | None = None, *, cookie_name: str = "session"
) -> SessionDependency[Any]:
    """``Depends(session_dependency(Cart))``: the session validated as ``Cart`` (without a
    model: the store's, that is :data:`get_session`)."""
    return SessionDependency(model, cookie_name=cookie_name)


class _SessionHandleDependency(_SessionCookieScheme):
    """``Depends(get_session_handle)``: the loaded :class:`Session`."""

    async def __call__(self, connection: HTTPConnection) -> Session:  # type: ignore[override]
        return await load_session(connection)


#: ``session: MyModel = Depends(get_session)``: the session as the store's model.
get_session: SessionDependency[Any] = SessionDependency()
#: ``Depends(get_session_handle)``: the loaded :class:`Session`, the mapping with
#: ``regenerate()``, ``destroy()``, ``set_user()`` and ``set_lifetime()``.
get_session_handle = _SessionHandleDependency("session")
#: ``session: SessionHandle``: the loaded session handle, for log-in and log-out.
SessionHandle = Annotated[Session, Depends(get_session_handle)]
#: ``flashes: FlashMessages``: the session's flash messages, untyped (for a model:
#: ``Annotated[Flashes[Note], Depends(FlashDependency(Note))]``).
FlashMessages = Annotated[Flashes[Any], Depends(FlashDependency())]
#: ``token: CSRFToken``: a CSRF token for this response's forms (protect the endpoints with
#: ``Depends(verify_csrf)``).
CSRFToken = Annotated[str, Depends(csrf_token)]
