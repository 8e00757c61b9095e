"""Over HTTP, this library at another revision against the working tree, in one run.

    benchmarks/.venvs/ours/bin/python -m benchmarks.compare_http REV [CONTENDER ...]
        [--cells read@32,change@1] [--rounds 6] [--seconds 2]

For each contender three uvicorn servers run at once, each on the app's CPU: its bare baseline,
the contender with REV's package (``git archive``) and with the working tree's. For every cell and
round, wrk loads the three one after another, in an order that changes each round; each ratio is
taken to the baseline's run of the same round, and the median over the rounds is printed, beside
the server's CPU time per request (its process's user + system time over wrk's requests, which
time stolen by other machines' work does not inflate). The default contender is ``ours_memory``,
the default cells every HTTP cell.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

from benchmarks import http_driver
from benchmarks.contenders import BY_NAME, CELLS, Cell, package_root
from benchmarks.cpus import raise_priority
from benchmarks.redis_server import private_redis
from benchmarks.run import private_servers, uvicorn_flags
from benchmarks.uvicorn_server import Server, serve


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(
    server: Server, cell: Cell, connections: int, seconds: int, cookies: list[str]
) -> tuple[float, float, float]:
    """Requests per second, p99 in ms, and the server's CPU µs per request."""
    pid = server.pid
    before = _cpu_seconds(pid) if pid else 0.0
    result = http_driver.run_cell(server, cell, connections, seconds, cookies)
    cpu = (_cpu_seconds(pid) - before) if pid else 0.0
    return result.requests_per_second, result.p99_ms, cpu / max(1, result.requests) * 1e6


def compare(
    names: list[str], package: Path, cells: list[tuple[Cell, int]], rounds: int, seconds: int
) -> None:
    flags = uvicorn_flags()
    with private_redis() as redis_url, private_servers(names):
        for name in names:
            contender = BY_NAME[name]
            baseline = BY_NAME[contender.baseline]
            with ExitStack() as stack:
                servers = {
                    "bare": stack.enter_context(serve(baseline, flags, redis_url)),
                    "rev": stack.enter_context(serve(contender, flags, redis_url, package)),
                    "now": stack.enter_context(serve(contender, flags, redis_url)),
                }
                cookies = {label: http_driver.session_cookies(s) for label, s in servers.items()}
                for label, server in servers.items():
                    http_driver.warm_up(server, cookies[label], 1)
                for cell, connections in cells:
                    found: dict[str, list[tuple[float, float, float]]] = {k: [] for k in servers}
                    order = list(servers)
                    for index in range(rounds):
                        for label in order[index % 3 :] + order[: index % 3]:
                            found[label].append(
                                _measure(servers[label], cell, connections, seconds, cookies[label])
                            )
                    _print(name, f"{cell.name}@{connections}", found)


def _print(name: str, cell: str, found: dict[str, list[tuple[float, float, float]]]) -> None:
    bare = found["bare"]
    for label in ("rev", "now"):
        runs = found[label]
        rps = statistics.median(r[0] / b[0] for r, b in zip(runs, bare, strict=True))
        p99 = statistics.median(r[1] / b[1] for r, b in zip(runs, bare, strict=True))
        cpu = statistics.median(r[2] for r in runs)
        print(
            f"{name:28} {cell:24} {label}: req/s {rps:.3f}x  p99 {p99:5.2f}x  "
            f"cpu {cpu:6.1f} µs/request (bare {statistics.median(b[2] for b in bare):.1f})",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revision")
    parser.add_argument("contenders", nargs="*", default=["ours_memory"])
    parser.add_argument("--cells", help="comma-separated NAME@CONNECTIONS (default: all)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=2)
    args = parser.parse_args()
    by_name = {cell.name: cell for cell in CELLS}
    if args.cells:
        cells = [(by_name[n], int(c)) for n, c in (i.split("@") for i in args.cells.split(","))]
    else:
        cells = [(cell, c) for cell in CELLS for c in cell.connections]
    raise_priority()
    with tempfile.TemporaryDirectory(prefix="bench-rev-") as workdir:
        package = package_root(args.revision, Path(workdir))
        compare(args.contenders, package, cells, args.rounds, args.seconds)


if __name__ == "__main__":
    main()
