"""Typed FastAPI path with the in-memory backend; compare with ``bare_fastapi``."""

from benchmarks.apps._ours_fastapi import build_app
from starlette_session.backends import MemoryBackend

app = build_app(MemoryBackend())
