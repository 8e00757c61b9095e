"""Sessions in Redis, through a redis.asyncio client the application owns."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio
from starlette.applications import Starlette

from starlette_session import SessionMiddleware, SessionStore
from starlette_session.backends import RedisBackend

client = redis.asyncio.Redis.from_url(
    os.environ.get("REDIS_URL", "redis://localhost:6379/0"),
    # bounded waits: see Reliability for the full recommendation
    socket_connect_timeout=0.5,
    socket_timeout=0.5,
)
# Keys are "session:<keyed hash of the id>", each with the session's time to live.
store = SessionStore(RedisBackend(client, timeout=1.0), key_prefix="session:")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await client.aclose()


app = Starlette(lifespan=lifespan)
app.add_middleware(
    SessionMiddleware, secret_key=os.environ["SESSION_SECRET"], store=store
)
