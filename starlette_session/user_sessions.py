"""A user's sessions, as ``SessionStore`` offers them: list them, end one, end them all.

The work is the per-user index's (``user_index.py``, whose docstring has the rules); this adds
the store's side: finding the current session's key, and telling the ``revoked`` handlers.
"""

from __future__ import annotations

from typing import NamedTuple

from starlette_session.devices import CLIENT, LAST_USED, USER_AGENT
from starlette_session.events import SessionEvent, SessionEventInfo, SessionEvents
from starlette_session.exceptions import SessionSetupError
from starlette_session.parts import StoreParts
from starlette_session.records import Stored
from starlette_session.state import StatefulDict
from starlette_session.user_index import UserIndex

__all__ = ["SessionInfo", "UserSessions"]


class SessionInfo(NamedTuple):
    """One stored session of a user, as listed by ``SessionStore.user_sessions``.

    ``user_agent``, ``client`` and ``last_used`` are recorded with
    ``SessionStore(track_devices=True)``; without it they are None.
    """

    #: The opaque store key (a hash: it cannot be turned back into a cookie).
    key: str
    #: When the session was first stored (Unix time).
    created_at: int | None
    #: The ``User-Agent`` of the device, truncated.
    user_agent: str | None = None
    #: The client address, as coarse as configured (``"203.0.113.0/24"`` by default).
    client: str | None = None
    #: When the session was last used, to within ``last_used_interval`` (Unix time).
    last_used: int | None = None
    #: Whether this is the session passed as ``current=``.
    current: bool = False


class UserSessions:
    """The methods of ``SessionStore`` about a user's sessions."""

    events: SessionEvents

    @property
    def parts(self) -> StoreParts:
        """The working parts of the bound store (``SessionStore`` provides them)."""
        raise NotImplementedError

    def _users(self) -> UserIndex:
        users = self.parts.users
        if users is None:
            raise SessionSetupError("the cookie backend keeps no sessions on the server")
        return users

    async def user_sessions(
        self, user_id: str, *, current: StatefulDict | None = None
    ) -> list[SessionInfo]:
        """The live sessions of ``user_id`` (saved after ``session.set_user(user_id)``), most
        recently used first, the one of ``current`` (this request's session) marked ``current``.

        With ``SessionStore(track_devices=True)`` each also tells its device (user agent),
        client address and last use.
        """
        users, current_key = self._users(), current.state.store_key if current else None
        sessions = []
        for key in await users.sessions(user_id):
            record = Stored(await users.counted().read(key)).record
            meta = record.meta if record is not None else {}
            if meta.get("u") == user_id:
                created, last_used = _int(meta.get("c")), _int(meta.get(LAST_USED))
                agent, client = _text(meta.get(USER_AGENT)), _text(meta.get(CLIENT))
                info = SessionInfo(key, created, agent, client, last_used, key == current_key)
                sessions.append(info)
        sessions.sort(key=lambda info: info.last_used or info.created_at or 0, reverse=True)
        return sessions

    async def revoke_user_sessions(self, user_id: str, *, keep: StatefulDict | None = None) -> int:
        """End every session of ``user_id`` (except ``keep``); return how many were live.

        Use it after a password change: ``await store.revoke_user_sessions(user, keep=session)``.
        When it returns, none of those sessions can be used again, including one that a
        concurrent request was moving to a new id.
        """
        kept = keep.state.store_key if keep is not None else None
        ended, at = await self._users().revoke(user_id, keep=kept)
        if keep is not None:
            keep.state.saw_revocation(at)  # it may log in again (a new id) in this request
        await self._revoked(user_id, ended, "revoke_user_sessions")
        return len(ended)

    async def revoke_session(self, user_id: str, key: str) -> bool:
        """End one session of ``user_id`` ("log out this device"); True when one was live.

        ``key`` is a :attr:`SessionInfo.key` from :meth:`user_sessions`. Nothing happens to a key
        that is not listed as one of the user's sessions, so a key sent by a browser cannot end
        another user's session. To end the current request's own session, use ``destroy()``
        (which also expires its cookie).
        """
        ended = await self._users().revoke_one(user_id, key)
        await self._revoked(user_id, [key] if ended else [], "revoke_session")
        return ended

    async def _revoked(self, user_id: str, keys: list[str], reason: str) -> None:
        if keys and self.events.active:
            revoked = SessionEvent.revoked
            await self.events.emit(
                [SessionEventInfo(revoked, key, user_id, reason) for key in keys]
            )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
