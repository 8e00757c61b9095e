"""starsessions with its Redis store (runs in the starsessions venv)."""

from redis.asyncio import Redis
from starsessions.stores.redis import RedisStore

from benchmarks.apps._env import redis_url
from benchmarks.apps._starsessions import build_app

app = build_app(RedisStore(connection=Redis.from_url(redis_url())))
