"""The performance targets of the issue, checked against one run's results."""

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OURS_PLAIN = ("ours_memory", "ours_cookie", "ours_redis")
OURS_ALL = (*OURS_PLAIN, "ours_fastapi_typed_memory", "ours_fastapi_typed_redis")
# What each of ours is compared with in the targets table, for context (not judged).
PEERS = {
    "ours_memory": "starsessions_memory",
    "ours_redis": "starsessions_redis",
    "ours_cookie": "starlette_cookie",
}


@dataclass(frozen=True)
class Target:
    label: str
    driver: str  # "inprocess" or "http"
    cell: str  # a cell name; for http, "<cell>@<connections>"
    metric: str  # a key of that cell's result
    limit: float
    at_most: bool  # True: value <= limit passes; False: value >= limit passes
    contenders: tuple[str, ...]

    @property
    def rule(self) -> str:
        return f"{'≤' if self.at_most else '≥'} {self.limit:g}x"

    def passes(self, value: float) -> bool:
        compare: Callable[[float, float], bool] = operator.le if self.at_most else operator.ge
        return compare(value, self.limit)


TARGETS: tuple[Target, ...] = (
    Target(
        "in-process, session unused, no cookie: time",
        "inprocess",
        "unused_nocookie",
        "ratio",
        1.10,
        True,
        OURS_ALL,
    ),
    Target(
        "in-process, session unused, with cookie: time",
        "inprocess",
        "unused_cookie",
        "ratio",
        1.15,
        True,
        OURS_ALL,
    ),
    Target("in-process, read: time", "inprocess", "read", "ratio", 2.0, True, ("ours_memory",)),
    Target("in-process, change: time", "inprocess", "change", "ratio", 2.5, True, ("ours_memory",)),
    Target(
        "HTTP 32 conns, read: req/s", "http", "read@32", "rps_ratio", 0.34, False, ("ours_redis",)
    ),
    Target(
        "HTTP 32 conns, change: req/s",
        "http",
        "change@32",
        "rps_ratio",
        0.24,
        False,
        ("ours_redis",),
    ),
    Target(
        "HTTP 32 conns, session unused, no cookie: p99",
        "http",
        "unused_nocookie@32",
        "p99_ratio",
        1.3,
        True,
        OURS_PLAIN,
    ),
    Target(
        "HTTP 32 conns, session unused, with cookie: p99",
        "http",
        "unused_cookie@32",
        "p99_ratio",
        1.3,
        True,
        OURS_PLAIN,
    ),
)


@dataclass(frozen=True)
class Verdict:
    target: Target
    contender: str
    value: float | None  # None: not measured in this run
    peer: str | None = None
    peer_value: float | None = None

    @property
    def status(self) -> str:
        if self.value is None:
            return "not measured"
        return "pass" if self.target.passes(self.value) else "FAIL"


def _value(results: dict[str, Any], target: Target, contender: str | None) -> float | None:
    if contender is None:
        return None
    cell = results.get(target.driver, {}).get(contender, {}).get("cells", {}).get(target.cell)
    return float(cell[target.metric]) if cell else None


def evaluate(results: dict[str, Any]) -> list[Verdict]:
    verdicts = []
    for target in TARGETS:
        for contender in target.contenders:
            peer = PEERS.get(contender)
            value, peer_value = _value(results, target, contender), _value(results, target, peer)
            verdicts.append(Verdict(target, contender, value, peer, peer_value))
    return verdicts
