"""valkey-glide against redis-py + hiredis behind the same session backend contract, in process,
on one private redis-server, alternated in one run.

    python -m benchmarks.glide_compare [--rounds 15] [--batch-ms 100]

For each concurrency (1, and 32 requests in flight, each on its own session) and cell (``read``,
``change``), the two apps (``ours_redis``: ``RedisBackend`` on ``redis.asyncio`` with a pool of
up to 32 connections; ``ours_glide``: ``benchmarks/glide_backend.py``, glide's one multiplexed
connection) run in alternating batches, the order swapped every round. Prints the median µs per
request of each and the median of the per-round ratios glide / redis-py.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import statistics
import time
from typing import Any

from benchmarks.asgi_client import call_many, make_scope
from benchmarks.asgi_driver import login_cookie
from benchmarks.redis_server import private_redis


async def per_request_us(app: Any, scopes: list[dict[str, Any]], count: int) -> float:
    """Requests of ``scopes`` (one task each, all at once), ``count`` in all: µs per request."""
    each = max(1, count // len(scopes))
    start = time.perf_counter()
    await asyncio.gather(*(call_many(app, scope, each) for scope in scopes))
    return (time.perf_counter() - start) * 1e6 / (each * len(scopes))


async def run(rounds: int, batch_ms: float) -> None:
    apps = {name: importlib.import_module(f"benchmarks.apps.{name}").app for name in NAMES}
    for concurrency in (1, 32):
        for cell, method, path in (("read", "GET", "/read"), ("change", "POST", "/change")):
            scopes: dict[str, list[dict[str, Any]]] = {}
            for name, app in apps.items():
                cookies = [await login_cookie(app) for _ in range(concurrency)]
                scopes[name] = [make_scope(method, path, cookie) for cookie in cookies]
                await per_request_us(app, scopes[name], 300)  # warm-up
            slowest = max([await per_request_us(apps[n], scopes[n], 100) for n in NAMES])
            count = max(50, int(batch_ms * 1000 / slowest))
            times: dict[str, list[float]] = {name: [] for name in NAMES}
            for index in range(rounds):
                order = NAMES if index % 2 == 0 else NAMES[::-1]
                for name in order:
                    times[name].append(await per_request_us(apps[name], scopes[name], count))
            ratios = [g / r for g, r in zip(times["ours_glide"], times["ours_redis"], strict=True)]
            print(
                f"concurrency {concurrency:2d} {cell:6s} "
                f"redis-py {statistics.median(times['ours_redis']):7.1f} us  "
                f"glide {statistics.median(times['ours_glide']):7.1f} us  "
                f"glide/redis-py {statistics.median(ratios):.2f}x "
                f"(rounds {min(ratios):.2f}-{max(ratios):.2f})",
                flush=True,
            )


NAMES = ["ours_redis", "ours_glide"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch-ms", type=float, default=100.0)
    args = parser.parse_args()
    with private_redis() as url:
        os.environ["BENCH_REDIS_URL"] = url
        asyncio.run(run(args.rounds, args.batch_ms))


if __name__ == "__main__":
    main()
