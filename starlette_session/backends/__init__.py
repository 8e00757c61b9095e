"""Where sessions are kept: :class:`SessionBackend` (the contract) and its implementations.

The original starlette-session's names are served here too, from ``starlette_session.compat``:
``BackendType``, ``MemcacheJSONSerde``, its four ``ISessionBackend`` classes (JSON instead of
pickle), ``LegacyBackend`` and ``UnknownPredefinedBackend``; and, on first use, the driver
classes its module happened to import: ``Redis`` (``redis.Redis``), ``AioRedis``
(``redis.asyncio.Redis``, which replaced aioredis), ``Memcache``
(``pymemcache.client.base.Client``) and ``AioMemcache`` (``aiomcache.Client``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from starlette_session.backends.base import Created, Replaced, SessionBackend, Swap
from starlette_session.backends.cookie import CookieBackend
from starlette_session.backends.memory import MemoryBackend

if TYPE_CHECKING:
    from starlette_session.backends.memcached import MemcachedBackend
    from starlette_session.backends.pymemcache_backend import PymemcacheBackend
    from starlette_session.backends.redis import RedisBackend
    from starlette_session.backends.sql import SQLBackend
    from starlette_session.compat import (
        AioMemcacheSessionBackend,
        AioRedisSessionBackend,
        BackendType,
        LegacyBackend,
        MemcacheJSONSerde,
        MemcacheSessionBackend,
        RedisSessionBackend,
        UnknownPredefinedBackend,
    )

__all__ = [
    "AioMemcacheSessionBackend",
    "AioRedisSessionBackend",
    "BackendType",
    "CookieBackend",
    "Created",
    "LegacyBackend",
    "MemcacheJSONSerde",
    "MemcacheSessionBackend",
    "MemcachedBackend",
    "MemoryBackend",
    "PymemcacheBackend",
    "RedisBackend",
    "RedisSessionBackend",
    "Replaced",
    "SQLBackend",
    "SessionBackend",
    "Swap",
    "UnknownPredefinedBackend",
]

# Imported on first use: the original API (``compat`` builds on this package), and the backends
# of the redis, memcached and sql extras, which the package never requires.
_COMPAT = (
    "AioMemcacheSessionBackend",
    "AioRedisSessionBackend",
    "BackendType",
    "LegacyBackend",
    "MemcacheJSONSerde",
    "MemcacheSessionBackend",
    "RedisSessionBackend",
    "UnknownPredefinedBackend",
)
_LAZY = {
    **{name: ("starlette_session.compat", name) for name in _COMPAT},
    "RedisBackend": ("starlette_session.backends.redis", "RedisBackend"),
    "SQLBackend": ("starlette_session.backends.sql", "SQLBackend"),
    "MemcachedBackend": ("starlette_session.backends.memcached", "MemcachedBackend"),
    "PymemcacheBackend": ("starlette_session.backends.pymemcache_backend", "PymemcacheBackend"),
    # The original module's driver imports, for code that took them from here.
    "Redis": ("redis", "Redis"),
    "AioRedis": ("redis.asyncio", "Redis"),
    "Memcache": ("pymemcache.client.base", "Client"),
    "AioMemcache": ("aiomcache", "Client"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
