"""Where a session lives: a :class:`SessionBackend` (the contract: bytes in, bytes out, with a time
to live; its compare-and-set and the one retry loop), or the signed cookie (:class:`CookieBackend`).
"""

from __future__ import annotations

import abc
import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import anyio

from starlette_session.backends._notify import LocalNotifications, Notifications
from starlette_session.exceptions import (
    SessionBackendError,
    SessionConflictError,
    SessionDestroyedError,
)

__all__ = [
    "CAS_ATTEMPTS",
    "CombinedUpdates",
    "CookieBackend",
    "Created",
    "Merge",
    "Replaced",
    "SessionBackend",
    "Swap",
    "retry_compare_and_set",
]

#: What :meth:`SessionBackend.update` stores instead when another write came first: given what is
#: stored now (None: the entry is gone), the bytes to store; it raises to give up.
Merge = Callable[[bytes | None], bytes]
#: How many compare-and-sets one change tries, everywhere (see :func:`retry_compare_and_set`).
CAS_ATTEMPTS = 64
CHANGING = "the session kept changing under this request; nothing was saved"
DESTROYED = "the session was destroyed while this request ran"
#: The calls of a backend written outside this library that ``SessionBackend.timeout`` bounds.
BOUNDED_METHODS = (
    "read",
    "create",
    "replace",
    "expire",
    "delete",
    "update",
    "create_then",
    "eviction_warning",
)
#: Browsers drop cookies over 4096 bytes (name, value and attributes together).
BROWSER_COOKIE_LIMIT = 4096


async def retry_compare_and_set(attempt: Callable[[], Awaitable[bool]], *, tried: int = 0) -> bool:
    """Run ``attempt`` (one compare-and-set; True once settled) until it settles; False when it
    never did in ``CAS_ATTEMPTS`` tries (``tried`` of them made already). The one retry loop:
    each failed compare-and-set means another write succeeded, so N writers need N attempts."""
    for _ in range(CAS_ATTEMPTS - tried):
        if await attempt():
            return True
    return False


class Replaced(NamedTuple):
    """The outcome of :meth:`SessionBackend.replace`: whether it stored, and if not, the value
    found instead of the expected one (None: the key is gone)."""

    stored: bool
    current: bytes | None


class Swap(NamedTuple):
    """The arguments of a :meth:`SessionBackend.replace` to make after a create."""

    key: str
    expected: bytes
    value: bytes
    ttl: int | None


class Created(NamedTuple):
    """The outcome of :meth:`SessionBackend.create_then`: whether the new entry was stored (only
    then did the rest run), the replace's outcome and what the key read held (None: not asked)."""

    stored: bool
    replaced: Replaced | None = None
    read: bytes | None = None


