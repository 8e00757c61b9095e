"""Before: Starlette's own SessionMiddleware, the session in a signed cookie."""

import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def visit(request: Request) -> JSONResponse:
    request.session["visits"] = request.session.get("visits", 0) + 1
    return JSONResponse(request.session)


app = Starlette(
    routes=[Route("/visit", visit, methods=["POST"])],
    middleware=[
        Middleware(
            SessionMiddleware,
            secret_key=os.environ["SESSION_SECRET"],
            session_cookie="session",
            max_age=14 * 24 * 3600,
            path="/",
            same_site="lax",
            https_only=True,
            domain=None,
        )
    ],
)
