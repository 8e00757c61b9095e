"""What OpenTelemetry adds to a request, in process, on the memory backend.

    python -m benchmarks.telemetry_cost [--rounds 30] [--clock cpu|wall]

Five apps in one process (``apps/_otel.py``), alternated in batches of 300 requests (the order
reversed every round): ``plain`` (no telemetry), ``docs`` (``instrument()`` with
``TracerProvider()`` and ``MeterProvider()`` as the docs set them up, nothing attached),
``recording`` (a batch span processor exporting nowhere and a metric reader), and the same SDK
inside a recorded request span, as an ASGI instrumentation makes: ``traced`` without the
session's telemetry, ``traced+session`` with it. Prints the median µs per request of each and
what the session's telemetry adds (``docs`` and ``recording`` to ``plain``, ``traced+session``
to ``traced``). ``--clock cpu`` (the default) times the process's CPU time
(``time.process_time_ns``: the span processor's thread included, the time other processes took
the CPU excluded), which a busy shared machine disturbs far less than the wall clock;
``--clock wall`` times ``perf_counter``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks.apps._otel import otel_app
from benchmarks.apps._ours import build_app
from benchmarks.asgi_client import call_many, make_scope
from benchmarks.asgi_driver import login_cookie
from starlette_session.backends import MemoryBackend

#: Each app, and the app it is compared with.
KINDS = {
    "plain": "plain",
    "docs": "plain",
    "recording": "plain",
    "traced": "traced",
    "traced+session": "traced",
}


def make(kind: str) -> Any:
    if kind == "plain":
        return build_app(MemoryBackend())
    if kind == "docs":
        return otel_app("docs")
    if kind == "recording":
        return otel_app("recording")
    return otel_app("recording", instrumented=kind == "traced+session", traced=True)


async def run(rounds: int, clock: Callable[[], int]) -> None:
    apps = {kind: make(kind) for kind in KINDS}
    order = list(KINDS)
    for cell, method, path in (("read", "GET", "/read"), ("change", "POST", "/change")):
        scopes = {}
        for kind, app in apps.items():
            scopes[kind] = make_scope(method, path, await login_cookie(app))
            await call_many(app, scopes[kind], 500)
        times: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for index in range(rounds):
            for kind in order if index % 2 == 0 else order[::-1]:
                start = clock()
                await call_many(apps[kind], scopes[kind], 300)
                times[kind].append((clock() - start) / 300 / 1000)
        medians = {kind: statistics.median(values) for kind, values in times.items()}
        print(
            f"{cell:6s} "
            + "  ".join(
                f"{kind} {median:.1f} us"
                + ("" if KINDS[kind] == kind else f" (+{median - medians[KINDS[kind]]:.1f})")
                for kind, median in medians.items()
            ),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    args = parser.parse_args()
    clock = time.process_time_ns if args.clock == "cpu" else time.perf_counter_ns
    asyncio.run(run(args.rounds, clock))


if __name__ == "__main__":
    main()
