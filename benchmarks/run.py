"""Run every driver over every available contender and write the report.

Normally started by ``benchmarks/run.sh``, which prepares the virtual environments first::

    benchmarks/.venvs/ours/bin/python -m benchmarks.run [--quick] [--only NAME,...]
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks import http_driver, report
from benchmarks.contenders import (
    BY_NAME,
    CONTENDERS,
    OURS_VENV,
    PEER_VENV,
    REPO_DIR,
    VENVS_DIR,
    Contender,
)
from benchmarks.cpus import ForeignLoad, pin, raise_priority
from benchmarks.cpus import describe as describe_cpus
from benchmarks.environment import describe
from benchmarks.redis_server import (
    private_memcached,
    private_redis,
    private_redis_cluster,
    valkey_binary,
)
from benchmarks.uvicorn_server import Server, serve

RESULTS_DIR = REPO_DIR / "benchmarks" / "results"
DOCS_DIR = REPO_DIR / "docs"


@dataclass(frozen=True)
class Settings:
    inprocess_rounds: int
    batch_ms: float
    gc_requests: int
    redis_requests: int
    http_rounds: int
    http_seconds: int
    warmup_seconds: int


# Many short alternations beat a few long ones: a disturbance then spoils one pair, not a cell.
FULL = Settings(
    inprocess_rounds=30,
    batch_ms=30,
    gc_requests=2000,
    redis_requests=500,
    http_rounds=3,
    http_seconds=1,
    warmup_seconds=1,
)
QUICK = Settings(
    inprocess_rounds=8,
    batch_ms=10,
    gc_requests=300,
    redis_requests=50,
    http_rounds=1,
    http_seconds=1,
    warmup_seconds=1,
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _env(redis_url: str) -> dict[str, str]:
    return dict(os.environ, BENCH_REDIS_URL=redis_url, PYTHONPATH=str(REPO_DIR))


def run_module(contender: Contender, module: str, args: list[str], redis_url: str) -> Any:
    done = subprocess.run(
        pin([str(contender.python), "-m", module, *args], "app"),
        cwd=REPO_DIR,
        env=_env(redis_url),
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def unavailable_reason(contender: Contender, redis_url: str) -> str | None:
    """Why a contender cannot run here (its venv or an import is missing), or None."""
    if not contender.python.exists():
        return f"virtual environment {contender.venv!r} is missing; run benchmarks/run.sh"
    done = subprocess.run(
        [str(contender.python), "-c", f"import {contender.module}"],
        cwd=REPO_DIR,
        env=_env(redis_url),
        capture_output=True,
        text=True,
    )
    if done.returncode == 0:
        return None
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"import failed with exit code {done.returncode}"


def uvicorn_flags() -> list[str]:
    """uvloop and httptools only if every venv has them, so all servers run alike."""
    check = "import uvloop, httptools"
    pythons = [VENVS_DIR / v / "bin" / "python" for v in (OURS_VENV, PEER_VENV)]
    fast = all(
        p.exists() and subprocess.run([str(p), "-c", check], capture_output=True).returncode == 0
        for p in pythons
    )
    return (
        ["--loop", "uvloop", "--http", "httptools"]
        if fast
        else ["--loop", "asyncio", "--http", "h11"]
    )


# A contender that fails is reported and skipped; the run goes on with the others.
MEASUREMENT_ERRORS = (
    subprocess.CalledProcessError,
    ZeroDivisionError,  # a bare app that served nothing in a pair (a badly disturbed machine)
    RuntimeError,
    TimeoutError,
    OSError,
    ValueError,
)


def _guarded(failures: dict[str, str], label: str, action: Callable[[], Any]) -> Any:
    try:
        return action()
    except MEASUREMENT_ERRORS as error:
        log(f"FAILED {label}: {error}")
        failures[label] = str(error)
        return None


def run_inprocess(
    contenders: list[Contender], settings: Settings, redis_url: str, failures: dict[str, str]
) -> dict[str, Any]:
    results = {}
    for contender in contenders:
        args = [
            *("--contender", contender.name, "--baseline", contender.baseline),
            *("--rounds", str(settings.inprocess_rounds), "--batch-ms", str(settings.batch_ms)),
            *("--gc-requests", str(settings.gc_requests)),
        ]
        measured = _guarded(
            failures,
            f"in-process {contender.name}",
            partial(run_module, contender, "benchmarks.asgi_driver", args, redis_url),
        )
        if measured is not None:
            results[contender.name] = measured
    return results


def _server_url(contender: Contender, redis_url: str) -> str:
    # The Valkey contenders' server was started next to redis-server (see main()).
    return os.environ["BENCH_VALKEY_URL"] if contender.valkey else redis_url


@contextmanager
def private_servers(wanted: list[str]) -> Iterator[None]:
    """Start the private valkey-server, Redis Cluster and memcached that the wanted contenders
    need, where installed; their addresses go into the environment every contender process
    inherits (``BENCH_VALKEY_URL``, ``BENCH_REDIS_CLUSTER_URL``, ``BENCH_MEMCACHED_ADDRESS``).
    A server that cannot start leaves its contenders' apps failing to import: they are reported
    as skipped, with the reason."""
    contenders = [BY_NAME[name] for name in wanted]
    servers: list[tuple[str, Callable[[], Any]]] = []
    binary = valkey_binary()
    if binary is not None and any(c.valkey for c in contenders):
        servers.append(("BENCH_VALKEY_URL", partial(private_redis, binary)))
    if any(c.cluster for c in contenders):
        servers.append(("BENCH_REDIS_CLUSTER_URL", private_redis_cluster))
    if any(c.memcached for c in contenders):
        servers.append(("BENCH_MEMCACHED_ADDRESS", private_memcached))
    with ExitStack() as stack:
        for variable, start in servers:
            try:
                os.environ[variable] = stack.enter_context(start())
            except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                log(f"cannot start the server of {variable}: {error}")
                continue
            stack.callback(os.environ.pop, variable, None)
        yield


def run_redis_commands(
    contenders: list[Contender], settings: Settings, redis_url: str, failures: dict[str, str]
) -> dict[str, Any]:
    results = {}
    for contender in (c for c in contenders if c.redis):
        log(f"  redis commands {contender.name}")
        args = [
            *("--contender", contender.name, "--redis-url", _server_url(contender, redis_url)),
            *("--requests", str(settings.redis_requests)),
        ]
        measured = _guarded(
            failures,
            f"redis commands {contender.name}",
            partial(run_module, contender, "benchmarks.redis_commands", args, redis_url),
        )
        if measured is not None:
            results[contender.name] = measured
    return results


def _measure_http(
    contender: Contender, baseline: Server, settings: Settings, redis_url: str, flags: list[str]
) -> dict[str, Any]:
    with serve(contender, flags, redis_url) as server:
        measured = http_driver.measure(
            server,
            baseline,
            settings.http_rounds,
            settings.http_seconds,
            settings.warmup_seconds,
        )
    return {"baseline": contender.baseline, **measured}


def run_http(
    contenders: list[Contender],
    settings: Settings,
    redis_url: str,
    flags: list[str],
    failures: dict[str, str],
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with ExitStack() as stack:
        baselines: dict[str, Server] = {}
        for name in sorted({c.baseline for c in contenders}):
            baselines[name] = stack.enter_context(serve(BY_NAME[name], flags, redis_url))
            http_driver.warm_up(baselines[name], [], settings.warmup_seconds)
        for contender in contenders:
            baseline = baselines[contender.baseline]
            measured = _guarded(
                failures,
                f"HTTP {contender.name}",
                partial(_measure_http, contender, baseline, settings, redis_url, flags),
            )
            if measured is not None:
                results[contender.name] = measured
    return results


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="a few seconds per cell, to smoke-test"
    )
    parser.add_argument("--only", help="comma-separated contender names (default: all available)")
    parser.add_argument("--skip-inprocess", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--docs-dir", type=Path, default=DOCS_DIR)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    settings = QUICK if args.quick else FULL
    wanted = args.only.split(",") if args.only else [c.name for c in CONTENDERS]
    unknown = set(wanted) - BY_NAME.keys()
    if unknown:
        sys.exit(f"unknown contenders: {', '.join(sorted(unknown))}; known: {', '.join(BY_NAME)}")

    priority = raise_priority()
    started = datetime.datetime.now()
    load = ForeignLoad()
    with private_redis() as redis_url, private_servers(wanted):
        skipped: dict[str, str] = {}
        failures: dict[str, str] = {}
        contenders = []
        for name in wanted:
            reason = unavailable_reason(BY_NAME[name], redis_url)
            if reason:
                log(f"skipping {name}: {reason}")
                skipped[name] = reason
            else:
                contenders.append(BY_NAME[name])
        flags = uvicorn_flags()
        results: dict[str, Any] = {
            "mode": "quick" if args.quick else "full",
            "settings": asdict(settings),
            "uvicorn_flags": flags,
            "cpu_pinning": describe_cpus(),
            "priority": priority,
            "environment": describe(
                {v: VENVS_DIR / v / "bin" / "python" for v in (OURS_VENV, PEER_VENV)}
            ),
            "contenders": {c.name: {"label": c.label, "baseline": c.baseline} for c in CONTENDERS},
            "skipped": skipped,
            "failed": failures,
        }
        if not args.skip_inprocess:
            log("in-process driver")
            results["inprocess"] = run_inprocess(contenders, settings, redis_url, failures)
            results["redis_commands"] = run_redis_commands(
                contenders, settings, redis_url, failures
            )
        if not args.skip_http:
            log(f"HTTP driver (uvicorn {' '.join(flags)}, wrk -t1)")
            served = [c for c in contenders if c.http]
            results["http"] = run_http(served, settings, redis_url, flags, failures)
    results["foreign_load"] = load.result()
    results["duration_seconds"] = round((datetime.datetime.now() - started).total_seconds())

    # Every run is kept under raw/ (ignored by git); latest.json is the data behind docs/.
    stamp = started.strftime("%Y%m%d-%H%M%S")
    (RESULTS_DIR / "raw").mkdir(parents=True, exist_ok=True)
    for path in (
        RESULTS_DIR / "raw" / f"{stamp}-{results['mode']}.json",
        RESULTS_DIR / "latest.json",
    ):
        path.write_text(json.dumps(results, indent=2) + "\n")
    markdown, chart = report.write(results, args.docs_dir)
    log(f"wrote {markdown}, {chart} and {RESULTS_DIR / 'latest.json'}")
    log(f"the run took {results['duration_seconds']} s")


if __name__ == "__main__":
    main()
