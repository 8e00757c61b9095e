"""``create_table()`` checks a table that already exists: its columns, their types and its primary
key, naming each difference (``SessionSettingsError``) instead of accepting a table every request
then fails on with 503. On SQLite, PostgreSQL and MariaDB; over HTTP through an app's lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

pytest.importorskip("sqlalchemy")

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from starlette_session import SessionMiddleware, SessionSettingsError, SessionStore
from starlette_session.backends.sql import SQLBackend
from starlette_session.cli import ddl
from tests.helpers import SECRET, make_app
from tests.sql_support import database_url, sqlite_url, unique_table

BASE = "http://testserver"

KINDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mariadb", marks=pytest.mark.mysql),
]
#: The issue's table: the right names, the wrong types.
ISSUE_TABLE = (
    "CREATE TABLE {t} (store_key VARCHAR(255) NOT NULL PRIMARY KEY, value TEXT NOT NULL, "
    "expires_at TIMESTAMP NULL)"
)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def engine(kind: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = sqlite_url(tmp_path / "s.db") if kind == "sqlite" else database_url(kind)
    engine = create_async_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def table(engine: AsyncEngine) -> AsyncIterator[str]:
    name = unique_table()
    yield name
    async with engine.begin() as conn:
        await conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))


async def make_table(engine: AsyncEngine, statement: str, table: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text(statement.format(t=table)))


def dialect_name(engine: AsyncEngine) -> str:
    return "mysql" if engine.dialect.name in ("mysql", "mariadb") else engine.dialect.name


def lifespan_app(backend: SQLBackend) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await backend.create_table()
        yield

    app = make_app(SessionStore(backend))
    app.router.lifespan_context = lifespan
    return app


async def test_the_issues_table_is_refused_naming_each_difference(
    engine: AsyncEngine, table: str
) -> None:
    await make_table(engine, ISSUE_TABLE, table)
    backend = SQLBackend(engine, table=table)
    with pytest.raises(SessionSettingsError) as refused:
        await backend.create_table()
    message = str(refused.value)
    assert f"the table {table} exists but cannot hold sessions" in message
    assert "value is TEXT, not binary" in message
    assert "expires_at is TIMESTAMP" in message
    assert "not BIGINT" in message
    assert f"starlette_session ddl --dialect {engine.dialect.name}" in message


def test_an_app_whose_lifespan_creates_the_table_fails_at_start_up(
    kind: str, tmp_path: Path
) -> None:
    url = sqlite_url(tmp_path / "s.db") if kind == "sqlite" else database_url(kind)
    name = unique_table()

    async def run(statement: str) -> None:
        engine = create_async_engine(url)
        try:
            await make_table(engine, statement, name)
        finally:
            await engine.dispose()

    asyncio.run(run(ISSUE_TABLE))
    try:
        app = lifespan_app(SQLBackend(create_async_engine(url, poolclass=NullPool), table=name))
        with pytest.raises(SessionSettingsError, match="value is TEXT"), TestClient(app):
            pass
    finally:
        asyncio.run(run("DROP TABLE IF EXISTS {t}"))


SHAPES: dict[str, tuple[str, str, set[str]]] = {
    # name: (CREATE TABLE, what the message says (a pattern), the kinds it applies to)
    "missing-column": (
        "CREATE TABLE {t} (store_key VARCHAR(255) NOT NULL PRIMARY KEY, value {blob} NOT NULL)",
        "it has no column expires_at",
        {"sqlite", "postgres", "mysql"},
    ),
    "another-primary-key": (
        "CREATE TABLE {t} (id INTEGER NOT NULL PRIMARY KEY, store_key {key} NOT NULL, "
        "value {blob} NOT NULL, expires_at BIGINT NULL)",
        r"its primary key is \(id\), not \(store_key\)",
        {"sqlite", "postgres", "mysql"},
    ),
    "no-primary-key": (
        "CREATE TABLE {t} (store_key {key} NOT NULL, value {blob} NOT NULL, "
        "expires_at BIGINT NULL)",
        "its primary key is missing",
        {"sqlite", "postgres", "mysql"},
    ),
    "short-key": (
        "CREATE TABLE {t} (store_key VARCHAR(64) {bin} NOT NULL PRIMARY KEY, value {blob} NOT NULL,"
        " expires_at BIGINT NULL)",
        "store_key holds 64 characters, not 255",
        {"sqlite", "postgres", "mysql"},
    ),
    "integer-key": (
        "CREATE TABLE {t} (store_key INTEGER NOT NULL PRIMARY KEY, value {blob} NOT NULL, "
        "expires_at BIGINT NULL)",
        r"store_key is INTEGER(\(11\))?, not VARCHAR\(255\)",
        {"sqlite", "postgres", "mysql"},
    ),
    "32-bit-expiry": (
        "CREATE TABLE {t} (store_key {key} NOT NULL PRIMARY KEY, value {blob} NOT NULL, "
        "expires_at INTEGER NULL)",
        r"expires_at is INTEGER(\(11\))?, not BIGINT",
        {"postgres", "mysql"},
    ),
    "expiry-not-null": (
        "CREATE TABLE {t} (store_key {key} NOT NULL PRIMARY KEY, value {blob} NOT NULL, "
        "expires_at BIGINT NOT NULL)",
        "expires_at is NOT NULL",
        {"sqlite", "postgres", "mysql"},
    ),
    "required-extra-column": (
        "CREATE TABLE {t} (store_key {key} NOT NULL PRIMARY KEY, value {blob} NOT NULL, "
        "expires_at BIGINT NULL, owner VARCHAR(20) NOT NULL)",
        "its column owner is NOT NULL without a default",
        {"sqlite", "postgres", "mysql"},
    ),
    "64-kib-blob": (
        "CREATE TABLE {t} (store_key {key} NOT NULL PRIMARY KEY, value BLOB NOT NULL, "
        "expires_at BIGINT NULL)",
        "value is BLOB, which holds at most 64 KiB",
        {"mysql"},
    ),
    "case-insensitive-key": (
        "CREATE TABLE {t} (store_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_general_ci "
        "NOT NULL PRIMARY KEY, value LONGBLOB NOT NULL, expires_at BIGINT NULL)",
        r"store_key compares case-insensitively \(collation ascii_general_ci\)",
        {"mysql"},
    ),
}
TYPES = {
    "sqlite": {"key": "VARCHAR(255)", "blob": "BLOB", "bin": ""},
    "postgres": {"key": "VARCHAR(255)", "blob": "BYTEA", "bin": ""},
    "mysql": {
        "key": "VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin",
        "blob": "LONGBLOB",
        "bin": "CHARACTER SET ascii COLLATE ascii_bin",
    },
}


def shapes() -> Iterator[Any]:
    for name, (statement, problem, kinds) in SHAPES.items():
        for kind_param in KINDS:
            kind = kind_param.values[0]
            if kind in kinds:
                yield pytest.param(
                    kind, statement, problem, id=f"{kind_param.id}-{name}", marks=kind_param.marks
                )


@pytest.mark.parametrize(("shape_kind", "statement", "problem"), list(shapes()))
async def test_a_table_of_another_shape_is_refused_naming_what_differs(
    shape_kind: str, statement: str, problem: str, tmp_path: Path
) -> None:
    url = sqlite_url(tmp_path / "s.db") if shape_kind == "sqlite" else database_url(shape_kind)
    engine = create_async_engine(url)
    name = unique_table()
    try:
        await make_table(engine, statement.format(t="{t}", **TYPES[shape_kind]), name)
        with pytest.raises(SessionSettingsError, match=problem):
            await SQLBackend(engine, table=name).create_table()
    finally:
        async with engine.begin() as conn:
            await conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        await engine.dispose()


async def test_the_table_the_ddl_command_prints_is_accepted_and_serves_sessions(
    engine: AsyncEngine, table: str
) -> None:
    async with engine.begin() as conn:
        for statement in ddl(dialect_name(engine), table):
            await conn.execute(sa.text(statement))
        # A column of the application's own does not stop the table from serving sessions.
        await conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN note VARCHAR(20) NULL"))
    backend = SQLBackend(engine, table=table)
    await backend.create_table()
    await backend.create_table()  # and again, as every start does
    app = make_app(SessionStore(backend))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        assert (await http.get("/set", params={"a": "1"})).json() == {"a": "1"}
        assert (await http.get("/login", params={"user": "alice"})).status_code == 200
        assert (await http.get("/get")).json() == {"a": "1", "user": "alice"}


def test_a_key_prefix_longer_than_the_key_column_is_refused_at_start_up(tmp_path: Path) -> None:
    engine = create_async_engine(sqlite_url(tmp_path / "s.db"))
    store: SessionStore[Any] = SessionStore(SQLBackend(engine), key_prefix="p" * 187)
    with pytest.raises(SessionSettingsError, match="key_prefix of at most 186 characters"):
        SessionMiddleware(make_app(SessionStore()), secret_key=SECRET, store=store)
