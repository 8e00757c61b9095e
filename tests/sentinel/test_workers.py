"""A failover under uvicorn with four worker processes, each with its own Sentinel client.

The same run as ``test_failover.py`` (kill the master under load), over real HTTP to
``uvicorn --workers 4 --factory tests.sentinel.app:create_app`` on a loopback port.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.sentinel.failover import run_failover
from tests.sentinel.test_failover import check
from tests.servers import HOST, RedisSentinelGroup, free_port

pytestmark = [pytest.mark.redis, pytest.mark.sentinel, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4
START_DEADLINE = 60.0


@pytest.fixture
async def served(redis_sentinel: RedisSentinelGroup) -> AsyncIterator[tuple[str, set[str]]]:
    """The app under ``uvicorn --workers 4``: its URL and its workers' pids, once all answer."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "SENTINEL_ADDRESSES": ",".join(f"{h}:{p}" for h, p in redis_sentinel.sentinel_addresses),
        "SENTINEL_SERVICE": redis_sentinel.service,
    }
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "tests.sentinel.app:create_app",
        "--host", HOST, "--port", str(port), "--workers", str(WORKERS),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(  # noqa: ASYNC220 - returns at once; the waits are async
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        url = f"http://{HOST}:{port}"
        try:
            yield url, await _every_worker(process, url)
        finally:
            process.terminate()
            try:
                await asyncio.to_thread(process.wait, 15)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)


async def _every_worker(process: subprocess.Popen[bytes] | None, url: str) -> set[str]:
    deadline = time.monotonic() + START_DEADLINE
    pids: set[str] = set()
    async with httpx.AsyncClient(base_url=url, timeout=2.0) as client:
        while len(pids) < WORKERS:
            if (process and process.poll() is not None) or time.monotonic() > deadline:
                raise AssertionError(f"uvicorn did not start {WORKERS} workers ({pids} answered)")
            try:
                # A new connection each time, so that the kernel spreads them over the workers.
                response = await client.get("/pid", headers={"connection": "close"})
                pids.add(response.text)
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
    return pids


async def test_four_workers_go_through_a_failover_without_a_restart(
    redis_sentinel: RedisSentinelGroup, served: tuple[str, set[str]]
) -> None:
    url, workers = served

    def client() -> httpx.AsyncClient:
        # One connection per user, closed after each request: every worker gets users.
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=0)
        return httpx.AsyncClient(base_url=url, timeout=10.0, limits=limits)

    report = await run_failover(redis_sentinel, client, "kill", users=16)
    check(report)
    assert await _every_worker(None, url) == workers  # the same processes: none was restarted
