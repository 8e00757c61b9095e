"""What a request sees while Redis is down: the two policies of ``SessionStore(on_backend_error=)``.

``"fail"`` (the default): a request that needs its session gets 503 from a named error; nothing
is written and no cookie is sent, so the user keeps their session for when Redis is back.
``"anonymous"``: the request gets an empty session that is never saved, and a failed save is
logged. Either way requests that do not use the session are unaffected.

Redis is really down: the test kills the redis-server process (SIGKILL).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from starlette_session import (
    Session,
    SessionBackendError,
    SessionMiddleware,
    SessionStore,
    get_session_handle,
    load_session,
)
from starlette_session.backends.redis import RedisBackend
from starlette_session.store import BackendErrorPolicy
from tests.helpers import SECRET, make_app, set_cookie_headers
from tests.reliability.support import Stopwatch, recommended_client
from tests.servers import RedisServer

pytestmark = pytest.mark.redis

AppFactory = Callable[[SessionStore[Any]], Any]


@asynccontextmanager
async def _serving(
    server: RedisServer,
    policy: BackendErrorPolicy,
    app_factory: AppFactory = make_app,
    *,
    timeout: float = 0.5,
) -> AsyncIterator[httpx.AsyncClient]:
    redis_client = recommended_client(server.url, timeout=timeout)
    backend = RedisBackend(redis_client, timeout=timeout)
    store: SessionStore[Any] = SessionStore(backend, on_backend_error=policy)
    transport = httpx.ASGITransport(app=app_factory(store))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        await redis_client.aclose()


async def _start_counter(client: httpx.AsyncClient) -> str:
    response = await client.post("/increment")
    assert response.json() == {"count": 1}
    cookie = client.cookies.get("session")
    assert cookie
    return cookie


def _assert_503(response: httpx.Response) -> None:
    assert response.status_code == 503
    assert response.text == "The session store is unavailable. Please try again shortly."
    assert set_cookie_headers(response) == []
    assert response.headers["cache-control"] == "no-store"


# The default policy: fail closed.


async def test_a_request_needing_its_session_gets_503_fast_and_keeps_its_cookie(
    fresh_redis_server: RedisServer,
) -> None:
    # "Fast": a refused connection is answered at once, without waiting for a timeout. With
    # timeouts of 20 s, waiting for one could not pass unnoticed, even on a loaded machine.
    async with _serving(fresh_redis_server, "fail", timeout=20) as client:
        cookie = await _start_counter(client)
        fresh_redis_server.kill()

        with Stopwatch() as watch:
            reading = await client.get("/session")
            writing = await client.post("/increment")

        _assert_503(reading)
        _assert_503(writing)
        assert watch.elapsed < 20
        assert client.cookies.get("session") == cookie


async def test_a_new_visitor_saving_a_session_gets_503_and_no_cookie(
    fresh_redis_server: RedisServer,
) -> None:
    async with _serving(fresh_redis_server, "fail") as client:
        fresh_redis_server.kill()

        _assert_503(await client.post("/fields/theme", params={"value": "dark"}))
        assert client.cookies.get("session") is None


async def test_requests_that_do_not_use_the_backend_are_unaffected(
    fresh_redis_server: RedisServer,
) -> None:
    async with _serving(fresh_redis_server, "fail") as client:
        await _start_counter(client)
        fresh_redis_server.kill()

        assert (await client.get("/health")).text == "ok"
        client.cookies.clear()
        assert (await client.get("/health")).text == "ok"
        # A visitor without a cookie has nothing to read: an empty session, no Redis command.
        assert (await client.get("/session")).json() == {}


async def test_sync_endpoints_and_fastapi_dependencies_get_503_too(
    fresh_redis_server: RedisServer,
) -> None:
    def fastapi_app(store: SessionStore[Any]) -> FastAPI:
        app = FastAPI()

        @app.post("/increment")
        async def increment(session: Annotated[Session, Depends(get_session_handle)]) -> Any:
            session["count"] = session.get("count", 0) + 1
            return {"count": session["count"]}

        @app.get("/handle")
        async def handle(session: Annotated[Session, Depends(get_session_handle)]) -> Any:
            return dict(session)

        app.add_middleware(SessionMiddleware, secret_key=SECRET, store=store)
        return app

    async with _serving(fresh_redis_server, "fail", fastapi_app) as client:
        await _start_counter(client)
        fresh_redis_server.kill()
        _assert_503(await client.get("/handle"))

    async with _serving(fresh_redis_server, "fail") as client:
        fresh_redis_server.restart()
        await _start_counter(client)
        fresh_redis_server.kill()
        _assert_503(await client.get("/sync-session"))


async def test_the_error_is_a_named_session_error_chaining_the_driver_error(
    fresh_redis_server: RedisServer,
) -> None:
    seen: list[SessionBackendError] = []

    async def probe(request: Request) -> Response:
        try:
            await load_session(request)
        except SessionBackendError as error:
            seen.append(error)
            raise
        return JSONResponse({})

    def app_factory(store: SessionStore[Any]) -> Any:
        return make_app(store, routes=[Route("/probe", probe)])

    async with _serving(fresh_redis_server, "fail", app_factory) as client:
        cookie = await _start_counter(client)
        fresh_redis_server.kill()
        _assert_503(await client.get("/probe"))

    [error] = seen
    assert error.status_code == 503
    assert "the Redis session backend failed (ConnectionError)" in str(error)
    assert cookie.split(".")[0] not in str(error)
    import redis.exceptions

    assert isinstance(error.__cause__, redis.exceptions.ConnectionError)


async def test_redis_failing_between_load_and_save_answers_503_and_loses_no_acknowledged_write(
    persistent_redis_server: RedisServer,
) -> None:
    """The app's 200 is never sent when its save fails: the client sees 503, so it knows."""

    async def increment_then_crash(request: Request) -> Response:
        session = await load_session(request)
        session["count"] += 1
        persistent_redis_server.kill()
        return JSONResponse({"count": session["count"]})

    def app_factory(store: SessionStore[Any]) -> Any:
        return make_app(store, routes=[Route("/crash", increment_then_crash, methods=["POST"])])

    async with _serving(persistent_redis_server, "fail", app_factory) as client:
        cookie = await _start_counter(client)

        _assert_503(await client.post("/crash"))

        persistent_redis_server.restart()
        assert (await client.get("/session")).json() == {"count": 1}
        assert client.cookies.get("session") == cookie


