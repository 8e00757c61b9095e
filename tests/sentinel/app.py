"""The app of the multi-worker failover test: ``uvicorn --factory tests.sentinel.app:create_app``.

Each worker process builds its own Sentinel client from the environment, as a deployment would:

- ``SENTINEL_ADDRESSES``: ``host:port`` of every Sentinel, comma-separated;
- ``SENTINEL_SERVICE``: the name the Sentinels monitor the master under.

Routes: those of ``tests.reliability.support.make_app`` (``/increment``, ``/session``, ...), and
``/pid``, which says which worker answered.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from starlette_session import SessionStore
from starlette_session.backends.redis import RedisBackend
from tests.helpers import make_app
from tests.sentinel.failover import BACKEND_TIMEOUT, sentinel_addresses_client

__all__ = ["create_app"]


async def _pid(request: Request) -> Response:
    return PlainTextResponse(str(os.getpid()))


def create_app() -> Starlette:
    """Build the app from ``SENTINEL_ADDRESSES`` and ``SENTINEL_SERVICE``."""
    addresses = [
        (host, int(port))
        for host, _, port in (
            item.rpartition(":") for item in os.environ["SENTINEL_ADDRESSES"].split(",")
        )
    ]
    client: Any = sentinel_addresses_client(addresses, os.environ["SENTINEL_SERVICE"])
    app = make_app(
        SessionStore(RedisBackend(client, timeout=BACKEND_TIMEOUT)), routes=[Route("/pid", _pid)]
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    app.router.lifespan_context = lifespan
    return app
