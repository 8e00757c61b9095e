"""``SessionStore``: the public configuration, composing ``loading``, ``plan``, ``storage``,
``typed`` and ``user_index``; ``SessionMiddleware`` binds it to its keys and cookie settings."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Generic, Literal, NamedTuple, TypeVar

from starlette_session.backends.base import CookieBackend, SessionBackend
from starlette_session.backends.memory import MemoryBackend
from starlette_session.cookies import CookieSettings, read_cookie
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
from starlette_session.plan import (
    NOTHING,
    CommitPlan,
    CommitRules,
    CookieAction,
    Lifetimes,
    plan_commit,
)
from starlette_session.records import Stored
from starlette_session.signing import CookieSigner, StoreKeys
from starlette_session.state import SessionState, StatefulDict
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
logger = logging.getLogger("starlette_session")


class SessionInfo(NamedTuple):
    """One stored session of a user, as ``SessionStore.user_sessions`` lists it: its opaque
    ``key`` (a hash, never a cookie), when it was created and last used (Unix time), its
    ``user_agent`` (truncated) and coarse ``client`` address (``"203.0.113.0/24"``), those three
    with ``track_devices=True`` only, and whether it is the ``current`` request's session."""

    key: str
    created_at: int | None
    user_agent: str | None = None
    client: str | None = None
    last_used: int | None = None
    current: bool = False


class _Bound(NamedTuple):
    """What a bound store works with, replaced whole when the backend is."""

    keys: StoreKeys
    cookie: CookieSettings
    loader: SessionLoader
    rules: CommitRules
    storage: SessionStorage
    live: LiveConnections


