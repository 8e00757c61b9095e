"""Redis or Valkey through redis-py (or valkey-py, never imported here): the client is the app's.

One command per operation: ``GETEX`` to read, ``SET NX EX`` to create, one compare-and-set to
change (``SET ... IFEQ`` where every server has it, else a Lua script); a new id's three writes
in one pipeline. ``docs/redis.md`` explains each choice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import re
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Literal, Protocol

import anyio
import anyio.to_thread

from starlette_session.backends._notify import CHANNEL, ended_message
from starlette_session.backends._pipelining import AutoPipeline, Once
from starlette_session.backends._redis_notify import RedisNotifications
from starlette_session.backends.base import CombinedUpdates, Created, Replaced, Swap
from starlette_session.exceptions import (
    SessionBackendError,
    SessionReplicationError,
    SessionSettingsError,
)

try:
    import redis
    import redis.asyncio
    from redis.exceptions import RedisClusterException, RedisError
except ImportError as error:  # pragma: no cover - exercised by the no-extras CI run
    raise ImportError(
        "the Redis backend needs redis-py: pip install 'starlette-session[redis]'"
    ) from error

__all__ = ["RedisBackend", "RedisLikeClient"]

#: The compare-and-set of servers without ``SET ... IFEQ``: 1 when stored, else what the key held.
REPLACE_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if not current then return false end
if current ~= ARGV[1] then return current end
if ARGV[3] == '0' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return 1
"""
#: The first version of each server whose ``SET`` takes ``IFEQ`` together with ``GET``.
SET_IFEQ_SINCE = {"valkey": (8, 1), "redis": (8, 4)}
#: Where a replicated deletion's ``PUBLISH`` goes (nobody listens; an ACL user needs the channel).
REPLICATED = "starlette-session:replicated"
#: Commands for one pipeline: each one's arguments and options.
_Commands = list[tuple[tuple[Any, ...], dict[str, Any]]]
#: The worker threads of a sync client whose pool has no bound: anyio's default.
UNBOUNDED_POOL_THREADS = 40
# RedisClusterException ("cannot be connected") is not a RedisError, nor Valkey's a ValkeyError.
_ERROR_BASES = ("RedisError", "RedisClusterException", "ValkeyError", "ValkeyClusterException")
_DRIVER_ERRORS = (RedisError, RedisClusterException, OSError, TimeoutError)


class RedisLikeClient(Protocol):
    """What the backend uses of a client: redis-py's API, as valkey-py's clients have it too."""

    def execute_command(self, *args: Any, **options: Any) -> Any: ...

    def register_script(self, script: Any) -> Any: ...


