"""How many commands each kind of request costs Redis, counted by the Redis server itself.

Counts come from ``INFO commandstats`` deltas (see ``tests.helpers.CommandCounter``). Redis also
counts the commands a Lua script runs: the compare-and-set ``evalsha`` adds a ``get`` and, when it
stores, a ``set``, which are not round trips. Each test first warms up the client's connection and
the server's script cache, so that only the request under test is counted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from starlette_session import SessionStore, load_session
from tests.helpers import SECRET, CommandCounter, make_app, session_cookie

pytestmark = pytest.mark.redis

#: The entries an ``evalsha`` of the compare-and-set script adds when it stores.
SCRIPT_INTERNALS = {"get": 1, "set": 1}


async def remember(request: Request) -> Response:
    (await load_session(request)).set_lifetime(int(request.query_params["seconds"]))
    return PlainTextResponse("ok")


@pytest.fixture
def commands(redis_url: str) -> Iterator[CommandCounter]:
    counter = CommandCounter(redis_url)
    yield counter
    counter.close()


@pytest.fixture(params=["async-client", "sync-client"])
async def client(
    request: pytest.FixtureRequest, redis_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for an app whose store is Redis, with a session (``n=1``) already saved."""
    import redis
    import redis.asyncio

    from starlette_session.backends import RedisBackend

    redis_client: Any
    if request.param == "async-client":
        redis_client = redis.asyncio.Redis.from_url(redis_url)
    else:
        redis_client = redis.Redis.from_url(redis_url)
    app = make_app(SessionStore(RedisBackend(redis_client)))
    app.router.routes.append(Route("/remember", remember))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        # Warm up: connect, create a session, and change it once (loads the script).
        await http.get("/set", params={"n": "0"})
        await http.get("/set", params={"n": "1"})
        yield http
    if request.param == "async-client":
        await redis_client.aclose()
    else:
        redis_client.close()


async def test_a_request_that_does_not_use_its_session_sends_nothing(
    client: httpx.AsyncClient, commands: CommandCounter
) -> None:
    commands.reset()
    response = await client.get("/unused")
    assert commands.delta() == {}
    assert "set-cookie" not in response.headers


async def test_reading_a_session_is_one_getex(
    client: httpx.AsyncClient, commands: CommandCounter
) -> None:
    commands.reset()
    response = await client.get("/get")
    assert response.json() == {"n": "1"}
    assert commands.delta() == {"getex": 1}
    assert "set-cookie" not in response.headers


async def test_changing_a_session_is_one_getex_and_one_evalsha(
    client: httpx.AsyncClient, commands: CommandCounter
) -> None:
    commands.reset()
    await client.get("/set", params={"n": "2"})
    assert commands.delta() == {"getex": 1, "evalsha": 1, **SCRIPT_INTERNALS}


async def test_writing_an_unchanged_value_sends_only_the_read(
    client: httpx.AsyncClient, commands: CommandCounter
) -> None:
    commands.reset()
    await client.get("/set", params={"n": "1"})
    assert commands.delta() == {"getex": 1}


async def test_clearing_a_session_is_one_getex_and_one_del(
    client: httpx.AsyncClient, commands: CommandCounter
) -> None:
    # The DEL carries the session-ended PUBLISH in its own pipeline (one write).
    commands.reset()
    await client.get("/clear")
    assert commands.delta() == {"getex": 1, "del": 1, "publish": 1}


async def test_the_first_write_of_a_new_visitor_is_one_set(
    client: httpx.AsyncClient, commands: CommandCounter
) -> None:
    client.cookies.clear()
    commands.reset()
    response = await client.get("/set", params={"n": "1"})
    assert commands.delta() == {"set": 1}
    assert session_cookie(response) is not None


async def test_a_new_visitor_that_only_reads_sends_nothing_and_gets_no_cookie(
    client: httpx.AsyncClient, commands: CommandCounter
) -> None:
    client.cookies.clear()
    commands.reset()
    response = await client.get("/get")
    assert response.json() == {}
    assert commands.delta() == {}
    assert "set-cookie" not in response.headers


async def test_a_forged_cookie_costs_no_command(
    client: httpx.AsyncClient, commands: CommandCounter
) -> None:
    client.cookies.clear()
    client.cookies.set("session", "forged.65f0a1b2.c2lnbmF0dXJl")
    commands.reset()
    await client.get("/get")
    assert commands.delta() == {}


async def test_a_session_with_its_own_lifetime_costs_an_expire_on_each_read(
    client: httpx.AsyncClient, commands: CommandCounter
) -> None:
    # GETEX slides the store's idle timeout; EXPIRE then sets the session's own lifetime.
    await client.get("/remember", params={"seconds": "3600"})
    commands.reset()
    await client.get("/get")
    assert commands.delta() == {"getex": 1, "expire": 1}


async def test_the_first_change_after_the_script_cache_is_flushed_loads_the_script(
    client: httpx.AsyncClient, commands: CommandCounter, redis_url: str
) -> None:
    import redis

    admin = redis.Redis.from_url(redis_url)
    admin.script_flush()
    admin.close()
    commands.reset()
    await client.get("/set", params={"n": "2"})
    # The rejected EVALSHA (NOSCRIPT), SCRIPT LOAD and the EVALSHA again: a one-off cost.
    assert commands.delta() == {
        "getex": 1,
        "evalsha": 2,
        "script|load": 1,
        **SCRIPT_INTERNALS,
    }


async def test_the_original_api_reads_the_session_of_every_request_with_a_cookie(
    redis_url: str, commands: CommandCounter
) -> None:
    # Documented: without a store the middleware autoloads, as the original did.
    import redis.asyncio

    from starlette_session import SessionMiddleware
    from starlette_session.backends import BackendType

    redis_client = redis.asyncio.Redis.from_url(redis_url)
    app = make_app()
    app.user_middleware.clear()
    app.add_middleware(
        SessionMiddleware,
        secret_key=SECRET,
        backend_type=BackendType.aioRedis,
        backend_client=redis_client,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        await http.get("/set", params={"n": "0"})
        commands.reset()
        await http.get("/unused")
        assert commands.delta() == {"getex": 1}
        http.cookies.clear()
        commands.reset()
        await http.get("/unused")
        assert commands.delta() == {}
    await redis_client.aclose()
