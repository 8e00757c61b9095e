"""How many commands each kind of request costs Redis, counted by the Redis server itself.

Counts come from ``INFO commandstats`` deltas (see ``tests.helpers.CommandCounter``). Redis also
counts the commands a Lua script runs: the compare-and-set ``evalsha`` adds a ``get`` and, when it
stores, a ``set``, which are not round trips. Each test first warms up the client's connection and
the server's script cache, so that only the request under test is counted.

Round trips are the server's own count of the reads it made from its clients' sockets
(``total_reads_processed`` of ``INFO stats``): a pipeline written at once is one.
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


class RoundTrips:
    """Counts the requests that reached the Redis server, from its ``INFO stats``: one per read
    from a client's socket (a command alone, or a pipeline written at once)."""

    def __init__(self, url: str) -> None:
        import redis

        self._client: redis.Redis = redis.Redis.from_url(url)
        self._before = self._reads()

    def _reads(self) -> int:
        return int(self._client.info("stats")["total_reads_processed"])

    def reset(self) -> None:
        self._before = self._reads()

    def delta(self) -> int:
        """Round trips since ``reset``, this counter's own ``INFO`` left out."""
        after = self._reads()
        return after - self._before - 1

    def close(self) -> None:
        self._client.close()


@pytest.fixture
def round_trips(redis_url: str) -> Iterator[RoundTrips]:
    counter = RoundTrips(redis_url)
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


async def test_a_log_in_is_four_round_trips(
    client: httpx.AsyncClient,
    commands: CommandCounter,
    round_trips: RoundTrips,
    request: pytest.FixtureRequest,
) -> None:
    await client.get("/login", params={"user": "warm-up"})  # the one-off eviction-policy checks
    client.cookies.clear()
    await client.get("/set", params={"n": "1"})
    commands.reset()
    round_trips.reset()

    response = await client.get("/login", params={"user": "alice"})

    assert response.json() == {"n": "1", "user": "alice"}
    assert round_trips.delta() == 4
    # 1. GETEX: the anonymous session. 2. GET: the index, as begin_login finds it. 3. SET NX: the
    # index, listing the new entry before it exists. 4. One pipeline: SET NX of the new entry,
    # EVALSHA retiring the old one, PUBLISH telling the old one's live connections (an asyncio
    # client subscribes; a sync one tells this process only), GET of the index again, for a
    # revocation meanwhile.
    expected = {
        "getex": 1,
        "get": 2 + SCRIPT_INTERNALS["get"],
        "set": 2 + SCRIPT_INTERNALS["set"],
        "evalsha": 1,
    }
    if request.node.callspec.params["client"] == "async-client":
        expected["publish"] = 1
    assert commands.delta() == expected


async def test_a_first_log_in_without_a_session_is_three_round_trips(
    client: httpx.AsyncClient, commands: CommandCounter, round_trips: RoundTrips
) -> None:
    await client.get("/login", params={"user": "warm-up"})
    client.cookies.clear()
    commands.reset()
    round_trips.reset()

    response = await client.get("/login", params={"user": "alice"})

    assert response.json() == {"user": "alice"}
    assert round_trips.delta() == 3  # the index's GET, its SET NX, then SET NX + GET at once
    assert commands.delta() == {"get": 2, "set": 2}


async def test_a_read_and_a_change_are_one_round_trip_each(
    client: httpx.AsyncClient, round_trips: RoundTrips
) -> None:
    round_trips.reset()
    await client.get("/get")
    assert round_trips.delta() == 1
    round_trips.reset()
    await client.get("/set", params={"n": "2"})
    assert round_trips.delta() == 2


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
