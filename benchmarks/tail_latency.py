"""The latency distribution of one connection's changes, in process, on a private redis-server:
where the 99th percentile comes from.

    python -m benchmarks.tail_latency --runs 8 --requests 3000 [REV ...]

Each run is a fresh process (one per revision and collector setting, alternated run by run)
making ``--requests`` sequential ``POST /change`` requests of one session into ``ours_redis``
(as wrk's one connection does for about a second), timing each, with the cycle collector on
(as in production) or off; a ``gc.callbacks`` hook times every collection. Prints, per run, the
median, p99, p99.9 and max in µs, the collections and their longest pause, and how many of the
requests at or above the p99 overlapped a collection, or were preempted (the thread's involuntary
context switches, ``getrusage``: another process took the CPU meanwhile). ``REV`` defaults to
the working tree; other revisions are taken from git (``git archive``) and imported instead.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.contenders import REPO_DIR as REPO
from benchmarks.contenders import package_root

RUSAGE_THREAD = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)


async def measure(requests: int, collector: bool) -> dict[str, Any]:
    from benchmarks.asgi_client import call_once, make_scope
    from benchmarks.asgi_driver import load_app, login_cookie

    app = load_app("ours_redis")
    cookie = await login_cookie(app)
    scope = make_scope("POST", "/change", cookie)
    for _ in range(500):  # warm-up: connections, scripts, caches
        await call_once(app, scope)
    pauses: list[tuple[int, int]] = []
    started: list[int] = []

    def timer(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(time.perf_counter_ns())
        elif started:
            pauses.append((started.pop(), time.perf_counter_ns()))

    gc.collect()
    gc.callbacks.append(timer)
    if not collector:
        gc.disable()
    spans: list[tuple[int, int]] = []
    preempted: list[int] = []  # involuntary context switches of this thread during each request
    cpu_times: list[int] = []  # CPU time this thread spent on each request
    for _ in range(requests):
        switches = resource.getrusage(RUSAGE_THREAD).ru_nivcsw
        cpu = time.thread_time_ns()
        start = time.perf_counter_ns()
        await call_once(app, scope)
        spans.append((start, time.perf_counter_ns()))
        cpu_times.append(time.thread_time_ns() - cpu)
        preempted.append(resource.getrusage(RUSAGE_THREAD).ru_nivcsw - switches)
    gc.enable()
    gc.callbacks.remove(timer)
    latencies = sorted(end - start for start, end in spans)
    p99 = latencies[int(len(latencies) * 0.99)]
    slow = [(s, e) for s, e in spans if e - s >= p99]
    slow_in_gc = sum(1 for s, e in slow if any(ps < e and pe > s for ps, pe in pauses))
    slow_preempted = sum(
        1 for (s, e), n in zip(spans, preempted, strict=True) if e - s >= p99 and n
    )
    fast_preempted = sum(1 for (s, e), n in zip(spans, preempted, strict=True) if e - s < p99 and n)
    return {
        "median_us": statistics.median(latencies) / 1000,
        "p99_us": p99 / 1000,
        "p999_us": latencies[int(len(latencies) * 0.999)] / 1000,
        "max_us": latencies[-1] / 1000,
        "collections": len(pauses),
        "longest_pause_us": max((e - s for s, e in pauses), default=0) / 1000,
        "slow": len(slow),
        "slow_in_gc": slow_in_gc,
        "slow_preempted": slow_preempted,
        # The CPU the thread spent on the slow requests against all: the same means the slow
        # ones waited (for the CPU, or for Redis), they did not compute more.
        "cpu_median_us": statistics.median(cpu_times) / 1000,
        "cpu_slow_median_us": statistics.median(
            c for (s, e), c in zip(spans, cpu_times, strict=True) if e - s >= p99
        )
        / 1000,
        "others_preempted": fast_preempted,
    }


def child(requests: int, collector: bool) -> None:
    json.dump(asyncio.run(measure(requests, collector)), sys.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("revisions", nargs="*", default=["working"])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--child", choices=["on", "off"])
    args = parser.parse_args()
    if args.child:
        child(args.requests, args.child == "on")
        return
    from benchmarks.redis_server import private_redis

    with tempfile.TemporaryDirectory() as tmp, private_redis() as url:
        roots = {rev: package_root(rev, Path(tmp)) for rev in args.revisions}
        results: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for run in range(args.runs):
            variants = [(rev, gc_mode) for rev in roots for gc_mode in ("on", "off")]
            for rev, gc_mode in variants if run % 2 == 0 else variants[::-1]:
                env = {
                    **os.environ,
                    "BENCH_REDIS_URL": url,
                    "PYTHONPATH": f"{roots[rev]}:{REPO}",
                }
                out = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "benchmarks.tail_latency",
                        "--child",
                        gc_mode,
                        "--requests",
                        str(args.requests),
                    ],
                    env=env,
                    cwd=tmp,
                    check=True,
                    capture_output=True,
                    text=True,
                )
                result = json.loads(out.stdout)
                results.setdefault((rev, gc_mode), []).append(result)
                print(
                    f"{rev:10s} gc {gc_mode:3s} "
                    + " ".join(
                        f"{k} {v:.0f}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in result.items()
                    ),
                    flush=True,
                )
        print("\nmedians over runs (and the range of the runs' p99):")
        for (rev, gc_mode), runs in results.items():
            p99s = [r["p99_us"] for r in runs]
            median = statistics.median(r["median_us"] for r in runs)
            print(
                f"{rev:10s} gc {gc_mode:3s} median {median:.0f} us"
                f"  p99 {statistics.median(p99s):.0f} us ({min(p99s):.0f}-{max(p99s):.0f})"
                f"  p99.9 {statistics.median(r['p999_us'] for r in runs):.0f} us"
                f"  collections {statistics.median(r['collections'] for r in runs):.0f}"
                f"  slow requests in a collection {sum(r['slow_in_gc'] for r in runs)}"
                f", preempted {sum(r['slow_preempted'] for r in runs)}"
                f" of {sum(r['slow'] for r in runs)}"
                f"; others preempted {sum(r['others_preempted'] for r in runs)}"
                f"; CPU per request {statistics.median(r['cpu_median_us'] for r in runs):.0f} us,"
                f" of the slow ones {statistics.median(r['cpu_slow_median_us'] for r in runs):.0f}"
            )


if __name__ == "__main__":
    main()
