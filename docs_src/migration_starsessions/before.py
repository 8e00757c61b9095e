"""Before: starsessions 2, sessions in Redis (pip install starsessions)."""

import os

import redis.asyncio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starsessions import SessionAutoloadMiddleware, SessionMiddleware
from starsessions.stores.redis import RedisStore

client = redis.asyncio.Redis.from_url(
    os.environ.get("REDIS_URL", "redis://localhost:6379/0")
)


async def visit(request: Request) -> JSONResponse:
    request.session["visits"] = request.session.get("visits", 0) + 1
    return JSONResponse(request.session)


app = Starlette(
    routes=[Route("/visit", visit, methods=["POST"])],
    middleware=[
        Middleware(
            SessionMiddleware,
            store=RedisStore(connection=client),
            lifetime=3600 * 24 * 14,
            rolling=True,
            cookie_https_only=True,
        ),
        Middleware(SessionAutoloadMiddleware),
    ],
)
