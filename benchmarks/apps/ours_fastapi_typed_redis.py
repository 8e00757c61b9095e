"""Typed FastAPI path with the Redis backend; compare with ``bare_fastapi``."""

from redis.asyncio import Redis

from benchmarks.apps._env import redis_url
from benchmarks.apps._ours_fastapi import build_app
from starlette_session.backends import RedisBackend

app = build_app(RedisBackend(Redis.from_url(redis_url())))
