"""``ours_memory`` inside a recorded request span (as an ASGI instrumentation makes), without
the session's telemetry: the baseline of ``ours_memory_otel_traced``."""

from benchmarks.apps._otel import otel_app

app = otel_app("recording", instrumented=False, traced=True)
