"""memcached: :class:`MemcachedBackend` through aiomcache (imported when one is built), and the
server's limits and expiry times, shared with ``PymemcacheBackend`` and the original API. Keys
and values over the limits are the session's size (refused at start-up, or
:class:`SessionTooLargeError`), not an outage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from starlette_session.backends.base import CombinedUpdates, Replaced
from starlette_session.exceptions import SessionBackendError, SessionTooLargeError

if TYPE_CHECKING:
    import aiomcache

__all__ = ["MemcachedBackend"]

T = TypeVar("T")
#: The longest key memcached accepts, in bytes.
KEY_LIMIT = 250
#: memcached's default largest item, in bytes (``-I 1m``).
ITEM_LIMIT = 1024 * 1024
#: memcached reads an expiry over 30 days as a Unix timestamp, not a number of seconds.
RELATIVE_EXPIRY_LIMIT = 30 * 24 * 60 * 60


class MemcachedBackend(CombinedUpdates):
    """Sessions in memcached through an ``aiomcache.Client`` the application built and closes.

    A sliding read is ``get`` + ``touch``, a change ``gets`` + ``cas``, a new session one ``add``.
    ``max_item_size`` is the server's largest item (``memcached -I``): a larger session raises
    :class:`SessionTooLargeError`, as does one the server refuses as too large.
    """

    max_key_length = KEY_LIMIT

    def __init__(
        self,
        client: aiomcache.Client,
        *,
        timeout: float | None = 2.0,
        max_item_size: int = ITEM_LIMIT,
    ) -> None:
        self.client = client
        self.timeout = timeout
        self.max_item_size = max_item_size
        driver_errors = import_aiomcache().exceptions.ClientException
        self._errors = (driver_errors, OSError, TimeoutError, EOFError)

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        value: bytes | None = await self._run(self.client.get(key.encode()))
        if value is not None and ttl is not None:
            await self._run(self.client.touch(key.encode(), memcached_expiry(ttl)))
        return value

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        check_item_size(value, self.max_item_size, "MemcachedBackend")
        return bool(await self._run(self.client.add(key.encode(), value, memcached_expiry(ttl))))

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        check_item_size(value, self.max_item_size, "MemcachedBackend")
        while True:
            current, token = await self._run(self.client.gets(key.encode()))
            if current is None or current != expected or token is None:
                return Replaced(False, current)
            if await self._run(self.client.cas(key.encode(), value, token, memcached_expiry(ttl))):
                return Replaced(True, None)

    async def expire(self, key: str, ttl: int) -> None:
        await self._run(self.client.touch(key.encode(), memcached_expiry(ttl)))

    async def delete(self, *keys: str) -> None:
        for key in keys:
            await self._run(self.client.delete(key.encode()))

    async def eviction_warning(self) -> str | None:
        return (
            "memcached evicts the least recently used entries when full, the per-user session "
            "index included: size it so that it never evicts, or revoke_user_sessions() may "
            "miss sessions"
        )

    async def _run(self, operation: Awaitable[T]) -> T:
        # Never cancel an aiomcache command: a cancelled command's connection goes back to the
        # pool with its reply still to come, and the next command reads that reply as its own.
        # On a timeout the request stops waiting; the command finishes (or fails) on its own.
        command = asyncio.ensure_future(operation)
        command.add_done_callback(_retrieve_exception)
        try:
            with anyio.fail_after(self.timeout):
                return await asyncio.shield(command)
        except self._errors as error:
            raise driver_error(error, self.max_item_size, "MemcachedBackend") from error

    def __repr__(self) -> str:
        return "MemcachedBackend()"


def _retrieve_exception(command: asyncio.Future[Any]) -> None:
    if not command.cancelled():
        command.exception()  # an abandoned command's error is not "never retrieved"


def import_aiomcache() -> ModuleType:
    """aiomcache, imported on first use: the ImportError names the extra to install."""
    try:
        import aiomcache
    except ImportError as error:  # pragma: no cover - exercised by the no-extras CI run
        raise ImportError(
            "the memcached backend needs aiomcache: pip install 'starlette-session[memcached]'"
        ) from error
    return aiomcache


def memcached_expiry(ttl: int | None) -> int:
    """The ``exptime`` memcached needs for a time to live of ``ttl`` seconds (None: never)."""
    if ttl is None:
        return 0  # memcached's "no expiry"
    return ttl if ttl <= RELATIVE_EXPIRY_LIMIT else int(time.time()) + ttl


def check_item_size(value: bytes, limit: int, backend: str) -> None:
    """Raise :class:`SessionTooLargeError` for a value no memcached with ``-I limit`` stores."""
    if len(value) > limit:
        raise _too_large(f"takes {len(value)} bytes, over", limit, backend)


def driver_error(error: Exception, limit: int, backend: str) -> Exception:
    """What a driver's error means: the server refused a value too large, or an outage."""
    if "too large" in str(error):  # "SERVER_ERROR object too large for cache"
        return _too_large("is over", limit, backend)
    return SessionBackendError(
        f"the memcached session backend failed ({type(error).__name__}); "
        "check that memcached is reachable"
    )


def _too_large(size: str, limit: int, backend: str) -> SessionTooLargeError:
    return SessionTooLargeError(
        f"the session {size} memcached's item size limit ({limit} bytes configured; the "
        f"server's is memcached -I): raise it on the server and in {backend}(max_item_size=...), "
        "or store less in the session (SessionStore(max_size=...) keeps it smaller); nothing was "
        "saved"
    )
