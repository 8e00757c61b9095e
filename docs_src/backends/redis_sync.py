"""A sync redis.Redis client also works: each command runs in a worker thread."""

import os

import redis
from starlette.applications import Starlette

from starlette_session import SessionMiddleware, SessionStore
from starlette_session.backends import RedisBackend

client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
# the timeout (2 s) bounds the thread's wait too
store = SessionStore(RedisBackend(client))

app = Starlette()
app.add_middleware(
    SessionMiddleware, secret_key=os.environ["SESSION_SECRET"], store=store
)
