"""What survives a log-in: only the keys named in ``regenerate(keep=...)``."""

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from starlette_session import SessionMiddleware, SessionStore, load_session

# Kept across a log-in (the visitor's own choices); everything else is dropped at
# log-in.
KEPT_AT_LOGIN = ("cart", "language")


async def login(request: Request) -> JSONResponse:
    user = request.query_params["user"]
    session = await load_session(request)
    # Before the password is checked: a revocation of this user from now on ends
    # this log-in too (see SECURITY.md, guarantee 38).
    await session.begin_login(user)
    # (check the user's password here)
    # A new id: a cookie planted before the log-in is worth nothing; and nothing an
    # anonymous visitor's session held carries over, but the keys listed.
    session.regenerate(keep=KEPT_AT_LOGIN)
    session.set_user(user)  # in the user's index, for revoke_user_sessions
    session["user"] = user
    return JSONResponse(dict(session))


async def remember(request: Request) -> JSONResponse:
    session = await load_session(request)
    session.update(request.query_params)
    return JSONResponse(dict(session))


app = Starlette(
    routes=[
        Route("/login", login, methods=["POST"]),
        Route("/remember", remember, methods=["POST"]),
    ]
)
app.add_middleware(
    SessionMiddleware, secret_key=os.environ["SESSION_SECRET"], store=SessionStore()
)
