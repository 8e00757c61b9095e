"""How :class:`SQLBackend` runs its statements: on a pooled connection, within a time bound
that never waits for a stuck connection's clean-up nor leaves a transaction open; and a job
repeated in the background (the periodic purge)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["Attempt", "on_a_connection", "periodically", "within"]

T = TypeVar("T")
logger = logging.getLogger("starlette_session")
# Abandoned operations still cleaning up; a task needs a reference until it is done.
_abandoned: set[asyncio.Future[Any]] = set()


class Attempt:
    """What :func:`within` tells the operation it runs: whether the caller stopped waiting (its
    time was up, or it was cancelled). An abandoned operation must commit nothing."""

    __slots__ = ("abandoned",)

    def __init__(self) -> None:
        self.abandoned = False


async def within(
    seconds: float | None,
    operation: Callable[[Attempt], Coroutine[Any, Any, T]],
    *,
    cancel: bool = True,
) -> T:
    """Run ``operation(attempt)`` and return its result, or raise ``TimeoutError`` after
    ``seconds``.

    The caller stops waiting when the time is up, or when it is cancelled itself, whatever the
    operation waits for. The operation is then marked abandoned and, with ``cancel``, cancelled:
    a network driver closes its connection in the background (asyncpg gives a stalled server
    2 s to answer a polite close). Without ``cancel`` it runs on to its own end, which must come
    by itself (``docs/sql.md``, "Failures", says why SQLite needs this).
    """
    attempt = Attempt()
    task = asyncio.ensure_future(operation(attempt))
    try:
        await asyncio.wait((task,), timeout=seconds)
    finally:
        if not task.done():  # the time is up, or the caller itself was cancelled
            attempt.abandoned = True
            if cancel:
                task.cancel()
            _abandoned.add(task)
            task.add_done_callback(_forget)
    if not task.done():
        raise TimeoutError(f"no answer within {seconds} s")
    return task.result()


async def on_a_connection(
    engine: AsyncEngine,
    attempt: Attempt,
    write: bool,
    operation: Callable[..., Awaitable[T]],
    *args: Any,
) -> T:
    """``operation(conn, *args)`` on a pooled connection, committing if ``write``. A connection
    found dead gets one more try; an abandoned attempt starts no statement and commits nothing."""
    try:
        return await _once(engine, attempt, write, operation, args)
    except sa_exc.DBAPIError as error:
        if not error.connection_invalidated or attempt.abandoned:
            raise
        # A pooled connection had died (a restart, an idle timeout): SQLAlchemy discarded the
        # pool's older connections, and a new one gets one more try.
        return await _once(engine, attempt, write, operation, args)


async def _once(
    engine: AsyncEngine,
    attempt: Attempt,
    write: bool,
    operation: Callable[..., Awaitable[T]],
    args: tuple[Any, ...],
) -> T:
    async with engine.connect() as conn:
        if attempt.abandoned:  # its caller gave up while it waited for a connection
            raise TimeoutError("abandoned before its first statement")
        result = await operation(conn, *args)
        if write and not _autocommits(conn):
            if attempt.abandoned:  # nobody waits for it: leaving the block rolls it back
                raise TimeoutError("abandoned before its commit")
            await conn.commit()
        return result


def _autocommits(conn: AsyncConnection) -> bool:
    # SQLAlchemy has no public "this connection autocommits" (get_isolation_level() never
    # reports AUTOCOMMIT); without the private check we commit, which is merely one more trip.
    check = getattr(conn.sync_connection, "_is_autocommit_isolation", None)
    return bool(check()) if check is not None else False


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
