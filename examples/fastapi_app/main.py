"""The example shop: ``uvicorn examples.fastapi_app.main:app`` from the repository root.

Sessions live in memory, or in Redis when ``REDIS_URL`` is set. The cookie is signed with
``SESSION_SECRET``; without it, with a development key kept in a git-ignored file, so restarts
keep sessions locally (see ``secret.py`` for the rule that warns when that key is used beyond this
machine).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from starlette_session import SessionMiddleware, SessionStore
from starlette_session.backends import MemoryBackend, SessionBackend

from . import api, pages
from .models import ShopSession
from .panel import SessionPanel
from .secret import Secret, session_secret

COOKIE_NAME = "session"
IDLE_TIMEOUT = 24 * 60 * 60  # a day without a visit ends the session
ABSOLUTE_TIMEOUT = 7 * 24 * 60 * 60  # and a week after it began, however active


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

    secret = Secret(secret_key, "argument") if secret_key else session_secret()
    store = SessionStore(
        backend, model=ShopSession, idle_timeout=IDLE_TIMEOUT, absolute_timeout=ABSOLUTE_TIMEOUT
    )
    app = FastAPI(title="Corner shop", summary="starlette-session example", lifespan=lifespan)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret.value,
        store=store,
        cookie_name=COOKIE_NAME,
        max_age=ABSOLUTE_TIMEOUT,  # the cookie does not outlive the session
    )
    app.state.panel = SessionPanel(store, COOKIE_NAME, secret)
    app.include_router(pages.router)
    app.include_router(api.router)
    return app


app = create_app(redis_url=os.environ.get("REDIS_URL") or None)