class SessionStore(Generic[ModelT]):
    """Binds a backend, an optional Pydantic model and the session policy; the table in
    ``docs/starlette.md`` says more of each argument. Durations are seconds or a ``timedelta``.

    Args:
        backend: where sessions live; :class:`MemoryBackend` when omitted.
        model: the Pydantic model ``get_session`` returns; every field needs a default.
        idle_timeout: how long a session lives unused (sliding, at no extra backend call);
            ``"max_age"``: the middleware's ``max_age`` (14 days for a browser-session cookie).
        absolute_timeout: how long after its creation a session ends, however active.
        key_prefix: prepended to every backend key.
        max_size: the largest stored session, in bytes (:class:`SessionTooLargeError`).
        strict: concurrent changes to one session raise :class:`SessionConflictError` (409)
            instead of being merged field by field; refused with the cookie backend.
        save_on_error: also save sessions when the response is a 5xx.
        on_backend_error: ``"fail"``: a backend failure raises :class:`SessionBackendError`
            (503); ``"anonymous"``: an empty session that is never saved, failed writes logged.
        migrate: called with stored data that no longer validates against ``model``: fixed
            data, or None for a fresh session.
        max_user_sessions: how many sessions one user may have (see ``session.set_user``).
        at_user_cap: a log-in beyond it ends the user's oldest session (``"end_oldest"``) or
            raises :class:`SessionLimitError` (``"refuse"``).
        track_devices: record each session's user agent, coarse address and last use, for
            ``user_sessions``; ``True`` or a :class:`~starlette_session.DeviceTracking`.
        encryption: a :class:`~starlette_session.KeyRing` sealing every stored session (and
            the cookie backend's payload) with AES-256-GCM; ``max_size`` counts sealed bytes.
        end_live_connections: end a session's WebSockets and streams when it ends, in every
            process; False: a WebSocket finds out at its next ``save()`` or ``refresh()``.
        live_recheck_interval: how often live connections' sessions are re-checked on a
            backend without a notification channel, and while a channel is down.
        ended_close_code: the WebSocket close code when the session ends; ``ended_close_reason``
            its reason.
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
        live_recheck_interval: Duration = 30,
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
        self._backend = MemoryBackend() if backend is None else backend
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
        #: The typed views (Pydantic models) of this store's sessions.
        self.views = TypedViews(migrate)
        self._bound: _Bound | None = None

    def bind(
        self,
        signer: CookieSigner,
        cookie: CookieSettings,
        *,
        old_cookies: OldCookieLoader | None = None,
    ) -> None:
        """Called by ``SessionMiddleware``: the signing keys and cookie settings to use, and how
        to read the previous library's cookies (``migrate_from=``)."""
        if self._bound is not None and self._bound.keys.signer is not signer:
            raise SessionSetupError("a SessionStore serves one SessionMiddleware; build one each")
        if self._idle_follows_max_age and cookie.max_age is not None:
            self.idle_timeout = max(1, cookie.max_age)
        self._build(signer, cookie, old_cookies)

    @property
    def backend(self) -> SessionBackend | CookieBackend:
        """Where sessions live (it may be replaced, before or after the store is in use)."""
        return self._backend

    @backend.setter
    def backend(self, backend: SessionBackend | CookieBackend) -> None:
        self._backend = backend
        if (bound := self._bound) is not None:
            self._build(bound.keys.signer, bound.cookie, bound.loader.old_cookies)

    def _build(
        self, signer: CookieSigner, cookie: CookieSettings, old_cookies: OldCookieLoader | None
    ) -> None:
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
        degrade = self.on_backend_error == "anonymous"
        loader = SessionLoader(
            storage, signer, lifetimes, cookie.name, degrade, old_cookies, self.events
        )
        rules = CommitRules(
            lifetimes, self.max_size, self.save_on_error, storage.in_cookie, storage.overhead
        )
        notifications, local = storage.channels()
        live = LiveConnections(
            notifications,
            loader.still_live,
            recheck_interval=self.live_recheck_interval,
            fail_closed=not degrade,
            local=local,
        )
        if self._bound is not None:
            self._bound.live.close()  # the connections it held end with their old backend
        self._bound = _Bound(keys, cookie, loader, rules, storage, live)

    def _parts(self) -> _Bound:
        if self._bound is None:
            raise SessionSetupError("this SessionStore is not used by any SessionMiddleware yet")
        return self._bound

    @property
    def signer(self) -> CookieSigner:
        """The signer of the middleware this store is bound to."""
        return self._parts().keys.signer

    @property
    def cookie_settings(self) -> CookieSettings:
        """The cookie settings of the middleware this store is bound to."""
        return self._parts().cookie

    @property
    def storage(self) -> SessionStorage:
        """Where the bound store's sessions live (its backend, or the cookie)."""
        return self._parts().storage

    def on(self, event: SessionEvent, handler: Handler) -> None:
        """Call ``handler`` (sync or async) with a ``SessionEventInfo`` after each ``event``, once
        the operation is over; one that raises is logged (see ``docs/operations.md``)."""
        self.events.on(event, handler)

    def observe(self, observer: OperationObserver) -> None:
        """Tell ``observer`` when each load, and each commit that has something to write,
        starts and ends (for telemetry)."""
        self.events.observe(observer)

    def cookie(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        """The session cookie's value in ``headers`` (the first one of the session's name)."""
        return read_cookie(headers, self._parts().loader.cookie_name)

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
        if not self.events.active:
            plan, data, now = self._plan(session, status, scope, sets_cookie)
            if plan is NOTHING and not state.degraded:
                return None
            return await self._apply(plan, state, data, now, sets_cookie)
        try:
            plan, data, now = self._plan(session, status, scope, sets_cookie)
        except Exception as error:  # raised again within the operation, which observes it
            failure: Exception | None = error
        else:
            if plan is NOTHING and not state.degraded:
                return None  # nothing to write: not an operation observers see
            failure = None
        async with self.events.operation("commit" if sets_cookie else "save", state):
            if failure is not None:
                raise failure
            return await self._apply(plan, state, data, now, sets_cookie)

    def _plan(
        self, session: StatefulDict, status: int, scope: Scope | None, sets_cookie: bool
    ) -> tuple[CommitPlan, dict[str, Any], int]:
        """What the commit must do (no backend call), the session's plain data, and the time."""
        state = session.state
        if state.models:
            self.views.sync(session)
        # Plain data from here on: the plan and the executor never reach the lazy mapping.
        data = dict(dict.items(session))
        now = int(time.time())
        if self.devices is not None:
            self.devices.track(state, scope, now)
        return (
            plan_commit(state, data, status, now, self._parts().rules, sets_cookie=sets_cookie),
            data,
            now,
        )

    async def _apply(
        self,
        plan: CommitPlan,
        state: SessionState,
        data: dict[str, Any],
        now: int,
        sets_cookie: bool,
    ) -> CookieUpdate | None:
        """Carry ``plan`` out (never ``NOTHING`` unless the session is degraded); a backend
        failure is reported as ``on_backend_error`` says."""
        try:
            if state.degraded:
                if plan.cookie is CookieAction.EXPIRE:
                    return _expire_undeleted()
                if data:
                    logger.warning("session changes not saved: the backend is unavailable")
                return None
            return await self._parts().storage.apply(plan, state, data, now)
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

    def watch(
        self, session: StatefulDict, scope: anyio.CancelScope | None = None
    ) -> LiveConnection | None:
        """Register the live connection of ``session`` (loaded): it is ended, and ``scope``
        cancelled, when the session ends in any process. None for a session not stored."""
        state, parts = session.state, self._parts()
        if not self.end_live_connections or not state.loaded or state.is_new:
            return None
        if (
            state.ended
            or state.degraded
            or (state.store_key is None and not parts.storage.in_cookie)
        ):
            return None
        return parts.live.watch(state, scope)

    def forget(self, connection: LiveConnection) -> None:
        """Unregister a live connection that closed."""
        self._parts().live.forget(connection)

    @property
    def live(self) -> LiveConnections:
        """This process's live connections (WebSockets, streams) on this store's sessions."""
        return self._parts().live

    async def user_sessions(
        self, user_id: str, *, current: StatefulDict | None = None
    ) -> list[SessionInfo]:
        """The live sessions of ``user_id`` (saved after ``session.set_user(user_id)``), most
        recently used first, the one of ``current`` (this request's session) marked ``current``."""
        users = self._parts().storage.user_index()
        current_key = current.state.store_key if current else None
        sessions = []
        for key in await users.sessions(user_id):
            record = (await users.read(key)).record
            meta = record.meta if record is not None else {}
            if meta.get("u") == user_id:
                created, last_used = _int(meta.get("c")), _int(meta.get(LAST_USED))
                agent, client = _text(meta.get(USER_AGENT)), _text(meta.get(CLIENT))
                sessions.append(
                    SessionInfo(key, created, agent, client, last_used, key == current_key)
                )
        sessions.sort(key=lambda info: info.last_used or info.created_at or 0, reverse=True)
        return sessions

    async def revoke_user_sessions(self, user_id: str, *, keep: StatefulDict | None = None) -> int:
        """End every session of ``user_id`` but ``keep`` (after a password change); return how
        many were live. None of them can be used again, even one a concurrent log-in moved."""
        kept = keep.state.store_key if keep is not None else None
        ended, seen = await self._parts().storage.user_index().revoke(user_id, keep=kept)
        if keep is not None:  # it may log in again (a new id) in this request
            keep.state.began_login(user_id, seen, time.monotonic())
        await self._revoked(user_id, ended, "revoke_user_sessions")
        return len(ended)

    async def revoke_session(self, user_id: str, key: str) -> bool:
        """End the session ``key`` (a :attr:`SessionInfo.key`) of ``user_id``; True when one was
        live. A key not listed as the user's ends nothing, so a browser cannot end another
        user's session. The request's own session ends with ``destroy()``."""
        ended = await self._parts().storage.user_index().revoke_one(user_id, key)
        await self._revoked(user_id, [key] if ended else [], "revoke_session")
        return ended

    async def _revoked(self, user_id: str, keys: list[str], reason: str) -> None:
        if keys and self.events.active:
            infos = [SessionEventInfo(SessionEvent.revoked, key, user_id, reason) for key in keys]
            await self.events.emit(infos)

    def storage_key(self, session_id: str, key_index: int = 0) -> str:
        """The backend key of a session id: the prefix and a keyed hash of the id, never the id
        itself, so that a key listing yields nothing that can be made into a cookie."""
        return self._parts().keys.session_key(session_id, key_index)

    def default_model(self) -> type[ModelT]:
        """The model ``get_session`` returns; raises when the store has none."""
        if self.model is None:
            raise SessionModelNotConfiguredError()
        return self.model

    def warn_late_changes(self, session: StatefulDict) -> None:
        """Log a warning naming each model changed after the response started: not saved."""
        for model in self.views.changed_since_sync(session) or ():
            logger.warning(
                "%s was changed after the response started (a yield dependency's exit code, a "
                "BackgroundTask or a streaming body): the change was not saved. Change the "
                "session before the endpoint returns, or use Depends(..., scope='function') "
                "for a dependency with yield; see docs/fastapi.md",
                model.__name__,
            )

    def __repr__(self) -> str:
        model = self.model.__name__ if self.model is not None else None
        return f"SessionStore(backend={self.backend!r}, model={model})"


def _expire_undeleted() -> CookieUpdate:
    # A log-out must not leave the browser a cookie that logs it back in once the backend
    # returns, even if the stored session could not be deleted.
    logger.error("session could not be deleted (the backend is unavailable); its cookie expired")
    return EXPIRE_COOKIE


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
