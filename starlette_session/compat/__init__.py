"""The original starlette-session 0.4.3 API, whole, so that applications written for it run
unchanged: :class:`BackendType` with ``backend_client=`` and ``custom_session_backend=`` (see
:func:`build_original_backend`), :class:`ISessionBackend` (run through :class:`LegacyBackend`),
its four backends (JSON, never pickle) and :class:`MemcacheJSONSerde`. The old import paths
(``starlette_session.backends.BackendType``, ``starlette_session.interfaces``) serve these.
"""

from __future__ import annotations

import abc
import decimal
import enum
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from starlette_session.backends.base import CookieBackend, Replaced, SessionBackend
from starlette_session.backends.memcached import memcached_expiry
from starlette_session.backends.memory import MemoryBackend
from starlette_session.exceptions import SessionBackendError

__all__ = [
    "AioMemcacheSessionBackend",
    "AioRedisSessionBackend",
    "BackendType",
    "ISessionBackend",
    "LegacyBackend",
    "MemcacheJSONSerde",
    "MemcacheSessionBackend",
    "RedisSessionBackend",
    "UnknownPredefinedBackend",
    "build_original_backend",
    "original_session_reader",
]

T = TypeVar("T")
security_logger = logging.getLogger("starlette_session.security")


class BackendType(enum.Enum):
    """The original's ``SessionMiddleware(backend_type=...)``, with ``backend_client=``:

    ``redis`` (a sync ``redis.Redis``, in worker threads) and ``aioRedis`` (a
    ``redis.asyncio.Redis``) build a :class:`RedisBackend`, ``memcache`` (a pymemcache client, in
    worker threads) a :class:`PymemcacheBackend`, ``aioMemcache`` (an ``aiomcache.Client``) a
    :class:`MemcachedBackend`; ``cookie`` (the default) and ``memory`` (new) take no client.
    """

    redis = "redis"
    aioRedis = "aioRedis"
    cookie = "cookie"
    memcache = "memcache"
    aioMemcache = "aioMemcache"
    memory = "memory"


class ISessionBackend(abc.ABC):
    """A backend of the original API, JSON objects in and out:
    ``SessionMiddleware(..., custom_session_backend=MyBackend())`` or
    ``SessionStore(LegacyBackend(MyBackend()))``. It has no compare-and-set, so two requests
    saving one session at once can overwrite each other (a :class:`SessionBackend` cannot).
    """

    @abc.abstractmethod
    async def get(self, key: str) -> dict[str, Any] | None:
        """The object stored under ``key`` (or its JSON text), or None (or ``KeyError``)."""

    @abc.abstractmethod
    async def set(self, key: str, value: dict[str, Any], exp: int | None) -> Any:
        """Store ``value`` under ``key`` for ``exp`` seconds (``None``: until deleted)."""

    @abc.abstractmethod
    async def delete(self, key: str) -> Any:
        """Remove ``key``; a missing key is not an error (a ``KeyError`` is ignored)."""


