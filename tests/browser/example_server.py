"""The example app (examples/fastapi_app) served by a real uvicorn process on a free port.

``ExampleServer(env)`` starts ``python -m uvicorn examples.fastapi_app.main:app`` from the
repository root with the given environment (``REDIS_URL``, ``SESSION_SECRET``,
``SESSION_SECRET_FILE``, ``SESSIONS_DB``); without ``REDIS_URL`` or ``DATABASE_URL`` its
sessions go to a SQLite file of its own in a temporary directory. ``restart()`` stops the process
and starts a new one on the same port and file, as a deploy does. Used as a context manager, it is
stopped when the block ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


class ExampleServer:
    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        port: int | None = None,
        app: str = "examples.fastapi_app.main:app",
        probe: str = "/api/products",
    ) -> None:
        self.app = app
        self.probe = probe
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"SESSION_SECRET", "SESSION_SECRET_FILE", "REDIS_URL", "DATABASE_URL"}
        }
        self._directory = tempfile.TemporaryDirectory(prefix="example-sessions-")
        self.env["SESSIONS_DB"] = str(Path(self._directory.name) / "sessions.db")
        self.env.update(env or {})
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = b""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "uvicorn", self.app]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}{self.probe}", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the example app did not start:\n{self.log.decode()}")
            time.sleep(0.05)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly (lifespan) on SIGINT
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            self.log += process.stdout.read()
            process.stdout.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> ExampleServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
