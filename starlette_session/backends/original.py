"""The original API's choice of backend from its three arguments.

``SessionMiddleware`` calls :func:`build_original_backend` when it is built without ``store=``.
Every check happens there, at start-up: an unknown ``backend_type``, a missing client, or a client
of the wrong library raises with a message that says what to pass instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette_session.backends.backend_type import BackendType
from starlette_session.backends.base import SessionBackend
from starlette_session.backends.cookie import CookieBackend
from starlette_session.backends.legacy import LegacyBackend
from starlette_session.backends.memory import MemoryBackend
from starlette_session.interfaces import ISessionBackend

if TYPE_CHECKING:
    from starlette_session.backends.memcached import MemcachedBackend
    from starlette_session.backends.pymemcache_backend import PymemcacheBackend
    from starlette_session.backends.redis import RedisBackend

__all__ = ["UnknownPredefinedBackend", "build_original_backend", "original_session_reader"]

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
    """The backend the original API's three arguments describe.

    - ``custom_session_backend`` (an :class:`ISessionBackend`) wins, wrapped in
      :class:`LegacyBackend`, whatever ``backend_type`` says. (The original only used it when
      ``backend_type`` named a server-side type, and otherwise silently kept the session in the
      cookie.)
    - ``None`` or ``BackendType.cookie``: :class:`CookieBackend`; ``backend_client`` is ignored.
    - ``BackendType.memory``: :class:`MemoryBackend`.
    - ``BackendType.redis`` / ``aioRedis``: :class:`RedisBackend` over ``backend_client``, a
      ``redis.Redis`` (run in worker threads) or a ``redis.asyncio.Redis``/``RedisCluster``.
    - ``BackendType.memcache``: :class:`PymemcacheBackend` over a pymemcache client, whose
      ``serde`` is set to :class:`MemcacheJSONSerde` as the original did.
    - ``BackendType.aioMemcache``: :class:`MemcachedBackend` over an ``aiomcache.Client``.

    Raises :class:`UnknownPredefinedBackend` for anything else as ``backend_type``,
    ``ValueError`` when a server-side type has no ``backend_client``, ``TypeError`` when the
    client belongs to another library, and ``ImportError`` naming the extra to install.
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
    if backend_type is BackendType.memcache:
        return _pymemcache_backend(backend_client)
    if backend_type is BackendType.aioMemcache:
        return _aiomcache_backend(backend_client)
    return _redis_backend(backend_type, backend_client)


def original_session_reader(
    backend_type: BackendType | None,
    backend_client: Any,
    custom_session_backend: ISessionBackend | None,
) -> ISessionBackend | None:
    """What reads a session the original stored server-side, or None where it cannot be read.

    The original kept the bare session dict under the id in its cookie (``{"_cssid": id}``,
    see :func:`starlette_session.migration.original_session_key`). A custom backend stored it
    as it was given (it is returned as is), and ``BackendType.memcache`` as JSON
    (:class:`MemcacheSessionBackend` reads it). The Redis and aiomcache backends stored pickles,
    which this library never unpickles: None.
    """
    if custom_session_backend is not None:
        return custom_session_backend
    if backend_type is BackendType.memcache and backend_client is not None:
        from starlette_session.backends.original_backends import MemcacheSessionBackend

        return MemcacheSessionBackend(backend_client)
    return None


def _redis_backend(backend_type: BackendType, client: Any) -> RedisBackend:
    if _library(client) == "aioredis":
        raise TypeError(
            "aioredis is now part of redis-py: pass a redis.asyncio.Redis client "
            "(pip install 'starlette-session[redis]'; from redis.asyncio import Redis)"
        )
    from starlette_session.backends.redis import RedisBackend  # names the extra if missing

    if not _is_redis_client(client):
        raise TypeError(
            f"backend_type=BackendType.{backend_type.name} needs {_CLIENTS[backend_type]} "
            f"(or a redis.asyncio.RedisCluster), not {type(client).__name__}"
        )
    return RedisBackend(client)


def _pymemcache_backend(client: Any) -> PymemcacheBackend:
    if _library(client) == "aiomcache":
        raise TypeError(
            "backend_type=BackendType.memcache takes a pymemcache client; an aiomcache.Client "
            "goes with backend_type=BackendType.aioMemcache"
        )
    from starlette_session.backends.memcache_serde import MemcacheJSONSerde
    from starlette_session.backends.pymemcache_backend import PymemcacheBackend

    _set_serde(client, MemcacheJSONSerde())
    return PymemcacheBackend(client)


def _aiomcache_backend(client: Any) -> MemcachedBackend:
    if _library(client) == "pymemcache":
        raise TypeError(
            "backend_type=BackendType.aioMemcache takes an aiomcache.Client; a pymemcache "
            "client goes with backend_type=BackendType.memcache"
        )
    from starlette_session.backends.memcached import MemcachedBackend  # names the extra if missing

    if not _is_aiomcache_client(client):
        raise TypeError(
            "backend_type=BackendType.aioMemcache needs an aiomcache.Client, "
            f"not {type(client).__name__}"
        )
    return MemcachedBackend(client)


def _is_redis_client(client: Any) -> bool:
    import redis
    import redis.asyncio

    return isinstance(client, redis.Redis | redis.asyncio.Redis | redis.asyncio.RedisCluster)


def _is_aiomcache_client(client: Any) -> bool:
    import aiomcache

    return isinstance(client, aiomcache.Client)


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


def _library(client: Any) -> str:
    return type(client).__module__.partition(".")[0]
