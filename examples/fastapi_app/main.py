"""The example shop: ``uvicorn examples.fastapi_app.main:app`` from the repository root.

Sessions live in a SQLite file, or in Redis or PostgreSQL/MariaDB when ``REDIS_URL`` or
``DATABASE_URL`` is set (see ``storages.py``). The cookie is signed with ``SESSION_SECRET``;
without it, with a development key kept in a git-ignored file, so restarts keep sessions locally
(see ``secret.py`` for the rule that warns when that key is used beyond this machine).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from starlette_session import (
    AuthenticationRequired,
    DeviceTracking,
    ReauthenticationRequired,
    SessionMiddleware,
    SessionStore,
)

from . import api, live, pages, storages
from .models import ShopSession
from .panel import SessionPanel
from .secret import Secret, session_secret

COOKIE_NAME = "session"
IDLE_TIMEOUT = 24 * 60 * 60  # a day without a visit ends the session
ABSOLUTE_TIMEOUT = 7 * 24 * 60 * 60  # and a week after it began, however active
#: "Your active sessions" asks for the password again after this long (seconds).
CONFIRM_WITHIN = 5 * 60


def create_app(
    *,
    redis_url: str | None = None,
    secret_key: str | None = None,
    storage: storages.Storage | None = None,
    confirm_within: int | None = None,
) -> FastAPI:
    """The shop, with sessions in ``storage``; else in Redis at ``redis_url``, or in memory."""
    if storage is None:
        storage = storages.redis(redis_url) if redis_url else storages.memory()
    backend, setup = storage.backend, storage.lifespan

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with setup():  # creates the SQL table, closes the Redis client or SQL engine
            yield

    secret = Secret(secret_key, "argument") if secret_key else session_secret()
    store = SessionStore(
        backend,
        model=ShopSession,
        idle_timeout=IDLE_TIMEOUT,
        absolute_timeout=ABSOLUTE_TIMEOUT,
        # Each logged-in session keeps its browser, /24 (or /48) network and last use, for the
        # "your active sessions" page. Behind a reverse proxy, name it to read X-Forwarded-For:
        # DeviceTracking(trusted_proxies=["10.0.0.0/8"]).
        track_devices=DeviceTracking(),
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
    app.state.confirm_within = confirm_within or int(
        os.environ.get("CONFIRM_WITHIN", CONFIRM_WITHIN)
    )
    app.add_exception_handler(AuthenticationRequired, sign_in_first)
    app.add_exception_handler(ReauthenticationRequired, confirm_first)
    app.include_router(pages.router)
    app.include_router(api.router)
    app.include_router(live.router)
    return app


async def sign_in_first(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/login", status_code=303)


async def confirm_first(request: Request, exc: Exception) -> Response:
    """A page that needs a recent authentication: "confirm your password", then back."""
    return RedirectResponse(f"/confirm?next={request.url.path}", status_code=303)


app = create_app(storage=storages.from_environment())
