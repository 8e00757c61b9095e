"""Answering a backend outage yourself, when the app has a better answer than 503."""

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from starlette_session import (
    SessionBackendError,
    SessionMiddleware,
    SessionStore,
    load_session,
)
from starlette_session.backends import RedisBackend


async def homepage(request: Request) -> HTMLResponse:
    try:
        session = await load_session(request)
    except SessionBackendError:
        return HTMLResponse("<p>Welcome! Signing in is briefly unavailable.</p>")
    user = session.get("user")
    return HTMLResponse(f"<p>Welcome{', ' + user if user else ''}!</p>")


async def login(request: Request) -> HTMLResponse:
    session = await load_session(request)  # (check the user's password here)
    session.regenerate()
    session["user"] = request.query_params["user"]
    return HTMLResponse("<p>Logged in.</p>")


def create_app(backend: RedisBackend) -> Starlette:
    app = Starlette(
        routes=[Route("/", homepage), Route("/login", login, methods=["POST"])]
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=os.environ["SESSION_SECRET"],
        store=SessionStore(backend),
    )
    return app
