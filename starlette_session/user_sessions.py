"""A user's sessions, as ``SessionStore`` offers them: list them, end one, end them all.

The work is the per-user index's (``user_index.py``, whose docstring has the rules); this adds
the store's side: finding the current session's key, and telling the ``revoked`` handlers.
"""

from __future__ import annotations

from starlette_session.events import SessionEvent, SessionEventInfo, SessionEvents
from starlette_session.exceptions import SessionSetupError
from starlette_session.parts import StoreParts
from starlette_session.state import StatefulDict
from starlette_session.user_index import SessionInfo, UserIndex

__all__ = ["UserSessions"]


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
        key = current.state.store_key if current is not None else None
        return await self._users().user_sessions(user_id, key)

    async def revoke_user_sessions(self, user_id: str, *, keep: StatefulDict | None = None) -> int:
        """End every session of ``user_id`` (except ``keep``); return how many were live.

        Use it after a password change: ``await store.revoke_user_sessions(user, keep=session)``.
        When it returns, none of those sessions can be used again, including one that a
        concurrent request was moving to a new id.
        """
        kept = keep.state.store_key if keep is not None else None
        ended = await self._users().revoke(user_id, keep=kept)
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
