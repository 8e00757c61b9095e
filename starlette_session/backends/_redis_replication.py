"""Deletions a failover cannot undo: ``RedisBackend(wait_for_replicas=N)``.

Replication is asynchronous: a master acknowledges a ``DEL`` before its replicas have it, and a
replica promoted after the master dies may still hold the sessions a log-out or a revocation
deleted. ``WAIT N timeout`` blocks until N replicas have every write of *its own connection*, so
the deletion and the ``WAIT`` go in one pipeline on one connection. Replication is in order, so
a confirmed deletion confirms every write the master took before it (a revocation's stamp).
A cluster spreads one deletion over several masters, each with its own replicas: not supported.
"""

from __future__ import annotations

from typing import Any

from starlette_session.exceptions import SessionReplicationError, SessionSettingsError

__all__ = ["ReplicaWait"]


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

    async def delete(self, client: Any, keys: tuple[str, ...]) -> int:
        """``DEL`` and ``WAIT`` on one connection of an asyncio client; how many confirmed."""
        pipeline = client.pipeline(transaction=False)
        pipeline.delete(*keys)
        pipeline.execute_command(*self._wait)
        return int((await pipeline.execute())[-1])

    def delete_sync(self, client: Any, keys: tuple[str, ...]) -> int:
        """The same with a sync client (run in a worker thread)."""
        pipeline = client.pipeline(transaction=False)
        pipeline.delete(*keys)
        pipeline.execute_command(*self._wait)
        return int(pipeline.execute()[-1])

    def confirm(self, confirmed: int) -> None:
        """Raise :class:`SessionReplicationError` when too few replicas confirmed."""
        if confirmed < self.replicas:
            raise SessionReplicationError(
                f"the sessions were deleted on the Redis master, but {confirmed} of the "
                f"{self.replicas} replicas asked for (wait_for_replicas) confirmed it within "
                f"{self.wait_timeout} s: a failover now could bring them back. Check the "
                "replicas (INFO replication) and try again"
            )
