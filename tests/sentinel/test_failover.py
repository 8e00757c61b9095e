"""Sessions through a Redis Sentinel failover: a real master, replica and three Sentinels.

The app is ``SessionMiddleware`` + ``SessionStore(RedisBackend(client, timeout=1.0))`` with the
client of ``Sentinel(...).master_for(...)`` configured as docs/redis.md recommends. The master is
killed (SIGKILL) or frozen (SIGSTOP) while users keep changing their sessions; every state is
awaited by polling with a deadline (see ``tests.sentinel.failover``). The figures are printed
(``pytest -s``) and quoted in docs/redis.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from starlette_session import SessionStore
from tests.helpers import make_app
from tests.reliability.support import SLACK
from tests.sentinel.failover import (
    BACKEND_TIMEOUT,
    FailoverReport,
    Fault,
    run_failover,
    sentinel_client,
)
from tests.servers import RedisSentinelGroup

pytest.importorskip("redis")

from starlette_session.backends.redis import RedisBackend

pytestmark = [pytest.mark.redis, pytest.mark.sentinel, pytest.mark.slow]

#: A 503 is answered within the backend's timeout, plus scheduling on a busy 2-core machine
#: (the suite's generous slack: what this guards against is a request waiting without bound).
ANSWER_BOUND = BACKEND_TIMEOUT + SLACK


@pytest.fixture
async def redis_client(redis_sentinel: RedisSentinelGroup) -> AsyncIterator[Any]:
    client = sentinel_client(redis_sentinel)
    try:
        yield client
    finally:
        await client.aclose()
        for sentinel in client.connection_pool.sentinel_manager.sentinels:
            await sentinel.aclose()


def _in_process(client: Any) -> httpx.AsyncClient:
    app = make_app(SessionStore(RedisBackend(client, timeout=BACKEND_TIMEOUT)))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def check(report: FailoverReport) -> None:
    """What must hold whatever the fault."""
    print(f"\n{report.figures()}")
    # Sessions written before the failover, and replicated, are all there after it.
    assert report.kept_sessions_lost == 0
    # Every request was answered: 200, or 503 while there was no master; none hung.
    assert set(report.statuses()) <= {200, 503}, report.statuses()
    assert report.statuses().get(503, 0) > 0, "the failover went unnoticed: is the test valid?"
    assert report.slowest_503 <= ANSWER_BOUND
    # Once every Sentinel names the new master, requests succeed: nothing needs restarting.
    assert set(report.statuses(report.after(report.promoted_at))) == {200}


@pytest.mark.parametrize("fault", ["kill", "freeze"])
async def test_sessions_survive_a_failover_and_requests_meanwhile_get_a_fast_503(
    redis_sentinel: RedisSentinelGroup, redis_client: Any, fault: Fault
) -> None:
    report = await run_failover(redis_sentinel, lambda: _in_process(redis_client), fault)
    check(report)
    if fault == "freeze":
        # A frozen master answers nothing, so it takes no write it could lose.
        assert report.acked_writes_lost == 0
