"""Sessions in a plain Starlette app: ``SESSION_SECRET=... uvicorn app:app``."""

import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from starlette_session import SessionMiddleware, SessionStore, load_session


async def visit(request: Request) -> JSONResponse:
    # async code loads explicitly: nothing blocks the loop
    session = await load_session(request)
    session["visits"] = session.get("visits", 0) + 1
    return JSONResponse({"visits": session["visits"]})


def peek(request: Request) -> JSONResponse:  # sync endpoints load on first use
    return JSONResponse(request.session)


async def forget(request: Request) -> JSONResponse:
    session = await load_session(request)
    session.destroy()  # deleted server-side, cookie expired
    return JSONResponse({})


app = Starlette(
    routes=[
        Route("/visit", visit, methods=["POST"]),
        Route("/peek", peek),
        Route("/forget", forget, methods=["POST"]),
    ],
    middleware=[
        Middleware(
            SessionMiddleware,
            secret_key=os.environ["SESSION_SECRET"],
            store=SessionStore(),  # in memory; see Backends
        )
    ],
)
