"""What SQLBackend does beyond the contract, on SQLite, PostgreSQL and MariaDB: statements per
operation, the table, purging, SQLite's settings and errors, and the command line."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import anyio
import pytest

pytest.importorskip("sqlalchemy")

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from starlette_session import SessionBackendError, SessionSetupError
from starlette_session.backends.sql import SQLBackend
from starlette_session.cli import ddl, main
from tests.backends.conftest import BackendCase
from tests.sql_support import StatementCounter, sql_backend, sqlite_url

REPO = Path(__file__).resolve().parents[2]
V = b'{"v":1}'


def _kind(backend: SQLBackend) -> str:
    return backend.engine.dialect.name


async def _count(backend: SQLBackend, operation: object) -> Counter[str]:
    counter = StatementCounter(backend.engine)
    try:
        await operation  # type: ignore[misc]
        return counter.counts()
    finally:
        counter.close()


async def test_statements_per_operation(sql_case: BackendCase) -> None:
    backend = sql_case.backend
    assert isinstance(backend, SQLBackend)
    mysql = _kind(backend) == "mysql"

    assert await _count(backend, backend.create("session:a", V, 60)) == {"INSERT": 1}
    # Stored a moment ago: a read with the same ttl has nothing to slide.
    assert await _count(backend, backend.read("session:a", 60)) == {"SELECT": 1}
    await sql_case.elapse(7)  # past the granularity, a tenth of the ttl: the read slides it
    assert await _count(backend, backend.read("session:a", 60)) == {"SELECT": 1, "UPDATE": 1}
    assert await _count(backend, backend.read("session:a")) == {"SELECT": 1}
    assert await _count(backend, backend.replace("session:a", V, b"{}", 60)) == {"UPDATE": 1}
    # A conflict reads the current value: a second statement only then.
    conflict = backend.replace("session:a", V, b"{}", 60)
    assert await _count(backend, conflict) == {"UPDATE": 1, "SELECT": 1}
    assert await _count(backend, backend.expire("session:a", 60)) == {"UPDATE": 1}
    assert await _count(backend, backend.delete("session:a", "session:b")) == {"DELETE": 1}
    assert await _count(backend, backend.delete()) == Counter()
    # MariaDB learns that the key is taken from the INSERT's error, then tries to take it over.
    await backend.create("session:a", V, 60)
    taken = Counter({"INSERT": 1, "UPDATE": 1} if mysql else {"INSERT": 1})
    assert await _count(backend, backend.create("session:a", V, 60)) == taken


async def test_expired_rows_are_never_returned_and_a_create_takes_them_over(
    sql_case: BackendCase,
) -> None:
    backend = sql_case.backend
    await backend.create("session:a", V, 1)
    await sql_case.elapse(1.001)
    assert await backend.read("session:a") is None
    assert await backend.read("session:a", 60) is None
    assert await backend.replace("session:a", V, b"{}", 60) == (False, None)
    await backend.expire("session:a", 60)
    assert await backend.read("session:a") is None, "expire() must not revive an expired row"
    assert await backend.create("session:a", b"{}", 60) is True
    assert await backend.read("session:a") == b"{}"


async def test_a_session_in_use_lives_on_and_one_idle_for_its_ttl_is_gone(
    sql_case: BackendCase,
) -> None:
    backend = sql_case.backend
    assert isinstance(backend, SQLBackend)
    counter = StatementCounter(backend.engine)
    try:
        await backend.create("session:used", V, 100)  # granularity: a tenth, 10 s
        for _ in range(100):  # used every 9 s for 900 s, nine times its ttl
            await sql_case.elapse(9)
            assert await backend.read("session:used", 100) == V
        # A slide every other read (18 s > 10 s), never more.
        assert counter.counts() == {"INSERT": 1, "SELECT": 100, "UPDATE": 50}
    finally:
        counter.close()
    await backend.create("session:idle", V, 100)
    assert await backend.read("session:idle", 100) == V  # nothing to slide: written just now

    await sql_case.elapse(89.9)  # idle up to ttl - granularity: still there
    assert await backend.read("session:idle", 100) == V
    await sql_case.elapse(100.001)  # idle for longer than the ttl, whatever the lag: gone
    assert await backend.read("session:idle", 100) is None
    assert await backend.read("session:used", 100) is None


async def test_a_read_never_shortens_an_expiry_and_expire_sets_it(sql_case: BackendCase) -> None:
    backend = sql_case.backend
    await backend.create("session:long", V, 1000)
    await backend.create("session:shortened", V, 1000)
    await backend.create("session:lengthened", V, 300)
    await sql_case.elapse(200)
    assert await backend.read("session:long", 100) == V  # 800 s left: more than a read gives
    await backend.expire("session:shortened", 100)
    await backend.expire("session:lengthened", 1000)

    await sql_case.elapse(500)

    assert await backend.read("session:long") == V
    assert await backend.read("session:shortened") is None
    assert await backend.read("session:lengthened") == V


async def test_expire_writes_only_past_the_granularity(sql_case: BackendCase) -> None:
    backend = sql_case.backend
    assert isinstance(backend, SQLBackend)
    await backend.create("session:a", V, 600)  # granularity: 60 s
    await sql_case.elapse(30)
    counter = StatementCounter(backend.engine)
    try:
        await backend.expire("session:a", 600)
        await sql_case.elapse(31)
        await backend.expire("session:a", 600)
        assert counter.counts() == {"UPDATE": 2}
    finally:
        counter.close()
    # One statement each, and only the second changed a row: 570 s left, then 600 s.
    await sql_case.elapse(599)
    assert await backend.read("session:a") == V
    await sql_case.elapse(2)
    assert await backend.read("session:a") is None


@pytest.mark.parametrize("granularity", [0, 5])
async def test_the_expiry_granularity_can_be_tuned(tmp_path: Path, granularity: float) -> None:
    now = [1_000_000.0]
    url = sqlite_url(tmp_path / "sessions.db")
    async with sql_backend(url, clock=lambda: now[0], expiry_granularity=granularity) as backend:
        await backend.create("session:a", V, 3600)
        counter = StatementCounter(backend.engine)
        try:
            for _ in range(4):
                now[0] += 3
                assert await backend.read("session:a", 3600) == V
            # 0: every read writes, as a store that must slide to the millisecond; 5 s: every
            # other read (a slide at 6 s and at 12 s).
            assert counter.counts()["UPDATE"] == (4 if granularity == 0 else 2)
        finally:
            counter.close()


@pytest.mark.parametrize("granularity", [-1, float("nan")])
def test_a_negative_granularity_is_refused(granularity: float) -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    with pytest.raises(ValueError, match="expiry_granularity"):
        SQLBackend(engine, expiry_granularity=granularity)


async def test_keys_are_case_sensitive_and_values_can_exceed_64_kib(sql_case: BackendCase) -> None:
    backend = sql_case.backend
    big = b"x" * (200 * 1024)
    assert await backend.create("session:AbC", big, 60) is True
    assert await backend.create("session:abc", V, 60) is True
    assert await backend.read("session:AbC") == big
    assert await backend.read("session:abc") == V


async def test_purge_deletes_only_expired_rows_in_batches(sql_case: BackendCase) -> None:
    backend = sql_case.backend
    assert isinstance(backend, SQLBackend)
    for index in range(7):
        await backend.create(f"session:old{index}", V, 1)
        await backend.create(f"session:live{index}", V, 600)
    await backend.create("session:user:kept", V, None)
    await sql_case.elapse(2)

    counter = StatementCounter(backend.engine)
    assert await backend.purge_expired(batch_size=3) == 7
    assert counter.counts() == {"DELETE": 3}  # 3 + 3 + 1
    counter.close()
    assert await backend.purge_expired() == 0
    async with backend.engine.connect() as conn:
        rows = await conn.execute(sa.select(sa.func.count()).select_from(backend.table))
        assert rows.scalar_one() == 8
    with pytest.raises(ValueError, match="batch_size"):
        await backend.purge_expired(batch_size=0)


class _Purges(logging.Handler):
    """Collects the periodic purge's own log lines, and wakes the test at each."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.results: list[str] = []
        self.ran = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("purging expired sessions"):
            self.results.append(record.getMessage())
            self.ran.set()


