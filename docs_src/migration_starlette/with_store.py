"""Server-side sessions in Redis, Starlette's cookies carried over into them."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import redis.asyncio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from starlette_session import SessionMiddleware, SessionStore, load_session
from starlette_session.backends import RedisBackend

client = redis.asyncio.Redis.from_url(
    os.environ.get("REDIS_URL", "redis://localhost:6379/0")
)


async def visit(request: Request) -> JSONResponse:
    # with a store, async code loads the session first
    session = await load_session(request)
    # A carried-over session names its user in its data (as the old app stored it):
    # bind it, so that store.user_sessions() lists it and revoke_user_sessions() ends
    # it. Each old cookie is carried over once: a copy of it opens nothing.
    if session.user_id is None and isinstance(session.get("user_id"), str):
        await session.begin_login(session["user_id"])
        session.set_user(session["user_id"])
    session["visits"] = session.get("visits", 0) + 1
    return JSONResponse(dict(session))


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await client.aclose()


app = Starlette(
    routes=[Route("/visit", visit, methods=["POST"])],
    middleware=[
        Middleware(
            SessionMiddleware,
            secret_key=[os.environ["NEW_SESSION_SECRET"], os.environ["SESSION_SECRET"]],
            store=SessionStore(RedisBackend(client)),
            max_age=timedelta(days=14),
            https_only=True,
            migrate_from="starlette",
        )
    ],
    lifespan=lifespan,
)
