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

CONNECTIONS = (1, 32)


def warm_up(server: Server, cookie: str | None, seconds: int) -> None:
    for cell in CELLS:
        wrk.run(server.url(cell.path), 32, seconds, cell.method, cookie if cell.cookie else None)


def _run(
    server: Server, cell: Cell, connections: int, seconds: int, cookie: str | None
) -> wrk.WrkResult:
    result = wrk.run(
        server.url(cell.path), connections, seconds, cell.method, cookie if cell.cookie else None
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
    cookie: str | None,
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
            into.append(_run(server, cell, connections, seconds, cookie))

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


def measure(
    contender: Server, baseline: Server, rounds: int, seconds: int, warmup_seconds: int
) -> dict[str, Any]:
    cookie = contender.login_cookie()
    warm_up(contender, cookie or SYNTHETIC_COOKIE, warmup_seconds)
    cells: dict[str, Any] = {}
    for cell in CELLS:
        for connections in CONNECTIONS:
            print(
                f"  http {contender.contender.name} {cell.name} c{connections}",
                file=sys.stderr,
                flush=True,
            )
            cells[f"{cell.name}@{connections}"] = measure_cell(
                contender, baseline, cell, connections, cookie or SYNTHETIC_COOKIE, rounds, seconds
            )
    return {"cookie_bytes": len(cookie) if cookie else 0, "cells": cells}
