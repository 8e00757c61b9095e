"""Automatic pipelining for ``RedisBackend``: the first command of an event-loop turn goes out at
once; the others of that turn go out together at the start of the next, as one pipeline (no
transaction) per node, in a task of its own. Each command keeps its own reply and error reply; a
connection error fails every command of its write; a caller cancelled before its command was
written is left out, one cancelled after never cuts a read half-way (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

__all__ = ["AutoPipeline", "Once"]

T = TypeVar("T")

_Queued = tuple[tuple[Any, ...], dict[str, Any], "asyncio.Future[Any]"]


class AutoPipeline:
    """Sends ``execute_command`` calls of an asyncio redis-py (or valkey-py) client, pipelined;
    for a cluster client (one with ``get_node_from_key``), one pipeline per node."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._node_of: Callable[[Any], Any] | None = getattr(client, "get_node_from_key", None)
        # The loop in whose current turn a command went out at once (or one that closed since).
        self._turn: asyncio.AbstractEventLoop | None = None
        self._queue: list[_Queued] = []
        self._writes: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def execute(self, *args: Any, **options: Any) -> Any:
        """Run one command, in a pipeline with the commands that follow it in this turn."""
        loop = asyncio.get_running_loop()
        if self._turn is not loop:
            self._turn, self._queue = loop, []
            loop.call_soon(self._end_turn, loop)
            return await self.client.execute_command(*args, **options)
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((args, options, future))
        return await future

    def _end_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._turn is not loop:
            return
        self._turn = None
        queue, self._queue = self._queue, []
        groups = [queue] if self._node_of is None else _by_node(queue, self._node_of)
        for group in groups:
            if group:
                write = loop.create_task(self._write(group))
                self._writes.add(write)
                write.add_done_callback(self._writes.discard)

    async def _write(self, queue: list[_Queued]) -> None:
        queue = [queued for queued in queue if not queued[2].done()]  # cancelled meanwhile
        try:
            if len(queue) == 1:
                args, options, future = queue[0]
                result = await self.client.execute_command(*args, **options)
                if not future.done():
                    future.set_result(result)
                return
            pipeline = self.client.pipeline(transaction=False)
            for args, options, _ in queue:
                pipeline.execute_command(*args, **options)
            results = await pipeline.execute(raise_on_error=False)
        except BaseException as error:
            failure = error if isinstance(error, Exception) else ConnectionError("interrupted")
            for _, _, future in queue:
                if not future.done():
                    future.set_exception(failure)
            if not isinstance(error, Exception):
                raise
            return
        for (_, _, future), result in zip(queue, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


def _by_node(queue: list[_Queued], node_of: Callable[[Any], Any]) -> list[list[_Queued]]:
    """The queued commands grouped by their key's node; one whose node is not known goes alone."""
    groups: dict[Any, list[_Queued]] = {}
    alone: list[list[_Queued]] = []
    for queued in queue:
        key = _key_of(queued[0])
        try:
            node = node_of(key) if key is not None else None
        except Exception:  # the slot is not covered (yet): redis-py will tell that caller
            node = None
        name = getattr(node, "name", None)
        if name is None:
            alone.append([queued])
        else:
            groups.setdefault(name, []).append(queued)
    return [*groups.values(), *alone]


def _key_of(args: tuple[Any, ...]) -> Any:
    """The key of one of the backend's commands (``EVALSHA sha 1 key``, ``GET key``, ...)."""
    if not args:
        return None
    name = args[0].upper() if isinstance(args[0], str) else args[0]
    if name in ("EVALSHA", "EVAL", b"EVALSHA", b"EVAL"):
        return args[3] if len(args) > 3 and args[2] in (1, "1", b"1") else None
    return args[1] if len(args) > 1 else None


class Once(Generic[T]):
    """Runs an operation once for all the callers that ask for it while it runs."""

    def __init__(self) -> None:
        self._running: asyncio.Future[T] | None = None

    async def run(self, operation: Callable[[], Awaitable[T]]) -> T:
        running = self._running
        if running is None or running.get_loop() is not asyncio.get_running_loop():
            running = self._running = asyncio.ensure_future(operation())
            running.add_done_callback(self._ended)
        return await asyncio.shield(running)  # one caller's cancellation is not the others'

    def _ended(self, running: asyncio.Future[T]) -> None:
        if self._running is running:
            self._running = None
