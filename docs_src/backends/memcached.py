"""Sessions in memcached, through an aiomcache client the application owns."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiomcache
from starlette.applications import Starlette

from starlette_session import SessionMiddleware, SessionStore
from starlette_session.backends import MemcachedBackend

client = aiomcache.Client(
    os.environ.get("MEMCACHED_HOST", "localhost"),
    int(os.environ.get("MEMCACHED_PORT", "11211")),
)
store = SessionStore(MemcachedBackend(client, timeout=2.0))


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await client.close()


app = Starlette(lifespan=lifespan)
app.add_middleware(
    SessionMiddleware, secret_key=os.environ["SESSION_SECRET"], store=store
)
