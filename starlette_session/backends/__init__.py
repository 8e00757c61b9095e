"""Where sessions are kept: :class:`SessionBackend` (the contract) and its implementations.

The original starlette-session's names are served here too, from ``starlette_session.compat``,
and on first use the driver classes its module imported: ``Redis``, ``AioRedis``
(``redis.asyncio.Redis``), ``Memcache`` (pymemcache's ``Client``) and ``AioMemcache``
(``aiomcache.Client``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from starlette_session.backends.base import CookieBackend, Created, Replaced, SessionBackend, Swap
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

# Imported on first use, as the package never requires an extra: the backends of the extras,
# the original API (from compat, which builds on this package) and the original's driver imports.
_MODULES = {
    "RedisBackend": "starlette_session.backends.redis",
    "SQLBackend": "starlette_session.backends.sql",
    "MemcachedBackend": "starlette_session.backends.memcached",
    "PymemcacheBackend": "starlette_session.backends.pymemcache_backend",
}
_DRIVERS = {
    "Redis": ("redis", "Redis"),
    "AioRedis": ("redis.asyncio", "Redis"),
    "Memcache": ("pymemcache.client.base", "Client"),
    "AioMemcache": ("aiomcache", "Client"),
}


def __getattr__(name: str) -> Any:
    if name in _DRIVERS:
        module, attribute = _DRIVERS[name]
    elif name in __all__:  # a name of __all__ not defined above
        module, attribute = _MODULES.get(name, "starlette_session.compat"), name
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), attribute)
