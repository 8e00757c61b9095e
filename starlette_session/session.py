"""The session of one request: a lazily loaded mapping that tracks what happens to it."""

from __future__ import annotations

import asyncio
from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.from_thread
from starlette.requests import HTTPConnection

from starlette_session.exceptions import (
    SessionError,
    SessionMiddlewareMissingError,
    SessionNotLoadedError,
)

if TYPE_CHECKING:
    from starlette_session.store import SessionStore

__all__ = ["Session", "load_session"]

M = TypeVar("M")


class Session(dict[str, Any]):
    """``request.session``: the session's data as a dict, plus its lifecycle.

    Nothing is read from the backend until the session is used. In async code, load it first
    (``await load_session(request)``, FastAPI's ``Depends(get_session)``, or the middleware's
    ``autoload=True``); touching it before raises :class:`SessionNotLoadedError`. In sync
    endpoints, which Starlette runs in a worker thread, the first use loads it. Changes, nested
    ones included, are saved once, when the response starts. It is a real ``dict`` so that
    ``JSONResponse(request.session)`` and templates keep working.
    """

    # Class-level defaults keep construction cheap: most requests never touch their session.
    _loaded = False
    _accessed = False
    _payload: str | None = None
    _storage_key: str | None = None
    _raw: bytes | None = None
    _issued_at = 0
    _key_index = 0
    _loaded_user: str | None = None
    _rotate = False
    _destroyed = False
    _changed = False
    _lifetime_changed = False
    _degraded = False
    _models: dict[type[Any], tuple[Any, Any]] | None = None
    _meta: dict[str, Any]
    _headers: list[tuple[bytes, bytes]] | None = None

    def __init__(
        self,
        store: SessionStore[Any],
        cookie: str | None = None,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """A session for the cookie value ``cookie``, or for the first session cookie found in
        the request ``headers`` when it is loaded (most requests never look)."""
        self._store = store
        self._cookie = cookie
        if headers is not None:
            self._headers = headers

    async def load(self) -> Session:
        """Read the session from the backend (once; later calls return at once)."""
        self._accessed = True
        if not self._loaded:
            await self._store.open(self)
        return self

    @property
    def loaded(self) -> bool:
        """Whether the session was read from its backend already."""
        return self._loaded

    @property
    def accessed(self) -> bool:
        """Whether the application used the session during this request."""
        return self._accessed

    @property
    def is_new(self) -> bool:
        """True until the session has been saved once (a visitor without a valid session)."""
        self._require_loaded()
        return self._payload is None

    @property
    def store(self) -> SessionStore[Any]:
        """The store this session is kept in."""
        return self._store

    @property
    def user_id(self) -> str | None:
        """The user this session belongs to, as set by the application (see ``set_user``)."""
        self._require_loaded()
        user = self._meta.get("u")
        return user if isinstance(user, str) else None

    @property
    def created_at(self) -> int | None:
        """When the session was first saved (Unix time), kept apart from the data."""
        self._require_loaded()
        created = self._meta.get("c")
        return created if isinstance(created, int) else None

    def set_user(self, user_id: str | None) -> None:
        """Record which user owns this session, so ``store.revoke_user_sessions`` can find it.

        Call it at log-in, together with :meth:`regenerate`.
        """
        self._data_for_write()
        if user_id is None:
            self._meta.pop("u", None)
        else:
            self._meta["u"] = str(user_id)

    def set_lifetime(self, seconds: int | None) -> None:
        """Give this session its own lifetime ("remember me").

        ``seconds`` sets both the cookie's Max-Age and the server-side idle timeout; ``None``
        makes a browser-session cookie (no Max-Age) with the store's idle timeout.
        """
        if seconds is not None and seconds <= 0:
            raise ValueError("a session lifetime must be positive, or None")
        self._data_for_write()
        self._meta["l"] = seconds
        self._lifetime_changed = True

    def regenerate(self) -> None:
        """Give the session a new id when it is saved, keeping its data (call it at log-in).

        The new entry is written before the old one is deleted; the old cookie then finds nothing.
        """
        self._data_for_write()
        self._rotate = True

    def destroy(self) -> None:
        """End the session: delete it server-side and expire the cookie (call it at log-out).

        Data written after ``destroy()`` in the same request (a "you are logged out" message)
        starts a brand-new session, with a new id and no user.
        """
        self._data_for_write().clear()
        self._meta = {}
        self._destroyed = True

    def model(self, model: type[M]) -> M:
        """This session's data validated as ``model``; the same instance all through the request.

        Changes made to the instance are saved with the session.
        """
        self._require_loaded()
        return self._store.model_view(self, model)

    def mark_accessed(self) -> None:
        """Called by Starlette's ``request.session``; sync code loads the session here."""
        self._accessed = True
        if not self._loaded:
            self._load_from_worker_thread()

    # The dict: every access loads the session first. Writes, and reads that hand out a nested
    # list or dict (which the caller may change in place), mark the session as possibly changed;
    # a session never marked is known unchanged at commit without serializing it again.

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
        dict.clear(self._data_for_write())

    def copy(self) -> dict[str, Any]:
        return dict.copy(self._data_for_write())

    def __or__(self, other: Any) -> dict[str, Any]:  # type: ignore[override]
        merged = dict.copy(self._data_for_write())
        merged.update(other)
        return merged

    def __ior__(self, other: Any) -> Session:  # type: ignore[override]
        self.update(other)
        return self

    def __eq__(self, other: object) -> bool:
        return dict.__eq__(self._data_for_read(), other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None

    def __repr__(self) -> str:
        if not self._loaded:
            return "<Session (not loaded)>"
        return f"<Session {dict.__len__(self)} keys>"

    def __reduce__(self) -> Any:
        raise TypeError("a Session cannot be pickled; copy it with dict(session)")

    def _replace_data(self, data: dict[str, Any]) -> None:
        dict.clear(self)
        dict.update(self, data)

    def _data_for_read(self) -> Session:
        self._accessed = True
        if not self._loaded:
            self._load_from_worker_thread()
        if self._models:
            self._store.sync_models(self)
        return self

    def _data_for_write(self) -> Session:
        self._changed = True
        return self._data_for_read()

    def _handed_out(self, value: Any) -> Any:
        if isinstance(value, dict | list):
            self._changed = True
        return value

    def _require_loaded(self) -> None:
        if not self._loaded:
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


async def load_session(connection: HTTPConnection) -> Session:
    """Load the session of this request or WebSocket and return it (the same as ``.session``)."""
    session = connection.scope.get("session")
    if not isinstance(session, Session):
        raise SessionMiddlewareMissingError()
    return await session.load()