async def test_purging_runs_in_the_background_while_the_block_runs(tmp_path: Path) -> None:
    # Ordered by the purge's own reports (its DEBUG log line after each run), not by polling on
    # a timer; the 30-second bound only stops a purge that never comes.
    purges = _Purges()
    library_logger = logging.getLogger("starlette_session")
    level = library_logger.level
    library_logger.setLevel(logging.DEBUG)
    library_logger.addHandler(purges)
    try:
        async with sql_backend(sqlite_url(tmp_path / "s.db")) as backend:
            await backend.create("session:old", V, 1)
            await backend.create("session:live", V, 600)
            later = time.time() + 10
            backend.clock = lambda: later  # 10 s on: the first row has expired, not the second

            async with backend.purging(every=0.01):
                with anyio.fail_after(30):
                    while len(purges.results) < 2:  # it runs again and again
                        purges.ran.clear()
                        await purges.ran.wait()
            async with backend.engine.connect() as conn:
                left = await conn.execute(sa.select(backend.table.c.store_key))
                assert [row[0] for row in left] == ["session:live"]
            assert purges.results[:2] == [
                "purging expired sessions: 1 rows deleted",
                "purging expired sessions: 0 rows deleted",
            ]
    finally:
        library_logger.removeHandler(purges)
        library_logger.setLevel(level)
    with pytest.raises(ValueError, match="every"):
        async with backend.purging(every=0):
            pass


