"""An old library's cookie (``migrate_from=``) is carried over once, and its user is revocable.

The old cookies are signed the way Starlette's ``SessionMiddleware`` and the original
starlette-session 0.4 signed theirs (``tests/test_migration.py`` checks that against both);
every real backend (the ``real`` fixture) remembers which were carried over.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from starlette_session import SessionStore, load_session
from starlette_session.migration import MigrateFrom
from tests.security.conftest import SECRET, Client, Real, build_app
from tests.security.pausing import live_sessions_of
from tests.test_migration import OLD_SECRET, original_cookie

SCHEMES = ["starlette", "starlette-session-0.4"]
OLD_SESSION = {"user_id": "alice", "cart": ["apple"]}


async def account(request: Request) -> Response:
    # What the documentation shows: the first request of a carried-over session binds its
    # user, so that user_sessions() lists it and revoke_user_sessions() ends it.
    session = await load_session(request)
    user = session.get("user_id")
    if session.user_id is None and isinstance(user, str):
        await session.begin_login(user)
        session.set_user(user)
    return JSONResponse({"data": dict(session), "user": session.user_id})


def app_for(real: Real, scheme: str) -> Any:
    migrate_from: MigrateFrom = scheme  # type: ignore[assignment]
    return build_app(
        SessionStore(real.counting),
        routes=[Route("/account", account)],
        secret_key=[SECRET, OLD_SECRET],
        migrate_from=migrate_from,
    )


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_an_old_cookie_is_carried_over_once_and_opens_nothing_after(
    real: Real, scheme: str
) -> None:
    # 1.0: a copy of the old cookie signed in again after the migrated session logged out and
    # after two revocations (3 of 3 replays each), and was never listed.
    app = app_for(real, scheme)
    old = original_cookie(OLD_SESSION)
    browser = Client(app, old)
    reply = await browser.get("/account")
    assert reply.json() == {"data": OLD_SESSION, "user": "alice"}
    assert browser.cookie != old  # the browser holds this library's cookie now
    assert len(await app.store.user_sessions("alice")) == 1  # listed: revocable

    copy = Client(app, old)  # taken before the deploy
    assert (await copy.get("/account")).json() == {"data": {}, "user": None}

    await browser.post("/logout")
    for _ in range(3):
        assert (await Client(app, old).get("/account")).json() == {"data": {}, "user": None}
    assert await live_sessions_of(real, "alice") == []


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_a_revoked_carried_over_session_cannot_be_carried_over_again(
    real: Real, scheme: str
) -> None:
    app = app_for(real, scheme)
    old = original_cookie(OLD_SESSION)
    browser = Client(app, old)
    assert (await browser.get("/account")).json()["user"] == "alice"
    for _ in range(2):
        assert await app.store.revoke_user_sessions("alice") in (0, 1)
        for replay in range(3):
            reply = await Client(app, old).get("/account")
            assert reply.json() == {"data": {}, "user": None}, replay
    assert (await browser.get("/account")).json()["user"] is None
    assert await live_sessions_of(real, "alice") == []


async def test_concurrent_requests_with_one_old_cookie_carry_it_over_at_most_once(
    real: Real,
) -> None:
    app = app_for(real, "starlette")
    old = original_cookie(OLD_SESSION)
    replies = await asyncio.gather(*(Client(app, old).get("/account") for _ in range(10)))
    assert sorted(reply.json()["user"] or "" for reply in replies) == [""] * 9 + ["alice"]
    assert len(await live_sessions_of(real, "alice")) == 1
