"""This library on plain Starlette; the backend is the only thing that varies."""

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from benchmarks.apps._env import SECRET_KEY

try:
    from starlette_session import SessionMiddleware, SessionStore, load_session
except ImportError as exc:  # the package is written alongside this suite
    raise ImportError(
        f"starlette_session is not importable ({exc}); install the repository with "
        '`pip install -e ".[all]"` (benchmarks/run.sh does) to benchmark it.'
    ) from exc


async def unused(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def read(request: Request) -> PlainTextResponse:
    session = await load_session(request)
    return PlainTextResponse(str(session.get("counter", 0)))


async def change(request: Request) -> PlainTextResponse:
    session = await load_session(request)
    counter = session.get("counter", 0) + 1
    session["counter"] = counter
    return PlainTextResponse(str(counter))


async def login(request: Request) -> PlainTextResponse:
    session = await load_session(request)
    session["counter"] = 0
    return PlainTextResponse("ok")


def build_app(backend: Any, encryption: Any = None) -> Starlette:
    # Passed only when set: a revision before encryption at rest serves this app too
    # (benchmarks/compare_http.py, compare_revisions.sh).
    sealed = {} if encryption is None else {"encryption": encryption}
    store: SessionStore[Any] = SessionStore(backend=backend, **sealed)
    return Starlette(
        routes=[
            Route("/unused", unused),
            Route("/read", read),
            Route("/change", change, methods=["POST"]),
            Route("/login", login),
        ],
        middleware=[Middleware(SessionMiddleware, secret_key=SECRET_KEY, store=store)],
    )
