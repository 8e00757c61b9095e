"""The memory backend warns when it runs in one worker of a multi-process server, where each
worker would keep sessions of its own; a single process, or ``uvicorn --reload``, is not warned.

The detection runs in real processes started the way uvicorn starts its workers
(multiprocessing's spawn), and the whole warning under a real ``uvicorn --workers 2``.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
import time
import warnings
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import httpx
import pytest

from starlette_session.backends.memory import MemoryBackend, server_workers
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def report_workers(barrier: Barrier | None, results: Any) -> None:
    if barrier is not None:
        barrier.wait(timeout=60)  # every worker exists before any counts
    results.put(server_workers())
    if barrier is not None:
        barrier.wait(timeout=60)  # none ends while another still counts


def spawned_counts(processes: int, together: bool) -> list[int]:
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(processes) if together else None
    results = spawn.Queue()
    started = [
        spawn.Process(target=report_workers, args=(barrier, results)) for _ in range(processes)
    ]
    for process in started:
        process.start()
    counts = sorted(results.get(timeout=60) for _ in started)
    for process in started:
        process.join(timeout=60)
    return counts


def test_a_process_that_no_server_started_is_not_a_worker() -> None:
    assert server_workers() == 1


def test_spawned_workers_of_one_parent_count_each_other() -> None:
    assert spawned_counts(2, together=True) == [2, 2]


def test_a_lone_spawned_server_process_is_one_worker() -> None:
    # `uvicorn --reload` serves from one spawned process (next to multiprocessing's resource
    # tracker, a child of the same parent running another command line).
    assert spawned_counts(1, together=False) == [1]


FORKING_MASTER = textwrap.dedent(
    """
    import os
    import sys

    from starlette_session.backends.memory import server_workers

    os.environ["SERVER_SOFTWARE"] = "gunicorn/23.0.0"  # as gunicorn's Arbiter sets it
    workers = int(sys.argv[1])
    go, counted, done = os.pipe(), os.pipe(), os.pipe()
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # a worker: counts once every worker exists, ends once all have counted
            os.read(go[0], 1)
            os.write(counted[1], str(server_workers()).encode())
            os.read(done[0], 1)
            os._exit(0)
        children.append(pid)
    os.write(go[1], b"x" * workers)
    print(*(os.read(counted[0], 1).decode() for _ in range(workers)))
    os.write(done[1], b"x" * workers)
    for pid in children:
        os.waitpid(pid, 0)
    """
)


@pytest.mark.parametrize("workers", [2, 1])
def test_forked_workers_of_a_gunicorn_master_count_each_other(workers: int) -> None:
    result = subprocess.run(
        [sys.executable, "-c", FORKING_MASTER, str(workers)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split() == [str(workers)] * workers


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        (["gunicorn", "-w", "3", "app:app"], {}, 3),
        (["uvicorn", "app:app", "--workers", "4"], {}, 4),
        (["uvicorn", "app:app", "--workers=2"], {}, 2),
        (["gunicorn", "app:app"], {"WEB_CONCURRENCY": "5"}, 5),
        (["gunicorn", "app:app"], {}, 1),
    ],
)
def test_without_proc_the_command_line_gives_the_worker_count(
    tmp_path: Path, argv: list[str], environ: dict[str, str], expected: int
) -> None:
    gunicorn_worker = {"SERVER_SOFTWARE": "gunicorn/23.0.0", **environ}
    assert server_workers(str(tmp_path / "no-proc"), argv, gunicorn_worker) == expected
    assert server_workers(str(tmp_path / "no-proc"), argv, environ) == 1  # not a worker


async def test_a_single_process_is_not_warned() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert await MemoryBackend().create("key", b"value", 60)


APP = textwrap.dedent(
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from starlette_session import SessionMiddleware, SessionStore, load_session


    async def count(request: Request) -> PlainTextResponse:
        session = await load_session(request)
        session["visits"] = session.get("visits", 0) + 1
        return PlainTextResponse(str(session["visits"]))


    app = Starlette(routes=[Route("/", count)])
    app.add_middleware(
        SessionMiddleware,
        secret_key="a-secret-of-forty-characters-0123456789ab",
        store=SessionStore(),
    )
    """
)


def serve_and_visit(app_dir: Path, *options: str) -> str:
    """Serve ``app_dir/workers_app.py`` with uvicorn, visit it ten times, return its stderr."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "workers_app:app", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--app-dir", str(app_dir), *options],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        for _ in range(10):  # new visitors: each creates a session in the worker it reaches
            assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text == "1"
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=60)
    return stderr


@pytest.mark.slow
@pytest.mark.parametrize("workers", [2, 1])
def test_uvicorn_workers_get_a_warning_at_the_applications_line(
    tmp_path: Path, workers: int
) -> None:
    app = tmp_path / "workers_app.py"
    app.write_text(APP)
    stderr = serve_and_visit(tmp_path, *(["--workers", str(workers)] if workers > 1 else []))
    warned = f"{app}:17: UserWarning: MemoryBackend keeps sessions in the memory of one process"
    if workers > 1:
        assert warned in stderr, stderr
        assert "one of 2 worker processes" in stderr
        assert "RedisBackend (Redis or Valkey), SQLBackend (SQLite" in stderr
    else:
        assert "MemoryBackend" not in stderr, stderr
