"""The limit: plain Starlette without any session middleware."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def unused(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def read(request: Request) -> PlainTextResponse:
    return PlainTextResponse("0")


async def change(request: Request) -> PlainTextResponse:
    return PlainTextResponse("1")


async def login(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/unused", unused),
        Route("/read", read),
        Route("/change", change, methods=["POST"]),
        Route("/login", login),
    ]
)
