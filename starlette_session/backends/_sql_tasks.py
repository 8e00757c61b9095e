"""The asyncio side of :class:`SQLBackend`: a time bound that never waits for a stuck
connection's clean-up, and a job repeated in the background (the periodic purge)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["periodically", "within"]

T = TypeVar("T")
logger = logging.getLogger("starlette_session")
# Abandoned operations still cleaning up; a task needs a reference until it is done.
_abandoned: set[asyncio.Future[Any]] = set()


async def within(seconds: float | None, operation: Coroutine[Any, Any, T]) -> T:
    """Run ``operation`` and return its result, or raise ``TimeoutError`` after ``seconds``.

    The operation runs in a task of its own, so that the caller stops waiting as soon as the
    time is up, while the cancelled task discards its connection in the background (asyncpg
    gives a stalled server 2 s to answer a polite close, from inside the cancelled statement).
    """
    if seconds is None:
        return await operation
    task = asyncio.ensure_future(operation)
    try:
        await asyncio.wait((task,), timeout=seconds)
    finally:
        if not task.done():  # the time is up, or the caller itself was cancelled
            task.cancel()
            _abandoned.add(task)
            task.add_done_callback(_forget)
    if not task.done():
        raise TimeoutError(f"no answer within {seconds} s")
    return task.result()


def _forget(task: asyncio.Future[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.debug("an abandoned session database operation failed: %r", task.exception())


@contextlib.asynccontextmanager
async def periodically(
    every: float, job: Callable[[], Awaitable[Any]], what: str
) -> AsyncIterator[None]:
    """Run ``job`` every ``every`` seconds while the block runs, the first time after a random
    part of ``every`` (so that several workers spread out). A failure is logged, not raised."""
    if every <= 0:
        raise ValueError("every must be a positive number of seconds")

    async def loop() -> None:
        await asyncio.sleep(random.uniform(0, every))  # noqa: S311 - spreading, not secrecy
        while True:
            try:
                result = await job()
            except Exception as error:  # logged; the next round tries again
                logger.warning("%s failed: %s", what, error)
            else:
                logger.debug("%s: %s", what, result)
            await asyncio.sleep(every)

    task = asyncio.ensure_future(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
