"""Where sessions are kept. ``BackendType`` is the original API's way of choosing one.

The original starlette-session's names are all here: ``BackendType``, ``MemcacheJSONSerde``,
its four ``ISessionBackend`` classes (JSON instead of pickle) and ``UnknownPredefinedBackend``.
The driver classes its module happened to import are served too, on first use: ``Redis``
(``redis.Redis``), ``AioRedis`` (``redis.asyncio.Redis``, which replaced aioredis), ``Memcache``
(``pymemcache.client.base.Client``) and ``AioMemcache`` (``aiomcache.Client``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from starlette_session.backends.backend_type import BackendType
from starlette_session.backends.base import Replaced, SessionBackend
from starlette_session.backends.cookie import CookieBackend
from starlette_session.backends.legacy import LegacyBackend
from starlette_session.backends.memcache_serde import MemcacheJSONSerde
from starlette_session.backends.memory import MemoryBackend
from starlette_session.backends.original import UnknownPredefinedBackend
from starlette_session.backends.original_backends import (
    AioMemcacheSessionBackend,
    AioRedisSessionBackend,
    MemcacheSessionBackend,
    RedisSessionBackend,
)

if TYPE_CHECKING:
    from starlette_session.backends.memcached import MemcachedBackend
    from starlette_session.backends.pymemcache_backend import PymemcacheBackend
    from starlette_session.backends.redis import RedisBackend
    from starlette_session.backends.sql import SQLBackend

__all__ = [
    "AioMemcacheSessionBackend",
    "AioRedisSessionBackend",
    "BackendType",
    "CookieBackend",
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
    "UnknownPredefinedBackend",
]

# Imported on first use, so that the package never requires the redis, memcached or sql extra.
_LAZY = {
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
