"""Where sessions are kept. ``BackendType`` is the original API's way of choosing one."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from starlette_session.backends.base import Replaced, SessionBackend
from starlette_session.backends.cookie import CookieBackend
from starlette_session.backends.legacy import LegacyBackend
from starlette_session.backends.memory import MemoryBackend

if TYPE_CHECKING:
    from starlette_session.backends.memcached import MemcachedBackend
    from starlette_session.backends.redis import RedisBackend
    from starlette_session.backends.sql import SQLBackend

__all__ = [
    "BackendType",
    "CookieBackend",
    "LegacyBackend",
    "MemcachedBackend",
    "MemoryBackend",
    "RedisBackend",
    "Replaced",
    "SQLBackend",
    "SessionBackend",
]


class BackendType(enum.Enum):
    """The backends of the original API, chosen with ``SessionMiddleware(backend_type=...)``.

    ``redis`` takes a sync ``redis.Redis`` client (run in a worker thread), ``aioRedis`` a
    ``redis.asyncio.Redis`` client, both through :class:`RedisBackend`; ``cookie`` keeps the session
    in the signed cookie; ``memory`` keeps it in this process.
    """

    redis = "redis"
    aioRedis = "aioRedis"
    cookie = "cookie"
    memory = "memory"


def __getattr__(name: str) -> Any:
    # Imported on first use, so that the package never requires the redis, memcached or sql extra.
    if name == "RedisBackend":
        from starlette_session.backends.redis import RedisBackend

        return RedisBackend
    if name == "MemcachedBackend":
        from starlette_session.backends.memcached import MemcachedBackend

        return MemcachedBackend
    if name == "SQLBackend":
        from starlette_session.backends.sql import SQLBackend

        return SQLBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
