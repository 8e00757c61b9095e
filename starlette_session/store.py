"""SessionStore: the public object that binds a backend, an optional model and the session policy.

It composes the pieces that each do one job: ``loading`` (cookie to session), ``plan`` (what the
end of a request does, pure), ``storage`` (where sessions live, and carrying a plan out),
``typed`` (model views), ``user_index`` (a user's sessions) and ``keys`` (backend keys).
``SessionMiddleware`` binds it to its signing keys and cookie settings.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Generic, Literal, NamedTuple, TypeVar

from starlette_session.backends.base import CookieBackend, SessionBackend
from starlette_session.backends.memory import MemoryBackend
from starlette_session.cookies import CookieSettings
from starlette_session.devices import CLIENT, LAST_USED, USER_AGENT, DeviceTracking
from starlette_session.durations import Duration, seconds
from starlette_session.encryption import KeyRing
from starlette_session.events import (
    Handler,
    OperationObserver,
    SessionEvent,
    SessionEventInfo,
    SessionEvents,
    note,
)
from starlette_session.exceptions import (
    SessionBackendError,
    SessionModelNotConfiguredError,
    SessionSettingsError,
    SessionSetupError,
)
from starlette_session.live import LiveConnection, LiveConnections
from starlette_session.loading import OldCookieLoader, SessionLoader
from starlette_session.plan import NOTHING, CommitRules, CookieAction, Lifetimes, plan_commit
from starlette_session.records import Stored
from starlette_session.signing import CookieSigner, StoreKeys
from starlette_session.state import StatefulDict
from starlette_session.storage import EXPIRE_COOKIE, CookieUpdate, SessionStorage, storage_for
from starlette_session.typed import Migrate, TypedViews, check_model

if TYPE_CHECKING:
    import anyio
    from pydantic import BaseModel
    from starlette.types import Scope

__all__ = [
    "DEFAULT_LIFETIME",
    "BackendErrorPolicy",
    "CookieUpdate",
    "SessionInfo",
    "SessionStore",
    "UserCapPolicy",
]

ModelT = TypeVar("ModelT", bound="BaseModel")
M = TypeVar("M")
BackendErrorPolicy = Literal["fail", "anonymous"]
UserCapPolicy = Literal["end_oldest", "refuse"]
DEFAULT_LIFETIME = 14 * 24 * 60 * 60
#: Seconds between two re-checks of live connections on a backend without a channel.
DEFAULT_RECHECK = 30
logger = logging.getLogger("starlette_session")


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


class _Bound(NamedTuple):
    """What a bound store works with: key derivation, loading, the plan's rules, the storage."""

    keys: StoreKeys
    loader: SessionLoader
    rules: CommitRules
    storage: SessionStorage
    live: LiveConnections


