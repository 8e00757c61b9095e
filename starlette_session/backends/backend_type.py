"""``BackendType``: the original API's way of choosing a backend."""

from __future__ import annotations

import enum

__all__ = ["BackendType"]


class BackendType(enum.Enum):
    """The backends of the original API, chosen with ``SessionMiddleware(backend_type=...)``.

    With ``backend_client=`` the client the application built:

    - ``redis``: a sync ``redis.Redis`` (run in a worker thread), and ``aioRedis``: a
      ``redis.asyncio.Redis`` (the original's aioredis is now part of redis-py); both through
      :class:`RedisBackend`.
    - ``memcache``: a pymemcache client (``Client``, ``PooledClient``, ``HashClient``; run in a
      worker thread) through :class:`PymemcacheBackend`, and ``aioMemcache``: an
      ``aiomcache.Client`` through :class:`MemcachedBackend`.
    - ``cookie`` (the default): the session in the signed cookie, no client.
    - ``memory``: in this process, no client (not in the original).
    """

    redis = "redis"
    aioRedis = "aioRedis"
    cookie = "cookie"
    memcache = "memcache"
    aioMemcache = "aioMemcache"
    memory = "memory"
