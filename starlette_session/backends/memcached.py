"""memcached through aiomcache: ``add`` for new sessions, ``gets``/``cas`` for changes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import anyio

from starlette_session.backends._memcached_limits import (
    DEFAULT_ITEM_SIZE,
    KEY_LIMIT,
    check_item_size,
    is_too_large,
    too_large,
)
from starlette_session.backends._memcached_limits import memcached_expiry as _expiry
from starlette_session.backends.base import CombinedUpdates, Replaced
from starlette_session.exceptions import SessionBackendError

try:
    import aiomcache
except ImportError as error:  # pragma: no cover - exercised by the no-extras CI run
    raise ImportError(
        "the memcached backend needs aiomcache: pip install 'starlette-session[memcached]'"
    ) from error

__all__ = ["MemcachedBackend"]

T = TypeVar("T")
_DRIVER_ERRORS = (aiomcache.exceptions.ClientException, OSError, TimeoutError, EOFError)


class MemcachedBackend(CombinedUpdates):
    """Sessions in memcached, each with an expiry.

    ``client`` is an ``aiomcache.Client`` the application built and closes. A read costs two
    round trips when the idle timeout slides (``get``, then ``touch``), since aiomcache has no
    get-and-touch; a change is ``gets`` + ``cas``, a new session one ``add``. memcached may evict
    sessions under memory pressure: size it so that it does not.

    ``max_item_size`` is the server's largest item (``memcached -I``, 1 MiB by default): a larger
    session raises :class:`SessionTooLargeError` without being sent, as does one the server
    itself refuses as too large. Keys are at most 250 bytes: a ``key_prefix`` that makes longer
    keys is refused when the store is bound.
    """

    max_key_length = KEY_LIMIT

    def __init__(
        self,
        client: aiomcache.Client,
        *,
        timeout: float | None = 2.0,
        max_item_size: int = DEFAULT_ITEM_SIZE,
    ) -> None:
        self.client = client
        self.timeout = timeout
        self.max_item_size = max_item_size

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        value: bytes | None = await self._run(self.client.get(key.encode()))
        if value is not None and ttl is not None:
            await self._run(self.client.touch(key.encode(), _expiry(ttl)))
        return value

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        check_item_size(value, self.max_item_size, "MemcachedBackend")
        return bool(await self._run(self.client.add(key.encode(), value, _expiry(ttl))))

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        check_item_size(value, self.max_item_size, "MemcachedBackend")
        while True:
            current, token = await self._run(self.client.gets(key.encode()))
            if current is None or current != expected or token is None:
                return Replaced(False, current)
            if await self._run(self.client.cas(key.encode(), value, token, _expiry(ttl))):
                return Replaced(True, None)

    async def expire(self, key: str, ttl: int) -> None:
        await self._run(self.client.touch(key.encode(), _expiry(ttl)))

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
        except _DRIVER_ERRORS as error:
            if is_too_large(error):
                raise too_large(None, self.max_item_size, "MemcachedBackend") from error
            raise SessionBackendError(
                f"the memcached session backend failed ({type(error).__name__}); "
                "check that memcached is reachable"
            ) from error

    def __repr__(self) -> str:
        return "MemcachedBackend()"


def _retrieve_exception(command: asyncio.Future[Any]) -> None:
    if not command.cancelled():
        command.exception()  # an abandoned command's error is not "never retrieved"
