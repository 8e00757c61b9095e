"""FastAPI dependencies: a typed session per endpoint, and the session's lifecycle handle.

Every dependency declares the session cookie as an optional cookie security scheme, so it shows
in the OpenAPI schema without being required (a first visit has no cookie).
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar, overload

from starlette.requests import HTTPConnection

from starlette_session.session import Session, load_session

try:
    from fastapi import Depends, Security
    from fastapi.security import APIKeyCookie
except ImportError as error:  # pragma: no cover - exercised by the no-extras CI run
    raise ImportError(
        "the FastAPI dependencies need FastAPI: pip install 'starlette-session[fastapi]'"
    ) from error

__all__ = ["SessionHandle", "get_session", "get_session_handle", "session_dependency"]

M = TypeVar("M")


def _cookie_scheme(cookie_name: str) -> APIKeyCookie:
    return APIKeyCookie(
        name=cookie_name,
        scheme_name="SessionCookie",
        description="The signed session cookie; optional: a new visitor has none yet.",
        auto_error=False,
    )


@overload
def session_dependency(
    model: None = None, *, cookie_name: str = ...
) -> Callable[..., Awaitable[Any]]: ...
@overload
def session_dependency(
    model: type[M], *, cookie_name: str = ...
) -> Callable[..., Awaitable[M]]: ...
def session_dependency(
    model: type[M] | None = None, *, cookie_name: str = "session"
) -> Callable[..., Awaitable[Any]]:
    """A dependency returning the request's session validated as ``model``.

    Without ``model`` it uses the model of the store given to ``SessionMiddleware``. Several
    models can share one session: each sees the keys named by its fields, and the changes of all
    are saved. ``cookie_name`` only names the cookie in the OpenAPI schema.
    """
    scheme = _cookie_scheme(cookie_name)

    async def typed_session(
        connection: HTTPConnection, _cookie: Annotated[str | None, Security(scheme)] = None
    ) -> Any:
        session = await load_session(connection)
        return session.model(model if model is not None else session.store.default_model())

    return typed_session


#: ``session: MyModel = Depends(get_session)``: the session as the store's model, saved after the
#: endpoint if it changed.
get_session = session_dependency()

_default_scheme = _cookie_scheme("session")


async def get_session_handle(
    connection: HTTPConnection, _cookie: Annotated[str | None, Security(_default_scheme)] = None
) -> Session:
    """The loaded :class:`Session`: the mapping, with ``regenerate()``, ``destroy()`` and more."""
    return await load_session(connection)


#: ``session: SessionHandle``: the loaded session handle, for log-in and log-out.
SessionHandle = Annotated[Session, Depends(get_session_handle)]