class LegacyBackend(SessionBackend):
    """Runs an :class:`ISessionBackend` as a :class:`SessionBackend`.

    ``create`` and ``replace`` read then write, and a read does not slide the expiry. Each call is
    bounded by ``timeout``; any error (but a ``KeyError`` from ``get`` or ``delete``: missing)
    raises :class:`SessionBackendError`. What ``get`` returns that is not a JSON object (numbers
    may be ``Decimal``, as DynamoDB's) is deleted and logged on ``starlette_session.security``.
    """

    #: Values go to the wrapped backend as JSON objects: nothing sealed can be stored.
    json_values = True

    def __init__(self, backend: ISessionBackend, *, timeout: float | None = 2.0) -> None:
        self.backend = backend
        self.timeout = timeout

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        value = await self._get(key)
        if value is None:
            return None
        try:
            return _readable(value)
        except ValueError as error:
            security_logger.warning(
                "the custom session backend %s returned %s instead of the JSON object it was "
                "given: the entry was deleted and a fresh session served",
                type(self.backend).__name__,
                error,
            )
        await self.delete(key)
        return None

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        if await self._get(key) is not None:
            return False
        await self._call(self.backend.set(key, json.loads(value), ttl))
        return True

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        current = await self.read(key)
        if current != expected:
            return Replaced(False, current)
        await self._call(self.backend.set(key, json.loads(value), ttl))
        return Replaced(True, None)

    async def expire(self, key: str, ttl: int) -> None:
        value = await self._get(key)
        if value is not None:
            await self._call(self.backend.set(key, value, ttl))

    async def delete(self, *keys: str) -> None:
        for key in keys:
            await self._call(self.backend.delete(key), missing=True)

    async def _get(self, key: str) -> Any:
        return await self._call(self.backend.get(key), missing=True)

    async def _call(self, operation: Awaitable[T], *, missing: bool = False) -> T | None:
        """Await one call of the wrapped backend; with ``missing``, a KeyError means None."""
        try:
            with anyio.fail_after(self.timeout):
                return await operation
        except TimeoutError as error:
            raise SessionBackendError(
                f"the custom session backend did not answer within {self.timeout} s: check "
                "that its store is reachable, or give LegacyBackend a longer timeout"
            ) from error
        except KeyError:
            if missing:
                return None
            raise SessionBackendError("the custom session backend failed (KeyError)") from None
        except Exception as error:
            raise SessionBackendError(
                f"the custom session backend failed ({type(error).__name__})"
            ) from error

    def __repr__(self) -> str:
        return f"LegacyBackend({type(self.backend).__name__})"


def _readable(value: Any) -> bytes:
    """A custom backend's value as the bytes of a JSON object; ValueError saying what it is."""
    if isinstance(value, str | bytes | bytearray):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise ValueError("text that is not JSON") from None
        if not isinstance(value, dict):
            raise ValueError(f"the JSON text of a {type(value).__name__}")
    if not isinstance(value, dict):
        raise ValueError(f"a {type(value).__name__}")
    try:
        return json.dumps(
            value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_number
        ).encode()
    except TypeError as error:
        raise ValueError(f"a dict holding {error}") from None
    except (ValueError, RecursionError):
        raise ValueError("a dict JSON cannot hold (NaN, an infinity, or too deep)") from None


def _number(value: Any) -> int | float:
    """A finite ``Decimal`` (DynamoDB's numbers) as the JSON number it holds."""
    if isinstance(value, decimal.Decimal) and value.is_finite():
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"a {type(value).__name__}")


_BYTES, _TEXT, _JSON = 0, 1, 2


class MemcacheJSONSerde:
    """A pymemcache ``serde`` that never unpickles: ``Client(..., serde=MemcacheJSONSerde())``.

    As the original's: a ``str`` is stored as is (flags 1), anything else as JSON (flags 2);
    ``bytes`` as is with flags 0 (what :class:`PymemcacheBackend` stores). Other flags raise
    ``ValueError``.
    """

    def serialize(self, key: Any, value: Any) -> tuple[Any, int]:
        """``(data, flags)`` for memcached."""
        if isinstance(value, bytes):
            return value, _BYTES
        if isinstance(value, str):
            return value, _TEXT
        return json.dumps(value), _JSON

    def deserialize(self, key: Any, value: Any, flags: int) -> Any:
        """The value stored with ``flags``."""
        if flags in (_BYTES, _TEXT):
            return value
        if flags == _JSON:
            return json.loads(value)
        raise ValueError(f"Unknown flags for value: {flags}")


