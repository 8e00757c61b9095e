"""A backend that pauses a request between two of its backend calls, and a look at every
session stored for a user.

``PausingBackend`` wraps a real backend (every call is delegated to it) and, once armed, stops
the N-th call it sees before it runs, until the test lets it go. A test arms it, starts the
request under test, waits until it is paused, runs whatever must happen "in between" (a
log-out, a revocation, another tab's request), then resumes it. Races that depend on timing
become a table of deterministic cases: one per pause point.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette_session.backends import Replaced, SessionBackend
from starlette_session.records import RETIRED, decode_record
from tests.security.conftest import Real

__all__ = ["Gate", "PausingBackend", "live_sessions_of", "paused_at"]

T = TypeVar("T")


@dataclass
class Gate:
    """Stops the ``at``-th backend call after arming; ``call`` is what it stopped."""

    at: int
    seen: int = 0
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    resume: asyncio.Event = field(default_factory=asyncio.Event)
    call: tuple[str, tuple[Any, ...]] | None = None


class PausingBackend(SessionBackend):
    """A real backend, with calls that can be held back one at a time."""

    timeout = None  # it holds calls back on purpose, while whole requests run

    def __init__(self, inner: SessionBackend) -> None:
        self.inner = inner
        self.gate: Gate | None = None

    def arm(self, at: int) -> Gate:
        """Pause the ``at``-th call from now (1: the next one)."""
        self.gate = Gate(at)
        return self.gate

    async def _through(self, name: str, args: tuple[Any, ...], call: Awaitable[T]) -> T:
        gate = self.gate
        if gate is not None and gate.call is None:
            gate.seen += 1
            if gate.seen == gate.at:
                gate.call = (name, args)
                gate.reached.set()
                await gate.resume.wait()
        return await call

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        return await self._through("read", (key, ttl), self.inner.read(key, ttl))

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        call = self.inner.create(key, value, ttl, logged_in=logged_in)
        return await self._through("create", (key, value, ttl), call)

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        call = self.inner.replace(key, expected, value, ttl, logged_in=logged_in)
        return await self._through("replace", (key, expected, value, ttl), call)

    async def expire(self, key: str, ttl: int) -> None:
        await self._through("expire", (key, ttl), self.inner.expire(key, ttl))

    async def delete(self, *keys: str) -> None:
        await self._through("delete", keys, self.inner.delete(*keys))

    async def eviction_warning(self) -> str | None:
        return await self.inner.eviction_warning()

    async def expiring_index_is_safe(self) -> bool:
        return await self.inner.expiring_index_is_safe()


async def paused_at(
    backend: PausingBackend,
    at: int,
    request: Callable[[], Awaitable[T]],
    meanwhile: Callable[[], Awaitable[Any]],
) -> tuple[T, bool]:
    """Run ``request``, paused before its ``at``-th backend call while ``meanwhile`` runs.

    Returns the request's result and whether it was paused (False: it made fewer calls, and
    ``meanwhile`` ran after it).
    """
    gate = backend.arm(at)
    task = asyncio.ensure_future(request())
    reached = asyncio.ensure_future(gate.reached.wait())
    await asyncio.wait({task, reached}, return_when=asyncio.FIRST_COMPLETED)
    paused = gate.reached.is_set()
    reached.cancel()
    if paused:
        await meanwhile()
        gate.resume.set()
    backend.gate = None
    result = await task
    if not paused:
        await meanwhile()
    return result, paused


async def live_sessions_of(real: Real, user: str) -> list[str]:
    """The keys of every stored session that holds ``user``, read from the storage itself."""
    found = []
    for key in await real.keys():
        raw = await real.raw(key)
        if raw is None or raw == RETIRED or ":user:" in key:
            continue
        record = decode_record(raw)
        if record is not None and record.meta.get("u") == user:
            found.append(key)
    return found
