"""The figures that documentation pages quote, rendered from one run's saved results.

A page holds each figure between two markers::

    <!-- benchmarks:<name> (written by benchmarks/report.py) -->
    ...
    <!-- benchmarks:end -->

``benchmarks.report`` rewrites every marked section from ``benchmarks/results/latest.json``, and
``tests/test_tutorial/test_benchmark_figures.py`` checks that the pages hold what the saved
results give: a figure is generated, never copied by hand. No matplotlib here, so that the test
runs in the project's own environment.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

END = "<!-- benchmarks:end -->"


def start(name: str) -> str:
    return f"<!-- benchmarks:{name} (written by benchmarks/report.py) -->"


def _ratio(value: float) -> str:
    return f"{value:.2f}x"


def _cell(results: dict[str, Any], driver: str, contender: str, cell: str) -> dict[str, Any]:
    found: dict[str, Any] = results[driver][contender]["cells"][cell]
    return found


def _commands(results: dict[str, Any], contender: str) -> str:
    cells = results["redis_commands"][contender]["cells"]
    return " / ".join(f"{cells[c]['top_level']:g}" for c in ("unused_cookie", "read", "change"))


def _venv(results: dict[str, Any], venv: str, package: str) -> str:
    version: str = results["environment"]["venvs"][venv][package]
    return version


def _cores(results: dict[str, Any]) -> str:
    # "Intel(R) Xeon(R) Processor, 2 cores, Linux-..." -> "2 cores"
    parts = [p.strip() for p in results["environment"]["machine"].split(",")]
    return next((p for p in parts if p.endswith("cores")), "cores unknown")


def performance(results: dict[str, Any]) -> str:
    """docs/performance.md: this library against starsessions and Starlette's cookie sessions."""

    def inproc(contender: str, cell: str) -> float:
        ratio: float = _cell(results, "inprocess", contender, cell)["ratio"]
        return ratio

    def http(contender: str, cell: str, metric: str) -> float:
        value: float = _cell(results, "http", contender, cell)[metric]
        return value

    def read_change(contender: str) -> str:
        return f"{_ratio(inproc(contender, 'read'))} / {_ratio(inproc(contender, 'change'))}"

    def gc(contender: str) -> str:
        return f"{_cell(results, 'inprocess', contender, 'read')['gc_objects']:g}"

    python = ".".join(results["environment"]["python"].split(".")[:2])
    rows = [
        [
            "Redis commands: session unused / read / change",
            _commands(results, "ours_redis"),
            _commands(results, "starsessions_redis"),
            "-",
        ],
        [
            "in-process, unused (cookie present), time vs bare",
            _ratio(inproc("ours_memory", "unused_cookie")),
            _ratio(inproc("starsessions_memory", "unused_cookie")),
            _ratio(inproc("starlette_cookie", "unused_cookie")),
        ],
        [
            "in-process, read / change (memory), time vs bare",
            read_change("ours_memory"),
            read_change("starsessions_memory"),
            read_change("starlette_cookie"),
        ],
        [
            "HTTP, 32 connections, Redis read, req/s",
            f"{http('ours_redis', 'read@32', 'rps'):,.0f}",
            f"{http('starsessions_redis', 'read@32', 'rps'):,.0f}",
            "-",
        ],
        [
            "HTTP, 32 connections, Redis change, req/s",
            f"{http('ours_redis', 'change@32', 'rps'):,.0f}",
            f"{http('starsessions_redis', 'change@32', 'rps'):,.0f}",
            "-",
        ],
        [
            "HTTP, 32 connections, unused (cookie), p99 vs bare",
            f"{_ratio(http('ours_memory', 'unused_cookie@32', 'p99_ratio'))} (memory), "
            f"{_ratio(http('ours_redis', 'unused_cookie@32', 'p99_ratio'))} (Redis)",
            f"{_ratio(http('starsessions_memory', 'unused_cookie@32', 'p99_ratio'))}, "
            f"{_ratio(http('starsessions_redis', 'unused_cookie@32', 'p99_ratio'))}",
            _ratio(http("starlette_cookie", "unused_cookie@32", "p99_ratio")),
        ],
        [
            "objects left for the cycle collector per request",
            gc("ours_memory"),
            gc("starsessions_memory"),
            gc("starlette_cookie"),
        ],
    ]
    header = ["measure", "this library", "starsessions", "Starlette cookie sessions"]
    table = _table(header, rows)
    return (
        f"From the committed {results['mode']} run of {results['environment']['date']} "
        f"({_cores(results)}, Python {python}, redis-py {_venv(results, 'ours', 'redis')} "
        f"with hiredis for both libraries):\n\n{table}\n"
    )


