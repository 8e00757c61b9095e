"""SessionStore: a backend, an optional Pydantic model, and the policy of a session's life.

The store decides what a request's session is (load) and what must happen at the end of the
request (commit): nothing, write, rotate the id, or delete. ``SessionMiddleware`` only turns the
outcome into a ``Set-Cookie`` header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Literal, NamedTuple, TypeVar

from starlette_session.backends.base import SessionBackend
from starlette_session.backends.cookie import CookieBackend
from starlette_session.backends.memory import MemoryBackend
from starlette_session.cookies import CookieSettings, read_cookie
from starlette_session.exceptions import (
    SessionBackendError,
    SessionConflictError,
    SessionDestroyedError,
    SessionError,
    SessionModelNotConfiguredError,
    SessionSetupError,
    SessionTooLargeError,
)
from starlette_session.records import (
    RECORD_VERSION,
    Record,
    decode_record,
    encode_record,
    merge_records,
)
from starlette_session.signing import CookieSigner, Unsigned
from starlette_session.user_index import UserIndex

if TYPE_CHECKING:
    from pydantic import BaseModel

    from starlette_session.session import Session

__all__ = ["DEFAULT_LIFETIME", "BackendErrorPolicy", "CookieUpdate", "SessionInfo", "SessionStore"]

ModelT = TypeVar("ModelT", bound="BaseModel")
M = TypeVar("M")
BackendErrorPolicy = Literal["fail", "anonymous"]
DEFAULT_LIFETIME = 14 * 24 * 60 * 60
MAX_WRITE_ATTEMPTS = 8
# A failed compare-and-set means another request's write succeeded, so merging always makes
# progress, but with N requests saving one session at once the last needs N attempts.
MAX_MERGE_ATTEMPTS = 64
logger = logging.getLogger("starlette_session")
security_logger = logging.getLogger("starlette_session.security")
_DESTROYED_MESSAGE = (
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


class SessionInfo(NamedTuple):
    """One stored session of a user, as listed by :meth:`SessionStore.user_sessions`."""

    #: The opaque store key (a hash: it cannot be turned back into a cookie).
    key: str
    created_at: int | None


class SessionStore(Generic[ModelT]):
    """Binds a backend, an optional Pydantic model and the session policy.

    Args:
        backend: where sessions live; :class:`MemoryBackend` when omitted.
        model: the Pydantic model ``get_session`` returns. Every field needs a default, since a
            new visitor's session is empty.
        idle_timeout: seconds without use after which a session expires (sliding, enforced by
            the backend's time to live, refreshed by each read at no extra cost).
        absolute_timeout: seconds after creation after which a session expires, however active.
        key_prefix: prepended to every backend key.
        max_size: the largest serialized session, in bytes; a larger one raises
            :class:`SessionTooLargeError` and nothing is written.
        strict: when two requests change one session at once, raise
            :class:`SessionConflictError` instead of merging their changes field by field.
        save_on_error: also save sessions when the response is a 5xx (by default they are not).
        on_backend_error: ``"fail"`` (default): a backend failure raises
            :class:`SessionBackendError`, answered with 503. ``"anonymous"``: a request whose
            session cannot be loaded gets an empty session that is never saved, and failed
            writes are logged instead of raised; a log-out (``destroy()``) still expires the
            cookie. See ``docs/reliability.md``.
        migrate: called with the stored data when it no longer validates against ``model``;
            return fixed data (validated again and saved), or None to start a fresh session.
    """

    def __init__(
        self,
        backend: SessionBackend | CookieBackend | None = None,
        model: type[ModelT] | None = None,
        *,
        idle_timeout: int | None = DEFAULT_LIFETIME,
        absolute_timeout: int | None = None,
        key_prefix: str = "session:",
        max_size: int | None = 64 * 1024,
        strict: bool = False,
        save_on_error: bool = False,
        on_backend_error: BackendErrorPolicy = "fail",
        migrate: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
    ) -> None:
        if idle_timeout is None and absolute_timeout is None:
            raise ValueError("set idle_timeout, absolute_timeout or both: every session expires")
        for name, value in (("idle_timeout", idle_timeout), ("absolute_timeout", absolute_timeout)):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if on_backend_error not in ("fail", "anonymous"):
            raise ValueError("on_backend_error must be 'fail' or 'anonymous'")
        if not key_prefix.isascii() or not key_prefix.isprintable() or " " in key_prefix:
            raise ValueError("key_prefix must be printable ASCII without spaces")
        self.backend: SessionBackend | CookieBackend = (
            backend if backend is not None else MemoryBackend()
        )
        self.model = model
        self.idle_timeout = idle_timeout
        self.absolute_timeout = absolute_timeout
        self.key_prefix = key_prefix
        self.max_size = max_size
        self.strict = strict
        self.save_on_error = save_on_error
        self.on_backend_error = on_backend_error
        self.migrate = migrate
        self._signer: CookieSigner | None = None
        self._cookie = CookieSettings()
        self._cookie_name = b"session"
        self._hash_keys: dict[int, bytes] = {}
        self._user_index: UserIndex | None = None

    def bind(self, signer: CookieSigner, cookie: CookieSettings) -> None:
        """Called by ``SessionMiddleware``: the signing keys and cookie settings to use."""
        if self._signer is not None and self._signer is not signer:
            raise SessionSetupError("a SessionStore serves one SessionMiddleware; build one each")
        self._signer = signer
        self._cookie = cookie
        self._cookie_name = cookie.name.encode()

    @property
    def signer(self) -> CookieSigner:
        """The signer of the middleware this store is bound to."""
        if self._signer is None:
            raise SessionSetupError("this SessionStore is not used by any SessionMiddleware yet")
        return self._signer

    # Loading

    async def open(self, session: Session) -> None:
        """Load ``session`` from its cookie and the backend."""
        session._meta = {}
        cookie = session._cookie
        if session._headers is not None:
            cookie = read_cookie(session._headers, self._cookie_name)
        unsigned = self.signer.unsign(cookie) if cookie else None
        try:
            if unsigned is not None:
                await self._open(session, unsigned)
        except SessionBackendError:
            if self.on_backend_error == "fail":
                raise
            logger.warning("session backend unavailable: serving an unsaved anonymous session")
            session._degraded = True
            session._payload = session._storage_key = session._raw = None
            session._replace_data({})
            session._meta = {}
        session._loaded_user = session._meta.get("u")
        session._loaded = True

    async def _open(self, session: Session, unsigned: Unsigned) -> None:
        now = int(time.time())
        if isinstance(self.backend, CookieBackend):
            raw = self._open_cookie_payload(unsigned)
            key = None
        else:
            key = self.storage_key(unsigned.payload, unsigned.key_index)
            raw = await self.backend.read(key, self.idle_timeout)
        if raw is None:
            return
        record = decode_record(raw)
        if record is None:
            # Undecodable data is dropped: a write gets a new id, else the entry is deleted.
            session._payload, session._storage_key, session._raw = unsigned.payload, key, raw
            session._rotate = True
            return
        if key is None and self._cookie_lapsed(record.meta, unsigned.issued_at, now):
            return
        if self._expired(record.meta, now):
            if key is not None:
                await self.backend.delete(key)  # type: ignore[union-attr]
            return
        lifetime = record.meta.get("l")
        if key is not None and isinstance(lifetime, int) and lifetime != self.idle_timeout:
            await self.backend.expire(key, self._ttl(record.meta, now))  # type: ignore[union-attr]
        session._payload, session._storage_key, session._raw = unsigned.payload, key, raw
        session._replace_data(record.data)
        session._meta = record.meta
        session._issued_at, session._key_index = unsigned.issued_at, unsigned.key_index
        session._rotate = unsigned.key_index > 0

    def _open_cookie_payload(self, unsigned: Unsigned) -> bytes | None:
        try:
            return base64.urlsafe_b64decode(unsigned.payload + "=" * (-len(unsigned.payload) % 4))
        except (binascii.Error, ValueError):
            security_logger.warning("a signed session cookie could not be decoded")
            return None

    def _idle_limit(self, meta: dict[str, Any]) -> int | None:
        """Seconds a session lives unused: its own lifetime, else the store's idle timeout."""
        lifetime = meta.get("l")
        return lifetime if isinstance(lifetime, int) else self.idle_timeout

    def _cookie_lapsed(self, meta: dict[str, Any], issued_at: int, now: int) -> bool:
        # The cookie backend's last use is when its cookie was last signed.
        limit = self._idle_limit(meta)
        return limit is not None and now - issued_at > limit

    def _expired(self, meta: dict[str, Any], now: int) -> bool:
        if self.absolute_timeout is None:
            return False
        created = meta.get("c")
        return not isinstance(created, int) or created + self.absolute_timeout <= now

    # Saving

    async def commit(self, session: Session, status: int) -> CookieUpdate | None:
        """Save what the request did to ``session``; return what the cookie must become."""
        if not session._loaded or session._degraded:
            if session._degraded and session._accessed:
                self.sync_models(session)
                if session._destroyed:
                    return self._expire_undeleted()
                if dict.__len__(session):
                    logger.warning("session changes not saved: the backend is unavailable")
            return None
        try:
            return await self._commit(session, status)
        except SessionBackendError:
            if self.on_backend_error == "fail":
                raise
            if session._destroyed:
                return self._expire_undeleted()
            logger.error("session changes not saved: the backend is unavailable")
            return None

    def _expire_undeleted(self) -> CookieUpdate:
        # A log-out must not leave the browser a cookie that logs it back in once the backend
        # returns, even if the stored session could not be deleted.
        logger.error(
            "session could not be deleted (the backend is unavailable); its cookie was expired"
        )
        return EXPIRE_COOKIE

    async def _commit(self, session: Session, status: int) -> CookieUpdate | None:
        self.sync_models(session)
        existed = session._payload is not None
        if session._destroyed and existed:
            await self._delete(session)  # always: a log-out happens even on a 5xx
            existed = False
            if not dict.__len__(session) or (status >= 500 and not self.save_on_error):
                return EXPIRE_COOKIE
        if not dict.__len__(session):
            if existed and (status < 500 or self.save_on_error):
                await self._delete(session)
                return EXPIRE_COOKIE
            return None
        if status >= 500 and not self.save_on_error:
            return None
        now = int(time.time())
        if existed and not (session._changed or session._rotate):
            return self._refreshed_cookie(session, now)
        meta = session._meta
        meta.setdefault("c", now)
        meta.setdefault("v", RECORD_VERSION)
        raw = encode_record(session, meta, self.max_size)
        if isinstance(self.backend, CookieBackend):
            if existed and raw == session._raw and not session._rotate:
                return self._refreshed_cookie(session, now)
            return self._cookie_update(session, _b64(raw), now)
        if existed and not session._rotate:
            if raw != session._raw:
                await self._replace(session, raw, now)
                if session._meta.get("u") != session._loaded_user:  # set_user(), same id
                    await self._move_to_user_index(session)
            if session._lifetime_changed:  # the cookie must get the new Max-Age now
                assert session._payload is not None  # noqa: S101 - existing sessions have one
                return self._cookie_update(session, session._payload, now)
            return self._refreshed_cookie(session, now)
        return await self._create(session, raw, now)

    async def _replace(self, session: Session, raw: bytes, now: int) -> None:
        """Compare-and-set on the bytes loaded; on a conflict, re-apply this request's changes."""
        backend, key, loaded_raw = self._server_backend(), session._storage_key, session._raw
        assert key is not None  # noqa: S101 - set when loaded
        assert loaded_raw is not None  # noqa: S101
        expected, ttl = loaded_raw, self._ttl(session._meta, now)
        base = ours = None
        for _ in range(MAX_MERGE_ATTEMPTS):
            result = await backend.replace(key, expected, raw, ttl)
            if result.stored:
                session._raw = raw
                return
            if result.current is None:
                raise SessionDestroyedError(_DESTROYED_MESSAGE)
            if self.strict:
                raise SessionConflictError(
                    "another request changed this session after it was loaded; nothing was saved"
                )
            if base is None or ours is None:
                base = decode_record(loaded_raw) or Record({}, {})
                ours = Record(dict.copy(session), dict(session._meta))
            merged = merge_records(base, ours, decode_record(result.current) or Record({}, {}))
            expected, raw = result.current, encode_record(merged.data, merged.meta, self.max_size)
        raise SessionConflictError("the session kept changing under this request; nothing saved")

    async def _create(self, session: Session, raw: bytes, now: int) -> CookieUpdate | None:
        backend, ttl = self._server_backend(), self._ttl(session._meta, now)
        for _ in range(MAX_WRITE_ATTEMPTS):
            session_id = secrets.token_urlsafe(32)
            key = self.storage_key(session_id)
            if await backend.create(key, raw, ttl):
                break
        else:  # pragma: no cover - 256-bit ids do not collide
            raise SessionBackendError("could not find a free session id")
        old_key = session._storage_key
        if old_key is not None:
            # A new id for an existing session: if a log-out destroyed the old entry while this
            # request ran, the new one must not bring the session back.
            assert session._raw is not None  # noqa: S101 - loaded with its key
            still_there = await backend.replace(old_key, session._raw, session._raw, ttl)
            if not still_there.stored and still_there.current is None:
                await backend.delete(key)
                if session._key_index and raw == session._raw:
                    # Only re-signing after a secret rotation, which a parallel request did
                    # first (or a log-out ended the session): this request loses nothing.
                    return None
                raise SessionDestroyedError(_DESTROYED_MESSAGE)
            await backend.delete(old_key)
        user, loaded_user = session._meta.get("u"), session._loaded_user
        if loaded_user and old_key is not None:
            await self._users().remove(loaded_user, [old_key])
        if isinstance(user, str):
            await self._users().add(user, key)
        session._storage_key, session._raw, session._rotate = key, raw, False
        return self._cookie_update(session, session_id, now)

    async def _move_to_user_index(self, session: Session) -> None:
        key, user, loaded_user = session._storage_key, session._meta.get("u"), session._loaded_user
        assert key is not None  # noqa: S101 - an existing session
        if loaded_user:
            await self._users().remove(loaded_user, [key])
        if isinstance(user, str):
            await self._users().add(user, key)
        session._loaded_user = user if isinstance(user, str) else None

    async def _delete(self, session: Session) -> None:
        key = session._storage_key
        if key is not None:
            await self._server_backend().delete(key)
            if session._loaded_user:
                await self._users().remove(session._loaded_user, [key])
        session._payload = session._storage_key = session._raw = None

    def _cookie_update(self, session: Session, payload: str, now: int) -> CookieUpdate:
        session._payload, session._issued_at = payload, now
        value = self.signer.sign(payload, now)
        if isinstance(self.backend, CookieBackend):
            size = len(self._cookie.name) + 1 + len(value)
            if size > self.backend.max_size:
                raise SessionTooLargeError(
                    f"the session cookie would take {size} bytes, over the {self.backend.max_size} "
                    "browsers keep; store less, or use a server-side backend. Nothing was saved."
                )
        return CookieUpdate(value, self._cookie_max_age(session._meta, now))

    def _refreshed_cookie(self, session: Session, now: int) -> CookieUpdate | None:
        """Re-send an unchanged cookie once half its lifetime is gone, so it does not lapse."""
        renew_after = max_age = self._cookie_max_age(session._meta, now)
        if isinstance(self.backend, CookieBackend):
            # Reads do not reach a backend that could slide the idle timeout: the cookie does.
            idle = self._idle_limit(session._meta)
            if idle is not None:
                renew_after = idle if max_age is None else min(max_age, idle)
        if renew_after is None or now - session._issued_at < renew_after // 2:
            return None
        assert session._payload is not None  # noqa: S101 - existing sessions have one
        return self._cookie_update(session, session._payload, now)

    def _cookie_max_age(self, meta: dict[str, Any], now: int) -> int | None:
        max_age = meta.get("l", self._cookie.max_age)
        if max_age is not None and self.absolute_timeout is not None:
            max_age = min(max_age, meta.get("c", now) + self.absolute_timeout - now)
        return max_age

    def _ttl(self, meta: dict[str, Any], now: int) -> int:
        ttl = self._idle_limit(meta)
        if self.absolute_timeout is not None:
            remaining = meta.get("c", now) + self.absolute_timeout - now
            ttl = remaining if ttl is None else min(ttl, remaining)
        return max(1, ttl or 1)

    # Keys

    def storage_key(self, session_id: str, key_index: int = 0) -> str:
        """The backend key of a session id: the prefix and a keyed BLAKE2b hash of the id,
        never the id itself, so a key listing yields nothing that can be made into a cookie."""
        hash_key = self._hash_keys.get(key_index)
        if hash_key is None:
            hash_key = self._hash_keys[key_index] = self.signer.derive(b"store-key", key_index)
        digest = hashlib.blake2b(session_id.encode(), key=hash_key, digest_size=32).hexdigest()
        return self.key_prefix + digest

    def _server_backend(self) -> SessionBackend:
        if isinstance(self.backend, CookieBackend):
            raise SessionSetupError("the cookie backend keeps no sessions on the server")
        return self.backend

    # Sessions of a user

    def _users(self) -> UserIndex:
        if self._user_index is None:
            self._user_index = UserIndex(self._server_backend(), self.key_prefix, self.signer)
        return self._user_index

    async def user_sessions(self, user_id: str) -> list[SessionInfo]:
        """The live sessions of ``user_id`` (those saved after ``session.set_user(user_id)``)."""
        backend = self._server_backend()
        sessions = []
        for key in await self._users().sessions(user_id):
            raw = await backend.read(key)
            record = decode_record(raw) if raw is not None else None
            if record is not None and record.meta.get("u") == user_id:
                created = record.meta.get("c")
                sessions.append(SessionInfo(key, created if isinstance(created, int) else None))
        return sessions

    async def revoke_user_sessions(self, user_id: str, *, keep: Session | None = None) -> int:
        """Delete every session of ``user_id`` (except ``keep``); return how many were deleted.

        Use it after a password change: ``await store.revoke_user_sessions(user, keep=session)``.
        """
        kept = keep._storage_key if keep is not None else None
        keys = [key for key in await self._users().sessions(user_id) if key != kept]
        await self._server_backend().delete(*keys)
        await self._users().remove(user_id, keys, everywhere=True)
        return len(keys)

    def has_changes(self, session: Session) -> bool:
        """Whether committing ``session`` now would write or delete anything."""
        self.sync_models(session)
        if session._destroyed or session._rotate:
            return True
        if not dict.__len__(session):
            return session._payload is not None
        try:
            meta = {"c": 0, **session._meta}
            return encode_record(session, meta, None) != session._raw
        except SessionError:
            return True

    # Typed views

    def model_view(self, session: Session, model: type[M]) -> M:
        """The instance of ``model`` for this request's session (created on first use)."""
        models = session._models
        if models is None:
            models = session._models = {}
        if model in models:
            return models[model][0]  # type: ignore[no-any-return]
        instance = self._validate(session, model)
        models[model] = (instance, _dump(instance))
        return instance

    def default_model(self) -> type[ModelT]:
        """The model ``get_session`` returns; raises when the store has none."""
        if self.model is None:
            raise SessionModelNotConfiguredError()
        return self.model

    def sync_models(self, session: Session) -> None:
        """Copy changes made to typed views into the session's data (and mark it changed)."""
        if not session._models:
            return
        for model, (instance, snapshot) in session._models.items():
            dumped = _dump(instance)
            if dumped != snapshot:
                dict.update(session, dumped)
                session._models[model] = (instance, dumped)
                session._changed = True

    def _validate(self, session: Session, model: type[M]) -> M:
        from pydantic import ValidationError

        validate: Callable[[Any], M] = model.model_validate  # type: ignore[attr-defined]
        try:
            return validate(dict.copy(session))
        except ValidationError as error:
            if not dict.__len__(session):
                raise SessionSetupError(
                    f"{model.__name__} cannot be built from an empty session: give every field "
                    "a default"
                ) from None
            security_logger.warning(
                "stored session data does not validate against %s (%d errors)",
                model.__name__,
                error.error_count(),
            )
        migrated = self.migrate(dict.copy(session)) if self.migrate is not None else None
        if migrated is not None:
            try:
                instance = validate(migrated)
            except ValidationError:
                security_logger.warning("migrated session data does not validate either")
            else:
                session._replace_data(migrated)
                session._changed = True
                return instance
        dict.clear(session)
        session._rotate = session._payload is not None
        return validate({})

    def __repr__(self) -> str:
        model = self.model.__name__ if self.model is not None else None
        return f"SessionStore(backend={self.backend!r}, model={model})"


def _dump(instance: Any) -> Any:
    return instance.model_dump(mode="json", by_alias=True)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
