"""What OpenTelemetry adds to a request, in process, on the memory backend.

    python -m benchmarks.telemetry_cost [--rounds 30] [--clock cpu|wall]

Three apps in one process, alternated in batches of 300 requests (the order reversed every
round): ``plain`` (no telemetry), ``docs`` (``instrument()`` with ``TracerProvider()`` and
``MeterProvider()`` as the docs set them up, nothing attached) and ``recording`` (a batch span
processor exporting nowhere and a metric reader, as ``apps/ours_memory_otel.py``). Prints the
median µs per request of each and what telemetry adds. ``--clock cpu`` (the default) times the
process's CPU time (``time.process_time_ns``: the span processor's thread included, the time
other processes took the CPU excluded), which a busy shared machine disturbs far less than the
wall clock; ``--clock wall`` times ``perf_counter``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from benchmarks.apps._ours import build_app
from benchmarks.asgi_client import call_many, make_scope
from benchmarks.asgi_driver import login_cookie
from starlette_session.backends import MemoryBackend
from starlette_session.telemetry import instrument
from starlette_session.testing import find_session_middleware

KINDS = ("plain", "docs", "recording")


class Discard(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def make(kind: str) -> Any:
    app = build_app(MemoryBackend())
    if kind == "plain":
        return app
    tracer_provider = TracerProvider()
    if kind == "recording":
        tracer_provider.add_span_processor(BatchSpanProcessor(Discard()))
        meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    else:
        meter_provider = MeterProvider()
    instrument(find_session_middleware(app).store, tracer_provider, meter_provider)
    return app


async def run(rounds: int, clock: Callable[[], int]) -> None:
    apps = {kind: make(kind) for kind in KINDS}
    for cell, method, path in (("read", "GET", "/read"), ("change", "POST", "/change")):
        scopes = {}
        for kind, app in apps.items():
            scopes[kind] = make_scope(method, path, await login_cookie(app))
            await call_many(app, scopes[kind], 500)
        times: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for index in range(rounds):
            for kind in KINDS if index % 2 == 0 else KINDS[::-1]:
                start = clock()
                await call_many(apps[kind], scopes[kind], 300)
                times[kind].append((clock() - start) / 300 / 1000)
        plain = statistics.median(times["plain"])
        print(
            f"{cell:6s} "
            + "  ".join(
                f"{kind} {median:.1f} us (+{median - plain:.1f})"
                for kind, median in ((k, statistics.median(v)) for k, v in times.items())
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