async def test_create_table_is_idempotent_even_from_several_engines_at_once(
    sql_case: BackendCase,
) -> None:
    backend = sql_case.backend
    assert isinstance(backend, SQLBackend)
    await backend.create("session:a", V, 60)
    url = backend.engine.url
    engines = [create_async_engine(url) for _ in range(4)]
    table = backend.table.name + "_b"
    try:
        await backend.create_table()  # the table exists: nothing happens, the row is kept
        others = [SQLBackend(engine, table=table) for engine in engines]
        await asyncio.gather(*(other.create_table() for other in others))
        await others[0].create_table()
        assert await others[1].create("session:b", V, 60) is True
        assert await backend.read("session:a") == V
    finally:
        async with engines[0].begin() as conn:
            await conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        for engine in engines:
            await engine.dispose()


async def test_a_missing_table_says_so(tmp_path: Path) -> None:
    engine = create_async_engine(sqlite_url(tmp_path / "s.db"))
    try:
        with pytest.raises(SessionBackendError, match="the table nope exists") as caught:
            await SQLBackend(engine, table="nope").read("session:a")
        assert "no such table" in str(caught.value.__cause__)
    finally:
        await engine.dispose()


async def test_errors_chain_the_driver_error_without_the_statement_or_its_values(
    tmp_path: Path,
) -> None:
    engine = create_async_engine(sqlite_url(tmp_path / "s.db"))
    try:
        with pytest.raises(SessionBackendError) as caught:
            await SQLBackend(engine, table="nope").create("session:secret-key", b"secret-value", 9)
        for text in (str(caught.value), str(caught.value.__cause__)):
            assert "secret" not in text
            assert "INSERT" not in text
        assert not isinstance(caught.value.__cause__, sa.exc.StatementError)
    finally:
        await engine.dispose()


async def test_an_unreachable_server_fails_fast_with_a_backend_error() -> None:
    engine = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:1/test")
    try:
        with pytest.raises(SessionBackendError, match="check that the database is reachable"):
            await SQLBackend(engine).read("session:a", 60)
    finally:
        await engine.dispose()


