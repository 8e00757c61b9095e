"""This library with its SQL backend on the machine's PostgreSQL (asyncpg)."""

from benchmarks.apps._ours import build_app
from benchmarks.apps._sql import postgres_backend

app = build_app(postgres_backend())
