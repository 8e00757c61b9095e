"""The short form of every harness scenario (a few seconds each), run in CI.

The long form is ``python -m tests.load --long`` (or ``scripts/load-test.sh --long``).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.load.harness import (
    SHORT,
    AppServer,
    Report,
    format_reports,
    run_fault,
    run_load,
    run_same_session,
    run_soak,
)
from tests.servers import RedisServer

pytestmark = [pytest.mark.load, pytest.mark.slow]


def _assert_passed(report: Report) -> None:
    assert report.passed, "\n" + format_reports([report])


@pytest.mark.redis
@pytest.mark.usefixtures("redis_binary")
async def test_load_every_counter_equals_its_acknowledged_increments() -> None:
    with RedisServer() as redis_server:
        app = AppServer({"LOAD_BACKEND": "redis", "LOAD_REDIS_URL": redis_server.url})
        await app.start()
        try:
            report = await run_load(app.url, SHORT)
        finally:
            await app.stop()
    _assert_passed(report)
    assert report.figures["acknowledged increments"] > 0


@pytest.mark.redis
@pytest.mark.usefixtures("redis_binary")
async def test_same_session_twenty_concurrent_fields_are_all_kept() -> None:
    with RedisServer() as redis_server:
        app = AppServer({"LOAD_BACKEND": "redis", "LOAD_REDIS_URL": redis_server.url})
        await app.start()
        try:
            report = await run_same_session(app.url, SHORT, redis_server.url)
        finally:
            await app.stop()
    _assert_passed(report)


@pytest.mark.redis
@pytest.mark.usefixtures("redis_binary")
async def test_fault_kill_and_restart_redis_mid_load() -> None:
    report = await run_fault(SHORT)
    _assert_passed(report)
    assert report.figures["lost writes"] == 0
    assert report.figures["outage session requests"] > 0


@pytest.mark.redis
@pytest.mark.usefixtures("redis_binary")
async def test_fault_harness_reports_the_writes_lost_by_a_redis_without_persistence() -> None:
    """The harness can see lost writes: without its AOF, Redis forgets every session."""
    timings = replace(
        SHORT, fault_normal_seconds=1.0, fault_outage_seconds=0.5, fault_recovery_seconds=1.0
    )
    report = await run_fault(timings, persistent=False)
    assert report.figures["lost writes"] > 0
    assert report.figures["cookies replaced"] > 0
    assert not report.passed


async def test_soak_memory_backend_stays_bounded_and_flat() -> None:
    report = await run_soak(SHORT)
    _assert_passed(report)
