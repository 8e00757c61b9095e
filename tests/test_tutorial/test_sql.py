"""docs_src/sql: the SQL page's app on a SQLite file, and its engines on SQLite, PostgreSQL and
MariaDB (the machine's servers, through ``tests.sql_support``), each serving real requests."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.testclient import TestClient

from starlette_session import SessionStore, load_session
from starlette_session.backends import SQLBackend
from tests.helpers import make_app
from tests.sql_support import StatementCounter, database_url, unique_table
from tests.test_tutorial.conftest import LoadSample


async def visit(request: Request) -> JSONResponse:
    session = await load_session(request)
    session["visits"] = session.get("visits", 0) + 1
    return JSONResponse(session["visits"])


def test_the_app_keeps_sessions_in_a_sqlite_file(
    load_sample: LoadSample, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "sessions.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    sample = load_sample("docs_src.sql.app")
    sample.app.add_route("/visit", visit, methods=["POST"])
    with TestClient(sample.app) as client:  # the lifespan creates the table and purges
        assert [client.post("/visit").json() for _ in range(3)] == [1, 2, 3]
    with sqlite3.connect(database) as db:
        [(rows,)] = db.execute("SELECT count(*) FROM starlette_sessions").fetchall()
        [(mode,)] = db.execute("PRAGMA journal_mode").fetchall()
    assert rows == 1
    assert mode == "wal"
    assert sample.engine.pool.size() == 1


async def serve_visits(backend: SQLBackend) -> None:
    """Three visits by one client, then the statements of a read: one SELECT, and no COMMIT
    (the expiry, slid a moment ago, is within its granularity)."""
    await backend.create_table()
    app = make_app(SessionStore(backend))
    app.add_route("/visit", visit, methods=["POST"])
    counter = StatementCounter(backend.engine)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert [(await http.post("/visit")).json() for _ in range(3)] == [1, 2, 3]
            counter.reset()
            await http.get("/get")
        assert counter.counts() == Counter({"SELECT": 1})
        assert counter.commits == 0
    finally:
        counter.close()
        async with backend.engine.begin() as conn:
            await conn.run_sync(backend.table.drop, checkfirst=True)
        await backend.engine.dispose()


@pytest.mark.parametrize(
    "kind",
    [
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
async def test_the_recommended_engines(load_sample: LoadSample, kind: str, tmp_path: Path) -> None:
    engines = load_sample("docs_src.sql.engines")
    if kind == "sqlite":
        engine = engines.sqlite_engine(str(tmp_path / "sessions.db"))
    elif kind == "postgres":
        engine = engines.postgresql_engine(database_url("postgres"))
    else:
        engine = engines.mariadb_engine(database_url("mysql"))
    await serve_visits(SQLBackend(engine, table=unique_table()))
