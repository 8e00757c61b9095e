"""An experimental session backend on valkey-glide (the Rust-core client), for comparison with
``RedisBackend`` on redis-py + hiredis (``benchmarks/glide_compare.py``). Not in the package:
``benchmarks/findings.md`` says why.

The same commands as ``RedisBackend`` on a server without ``SET ... IFEQ``: a read is ``GETEX``,
a new session ``SET NX EX``, a change one ``EVALSHA`` of the same compare-and-set script
(glide's ``Script`` loads it when the server lacks it), behind the same write combiner. Glide
multiplexes every request on one connection per node and pipelines them itself, so there is no
pool and no automatic pipelining here.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import anyio
from glide import (
    ConditionalChange,
    ExpirySet,
    ExpiryType,
    GlideClient,
    GlideClientConfiguration,
    GlideError,
    NodeAddress,
    Script,
)

from starlette_session.backends.base import CombinedUpdates, Replaced
from starlette_session.backends.redis import REPLACE_SCRIPT
from starlette_session.exceptions import SessionBackendError

__all__ = ["GlideBackend"]


class GlideBackend(CombinedUpdates):
    """Sessions in Redis or Valkey through a ``glide.GlideClient`` (made on first use: glide
    creates its clients in a running event loop)."""

    # Bounded here with asyncio.timeout, as RedisBackend bounds its calls, not by the wrapper
    # that custom backends get (anyio.fail_after): the comparison is of the clients.
    timeout: float | None = None

    def __init__(self, host: str, port: int, *, timeout: float | None = 2.0) -> None:
        self.address = NodeAddress(host, port)
        self.deadline = timeout
        self._script = Script(REPLACE_SCRIPT)  # type: ignore[no-untyped-call]
        self._client: GlideClient | None = None
        self._connecting = asyncio.Lock()

    async def connect(self) -> GlideClient:
        async with self._connecting:
            if self._client is None:
                config = GlideClientConfiguration([self.address], request_timeout=2000)
                self._client = await GlideClient.create(config)
        return self._client

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        client = self._client or await self.connect()
        if ttl is None:
            found: bytes | None = await self._run(client.get(key))
            return found
        value: bytes | None = await self._run(client.custom_command(["GETEX", key, "EX", str(ttl)]))
        return value

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        expiry = None if ttl is None else ExpirySet(ExpiryType.SEC, ttl)
        stored = await self._run(
            (self._client or await self.connect()).set(
                key, value, conditional_set=ConditionalChange.ONLY_IF_DOES_NOT_EXIST, expiry=expiry
            )
        )
        return stored is not None

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        args: list[Any] = [expected, value, str(ttl or 0)]
        result = await self._run(
            (self._client or await self.connect()).invoke_script(
                self._script, keys=[key], args=args
            )
        )
        if result == 1:
            return Replaced(True, None)
        return Replaced(False, result)

    async def expire(self, key: str, ttl: int) -> None:
        await self._run((self._client or await self.connect()).expire(key, ttl))

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._run((self._client or await self.connect()).delete(list(keys)))

    async def expiring_index_is_safe(self) -> bool:
        return False  # not asked of the server here: the conservative answer

    async def _run(self, call: Any) -> Any:
        try:
            if sys.version_info >= (3, 11):
                async with asyncio.timeout(self.deadline):
                    return await call
            with anyio.fail_after(self.deadline):  # pragma: no cover - Python 3.10
                return await call
        except (GlideError, OSError, TimeoutError) as error:
            raise SessionBackendError(
                f"the Glide session backend failed ({type(error).__name__})"
            ) from error
