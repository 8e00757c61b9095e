"""This library on Valkey: a change is the server's own ``SET ... IFEQ``, found at the first one."""

from redis.asyncio import Redis

from benchmarks.apps._env import valkey_url
from benchmarks.apps._ours import build_app
from starlette_session.backends import RedisBackend

app = build_app(RedisBackend(Redis.from_url(valkey_url())))
