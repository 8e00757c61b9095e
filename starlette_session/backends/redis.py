"""Redis through redis-py: ``redis.asyncio`` clients (single node or cluster), or a sync client.

One command per operation: a read is ``GETEX`` (the sliding expiry costs no extra round trip), a
new session is ``SET NX EX``, and a change is one ``EVALSHA`` of a compare-and-set script. The
application builds the client, so it owns pooling, TLS, timeouts and shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import anyio.to_thread

from starlette_session.backends.base import Replaced, SessionBackend
from starlette_session.exceptions import SessionBackendError

try:
    import redis
    import redis.asyncio
    import redis.exceptions
except ImportError as error:  # pragma: no cover - exercised by the no-extras CI run
    raise ImportError(
        "the Redis backend needs redis-py: pip install 'starlette-session[redis]'"
    ) from error

__all__ = ["RedisBackend"]

# Compare and set: replace the value only if it is still the one this request loaded.
_REPLACE_SCRIPT = """
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
# RedisClusterException (e.g. "Redis Cluster cannot be connected") is not a RedisError.
_DRIVER_ERRORS = (
    redis.exceptions.RedisError,
    redis.exceptions.RedisClusterException,
    OSError,
    TimeoutError,
)


class RedisBackend(SessionBackend):
    """Sessions in Redis, each key with a time to live.

    ``client`` is a ``redis.asyncio.Redis`` or ``redis.asyncio.RedisCluster`` (recommended), or a
    sync ``redis.Redis``, whose calls then run in a worker thread so they never block the event
    loop. ``timeout`` (seconds) bounds every operation of this backend, waiting for a pooled
    connection or a worker thread included, on top of the client's own socket timeouts and
    retries; a failure or a timeout raises :class:`SessionBackendError`. A healthy Redis answers
    in about a millisecond: the 2-second default only decides how long a request waits on a
    stalled one. ``docs/reliability.md`` gives the recommended client settings. Before each
    command a cluster client is initialized (``client.initialize()``, a no-op once it knows the
    slots), and a ``delete`` of keys in several slots is split by redis-py, one ``DEL`` per slot.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis | redis.asyncio.RedisCluster | redis.Redis,
        *,
        timeout: float | None = 2.0,
    ) -> None:
        self.client = client
        self.timeout = timeout
        self._is_async = isinstance(client, redis.asyncio.Redis | redis.asyncio.RedisCluster)
        self._cluster = client if isinstance(client, redis.asyncio.RedisCluster) else None
        self._replace_script: Any = client.register_script(_REPLACE_SCRIPT)

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        if ttl is None:
            value = await self._run(self.client.get, key)
        else:
            value = await self._run(self.client.getex, key, ex=ttl)
        return _as_bytes(value)

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        return bool(await self._run(self.client.set, key, value, ex=ttl, nx=True))

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        args = [expected, value, ttl or 0]
        result = await self._run(self._replace_script, keys=[key], args=args)
        if result == 1:
            return Replaced(True, None)
        return Replaced(False, _as_bytes(result))

    async def expire(self, key: str, ttl: int) -> None:
        await self._run(self.client.expire, key, ttl)

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._run(self.client.delete, *keys)

    async def eviction_warning(self) -> str | None:
        try:
            reply = await self._run(self.client.config_get, "maxmemory-policy")
        except SessionBackendError:
            return None  # CONFIG is often disabled on managed Redis: nothing to tell
        # {"maxmemory-policy": policy}; a cluster client may answer per node.
        replies = reply.values() if isinstance(reply, dict) else ()
        nodes = [value for value in replies if isinstance(value, dict)] or [reply]
        policies = [
            _as_text(v) for node in nodes for v in node.values() if isinstance(v, bytes | str)
        ]
        policy = next((policy for policy in policies if policy.startswith("allkeys-")), "")
        if policy.startswith("allkeys-"):
            return (
                f"Redis evicts any key when full (maxmemory-policy {policy}), the per-user "
                "session index included: use a volatile-* policy or noeviction, or "
                "revoke_user_sessions() may miss sessions"
            )
        return None

    async def _run(self, command: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            async with _deadline(self.timeout):
                if self._is_async:
                    if self._cluster is not None:
                        # Until it has read the cluster's slots (when new, or after resetting
                        # itself on an error), redis-py's client sends commands to any node, and
                        # concurrent ones then close each other's connections while following
                        # the redirects. initialize() waits for one discovery; then it is a no-op.
                        await self._cluster.initialize()
                    return await command(*args, **kwargs)
                # On a timeout the thread is left to finish on its own (its client's socket
                # timeout ends it); the request does not wait for it.
                return await anyio.to_thread.run_sync(
                    functools.partial(command, *args, **kwargs), abandon_on_cancel=True
                )
        except _DRIVER_ERRORS as error:
            raise SessionBackendError(
                f"the Redis session backend failed ({type(error).__name__}); "
                "check that Redis is reachable"
            ) from error

    def __repr__(self) -> str:
        return f"RedisBackend({type(self.client).__module__}.{type(self.client).__name__})"


def _deadline(seconds: float | None) -> AbstractAsyncContextManager[Any]:
    # asyncio.timeout costs about a third of anyio.fail_after, on every command.
    if sys.version_info >= (3, 11):
        return asyncio.timeout(seconds)
    return _anyio_deadline(seconds)  # pragma: no cover - Python 3.10


@contextlib.asynccontextmanager
async def _anyio_deadline(seconds: float | None) -> AsyncIterator[None]:  # pragma: no cover
    with anyio.fail_after(seconds):
        yield


def _as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _as_bytes(value: bytes | str | None) -> bytes | None:
    # A client built with decode_responses=True hands back str.
    return value.encode() if isinstance(value, str) else value
