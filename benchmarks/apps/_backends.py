"""The backend of each contender, built from the servers the harness started (``_env``)."""

from typing import Any

from benchmarks.apps._env import memcached_address, redis_cluster_url, redis_url, valkey_url


def redis() -> Any:
    from redis.asyncio import Redis

    from starlette_session.backends import RedisBackend

    return RedisBackend(Redis.from_url(redis_url()))


def valkey() -> Any:
    from redis.asyncio import Redis

    from starlette_session.backends import RedisBackend

    return RedisBackend(Redis.from_url(valkey_url()))


def redis_cluster() -> Any:
    from redis.asyncio import RedisCluster

    from starlette_session.backends import RedisBackend

    return RedisBackend(RedisCluster.from_url(redis_cluster_url()))


def memcached() -> Any:
    import aiomcache

    from starlette_session.backends import MemcachedBackend

    host, port = memcached_address()
    return MemcachedBackend(aiomcache.Client(host, port, pool_size=32))
