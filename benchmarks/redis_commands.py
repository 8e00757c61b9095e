"""Redis commands per request, from Redis' own bookkeeping.

For K requests of one endpoint (in-process, after a warm-up so that no connection setup is
counted) this reports:

* ``per_command``: ``INFO commandstats`` calls per request, by command name. Redis counts
  the commands a Lua script runs as calls too, so their sum is ``total``;
* ``top_level`` and ``in_scripts``: the same commands split by who sent them, from
  ``MONITOR`` (which tags script-run commands with ``lua``);
* ``round_trips``: how many times the app's redis-py client wrote to the socket (a
  pipeline or a transaction is one);
* ``usec_per_call``: the server's own time per call of each command (``INFO commandstats``),
  from a second batch run without ``MONITOR`` (which slows every command down). A script's
  time includes the commands it ran, which are listed with their own time as well.

Run inside the contender's virtual environment; prints one JSON document.
"""

import argparse
import asyncio
import json
import sys
import threading
import uuid
from collections import Counter
from typing import Any

import redis
from redis.asyncio.connection import AbstractConnection

from benchmarks.asgi_client import call_many, make_scope
from benchmarks.asgi_driver import load_app, login_cookie
from benchmarks.contenders import CELLS, CELLS_BY_NAME


class MonitorTap:
    """Collects MONITOR lines in a thread until a sentinel ECHO arrives."""

    def __init__(self, url: str, ignore_client: str) -> None:
        self.sentinel = f"bench-end-{uuid.uuid4().hex}"
        self.ignore_client = ignore_client
        self.sources: Counter[str] = Counter()
        self._client = redis.Redis.from_url(url)
        # redis-py leaves Monitor untyped.
        self._monitor: Any = self._client.monitor()  # type: ignore[no-untyped-call]
        self._monitor.__enter__()  # MONITOR is active once this returns
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while True:
            entry = self._monitor.next_command()
            if self.sentinel in entry["command"]:
                return
            client = f"{entry['client_address']}:{entry['client_port']}"
            if client != self.ignore_client:
                self.sources["lua" if entry["client_type"] == "lua" else "client"] += 1

    def stop(self, control: redis.Redis) -> None:
        control.echo(self.sentinel)
        self._thread.join(timeout=30)
        self._monitor.__exit__(None, None, None)
        self._client.close()


class RoundTripCounter:
    """Counts socket writes of every redis.asyncio connection while active."""

    def __init__(self) -> None:
        self.count = 0
        self._original = AbstractConnection.send_packed_command

    def __enter__(self) -> "RoundTripCounter":
        original = self._original

        async def counted(conn: AbstractConnection, *args: Any, **kwargs: Any) -> None:
            self.count += 1
            await original(conn, *args, **kwargs)

        AbstractConnection.send_packed_command = counted  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        AbstractConnection.send_packed_command = self._original  # type: ignore[method-assign]


def per_command_usec(commandstats: dict[str, Any]) -> dict[str, float]:
    return {
        key.removeprefix("cmdstat_"): float(stats["usec_per_call"])
        for key, stats in commandstats.items()
        if key != "cmdstat_config|resetstat"
    }


def per_command_calls(commandstats: dict[str, Any]) -> dict[str, int]:
    calls: dict[str, int] = {}
    for key, stats in commandstats.items():
        name = key.removeprefix("cmdstat_")
        if name != "config|resetstat":  # our own bookkeeping
            calls[name] = int(stats["calls"])
    return calls


async def count_cell(url: str, app_name: str, cell_name: str, requests: int) -> dict[str, Any]:
    app = load_app(app_name)
    cell = CELLS_BY_NAME[cell_name]
    cookie = await login_cookie(app)
    scope = make_scope(cell.method, cell.path, cookie if cell.cookie else None)
    await call_many(app, scope, 20)  # open pooled connections before counting

    control = redis.Redis.from_url(url)
    tap = MonitorTap(url, ignore_client=str(control.client_info()["addr"]))
    try:
        control.config_resetstat()
        with RoundTripCounter() as round_trips:
            await call_many(app, scope, requests)
        calls = per_command_calls(control.info("commandstats"))
    finally:
        tap.stop(control)
    try:
        control.config_resetstat()
        await call_many(app, scope, requests)
        usec = per_command_usec(control.info("commandstats"))
    finally:
        control.close()

    return {
        "requests": requests,
        "per_command": {name: n / requests for name, n in sorted(calls.items())},
        "total": sum(calls.values()) / requests,
        "top_level": tap.sources["client"] / requests,
        "in_scripts": tap.sources["lua"] / requests,
        "round_trips": round_trips.count / requests,
        "usec_per_call": {name: round(value, 2) for name, value in sorted(usec.items())},
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    for name in args.cells.split(","):
        cells[name] = await count_cell(args.redis_url, args.contender, name, args.requests)
    return {"contender": args.contender, "cells": cells}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contender", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--cells", default=",".join(c.name for c in CELLS))
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    json.dump(asyncio.run(run(args)), sys.stdout)


if __name__ == "__main__":
    main()
