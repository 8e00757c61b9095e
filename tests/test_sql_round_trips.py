"""How many SQL statements each kind of request costs, on SQLite, PostgreSQL and MariaDB.

Statements are counted by SQLAlchemy's ``before_cursor_execute`` event on the engine, commits by
its ``commit`` event (``tests.sql_support.StatementCounter``). Each test first warms up the
engine's pool, so that only the request under test is counted.

Per request: unused 0; read 1 (an ``UPDATE ... RETURNING`` that slides the expiry; MariaDB,
which has no ``UPDATE ... RETURNING``, a ``SELECT`` and an ``UPDATE``); change: the read plus one
compare-and-set ``UPDATE``; a new session 1 ``INSERT``. PostgreSQL runs each statement in
autocommit (no ``BEGIN``/``COMMIT``); SQLite and MariaDB commit once per backend operation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import httpx
import pytest

pytest.importorskip("sqlalchemy")

from starlette_session import SessionStore
from tests.helpers import make_app, session_cookie
from tests.sql_support import (
    StatementCounter,
    database_url,
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
        mysql = self.kind.startswith("mysql")
        return Counter({"SELECT": 1, "UPDATE": 1} if mysql else {"UPDATE": 1})

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


async def test_reading_a_session_is_one_statement_where_update_returns(served: Served) -> None:
    response = await served.http.get("/get")
    assert response.json() == {"n": "1"}
    assert served.statements.counts() == served.read_statements()
    assert served.statements.commits == served.commits(1)
    assert "set-cookie" not in response.headers


async def test_changing_a_session_is_the_read_and_one_compare_and_set(served: Served) -> None:
    response = await served.http.get("/set", params={"n": "2"})
    assert response.json() == {"n": "2"}
    assert served.statements.counts() == served.read_statements() + Counter({"UPDATE": 1})
    assert served.statements.commits == served.commits(2)


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
    # MariaDB's SELECT finds nothing, so it sends no UPDATE.
    expected = {"SELECT": 1} if served.kind.startswith("mysql") else {"UPDATE": 1}
    assert served.statements.counts() == Counter(expected)