class RedisBackend(CombinedUpdates):
    """Sessions in Redis or Valkey, each key with a time to live.

    ``client``: a ``redis.asyncio.Redis`` (also from ``Sentinel.master_for()``) or ``RedisCluster``,
    or a sync ``redis.Redis``, whose commands run in worker threads of its own (as many as its
    pool has connections); or the same from valkey-py. ``timeout`` (seconds) bounds every
    operation, waiting for a connection or a thread included; a failure or a timeout raises
    :class:`SessionBackendError`. ``compare_and_set="auto"`` asks the servers once whether they
    have ``SET ... IFEQ`` (a syntax error later switches to the script for good); ``"script"``
    always runs the Lua script. ``wait_for_replicas=N`` makes every deletion wait until N
    replicas have it, at most ``wait_timeout`` seconds, else raise
    :class:`SessionReplicationError`: a failover cannot undo it (not with a cluster client).
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
        is_cluster = callable(getattr(client, "get_nodes", None))
        if wait_for_replicas < 0:
            raise SessionSettingsError("wait_for_replicas must be 0 (do not wait) or more")
        if wait_for_replicas and is_cluster:
            raise SessionSettingsError(
                "wait_for_replicas is not supported with a cluster client (a deletion spans "
                "masters); set min-replicas-to-write on the cluster's masters instead "
                "(docs/redis.md)"
            )
        if wait_for_replicas and (
            wait_timeout <= 0 or (timeout is not None and wait_timeout >= timeout)
        ):
            raise SessionSettingsError(
                f"wait_timeout must be more than 0 and less than the backend's timeout "
                f"({timeout} s)"
            )
        self.client: Any = client
        self.timeout = timeout
        self._replicas, self._wait_timeout = wait_for_replicas, wait_timeout
        self._wait = ("WAIT", wait_for_replicas, max(1, round(wait_timeout * 1000)))
        self._is_async = isinstance(
            client, redis.asyncio.Redis | redis.asyncio.RedisCluster
        ) or inspect.iscoroutinefunction(getattr(client, "execute_command", None))
        self._cluster: Any = client if self._is_async and is_cluster else None
        self._info_options = {"target_nodes": "all"} if is_cluster else {}
        # One connection runs a pipeline's commands in order; a cluster's go to several nodes.
        self._batches = not is_cluster and callable(getattr(client, "pipeline", None))
        self._errors = _driver_errors(client)
        self._replace_script: Any = client.register_script(REPLACE_SCRIPT)
        # A sync client's threads are its own: a stalled Redis holds none of Starlette's.
        self._limiter = None if self._is_async else anyio.CapacityLimiter(_pool_size(client))
        pipelined = self._is_async and callable(getattr(client, "pipeline", None))
        self._command: Callable[..., Any] = (
            AutoPipeline(client).execute if pipelined else client.execute_command
        )
        self._native: bool | None = None if compare_and_set == "auto" else False
        # Concurrent first changes ask the server once, and load a missing script once.
        self._probing: Once[bool] = Once()
        self._loading: Once[Any] = Once()
        self._publish = "SPUBLISH" if is_cluster else "PUBLISH"
        self._sharded = is_cluster
        if self._is_async and callable(getattr(client, "pubsub", None)):
            self.notifications = RedisNotifications(client, self._published, is_cluster)

    @property
    def native_compare_and_set(self) -> bool | None:
        """Whether changes use ``SET ... IFEQ`` (True) or the script (False); None until known."""
        return self._native

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        args = ("GET", key) if ttl is None else ("GETEX", key, "EX", ttl)
        return _as_bytes(await self._run(self._command, *args))

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        return bool(await self._run(self._command, *_set_nx(key, value, ttl)))

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        if self._native is None:
            self._native = await self._probing.run(self._server_has_set_ifeq)
        if self._native:
            try:
                # get=True: redis-py then hands back the GET reply instead of a bool.
                args = _set_ifeq(key, expected, value, ttl)
                return _replaced(expected, await self._run(self._command, *args, get=True), True)
            except SessionBackendError as error:
                if not _is_syntax_error(error.__cause__):
                    raise
                self._native = False  # nothing was stored: the script does it below
        script_args = [expected, value, ttl or 0]
        if self._is_async:
            reply = await self._run(self._script, key, script_args)
        else:
            reply = await self._run(self._replace_script, keys=[key], args=script_args)
        return _replaced(expected, reply, False)

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
        swap = then_replace
        if not self._batches:  # a cluster: the keys live on several nodes, in no common order
            return await super().create_then(
                key, value, ttl, then_replace=swap, then_read=then_read, logged_in=logged_in
            )
        if swap is not None and self._native is None:
            self._native = await self._probing.run(self._server_has_set_ifeq)
        native = self._native
        commands: _Commands = [(_set_nx(key, value, ttl), {})]
        if swap is not None:
            if native:
                commands.append((_set_ifeq(*swap), {"get": True}))
            else:
                args = (swap.key, swap.expected, swap.value, swap.ttl or 0)
                commands.append((("EVALSHA", self._replace_script.sha, 1, *args), {}))
            if self.notifications is not None:
                # Told before the outcome: live connections end early (and reconnect), never late.
                commands.append(((self._publish, CHANNEL, ended_message((swap.key,))), {}))
        if then_read is not None:
            commands.append((("GET", then_read), {}))
        replies = await self._run(self._pipelined, commands)
        if not self._reply(replies[0]):  # never with fresh 256-bit ids: put the old entry back
            undo = swap is not None and not isinstance(replies[1], BaseException)
            if undo and swap is not None and _replaced(swap.expected, replies[1], native).stored:
                await self.replace(swap.key, swap.value, swap.expected, swap.ttl)
            return Created(False)
        replaced, reread = None, False
        if swap is not None:
            if isinstance(reply := replies[1], BaseException):
                # No script or no IFEQ (a restart, a failover): alone now, and the read after it.
                if _is_syntax_error(reply):
                    self._native = False
                elif type(reply).__name__ != "NoScriptError":
                    self._reply(reply)
                replaced, reread = await self.replace(*swap), True
            else:
                replaced = _replaced(swap.expected, reply, native)
            if replaced.stored and self.notifications is None:  # a sync client: no channel
                self.local_notifications().deliver([swap.key])
        if then_read is None:
            return Created(True, replaced)
        if reread:
            return Created(True, replaced, await self.read(then_read))
        return Created(True, replaced, _as_bytes(self._reply(replies[-1])))

    def _pipelined(self, commands: _Commands) -> Any:
        """``commands`` in one pipeline (no transaction) on one connection: their replies, an
        error reply in its command's place (a coroutine for an asyncio client)."""
        pipe = self.client.pipeline(transaction=False)
        for args, options in commands:
            pipe.execute_command(*args, **options)
        return pipe.execute(raise_on_error=False)

    def _reply(self, reply: Any) -> Any:
        if isinstance(reply, BaseException):
            raise _failed(reply) from reply
        return reply

    async def delete(self, *keys: str) -> None:
        if keys and self._replicas:
            await self._delete_replicated(keys, (self._publish, REPLICATED, b""))
        elif keys:
            await self._run(self.client.delete, *keys)

    async def end(self, *keys: str) -> None:
        if not keys:
            return
        publish = (self._publish, CHANNEL, ended_message(keys))
        if self._replicas:
            await self._delete_replicated(keys, publish)
        elif self._sharded:  # keys in several slots: redis-py splits the DEL; both at once
            await asyncio.gather(self.delete(*keys), self._published(*publish))
        else:  # DEL and PUBLISH in one write
            for reply in await self._run(self._pipelined, [(("DEL", *keys), {}), (publish, {})]):
                self._reply(reply)
        if self.notifications is None:  # a sync client: this process cannot subscribe
            self.local_notifications().deliver(list(keys))

    async def _delete_replicated(self, keys: tuple[str, ...], publish: tuple[Any, ...]) -> None:
        # WAIT covers its own connection's writes; the PUBLISH is replicated even when the DEL
        # finds nothing (docs/redis.md).
        commands: _Commands = [(("DEL", *keys), {}), (publish, {}), (self._wait, {})]
        deleted, published, confirmed = await self._run(self._pipelined, commands)
        self._reply(deleted)
        self._reply(confirmed)
        if isinstance(published, Exception) and not deleted:
            raise SessionReplicationError(
                f"nothing was left to delete, and the Redis user may not PUBLISH to {REPLICATED}, "
                "so the backend cannot tell whether the replicas have the earlier deletions: "
                "allow the channel (ACL &starlette-session:*) or check INFO replication"
            )
        if confirmed < self._replicas:
            raise SessionReplicationError(
                f"the sessions were deleted on the Redis master, but {confirmed} of the "
                f"{self._replicas} replicas asked for (wait_for_replicas) confirmed it within "
                f"{self._wait_timeout} s: a failover now could bring them back. Check the "
                "replicas (INFO replication) and try again"
            )

    async def announce(self, *keys: str) -> None:
        if keys:
            await self._published(self._publish, CHANNEL, ended_message(keys))
            if self.notifications is None:
                self.local_notifications().deliver(list(keys))

    async def _published(self, *args: Any) -> Any:
        return await self._run(self._command, *args)

    async def eviction_warning(self) -> str | None:
        policies = await self._eviction_policies()
        policy = next((policy for policy in policies or () if policy.startswith("allkeys-")), "")
        if policy:
            return (
                f"Redis evicts any key when full (maxmemory-policy {policy}), the per-user "
                "session index included: use a volatile-* policy or noeviction, or "
                "revoke_user_sessions() may miss sessions"
            )
        return None

    async def expiring_index_is_safe(self) -> bool:
        # Unknown (CONFIG disabled, as on managed servers, often volatile-lru): assume volatile.
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
            # Refused by an ACL (INFO is @dangerous): the script. Unreachable: ask again later.
            if _is_reply_error(error.__cause__):
                return False
            raise
        return supports_set_ifeq(info)

    async def _run(self, command: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            async with _deadline(self.timeout):
                if self._is_async:
                    if self._cluster is not None:
                        # Until it knows the slots, concurrent commands to any node close each
                        # other's connections following redirects: one discovery, then a no-op.
                        await self._cluster.initialize()
                    return await command(*args, **kwargs)
                # On a timeout the thread finishes on its own (ended by its socket timeout).
                return await anyio.to_thread.run_sync(
                    functools.partial(command, *args, **kwargs),
                    abandon_on_cancel=True,
                    limiter=self._limiter,
                )
        except self._errors as error:
            raise _failed(error) from error

    def __repr__(self) -> str:
        return f"RedisBackend({type(self.client).__module__}.{type(self.client).__name__})"


def supports_set_ifeq(info: Mapping[str, Any]) -> bool:
    """Whether every server in ``info`` (an ``INFO server`` reply, or a cluster's: one per node)
    runs ``SET ... IFEQ ... GET``. Valkey's ``redis_version`` stays 7.2.4: its
    ``valkey_version`` counts; a fork that claims a recent Redis but lacks ``IFEQ`` answers
    the first change with a syntax error, which the backend takes as "no"."""
    if "redis_version" not in info:  # a cluster's reply: one INFO per node
        replies = list(info.values())
        return bool(replies) and all(
            isinstance(reply, Mapping) and supports_set_ifeq(reply) for reply in replies
        )
    if "valkey_version" in info:
        return _version(info["valkey_version"]) >= SET_IFEQ_SINCE["valkey"]
    return _version(info["redis_version"]) >= SET_IFEQ_SINCE["redis"]


def _version(value: object) -> tuple[int, ...]:
    # "8.4.0", or "8.4-rc1"; redis-py may have turned a two-part version into a float.
    return tuple(int(part) for part in re.findall(r"\d+", str(value))[:2])


def _set_nx(key: str, value: bytes, ttl: int | None) -> tuple[Any, ...]:
    return ("SET", key, value, "NX") if ttl is None else ("SET", key, value, "EX", ttl, "NX")


def _set_ifeq(key: str, expected: bytes, value: bytes, ttl: int | None) -> tuple[Any, ...]:
    # Without EX a SET drops the key's time to live: ttl=None means no expiry, as asked.
    args: tuple[Any, ...] = ("SET", key, value, "IFEQ", expected, "GET")
    return args if ttl is None else (*args, "EX", ttl)


def _replaced(expected: bytes, reply: Any, native: bool | None) -> Replaced:
    """A compare-and-set's outcome from its reply: ``SET ... GET``'s (native) or the script's."""
    stored = _as_bytes(reply) == expected if native else reply == 1
    return Replaced(True, None) if stored else Replaced(False, _as_bytes(reply))


def _is_reply_error(error: BaseException | None) -> bool:
    return any(cls.__name__ == "ResponseError" for cls in type(error).__mro__)


def _is_syntax_error(error: BaseException | None) -> bool:
    """Whether the server refused a command's arguments (an unknown ``IFEQ``)."""
    return _is_reply_error(error) and "syntax error" in str(error).lower()


def _driver_errors(client: object) -> tuple[type[BaseException], ...]:
    """The base errors of the library ``client`` comes from (already imported, since the
    application built the client): found in ``sys.modules``, never imported here."""
    found = []
    for cls in type(client).__mro__:
        module = sys.modules.get(f"{cls.__module__.partition('.')[0]}.exceptions")
        for name in _ERROR_BASES:
            base = getattr(module, name, None)
            if isinstance(base, type) and issubclass(base, BaseException):
                found.append(base)
    return tuple(dict.fromkeys((*found, *_DRIVER_ERRORS)))


def _failed(error: BaseException) -> SessionBackendError:
    return SessionBackendError(
        f"the Redis session backend failed ({type(error).__name__}); check that Redis is reachable"
    )


if sys.version_info >= (3, 11):  # asyncio.timeout costs a third of anyio.fail_after
    _deadline = asyncio.timeout
else:  # pragma: no cover - Python 3.10

    @contextlib.asynccontextmanager
    async def _deadline(seconds: float | None) -> AsyncIterator[None]:
        with anyio.fail_after(seconds):
            yield


def _pool_size(client: Any) -> int:
    size = getattr(getattr(client, "connection_pool", None), "max_connections", None)
    return size if isinstance(size, int) and 0 < size < 2**31 else UNBOUNDED_POOL_THREADS


def _as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _as_bytes(value: bytes | str | None) -> bytes | None:
    # A client built with decode_responses=True hands back str.
    return value.encode() if isinstance(value, str) else value
