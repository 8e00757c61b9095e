"""After: this library, sessions in Redis."""

import os
from datetime import timedelta

import redis.asyncio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from starlette_session import SessionMiddleware, SessionStore
from starlette_session.backends import RedisBackend

client = redis.asyncio.Redis.from_url(
    os.environ.get("REDIS_URL", "redis://localhost:6379/0")
)


async def visit(request: Request) -> JSONResponse:
    request.session["visits"] = request.session.get("visits", 0) + 1
    return JSONResponse(dict(request.session))


app = Starlette(
    routes=[Route("/visit", visit, methods=["POST"])],
    middleware=[
        Middleware(
            SessionMiddleware,
            # ids are signed: a secret is required
            secret_key=os.environ["SESSION_SECRET"],
            store=SessionStore(RedisBackend(client)),
            max_age=timedelta(days=14),  # lifetime + rolling=True: an idle timeout
            https_only=True,
            autoload=True,  # SessionAutoloadMiddleware
        ),
    ],
)
