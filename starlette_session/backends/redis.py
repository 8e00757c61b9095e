"""Redis through redis-py: ``redis.asyncio`` clients (single node, Sentinel or cluster), or sync.

One command per operation: a read is ``GETEX`` (the sliding expiry costs no extra round trip), a
new session is ``SET NX EX``, and a change is one compare-and-set: ``SET ... IFEQ`` on servers
that have it (Valkey 8.1+, Redis 8.4+), else one ``EVALSHA`` of a Lua script (see
``_redis_cas``). A new id (``create_then``) sends its create, the old entry's compare-and-set and
the index's read as one pipeline on one connection, which Redis runs in order. The application
builds the client, so it owns pooling, TLS, timeouts, Sentinel discovery and shutdown. A client
of valkey-py (redis-py's fork, same API) is accepted as well; this module never imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol

import anyio
import anyio.to_thread

from starlette_session.backends._combining import CombinedUpdates
from starlette_session.backends._notify import CHANNEL, ended_message
from starlette_session.backends._pipelining import AutoPipeline, Once
from starlette_session.backends._redis_cas import (
    REPLACE_SCRIPT,
    driver_errors,
    is_async_client,
    is_syntax_error,
    native_replace_args,
    supports_set_ifeq,
)
from starlette_session.backends._redis_notify import RedisNotifications
from starlette_session.backends._redis_replication import ReplicaWait
from starlette_session.backends.base import Created, Replaced, Swap
from starlette_session.exceptions import SessionBackendError

try:
    import redis
    import redis.asyncio
    import redis.exceptions
except ImportError as error:  # pragma: no cover - exercised by the no-extras CI run
    raise ImportError(
        "the Redis backend needs redis-py: pip install 'starlette-session[redis]'"
    ) from error

__all__ = ["RedisBackend", "RedisLikeClient"]

# RedisClusterException (e.g. "Redis Cluster cannot be connected") is not a RedisError.
_DRIVER_ERRORS = (
    redis.exceptions.RedisError,
    redis.exceptions.RedisClusterException,
    OSError,
    TimeoutError,
)


#: The worker threads of a sync client whose pool has no bound: anyio's default.
UNBOUNDED_POOL_THREADS = 40


class RedisLikeClient(Protocol):
    """What the backend uses of a client: redis-py's API, as valkey-py's clients have it too."""

    def execute_command(self, *args: Any, **options: Any) -> Any: ...

    def register_script(self, script: Any) -> Any: ...


class RedisBackend(CombinedUpdates):
    """Sessions in Redis or Valkey, each key with a time to live.

    ``client`` is a ``redis.asyncio.Redis`` (also from ``Sentinel.master_for()``) or
    ``redis.asyncio.RedisCluster`` (recommended), or a sync ``redis.Redis``, whose calls then run
    in worker threads of their own, as many as its pool has connections (40 for a pool without
    a bound), so they never block the event loop nor take the threads of Starlette's sync
    endpoints; or the same from valkey-py.
    ``timeout`` (seconds) bounds every operation of this backend, waiting for a pooled
    connection or a worker thread included, on top of the client's own socket timeouts and
    retries; a failure or a timeout raises :class:`SessionBackendError`. A healthy Redis answers
    in about a millisecond: the 2-second default only decides how long a request waits on a
    stalled one. ``docs/reliability.md`` and ``docs/redis.md`` give the recommended client
    settings. Before each command a cluster client is initialized (``client.initialize()``, a
    no-op once it knows the slots), and a ``delete`` of keys in several slots is split by
    redis-py, one ``DEL`` per slot.

    ``compare_and_set="auto"`` lets the first change ask the server (``INFO server``, every node
    of a cluster) whether ``SET ... IFEQ`` is there, and uses it from then on; ``"script"``
    always runs the Lua script. A server that answers the native form with a syntax error (a
    failover to an older server) switches the backend to the script for good.

    ``wait_for_replicas=N`` makes every deletion (a log-out, a revocation) wait until N replicas
    have it, at most ``wait_timeout`` seconds, then raise :class:`SessionReplicationError`: a
    failover cannot undo a deletion that returned (``_redis_replication``, ``docs/redis.md``).
    """

    def __init__(
        self,
        client: redis.asyncio.Redis | redis.asyncio.RedisCluster | redis.Redis | RedisLikeClient,
        *,
        timeout: float | None = 2.0,
        compare_and_set: Literal["auto", "script"] = "auto",
        wait_for_replicas: int = 0,
        wait_timeout: float = 0.25,
    ) -> None:
        if compare_and_set not in ("auto", "script"):
            raise ValueError(f"compare_and_set must be 'auto' or 'script', not {compare_and_set!r}")
        self._replicas = (
            ReplicaWait(client, timeout, wait_for_replicas, wait_timeout)
            if wait_for_replicas != 0
            else None
        )
        self.client: Any = client
        self.timeout = timeout
        is_cluster = callable(getattr(client, "get_nodes", None))
        self._is_async = isinstance(
            client, redis.asyncio.Redis | redis.asyncio.RedisCluster
        ) or is_async_client(client)
        self._cluster: Any = client if self._is_async and is_cluster else None
        self._info_options = {"target_nodes": "all"} if is_cluster else {}
        # One connection runs a pipeline's commands in order; a cluster's go to several nodes.
        self._batches = not is_cluster and callable(getattr(client, "pipeline", None))
        self._errors: tuple[type[BaseException], ...] = tuple(
            dict.fromkeys((*driver_errors(client), *_DRIVER_ERRORS))
        )
        self._replace_script: Any = client.register_script(REPLACE_SCRIPT)
        # A sync client's commands run in worker threads of their own, no more at once than its
        # pool has connections: a stalled Redis then holds none of the threads that Starlette's
        # sync endpoints (anyio's default limiter) run in.
        self._limiter = None if self._is_async else anyio.CapacityLimiter(_pool_size(client))
        # The commands of one event-loop turn share a write (see _pipelining); a sync client's
        # run in worker threads, one at a time each.
        pipelined = self._is_async and callable(getattr(client, "pipeline", None))
        self._command: Callable[..., Any] = (
            AutoPipeline(client).execute if pipelined else client.execute_command
        )
        self._native: bool | None = None if compare_and_set == "auto" else False
        # Concurrent first changes ask the server once, and load a missing script once.
        self._probing: Once[bool] = Once()
        self._loading: Once[Any] = Once()
        # Session-ended messages: published by every client, received with an asyncio one.
        self._publish = "SPUBLISH" if is_cluster else "PUBLISH"
        self._sharded = is_cluster
        if self._is_async and callable(getattr(client, "pubsub", None)):
            self.notifications = RedisNotifications(client, self._published, is_cluster)

    @property
    def native_compare_and_set(self) -> bool | None:
        """Whether changes use ``SET ... IFEQ`` (True) or the script (False); None until known."""
        return self._native

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        if ttl is None:
            value = await self._run(self._command, "GET", key)
        else:
            value = await self._run(self._command, "GETEX", key, "EX", ttl)
        return _as_bytes(value)

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        expiry = () if ttl is None else ("EX", ttl)
        return bool(await self._run(self._command, "SET", key, value, *expiry, "NX"))

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        if self._native is None:
            self._native = await self._probing.run(self._server_has_set_ifeq)
        if self._native:
            args = native_replace_args(key, expected, value, ttl)
            try:
                # get=True: redis-py then hands back the GET reply instead of a bool.
                found = _as_bytes(await self._run(self._command, *args, get=True))
            except SessionBackendError as error:
                if not is_syntax_error(error.__cause__):
                    raise
                self._native = False  # nothing was stored: the script does it below
            else:
                return Replaced(True, None) if found == expected else Replaced(False, found)
        script_args = [expected, value, ttl or 0]
        if self._is_async:
            result = await self._run(self._script, key, script_args)
        else:
            result = await self._run(self._replace_script, keys=[key], args=script_args)
        if result == 1:
            return Replaced(True, None)
        return Replaced(False, _as_bytes(result))

    async def expire(self, key: str, ttl: int) -> None:
        await self._run(self._command, "EXPIRE", key, ttl)

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
        if not self._batches:  # a cluster: the keys live on several nodes, in no common order
            return await super().create_then(
                key, value, ttl, then_replace=then_replace, then_read=then_read, logged_in=logged_in
            )
        swap = then_replace
        if swap is not None and self._native is None:
            self._native = await self._probing.run(self._server_has_set_ifeq)
        expiry = () if ttl is None else ("EX", ttl)
        commands: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
            (("SET", key, value, *expiry, "NX"), {})
        ]
        if swap is not None:
            if self._native:
                commands.append((native_replace_args(*swap), {"get": True}))
            else:
                sha = self._replace_script.sha
                args = (swap.key, swap.expected, swap.value, swap.ttl or 0)
                commands.append((("EVALSHA", sha, 1, *args), {}))
            if self.notifications is not None:
                # Told in the same write, before the outcome is known: a swap that does not
                # store now is retried until it does, or the log-in fails and the old session's
                # live connections ended early (they reconnect), never late.
                commands.append(((self._publish, CHANNEL, ended_message((swap.key,))), {}))
        if then_read is not None:
            commands.append((("GET", then_read), {}))
        replies = await self._run(self._pipelined, commands)
        stored = bool(self._reply(replies[0]))
        if not stored:  # never with fresh 256-bit ids: the old entry is put back as it was
            undo = swap is not None and not isinstance(replies[1], BaseException)
            if undo and swap is not None and self._swapped(swap, replies[1]).stored:
                await self.replace(swap.key, swap.value, swap.expected, swap.ttl)
            return Created(False)
        replaced = None
        if swap is not None:
            reply = replies[1]
            if isinstance(reply, BaseException):
                # Refused for want of the script or of IFEQ (a restart, a failover): alone now.
                if type(reply).__name__ != "NoScriptError" and not is_syntax_error(reply):
                    self._reply(reply)
                self._native = False if is_syntax_error(reply) else self._native
                replaced = await self.replace(*swap)
                if replaced.stored and self.notifications is None:
                    self.local_notifications().deliver([swap.key])
                # The pipeline's read came before this replace: read again, after it.
                read = None if then_read is None else await self.read(then_read)
                return Created(True, replaced, read)
            replaced = self._swapped(swap, reply)
            if replaced.stored and self.notifications is None:  # a sync client: no channel
                self.local_notifications().deliver([swap.key])
        read = None if then_read is None else _as_bytes(self._reply(replies[-1]))
        return Created(True, replaced, read)

    def _pipelined(self, commands: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> Any:
        """``commands`` as one pipeline (no transaction) on one connection: their replies, an
        error reply in its command's place (a coroutine for an asyncio client)."""
        pipe = self.client.pipeline(transaction=False)
        for args, options in commands:
            pipe.execute_command(*args, **options)
        return pipe.execute(raise_on_error=False)

    def _reply(self, reply: Any) -> Any:
        if isinstance(reply, BaseException):
            raise SessionBackendError(
                f"the Redis session backend failed ({type(reply).__name__}); "
                "check that Redis is reachable"
            ) from reply
        return reply

    def _swapped(self, swap: Swap, reply: Any) -> Replaced:
        """The outcome of a pipelined compare-and-set, from its reply."""
        if self._native:
            found = _as_bytes(reply)
            return Replaced(True, None) if found == swap.expected else Replaced(False, found)
        return Replaced(True, None) if reply == 1 else Replaced(False, _as_bytes(reply))

    async def delete(self, *keys: str) -> None:
        if not keys:
            return
        if self._replicas is None:
            await self._run(self.client.delete, *keys)
            return
        deleting = self._replicas.delete if self._is_async else self._replicas.delete_sync
        self._replicas.confirm(await self._run(deleting, self.client, keys))

    async def end(self, *keys: str) -> None:
        # DEL and PUBLISH in one write; with wait_for_replicas the PUBLISH its WAIT needs.
        if not keys:
            return
        message = ended_message(keys)
        if self._replicas is not None:
            deleting = self._replicas.delete if self._is_async else self._replicas.delete_sync
            self._replicas.confirm(await self._run(deleting, self.client, keys, message))
        elif self._sharded:  # keys in several slots: redis-py splits the DEL; both at once
            await asyncio.gather(
                self.delete(*keys), self._published(self._publish, CHANNEL, message)
            )
        elif self._is_async:
            await self._run(self._end_pipeline, keys, message)
        else:
            await self._run(self._end_pipeline_sync, keys, message)
        if self.notifications is None:  # a sync client: this process cannot subscribe
            self.local_notifications().deliver(list(keys))

    async def announce(self, *keys: str) -> None:
        if keys:
            await self._published(self._publish, CHANNEL, ended_message(keys))
            if self.notifications is None:
                self.local_notifications().deliver(list(keys))

    async def _published(self, *args: Any) -> Any:
        return await self._run(self._command, *args)

    async def _end_pipeline(self, keys: tuple[str, ...], message: bytes) -> None:
        pipeline = self.client.pipeline(transaction=False)
        pipeline.delete(*keys)
        pipeline.execute_command(self._publish, CHANNEL, message)
        _raise_first(await pipeline.execute(raise_on_error=False))

    def _end_pipeline_sync(self, keys: tuple[str, ...], message: bytes) -> None:
        pipeline = self.client.pipeline(transaction=False)
        pipeline.delete(*keys)
        pipeline.execute_command(self._publish, CHANNEL, message)
        _raise_first(pipeline.execute(raise_on_error=False))

    async def eviction_warning(self) -> str | None:
        policies = await self._eviction_policies()
        policy = next((policy for policy in policies or () if policy.startswith("allkeys-")), "")
        if policy.startswith("allkeys-"):
            return (
                f"Redis evicts any key when full (maxmemory-policy {policy}), the per-user "
                "session index included: use a volatile-* policy or noeviction, or "
                "revoke_user_sessions() may miss sessions"
            )
        return None

    async def expiring_index_is_safe(self) -> bool:
        # A volatile-* policy evicts keys with a time to live; unknown (CONFIG disabled, as on
        # many managed servers, whose default is often volatile-lru): assume it does.
        policies = await self._eviction_policies()
        return policies is not None and not any(p.startswith("volatile-") for p in policies)

    async def _eviction_policies(self) -> list[str] | None:
        """The server's ``maxmemory-policy`` (one per node of a cluster); None when unknown."""
        try:
            reply = await self._run(self.client.config_get, "maxmemory-policy")
        except SessionBackendError:
            return None  # CONFIG is often disabled on managed Redis: nothing to tell
        # {"maxmemory-policy": policy}; a cluster client may answer per node.
        replies = reply.values() if isinstance(reply, dict) else ()
        nodes = [value for value in replies if isinstance(value, dict)] or [reply]
        return [_as_text(v) for node in nodes for v in node.values() if isinstance(v, bytes | str)]

    async def _script(self, key: str, args: list[Any]) -> Any:
        """The compare-and-set script by its hash (pipelined), loaded first when the server
        lacks it (a restart, a failover, ``SCRIPT FLUSH``), as redis-py's ``Script`` does."""
        sha = self._replace_script.sha
        try:
            return await self._command("EVALSHA", sha, 1, key, *args)
        except self._errors as error:
            if type(error).__name__ != "NoScriptError":
                raise
        await self._loading.run(functools.partial(self.client.script_load, REPLACE_SCRIPT))
        return await self._command("EVALSHA", sha, 1, key, *args)

    async def _server_has_set_ifeq(self) -> bool:
        try:
            info = await self._run(self.client.info, "server", **self._info_options)
        except SessionBackendError as error:
            # Refused (INFO is in the @dangerous ACL category): keep the script, which works
            # everywhere. Unreachable: the change fails, and the next one asks again.
            if any(cls.__name__ == "ResponseError" for cls in type(error.__cause__).__mro__):
                return False
            raise
        return supports_set_ifeq(info)

    async def _run(self, command: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            async with _deadline(self.timeout):
                if self._is_async:
                    if self._cluster is not None:
                        # Until it has read the cluster's slots (when new, or after resetting
                        # itself on an error), redis-py's client sends commands to any node, and
                        # concurrent ones then close each other's connections while following
                        # the redirects. initialize() waits for one discovery; then it is a no-op.
                        await self._cluster.initialize()
                    return await command(*args, **kwargs)
                # On a timeout the thread is left to finish on its own (its client's socket
                # timeout ends it); the request does not wait for it.
                return await anyio.to_thread.run_sync(
                    functools.partial(command, *args, **kwargs),
                    abandon_on_cancel=True,
                    limiter=self._limiter,
                )
        except self._errors as error:
            raise SessionBackendError(
                f"the Redis session backend failed ({type(error).__name__}); "
                "check that Redis is reachable"
            ) from error

    def __repr__(self) -> str:
        return f"RedisBackend({type(self.client).__module__}.{type(self.client).__name__})"


def _deadline(seconds: float | None) -> AbstractAsyncContextManager[Any]:
    # asyncio.timeout costs about a third of anyio.fail_after, on every command.
    if sys.version_info >= (3, 11):
        return asyncio.timeout(seconds)
    return _anyio_deadline(seconds)  # pragma: no cover - Python 3.10


@contextlib.asynccontextmanager
async def _anyio_deadline(seconds: float | None) -> AsyncIterator[None]:  # pragma: no cover
    with anyio.fail_after(seconds):
        yield


def _pool_size(client: Any) -> int:
    """How many connections a sync client's pool holds; anyio's default thread count (40) for
    a pool without a bound."""
    size = getattr(getattr(client, "connection_pool", None), "max_connections", None)
    return size if isinstance(size, int) and 0 < size < 2**31 else UNBOUNDED_POOL_THREADS


def _raise_first(replies: list[Any]) -> None:
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply


def _as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _as_bytes(value: bytes | str | None) -> bytes | None:
    # A client built with decode_responses=True hands back str.
    return value.encode() if isinstance(value, str) else value
