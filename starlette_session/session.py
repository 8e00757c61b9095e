"""The session of one request: a lazily loaded mapping that tracks what happens to it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, ItemsView, Iterable, Iterator, KeysView, ValuesView
from typing import Any, TypeVar

import anyio
import anyio.from_thread
from starlette.requests import HTTPConnection

from starlette_session.durations import Duration, seconds
from starlette_session.exceptions import (
    SessionError,
    SessionMiddlewareMissingError,
    SessionNotLoadedError,
    SessionSetupError,
)
from starlette_session.live import LiveConnection
from starlette_session.state import AUTH_METHOD, AUTH_TIME, SessionState, StatefulDict
from starlette_session.store import SessionStore

__all__ = ["Session", "load_session"]

M = TypeVar("M")
SessionT = TypeVar("SessionT", bound="Session")
NOT_A_WEBSOCKET = (
    "save() and refresh() are for WebSocket handlers: an HTTP request's session is saved when "
    "its response starts"
)


class Session(StatefulDict):
    """``request.session``: the session's data as a real ``dict``, plus its lifecycle.

    Nothing is read until the session is used. In async code load it first (``await
    load_session(request)``, ``Depends(get_session)`` or ``autoload=True``), else
    :class:`SessionNotLoadedError`; in sync endpoints (a worker thread) the first use loads it.
    Changes, nested ones included, are saved when the response starts.
    """

    # Every access goes through _data_for_read (load, sync the typed views) or _data_for_write
    # (also mark it changed); a read handing out a nested list or dict marks it changed too.
    # Slots: cheap to build, as most requests never touch their session. _headers, not the
    # scope, which holds the session: a request leaves no reference cycle.
    __slots__ = ("_accessed", "_cookie", "_headers", "_live", "_store")

    def __init__(
        self,
        store: SessionStore[Any],
        cookie: str | None = None,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """A session for the cookie value ``cookie``, or for the session cookie in ``headers``
        (looked up only when it is loaded)."""
        self._store = store
        self.state = SessionState()
        self._cookie = cookie
        self._headers = headers
        self._accessed = False
        self._live: LiveConnection | None = None

    def __getitem__(self, key: str) -> Any:
        return self._handed_out(dict.__getitem__(self._data_for_read(), key))

    def get(self, key: str, default: Any = None) -> Any:
        return self._handed_out(dict.get(self._data_for_read(), key, default))

    def __setitem__(self, key: str, value: Any) -> None:
        dict.__setitem__(self._data_for_write(), key, value)

    def __delitem__(self, key: str) -> None:
        dict.__delitem__(self._data_for_write(), key)

    def __iter__(self) -> Iterator[str]:
        return dict.__iter__(self._data_for_read())

    def __reversed__(self) -> Iterator[str]:
        return reversed(dict.keys(self._data_for_read()))

    def __len__(self) -> int:
        return dict.__len__(self._data_for_read())

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self._data_for_read(), key)

    def keys(self) -> KeysView[str]:  # type: ignore[override]
        return dict.keys(self._data_for_read())

    def values(self) -> ValuesView[Any]:  # type: ignore[override]
        return dict.values(self._data_for_write())

    def items(self) -> ItemsView[str, Any]:  # type: ignore[override]
        return dict.items(self._data_for_write())

    def pop(self, key: str, *default: Any) -> Any:
        return dict.pop(self._data_for_write(), key, *default)

    def popitem(self) -> tuple[str, Any]:
        return dict.popitem(self._data_for_write())

    def setdefault(self, key: str, default: Any = None) -> Any:
        return dict.setdefault(self._data_for_write(), key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        dict.update(self._data_for_write(), *args, **kwargs)

    def clear(self) -> None:
        """Empty the session; one that belongs to a user is logged out, as by :meth:`destroy`."""
        data = self._data_for_write()
        if self.state.user is not None or self.state.loaded_user is not None:
            self.destroy()
        else:
            dict.clear(data)

    def copy(self) -> dict[str, Any]:
        return dict.copy(self._data_for_write())

    def __or__(self, other: Any) -> dict[str, Any]:  # type: ignore[override]
        merged = dict.copy(self._data_for_write())
        merged.update(other)
        return merged

    def __ior__(self: SessionT, other: Any) -> SessionT:  # type: ignore[override]
        self.update(other)
        return self

    def __eq__(self, other: object) -> bool:
        return dict.__eq__(self._data_for_read(), other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        if not self.state.loaded:
            return "<Session (not loaded)>"
        return f"<Session {dict.__len__(self)} keys>"

    def __reduce__(self) -> Any:
        raise TypeError("a Session cannot be pickled; copy it with dict(session)")

    async def load(self) -> Session:
        """Read the session from the backend (once; later calls return at once)."""
        self._accessed = True
        await self.preload()
        return self

    async def preload(self) -> None:
        """Load the session without counting it as used (the middleware's ``autoload``): a
        response whose session the application never touched gets no session headers."""
        if not self.state.loaded:
            await self._store.load(self, self._cookie, self._headers)

    async def save(self) -> None:
        """In a WebSocket handler: save the changes made so far, now. An HTTP request's
        session is saved when its response starts: here it raises."""
        raise SessionSetupError(NOT_A_WEBSOCKET)

    async def refresh(self) -> bool:
        """In a WebSocket handler: save pending changes, read the session again, and return
        False if it has ended meanwhile. Here it raises."""
        raise SessionSetupError(NOT_A_WEBSOCKET)

    def on_end(self, hook: Callable[[str], Awaitable[None]]) -> None:
        """In a WebSocket handler: run ``await hook(reason)`` when the session ends while the
        socket is open. Here it raises: a stream waits on :meth:`ended_event`."""
        raise SessionSetupError("on_end() is for WebSocket handlers; a stream awaits ended_event()")

    async def ended_event(self) -> anyio.Event:
        """An event set when this session ends (log-out, revocation, timeout), in any process:
        a streaming response stops then. A session not stored never ends."""
        await self.load()
        if self._live is None:
            self._live = self._store.watch(self)
        return self._live.ended if self._live is not None else anyio.Event()

    @property
    def loaded(self) -> bool:
        """Whether the session was read from its backend already."""
        return self.state.loaded

    @property
    def accessed(self) -> bool:
        """Whether the application used the session during this request."""
        return self._accessed

    @property
    def modified(self) -> bool:
        """Whether the session may have changed during this request (as Starlette's has)."""
        return self.state.changed

    def mark_modified(self) -> None:
        """Count the session as changed: it is compared with what was loaded at commit."""
        self.state.mark_changed()

    @property
    def is_new(self) -> bool:
        """True until the session has been saved once (a visitor without a valid session)."""
        self._require_loaded()
        return self.state.is_new

    @property
    def sent_cookie(self) -> bool:
        """Whether the request carried a session cookie (neither verified nor read)."""
        if self._cookie is not None:
            return True
        return self._headers is not None and self._store.cookie(self._headers) is not None

    @property
    def store(self) -> SessionStore[Any]:
        """The store this session is kept in."""
        return self._store

    @property
    def user_id(self) -> str | None:
        """The user this session belongs to, as set by the application (see ``set_user``)."""
        self._require_loaded()
        return self.state.user

    @property
    def created_at(self) -> int | None:
        """When the session was first saved (Unix time), kept apart from the data."""
        self._require_loaded()
        created = self.state.meta.get("c")
        return created if isinstance(created, int) else None

    async def begin_login(self, user_id: str) -> None:
        """Begin a log-in of ``user_id``: call it *before* checking the credentials, then
        ``regenerate(keep=[...])`` and ``set_user(user_id)``. A ``revoke_user_sessions(user_id)``
        after this call refuses the log-in (409). One backend read."""
        await self.load()
        await self._store.begin_login(self, str(user_id))

    def set_user(self, user_id: str | None, method: str = "password") -> None:
        """Record which user owns this session (``None``: none), at log-in with
        :meth:`regenerate`. Binding another user needs :meth:`begin_login` first, else
        :class:`SessionSetupError`; after it, now is recorded as the user's authentication, by
        ``method``. Another user, or none, drops the CSRF secret."""
        self._data_for_write()
        user, state = None if user_id is None else str(user_id), self.state
        begun = (state.login or ("",))[0] == user
        if user is not None and user != state.user and not begun:
            raise SessionSetupError(
                "set_user() binds a user whose log-in this request did not begin: call `await "
                "session.begin_login(user_id)` before checking the credentials (in a sync "
                "endpoint: anyio.from_thread.run(session.begin_login, user_id))"
            )
        if user is not None and begun:
            state.set_user(user, _method(method), int(time.time()))
        else:
            state.set_user(user)

    def reauthenticated(self, method: str = "password") -> None:
        """The signed-in user proved who they are again, now, by ``method`` (a password, a
        one-time code): the session gets a new id, as at a log-in, and keeps its data."""
        self._data_for_write()
        if self.state.user is None:
            raise SessionSetupError("reauthenticated() needs a signed-in user (set_user)")
        self.state.authenticated(_method(method), int(time.time()))
        self.state.request_rotation()

    @property
    def authenticated_at(self) -> int | None:
        """When the user last proved who they are (log-in or :meth:`reauthenticated`), as Unix
        time; None without one."""
        self._require_loaded()
        at = self.state.meta.get(AUTH_TIME)
        return at if isinstance(at, int) and not isinstance(at, bool) and self.user_id else None

    @property
    def authentication_method(self) -> str | None:
        """How the user last proved who they are (``"password"``, ``"otp"``, ...)."""
        self._require_loaded()
        method = self.state.meta.get(AUTH_METHOD)
        return method if isinstance(method, str) and self.authenticated_at is not None else None

    def set_lifetime(self, lifetime: Duration | None) -> None:
        """Give this session its own lifetime ("remember me"): the cookie's Max-Age and the
        idle timeout, in seconds (rounded up) or a ``timedelta``; ``None``: a browser-session
        cookie with the store's idle timeout."""
        whole = seconds(lifetime, name="lifetime", allow_none=True)
        self._data_for_write()
        self.state.set_lifetime(whole)

    def regenerate(self, keep: Iterable[str] | None = None) -> None:
        """Give the session a new id when it is saved (call it at log-in). ``keep`` names the
        top-level keys that survive (``keep=["cart"]``), so that nothing planted in the
        anonymous session carries over; without it every key survives."""
        if isinstance(keep, str):
            raise TypeError("keep is a list of keys: regenerate(keep=[...])")
        data = self._data_for_write()
        kept = None if keep is None else frozenset(keep)
        if kept is not None:
            for key in [key for key in dict.keys(data) if key not in kept]:
                dict.__delitem__(data, key)
            self._store.views.rebase(self)
        self.state.request_rotation(kept)

    def destroy(self) -> None:
        """End the session: delete it and expire the cookie (call it at log-out). Data written
        after it starts a new session, with a new id and no user."""
        dict.clear(self._data_for_write())
        self.state.destroy()
        if self.state.models:
            self._store.views.rebase(self)

    def model(self, model: type[M]) -> M:
        """This session's data as ``model``: one instance per request, its changes saved."""
        self._require_loaded()
        return self._store.views.view(self, model)

    def mark_accessed(self) -> None:
        """Called by Starlette's ``request.session``; sync code loads the session here."""
        self._accessed = True
        if not self.state.loaded:
            self._load_from_worker_thread()

    def _data_for_read(self) -> Session:
        self._accessed = True
        state = self.state
        if not state.loaded:
            self._load_from_worker_thread()
        if state.models:
            self._store.views.sync(self)
        return self

    def _data_for_write(self) -> Session:
        self.state.mark_changed()
        return self._data_for_read()

    def _handed_out(self, value: Any) -> Any:
        if isinstance(value, dict | list):
            self.state.mark_changed()
        return value

    def _require_loaded(self) -> None:
        if not self.state.loaded:
            self._load_from_worker_thread()

    def _load_from_worker_thread(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise SessionNotLoadedError()
        try:
            anyio.from_thread.run(self.load)
        except SessionError:
            raise
        except RuntimeError as error:  # not in a worker thread started by anyio
            raise SessionNotLoadedError() from error


def _method(method: str) -> str:
    if not isinstance(method, str) or not method:
        raise ValueError("an authentication method is a non-empty string, such as 'password'")
    return method


async def load_session(connection: HTTPConnection) -> Session:
    """Load the session of this request or WebSocket and return it (the same as ``.session``)."""
    session = connection.scope.get("session")
    if not isinstance(session, Session):
        raise SessionMiddlewareMissingError()
    return await session.load()
