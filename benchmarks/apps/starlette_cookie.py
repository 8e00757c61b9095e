"""Starlette's own signed-cookie SessionMiddleware."""

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from benchmarks.apps._env import SECRET_KEY


async def unused(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def read(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(request.session.get("counter", 0)))


async def change(request: Request) -> PlainTextResponse:
    counter = request.session.get("counter", 0) + 1
    request.session["counter"] = counter
    return PlainTextResponse(str(counter))


async def login(request: Request) -> PlainTextResponse:
    request.session["counter"] = 0
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/unused", unused),
        Route("/read", read),
        Route("/change", change, methods=["POST"]),
        Route("/login", login),
    ],
    middleware=[Middleware(SessionMiddleware, secret_key=SECRET_KEY)],
)
