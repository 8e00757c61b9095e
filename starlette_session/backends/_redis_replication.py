"""Deletions a failover cannot undo: ``RedisBackend(wait_for_replicas=N)``.

Replication is asynchronous: a master acknowledges a ``DEL`` before its replicas have it, and a
replica promoted after the master dies may still hold the sessions a log-out or a revocation
deleted. ``WAIT N timeout`` blocks until N replicas have every write of *its own connection*, so
the deletion and the ``WAIT`` go in one pipeline on one connection, with a ``PUBLISH`` between
them: a ``DEL`` that finds nothing is not replicated, a ``PUBLISH`` always is, so the ``WAIT``
covers everything the master took before it (a revocation's stamp, an earlier attempt's
``DEL``). A ``PUBLISH`` the server's ACL refuses is only needed when nothing was deleted.
A cluster spreads one deletion over several masters, each with its own replicas: not supported.
"""

from __future__ import annotations

from typing import Any

from starlette_session.backends._notify import CHANNEL as ENDED_CHANNEL
from starlette_session.exceptions import SessionReplicationError, SessionSettingsError

__all__ = ["CHANNEL", "ReplicaWait"]

#: Where the ``PUBLISH`` goes (nobody listens); an ACL user needs ``&starlette-session:*``.
CHANNEL = "starlette-session:replicated"


class ReplicaWait:
    """Deletes keys, then waits for ``replicas`` replicas to confirm, at most ``wait_timeout``."""

    def __init__(
        self, client: Any, timeout: float | None, replicas: int, wait_timeout: float
    ) -> None:
        if replicas < 1:
            raise SessionSettingsError("wait_for_replicas must be 0 (do not wait) or more")
        if callable(getattr(client, "get_nodes", None)):
            raise SessionSettingsError(
                "wait_for_replicas is not supported with a cluster client (a deletion spans "
                "masters); set min-replicas-to-write on the cluster's masters instead "
                "(docs/redis.md)"
            )
        if wait_timeout <= 0 or (timeout is not None and wait_timeout >= timeout):
            raise SessionSettingsError(
                f"wait_timeout must be more than 0 and less than the backend's timeout "
                f"({timeout} s)"
            )
        self.replicas = replicas
        self.wait_timeout = wait_timeout
        self._wait = ("WAIT", replicas, max(1, round(wait_timeout * 1000)))

    async def delete(self, client: Any, keys: tuple[str, ...], ended: bytes | None = None) -> int:
        """``DEL``, ``PUBLISH`` and ``WAIT`` on one connection of an asyncio client; how many
        replicas confirmed. ``ended``: the session-ended message the ``PUBLISH`` carries (on
        its channel), when the keys are sessions that ended."""
        pipeline = self._pipeline(client, keys, ended)
        return self._confirmed(await pipeline.execute(raise_on_error=False))

    def delete_sync(self, client: Any, keys: tuple[str, ...], ended: bytes | None = None) -> int:
        """The same with a sync client (run in a worker thread)."""
        return self._confirmed(self._pipeline(client, keys, ended).execute(raise_on_error=False))

    def _pipeline(self, client: Any, keys: tuple[str, ...], ended: bytes | None) -> Any:
        pipeline = client.pipeline(transaction=False)
        pipeline.delete(*keys)
        if ended is None:
            pipeline.publish(CHANNEL, b"")
        else:
            pipeline.publish(ENDED_CHANNEL, ended)
        pipeline.execute_command(*self._wait)
        return pipeline

    def _confirmed(self, replies: list[Any]) -> int:
        deleted, published, confirmed = replies
        for reply in (deleted, confirmed):
            if isinstance(reply, Exception):
                raise reply
        if isinstance(published, Exception) and not deleted:
            raise SessionReplicationError(
                f"nothing was left to delete, and the Redis user may not PUBLISH to {CHANNEL}, "
                "so the backend cannot tell whether the replicas have the earlier deletions: "
                "allow the channel (ACL &starlette-session:*) or check INFO replication"
            )
        return int(confirmed)

    def confirm(self, confirmed: int) -> None:
        """Raise :class:`SessionReplicationError` when too few replicas confirmed."""
        if confirmed < self.replicas:
            raise SessionReplicationError(
                f"the sessions were deleted on the Redis master, but {confirmed} of the "
                f"{self.replicas} replicas asked for (wait_for_replicas) confirmed it within "
                f"{self.wait_timeout} s: a failover now could bring them back. Check the "
                "replicas (INFO replication) and try again"
            )
