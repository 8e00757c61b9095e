"""The ``load`` marker, and ``redis_binary``: the harness starts its own redis-server.

The served app needs FastAPI and uvicorn: without them (tox's ``noextras`` run) nothing here is
collected.
"""

from __future__ import annotations

import importlib.util

import pytest

from tests.servers import find_binary, server_unavailable

collect_ignore = []
if any(importlib.util.find_spec(name) is None for name in ("fastapi", "uvicorn")):
    collect_ignore.append("test_load.py")


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
