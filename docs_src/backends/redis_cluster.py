"""Sessions in a Redis Cluster: every session is one key, so any slot layout works."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import RedisCluster
from starlette.applications import Starlette

from starlette_session import SessionMiddleware, SessionStore
from starlette_session.backends import RedisBackend

# One node's address is enough: the client discovers the others.
client = RedisCluster.from_url(
    os.environ.get("REDIS_CLUSTER_URL", "redis://localhost:7000/0")
)
store = SessionStore(RedisBackend(client))


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await client.aclose()


app = Starlette(lifespan=lifespan)
app.add_middleware(
    SessionMiddleware, secret_key=os.environ["SESSION_SECRET"], store=store
)
