"""An app written for starlette-session 0.4.3, unchanged: it runs on this library."""

import os

from redis import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from starlette_session import SessionMiddleware
from starlette_session.backends import BackendType


async def visit(request: Request) -> JSONResponse:
    # The original API loads every request's session, so async code uses it directly.
    request.session["visits"] = request.session.get("visits", 0) + 1
    return JSONResponse({"session": request.session})


async def forget(request: Request) -> JSONResponse:
    request.session.clear()
    return JSONResponse({"session": request.session})


app = Starlette(routes=[Route("/visit", visit), Route("/forget", forget)])
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ["SESSION_SECRET"],
    cookie_name="cookie22",
    backend_type=BackendType.redis,
    backend_client=Redis.from_url(
        os.environ.get("REDIS_URL", "redis://localhost:6379/0")
    ),
)
