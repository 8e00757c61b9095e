"""One contender served by uvicorn (one worker, no access log) on a free loopback port."""

import http.client
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.asgi_client import cookie_from_set_cookie
from benchmarks.contenders import REPO_DIR, Contender
from benchmarks.cpus import pin
from benchmarks.ports import free_port


@dataclass(frozen=True)
class Server:
    contender: Contender
    port: int
    pid: int = 0
    """The server process's (``taskset`` executes it in place)."""

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, timeout: float = 10.0) -> http.client.HTTPResponse:
        """One plain GET on a fresh connection; the body is read before returning."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            return response
        finally:
            connection.close()

    def login_cookie(self) -> str | None:
        response = self.get("/login")
        if response.status != 200:
            raise RuntimeError(f"{self.contender.name}: GET /login answered {response.status}")
        return cookie_from_set_cookie(response.headers.get_all("set-cookie") or [])


def _wait_ready(server: Server, process: "subprocess.Popen[bytes]", timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"uvicorn for {server.contender.name} exited with {process.returncode}"
            )
        try:
            if server.get("/unused", timeout=2).status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"uvicorn for {server.contender.name} did not answer /unused")
        time.sleep(0.1)


@contextmanager
def serve(
    contender: Contender, uvicorn_flags: list[str], redis_url: str, package: Path | None = None
) -> Iterator[Server]:
    """Serve ``contender`` with the working tree's package, or with the ``starlette_session``
    found in the directory ``package`` (another revision's, see ``compare_http``)."""
    port = free_port()
    command = [
        *pin([str(contender.python)], "app"),
        "-m",
        "uvicorn",
        contender.asgi_path,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--workers",
        "1",
        *uvicorn_flags,
    ]
    # `python -m` puts the working directory first on sys.path: the package's directory, or the
    # repository's; the repository (for benchmarks.apps) comes next through PYTHONPATH.
    path = str(REPO_DIR) if package is None else f"{package}:{REPO_DIR}"
    env = dict(os.environ, BENCH_REDIS_URL=redis_url, PYTHONPATH=path)
    process = subprocess.Popen(command, cwd=package or REPO_DIR, env=env)
    server = Server(contender, port, process.pid)
    try:
        _wait_ready(server, process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