class SessionStore(Generic[ModelT]):
    """Binds a backend, an optional Pydantic model and the session policy.

    Args:
        backend: where sessions live; :class:`MemoryBackend` when omitted.
        model: the Pydantic model ``get_session`` returns. Every field needs a default, since a
            new visitor's session is empty.
        idle_timeout: how long a session lives unused (sliding, enforced by the backend's time
            to live, refreshed by each read at no extra cost), in seconds or a ``timedelta``.
            By default (``"max_age"``) the middleware's ``max_age``, as in Starlette's
            middleware, or 14 days for a browser-session cookie (``max_age=None``).
        absolute_timeout: how long after its creation a session ends, however active.
        key_prefix: prepended to every backend key.
        max_size: the largest serialized session, in bytes; a larger one raises
            :class:`SessionTooLargeError` and nothing is written.
        strict: when two requests change one session at once, raise
            :class:`SessionConflictError` instead of merging their changes field by field.
            Refused with the cookie backend, which cannot see concurrent changes.
        save_on_error: also save sessions when the response is a 5xx (by default they are not).
        on_backend_error: ``"fail"`` (default): a backend failure raises
            :class:`SessionBackendError`, answered with 503. ``"anonymous"``: a request whose
            session cannot be loaded gets an empty session that is never saved, and failed
            writes are logged instead of raised; a log-out (``destroy()``) still expires the
            cookie. See ``docs/reliability.md``.
        migrate: called with the stored data when it no longer validates against ``model``;
            return fixed data (validated again and saved), or None to start a fresh session.
        max_user_sessions: how many sessions one user may have (see ``session.set_user``).
        at_user_cap: what a log-in beyond ``max_user_sessions`` does: ``"end_oldest"``
            (default) ends that user's oldest session; ``"refuse"`` refuses the log-in with
            :class:`SessionLimitError` (from ``begin_login``, or 403 at commit in a race).
        track_devices: record the device (user agent, coarse address, last use) of each
            session of a known user, for ``user_sessions``; ``True``, or a
            :class:`~starlette_session.DeviceTracking` to choose how.
        encryption: a :class:`~starlette_session.KeyRing`: every session stored (and the cookie
            backend's payload) is sealed with AES-256-GCM under its newest key and bound to its
            store key; ``max_size`` counts the sealed size. See ``docs/encryption.md``.
        live_recheck_interval: how often (seconds) the sessions of live connections (WebSockets,
            streams) are re-checked on a backend without a notification channel (SQLite,
            MariaDB, memcached, the cookie), and while a channel is down.
        end_live_connections: end the live connections (WebSockets, streams) of a session
            when it ends, in every process (``docs/operations.md``); False: a WebSocket finds
            out at its next ``save()`` or ``refresh()``.
        ended_close_code: the WebSocket close code sent when a connection's session ends
            (4401 by default); ``ended_close_reason`` its reason.
    """

    def __init__(
        self,
        backend: SessionBackend | CookieBackend | None = None,
        model: type[ModelT] | None = None,
        *,
        idle_timeout: Duration | Literal["max_age"] | None = "max_age",
        absolute_timeout: Duration | None = None,
        key_prefix: str = "session:",
        max_size: int | None = 64 * 1024,
        strict: bool = False,
        save_on_error: bool = False,
        on_backend_error: BackendErrorPolicy = "fail",
        migrate: Migrate | None = None,
        max_user_sessions: int = 100,
        at_user_cap: UserCapPolicy = "end_oldest",
        track_devices: bool | DeviceTracking = False,
        encryption: KeyRing | None = None,
        end_live_connections: bool = True,
        live_recheck_interval: Duration = DEFAULT_RECHECK,
        ended_close_code: int = 4401,
        ended_close_reason: str = "session ended",
    ) -> None:
        if idle_timeout is None and absolute_timeout is None:
            raise ValueError("set idle_timeout, absolute_timeout or both: every session expires")
        self._idle_follows_max_age = idle_timeout == "max_age"
        if idle_timeout == "max_age":
            idle_timeout = DEFAULT_LIFETIME
        if max_user_sessions < 1:
            raise ValueError("max_user_sessions must be at least 1")
        if at_user_cap not in ("end_oldest", "refuse"):
            raise ValueError("at_user_cap must be 'end_oldest' or 'refuse'")
        if on_backend_error not in ("fail", "anonymous"):
            raise ValueError("on_backend_error must be 'fail' or 'anonymous'")
        if not key_prefix.isascii() or not key_prefix.isprintable() or " " in key_prefix:
            raise ValueError("key_prefix must be printable ASCII without spaces")
        self._backend: SessionBackend | CookieBackend = (
            backend if backend is not None else MemoryBackend()
        )
        if model is not None:
            check_model(model)  # a model whose stored form would not read back is refused now
        self.model = model
        self.idle_timeout = seconds(idle_timeout, name="idle_timeout", allow_none=True)
        self.absolute_timeout = seconds(absolute_timeout, name="absolute_timeout", allow_none=True)
        self.key_prefix = key_prefix
        self.max_size = max_size
        self.strict = strict
        self.save_on_error = save_on_error
        self.on_backend_error = on_backend_error
        self.migrate = migrate
        self.max_user_sessions = max_user_sessions
        self.at_user_cap = at_user_cap
        self.devices = DeviceTracking() if track_devices is True else (track_devices or None)
        if encryption is not None and not isinstance(encryption, KeyRing):
            raise TypeError("encryption must be a KeyRing (see docs/encryption.md)")
        self.encryption = encryption
        self.live_recheck_interval = seconds(live_recheck_interval, name="live_recheck_interval")
        if self.live_recheck_interval < 1:
            raise SessionSettingsError("live_recheck_interval must be at least 1 second")
        if not (ended_close_code == 1008 or 3000 <= ended_close_code <= 4999):
            raise SessionSettingsError(
                "ended_close_code must be 1008 (policy violation) or an application code "
                "from 3000 to 4999"
            )
        if len(ended_close_reason.encode()) > 123:
            raise SessionSettingsError("ended_close_reason must fit in 123 bytes (UTF-8)")
        self.end_live_connections = end_live_connections
        self.ended_close_code = ended_close_code
        self.ended_close_reason = ended_close_reason
        #: The handlers and observers of this store's session events (see ``on()``).
        self.events = SessionEvents()
        self._views = TypedViews(migrate)
        self._signer: CookieSigner | None = None
        self._bound: _Bound | None = None
        self._binding: tuple[CookieSigner, CookieSettings, OldCookieLoader | None] | None = None

    def bind(
        self,
        signer: CookieSigner,
        cookie: CookieSettings,
        *,
        old_cookies: OldCookieLoader | None = None,
    ) -> None:
        """Called by ``SessionMiddleware``: the signing keys and cookie settings to use, and how
        to read the previous library's cookies (``migrate_from=``)."""
        if self._signer is not None and self._signer is not signer:
            raise SessionSetupError("a SessionStore serves one SessionMiddleware; build one each")
        self._signer = signer
        if self._idle_follows_max_age and cookie.max_age is not None:
            self.idle_timeout = max(1, cookie.max_age)
        self._binding = (signer, cookie, old_cookies)
        self._build()

    @property
    def backend(self) -> SessionBackend | CookieBackend:
        """Where sessions live (it may be replaced, before or after the store is in use)."""
        return self._backend

    @backend.setter
    def backend(self, backend: SessionBackend | CookieBackend) -> None:
        self._backend = backend
        if self._bound is not None:
            self._build()

    def _build(self) -> None:
        assert self._binding is not None  # noqa: S101 - called once bound
        signer, cookie, old_cookies = self._binding
        keys = StoreKeys(signer, self.key_prefix)
        lifetimes = Lifetimes(self.idle_timeout, self.absolute_timeout, cookie.max_age)
        storage = storage_for(
            self._backend,
            keys,
            lifetimes,
            self.events,
            cookie_name=cookie.name,
            max_size=self.max_size,
            strict=self.strict,
            max_user_sessions=self.max_user_sessions,
            track_devices=self.devices is not None,
            refuse_at_cap=self.at_user_cap == "refuse",
            ring=self.encryption,
        )
        loader = SessionLoader(
            storage=storage,
            keys=keys,
            lifetimes=lifetimes,
            cookie_name=cookie.name,
            degrade_on_error=self.on_backend_error == "anonymous",
            old_cookies=old_cookies,
            events=self.events,
        )
        rules = CommitRules(
            lifetimes, self.max_size, self.save_on_error, storage.in_cookie, storage.overhead
        )
        notifications, local = storage.channels()
        live = LiveConnections(
            notifications,
            loader.still_live,
            recheck_interval=self.live_recheck_interval,
            fail_closed=self.on_backend_error == "fail",
            local=local,
        )
        if self._bound is not None:
            self._bound.live.close()  # the connections it held end with their old backend
        self._bound = _Bound(keys, loader, rules, storage, live)

    @property
    def signer(self) -> CookieSigner:
        """The signer of the middleware this store is bound to."""
        return self._parts().keys.signer

    @property
    def cookie_settings(self) -> CookieSettings:
        """The cookie settings of the middleware this store is bound to."""
        if self._binding is None:
            raise SessionSetupError("this SessionStore is not used by any SessionMiddleware yet")
        return self._binding[1]

    def _parts(self) -> _Bound:
        if self._bound is None:
            raise SessionSetupError("this SessionStore is not used by any SessionMiddleware yet")
        return self._bound

    @property
    def storage(self) -> SessionStorage:
        """Where the bound store's sessions live (its backend, or the cookie)."""
        return self._parts().storage

    # Events

    def on(self, event: SessionEvent, handler: Handler) -> None:
        """Call ``handler`` (sync or async) with a ``SessionEventInfo`` after each ``event``, once
        the operation is over; one that raises is logged (see ``docs/operations.md``)."""
        self.events.on(event, handler)

    def observe(self, observer: OperationObserver) -> None:
        """Tell ``observer`` when each load and commit starts and ends (for telemetry)."""
        self.events.observe(observer)

    # One request's session

    def cookie(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        """The session cookie's value in ``headers`` (the first one of the session's name)."""
        return self._parts().loader.cookie(headers)

    async def load(
        self,
        session: StatefulDict,
        cookie: str | None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """Load the session of ``cookie`` (or of the request ``headers``) into ``session``."""
        loader = self._parts().loader
        if self.events.active:
            async with self.events.operation("load", session.state):
                data = await loader.load(session.state, cookie, headers)
        else:
            data = await loader.load(session.state, cookie, headers)
        if data:
            dict.update(session, data)

    async def commit(
        self,
        session: StatefulDict,
        status: int,
        scope: Scope | None = None,
        *,
        sets_cookie: bool = True,
    ) -> CookieUpdate | None:
        """Save what the request did to ``session``; return what the cookie must become.
        ``scope`` (the request's) tells device tracking the user agent and client;
        ``sets_cookie=False``: a connection that cannot set a cookie (a WebSocket's save)."""
        state = session.state
        if not state.loaded:
            return None
        if self.events.active:
            async with self.events.operation("commit" if sets_cookie else "save", state):
                return await self._commit(session, status, scope, sets_cookie)
        return await self._commit(session, status, scope, sets_cookie)

    async def _commit(
        self,
        session: StatefulDict,
        status: int,
        scope: Scope | None,
        sets_cookie: bool,
    ) -> CookieUpdate | None:
        state, parts = session.state, self._parts()
        try:
            if state.models:
                self._views.sync(session)
            # Plain data from here on: the plan and the executor never reach the lazy mapping.
            data = dict(dict.items(session))
            now = int(time.time())
            if self.devices is not None:
                self.devices.track(state, scope, now)
            plan = plan_commit(state, data, status, now, parts.rules, sets_cookie=sets_cookie)
            if state.degraded:
                if plan.cookie is CookieAction.EXPIRE:
                    return _expire_undeleted()
                if data:
                    logger.warning("session changes not saved: the backend is unavailable")
                return None
            if plan is NOTHING:
                return None
            return await parts.storage.apply(plan, state, data, now)
        except SessionBackendError:
            if self.events.active:
                reason = "commit" if sets_cookie else "save"
                note(SessionEvent.backend_error, state.store_key, state.loaded_user, reason)
            if self.on_backend_error == "fail":
                raise
            if state.destroyed:
                return _expire_undeleted()
            logger.error("session changes not saved: the backend is unavailable")
            return None

    async def begin_login(self, session: StatefulDict, user_id: str) -> None:
        """A log-in of ``user_id`` begins in ``session``'s request: see ``Session.begin_login``."""
        seen = await self._parts().storage.login_seen(user_id, session.state)
        session.state.began_login(user_id, seen, time.monotonic())

    async def reread(self, session: StatefulDict) -> Stored | str | None:
        """Read a WebSocket's session again: see ``SessionLoader.reread``."""
        return await self._parts().loader.reread(session.state)

    # Live connections (WebSockets, streams): see ``live.py``

    def watch(
        self, session: StatefulDict, scope: anyio.CancelScope | None = None
    ) -> LiveConnection | None:
        """Register the live connection of ``session`` (loaded): it is ended, and ``scope``
        cancelled, when the session ends in any process. None for a session not stored."""
        storage, state = self._parts().storage, session.state
        if not self.end_live_connections:
            return None
        if not state.loaded or state.is_new or state.ended or state.degraded:
            return None
        if state.store_key is None and not storage.in_cookie:
            return None
        return self._parts().live.watch(state, scope)

    def forget(self, connection: LiveConnection) -> None:
        """Unregister a live connection that closed."""
        self._parts().live.forget(connection)

    @property
    def live(self) -> LiveConnections:
        """This process's live connections on this store's sessions."""
        return self._parts().live

    # A user's sessions (the rules are the per-user index's: see ``user_index.py``)

    async def user_sessions(
        self, user_id: str, *, current: StatefulDict | None = None
    ) -> list[SessionInfo]:
        """The live sessions of ``user_id`` (saved after ``session.set_user(user_id)``), most
        recently used first, the one of ``current`` (this request's session) marked ``current``.

        With ``SessionStore(track_devices=True)`` each also tells its device (user agent),
        client address and last use.
        """
        users = self._parts().storage.user_index()
        current_key = current.state.store_key if current else None
        sessions = []
        for key in await users.sessions(user_id):
            record = (await users.read(key)).record
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
        ended, seen = await self._parts().storage.user_index().revoke(user_id, keep=kept)
        if keep is not None:  # it may log in again (a new id) in this request
            keep.state.began_login(user_id, seen, time.monotonic())
        await self._revoked(user_id, ended, "revoke_user_sessions")
        return len(ended)

    async def revoke_session(self, user_id: str, key: str) -> bool:
        """End one session of ``user_id`` ("log out this device"); True when one was live.

        ``key`` is a :attr:`SessionInfo.key` from :meth:`user_sessions`. Nothing happens to a key
        that is not listed as one of the user's sessions, so a key sent by a browser cannot end
        another user's session. To end the current request's own session, use ``destroy()``
        (which also expires its cookie).
        """
        ended = await self._parts().storage.user_index().revoke_one(user_id, key)
        await self._revoked(user_id, [key] if ended else [], "revoke_session")
        return ended

    async def _revoked(self, user_id: str, keys: list[str], reason: str) -> None:
        if keys and self.events.active:
            revoked = SessionEvent.revoked
            await self.events.emit(
                [SessionEventInfo(revoked, key, user_id, reason) for key in keys]
            )

    # Keys

    def storage_key(self, session_id: str, key_index: int = 0) -> str:
        """The backend key of a session id: the prefix and a keyed BLAKE2b hash of the id,
        never the id itself, so a key listing yields nothing that can be made into a cookie."""
        return self._parts().keys.session_key(session_id, key_index)

    # Typed views

    def model_view(self, session: StatefulDict, model: type[M]) -> M:
        """The instance of ``model`` for this request's session (created on first use)."""
        return self._views.view(session, model)

    def default_model(self) -> type[ModelT]:
        """The model ``get_session`` returns; raises when the store has none."""
        if self.model is None:
            raise SessionModelNotConfiguredError()
        return self.model

    def sync_models(self, session: StatefulDict) -> None:
        """Copy changes made to typed views into the session's data (and mark it changed)."""
        self._views.sync(session)

    def warn_late_changes(self, session: StatefulDict) -> None:
        """Log a warning naming each model changed after the session was committed (its
        response had started): those changes are not saved."""
        for model in self._views.changed_since_sync(session) or ():
            logger.warning(
                "%s was changed after the response started (a yield dependency's exit code, a "
                "BackgroundTask or a streaming body): the change was not saved. Change the "
                "session before the endpoint returns, or use Depends(..., scope='function') "
                "for a dependency with yield; see docs/fastapi.md",
                model.__name__,
            )

    def rebase_models(self, session: StatefulDict) -> None:
        """Sync only the changes typed views get from now on (after keys were dropped)."""
        self._views.rebase(session)

    def __repr__(self) -> str:
        model = self.model.__name__ if self.model is not None else None
        return f"SessionStore(backend={self.backend!r}, model={model})"


def _expire_undeleted() -> CookieUpdate:
    # A log-out must not leave the browser a cookie that logs it back in once the backend
    # returns, even if the stored session could not be deleted.
    logger.error(
        "session could not be deleted (the backend is unavailable); its cookie was expired"
    )
    return EXPIRE_COOKIE


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