async def test_every_sqlite_connection_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    async with sql_backend(sqlite_url(tmp_path / "s.db"), timeout=2.0) as backend:
        connections = [await backend.engine.connect() for _ in range(3)]
        try:
            for conn in connections:
                mode = await conn.exec_driver_sql("PRAGMA journal_mode")
                assert mode.scalar_one() == "wal"
                busy = await conn.exec_driver_sql("PRAGMA busy_timeout")
                assert busy.scalar_one() == 1600  # 80% of the backend's timeout
        finally:
            for conn in connections:
                await conn.close()
    other = sqlite3.connect(tmp_path / "s.db")
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # kept in the file
    other.close()


def test_a_sqlite_file_in_a_missing_directory_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "sessions.db"
    engine = create_async_engine(sqlite_url(path))
    with pytest.raises(SessionSetupError, match="does not exist") as caught:
        SQLBackend(engine)
    assert str(path) in str(caught.value)


def test_a_sqlite_file_in_an_unwritable_directory_is_refused_naming_it(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        directory = Path("/sys")  # root may write anywhere but on a read-only file system
    else:
        directory = tmp_path / "read-only"
        directory.mkdir(mode=0o555)
    engine = create_async_engine(sqlite_url(directory / "sessions.db"))
    with pytest.raises(SessionSetupError, match="cannot be written") as caught:
        SQLBackend(engine)
    assert str(directory / "sessions.db") in str(caught.value)


def test_an_in_memory_sqlite_database_needs_no_directory() -> None:
    SQLBackend(create_async_engine("sqlite+aiosqlite://"))


def test_the_repr_names_the_driver_and_table_never_the_password() -> None:
    engine = create_async_engine("postgresql+asyncpg://user:hunter2@db.invalid/app")
    assert repr(SQLBackend(engine)) == "SQLBackend(postgresql+asyncpg, table='starlette_sessions')"


def test_the_import_error_names_the_extras() -> None:
    code = (
        "import sys; sys.modules['sqlalchemy'] = None\n"
        "try:\n    import starlette_session.backends.sql\n"
        "except ImportError as error:\n    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert "pip install 'starlette-session[sqlite]'" in result.stdout


# The command line


def test_the_docs_show_the_ddl_the_backend_creates() -> None:
    docs = (REPO / "docs" / "sql.md").read_text()
    for dialect in ("sqlite", "postgresql", "mariadb"):
        for statement in ddl(dialect):
            assert statement in docs, f"docs/sql.md lacks the {dialect} DDL:\n{statement}"


def test_cli_create_table_purge_and_ddl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = sqlite_url(tmp_path / "s.db")
    assert main(["create-table", "--url", url, "--table", "t"]) == 0
    database = sqlite3.connect(tmp_path / "s.db")
    database.execute("INSERT INTO t VALUES ('session:old', x'00', 1), ('session:new', x'00', NULL)")
    database.commit()
    assert main(["purge", "--url", url, "--table", "t", "--batch-size", "10"]) == 0
    assert database.execute("SELECT store_key FROM t").fetchall() == [("session:new",)]
    database.close()
    assert main(["ddl", "--dialect", "postgresql"]) == 0
    output = capsys.readouterr().out
    assert "table t is ready" in output
    assert "deleted 1 expired sessions from t" in output
    assert "BYTEA NOT NULL" in output


def test_cli_reads_the_url_from_the_environment_and_reports_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["purge"]) == 2
    monkeypatch.setenv("DATABASE_URL", sqlite_url(tmp_path / "s.db"))
    assert main(["purge", "--table", "missing"]) == 1
    assert "error: the SQL session backend failed" in capsys.readouterr().err


def test_python_dash_m_runs_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "starlette_session", "ddl", "--dialect", "sqlite"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    assert result.stdout.startswith("CREATE TABLE starlette_sessions")
