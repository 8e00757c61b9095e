"""starsessions with its in-memory store (runs in the starsessions venv)."""

from starsessions import InMemoryStore

from benchmarks.apps._starsessions import build_app

app = build_app(InMemoryStore())
