"""This library with its in-memory backend and a do-nothing handler on every session event: the
cost of the events themselves (compare with ``ours_memory``)."""

from benchmarks.apps._ours import build_app
from starlette_session import SessionEvent, SessionEventInfo
from starlette_session.backends import MemoryBackend
from starlette_session.testing import find_session_middleware

app = build_app(MemoryBackend())
store = find_session_middleware(app).store


def ignore(info: SessionEventInfo) -> None:
    pass


for event in SessionEvent:
    store.on(event, ignore)