# The opt-in policy: degrade to an anonymous, unsaved session.


async def test_anonymous_policy_serves_an_empty_unsaved_session_and_keeps_the_real_one(
    persistent_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with _serving(persistent_redis_server, "anonymous") as client:
        cookie = await _start_counter(client)
        await client.post("/increment")
        persistent_redis_server.kill()

        with caplog.at_level(logging.WARNING, logger="starlette_session"):
            reading = await client.get("/session")
            writing = await client.post("/increment")

        assert (reading.status_code, reading.json()) == (200, {})
        assert (writing.status_code, writing.json()) == (200, {"count": 1})
        assert set_cookie_headers(reading) == set_cookie_headers(writing) == []
        assert "serving an unsaved anonymous session" in caplog.text
        assert "session changes not saved" in caplog.text

        persistent_redis_server.restart()
        assert (await client.get("/session")).json() == {"count": 2}
        assert client.cookies.get("session") == cookie


async def test_anonymous_policy_gives_a_new_visitor_no_cookie_while_redis_is_down(
    fresh_redis_server: RedisServer,
) -> None:
    async with _serving(fresh_redis_server, "anonymous") as client:
        fresh_redis_server.kill()

        response = await client.post("/fields/theme", params={"value": "dark"})

        assert response.status_code == 200
        assert set_cookie_headers(response) == []


async def test_anonymous_policy_logs_a_save_that_fails_after_a_successful_load(
    persistent_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The documented cost of this policy: the response is 200 but its change is lost."""

    async def increment_then_crash(request: Request) -> Response:
        session = await load_session(request)
        session["count"] += 1
        persistent_redis_server.kill()
        return JSONResponse({"count": session["count"]})

    def app_factory(store: SessionStore[Any]) -> Any:
        return make_app(store, routes=[Route("/crash", increment_then_crash, methods=["POST"])])

    async with _serving(persistent_redis_server, "anonymous", app_factory) as client:
        await _start_counter(client)

        with caplog.at_level(logging.ERROR, logger="starlette_session"):
            response = await client.post("/crash")

        assert (response.status_code, response.json()) == (200, {"count": 2})
        assert "session changes not saved: the backend is unavailable" in caplog.text
        persistent_redis_server.restart()
        assert (await client.get("/session")).json() == {"count": 1}


# Log-out while Redis is down.


async def _log_out(request: Request) -> Response:
    (await load_session(request)).destroy()
    return JSONResponse({"logged out": True})


def _app_with_log_out(store: SessionStore[Any]) -> Any:
    return make_app(store, routes=[Route("/logout", _log_out, methods=["POST"])])


async def test_fail_policy_answers_a_log_out_with_503_so_the_user_knows_to_retry(
    fresh_redis_server: RedisServer,
) -> None:
    async with _serving(fresh_redis_server, "fail", _app_with_log_out) as client:
        cookie = await _start_counter(client)
        fresh_redis_server.kill()

        _assert_503(await client.post("/logout"))
        assert client.cookies.get("session") == cookie


async def test_anonymous_policy_still_expires_the_cookie_of_a_log_out(
    persistent_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The page says "logged out": the browser must not keep a cookie that logs it back in
    once Redis returns."""
    async with _serving(persistent_redis_server, "anonymous", _app_with_log_out) as client:
        await _start_counter(client)
        persistent_redis_server.kill()

        with caplog.at_level(logging.ERROR, logger="starlette_session"):
            response = await client.post("/logout")

        assert response.status_code == 200
        [set_cookie] = set_cookie_headers(response)
        assert set_cookie.startswith("session=; Max-Age=0")
        assert client.cookies.get("session") is None
        assert "could not be deleted" in caplog.text
