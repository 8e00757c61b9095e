"""HTTP driver: wrk against uvicorn, each contender cell paired with its bare baseline.

For every cell and connection count the baseline and the contender run back to back,
``rounds`` times, alternating who goes first; ratios are taken within each pair and the
median is reported, so that drift of the shared machine cancels out.
"""

import statistics
import sys
from typing import Any

from benchmarks import wrk
from benchmarks.asgi_client import SYNTHETIC_COOKIE
from benchmarks.contenders import CELLS, Cell
from benchmarks.uvicorn_server import Server

# Sessions per contender for the cells with a cookie: each request takes the next one, so no two
# of the (at most 32) requests in flight share a session, as with many distinct users.
SESSIONS = 128


def _cookies(cell: Cell, cookies: list[str]) -> list[str]:
    if not cell.cookie:
        return []
    return cookies[:1] if cell.one_session else cookies


def warm_up(server: Server, cookies: list[str], seconds: int) -> None:
    for cell in CELLS:
        if not cell.one_session:
            wrk.run(server.url(cell.path), 32, seconds, cell.method, _cookies(cell, cookies))


def run_cell(
    server: Server, cell: Cell, connections: int, seconds: int, cookies: list[str]
) -> wrk.WrkResult:
    result = wrk.run(
        server.url(cell.path), connections, seconds, cell.method, _cookies(cell, cookies)
    )
    if result.errors:
        raise RuntimeError(
            f"{server.contender.name} {cell.method} {cell.path}: {result.errors} failed requests"
        )
    return result


def measure_cell(
    contender: Server,
    baseline: Server,
    cell: Cell,
    connections: int,
    cookies: list[str],
    rounds: int,
    seconds: int,
) -> dict[str, Any]:
    runs: list[wrk.WrkResult] = []
    base_runs: list[wrk.WrkResult] = []
    for index in range(rounds):
        order = [(baseline, base_runs), (contender, runs)]
        if index % 2:
            order.reverse()
        for server, into in order:
            into.append(run_cell(server, cell, connections, seconds, cookies))

    pairs = list(zip(runs, base_runs, strict=True))
    return {
        "rps": statistics.median(r.requests_per_second for r in runs),
        "p99_ms": statistics.median(r.p99_ms for r in runs),
        "baseline_rps": statistics.median(b.requests_per_second for b in base_runs),
        "baseline_p99_ms": statistics.median(b.p99_ms for b in base_runs),
        "rps_ratio": statistics.median(
            r.requests_per_second / b.requests_per_second for r, b in pairs
        ),
        "p99_ratio": statistics.median(r.p99_ms / b.p99_ms for r, b in pairs),
        "runs": [r.as_dict() for r in runs],
        "baseline_runs": [b.as_dict() for b in base_runs],
    }


def session_cookies(server: Server) -> list[str]:
    """Cookies of ``SESSIONS`` fresh sessions; the bare apps get one cookie of typical size."""
    if not server.contender.sessions:
        return [SYNTHETIC_COOKIE]
    cookies = []
    for _ in range(SESSIONS):
        cookie = server.login_cookie()
        if cookie is None:
            raise RuntimeError(f"{server.contender.name}: GET /login set no session cookie")
        cookies.append(cookie)
    return cookies


def measure(
    contender: Server, baseline: Server, rounds: int, seconds: int, warmup_seconds: int
) -> dict[str, Any]:
    cookies = session_cookies(contender)
    warm_up(contender, cookies, warmup_seconds)
    cells: dict[str, Any] = {}
    for cell in CELLS:
        for connections in cell.connections:
            log = f"  http {contender.contender.name} {cell.name} c{connections}"
            print(log, file=sys.stderr, flush=True)
            cells[f"{cell.name}@{connections}"] = measure_cell(
                contender, baseline, cell, connections, cookies, rounds, seconds
            )
    return {"cookie_bytes": max(map(len, cookies)), "sessions": len(cookies), "cells": cells}
