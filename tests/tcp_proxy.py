"""A TCP proxy in front of a real server, which a test can take down or freeze.

``TcpProxy(host, port)`` listens on a free 127.0.0.1 port and forwards every connection to the
real server, from an event loop in a thread of its own (so it keeps working while the test's
loop waits). Clients connect to ``proxy.port`` instead of the server's:

- ``down()``: the listening socket closes and every connection is cut, as when the server is
  stopped or crashes (new connections are refused); ``up()`` listens again on the same port.
- ``frozen()`` (a context manager): connections are accepted but no byte moves in either
  direction, as with a hung server or a network that drops packets; bytes sent meanwhile are
  delivered afterwards.

The server behind it is real and untouched; only the path to it is cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

__all__ = ["TcpProxy"]

T = TypeVar("T")
HOST = "127.0.0.1"


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target_host``:``target_port``; see the module docstring."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._flowing: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self._call(self._init())
        self.up()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def up(self) -> None:
        """Accept connections (again, on the same port)."""
        self._call(self._listen())

    def down(self) -> None:
        """Refuse new connections and cut the open ones."""
        self._call(self._close())

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Within the block, accept connections but forward nothing."""
        self._loop.call_soon_threadsafe(self._event().clear)
        try:
            yield
        finally:
            self._loop.call_soon_threadsafe(self._event().set)

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def _event(self) -> asyncio.Event:
        assert self._flowing is not None
        return self._flowing

    async def _init(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()

    async def _listen(self) -> None:
        if self._server is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, self.port))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._serve, sock=sock)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        self._writers.add(client)
        await self._event().wait()  # a frozen server does not even answer the handshake
        try:
            server_reader, server = await asyncio.open_connection(*self.target)
        except OSError:
            client.transport.abort()
            return
        self._writers.add(server)
        await asyncio.gather(self._pump(client_reader, server), self._pump(server_reader, client))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                await self._event().wait()
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
