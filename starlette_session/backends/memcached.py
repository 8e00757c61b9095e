"""memcached through aiomcache: ``add`` for new sessions, ``gets``/``cas`` for changes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import anyio

from starlette_session.backends._combining import CombinedUpdates
from starlette_session.backends.base import Replaced
from starlette_session.durations import memcached_expiry as _expiry
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
    """

    def __init__(self, client: aiomcache.Client, *, timeout: float | None = 2.0) -> None:
        self.client = client
        self.timeout = timeout

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        value: bytes | None = await self._run(self.client.get(key.encode()))
        if value is not None and ttl is not None:
            await self._run(self.client.touch(key.encode(), _expiry(ttl)))
        return value

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        return bool(await self._run(self.client.add(key.encode(), value, _expiry(ttl))))

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
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
            raise SessionBackendError(
                f"the memcached session backend failed ({type(error).__name__}); "
                "check that memcached is reachable"
            ) from error

    def __repr__(self) -> str:
        return "MemcachedBackend()"


def _retrieve_exception(command: asyncio.Future[Any]) -> None:
    if not command.cancelled():
        command.exception()  # an abandoned command's error is not "never retrieved"