def sql(results: dict[str, Any]) -> str:
    """docs/sql.md: what a SQL session costs next to the bare app."""
    rows = []
    for contender, label in (
        ("ours_sqlite", "SQLite (one connection)"),
        ("ours_postgres", "PostgreSQL (asyncpg, pool of 32)"),
    ):
        cells = [_cell(results, "inprocess", contender, c) for c in ("read", "change")]
        inprocess = " / ".join(f"{c['us']:,.0f} µs ({c['ratio']:.0f}x)" for c in cells)
        http = [_cell(results, "http", contender, c) for c in ("read@32", "change@32")]
        rps = " / ".join(f"{c['rps']:,.0f} ({_ratio(c['rps_ratio'])})" for c in http)
        rows.append([label, inprocess, rps, f"{http[0]['p99_ms']:.0f} ms"])
    unused = [
        _cell(results, "inprocess", contender, cell)["ratio"]
        for contender in ("ours_sqlite", "ours_postgres")
        for cell in ("unused_nocookie", "unused_cookie")
    ]
    header = [
        "contender",
        "in-process read / change",
        "HTTP, 32 connections: read / change req/s",
        "p99 of a read",
    ]
    return (
        f"The {results['mode']} run of {results['environment']['date']} "
        f"(`benchmarks/run.sh`, {_cores(results)}; the whole report is "
        "[Benchmark tables](benchmarks.md)) measured, as ratios to a bare Starlette app in the "
        f"same run:\n\n{_table(header, rows)}\n\n"
        "A request that does not use its session costs what it costs with any backend "
        f"({_ratio(min(unused))} to {_ratio(max(unused))} in process, no statement).\n"
    )


def valkey(results: dict[str, Any]) -> str:
    """docs/redis.md: Valkey's native compare-and-set against the Lua script, same server."""
    native = results["redis_commands"]["ours_valkey"]["cells"]["change"]["usec_per_call"]
    script = results["redis_commands"]["ours_valkey_script"]["cells"]["change"]["usec_per_call"]
    redis = results["redis_commands"]["ours_redis"]["cells"]["change"]["usec_per_call"]
    fast = _cell(results, "inprocess", "ours_valkey", "change")
    slow = _cell(results, "inprocess", "ours_valkey_script", "change")
    redis_server = results["environment"]["redis_server"].split(" sha=")[0]
    return (
        f"In the {results['mode']} run of {results['environment']['date']} "
        f"({_cores(results)}) the server's own time per call was {native['set']:.1f} µs for "
        f"`SET ... IFEQ` against {script['evalsha']:.1f} µs for the script's `EVALSHA` on "
        f"valkey-server ({redis['evalsha']:.1f} µs on {redis_server}), and an in-process change "
        f"request took {fast['us']:,.0f} µs against {slow['us']:,.0f} µs "
        f"({fast['ratio']:.1f}x against {slow['ratio']:.1f}x the bare app): the round trips, "
        "not the server's work, make most of a request's time. The whole run is in "
        "[Benchmark tables](benchmarks.md).\n"
    )


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


# page (under docs/) -> section name -> renderer
SECTIONS: dict[str, dict[str, Callable[[dict[str, Any]], str]]] = {
    "performance.md": {"performance": performance},
    "sql.md": {"sql": sql},
    "redis.md": {"valkey": valkey},
}


def sections(text: str) -> dict[str, str]:
    """The marked sections of a page: name -> what is between its markers."""
    found = {}
    for chunk in text.split("<!-- benchmarks:")[1:]:
        name = chunk.split(" ", 1)[0]
        if name == "end":
            continue
        body = chunk.split("-->\n", 1)[1]
        found[name] = body.split(END, 1)[0]
    return found


def replace(text: str, name: str, body: str) -> str:
    begin = text.index(start(name)) + len(start(name)) + 1
    end = text.index(END, begin)
    return text[:begin] + body + text[end:]


def write_pages(results: dict[str, Any], docs_dir: Path) -> list[Path]:
    """Rewrite every marked section of the pages in ``docs_dir`` that have them."""
    written = []
    for page, renderers in SECTIONS.items():
        path = docs_dir / page
        if not path.exists():
            continue
        text = path.read_text()
        for name, render in renderers.items():
            text = replace(text, name, render(results))
        path.write_text(text)
        written.append(path)
    return written
