"""The original starlette-session's backend classes, kept so code that used them still runs.

Each is an :class:`~starlette_session.interfaces.ISessionBackend` over a client the application
built, as in the original, with two deliberate differences: values are JSON, never pickle (a
value another program wrote with pickle is not read), and a sync client's calls run in a worker
thread instead of blocking the event loop. The middleware does not use these classes: with
``backend_type=`` it builds :class:`RedisBackend`, :class:`PymemcacheBackend` or
:class:`MemcachedBackend`, which add compare-and-set and sliding expiry. They remain usable as
``custom_session_backend=`` and in applications that call them directly.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread

from starlette_session.backends.memcache_serde import MemcacheJSONSerde
from starlette_session.backends.memcached_expiry import memcached_expiry
from starlette_session.interfaces import ISessionBackend

__all__ = [
    "AioMemcacheSessionBackend",
    "AioRedisSessionBackend",
    "MemcacheSessionBackend",
    "RedisSessionBackend",
]

T = TypeVar("T")


async def _in_thread(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await anyio.to_thread.run_sync(functools.partial(call, *args, **kwargs))


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _loads(value: bytes | str | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        loaded = json.loads(value)
    except (ValueError, RecursionError):  # e.g. a pickle the original wrote: never unpickled
        return None
    return loaded if isinstance(loaded, dict) else None


class RedisSessionBackend(ISessionBackend):
    """The original's backend over a sync ``redis.Redis``; JSON values, calls in a worker thread."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def get(self, key: str, **kwargs: Any) -> dict[str, Any] | None:
        """The value stored under ``key``, or None."""
        return _loads(await _in_thread(self.redis.get, key, **kwargs))

    async def set(
        self, key: str, value: dict[str, Any], exp: int | None = None, **kwargs: Any
    ) -> Any:
        """Store ``value`` for ``exp`` seconds (None: until deleted)."""
        await _in_thread(self.redis.set, key, _dumps(value), exp, **kwargs)
        return None

    async def delete(self, key: str, **kwargs: Any) -> Any:
        """Remove ``key``."""
        return await _in_thread(self.redis.delete, key, **kwargs)


class AioRedisSessionBackend(ISessionBackend):
    """The original's backend over an async Redis client; now ``redis.asyncio.Redis``."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def get(self, key: str, **kwargs: Any) -> dict[str, Any] | None:
        """The value stored under ``key``, or None."""
        return _loads(await self.redis.get(key, **kwargs))

    async def set(
        self, key: str, value: dict[str, Any], exp: int | None = None, **kwargs: Any
    ) -> Any:
        """Store ``value`` for ``exp`` seconds (None: until deleted)."""
        return await self.redis.set(key, _dumps(value), exp, **kwargs)

    async def delete(self, key: str, **kwargs: Any) -> Any:
        """Remove ``key``."""
        return await self.redis.delete(key, **kwargs)


class MemcacheSessionBackend(ISessionBackend):
    """The original's backend over a pymemcache client; calls in a worker thread.

    As in the original, it sets the client's ``serde`` to :class:`MemcacheJSONSerde`, so
    sessions are stored as JSON (flags 2): give it a client of its own.
    """

    def __init__(self, memcache: Any) -> None:
        self.memcache = memcache
        self.memcache.serde = MemcacheJSONSerde()

    async def get(self, key: str, **kwargs: Any) -> dict[str, Any] | None:
        """The value stored under ``key``, or None."""
        value = await _in_thread(self.memcache.get, key, **kwargs)
        return value if isinstance(value, dict) and value else None

    async def set(
        self, key: str, value: dict[str, Any], exp: int | None = None, **kwargs: Any
    ) -> Any:
        """Store ``value`` for ``exp`` seconds (None: until deleted)."""
        expire = memcached_expiry(exp)
        return await _in_thread(self.memcache.set, key, value, expire=expire, **kwargs)

    async def delete(self, key: str, **kwargs: Any) -> Any:
        """Remove ``key``."""
        return await _in_thread(self.memcache.delete, key, **kwargs)


class AioMemcacheSessionBackend(ISessionBackend):
    """The original's backend over an ``aiomcache.Client``; JSON values."""

    def __init__(self, memcache: Any) -> None:
        self.memcache = memcache

    async def get(self, key: str, **kwargs: Any) -> dict[str, Any] | None:
        """The value stored under ``key``, or None."""
        return _loads(await self.memcache.get(key.encode(), **kwargs))

    async def set(
        self, key: str, value: dict[str, Any], exp: int | None = None, **kwargs: Any
    ) -> Any:
        """Store ``value`` for ``exp`` seconds (None: until deleted)."""
        data = _dumps(value).encode()
        expire = memcached_expiry(exp)
        return await self.memcache.set(key.encode(), data, exptime=expire, **kwargs)

    async def delete(self, key: str, **kwargs: Any) -> Any:
        """Remove ``key``."""
        return await self.memcache.delete(key.encode(), **kwargs)
