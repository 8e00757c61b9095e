"""Carries a :class:`CommitPlan` out against the backend, and says what the cookie becomes.

A change is one compare-and-set on the bytes loaded. When another request saved the session first,
the top-level fields this request changed are applied to what is stored now and the write is tried
again (or, in strict mode, refused); when the session is gone (a log-out), nothing is written.
"""

from __future__ import annotations

import secrets
from typing import Any, NamedTuple

from starlette_session.backends.base import SessionBackend
from starlette_session.cookies import CookieSettings
from starlette_session.exceptions import (
    SessionBackendError,
    SessionConflictError,
    SessionDestroyedError,
    SessionTooLargeError,
)
from starlette_session.keys import StoreKeys
from starlette_session.plan import CommitPlan, CookieAction, Write
from starlette_session.records import Record, decode_record, encode_record, merge_records
from starlette_session.state import SessionState
from starlette_session.user_index import UserIndex

__all__ = ["EXPIRE_COOKIE", "CommitExecutor", "CookieUpdate"]

MAX_CREATE_ATTEMPTS = 8
# A failed compare-and-set means another request's write succeeded, so merging always makes
# progress, but with N requests saving one session at once the last needs N attempts.
MAX_MERGE_ATTEMPTS = 64
DESTROYED_MESSAGE = (
    "this session was destroyed by another request (a log-out) while this one ran; its changes "
    "were not saved"
)


class CookieUpdate(NamedTuple):
    """What the response does with the session cookie. ``value=None`` expires it."""

    value: str | None
    max_age: int | None = None

    def __repr__(self) -> str:  # the value holds the session id: never in logs or tracebacks
        value = None if self.value is None else "<hidden>"
        return f"CookieUpdate(value={value}, max_age={self.max_age})"


EXPIRE_COOKIE = CookieUpdate(None)


class CommitExecutor:
    """Runs commit plans for one store. ``backend=None`` means the cookie backend."""

    def __init__(
        self,
        *,
        backend: SessionBackend | None,
        keys: StoreKeys,
        users: UserIndex | None,
        cookie: CookieSettings,
        cookie_limit: int,
        max_size: int | None,
        strict: bool,
    ) -> None:
        self.backend = backend
        self.keys = keys
        self.users = users
        self.cookie = cookie
        self.cookie_limit = cookie_limit
        self.max_size = max_size
        self.strict = strict

    async def run(
        self, plan: CommitPlan, state: SessionState, data: dict[str, Any], now: int
    ) -> CookieUpdate | None:
        """Carry ``plan`` out; return the cookie to send, if any."""
        if plan.delete_loaded:
            await self.delete(state)
        if plan.write is Write.REPLACE:
            await self._replace(plan, state, data)
            if plan.user_changed:
                await self._move_to_user_index(state)
        elif plan.write is Write.CREATE:
            session_id = await self._create(plan, state)
            return None if session_id is None else self._signed(session_id, plan, state, now)
        if plan.cookie is CookieAction.EXPIRE:
            return EXPIRE_COOKIE
        if plan.cookie in (CookieAction.RESIGN, CookieAction.DATA):
            assert plan.payload is not None  # noqa: S101 - the plan always names it
            update = self._signed(plan.payload, plan, state, now)
            if plan.cookie is CookieAction.DATA and plan.raw is not None:
                state.stored(session_id=plan.payload, store_key=None, raw=plan.raw, meta=plan.meta)
            return update
        return None

    async def delete(self, state: SessionState) -> None:
        """Delete the stored session and drop it from its user's index."""
        key = state.store_key
        if key is not None:
            await self._server().delete(key)
            if state.loaded_user and self.users is not None:
                await self.users.remove(state.loaded_user, [key])
        state.forgotten()

    async def _replace(self, plan: CommitPlan, state: SessionState, data: dict[str, Any]) -> None:
        backend, key, loaded_raw = self._server(), state.store_key, state.raw
        assert key is not None  # noqa: S101 - REPLACE is only planned for stored sessions
        assert loaded_raw is not None  # noqa: S101
        assert plan.raw is not None  # noqa: S101
        expected, raw = loaded_raw, plan.raw
        base = ours = None
        for _ in range(MAX_MERGE_ATTEMPTS):
            result = await backend.replace(key, expected, raw, plan.ttl)
            if result.stored:
                state.written(raw, plan.meta)
                return
            if result.current is None:
                raise SessionDestroyedError(DESTROYED_MESSAGE)
            if self.strict:
                raise SessionConflictError(
                    "another request changed this session after it was loaded; nothing was saved"
                )
            if base is None or ours is None:
                base = decode_record(loaded_raw) or Record({}, {})
                ours = Record(dict.copy(data), dict(plan.meta))
            merged = merge_records(base, ours, decode_record(result.current) or Record({}, {}))
            expected, raw = result.current, encode_record(merged.data, merged.meta, self.max_size)
        raise SessionConflictError("the session kept changing under this request; nothing saved")

    async def _create(self, plan: CommitPlan, state: SessionState) -> str | None:
        backend, raw = self._server(), plan.raw
        assert raw is not None  # noqa: S101 - CREATE always carries the bytes
        for _ in range(MAX_CREATE_ATTEMPTS):
            session_id = secrets.token_urlsafe(32)
            key = self.keys.session_key(session_id)
            if await backend.create(key, raw, plan.ttl):
                break
        else:  # pragma: no cover - 256-bit ids do not collide
            raise SessionBackendError("could not find a free session id")
        old_key = state.store_key
        if old_key is not None:
            # A new id for an existing session: if a log-out destroyed the old entry while this
            # request ran, the new one must not bring the session back.
            assert state.raw is not None  # noqa: S101 - loaded with its key
            still_there = await backend.replace(old_key, state.raw, state.raw, plan.ttl)
            if not still_there.stored and still_there.current is None:
                await backend.delete(key)
                if state.key_index and raw == state.raw:
                    # Only re-signing after a secret rotation, which a parallel request did
                    # first (or a log-out ended the session): this request loses nothing.
                    return None
                raise SessionDestroyedError(DESTROYED_MESSAGE)
            await backend.delete(old_key)
        user, loaded_user = plan.meta.get("u"), state.loaded_user
        if self.users is not None:
            if loaded_user and old_key is not None:
                await self.users.remove(loaded_user, [old_key])
            if isinstance(user, str):
                await self.users.add(user, key)
        state.stored(session_id=session_id, store_key=key, raw=raw, meta=plan.meta)
        return session_id

    async def _move_to_user_index(self, state: SessionState) -> None:
        key, user, loaded_user = state.store_key, state.user, state.loaded_user
        assert key is not None  # noqa: S101 - a stored session
        assert self.users is not None  # noqa: S101
        if loaded_user:
            await self.users.remove(loaded_user, [key])
        if user is not None:
            await self.users.add(user, key)
        state.indexed_as(user)

    def _signed(
        self, payload: str, plan: CommitPlan, state: SessionState, now: int
    ) -> CookieUpdate:
        value = self.keys.signer.sign(payload, now)
        if self.backend is None:
            size = len(self.cookie.name) + 1 + len(value)
            if size > self.cookie_limit:
                raise SessionTooLargeError(
                    f"the session cookie would take {size} bytes, over the {self.cookie_limit} "
                    "browsers keep; store less, or use a server-side backend. Nothing was saved."
                )
        state.signed(now)
        return CookieUpdate(value, plan.max_age)

    def _server(self) -> SessionBackend:
        assert self.backend is not None  # noqa: S101 - the plan never writes for the cookie backend
        return self.backend
