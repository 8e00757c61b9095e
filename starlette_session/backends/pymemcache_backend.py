"""memcached through pymemcache, a sync client whose calls run in worker threads."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from starlette_session.backends.base import CombinedUpdates, Replaced
from starlette_session.backends.memcached import (
    ITEM_LIMIT,
    KEY_LIMIT,
    check_item_size,
    driver_error,
    memcached_expiry,
)

try:
    from pymemcache import serde as pymemcache_serde
    from pymemcache.client.base import Client, PooledClient
    from pymemcache.client.hash import HashClient
    from pymemcache.exceptions import MemcacheError
except ImportError as error:  # pragma: no cover - exercised by the no-extras CI run
    raise ImportError(
        "the pymemcache backend needs pymemcache: pip install 'starlette-session[memcached]'"
    ) from error

__all__ = ["PymemcacheBackend"]

T = TypeVar("T")
# ValueError: pymemcache's answer to a reply it cannot parse, and a serde's to unknown flags.
_DRIVER_ERRORS = (MemcacheError, OSError, TimeoutError, EOFError, ValueError)
_PROBE = b"\x00starlette-session\xff"


class PymemcacheBackend(CombinedUpdates):
    """Sessions in memcached through a pymemcache ``Client``, ``PooledClient`` or ``HashClient``
    (or a ``RetryingClient`` around one), as :class:`MemcachedBackend` does through aiomcache.

    Calls run in worker threads, no more at once than the client has connections. Build the
    client with ``connect_timeout`` and ``timeout``; ``timeout`` here bounds each operation. Its
    ``serde`` must hand bytes back unchanged and never unpickle (pymemcache's default and
    :class:`MemcacheJSONSerde` do), and ``ignore_exc=True`` (an outage read as "no session") is
    refused.
    """

    max_key_length = KEY_LIMIT

    def __init__(
        self, client: Any, *, timeout: float | None = 2.0, max_item_size: int = ITEM_LIMIT
    ) -> None:
        serde, ignore_exc, connections = _client_settings(client)
        if ignore_exc:
            raise ValueError(
                "build the pymemcache client without ignore_exc=True: it answers an outage with "
                "'no session' (logging every user out) instead of an error"
            )
        if serde is not None:
            _check_serde(serde)
        self.client = client
        self.timeout = timeout
        self.max_item_size = max_item_size
        # A full pool raises instead of waiting: the limiter keeps waiting requests off the
        # thread pool, the semaphore covers a thread still running for a request that timed out.
        self._limiter = None if connections is None else anyio.CapacityLimiter(connections)
        self._lock: AbstractContextManager[Any] = (
            nullcontext() if connections is None else threading.BoundedSemaphore(connections)
        )

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        return await self._run(self._read, key, ttl)

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        check_item_size(value, self.max_item_size, "PymemcacheBackend")
        expire = memcached_expiry(ttl)
        return bool(await self._run(self.client.add, key, value, expire=expire, noreply=False))

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        check_item_size(value, self.max_item_size, "PymemcacheBackend")
        return await self._run(self._replace, key, expected, value, ttl)

    async def expire(self, key: str, ttl: int) -> None:
        await self._run(self.client.touch, key, memcached_expiry(ttl), noreply=False)

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._run(self.client.delete_many, list(keys), noreply=False)

    def _read(self, key: str, ttl: int | None) -> bytes | None:
        value = _as_bytes(self.client.get(key))
        if value is not None and ttl is not None:
            self.client.touch(key, memcached_expiry(ttl), noreply=False)
        return value

    def _replace(self, key: str, expected: bytes, value: bytes, ttl: int | None) -> Replaced:
        expire = memcached_expiry(ttl)
        while True:
            found, token = self.client.gets(key)
            current = _as_bytes(found)
            if current is None or token is None or current != expected:
                return Replaced(False, current)
            # True: stored. False: changed since gets; None: gone. Either way, look again.
            if self.client.cas(key, value, token, expire=expire, noreply=False):
                return Replaced(True, None)

    async def _run(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            with anyio.fail_after(self.timeout):
                # On a timeout the thread is left to finish on its own (the client's socket
                # timeout ends it); the request does not wait for it.
                return await anyio.to_thread.run_sync(
                    functools.partial(self._locked, call, *args, **kwargs),
                    abandon_on_cancel=True,
                    limiter=self._limiter,
                )
        except _DRIVER_ERRORS as error:
            raise driver_error(error, self.max_item_size, "PymemcacheBackend") from error

    def _locked(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._lock:
            return call(*args, **kwargs)

    def __repr__(self) -> str:
        return f"PymemcacheBackend({type(self.client).__name__})"


def _client_settings(client: Any) -> tuple[Any, bool, int | None]:
    """``(serde, ignore_exc, connections)``: how many threads may use the client at once (None:
    no bound); ``(None, False, 1)`` for a wrapper such as ``RetryingClient``."""
    if isinstance(client, HashClient):
        # A pool per server, each of max_pool_size: that many at once is safe whatever the keys.
        pool_size = client.default_kwargs.get("max_pool_size") if client.use_pooling else 1
        return client.default_kwargs.get("serde"), bool(client.ignore_exc), pool_size
    if isinstance(client, PooledClient):
        pool_size = client.client_pool.max_size
        return client.serde, bool(client.ignore_exc), pool_size if pool_size < 2**31 else None
    if isinstance(client, Client):
        return client.serde, bool(client.ignore_exc), 1
    return None, False, 1


def _check_serde(serde: Any) -> None:
    fix = "build it with serde=MemcacheJSONSerde() (starlette_session.backends) or no serde"
    unpickles = (pymemcache_serde.PickleSerde, pymemcache_serde.CompressedSerde)
    deserialize = getattr(serde, "deserialize", None)
    if isinstance(serde, unpickles) or deserialize == pymemcache_serde.python_memcache_deserializer:
        raise ValueError(f"the pymemcache client's serde unpickles what it reads: {fix}")
    changed = f"the pymemcache client's serde does not hand bytes back unchanged: {fix}"
    try:
        data, flags = serde.serialize("probe", _PROBE)
        round_trip = serde.deserialize("probe", data, flags)
    except Exception as error:
        raise ValueError(changed) from error
    if round_trip != _PROBE:
        raise ValueError(changed)


def _as_bytes(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    # Not written by this backend (a str or JSON value of another serde flag): never guess.
    raise ValueError(f"memcached returned a {type(value).__name__}, not the bytes stored")
