"""How many SQL statements each kind of request costs, on SQLite, PostgreSQL and MariaDB.

Statements are counted by SQLAlchemy's ``before_cursor_execute`` event on the engine, commits by
its ``commit`` event (``tests.sql_support.StatementCounter``). Each test first warms up the
engine's pool, so that only the request under test is counted.

Per request: unused 0; read 1 read-only ``SELECT`` (no commit) while the stored expiry lags the
sliding one by less than the backend's ``expiry_granularity``, and once past it the ``SELECT``
plus one ``UPDATE`` of the expiry, the same on every database; change: the read plus one
compare-and-set ``UPDATE``; a new session 1 ``INSERT``. PostgreSQL runs each statement in
autocommit (no ``BEGIN``/``COMMIT``); SQLite and MariaDB commit once per backend operation that
writes.

Without cursor-execution listeners (no counter, no instrumentation, no ``echo``) the read's
``SELECT`` goes to asyncpg or aiosqlite directly: the driver's own trace counts it.

Time is the backend's ``clock``, moved forward by hand (the store's own checks use the real
clock, so only the stored expiry sees the time pass).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import httpx
import pytest

pytest.importorskip("sqlalchemy")

from sqlalchemy import event

from starlette_session import SessionStore
from tests.helpers import make_app, session_cookie
from tests.sql_support import (
    StatementCounter,
    database_url,
    driver_statements,
    sql_backend,
    sqlite_url,
)

if TYPE_CHECKING:
    from starlette_session.backends.sql import SQLBackend


class Served(NamedTuple):
    kind: str
    http: httpx.AsyncClient
    statements: StatementCounter
    backend: SQLBackend

    def read_statements(self) -> Counter[str]:
        return Counter({"SELECT": 1})

    def elapse(self, seconds: float) -> None:
        """Move the backend's clock (the stored expiries' time) ``seconds`` forward."""
        now = self.backend.clock() + seconds
        self.backend.clock = lambda: now

    def commits(self, operations: int) -> int:
        """Commits for ``operations`` backend operations: none in autocommit."""
        return 0 if self.kind in ("postgres", "mysql-autocommit") else operations


@pytest.fixture(
    params=[
        pytest.param("sqlite"),
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
        # The engine docs/sql.md recommends for MariaDB: no COMMIT or ROLLBACK round trips.
        pytest.param("mysql-autocommit", marks=pytest.mark.mysql),
    ]
)
async def served(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Served]:
    """An app whose store is SQL, with a session (``n=1``) already saved."""
    kind = request.param
    options = {}
    if kind == "sqlite":
        url = sqlite_url(tmp_path / "sessions.db")
    else:
        url = database_url(kind.split("-")[0])
    if kind == "mysql-autocommit":
        options = {"isolation_level": "AUTOCOMMIT", "skip_autocommit_rollback": True}
    async with sql_backend(url, engine_options=options) as backend:
        counter = StatementCounter(backend.engine)
        transport = httpx.ASGITransport(app=make_app(SessionStore(backend)))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            await http.get("/set", params={"n": "0"})
            await http.get("/set", params={"n": "1"})
            counter.reset()
            yield Served(kind, http, counter, backend)
        counter.close()


async def test_a_request_that_does_not_use_its_session_sends_nothing(served: Served) -> None:
    response = await served.http.get("/unused")
    assert served.statements.counts() == Counter()
    assert "set-cookie" not in response.headers


async def test_reading_a_session_is_one_select_that_writes_nothing(served: Served) -> None:
    response = await served.http.get("/get")
    assert response.json() == {"n": "1"}
    assert served.statements.counts() == Counter({"SELECT": 1})
    assert served.statements.commits == 0
    assert "set-cookie" not in response.headers


async def test_the_expiry_slides_once_per_granularity(served: Served) -> None:
    # The store's idle timeout is 14 days: the granularity is the default 60 s.
    assert served.backend.expiry_granularity == 60
    served.elapse(59)
    await served.http.get("/get")
    assert served.statements.counts() == Counter({"SELECT": 1}), "59 s: within the granularity"

    served.elapse(2)
    served.statements.reset()
    assert (await served.http.get("/get")).json() == {"n": "1"}
    assert served.statements.counts() == Counter({"SELECT": 1, "UPDATE": 1})
    assert served.statements.commits == served.commits(1)

    for _ in range(3):  # slid just now: plain reads again
        served.elapse(10)
        served.statements.reset()
        await served.http.get("/get")
        assert served.statements.counts() == Counter({"SELECT": 1})
        assert served.statements.commits == 0


async def test_changing_a_session_is_the_read_and_one_compare_and_set(served: Served) -> None:
    response = await served.http.get("/set", params={"n": "2"})
    assert response.json() == {"n": "2"}
    assert served.statements.counts() == served.read_statements() + Counter({"UPDATE": 1})
    assert served.statements.commits == served.commits(1), "the read commits nothing"


async def test_writing_an_unchanged_value_sends_only_the_read(served: Served) -> None:
    await served.http.get("/set", params={"n": "1"})
    assert served.statements.counts() == served.read_statements()


async def test_clearing_a_session_is_the_read_and_one_delete(served: Served) -> None:
    # On PostgreSQL the DELETE carries the session-ended NOTIFY in its own statement:
    # WITH ended AS (DELETE ...) SELECT pg_notify(...).
    await served.http.get("/clear")
    counts = served.statements.counts()
    assert counts == served.read_statements() + Counter({"DELETE": 1}) or (
        counts == served.read_statements() + Counter({"WITH": 1})
        and "DELETE FROM" in served.statements.statements[-1]
        and "pg_notify" in served.statements.statements[-1]
    )


async def test_the_first_write_of_a_new_visitor_is_one_insert(served: Served) -> None:
    served.http.cookies.clear()
    response = await served.http.get("/set", params={"n": "1"})
    assert served.statements.counts() == Counter({"INSERT": 1})
    assert served.statements.commits == served.commits(1)
    assert session_cookie(response) is not None


async def test_a_new_visitor_that_only_reads_sends_nothing(served: Served) -> None:
    served.http.cookies.clear()
    response = await served.http.get("/get")
    assert response.json() == {}
    assert served.statements.counts() == Counter()
    assert "set-cookie" not in response.headers


async def test_a_forged_cookie_costs_no_statement(served: Served) -> None:
    served.http.cookies.clear()
    served.http.cookies.set("session", "forged.65f0a1b2.c2lnbmF0dXJl")
    await served.http.get("/get")
    assert served.statements.counts() == Counter()


async def test_an_expired_row_is_never_returned_and_costs_one_read(served: Served) -> None:
    import sqlalchemy as sa

    table = served.backend.table
    async with served.backend.engine.begin() as conn:  # every session expired a second ago
        await conn.execute(sa.update(table).values(expires_at=served.backend._now() - 1000))
    served.statements.reset()

    response = await served.http.get("/get")

    assert response.json() == {}
    assert served.statements.counts() == Counter({"SELECT": 1})


async def test_the_idle_timeout_holds_to_within_the_granularity(served: Served) -> None:
    # idle_timeout=100: the backend's granularity is a tenth of it, 10 s.
    app = make_app(SessionStore(served.backend, idle_timeout=100))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:

        async def visit(path: str, cookies: dict[str, str], **params: str) -> object:
            http.cookies.clear()
            http.cookies.update(cookies)
            return (await http.get(path, params=params)).json()

        await visit("/set", {}, n="used")
        used = dict(http.cookies)
        served.statements.reset()
        for _ in range(60):  # a request every 5 s for 300 s, three times the idle timeout
            served.elapse(5)
            assert await visit("/get", used) == {"n": "used"}
        # A slide once more than 10 s passed since the last one: every third read.
        assert served.statements.counts() == Counter({"SELECT": 60, "UPDATE": 20})

        await visit("/set", {}, n="idle")
        idle = dict(http.cookies)
        served.elapse(89)  # idle for ttl - granularity: still there
        assert await visit("/get", idle) == {"n": "idle"}
        served.elapse(100.001)  # idle for longer than the idle timeout: gone
        assert await visit("/get", idle) == {}
        assert await visit("/get", used) == {}


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_unobserved_a_read_is_one_select_at_the_driver(kind: str, tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "s.db") if kind == "sqlite" else database_url(kind)
    one = {"pool_size": 1, "max_overflow": 0}
    async with sql_backend(url, engine_options=one) as backend:
        assert await backend.create("k", b"value", 3600)
        statements = await driver_statements(backend.engine)
        cores: list[object] = []  # Core connections made: none, the reads skip SQLAlchemy Core
        event.listen(backend.engine.sync_engine, "engine_connect", cores.append)

        assert await backend.read("k", 3600) == b"value"
        assert await backend.read("missing", 3600) is None
        assert cores == []

        # No BEGIN, COMMIT or ROLLBACK: each read is one SELECT and leaves no transaction.
        assert [statement.split(None, 1)[0] for statement in statements] == ["SELECT"] * 2

        backend.engine.sync_engine.echo = True  # a logged engine: SQLAlchemy runs the read
        assert await backend.read("k", 3600) == b"value"
        assert len(cores) == 1