class SessionBackend(abc.ABC):
    """Where sessions live. Subclass it to add a backend; the store does everything else.

    Keys are short ASCII strings made by the store (never a raw session id); values are opaque
    bytes; ``ttl`` is whole seconds, or None for an entry kept until deleted (a user's index).
    Every method raises :class:`~starlette_session.exceptions.SessionBackendError` when the
    backend fails (the driver's error chained), never a made-up answer. The contract, checked
    by ``tests/backends/``:

    - ``read`` returns the value, or None when missing or expired; with ``ttl``, the key's time
      to live is reset to it in the same operation (sliding expiry).
    - ``create`` stores only when the key does not exist, and says whether it did.
    - ``replace`` stores only when the key holds exactly ``expected``, atomically with respect
      to every other call on the key; the new ``ttl`` replaces the old (None: no expiry).
    - ``expire`` resets an existing key's time to live; ``delete`` removes keys, missing or not.
    - ``update`` and ``create_then`` are optional: the defaults are written with the above.

    ``logged_in=True`` marks a known user's session: a backend that evicts should evict
    anonymous sessions first, and entries without a time to live never. ``max_key_length``: the
    longest key in bytes (None: no limit), checked at start-up. ``json_values``: each value
    stored as a JSON object (the original API's adapter), so ``encryption=`` is refused.
    ``timeout``: seconds each call of a subclass written outside this library may take (None:
    no bound), then cancelled with ``SessionBackendError``; a class or instance attribute.
    """

    max_key_length: int | None = None
    json_values = False
    timeout: float | None = 2.0
    #: How this backend tells every process that sessions ended (see ``end``); None: live
    #: connections on its sessions are re-checked periodically instead.
    notifications: Notifications | None = None
    _local_notifications: LocalNotifications | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("starlette_session."):
            return  # the built-in backends bound each call with their client's own means
        for name in BOUNDED_METHODS:
            method = cls.__dict__.get(name)
            if inspect.iscoroutinefunction(method):
                setattr(cls, name, _bounded(name, method))

    @abc.abstractmethod
    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        """Return the value of ``key``, refreshing its time to live to ``ttl`` when given."""

    @abc.abstractmethod
    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        """Store ``value`` only if ``key`` is absent; True when stored."""

    @abc.abstractmethod
    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        """Store ``value`` only if ``key`` still holds ``expected``."""

    @abc.abstractmethod
    async def expire(self, key: str, ttl: int) -> None:
        """Reset the time to live of ``key`` if it exists."""

    @abc.abstractmethod
    async def delete(self, *keys: str) -> None:
        """Remove ``keys``; missing keys are not an error."""

    async def update(
        self,
        key: str,
        expected: bytes,
        value: bytes,
        ttl: int | None,
        merge: Merge,
        *,
        logged_in: bool = False,
    ) -> bytes:
        """Store ``value`` where ``expected`` was loaded; when another write came first, store
        ``merge(current)`` against ``current``, and so on (``CAS_ATTEMPTS`` tries, then
        :class:`SessionConflictError`). ``merge`` raises to give up, always when ``current``
        is None (the entry is gone). Returns what was stored. A backend may do better (see
        :class:`CombinedUpdates`) if every change is stored exactly as this loop would."""
        result = await self.replace(key, expected, value, ttl, logged_in=logged_in)
        if result.stored:  # the usual case: no other write came first
            return value
        current = result.current

        async def attempt() -> bool:
            nonlocal expected, value, current
            value = merge(current)
            if current is None:  # a merge that did not refuse a missing entry
                raise SessionDestroyedError(DESTROYED)
            expected = current
            result = await self.replace(key, expected, value, ttl, logged_in=logged_in)
            current = result.current
            return result.stored

        if not await retry_compare_and_set(attempt, tried=1):
            raise SessionConflictError(CHANGING)
        return value

    async def create_then(
        self,
        key: str,
        value: bytes,
        ttl: int | None,
        *,
        then_replace: Swap | None = None,
        then_read: str | None = None,
        logged_in: bool = False,
    ) -> Created:
        """:meth:`create`; if it stored, :meth:`replace` with ``then_replace`` (when that
        stores, :meth:`announce` its key), then :meth:`read` ``then_read`` (no ttl), each
        seeing what the one before wrote. A new id's writes: a backend whose server runs a batch
        in order may send them at once. When the create does not store, nothing else changed."""
        if not await self.create(key, value, ttl, logged_in=logged_in):
            return Created(False)
        replaced = None
        if then_replace is not None:
            replaced = await self.replace(*then_replace, logged_in=logged_in)
            if replaced.stored:
                await self.announce(then_replace.key)
        read = None if then_read is None else await self.read(then_read)
        return Created(True, replaced, read)

    async def end(self, *keys: str) -> None:
        """Delete the sessions ``keys``, which just ended, and :meth:`announce` it (a backend may
        do both in one round trip)."""
        if keys:
            await self.delete(*keys)
            await self.announce(*keys)

    async def announce(self, *keys: str) -> None:
        """Tell every process that the sessions ``keys`` ended (``notifications``); without a
        channel, this process only (the others re-check periodically)."""
        if keys and self.notifications is not None:
            await self.notifications.publish(list(keys))
        elif keys:
            self.local_notifications().deliver(list(keys))

    def local_notifications(self) -> LocalNotifications:
        """This process's delivery of ended sessions, for a backend without a channel."""
        if self._local_notifications is None:
            self._local_notifications = LocalNotifications()
        return self._local_notifications

    async def expiring_index_is_safe(self) -> bool:
        """Whether an entry with a time to live is evicted no sooner than one without (False
        for Redis's ``volatile-*`` policies, a bounded table): only then does a user's index
        get a time to live, since it must never be evicted before the sessions it lists."""
        return True

    async def eviction_warning(self) -> str | None:
        """Why entries without a time to live may be evicted (None: they cannot); logged before
        the first per-user index is written, since ``revoke_user_sessions`` needs it."""
        return None


class _Change(NamedTuple):
    expected: bytes
    value: bytes
    ttl: int | None
    merge: Merge
    logged_in: bool
    future: asyncio.Future[bytes]


class CombinedUpdates(SessionBackend):
    """A backend whose concurrent updates of one key in this process share one compare-and-set.

    While a write of a key is in flight, its changes queue; the next write applies each in turn
    exactly as :meth:`SessionBackend.update`'s loop would (``value`` where the entry still holds
    what that request loaded, else ``merge(current)``), so N requests changing one session at
    once cost about one round trip each and none runs out of attempts. A change that cannot be
    merged fails alone; a backend error fails that write's changes. No ``__init__`` to call.
    """

    _write_combiner: WriteCombiner | None = None

    async def update(
        self,
        key: str,
        expected: bytes,
        value: bytes,
        ttl: int | None,
        merge: Merge,
        *,
        logged_in: bool = False,
    ) -> bytes:
        combiner = self._write_combiner
        if combiner is None:
            combiner = self._write_combiner = WriteCombiner(self)
        return await combiner.update(key, expected, value, ttl, merge, logged_in)


