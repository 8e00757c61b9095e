"""Issue 3's code block, unchanged, over real HTTP (uvicorn on loopback) against a real Redis.

The Redis command counts are measured on the server with ``INFO commandstats``: 0 commands when the
endpoint does not use the session, exactly 1 (``GETEX``) for a request that only reads it, and no
write for a brand-new visitor who only reads.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from types import ModuleType

import httpx
import pytest

from tests import typed_cart_example
from tests.http_support import RedisCommands, serve

pytestmark = [
    pytest.mark.redis,
    # The issue's block uses secret_key="...", which rightly warns that the key is short.
    pytest.mark.filterwarnings("ignore:a session secret_key shorter:UserWarning"),
]


@pytest.fixture
async def issue_app(redis_url: str) -> AsyncIterator[ModuleType]:
    """A fresh copy of the issue's module, its Redis client pointed at the test's server."""
    module = importlib.reload(typed_cart_example)
    client = module.use_redis(redis_url)
    yield module
    await client.aclose()


@pytest.fixture
def commands(redis_url: str) -> Iterator[RedisCommands]:
    counter = RedisCommands(redis_url)
    yield counter
    counter.close()


@pytest.fixture
async def base_url(issue_app: ModuleType) -> AsyncIterator[str]:
    async with serve(issue_app.app) as url:
        yield url


async def test_the_code_block_round_trips_a_typed_cart(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        first = await client.post("/cart", params={"item": "apple"})
        assert first.status_code == 200
        assert first.json() == {"items": ["apple"], "owner": None}
        assert "session" in client.cookies

        second = await client.post("/cart", params={"item": "pear"})
        assert second.json() == {"items": ["apple", "pear"], "owner": None}
        assert "set-cookie" not in second.headers  # same session, same cookie

        shown = await client.get("/cart")  # the sync endpoint, through the Annotated alias
        assert shown.json() == {"items": ["apple", "pear"], "owner": None}

    async with httpx.AsyncClient(base_url=base_url) as stranger:
        assert (await stranger.get("/cart")).json() == {"items": [], "owner": None}


async def test_the_session_is_saved_before_the_response_goes_out(
    base_url: str, commands: RedisCommands
) -> None:
    async with (
        httpx.AsyncClient(base_url=base_url) as client,
        client.stream("POST", "/cart", params={"item": "apple"}) as response,
    ):
        # Only the status line and headers have arrived: the entry is there already.
        assert response.status_code == 200
        assert len(commands.keys()) == 1
        await response.aread()

        # The very next request reads what that response saved.
        assert (await client.get("/cart")).json()["items"] == ["apple"]


async def test_redis_commands_per_request(base_url: str, commands: RedisCommands) -> None:
    counts: dict[str, Counter[str]] = {}
    async with httpx.AsyncClient(base_url=base_url) as visitor:
        commands.delta()
        response = await visitor.get("/cart")
        counts["new visitor reads"] = commands.delta()
        assert response.json() == {"items": [], "owner": None}
        assert "set-cookie" not in response.headers
        assert commands.keys() == []

        await visitor.post("/cart", params={"item": "apple"})
        counts["new visitor saves"] = commands.delta()

        await visitor.get("/openapi.json")  # an endpoint that does not use the session
        counts["no session dependency"] = commands.delta()

        await visitor.get("/cart")
        counts["returning visitor reads"] = commands.delta()

        await visitor.post("/cart", params={"item": "pear"})
        counts["returning visitor changes"] = commands.delta()

        await visitor.post("/cart", params={"item": "plum"})
        counts["returning visitor changes again"] = commands.delta()

    assert counts["new visitor reads"] == Counter()
    assert counts["new visitor saves"] == Counter({"set": 1})
    assert counts["no session dependency"] == Counter()
    assert counts["returning visitor reads"] == Counter({"getex": 1})
    # The first compare-and-set loads its script (EVALSHA fails with NOSCRIPT, SCRIPT LOAD,
    # EVALSHA again); afterwards a change is GETEX + EVALSHA, whose script runs GET and SET.
    assert counts["returning visitor changes again"] == Counter(
        {"getex": 1, "evalsha": 1, "get": 1, "set": 1}
    )
    assert commands.writes(counts["returning visitor reads"]) == 0
    assert commands.writes(counts["new visitor reads"]) == 0
    assert len(commands.keys()) == 1
