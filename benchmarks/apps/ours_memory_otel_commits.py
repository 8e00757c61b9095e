"""``ours_memory_otel`` with ``instrument(..., commit_durations=True)``: a duration point for
each commit that does something, besides each load's."""

from benchmarks.apps._otel import otel_app

app = otel_app("recording", commit_durations=True)