class WriteCombiner:
    """Runs :meth:`CombinedUpdates.update` for a backend: one writer task per key being changed."""

    def __init__(self, backend: SessionBackend) -> None:
        self.backend = backend
        self._queues: dict[str, list[_Change]] = {}
        self._writers: dict[str, asyncio.Task[None]] = {}  # the loop keeps only weak references

    async def update(
        self,
        key: str,
        expected: bytes,
        value: bytes,
        ttl: int | None,
        merge: Merge,
        logged_in: bool,
    ) -> bytes:
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(key, []).append(
            _Change(expected, value, ttl, merge, logged_in, future)
        )
        if key not in self._writers:
            self._writers[key] = asyncio.create_task(self._write(key))
        # A cancelled request cancels its future: the writer leaves it out if not yet sent.
        return await future

    async def _write(self, key: str) -> None:
        current: bytes | None = None  # what the key holds, when this task knows it
        changes: list[_Change] = []
        try:
            while changes := [c for c in self._queues.pop(key, ()) if not c.future.done()]:
                current = await self._store(key, changes, current)
        except BaseException:  # cancelled (the event loop is closing): fail what is waiting
            for change in (*changes, *self._queues.pop(key, ())):
                _fail(change, SessionBackendError("the session write was interrupted"))
            raise
        finally:
            del self._writers[key]

    async def _store(self, key: str, changes: list[_Change], known: bytes | None) -> bytes | None:
        """Store ``changes`` with one compare-and-set; return what the key holds after, if known."""
        expected = known if known is not None else changes[0].expected
        holds: bytes | None = None

        async def attempt() -> bool:
            nonlocal expected, changes, holds
            value, applied = _apply(expected, changes)
            if not applied:
                holds = expected
                return True
            ttl, logged_in = applied[-1].ttl, any(change.logged_in for change in applied)
            try:
                result = await self.backend.replace(key, expected, value, ttl, logged_in=logged_in)
            except Exception as error:  # a backend error or a timeout: these changes failed
                for change in applied:
                    _fail(change, error)
                return True
            if result.stored:
                for change in applied:
                    if not change.future.done():
                        change.future.set_result(value)
                holds = value
                return True
            if result.current is None:
                for change in applied:
                    _fail(change, _destroyed(change))
                return True
            expected = result.current
            changes = [change for change in applied if not change.future.done()]
            return False

        if not await retry_compare_and_set(attempt):
            for change in changes:
                _fail(change, SessionConflictError(CHANGING))
        return holds


class CookieBackend:
    """Keep the whole session in the signed cookie: no server state, any number of workers.

    But the user can read the data (signed, not encrypted, unless the store has ``encryption=``);
    a log-out cannot revoke a copy of the cookie taken earlier (valid until it expires); there is
    no per-user revocation; and a session whose ``Set-Cookie`` would exceed ``max_size`` bytes
    raises :class:`~starlette_session.exceptions.SessionTooLargeError` when saved.
    """

    def __init__(self, max_size: int = BROWSER_COOKIE_LIMIT) -> None:
        self.max_size = max_size

    def __repr__(self) -> str:
        return f"CookieBackend(max_size={self.max_size})"


def _bounded(name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def bounded(self: SessionBackend, *args: Any, **kwargs: Any) -> Any:
        timeout = self.timeout
        if timeout is None:
            return await method(self, *args, **kwargs)
        try:
            with anyio.fail_after(timeout):
                return await method(self, *args, **kwargs)
        except TimeoutError as error:
            raise SessionBackendError(
                f"{type(self).__name__}.{name}() did not answer within {timeout} s: check that "
                "its store is reachable, or give the backend a longer timeout"
            ) from error

    return bounded


def _apply(current: bytes, changes: list[_Change]) -> tuple[bytes, list[_Change]]:
    """Each change in turn on ``current``; the changes that could be applied."""
    applied = []
    for change in changes:
        if change.future.done():
            continue
        try:
            value = change.value if change.expected == current else change.merge(current)
        except Exception as error:  # destroyed, strict mode, too large: this change alone fails
            _fail(change, error)
            continue
        applied.append(change)
        current = value
    return current, applied


def _destroyed(change: _Change) -> BaseException:
    try:
        change.merge(None)
    except Exception as error:
        return error
    return SessionDestroyedError(DESTROYED)


def _fail(change: _Change, error: BaseException) -> None:
    if not change.future.done():
        change.future.set_exception(error)
