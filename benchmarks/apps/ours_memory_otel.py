"""This library with its in-memory backend, instrumented with OpenTelemetry (the ``otel`` extra):
the SDK records every span (a batch processor, exporting nowhere) and every metric (a reader
that is never collected during the run). Compare with ``ours_memory``."""

from collections.abc import Sequence

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


tracer_provider = TracerProvider()
tracer_provider.add_span_processor(BatchSpanProcessor(Discard()))
meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])

app = build_app(MemoryBackend())
instrument(find_session_middleware(app).store, tracer_provider, meter_provider)
