"""The example shop: ``uvicorn examples.fastapi_app.main:app`` from the repository root.

Sessions live in memory, or in Redis when ``REDIS_URL`` is set. Set ``SESSION_SECRET`` to 32+
random characters; without it a random key is generated, and sessions end when the server stops.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from starlette_session import SessionMiddleware, SessionStore
from starlette_session.backends import MemoryBackend, SessionBackend

from . import api, pages
from .models import ShopSession

logger = logging.getLogger(__name__)


def session_secret() -> str:
    secret = os.environ.get("SESSION_SECRET")
    if secret:
        return secret
    logger.warning(
        "SESSION_SECRET is not set: using a random key, so every session ends when the server "
        "stops. Set SESSION_SECRET to 32+ random characters."
    )
    return secrets.token_urlsafe(32)


def create_app(*, redis_url: str | None = None, secret_key: str | None = None) -> FastAPI:
    """The shop, with sessions in Redis at ``redis_url``, or in memory when it is None."""
    backend: SessionBackend
    client: Any = None
    if redis_url:
        import redis.asyncio  # the redis extra is only needed with REDIS_URL

        from starlette_session.backends import RedisBackend

        client = redis.asyncio.Redis.from_url(redis_url)
        backend = RedisBackend(client)
    else:
        backend = MemoryBackend()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if client is not None:  # the application owns its Redis client
            await client.aclose()

    app = FastAPI(title="Corner shop", summary="starlette-session example", lifespan=lifespan)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key or session_secret(),
        store=SessionStore(backend, model=ShopSession),
    )
    app.include_router(pages.router)
    app.include_router(api.router)
    return app


app = create_app(redis_url=os.environ.get("REDIS_URL") or None)
