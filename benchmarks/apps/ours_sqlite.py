"""This library with its SQL backend on a SQLite file (aiosqlite)."""

from benchmarks.apps._ours import build_app
from benchmarks.apps._sql import sqlite_backend

app = build_app(sqlite_backend())
