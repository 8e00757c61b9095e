"""This library with its Redis backend, given a ready client as the library asks."""

from redis.asyncio import Redis

from benchmarks.apps._env import redis_url
from benchmarks.apps._ours import build_app
from starlette_session.backends import RedisBackend

app = build_app(RedisBackend(Redis.from_url(redis_url())))
