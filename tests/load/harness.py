"""Load and fault harness: real processes on loopback, many concurrent clients, checked results.

Each scenario starts what it needs: a redis-server of its own (``tests.servers.RedisServer``) and
the app of ``tests.load.app`` under uvicorn in a subprocess on a free 127.0.0.1 port. Clients are
``httpx.AsyncClient`` instances, one per simulated user (each with its own cookie jar).

- ``load``: many users, each incrementing the counter in its own session for a fixed time. Every
  answer must be 2xx and every final counter must equal the user's acknowledged increments.
- ``same-session``: rounds of concurrent requests on one session, each setting its own field;
  every field must be there afterwards.
- ``fault``: the load of ``load`` (plus users of a route without session) against a Redis with an
  fsync-always AOF, which is killed (SIGKILL) mid-run and started again. During the outage
  session requests must get a fast 503 and the others 200; after the restart everything must
  succeed, with the same app process; and no acknowledged (2xx) increment may be lost.
- ``soak``: the memory backend under a stream of new visitors must stay within ``max_entries``
  and its process's memory must flatten.

A write is acknowledged when its response is 2xx. A write whose reply was lost (a 503 after
Redis applied it) is not acknowledged; it shows as an increment nobody was told about, never as
a lost write. Lost writes are acknowledged increments missing from the final counter.
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.servers import HOST, RedisServer, free_port

__all__ = [
    "LONG",
    "SCENARIOS",
    "SHORT",
    "AppServer",
    "Report",
    "Timings",
    "format_reports",
    "run_fault",
    "run_load",
    "run_same_session",
    "run_scenarios",
    "run_soak",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 10.0
#: A session request during the outage must be answered within this: the app's Redis timeouts
#: are 0.5 s for a read and 1 s for a whole backend operation, plus some queueing on a busy CPU.
OUTAGE_ANSWER_BOUND = 1.5
#: The soak gives up (and fails) if its sessions take longer than this to create.
SOAK_TIME_LIMIT = 600.0


@dataclass(frozen=True)
class Timings:
    """How long and how wide each scenario runs."""

    load_seconds: float
    same_session_rounds: int
    fault_normal_seconds: float
    fault_outage_seconds: float
    fault_recovery_seconds: float
    soak_sessions: int
    soak_max_entries: int
    load_clients: int = 32
    same_session_width: int = 20
    fault_clients: int = 32
    fault_health_clients: int = 4
    soak_clients: int = 16


#: What CI runs: seconds per scenario.
SHORT = Timings(
    load_seconds=3.0,
    same_session_rounds=3,
    fault_normal_seconds=1.5,
    fault_outage_seconds=1.5,
    fault_recovery_seconds=2.0,
    soak_sessions=2500,
    soak_max_entries=500,
)
#: ``python -m tests.load --long``: a few minutes in all.
LONG = Timings(
    load_seconds=60.0,
    same_session_rounds=100,
    fault_normal_seconds=20.0,
    fault_outage_seconds=15.0,
    fault_recovery_seconds=20.0,
    soak_sessions=50_000,
    soak_max_entries=5000,
)


@dataclass
class Report:
    """The outcome of one scenario: its figures, and what went wrong (nothing, if it passed)."""

    name: str
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: Requests sent (whatever their answer), and how many of them were errors.
    requests: int = 0
    errors: int = 0

    @property
    def passed(self) -> bool:
        return not self.problems


@dataclass
class Sample:
    """One request: when it started (monotonic), how long it took, and its status (0: no
    response at all)."""

    started: float
    latency: float
    status: int
    kind: str

    @property
    def ended(self) -> float:
        return self.started + self.latency

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def percentile(values: Iterable[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1); 0 for no values."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _latency_figures(prefix: str, samples: Sequence[Sample]) -> dict[str, Any]:
    latencies = [sample.latency for sample in samples]
    return {
        f"{prefix} requests": len(samples),
        f"{prefix} p50 ms": _ms(percentile(latencies, 0.50)),
        f"{prefix} p99 ms": _ms(percentile(latencies, 0.99)),
        f"{prefix} max ms": _ms(max(latencies, default=0.0)),
    }


def _statuses(samples: Iterable[Sample]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for sample in samples:
        counts[sample.status] = counts.get(sample.status, 0) + 1
    return dict(sorted(counts.items()))


class AppServer:
    """``tests.load.app`` under uvicorn in a subprocess, on a free loopback port."""

    def __init__(self, env: dict[str, str], *, workers: int = 1) -> None:
        self.env = env
        self.workers = workers
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="load-app-", suffix=".log", delete=False
        )
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        command = [
            sys.executable, "-m", "uvicorn", "--factory", "tests.load.app:create_app",
            "--host", HOST, "--port", str(self.port),
            "--log-level", "warning", "--no-access-log", "--workers", str(self.workers),
        ]  # fmt: skip
        env = {**os.environ, **self.env, "PYTHONPATH": str(REPO_ROOT)}
        self._process = subprocess.Popen(  # noqa: ASYNC220 - returns at once; waits are async
            command, cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + APP_START_TIMEOUT
        async with httpx.AsyncClient(base_url=self.url, timeout=1.0) as client:
            while True:
                if self._process.poll() is not None:
                    raise RuntimeError(f"the app exited at start-up:\n{self.log_tail()}")
                try:
                    if (await client.get("/health")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    await self.stop()
                    raise RuntimeError(f"the app did not answer in time:\n{self.log_tail()}")
                await asyncio.sleep(0.05)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    async def stop(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                await asyncio.to_thread(process.wait, 10)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
        self._log.close()

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = Path(self._log.name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _client(url: str, connections: int = 1) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT, limits=limits)


async def _timed(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    samples: list[Sample],
    kind: str,
) -> httpx.Response | None:
    start = time.monotonic()
    try:
        response = await client.request(method, path)
    except httpx.HTTPError:
        samples.append(Sample(start, time.monotonic() - start, 0, kind))
        return None
    samples.append(Sample(start, time.monotonic() - start, response.status_code, kind))
    return response


@dataclass
class CounterUser:
    """A user incrementing the counter of their own session, remembering every acknowledgement."""

    client: httpx.AsyncClient
    acked: list[int] = field(default_factory=list)
    cookie: str | None = None
    #: Responses that replaced the session cookie, or set one on an error.
    cookie_problems: int = 0
    #: When each acknowledged response arrived (monotonic).
    success_times: list[float] = field(default_factory=list)

    async def increment(self, samples: list[Sample]) -> httpx.Response | None:
        response = await _timed(self.client, "POST", "/counter", samples, "session")
        if response is None:
            return None
        new_cookie = response.cookies.get("session")
        if response.is_success:
            self.acked.append(response.json()["count"])
            self.success_times.append(time.monotonic())
            if new_cookie is not None:
                if self.cookie is not None and new_cookie != self.cookie:
                    self.cookie_problems += 1
                self.cookie = new_cookie
        elif "set-cookie" in response.headers:
            self.cookie_problems += 1
        return response

    async def run(self, keep_going: Callable[[], bool], samples: list[Sample]) -> None:
        while keep_going():
            if await self.increment(samples) is None:
                await asyncio.sleep(0.01)  # no answer at all: do not spin

    async def final_count(self) -> int:
        response = await self.client.get("/counter")
        response.raise_for_status()
        count: int = response.json()["count"]
        return count

    def lost(self, final: int) -> int:
        """Acknowledged increments missing from ``final`` (a repeated value means the increment
        it repeats was lost)."""
        return len(self.acked) - len({value for value in self.acked if value <= final})


async def _check_counters(users: Sequence[CounterUser], report: Report, *, exact: bool) -> None:
    finals = await asyncio.gather(*(user.final_count() for user in users))
    lost = sum(user.lost(final) for user, final in zip(users, finals, strict=True))
    acked = sum(len(user.acked) for user in users)
    unacknowledged = sum(final for final in finals) - (acked - lost)
    report.figures["acknowledged increments"] = acked
    report.figures["lost writes"] = lost
    report.figures["applied but unacknowledged"] = unacknowledged
    if lost:
        report.problems.append(f"{lost} acknowledged increments are missing from the counters")
    mismatched = [
        (final, len(user.acked))
        for user, final in zip(users, finals, strict=True)
        if final != len(user.acked)
    ]
    if exact and mismatched:
        report.problems.append(
            f"{len(mismatched)} counters differ from their acknowledged increments, "
            f"e.g. (counter, acknowledged) {mismatched[:3]}"
        )
    cookie_problems = sum(user.cookie_problems for user in users)
    report.figures["cookies replaced"] = cookie_problems
    if cookie_problems:
        report.problems.append(f"{cookie_problems} responses replaced the session cookie")


# Scenarios


async def run_load(url: str, timings: Timings) -> Report:
    """``load_clients`` users, each incrementing their own counter for ``load_seconds``."""
    report = Report("load")
    users = [CounterUser(_client(url)) for _ in range(timings.load_clients)]
    samples: list[Sample] = []
    try:
        start = time.monotonic()
        until = start + timings.load_seconds
        await asyncio.gather(
            *(user.run(lambda: time.monotonic() < until, samples) for user in users)
        )
        elapsed = time.monotonic() - start
        errors = [sample for sample in samples if not sample.ok]
        report.figures.update(
            {
                "clients": timings.load_clients,
                "seconds": round(elapsed, 1),
                "requests per second": round(len(samples) / elapsed),
                **_latency_figures("session", samples),
                "errors": len(errors),
            }
        )
        report.requests, report.errors = len(samples), len(errors)
        if errors:
            report.problems.append(f"{len(errors)} errors, statuses {_statuses(errors)}")
        await _check_counters(users, report, exact=True)
    finally:
        await asyncio.gather(*(user.client.aclose() for user in users))
    return report


async def run_same_session(url: str, timings: Timings, redis_url: str | None = None) -> Report:
    """Rounds of ``same_session_width`` concurrent requests on one new session, each setting a
    different field; every field must be present afterwards."""
    report = Report("same-session")
    width = timings.same_session_width
    samples: list[Sample] = []
    missing_total = 0
    before = _evalsha_calls(redis_url)
    for round_number in range(timings.same_session_rounds):
        async with _client(url, connections=width) as client:
            (await client.put("/fields/started")).raise_for_status()
            await asyncio.gather(
                *(
                    _timed(client, "PUT", f"/fields/f{i}?value={round_number}", samples, "session")
                    for i in range(width)
                )
            )
            fields = (await client.get("/fields")).json()
        missing = [i for i in range(width) if fields.get(f"f{i}") != str(round_number)]
        missing_total += len(missing)
        if missing and len(report.problems) < 5:
            report.problems.append(f"round {round_number}: fields {missing} are missing")
    errors = [sample for sample in samples if not sample.ok]
    report.figures.update(
        {
            "rounds": timings.same_session_rounds,
            "concurrent requests per round": width,
            **_latency_figures("session", samples),
            "errors": len(errors),
            "missing fields": missing_total,
        }
    )
    after = _evalsha_calls(redis_url)
    if before is not None and after is not None:
        writes = timings.same_session_rounds * width
        report.figures["compare-and-set attempts per write"] = round((after - before) / writes, 2)
    report.requests, report.errors = len(samples), len(errors)
    if errors:
        report.problems.append(f"{len(errors)} errors, statuses {_statuses(errors)}")
    return report


def _evalsha_calls(redis_url: str | None) -> int | None:
    if redis_url is None:
        return None
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def run_fault(timings: Timings, *, persistent: bool = True) -> Report:
    """Counter load against a Redis that is killed and restarted mid-run.

    ``persistent=False`` runs Redis without its AOF, where the restart loses every session: the
    harness must then report lost writes (a check of the harness itself).
    """
    report = Report("fault")
    with RedisServer(persistent=persistent) as redis_server:
        app = AppServer({"LOAD_BACKEND": "redis", "LOAD_REDIS_URL": redis_server.url})
        await app.start()
        try:
            await _fault_run(app, redis_server, timings, report)
        finally:
            await app.stop()
    return report


async def _fault_run(
    app: AppServer, redis_server: RedisServer, timings: Timings, report: Report
) -> None:
    users = [CounterUser(_client(app.url)) for _ in range(timings.fault_clients)]
    health_clients = [_client(app.url) for _ in range(timings.fault_health_clients)]
    samples: list[Sample] = []
    stop = asyncio.Event()

    async def check_health(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            if await _timed(client, "GET", "/health", samples, "health") is None:
                await asyncio.sleep(0.01)

    app_pid = app.pid
    tasks = [asyncio.create_task(user.run(lambda: not stop.is_set(), samples)) for user in users]
    tasks += [asyncio.create_task(check_health(client)) for client in health_clients]
    try:
        await asyncio.sleep(timings.fault_normal_seconds)
        kill_started = time.monotonic()
        await asyncio.to_thread(redis_server.kill)
        killed = time.monotonic()
        await asyncio.sleep(timings.fault_outage_seconds)
        restart_started = time.monotonic()
        await asyncio.to_thread(redis_server.restart)
        ready = time.monotonic()
        await asyncio.sleep(timings.fault_recovery_seconds)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    try:
        _judge_fault(samples, kill_started, killed, restart_started, ready, report)
        _recovery_time(users, ready, report)
        await _check_counters(users, report, exact=False)
        if not app.is_running() or app.pid != app_pid:
            report.problems.append("the app process did not survive the outage")
    finally:
        await asyncio.gather(*(user.client.aclose() for user in users))
        await asyncio.gather(*(client.aclose() for client in health_clients))


def _judge_fault(
    samples: Sequence[Sample],
    kill_started: float,
    killed: float,
    restart_started: float,
    ready: float,
    report: Report,
) -> None:
    def window(kind: str, start: float, end: float) -> list[Sample]:
        return [s for s in samples if s.kind == kind and s.started >= start and s.ended <= end]

    normal = window("session", 0.0, kill_started)
    outage = window("session", killed, restart_started)
    outage_health = window("health", killed, restart_started)
    after = [s for s in samples if s.started >= ready]
    report.figures.update(
        {
            "requests": len(samples),
            "answered 2xx": sum(s.ok for s in samples),
            **_latency_figures("normal session", normal),
            **_latency_figures("outage session", outage),
            **_latency_figures("outage no-session", outage_health),
            "outage session statuses": _statuses(outage),
            "redis restart s": round(ready - restart_started, 2),
        }
    )
    checks: list[tuple[str, list[Sample]]] = [
        ("before the kill, session requests failed", [s for s in normal if not s.ok]),
        ("in the outage, session requests not 503", [s for s in outage if s.status != 503]),
        ("in the outage, requests without session failed", [s for s in outage_health if not s.ok]),
        ("after the restart, requests failed", [s for s in after if not s.ok]),
    ]
    for message, bad in checks:
        if bad:
            report.problems.append(f"{message}: {len(bad)}, statuses {_statuses(bad)}")
    slow = [s for s in outage if s.latency > OUTAGE_ANSWER_BOUND]
    if slow:
        report.problems.append(f"{len(slow)} outage answers took over {OUTAGE_ANSWER_BOUND} s")
    if not outage or not outage_health:
        report.problems.append("no request ran entirely within the outage: lengthen it")
    report.figures["errors"] = sum(len(bad) for _, bad in checks)
    report.requests, report.errors = len(samples), report.figures["errors"]


def _recovery_time(users: Sequence[CounterUser], ready: float, report: Report) -> None:
    """From Redis answering again to the first successful increment, and to every user's."""
    firsts = [
        min((t for t in user.success_times if t >= ready), default=math.inf) for user in users
    ]
    if math.inf in firsts:
        report.problems.append("some users never succeeded again after the restart")
        return
    report.figures["recovery: first success ms"] = _ms(min(firsts) - ready)
    report.figures["recovery: every user ms"] = _ms(max(firsts) - ready)


