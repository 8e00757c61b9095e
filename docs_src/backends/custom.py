"""A backend of your own: five async methods on bytes.

This one keeps sessions in a dict, to show the contract; a real one calls its store
where the dict is used. Every operation on one key must be atomic: here no method awaits
between reading and writing the dict, so no other request can run in between. When the
store fails, raise ``SessionBackendError`` from the driver's error
(``raise SessionBackendError(...) from error``):
the middleware answers 503, or serves an anonymous session if the store was built with
``on_backend_error="anonymous"``.
"""

import os
import time

from starlette.applications import Starlette

from starlette_session import SessionMiddleware, SessionStore
from starlette_session.backends import Replaced, SessionBackend


class DictBackend(SessionBackend):
    def __init__(self) -> None:
        # key -> (value, expires at)
        self.entries: dict[str, tuple[bytes, float | None]] = {}

    def _live(self, key: str) -> bytes | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at is not None and expires_at <= time.monotonic():
            del self.entries[key]
            return None
        return value

    def _put(self, key: str, value: bytes, ttl: int | None) -> None:
        expires_at = None if ttl is None else time.monotonic() + ttl
        self.entries[key] = (value, expires_at)

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        value = self._live(key)
        if value is not None and ttl is not None:
            self._put(key, value, ttl)  # sliding expiry, in the same operation
        return value

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        if self._live(key) is not None:
            return False
        self._put(key, value, ttl)
        return True

    async def replace(
        self,
        key: str,
        expected: bytes,
        value: bytes,
        ttl: int | None,
        *,
        logged_in: bool = False,
    ) -> Replaced:
        current = self._live(key)
        if current != expected:
            return Replaced(stored=False, current=current)
        self._put(key, value, ttl)
        return Replaced(stored=True, current=None)

    async def expire(self, key: str, ttl: int) -> None:
        value = self._live(key)
        if value is not None:
            self._put(key, value, ttl)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self.entries.pop(key, None)


app = Starlette()
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ["SESSION_SECRET"],
    store=SessionStore(DictBackend()),
)
