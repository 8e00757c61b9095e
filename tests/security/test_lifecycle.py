"""Requirements 5-9: strict ids, regenerate, logout, slow requests against logout, no stored
anonymous sessions. Requirement 10 (revoking every session of a user) is in
``test_revocation.py``."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from starlette_session import Session, SessionStore, load_session
from starlette_session.records import RETIRED
from tests.security.conftest import Client, Real, build_app, session_id

# 5. Strict ids.


async def _never_existed(real: Real, client: Client) -> str:
    return client.app.signer.sign("attacker-chosen-" + secrets.token_urlsafe(16))


async def _destroyed(real: Real, client: Client) -> str:
    await client.post("/write", {"victim": "data"})
    copy = client.cookie
    assert copy is not None
    await client.post("/logout")
    return copy


async def _expired(real: Real, client: Client) -> str:
    await client.post("/write", {"victim": "data"})
    copy = client.cookie
    assert copy is not None
    await real.elapse(2.2)  # the store's idle timeout is 1 s
    return copy


@pytest.mark.parametrize(
    "make_cookie", [_never_existed, _destroyed, _expired], ids=["never", "destroyed", "expired"]
)
async def test_a_signed_unknown_id_is_never_adopted(
    real: Real,
    make_cookie: Callable[[Real, Client], Awaitable[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real.freeze_time(monkeypatch)
    app = build_app(SessionStore(real.counting, idle_timeout=1))
    cookie = await make_cookie(real, Client(app))
    assert app.signer.unsign(cookie) is not None  # validly signed by our own key
    forged_key = app.store.storage_key(session_id(cookie))

    client = Client(app, cookie)
    assert (await client.get()).json()["new"] is True
    reply = await client.post("/write", {"planted": True})

    new_cookie = reply.cookie_value()
    assert new_cookie
    assert session_id(new_cookie) != session_id(cookie)
    assert forged_key not in await real.keys()
    assert await real.raw(app.store.storage_key(session_id(new_cookie))) is not None
    # The old value still opens nothing.
    assert (await Client(app, cookie).get()).json()["data"] == {}


# 6. Regenerate.


async def test_regenerate_keeps_data_writes_new_before_deleting_old(real: Real) -> None:
    app = build_app(SessionStore(real.counting))
    client = Client(app)
    await client.post("/write", {"cart": ["apple"], "n": 1})
    old = client.cookie
    assert old is not None
    old_key = app.store.storage_key(session_id(old))
    await real.reset_counts()

    reply = await client.post("/regenerate")

    new = reply.cookie_value()
    assert new
    assert session_id(new) != session_id(old)
    new_key = app.store.storage_key(session_id(new))
    writes = [(name, args) for name, args in real.counting.calls if name != "read"]
    created = [i for i, (name, args) in enumerate(writes) if (name, args[0]) == ("create", new_key)]
    retired = [
        i
        for i, (name, args) in enumerate(writes)
        if name == "replace" and args[0] == old_key and args[2] == RETIRED
    ]
    assert created
    assert retired, f"the old entry was not retired: {real.counting.calls}"
    assert created[0] < retired[0], f"the old entry was retired first: {real.counting.calls}"

    assert (await client.get()).json()["data"] == {"cart": ["apple"], "n": 1}
    stale = await Client(app, old).get()
    assert stale.json()["data"] == {}
    assert stale.json()["new"] is True
    assert await real.raw(old_key) in (None, RETIRED)


async def test_login_rotates_the_id_of_an_anonymous_session_with_data(real: Real) -> None:
    # Session fixation: a cookie planted before log-in must not become the logged-in session.
    app = build_app(SessionStore(real.counting))
    victim = Client(app)
    await victim.post("/write", {"theme": "dark"})
    planted = victim.cookie
    assert planted is not None
    await victim.post("/login", {"user": "alice"})
    assert victim.cookie is not None
    assert session_id(victim.cookie) != session_id(planted)
    assert (await Client(app, planted).get()).json() == {
        "data": {},
        "new": True,
        "user": None,
        "created": None,
    }


# 7. Logout.


@pytest.mark.parametrize(
    ("path", "domain"),
    [("/", None), ("/", "example.com"), ("/app", "example.com")],
)
async def test_logout_destroys_server_side_and_expires_the_same_cookie(
    real: Real, path: str, domain: str | None
) -> None:
    app = build_app(SessionStore(real.counting), path=path, domain=domain)
    client = Client(app)
    login = await client.post("/login", {"user": "alice"})
    set_attributes = login.cookie_attributes()
    copy = client.cookie
    assert copy is not None
    key = app.store.storage_key(session_id(copy))
    assert key in await real.keys()

    logout = await client.post("/logout")

    expired = logout.cookie_attributes()
    assert logout.cookie_value() == ""
    assert expired["max-age"] == "0"
    assert "expires" in expired
    assert expired["path"] == set_attributes["path"] == path
    assert expired.get("domain") == set_attributes.get("domain") == domain
    assert await real.session_keys() == []
    assert (await Client(app, copy).get()).json()["data"] == {}


@pytest.mark.parametrize("cookie", [None, "garbage", "signed-unknown"])
async def test_destroying_a_never_saved_session_sends_no_cookie(
    real: Real, cookie: str | None
) -> None:
    app = build_app(SessionStore(real.counting))
    if cookie == "signed-unknown":
        cookie = app.signer.sign(secrets.token_urlsafe(32))
    reply = await Client(app, cookie).post("/logout")
    assert reply.status == 200
    assert reply.header_list("set-cookie") == []
    assert await real.keys() == []


# 8. A slow request never recreates a session destroyed meanwhile.


async def _race_slow_request_against_logout(
    real: Real, change: Callable[[Session], None], caplog: pytest.LogCaptureFixture
) -> tuple[Client, str, int, bytes, list[str]]:
    loaded, logged_out = asyncio.Event(), asyncio.Event()

    async def slow(request: Request) -> Response:
        session = await load_session(request)
        loaded.set()
        await logged_out.wait()  # the log-out completes while this request is still running
        change(session)
        return JSONResponse({"done": True})

    app = build_app(SessionStore(real.counting), routes=[Route("/slow", slow, methods=["POST"])])
    client = Client(app)
    await client.post("/login", {"user": "alice"})
    cookie = client.cookie
    assert cookie is not None

    async def logout() -> None:
        await loaded.wait()
        reply = await Client(app, cookie).post("/logout")
        assert reply.cookie_value() == ""
        logged_out.set()

    with caplog.at_level(logging.WARNING, logger="starlette_session"):
        slow_reply, _ = await asyncio.gather(Client(app, cookie).post("/slow"), logout())
    return client, cookie, slow_reply.status, slow_reply.body, slow_reply.header_list("set-cookie")


def _write(session: Session) -> None:
    session["cart"] = ["written after the log-out"]


def _regenerate(session: Session) -> None:
    session["elevated"] = True
    session.regenerate()


def _remember(session: Session) -> None:
    session.set_lifetime(3600)


@pytest.mark.parametrize("change", [_write, _regenerate, _remember])
async def test_slow_request_never_recreates_a_session_destroyed_meanwhile(
    real: Real, change: Callable[[Session], None], caplog: pytest.LogCaptureFixture
) -> None:
    client, cookie, status, body, set_cookies = await _race_slow_request_against_logout(
        real, change, caplog
    )

    assert await real.session_keys() == [], "the logged-out session was written back"
    assert status == 409
    assert b"session changed" in body
    assert set_cookies == []
    assert any("destroyed by another request" in record.getMessage() for record in caplog.records)
    assert (await Client(client.app, cookie).get()).json()["data"] == {}


async def test_slow_request_that_only_reads_does_not_fail_after_logout(real: Real) -> None:
    loaded, logged_out = asyncio.Event(), asyncio.Event()

    async def slow(request: Request) -> Response:
        session = await load_session(request)
        loaded.set()
        await logged_out.wait()
        return JSONResponse({"user": session.get("user")})

    app = build_app(SessionStore(real.counting), routes=[Route("/slow", slow)])
    client = Client(app)
    await client.post("/login", {"user": "alice"})

    async def logout() -> None:
        await loaded.wait()
        await Client(app, client.cookie).post("/logout")
        logged_out.set()

    reply, _ = await asyncio.gather(Client(app, client.cookie).get("/slow"), logout())
    assert reply.status == 200
    assert await real.session_keys() == []


# 9. Nothing stored and no cookie for sessions never written.


@pytest.mark.slow  # 10,000 generated cookies on every backend
async def test_ten_thousand_unknown_ids_store_nothing_and_send_no_cookie(real: Real) -> None:
    app = build_app(SessionStore(real.counting))
    keeper = Client(app)
    await keeper.post("/write", {"existing": 1})
    before = await real.keys()
    await real.reset_counts()
    rng = secrets.SystemRandom()
    alphabet = 'ABCDEFabcdef0123456789-_.%=" '

    for index in range(10_000):
        if index % 2:
            cookie = app.signer.sign(secrets.token_urlsafe(32))  # well-formed, validly signed
        else:
            cookie = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 120)))
        path = ("/read", "/regenerate", "/logout", "/set-user")[index % 4]
        method = "GET" if path == "/read" else "POST"
        reply = await Client(app, cookie).request(method, path, {"user": "u"})
        assert reply.status == 200, reply.body
        assert reply.header_list("set-cookie") == []

    assert await real.keys() == before
    assert {name for name in real.counting.names()} <= {"read"}
    commands = await real.redis_commands()
    assert set(commands) <= {"getex", "get"}
    assert set(real.sql_statements()) <= {"UPDATE", "SELECT"}  # reads only: no row written
