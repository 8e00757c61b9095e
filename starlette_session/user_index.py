"""Which sessions belong to which user, so that all of a user's sessions can be revoked.

Each user has one small record per signing key (``<prefix>user:<keyed hash of the user id>``)
listing the store keys of their sessions. It is kept up to date with compare-and-set, so it works
on any backend. The store writes it only when a session's user changes: at log-in, at log-out,
and when a session gets a new id.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette_session.backends.base import SessionBackend
from starlette_session.cookies import MAX_COOKIE_AGE
from starlette_session.exceptions import SessionConflictError
from starlette_session.keys import StoreKeys
from starlette_session.records import decode_record, encode_record

__all__ = ["UserIndex"]

MAX_WRITE_ATTEMPTS = 8


class UserIndex:
    """The store keys of each user's sessions, in ``backend``."""

    def __init__(self, backend: SessionBackend, keys: StoreKeys) -> None:
        self.backend = backend
        self.keys = keys

    def index_key(self, user_id: str, key_index: int = 0) -> str:
        """The backend key of a user's index under one signing key (never the raw user id)."""
        return self.keys.user_key(user_id, key_index)

    async def sessions(self, user_id: str) -> list[str]:
        """The store keys listed for ``user_id``.

        An index written before a secret rotation is read until its key leaves the list, or the
        sessions it lists could never be revoked.
        """
        keys: list[str] = []
        for key_index in range(self.keys.key_count):
            raw = await self.backend.read(self.index_key(user_id, key_index))
            record = decode_record(raw) if raw is not None else None
            found = record.data.get("k") if record is not None else None
            if isinstance(found, list):
                keys += [key for key in found if isinstance(key, str) and key not in keys]
        return keys

    async def add(self, user_id: str, key: str) -> None:
        """List ``key`` as one of ``user_id``'s sessions."""
        await self._update(user_id, add=key)

    async def remove(self, user_id: str, keys: Iterable[str], *, everywhere: bool = False) -> None:
        """Forget ``keys``; ``everywhere`` also cleans the indexes of older signing keys."""
        dropped = set(keys)
        for key_index in range(self.keys.key_count if everywhere else 1):
            await self._update(user_id, dropped=dropped, key_index=key_index)

    async def _update(
        self,
        user_id: str,
        *,
        add: str | None = None,
        dropped: set[str] | None = None,
        key_index: int = 0,
    ) -> None:
        index_key, dropped = self.index_key(user_id, key_index), dropped or set()
        for _ in range(MAX_WRITE_ATTEMPTS):
            raw = await self.backend.read(index_key)
            if raw is None and not add:
                return  # nothing to remove from
            record = decode_record(raw) if raw is not None else None
            keys = record.data.get("k", []) if record is not None else []
            updated = [key for key in keys if key not in dropped and key != add]
            if add:
                updated.append(add)
            new_raw = encode_record({"k": updated}, {}, None)
            if raw is None:
                if await self.backend.create(index_key, new_raw, MAX_COOKIE_AGE):
                    return
            elif (await self.backend.replace(index_key, raw, new_raw, MAX_COOKIE_AGE)).stored:
                return
        raise SessionConflictError("the user's session index kept changing; try again")