async def _in_thread(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await anyio.to_thread.run_sync(functools.partial(call, *args, **kwargs))


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _loads(value: bytes | str | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        loaded = json.loads(value)
    except (ValueError, RecursionError):  # e.g. a pickle the original wrote: never unpickled
        return None
    return loaded if isinstance(loaded, dict) else None


class RedisSessionBackend(ISessionBackend):
    """The original's backend over a sync ``redis.Redis``; JSON values, calls in a worker thread."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def get(self, key: str, **kwargs: Any) -> dict[str, Any] | None:
        return _loads(await _in_thread(self.redis.get, key, **kwargs))

    async def set(
        self, key: str, value: dict[str, Any], exp: int | None = None, **kwargs: Any
    ) -> Any:
        return await _in_thread(self.redis.set, key, _dumps(value), exp, **kwargs)

    async def delete(self, key: str, **kwargs: Any) -> Any:
        return await _in_thread(self.redis.delete, key, **kwargs)


class AioRedisSessionBackend(ISessionBackend):
    """The original's backend over an async Redis client, now ``redis.asyncio.Redis``; JSON."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def get(self, key: str, **kwargs: Any) -> dict[str, Any] | None:
        return _loads(await self.redis.get(key, **kwargs))

    async def set(
        self, key: str, value: dict[str, Any], exp: int | None = None, **kwargs: Any
    ) -> Any:
        return await self.redis.set(key, _dumps(value), exp, **kwargs)

    async def delete(self, key: str, **kwargs: Any) -> Any:
        return await self.redis.delete(key, **kwargs)


class MemcacheSessionBackend(ISessionBackend):
    """The original's backend over a pymemcache client, in worker threads. As the original, it
    sets the client's ``serde`` to :class:`MemcacheJSONSerde`: give it a client of its own."""

    def __init__(self, memcache: Any) -> None:
        self.memcache = memcache
        self.memcache.serde = MemcacheJSONSerde()

    async def get(self, key: str, **kwargs: Any) -> dict[str, Any] | None:
        value = await _in_thread(self.memcache.get, key, **kwargs)
        return value if isinstance(value, dict) and value else None

    async def set(
        self, key: str, value: dict[str, Any], exp: int | None = None, **kwargs: Any
    ) -> Any:
        expire = memcached_expiry(exp)
        return await _in_thread(self.memcache.set, key, value, expire=expire, **kwargs)

    async def delete(self, key: str, **kwargs: Any) -> Any:
        return await _in_thread(self.memcache.delete, key, **kwargs)


class AioMemcacheSessionBackend(ISessionBackend):
    """The original's backend over an ``aiomcache.Client``; JSON values."""

    def __init__(self, memcache: Any) -> None:
        self.memcache = memcache

    async def get(self, key: str, **kwargs: Any) -> dict[str, Any] | None:
        return _loads(await self.memcache.get(key.encode(), **kwargs))

    async def set(
        self, key: str, value: dict[str, Any], exp: int | None = None, **kwargs: Any
    ) -> Any:
        data, expire = _dumps(value).encode(), memcached_expiry(exp)
        return await self.memcache.set(key.encode(), data, exptime=expire, **kwargs)

    async def delete(self, key: str, **kwargs: Any) -> Any:
        return await self.memcache.delete(key.encode(), **kwargs)


_CLIENTS = {
    BackendType.redis: "a redis.Redis client",
    BackendType.aioRedis: "a redis.asyncio.Redis client",
    BackendType.memcache: "a pymemcache client (Client, PooledClient or HashClient)",
    BackendType.aioMemcache: "an aiomcache.Client",
}


class UnknownPredefinedBackend(ValueError):
    """``backend_type`` is not a :class:`BackendType` member (the original's exception)."""


def build_original_backend(
    backend_type: BackendType | None,
    backend_client: Any,
    custom_session_backend: ISessionBackend | None,
) -> SessionBackend | CookieBackend:
    """The backend the original API's three arguments name (see :class:`BackendType`).

    ``custom_session_backend`` wins whatever ``backend_type`` says (the original silently kept
    the session in the cookie unless the type was server-side). Raises
    :class:`UnknownPredefinedBackend`, ``ValueError`` for a missing ``backend_client``,
    ``TypeError`` for a client of another library, ``ImportError`` naming the extra to install.
    """
    if custom_session_backend is not None:
        if isinstance(custom_session_backend, SessionBackend):
            raise TypeError(
                "custom_session_backend takes an ISessionBackend (get/set/delete); a "
                "SessionBackend goes in SessionMiddleware(store=SessionStore(backend))"
            )
        return LegacyBackend(custom_session_backend)
    if backend_type is None or backend_type is BackendType.cookie:
        return CookieBackend()
    if not isinstance(backend_type, BackendType):
        choices = ", ".join(f"BackendType.{member.name}" for member in BackendType)
        raise UnknownPredefinedBackend(
            f"backend_type={backend_type!r} is not a BackendType; use one of {choices}"
        )
    if backend_type is BackendType.memory:
        return MemoryBackend()
    if backend_client is None:
        raise ValueError(
            f"backend_type=BackendType.{backend_type.name} needs "
            f"backend_client=<{_CLIENTS[backend_type]}>"
        )
    library = type(backend_client).__module__.partition(".")[0]
    if backend_type is BackendType.memcache:
        if library != "aiomcache":
            from starlette_session.backends.pymemcache_backend import PymemcacheBackend

            _set_serde(backend_client, MemcacheJSONSerde())
            return PymemcacheBackend(backend_client)
        fix = "an aiomcache.Client goes with backend_type=BackendType.aioMemcache"
    elif backend_type is BackendType.aioMemcache:
        from starlette_session.backends.memcached import MemcachedBackend, import_aiomcache

        # A pymemcache client is named before aiomcache is imported (it may not be installed).
        if library != "pymemcache" and isinstance(backend_client, import_aiomcache().Client):
            return MemcachedBackend(backend_client)
        fix = "a pymemcache client goes with backend_type=BackendType.memcache"
    elif library == "aioredis":
        fix = (
            "aioredis is now part of redis-py: pass a redis.asyncio.Redis client "
            "(pip install 'starlette-session[redis]')"
        )
    else:
        from starlette_session.backends.redis import RedisBackend  # names the extra if missing

        if _is_redis_client(backend_client):
            return RedisBackend(backend_client)
        fix = "or a redis.asyncio.RedisCluster"
    raise TypeError(
        f"backend_type=BackendType.{backend_type.name} needs {_CLIENTS[backend_type]}, "
        f"not {type(backend_client).__name__}; {fix}"
    )


def original_session_reader(
    backend_type: BackendType | None,
    backend_client: Any,
    custom_session_backend: ISessionBackend | None,
) -> ISessionBackend | None:
    """What reads a session the original stored under the id in its cookie, or None where it
    was a pickle (Redis, aiomcache), which is never unpickled: a custom backend as is, or a
    :class:`MemcacheSessionBackend` for ``BackendType.memcache`` (JSON)."""
    if custom_session_backend is not None:
        return custom_session_backend
    if backend_type is BackendType.memcache and backend_client is not None:
        return MemcacheSessionBackend(backend_client)
    return None


def _is_redis_client(client: Any) -> bool:
    import redis
    import redis.asyncio

    return isinstance(client, redis.Redis | redis.asyncio.Redis | redis.asyncio.RedisCluster)


def _set_serde(client: Any, serde: Any) -> None:
    """Give a pymemcache client ``serde``, as the original did (a ``HashClient`` keeps one per
    server, and a ``PooledClient`` passes its own to the clients it creates)."""
    from pymemcache.client.base import Client, PooledClient
    from pymemcache.client.hash import HashClient

    if isinstance(client, HashClient):
        client.default_kwargs["serde"] = serde
        for server_client in client.clients.values():
            server_client.serde = serde
    elif isinstance(client, Client | PooledClient):
        client.serde = serde
