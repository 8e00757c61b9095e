"""Compare and set for ``RedisBackend``: the server's own ``SET ... IFEQ`` if it has one, else Lua.

Valkey 8.1+ and Redis 8.4+ replace a value only if it still holds another in one command,
``SET key new IFEQ old GET [EX ttl]``, which answers the value it found (nil when the key is gone):
no script to run, nor to load into a new master's empty script cache after a failover. Older
servers run ``REPLACE_SCRIPT`` instead. Which one a server has is read once from ``INFO server``
(on a cluster, every node's): see :func:`supports_set_ifeq`.

This module also finds a client's library (redis-py, or valkey-py, its fork) without importing
it: from the classes of the client the application passes in.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Mapping
from typing import Any

__all__ = [
    "REPLACE_SCRIPT",
    "driver_errors",
    "is_async_client",
    "is_syntax_error",
    "native_replace_args",
    "supports_set_ifeq",
]

# Compare and set: replace the value only if it is still the one this request loaded.
REPLACE_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if not current then return false end
if current ~= ARGV[1] then return current end
if ARGV[3] == '0' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return 1
"""

#: The first version of each server whose ``SET`` takes ``IFEQ`` together with ``GET``.
SET_IFEQ_SINCE = {"valkey": (8, 1), "redis": (8, 4)}

# The base classes of each client library's errors. RedisClusterException ("Redis Cluster cannot
# be connected") is not a RedisError, nor ValkeyClusterException a ValkeyError.
_ERROR_BASES = ("RedisError", "RedisClusterException", "ValkeyError", "ValkeyClusterException")


def native_replace_args(
    key: str, expected: bytes, value: bytes, ttl: int | None
) -> tuple[Any, ...]:
    """The ``SET`` storing ``value`` only if ``key`` holds ``expected``, answering what it held.

    Without ``EX`` a ``SET`` drops the key's time to live: ``ttl=None`` means no expiry, as the
    backend contract asks.
    """
    args: tuple[Any, ...] = ("SET", key, value, "IFEQ", expected, "GET")
    return args if ttl is None else (*args, "EX", ttl)


def supports_set_ifeq(info: Mapping[str, Any]) -> bool:
    """Whether every server in ``info`` runs ``SET ... IFEQ ... GET``.

    ``info`` is a parsed ``INFO server`` reply, or (from a cluster client) a mapping of node names
    to such replies. Valkey names its version ``valkey_version`` (its ``redis_version`` stays
    7.2.4); any other server is taken for Redis by its ``redis_version``, so a fork that claims a
    recent Redis but lacks ``IFEQ`` answers the first change with a syntax error, which
    ``RedisBackend`` takes as "no" from then on.
    """
    if "redis_version" not in info:  # a cluster's reply: one INFO per node
        replies = list(info.values())
        return bool(replies) and all(
            isinstance(reply, Mapping) and supports_set_ifeq(reply) for reply in replies
        )
    if "valkey_version" in info:
        return _version(info["valkey_version"]) >= SET_IFEQ_SINCE["valkey"]
    return _version(info["redis_version"]) >= SET_IFEQ_SINCE["redis"]


def _version(value: object) -> tuple[int, ...]:
    # "8.4.0", or "8.4-rc1"; redis-py may have turned a two-part version into a float.
    return tuple(int(part) for part in re.findall(r"\d+", str(value))[:2])


def is_syntax_error(error: BaseException | None) -> bool:
    """Whether ``error`` is the server refusing a command's arguments (an unknown ``IFEQ``)."""
    is_reply_error = error is not None and any(
        cls.__name__ == "ResponseError" for cls in type(error).__mro__
    )
    return is_reply_error and "syntax error" in str(error).lower()


def is_async_client(client: object) -> bool:
    """Whether ``client`` is an asyncio client (its commands are coroutines)."""
    return inspect.iscoroutinefunction(getattr(client, "execute_command", None))


def driver_errors(client: object) -> tuple[type[BaseException], ...]:
    """The base error classes of the library ``client`` comes from, found without importing it.

    The library of each of the client's classes is already imported (the application built the
    client), so its ``exceptions`` module is looked up in ``sys.modules``.
    """
    found: list[type[BaseException]] = []
    for cls in type(client).__mro__:
        package = cls.__module__.partition(".")[0]
        module = sys.modules.get(f"{package}.exceptions")
        for name in _ERROR_BASES:
            base = getattr(module, name, None)
            if isinstance(base, type) and issubclass(base, BaseException) and base not in found:
                found.append(base)
    return tuple(found)
