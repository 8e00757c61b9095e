"""The cookie backend's users kept logged in across the upgrade from 0.4.3."""

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from starlette_session import SessionMiddleware


async def visit(request: Request) -> JSONResponse:
    request.session["visits"] = request.session.get("visits", 0) + 1
    return JSONResponse({"session": request.session})


app = Starlette(routes=[Route("/visit", visit)])
app.add_middleware(
    SessionMiddleware,
    # The first key signs, both verify: the new key, then the one 0.4.3 used.
    secret_key=[os.environ["SESSION_SECRET"], os.environ["OLD_SESSION_SECRET"]],
    cookie_name="cookie22",
    # for one max_age (14 days by default), then remove
    migrate_from="starlette-session-0.4",
)
