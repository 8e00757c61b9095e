"""The example app under test, on the memory backend, a SQLite file and a real redis-server.

The server comes from the repository's test helpers (``tests.servers``): a private redis-server on
a free port for each test, skipped when redis-server is not installed (failed in CI).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from examples.fastapi_app import storages
from examples.fastapi_app.main import create_app
from starlette_session.testing import SessionTester
from tests.servers import RedisServer, ServerNotFoundError, server_unavailable

SECRET = "example-tests-secret-0123456789abcdefghijklmnop"


class ShopClient(TestClient):
    """A ``TestClient`` whose posts to the HTML pages carry the session's CSRF token, as the
    pages' forms do (``GET /api/csrf`` gives it); ``csrf=False`` posts without it."""

    def post(self, url: Any, *args: Any, csrf: bool = True, **kwargs: Any) -> Any:
        if csrf and not str(url).startswith("/api/"):
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("x-csrf-token", self.get("/api/csrf").json()["csrf_token"])
            kwargs["headers"] = headers
        return super().post(url, *args, **kwargs)


@pytest.fixture
def redis_url() -> Iterator[str]:
    try:
        server = RedisServer()
    except ServerNotFoundError as error:
        server_unavailable(str(error))
    with server:
        yield server.url


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> FastAPI:
    if request.param == "sqlite":
        storage = storages.sqlite(tmp_path / "sessions.db")
        return create_app(storage=storage, secret_key=SECRET)
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    return create_app(redis_url=url, secret_key=SECRET)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    # `with` runs the lifespan, which closes the Redis client, and keeps one event loop.
    with ShopClient(app) as client:
        yield client


@pytest.fixture
def sessions(client: TestClient) -> SessionTester:
    return SessionTester(client)
