"""Runs a backend written for the original ``ISessionBackend`` interface."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any, TypeVar

from starlette_session.backends.base import Replaced, SessionBackend
from starlette_session.exceptions import SessionBackendError
from starlette_session.interfaces import ISessionBackend

__all__ = ["LegacyBackend"]

T = TypeVar("T")


class LegacyBackend(SessionBackend):
    """Adapts an :class:`~starlette_session.interfaces.ISessionBackend` to :class:`SessionBackend`.

    The old interface has no atomic operations, so ``create`` and ``replace`` read then write, and
    reading does not slide the expiry (a session's lifetime is renewed when it is written). Any
    exception the wrapped backend raises becomes a :class:`SessionBackendError`.
    """

    def __init__(self, backend: ISessionBackend) -> None:
        self.backend = backend

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        value = await self._call(self.backend.get(key))
        return None if value is None else _encode(value)

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        if await self._call(self.backend.get(key)) is not None:
            return False
        await self._call(self.backend.set(key, json.loads(value), ttl))
        return True

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        current = await self.read(key)
        if current != expected:
            return Replaced(False, current)
        await self._call(self.backend.set(key, json.loads(value), ttl))
        return Replaced(True, None)

    async def expire(self, key: str, ttl: int) -> None:
        value = await self._call(self.backend.get(key))
        if value is not None:
            await self._call(self.backend.set(key, value, ttl))

    async def delete(self, *keys: str) -> None:
        for key in keys:
            await self._call(self.backend.delete(key))

    async def _call(self, operation: Awaitable[T]) -> T:
        try:
            return await operation
        except Exception as error:
            raise SessionBackendError(
                f"the custom session backend failed ({type(error).__name__})"
            ) from error

    def __repr__(self) -> str:
        return f"LegacyBackend({type(self.backend).__name__})"


def _encode(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
