"""Drive an app through a Sentinel failover and measure what its users saw.

``run_failover`` writes some sessions, waits until the replica has them, then keeps a few users
incrementing their counters while the master is killed (SIGKILL) or frozen (SIGSTOP). It waits,
by polling with deadlines, until every Sentinel reports the replica as the new master and every
user has had a success since, then checks the sessions and returns the figures
(:class:`FailoverReport`). The app is reached through an ``httpx.AsyncClient`` factory: in-process
(``httpx.ASGITransport``) or over HTTP to uvicorn workers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from tests.servers import RedisSentinelGroup

__all__ = [
    "BACKEND_TIMEOUT",
    "CLIENT_TIMEOUT",
    "FailoverReport",
    "Sample",
    "run_failover",
    "sentinel_addresses_client",
    "sentinel_client",
]

#: The client's socket and pool timeouts, and the backend's bound on one operation.
CLIENT_TIMEOUT = 0.5
BACKEND_TIMEOUT = 1.0
#: A request not answered within this is a hang (the test fails); well above BACKEND_TIMEOUT.
HANG_AFTER = 5.0
#: Deadlines for the states the run waits for.
FAILOVER_DEADLINE = 30.0
RECOVERY_DEADLINE = 15.0

Fault = Literal["kill", "freeze"]
ClientFactory = Callable[[], httpx.AsyncClient]


def sentinel_client(group: RedisSentinelGroup, **options: Any) -> Any:
    """A ``redis.asyncio`` master client through the group's Sentinels, as docs/redis.md says."""
    return sentinel_addresses_client(group.sentinel_addresses, group.service, **options)


def sentinel_addresses_client(
    addresses: Sequence[tuple[str, int]],
    service: str,
    *,
    timeout: float = CLIENT_TIMEOUT,
    max_connections: int = 32,
) -> Any:
    """The same, from the Sentinels' addresses and the master's service name."""
    import redis.exceptions
    from redis.asyncio.retry import Retry
    from redis.asyncio.sentinel import Sentinel
    from redis.backoff import NoBackoff

    # redis-py 5-7 leave Sentinel() unannotated and 8 annotates it: called through Any, the
    # strict check passes on either, whichever release the lock holds.
    sentinel_class: Any = Sentinel
    sentinel = sentinel_class(
        addresses,
        # For the connections to the Sentinels themselves.
        sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout},
    )
    return sentinel.master_for(
        service,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        max_connections=max_connections,
        # One immediate retry of a broken connection: it reconnects to whichever server the
        # Sentinels name master now. None on a timeout: a frozen master will not answer it.
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
    )


@dataclass(frozen=True)
class Sample:
    """One request: when it started and ended (monotonic), its status (0: no answer), its user."""

    start: float
    end: float
    status: int
    user: int

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class _User:
    client: httpx.AsyncClient
    index: int = 0
    acked: list[int] = field(default_factory=list)

    async def increment(self, samples: list[Sample]) -> int:
        start = time.monotonic()
        try:
            response = await asyncio.wait_for(self.client.post("/increment"), HANG_AFTER)
            status = response.status_code
        except (TimeoutError, httpx.HTTPError):
            status = 0
        samples.append(Sample(start, time.monotonic(), status, self.index))
        if status == 200:
            self.acked.append(response.json()["count"])
        return status

    async def count(self) -> int:
        response = await self.client.get("/session")
        response.raise_for_status()
        return int(response.json().get("count", 0))


@dataclass
class FailoverReport:
    """What the users saw, with times in seconds from the fault."""

    fault: Fault
    samples: list[Sample]
    fault_at: float
    promoted_at: float
    #: Sessions written (and replicated) before the fault, and how many of them were lost.
    kept_sessions: int
    kept_sessions_lost: int
    #: Increments of the load users acknowledged (2xx) and then missing from their counter.
    acked_writes: int
    acked_writes_lost: int

    def after(self, moment: float) -> list[Sample]:
        return [sample for sample in self.samples if sample.start >= moment]

    @property
    def failover_seconds(self) -> float:
        """From the fault until every Sentinel reported the new master."""
        return self.promoted_at - self.fault_at

    @property
    def unavailable_seconds(self) -> float:
        """From the fault until the first request started after it succeeded (its answer)."""
        first = min(s.end for s in self.after(self.fault_at) if s.status == 200)
        return first - self.fault_at

    def statuses(self, samples: Sequence[Sample] | None = None) -> dict[int, int]:
        counts: dict[int, int] = {}
        for sample in self.samples if samples is None else samples:
            counts[sample.status] = counts.get(sample.status, 0) + 1
        return counts

    @property
    def slowest_503(self) -> float:
        return max((s.seconds for s in self.samples if s.status == 503), default=0.0)

    def figures(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "failover (s)": round(self.failover_seconds, 2),
            "without service (s)": round(self.unavailable_seconds, 2),
            "requests": len(self.samples),
            "statuses": self.statuses(),
            "slowest 503 (s)": round(self.slowest_503, 3),
            "after promotion": self.statuses(self.after(self.promoted_at)),
            "kept sessions lost": f"{self.kept_sessions_lost}/{self.kept_sessions}",
            "acknowledged writes lost": f"{self.acked_writes_lost}/{self.acked_writes}",
        }


async def run_failover(
    group: RedisSentinelGroup,
    make_client: ClientFactory,
    fault: Fault,
    *,
    users: int = 8,
    kept_sessions: int = 20,
) -> FailoverReport:
    """Fail the group's master over under load and report (see the module's docstring)."""
    master, replica = group.servers[0], group.servers[1]
    kept = [_User(make_client()) for _ in range(kept_sessions)]
    load = [_User(make_client(), index) for index in range(users)]
    samples: list[Sample] = []
    try:
        for user in kept:
            assert await user.increment([]) == 200
        await asyncio.to_thread(group.wait_until_replicated, master)

        stop = asyncio.Event()

        async def keep_incrementing(user: _User) -> None:
            while not stop.is_set():
                if await user.increment(samples) != 200:
                    await asyncio.sleep(0.02)  # a fast 503: do not spin

        tasks = [asyncio.create_task(keep_incrementing(user)) for user in load]
        try:
            await _until(lambda: len(samples) >= 4 * users, RECOVERY_DEADLINE, "a first load")
            fault_at = time.monotonic()
            if fault == "kill":
                master.kill()
            else:
                master.freeze()
            promoted_at = await asyncio.to_thread(group.wait_for_master, replica, FAILOVER_DEADLINE)

            def everyone_served_again() -> bool:
                served = {s.user for s in samples if s.start >= promoted_at and s.status == 200}
                return len(served) >= users

            await _until(everyone_served_again, RECOVERY_DEADLINE, "every user to succeed")
        finally:
            stop.set()
            await asyncio.gather(*tasks)

        kept_lost = sum(1 for count in await _counts(kept) if count != 1)
        finals = await _counts(load)
        acked = sum(len(user.acked) for user in load)
        lost = sum(
            len([value for value in user.acked if value > final])
            for user, final in zip(load, finals, strict=True)
        )
        return FailoverReport(
            fault, samples, fault_at, promoted_at, len(kept), kept_lost, acked, lost
        )
    finally:
        await asyncio.gather(*(user.client.aclose() for user in [*kept, *load]))


async def _counts(users: Sequence[_User]) -> list[int]:
    return list(await asyncio.gather(*(user.count() for user in users)))


async def _until(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.01)
