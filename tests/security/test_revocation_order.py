"""The order of a log-in and a revocation is the store's, never a clock's.

Each "worker" is its own ``SessionMiddleware`` and ``SessionStore`` on one real backend (the
``real`` fixture: memory, Redis, Valkey, SQLite, PostgreSQL, MariaDB), with its own wall clock:
``time.time()`` answers each worker's requests with that worker's skew, as two hosts whose
clocks disagree would. A log-in begins with ``session.begin_login(user)``, before the password
is checked (here: an event the test sets, or a hash verified in a thread), so a revocation that
lands while the password is checked ends it, and one that came before it never blocks it.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, cast

import anyio
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from starlette_session import Session, SessionMiddleware, SessionStore, load_session
from starlette_session.dependencies import get_session_handle
from starlette_session.exceptions import SessionDestroyedError, SessionSetupError
from tests.security.conftest import SECRET, Client, Real, asgi_request, build_app
from tests.security.pausing import live_sessions_of

_skew: contextvars.ContextVar[float] = contextvars.ContextVar("skew", default=0.0)


@contextmanager
def clock(skew: float) -> Iterator[None]:
    """Run the block on a worker whose wall clock is ``skew`` seconds off."""
    token = _skew.set(skew)
    try:
        yield
    finally:
        _skew.reset(token)


@pytest.fixture(autouse=True)
def skewed_clocks(monkeypatch: pytest.MonkeyPatch) -> None:
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + _skew.get())


class Worker:
    """A worker process: an app whose every request runs on its own clock."""

    def __init__(self, app: SessionMiddleware, skew: float) -> None:
        self.app, self.skew = app, skew
        self.store: SessionStore[Any] = app.store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with clock(self.skew):
            await self.app(scope, receive, send)

    async def revoke(self, user: str) -> int:
        with clock(self.skew):
            return await self.store.revoke_user_sessions(user)


def client(worker: Worker, cookie: str | None = None) -> Client:
    made = Client(worker.app, cookie)
    made.app = cast(Any, worker)  # the same ASGI app, on the worker's clock
    return made


async def begin_login(session: Session, user: str) -> None:
    # The same test runs against 1.0, which had no begin_login: there the log-in began when
    # the session was loaded, by the clock of the worker that loaded it.
    begin = getattr(session, "begin_login", None)
    if begin is not None:
        await begin(user)


def login_route(checking: asyncio.Event | None) -> Route:
    """POST /slow-login {"user"}: begins, checks the password (waits for ``checking``), logs in."""

    async def slow_login(request: Request) -> Response:
        user = (await request.json())["user"]
        session = await load_session(request)
        await begin_login(session, user)
        if checking is not None:
            await checking.wait()  # the password hash being verified
        session.regenerate(keep=[])
        session.set_user(user)
        session["user"] = user
        return JSONResponse({"user": user})

    return Route("/slow-login", slow_login, methods=["POST"])


def worker(real: Real, skew: float, checking: asyncio.Event | None = None) -> Worker:
    store: SessionStore[Any] = SessionStore(real.inner)
    return Worker(build_app(store, routes=[login_route(checking)]), skew)


@pytest.mark.parametrize("ahead", [2, 30])
async def test_a_log_in_on_a_clock_ahead_does_not_outlive_a_revocation_during_it(
    real: Real, ahead: float
) -> None:
    # 1.0: the log-in's start was its worker's time.time(), the revocation's stamp the
    # revoking worker's; a log-in worker whose clock is ahead kept a log-in it began before.
    checking = asyncio.Event()
    logging_in, revoking = worker(real, ahead, checking), worker(real, 0)
    attacker = client(logging_in)
    task = asyncio.ensure_future(attacker.post("/slow-login", {"user": "alice"}))
    await asyncio.sleep(0.05)  # the log-in began; its password is being checked

    await revoking.revoke("alice")  # the victim changed the password: log out everywhere
    checking.set()

    reply = await task
    assert reply.status == 409, reply.body
    assert await live_sessions_of(real, "alice") == []
    assert (await attacker.get()).json()["user"] is None


@pytest.mark.parametrize(("revoker", "logger_in"), [(30, 0), (0, -30)])
async def test_a_revocation_stamped_by_a_clock_ahead_blocks_no_later_log_in(
    real: Real, revoker: float, logger_in: float
) -> None:
    # 1.0: a revoking worker 30 s ahead (or a log-in worker 30 s behind) refused every
    # genuine log-in of the next 30 s with 409.
    revoking, logging_in = worker(real, revoker), worker(real, logger_in)
    await client(logging_in).post("/slow-login", {"user": "alice"})
    assert await revoking.revoke("alice") == 1
    for _ in range(6):
        device = client(logging_in)
        reply = await device.post("/slow-login", {"user": "alice"})
        assert reply.status == 200, reply.body
        assert (await device.get()).json()["user"] == "alice"
    assert len(await live_sessions_of(real, "alice")) == 6


async def test_the_store_orders_log_ins_and_revocations_of_workers_with_any_clocks(
    real: Real,
) -> None:
    # Three workers whose clocks differ by a minute, in every role: a log-in that began before
    # a revocation and ended after it is gone; one that began after it stands.
    skews = (-30.0, 0.0, 30.0)
    for round_ in range(6):
        user = f"bob-{round_}"
        checking = asyncio.Event()
        one = worker(real, skews[round_ % 3], checking)
        other = worker(real, skews[(round_ + 1) % 3])
        later = worker(real, skews[(round_ + 2) % 3])
        device = client(one)
        task = asyncio.ensure_future(device.post("/slow-login", {"user": user}))
        await asyncio.sleep(0.02)
        await other.revoke(user)
        checking.set()
        assert (await task).status == 409
        assert (await client(later).post("/slow-login", {"user": user})).status == 200
        assert len(await live_sessions_of(real, user)) == 1
        assert (await device.get()).json()["user"] is None


# The password checked in a thread, in the patterns the documentation shows


def verify_password(password: str) -> bool:
    time.sleep(0.15)  # a password hash being verified
    return password == "old password"


def starlette_app(store: SessionStore[Any], checking: asyncio.Event) -> Starlette:
    async def login(request: Request) -> Response:
        form = await request.json()
        session = await load_session(request)
        await session.begin_login(form["user"])  # before the credentials are checked
        await checking.wait()
        if not await anyio.to_thread.run_sync(verify_password, form["password"]):
            return JSONResponse({"error": "wrong password"}, status_code=401)
        session.regenerate(keep=[])
        session.set_user(form["user"])
        session["user"] = form["user"]
        return JSONResponse({"user": form["user"]})

    app = Starlette(routes=[Route("/login", login, methods=["POST"])])
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=store)
    return app


def fastapi_app(store: SessionStore[Any], checking: asyncio.Event) -> FastAPI:
    app = FastAPI()

    @app.post("/login")
    async def login(
        form: dict[str, str], session: Annotated[Session, Depends(get_session_handle)]
    ) -> dict[str, str]:
        await session.begin_login(form["user"])  # before the credentials are checked
        await checking.wait()
        if not await anyio.to_thread.run_sync(verify_password, form["password"]):
            return {"error": "wrong password"}
        session.regenerate(keep=[])
        session.set_user(form["user"])
        session["user"] = form["user"]
        return {"user": form["user"]}

    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=store)
    return app


@pytest.mark.parametrize("framework", ["starlette", "fastapi"])
async def test_a_password_checked_before_a_revocation_never_survives_it(
    real: Real, framework: str
) -> None:
    checking = asyncio.Event()
    store: SessionStore[Any] = SessionStore(real.inner)
    make = starlette_app if framework == "starlette" else fastapi_app
    app = make(store, checking)
    victim_store: SessionStore[Any] = SessionStore(real.inner)
    victim = build_app(victim_store)
    phone = Client(victim)
    await phone.post("/login", {"user": "alice"})

    async def attacker() -> Any:
        body = b'{"user": "alice", "password": "old password"}'
        headers = [(b"content-type", b"application/json")]
        return await asgi_request(app, "POST", "/login", headers=headers, body=body)

    task = asyncio.ensure_future(attacker())
    await asyncio.sleep(0.05)  # the attacker's log-in began: the old password is being checked
    checking.set()
    await asyncio.sleep(0.05)  # the hash is being verified in a thread
    assert await victim_store.revoke_user_sessions("alice") == 1  # the password changed
    reply = await task
    assert reply.status == 409, reply.body
    assert await live_sessions_of(real, "alice") == []


async def test_binding_a_user_without_beginning_the_log_in_fails_loudly(real: Real) -> None:
    # A log-in that checked the password and only then said who logs in cannot be ordered
    # against a revocation during the check: refused before anything is saved.
    async def careless(request: Request) -> Response:
        session = await load_session(request)
        session.regenerate(keep=[])
        session.set_user("alice")
        return JSONResponse({})

    app = build_app(SessionStore(real.inner), routes=[Route("/careless", careless)])
    with pytest.raises(SessionSetupError, match="begin_login"):
        await Client(app).get("/careless")
    assert await live_sessions_of(real, "alice") == []
    device = Client(app)
    await device.post("/login", {"user": "alice"})  # begin_login, then set_user: allowed
    assert (await device.get()).json()["user"] == "alice"
    assert (await device.post("/set-user", {"user": "alice"})).status == 200  # its own user


async def test_a_sync_endpoint_begins_a_log_in_from_its_worker_thread(real: Real) -> None:
    def sync_login(request: Request) -> Response:
        session = request.session
        assert isinstance(session, Session)
        anyio.from_thread.run(session.begin_login, "alice")  # as the error message says
        session.regenerate(keep=[])
        session.set_user("alice")
        session["user"] = "alice"
        return JSONResponse({})

    app = build_app(SessionStore(real.inner), routes=[Route("/sync-login", sync_login)])
    device = Client(app)
    assert (await device.get("/sync-login")).status == 200
    assert (await device.get()).json()["user"] == "alice"


async def test_a_log_in_begun_too_long_ago_is_not_saved(real: Real) -> None:
    # An index that lists nothing keeps its revocation generation an hour: a log-in must commit
    # well within it (15 minutes, this process's monotonic clock), or a revocation could be
    # forgotten while it ran.
    store: SessionStore[Any] = SessionStore(real.inner)
    build_app(store)
    session = await Session(store, None).load()
    await session.begin_login("alice")
    login = session.state.login
    assert login is not None
    session.state.login = (login[0], login[1], login[2] - 16 * 60)  # begun 16 minutes ago
    session.regenerate()
    session.set_user("alice")
    session["user"] = "alice"
    with pytest.raises(SessionDestroyedError, match="15 minutes"):
        await store.commit(session, 200)
    assert await live_sessions_of(real, "alice") == []
