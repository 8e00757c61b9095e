"""Shared pieces of the reliability tests: Redis clients, bounded waits and a stalled
redis-server. Their app is ``tests.helpers.make_app`` (``/increment``, ``/fields/{name}``...).

- ``recommended_client(url)`` builds a ``redis.asyncio`` client the way ``docs/reliability.md``
  recommends: short socket timeouts, one immediate retry on a broken connection, a bounded
  blocking pool.
- ``answers_within(seconds)`` bounds a block by a timeout plus a generous ``SLACK``, failing
  (not hanging) when the block waits without bound.
- ``stalled(server)`` freezes a real redis-server with SIGSTOP for the duration of a block: the
  kernel still accepts connections for it, but nothing answers, as when Redis hangs.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from tests.servers import MemcachedServer, RedisServer

if TYPE_CHECKING:
    import redis.asyncio

__all__ = [
    "SLACK",
    "Stopwatch",
    "answers_within",
    "recommended_client",
    "stalled",
]


def recommended_client(
    url: str, *, timeout: float = 0.5, max_connections: int = 16
) -> redis.asyncio.Redis:
    """A client whose every wait is bounded by ``timeout``: connect, read, and pool checkout."""
    import redis.asyncio
    import redis.exceptions
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        # One immediate retry on a broken connection; none on a timeout: a stalled server will
        # not answer the retry either.
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
    )
    return redis.asyncio.Redis.from_pool(pool)


@contextmanager
def stalled(server: RedisServer | MemcachedServer) -> Iterator[None]:
    """Freeze ``server`` (SIGSTOP) inside the block, and always thaw it (SIGCONT) after."""
    pid = server.server_pid()
    assert pid is not None, f"{server!r} does not answer, so it cannot be stalled"
    os.kill(pid, signal.SIGSTOP)
    try:
        _wait_until_stopped(pid)
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def _wait_until_stopped(pid: int, timeout: float = 10.0) -> None:
    # SIGSTOP is delivered asynchronously: a command sent at once could still be answered.
    deadline = time.monotonic() + timeout
    stat = Path(f"/proc/{pid}/stat")
    while time.monotonic() < deadline:
        fields = stat.read_text().rsplit(")", 1)[-1].split()
        if fields and fields[0] in ("T", "t"):
            return
        time.sleep(0.001)
    raise AssertionError(f"process {pid} did not stop within {timeout} s")


#: What a bounded-wait test allows on top of the wait it checks. These tests guard against a
#: wait with no bound (a stalled server never answers: without the timeout under test the
#: request would hang, or queue behind every other one), so the slack can be generous: the suite
#: shares a 2-core machine with other work, which can hold the event loop back for a second or
#: more. Where a count shows the same failure (connections opened), the test counts too.
SLACK = 3.0


class Stopwatch:
    """``with Stopwatch() as watch: ...`` then ``watch.elapsed`` in seconds."""

    elapsed = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.monotonic()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.elapsed = time.monotonic() - self._start


@asynccontextmanager
async def answers_within(seconds: float) -> AsyncIterator[Stopwatch]:
    """The block must finish within ``seconds`` plus :data:`SLACK`; past that it is cancelled
    and the test fails, so a wait with no bound fails instead of hanging the suite. The
    stopwatch holds what the block took (a timeout never fires early: a lower bound is safe)."""
    with Stopwatch() as watch:
        try:
            with anyio.fail_after(seconds + SLACK):
                yield watch
        except TimeoutError:
            raise AssertionError(f"no answer within {seconds} s (plus {SLACK} s)") from None
