"""Sessions in this process's memory: for development, tests and single-process apps."""

import os

from starlette.applications import Starlette

from starlette_session import SessionMiddleware, SessionStore
from starlette_session.backends import MemoryBackend

# At most 100,000 sessions; when full, expired ones go first, then anonymous ones, least
# recently used first. Everything is lost when the process stops.
store = SessionStore(MemoryBackend(max_entries=100_000))

app = Starlette()
app.add_middleware(
    SessionMiddleware, secret_key=os.environ["SESSION_SECRET"], store=store
)
