"""When Redis is down, serve an empty, unsaved session instead of a 503."""

import os

import redis.asyncio

from starlette_session import SessionStore
from starlette_session.backends import RedisBackend

client = redis.asyncio.Redis.from_url(
    os.environ.get("REDIS_URL", "redis://localhost:6379/0")
)
store = SessionStore(RedisBackend(client), on_backend_error="anonymous")
