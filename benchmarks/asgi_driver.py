"""In-process driver: time a contender by calling its ASGI app directly, interleaved with
its bare baseline in the same process, and count what it leaves for the cycle collector.

Run inside the contender's virtual environment; prints one JSON document::

    python -m benchmarks.asgi_driver --contender ours_memory --baseline bare_starlette
"""

import argparse
import asyncio
import gc
import importlib
import json
import statistics
import sys
import time
from typing import Any

from benchmarks.asgi_client import (
    SYNTHETIC_COOKIE,
    ASGIApp,
    call_many,
    call_once,
    cookie_from_set_cookie,
    make_scope,
)
from benchmarks.contenders import BY_NAME, CELLS, CELLS_BY_NAME, Cell


def load_app(name: str) -> ASGIApp:
    app: ASGIApp = importlib.import_module(f"benchmarks.apps.{name}").app
    return app


async def login_cookie(app: ASGIApp) -> str | None:
    response = await call_once(app, make_scope("GET", "/login", None))
    if response.status != 200:
        raise RuntimeError(f"/login answered {response.status}: {response.body!r}")
    return cookie_from_set_cookie(response.header_values(b"set-cookie"))


async def check_sessions_work(app: ASGIApp, cookie: str) -> str | None:
    """Return why a change is not visible to the next read, or None when sessions work."""
    changed = await call_once(app, make_scope("POST", "/change", cookie))
    if changed.status != 200:
        return f"POST /change answered {changed.status}: {changed.body!r}"
    # Cookie-stored sessions travel in the new cookie; server-side ones keep their id.
    new_cookie = cookie_from_set_cookie(changed.header_values(b"set-cookie")) or cookie
    read = await call_once(app, make_scope("GET", "/read", new_cookie))
    if read.status != 200 or b"1" not in read.body:
        return f"after one change, GET /read answered {read.status}: {read.body!r}"
    return None


async def per_request_ns(app: ASGIApp, scope: dict[str, Any], count: int) -> float:
    start = time.perf_counter_ns()
    await call_many(app, scope, count)
    return (time.perf_counter_ns() - start) / count


class _ServerCycle:
    """What a server keeps per request, as uvicorn does: the scope, with ``receive`` and
    ``send`` as bound methods. An application that keeps ``send`` in the scope (say, in the
    session it puts there) makes a reference cycle with it, as it would under a server; with a
    module-level ``send`` the cycle would go unseen."""

    __slots__ = ("scope",)

    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope

    async def receive(self) -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: Any) -> None:
        return None


async def gc_objects_per_request(app: ASGIApp, scope: dict[str, Any], count: int) -> float:
    """Objects only the cycle collector could free, per request (collector off meanwhile),
    each request served as a server serves it (:class:`_ServerCycle`)."""
    gc.collect()
    gc.disable()
    try:
        for _ in range(count):
            cycle = _ServerCycle(dict(scope))
            await app(cycle.scope, cycle.receive, cycle.send)
        del cycle
        found = gc.collect()
    finally:
        gc.enable()
    return found / count


async def measure_cell(
    app: ASGIApp,
    baseline: ASGIApp,
    cell: Cell,
    cookie: str | None,
    rounds: int,
    batch_ms: float,
    gc_requests: int,
) -> dict[str, Any]:
    scope = make_scope(cell.method, cell.path, cookie if cell.cookie else None)
    for target in (app, baseline):
        response = await call_once(target, scope)
        if response.status != 200:
            raise RuntimeError(f"{cell.method} {cell.path} answered {response.status}")
        await call_many(target, scope, 200)  # warm caches, pools and the memory store

    slowest_ns = max([await per_request_ns(t, scope, 50) for t in (app, baseline)])
    batch = max(20, int(batch_ms * 1e6 / slowest_ns))

    times: list[float] = []
    base_times: list[float] = []
    for index in range(rounds):
        # Alternate who goes first so that neither always runs on a warmer machine.
        if index % 2 == 0:
            base_times.append(await per_request_ns(baseline, scope, batch))
            times.append(await per_request_ns(app, scope, batch))
        else:
            times.append(await per_request_ns(app, scope, batch))
            base_times.append(await per_request_ns(baseline, scope, batch))

    ratios = [t / b for t, b in zip(times, base_times, strict=True)]
    return {
        "us": statistics.median(times) / 1000,
        "baseline_us": statistics.median(base_times) / 1000,
        "ratio": statistics.median(ratios),
        # Interference only ever adds time, so the ratio of the best rounds is a useful check
        # on the median when the machine was busy.
        "ratio_of_best": min(times) / min(base_times),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "batch": batch,
        "rounds": rounds,
        "gc_objects": await gc_objects_per_request(app, scope, gc_requests),
        "baseline_gc_objects": await gc_objects_per_request(baseline, scope, gc_requests),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    app = load_app(args.contender)
    baseline = load_app(args.baseline)
    cookie = await login_cookie(app)
    if cookie:
        functional_error = await check_sessions_work(app, cookie)
    elif BY_NAME[args.contender].sessions:
        functional_error = "GET /login set no session cookie"
    else:
        functional_error = None
    result: dict[str, Any] = {
        "contender": args.contender,
        "baseline": args.baseline,
        "cookie_bytes": len(cookie) if cookie else 0,
        "functional_error": functional_error,
        "cells": {},
    }
    for name in args.cells.split(","):
        print(f"  in-process {args.contender} {name}", file=sys.stderr, flush=True)
        result["cells"][name] = await measure_cell(
            app,
            baseline,
            CELLS_BY_NAME[name],
            cookie or SYNTHETIC_COOKIE,
            args.rounds,
            args.batch_ms,
            args.gc_requests,
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contender", required=True)
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--cells", default=",".join(c.name for c in CELLS if c.inprocess))
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch-ms", type=float, default=100.0)
    parser.add_argument("--gc-requests", type=int, default=1000)
    args = parser.parse_args()
    json.dump(asyncio.run(run(args)), sys.stdout)


if __name__ == "__main__":
    main()
