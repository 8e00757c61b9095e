"""``autoload=True``: every request's session is loaded before the endpoint runs."""

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from starlette_session import SessionMiddleware, SessionStore


async def greet(request: Request) -> PlainTextResponse:
    name = request.session.get("name", "stranger")  # already loaded: no await needed
    request.session["name"] = request.query_params.get("name", name)
    return PlainTextResponse(f"Hello, {name}!")


app = Starlette(routes=[Route("/", greet)])
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ["SESSION_SECRET"],
    store=SessionStore(),
    autoload=True,  # one backend read per request that carries a session cookie
)
