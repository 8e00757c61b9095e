"""This library with its in-memory backend, instrumented with OpenTelemetry (the ``otel`` extra):
the SDK records every span (a batch processor, exporting nowhere) and every metric (a reader
that is never collected during the run). Compare with ``ours_memory``."""

from benchmarks.apps._otel import otel_app

app = otel_app("recording")
