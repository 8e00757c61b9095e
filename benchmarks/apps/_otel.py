"""The OpenTelemetry setups that ``telemetry_cost.py`` and the ``ours_memory_*otel*`` apps
measure, on the memory backend.

- ``recording``: a batch span processor exporting nowhere and a metric reader (never collected
  during the run): the SDK records every span and every measurement.
- ``docs``: ``TracerProvider()`` and ``MeterProvider()`` as the docs set them up, nothing
  attached.

``commit_durations=True`` also records each commit's duration. ``traced=True`` wraps the app
in a request span per HTTP request (a server span, as an ASGI instrumentation makes), so that
the session's spans have a recording parent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from benchmarks.apps._ours import build_app
from starlette_session.backends import MemoryBackend
from starlette_session.telemetry import instrument
from starlette_session.testing import find_session_middleware


class Discard(SpanExporter):
    """Exports nowhere: the cost measured is the recording, not a network."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class Traced:
    """A server span around each HTTP request, the request's span for what runs inside."""

    def __init__(self, app: Any, tracer: trace.Tracer) -> None:
        self.app, self.tracer = app, tracer

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.tracer.start_as_current_span("GET", kind=trace.SpanKind.SERVER):
            await self.app(scope, receive, send)


def otel_app(
    setup: str = "recording",
    *,
    instrumented: bool = True,
    traced: bool = False,
    commit_durations: bool = False,
) -> Any:
    app = build_app(MemoryBackend())
    tracer_provider = TracerProvider()
    if setup == "recording":
        tracer_provider.add_span_processor(BatchSpanProcessor(Discard()))
        meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    else:
        meter_provider = MeterProvider()
    if instrumented:
        store = find_session_middleware(app).store
        options = {"commit_durations": True} if commit_durations else {}  # known to older ones
        instrument(store, tracer_provider, meter_provider, **options)
    return Traced(app, tracer_provider.get_tracer("the app")) if traced else app
