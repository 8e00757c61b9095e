"""The peer, starsessions, wired as its documentation recommends.

Only ``SessionMiddleware`` is installed (no ``SessionAutoloadMiddleware``): each endpoint
that needs the session calls ``await load_session(request)``, so ``/unused`` never loads
it. That is starsessions' cheapest correct setup. ``cookie_https_only=False`` because the
benchmark speaks plain HTTP; it changes nothing but one cookie flag.
"""

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starsessions import SessionMiddleware, SessionStore, load_session


async def unused(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def read(request: Request) -> PlainTextResponse:
    await load_session(request)
    return PlainTextResponse(str(request.session.get("counter", 0)))


async def change(request: Request) -> PlainTextResponse:
    await load_session(request)
    counter = request.session.get("counter", 0) + 1
    request.session["counter"] = counter
    return PlainTextResponse(str(counter))


async def login(request: Request) -> PlainTextResponse:
    await load_session(request)
    request.session["counter"] = 0
    return PlainTextResponse("ok")


def build_app(store: SessionStore) -> Starlette:
    return Starlette(
        routes=[
            Route("/unused", unused),
            Route("/read", read),
            Route("/change", change, methods=["POST"]),
            Route("/login", login),
        ],
        middleware=[Middleware(SessionMiddleware, store=store, cookie_https_only=False)],
    )
