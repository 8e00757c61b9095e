"""Recent authentication over HTTP, on memory, Redis and SQLite.

``set_user(user, method=...)`` after ``begin_login`` records when and how the user proved who
they are; ``reauthenticated()`` records it again under a new id; ``RequireRecentAuth`` answers
401 without a user and 403 when the authentication is too old or of another method. Kept
across new ids, cleared by a log-out, never settable from session data, and checked without a
backend call of its own.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from starlette_session import (
    ReauthenticationRequired,
    RequireRecentAuth,
    Session,
    SessionMiddleware,
    SessionStore,
    load_session,
    require_recent_auth,
)
from starlette_session.backends import SessionBackend
from starlette_session.state import AUTH_METHOD, AUTH_TIME
from tests.security.conftest import SECRET, Client, CountingBackend, FakeTime, build_app


async def _login_with(request: StarletteRequest) -> Response:
    body = await request.json()
    session = await load_session(request)
    await session.begin_login(body["user"])
    session.regenerate()
    session.set_user(body["user"], method=body.get("method", "password"))
    session["user"] = body["user"]
    return JSONResponse({"at": session.authenticated_at, "method": session.authentication_method})


async def _confirm(request: StarletteRequest) -> Response:
    body = await request.json()
    session = await load_session(request)
    session.reauthenticated(body.get("method", "password"))  # (the password is checked here)
    return JSONResponse({"at": session.authenticated_at})


async def _billing(request: StarletteRequest) -> Response:
    session = await require_recent_auth(request, 300)
    return JSONResponse({"user": session.user_id})


WEBAUTHN_ONLY = RequireRecentAuth(300, methods=["webauthn"])


async def _keys(request: StarletteRequest) -> Response:
    session = await WEBAUTHN_ONLY.check(request)
    return JSONResponse({"user": session.user_id})


async def _same_user_again(request: StarletteRequest) -> Response:
    session = await load_session(request)
    session.set_user(session.user_id)  # no begin_login: proves nothing
    return JSONResponse({"at": session.authenticated_at})


ROUTES = [
    Route("/login-with", _login_with, methods=["POST"]),
    Route("/confirm", _confirm, methods=["POST"]),
    Route("/billing", _billing),
    Route("/keys", _keys),
    Route("/same-user-again", _same_user_again, methods=["POST"]),
]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    return FakeTime(monkeypatch, start=time.time())


@pytest.fixture
def app_and_calls(backend_with_sqlite: SessionBackend) -> tuple[Any, CountingBackend]:
    counting = CountingBackend(backend_with_sqlite)
    return build_app(SessionStore(counting), routes=ROUTES), counting


async def test_a_fresh_log_in_passes_and_an_old_one_must_confirm(
    app_and_calls: Any, clock: FakeTime
) -> None:
    app, _ = app_and_calls
    client = Client(app)
    assert (await client.get("/billing")).status == 401
    logged = (await client.post("/login-with", {"user": "ann"})).json()
    assert logged == {"at": int(clock.now), "method": "password"}
    assert (await client.get("/billing")).json() == {"user": "ann"}

    clock.advance(301)
    refused = await client.get("/billing")
    assert refused.status == 403
    assert b"confirm who you are" in refused.body

    before = client.cookie
    assert (await client.post("/confirm")).json() == {"at": int(clock.now)}
    assert client.cookie != before  # a new id, as at a log-in
    assert (await client.get("/billing")).json() == {"user": "ann"}
    assert (await client.get()).json()["data"] == {"user": "ann"}  # the data stays


async def test_methods_can_be_required(app_and_calls: Any, clock: FakeTime) -> None:
    app, _ = app_and_calls
    client = Client(app)
    await client.post("/login-with", {"user": "ann", "method": "password"})
    assert (await client.get("/keys")).status == 403
    await client.post("/confirm", {"method": "webauthn"})
    assert (await client.get("/keys")).json() == {"user": "ann"}
    assert (await client.get("/billing")).status == 200


async def test_kept_across_new_ids_and_cleared_by_log_out(
    app_and_calls: Any, clock: FakeTime
) -> None:
    app, _ = app_and_calls
    client = Client(app)
    await client.post("/login-with", {"user": "ann"})
    old_cookie = client.cookie
    assert (await client.post("/regenerate")).status == 200
    assert client.cookie != old_cookie
    assert (await client.get("/billing")).status == 200

    await client.post("/logout")
    assert (await client.get("/billing")).status == 401
    await client.post("/write", {"cart": ["tea"]})  # a new, anonymous session
    assert (await client.get("/billing")).status == 401


async def test_a_log_in_as_another_user_does_not_inherit_it(
    app_and_calls: Any, clock: FakeTime
) -> None:
    app, _ = app_and_calls
    client = Client(app)
    await client.post("/login-with", {"user": "ann", "method": "webauthn"})
    clock.advance(400)
    await client.post("/login-with", {"user": "bob", "method": "password"})
    assert (await client.get("/keys")).status == 403  # bob's is a password log-in
    assert (await client.get("/billing")).status == 200


async def test_never_settable_from_session_data(app_and_calls: Any, clock: FakeTime) -> None:
    app, _ = app_and_calls
    client = Client(app)
    await client.post("/login-with", {"user": "ann"})
    clock.advance(301)
    forged = {AUTH_TIME: int(clock.now), AUTH_METHOD: "webauthn", "m": {AUTH_TIME: 1}}
    await client.post("/write", forged)
    assert (await client.get("/billing")).status == 403
    assert (await client.get("/keys")).status == 403


async def test_binding_the_own_user_again_proves_nothing(
    app_and_calls: Any, clock: FakeTime
) -> None:
    app, _ = app_and_calls
    client = Client(app)
    first = (await client.post("/login-with", {"user": "ann"})).json()["at"]
    clock.advance(301)
    assert (await client.post("/same-user-again")).json() == {"at": first}
    assert (await client.get("/billing")).status == 403


async def test_the_check_costs_no_backend_call_of_its_own(
    app_and_calls: Any, clock: FakeTime
) -> None:
    app, counting = app_and_calls
    client = Client(app)
    await client.post("/login-with", {"user": "ann"})
    counting.calls.clear()
    await client.get("/billing")
    assert counting.names() == ["read"]  # the session's load, nothing more
    counting.calls.clear()
    await Client(app).get("/billing")  # no cookie: 401 without any call
    assert counting.calls == []


async def test_reauthenticated_needs_a_user(app_and_calls: Any) -> None:
    app, _ = app_and_calls
    client = Client(app)
    await client.post("/write", {"cart": ["tea"]})
    with pytest.raises(Exception, match="needs a signed-in user"):
        await client.post("/confirm")


# FastAPI: the dependency, and an exception handler that turns 403 into the confirmation page.

fastapi_app = FastAPI()
RecentSession = Annotated[Session, Depends(RequireRecentAuth(300))]


@fastapi_app.exception_handler(ReauthenticationRequired)
async def confirm_page(request: Request, exc: ReauthenticationRequired) -> Response:
    return RedirectResponse(f"/confirm?next={request.url.path}", status_code=303)


@fastapi_app.get("/billing")
async def billing(session: RecentSession) -> dict[str, Any]:
    return {"user": session.user_id}


@fastapi_app.post("/login")
async def login(request: Request) -> dict[str, Any]:
    session = await load_session(request)
    await session.begin_login("ann")
    session.regenerate()
    session.set_user("ann", method="otp")
    session["user"] = "ann"
    return {}


async def test_as_a_fastapi_dependency_with_a_confirmation_page(
    backend_with_sqlite: SessionBackend, clock: FakeTime
) -> None:
    app = SessionMiddleware(fastapi_app, secret_key=SECRET, store=SessionStore(backend_with_sqlite))
    client = Client(app)
    assert (await client.get("/billing")).status == 401
    await client.post("/login")
    assert (await client.get("/billing")).json() == {"user": "ann"}
    clock.advance(301)
    reply = await client.get("/billing")
    assert reply.status == 303
    assert reply.header("location") == "/confirm?next=/billing"
