"""Where the example keeps its sessions: a SQLite file by default, which outlives the process."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from examples.fastapi_app import storages
from examples.fastapi_app.main import create_app
from examples.fastapi_app.tests.conftest import SECRET
from starlette_session.backends import MemoryBackend, SQLBackend


def test_without_settings_sessions_go_to_the_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("REDIS_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SESSIONS_DB", str(tmp_path / "data" / "sessions.db"))
    storage = storages.from_environment()
    assert isinstance(storage.backend, SQLBackend)
    assert storage.description == f"SQLite file {tmp_path / 'data' / 'sessions.db'}"


def test_the_default_path_is_git_ignored() -> None:
    path = storages.DEFAULT_SQLITE_PATH
    assert path.parent.name == ".data"
    ignored = (Path(__file__).resolve().parents[3] / ".gitignore").read_text()
    assert "examples/fastapi_app/.data/" in ignored


def test_database_url_picks_the_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://shop@db.invalid/shop")
    backend = storages.from_environment().backend
    assert repr(backend) == "SQLBackend(postgresql+asyncpg, table='starlette_sessions')"


def test_create_app_without_storage_keeps_sessions_in_memory() -> None:
    assert isinstance(storages.memory().backend, MemoryBackend)


def test_a_restart_keeps_everyone_logged_in(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    with TestClient(create_app(storage=storages.sqlite(path), secret_key=SECRET)) as client:
        cart = client.post("/api/cart", json={"product": "tea"}).json()
        assert cart["count"] == 1
        cookies = dict(client.cookies)

    # A new process: a new app, engine and backend on the same file, the same secret.
    with TestClient(create_app(storage=storages.sqlite(path), secret_key=SECRET)) as client:
        client.cookies.update(cookies)
        assert client.get("/api/cart").json() == cart
