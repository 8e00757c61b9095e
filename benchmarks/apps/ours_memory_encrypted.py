"""This library with its in-memory backend, every session sealed (AES-256-GCM)."""

from benchmarks.apps._ours import build_app
from starlette_session import KeyRing
from starlette_session.backends import MemoryBackend

# A fixed benchmark key (never use a key from source code in an application).
app = build_app(MemoryBackend(), KeyRing([("bench", "A" * 43)]))
