"""This library on a Redis Cluster of three masters (``redis.asyncio.RedisCluster``)."""

from benchmarks.apps import _backends
from benchmarks.apps._ours import build_app

app = build_app(_backends.redis_cluster())
