"""The transition: each starsessions session in Redis imported once, at its next use."""

import json
import os
import re
from datetime import timedelta

import redis.asyncio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from starlette_session import Session, SessionMiddleware, SessionStore, load_session
from starlette_session.backends import RedisBackend

client = redis.asyncio.Redis.from_url(
    os.environ.get("REDIS_URL", "redis://localhost:6379/0")
)
# starsessions' session id, unsigned, in the cookie
OLD_ID = re.compile(r"[0-9a-f]{32}")


async def session_of(request: Request) -> Session:
    """``load_session``, importing the visitor's starsessions session first, if any.

    Use it in place of ``load_session`` until starsessions' lifetime has passed since
    the deploy.
    """
    session = await load_session(request)
    old_id = request.cookies.get("session", "")
    if session.is_new and OLD_ID.fullmatch(old_id):
        raw = await client.getdel(f"starsessions.{old_id}")  # imported once, then gone
        if raw:
            data = json.loads(raw)
            data.pop("__metadata__", None)  # starsessions' own bookkeeping
            session.update(data)  # saved under a new signed id; the cookie is replaced
    return session


async def visit(request: Request) -> JSONResponse:
    session = await session_of(request)
    session["visits"] = session.get("visits", 0) + 1
    return JSONResponse(dict(session))


app = Starlette(
    routes=[Route("/visit", visit, methods=["POST"])],
    middleware=[
        Middleware(
            SessionMiddleware,
            secret_key=os.environ["SESSION_SECRET"],
            store=SessionStore(RedisBackend(client)),
            max_age=timedelta(days=14),
            https_only=True,
        ),
    ],
)
