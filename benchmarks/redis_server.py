"""A private, throw-away redis-server on a free loopback port (never the system one)."""

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from benchmarks.cpus import pin
from benchmarks.ports import free_port, wait_listening


@contextmanager
def private_redis() -> Iterator[str]:
    """Start redis-server without persistence; yield its URL; stop it on exit."""
    binary = shutil.which("redis-server")
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
