"""The example shop: ``uvicorn examples.fastapi_app.main:app`` from the repository root.

Sessions live in a SQLite file, or in Redis or PostgreSQL/MariaDB when ``REDIS_URL`` or
``DATABASE_URL`` is set (see ``storages.py``). Set ``SESSION_SECRET`` to 32+
random characters; without it a random key is generated, and sessions end when the server stops.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from starlette_session import SessionMiddleware, SessionStore

from . import api, pages, storages
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


def create_app(
    *,
    redis_url: str | None = None,
    secret_key: str | None = None,
    storage: storages.Storage | None = None,
) -> FastAPI:
    """The shop, with sessions in ``storage``; else in Redis at ``redis_url``, or in memory."""
    if storage is None:
        storage = storages.redis(redis_url) if redis_url else storages.memory()
    backend, setup = storage.backend, storage.lifespan

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with setup():  # creates the SQL table, closes the Redis client or SQL engine
            yield

    app = FastAPI(title="Corner shop", summary="starlette-session example", lifespan=lifespan)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key or session_secret(),
        store=SessionStore(backend, model=ShopSession),
    )
    app.include_router(pages.router)
    app.include_router(api.router)
    return app


app = create_app(storage=storages.from_environment())
