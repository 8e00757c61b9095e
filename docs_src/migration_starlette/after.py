"""After: this library's SessionMiddleware; Starlette's cookies are carried over."""

import os
from datetime import timedelta

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from starlette_session import SessionMiddleware


async def visit(request: Request) -> JSONResponse:
    request.session["visits"] = request.session.get("visits", 0) + 1
    return JSONResponse(request.session)


app = Starlette(
    routes=[Route("/visit", visit, methods=["POST"])],
    middleware=[
        Middleware(
            SessionMiddleware,
            # A new key signs; the one Starlette used still verifies its cookies.
            secret_key=[os.environ["NEW_SESSION_SECRET"], os.environ["SESSION_SECRET"]],
            session_cookie="session",
            max_age=timedelta(days=14),
            path="/",
            same_site="lax",
            https_only=True,
            domain=None,
            migrate_from="starlette",  # for one max_age, then remove it
        )
    ],
)
