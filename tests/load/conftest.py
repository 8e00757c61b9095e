"""The ``load`` marker, and ``redis_binary``: the harness starts its own redis-server."""

from __future__ import annotations

import pytest

from tests.servers import find_binary, server_unavailable


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "load: the load and fault harness (tests/load), short form; see docs/reliability.md",
    )


@pytest.fixture
def redis_binary() -> str:
    """The redis-server the harness will run; skipped locally (failed in CI) when missing."""
    binary = find_binary("REDIS_SERVER_BIN", "redis-server")
    if binary is None:
        server_unavailable("redis-server not found; install it with apt-get install redis-server")
    return binary
