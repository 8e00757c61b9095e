"""Typed FastAPI path on SQLite; compare with ``bare_fastapi``."""

from benchmarks.apps._ours_fastapi import build_app
from benchmarks.apps._sql import sqlite_backend

app = build_app(sqlite_backend())
