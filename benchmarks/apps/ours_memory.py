"""This library with its in-memory backend."""

from benchmarks.apps._ours import build_app
from starlette_session.backends import MemoryBackend

app = build_app(MemoryBackend())
