"""The contract every server-side backend fulfils: bytes in, bytes out, with a time to live."""

from __future__ import annotations

import abc
import contextlib
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


async def retry_compare_and_set(attempt: Callable[[], Awaitable[bool]], *, tried: int = 0) -> bool:
    """Run ``attempt`` (one compare-and-set; True once settled) until it settles; False when it
    never did in ``CAS_ATTEMPTS`` tries (``tried`` of them made already, before a first retry).
    The one retry loop of the library: a failed compare-and-set means another write succeeded,
    so each retry makes progress, but with N requests changing one key at once the last needs N
    attempts."""
    for _ in range(CAS_ATTEMPTS - tried):
        if await attempt():
            return True
    return False


CHANGING = "the session kept changing under this request; nothing was saved"
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


class Replaced(NamedTuple):
    """The outcome of :meth:`SessionBackend.replace`."""

    #: True when the new value was stored.
    stored: bool
    #: When not stored: the value found instead of the expected one, or None if the key is gone.
    current: bytes | None


class Swap(NamedTuple):
    """A :meth:`SessionBackend.replace` to make after a create: its arguments."""

    key: str
    expected: bytes
    value: bytes
    ttl: int | None


class Created(NamedTuple):
    """The outcome of :meth:`SessionBackend.create_then`."""

    #: True when the new entry was stored (only then did the other two run).
    stored: bool
    #: The outcome of the replace asked for, or None (not asked, or not stored).
    replaced: Replaced | None = None
    #: What the key asked for held after both writes, or None.
    read: bytes | None = None


class SessionBackend(abc.ABC):
    """Where sessions live. Subclass it to add a backend; the store does everything else.

    Keys are short ASCII strings made by the store (a prefix and a hash; never a raw session id).
    Values are opaque bytes. ``ttl`` is in whole seconds and positive, or ``None`` for an entry
    that must stay until it is deleted (the store's per-user index, which must outlive the sessions
    it lists). Every method raises :class:`~starlette_session.exceptions.SessionBackendError` when
    the backend fails, with the driver's error chained; it never returns a made-up answer instead.

    Contract (checked by the shared suite in ``tests/backends/``):

    - ``read`` returns the value, or None when the key is missing or expired. When ``ttl`` is given
      the key's time to live is reset to it in the same operation (sliding expiry).
    - ``create`` stores only when the key does not exist and says whether it did.
    - ``replace`` stores only when the key exists and holds exactly ``expected`` (compare and set),
      atomically with respect to every other call on the same key. The new ``ttl`` replaces the
      old one (``None``: no expiry any more).
    - ``expire`` resets the time to live of an existing key.
    - ``delete`` removes keys, missing or not.
    - ``update`` (optional: the default is written with ``replace``) is a compare-and-set that
      merges what another write stored meanwhile, until one is stored.
    - ``create_then`` (optional: the default makes the calls one by one) is a ``create``
      followed, only if it stored, by a ``replace`` and a ``read``, each after the one before.

    ``logged_in=True`` marks the session of a known user. A backend that evicts entries to make
    room should evict anonymous sessions first, and entries without a time to live never; a backend
    that cannot choose (Redis, memcached) ignores the flag, and SECURITY.md says what that means.

    ``max_key_length``: the longest key, in bytes, the backend can store (None: no limit). The
    store checks its longest key against it when it is bound, so that a ``key_prefix`` too long
    fails at start-up rather than at every log-in.

    ``json_values``: True for a backend that stores each value as a JSON object rather than
    bytes (the original API's adapter): the store refuses ``encryption=`` over it.

    ``timeout``: seconds each call may take (None: no bound), 2 by default as for the built-in
    backends, which bound their own calls. In a subclass written outside this library, every
    method of the contract it defines is bounded: a call still running then is cancelled and
    raises :class:`~starlette_session.exceptions.SessionBackendError`, which the store's
    ``on_backend_error`` policy answers (503, or an anonymous session). Set it as a class or
    instance attribute.
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
        """Store ``value`` where ``expected`` was loaded, merging what was stored meanwhile.

        A compare-and-set (:meth:`replace`); when another write came first, ``merge(current)``
        is stored instead, against ``current``, and so on until one is stored (at most
        ``CAS_ATTEMPTS`` tries, then :class:`SessionConflictError`). ``merge`` raises to
        give up: always when ``current`` is None (the entry is gone). Returns what was stored.

        This default is written with :meth:`replace` alone. A backend may do better, as long as
        every change is stored exactly as this loop would store it: the Redis, memcached and SQL
        backends combine the concurrent updates of one key in their process into one
        compare-and-set, so that none runs out of attempts while others keep winning.
        """

        result = await self.replace(key, expected, value, ttl, logged_in=logged_in)
        if result.stored:  # the usual case: no other write came first
            return value
        current = result.current

        async def attempt() -> bool:
            nonlocal expected, value, current
            value = merge(current)
            if current is None:  # a merge that did not refuse a missing entry
                raise SessionDestroyedError("the session was destroyed while this request ran")
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
        """:meth:`create`; if it stored, :meth:`replace` with ``then_replace`` (the session
        it retires: when that stores, :meth:`announce` its key), then :meth:`read`
        ``then_read`` (no ttl): each seeing what the one before wrote.

        The store gives a session a new id with it (the new entry, the old one retired, the
        user's index read again). This default makes the calls one after another; a backend
        whose server runs a batch in order may send them at once (Redis: one round trip).
        When the create does not store, nothing else may have changed.
        """
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
        """Delete the sessions ``keys``, which just ended, and tell every process holding a
        live connection on one (``notifications``). A backend may do both in one round trip;
        this default deletes, then publishes."""
        if not keys:
            return
        await self.delete(*keys)
        await self.announce(*keys)

    async def announce(self, *keys: str) -> None:
        """Tell every process that the sessions ``keys`` ended; without a channel, this
        process only (the others re-check periodically)."""
        if not keys:
            return
        if self.notifications is not None:
            await self.notifications.publish(list(keys))
        else:
            self.local_notifications().deliver(list(keys))

    def local_notifications(self) -> LocalNotifications:
        """This process's delivery of ended sessions, for a backend without a channel: live
        connections in the process that ended a session end at once."""
        local = getattr(self, "_local_notifications", None)
        if not isinstance(local, LocalNotifications):
            local = LocalNotifications()
            # A subclass with __slots__ keeps none: its process re-checks instead.
            with contextlib.suppress(AttributeError):
                self._local_notifications = local
        return local

    async def expiring_index_is_safe(self) -> bool:
        """Whether an entry given a time to live is evicted no sooner than one without.

        The store gives a user's index a time to live (it ends once none of its sessions can
        be used any more) only where this is True; elsewhere the index keeps none, so that it
        is never evicted before the sessions it lists. Return False if the backend evicts
        entries that have a time to live before those that have none (Redis's ``volatile-*``
        policies, a bounded in-memory table).
        """
        return True

    async def eviction_warning(self) -> str | None:
        """Why entries stored without a time to live may be evicted, or None when they cannot.

        The store asks once, before it first writes a per-user index, and logs the answer: an
        evicted index means ``revoke_user_sessions`` cannot find the sessions it listed.
        """
        return None


def _bounded(name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """``method`` of a custom backend, cancelled after its backend's ``timeout``."""

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
