"""This library on Valkey with the Lua compare-and-set forced: the same server, the old path."""

from redis.asyncio import Redis

from benchmarks.apps._env import valkey_url
from benchmarks.apps._ours import build_app
from starlette_session.backends import RedisBackend

app = build_app(RedisBackend(Redis.from_url(valkey_url()), compare_and_set="script"))
