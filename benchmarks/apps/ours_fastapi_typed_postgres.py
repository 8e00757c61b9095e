"""Typed FastAPI path on PostgreSQL; compare with ``bare_fastapi``."""

from benchmarks.apps._ours_fastapi import build_app
from benchmarks.apps._sql import postgres_backend

app = build_app(postgres_backend())
