"""``ours_memory_otel`` inside a recorded request span (as an ASGI instrumentation makes): the
session's spans have a recording parent. Compare with ``ours_memory_traced``."""

from benchmarks.apps._otel import otel_app

app = otel_app("recording", traced=True)