async def run_soak(timings: Timings) -> Report:
    """A stream of new visitors against the memory backend."""
    report = Report("soak")
    app = AppServer({"LOAD_BACKEND": "memory", "LOAD_MAX_ENTRIES": str(timings.soak_max_entries)})
    await app.start()
    try:
        await _soak_run(app, timings, report)
    finally:
        await app.stop()
    return report


async def _soak_run(app: AppServer, timings: Timings, report: Report) -> None:
    samples: list[Sample] = []
    stats: list[tuple[int, int]] = []  # (entries, rss), every tenth of max_entries sessions
    every = max(1, timings.soak_max_entries // 10)
    created = 0
    deadline = time.monotonic() + SOAK_TIME_LIMIT

    async def visitor(client: httpx.AsyncClient) -> None:
        nonlocal created
        while created < timings.soak_sessions and time.monotonic() < deadline:
            client.cookies.clear()  # always a new visitor, so always a new session
            response = await _timed(client, "POST", "/visit", samples, "session")
            if response is None:
                await asyncio.sleep(0.01)
                continue
            created += 1
            if created % every == 0:
                values = (await client.get("/stats")).json()
                stats.append((values["entries"], values["rss"] or 0))

    clients = [_client(app.url) for _ in range(timings.soak_clients)]
    try:
        await asyncio.gather(*(visitor(client) for client in clients))
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    if created < timings.soak_sessions:
        report.problems.append(f"only {created} sessions in {SOAK_TIME_LIMIT:g} s")
    _judge_soak(samples, stats, timings.soak_max_entries, report)


def _judge_soak(
    samples: Sequence[Sample],
    stats: Sequence[tuple[int, int]],
    max_entries: int,
    report: Report,
) -> None:
    errors = [s for s in samples if not s.ok]
    largest = max((entries for entries, _ in stats), default=0)
    full = [rss for entries, rss in stats if entries >= max_entries]
    report.figures.update(
        {
            "new sessions": sum(s.ok for s in samples),
            "max_entries": max_entries,
            "largest entry count": largest,
            **_latency_figures("session", samples),
            "errors": len(errors),
        }
    )
    report.requests, report.errors = len(samples), len(errors)
    if errors:
        report.problems.append(f"{len(errors)} errors, statuses {_statuses(errors)}")
    if largest > max_entries:
        report.problems.append(f"the backend held {largest} entries, over {max_entries}")
    if len(full) < 4:
        report.problems.append("the backend did not fill up in time to judge its memory")
        return
    first, second = full[: len(full) // 2], full[len(full) // 2 :]
    growth = max(second) - max(first)
    report.figures["rss when full MiB"] = round(max(first) / 2**20, 1)
    report.figures["rss growth while full KiB"] = round(growth / 1024)
    allowed = max(2 * 2**20, 0.05 * max(first))
    if growth > allowed:
        report.problems.append(
            f"memory kept growing once full: +{growth / 2**20:.1f} MiB over the second half"
        )


# Running several scenarios


SCENARIOS = ("load", "same-session", "fault", "soak")


async def run_scenarios(
    timings: Timings,
    names: Sequence[str] = SCENARIOS,
    progress: Callable[[str], None] = lambda message: None,
) -> list[Report]:
    """Run the named scenarios in order; ``load`` and ``same-session`` share one server pair."""
    reports: list[Report] = []
    wanted = [name for name in SCENARIOS if name in names]
    redis_scenarios = [name for name in wanted if name in ("load", "same-session")]
    if redis_scenarios:
        with RedisServer() as redis_server:
            app = AppServer({"LOAD_BACKEND": "redis", "LOAD_REDIS_URL": redis_server.url})
            await app.start()
            try:
                for name in redis_scenarios:
                    progress(name)
                    if name == "load":
                        reports.append(await run_load(app.url, timings))
                    else:
                        reports.append(await run_same_session(app.url, timings, redis_server.url))
            finally:
                await app.stop()
    runners: dict[str, Callable[[Timings], Awaitable[Report]]] = {
        "fault": run_fault,
        "soak": run_soak,
    }
    for name in wanted:
        if name in runners:
            progress(name)
            reports.append(await runners[name](timings))
    return reports


def format_reports(reports: Sequence[Report]) -> str:
    """A plain-text summary: each scenario's figures, then PASS or its problems."""
    lines = []
    for report in reports:
        lines.append(f"== {report.name}: {'PASS' if report.passed else 'FAIL'}")
        width = max((len(name) for name in report.figures), default=0)
        lines += [f"   {name:<{width}}  {value}" for name, value in report.figures.items()]
        lines += [f"   PROBLEM: {problem}" for problem in report.problems]
    if len(reports) > 1:
        lost = sum(report.figures.get("lost writes", 0) for report in reports)
        lines.append(
            f"== total: {sum(report.requests for report in reports)} requests, "
            f"{sum(report.errors for report in reports)} errors, {lost} lost writes"
        )
    return "\n".join(lines)
