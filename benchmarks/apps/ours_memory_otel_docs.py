"""``ours_memory_otel`` with the docs' setup: ``TracerProvider()`` and ``MeterProvider()``,
nothing attached."""

from benchmarks.apps._otel import otel_app

app = otel_app("docs")
