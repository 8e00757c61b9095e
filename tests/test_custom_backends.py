"""Custom backends of the original API (``ISessionBackend``): what their values mean, over HTTP.

A custom backend is the application's own code over its own store, so what it hands back varies
with the store's client: DynamoDB's returns numbers as ``Decimal``, MongoDB's dates as
``datetime``, a key-value client the JSON text it stored, a dict-like store raises ``KeyError``
for a missing key. The rules (``LegacyBackend``):

- a dict, ``Decimal`` numbers included, or the JSON text of one (``str``/``bytes``) is read;
- anything else is bad data: a fresh session, the entry deleted, one warning on
  ``starlette_session.security``; never a 500, and never again for that entry;
- ``KeyError`` from ``get`` or ``delete`` means the key is missing; any other exception is a
  backend error: 503 (or an anonymous session with ``on_backend_error="anonymous"``).

The backends below are complete in-memory implementations of the interface that return what
those clients return; each request goes through the original API's ``SessionMiddleware``.

A custom backend that never answers (here: one over a redis-server frozen with SIGSTOP, through a
client without timeouts) holds no request beyond its timeout: ``LegacyBackend`` bounds each call
of an ``ISessionBackend``, and ``SessionBackend`` each contract method of a subclass written
outside the library, 2 s by default, then the store's ``on_backend_error`` policy answers.
"""

from __future__ import annotations

import datetime
import json
import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from starlette.applications import Starlette

from starlette_session import SessionStore
from starlette_session.backends import LegacyBackend, Replaced, SessionBackend
from starlette_session.interfaces import ISessionBackend
from tests.helpers import (
    DictSessionBackend,
    cookie_attributes,
    http_client,
    make_app,
    session_cookie,
)
from tests.reliability.support import answers_within, stalled
from tests.servers import RedisServer

if TYPE_CHECKING:
    import redis.asyncio

SECURITY_LOGGER = "starlette_session.security"


def _decimals(value: Any) -> Any:
    """``value`` with every number a ``Decimal``, as boto3's DynamoDB client returns items."""
    if isinstance(value, dict):
        return {key: _decimals(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decimals(item) for item in value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return Decimal(str(value))


def _dates(value: Any) -> Any:
    """``value`` with every ISO date string a ``datetime``, as a MongoDB document stored with
    dates comes back."""
    if isinstance(value, dict):
        return {key: _dates(item) for key, item in value.items()}
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


class DynamoLikeBackend(DictSessionBackend):
    async def get(self, key: str) -> dict[str, Any] | None:
        value = await super().get(key)
        return None if value is None else _decimals(value)


class MongoLikeBackend(DictSessionBackend):
    async def get(self, key: str) -> dict[str, Any] | None:
        value = await super().get(key)
        return None if value is None else _dates(value)


class TextBackend(DictSessionBackend):
    """Stores and returns the JSON text, as a backend over a key-value client does."""

    def __init__(self, returned: str | None = None) -> None:
        super().__init__()
        #: When set, what ``get`` returns for every stored key instead.
        self.returned = returned

    async def get(self, key: str) -> Any:
        value = await super().get(key)
        if value is None:
            return None
        return self.returned if self.returned is not None else json.dumps(value)


class KeyErrorBackend(DictSessionBackend):
    """A dict-like store: a missing key raises ``KeyError``, on ``get`` and on ``delete``."""

    async def get(self, key: str) -> dict[str, Any] | None:
        return self.entries[key][0]

    async def delete(self, key: str) -> None:
        del self.entries[key]


def _app(backend: DictSessionBackend, **middleware: Any) -> Starlette:
    app: Starlette = make_app(original_api=True, custom_session_backend=backend, **middleware)
    return app


def _client(app: Starlette) -> httpx.AsyncClient:
    return http_client(app, raise_app_exceptions=False)


def _security_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == SECURITY_LOGGER]


@pytest.mark.parametrize("backend_class", [DynamoLikeBackend, TextBackend, KeyErrorBackend])
async def test_sessions_work_on_backends_returning_what_their_clients_return(
    backend_class: type[DictSessionBackend], caplog: pytest.LogCaptureFixture
) -> None:
    """``Decimal`` numbers, JSON text and ``KeyError`` for a missing key: a counter counts."""
    caplog.set_level(logging.WARNING)
    async with _client(_app(backend_class())) as client:
        counts = [(await client.post("/increment")) for _ in range(8)]
        assert [response.status_code for response in counts] == [200] * 8
        assert [response.json()["count"] for response in counts] == list(range(1, 9))
    assert _security_lines(caplog) == []


async def test_a_value_json_cannot_hold_is_bad_data_not_a_500_forever(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stored date that comes back as a ``datetime``: dropped once, then a fresh session."""
    caplog.set_level(logging.WARNING)
    backend = MongoLikeBackend()
    async with _client(_app(backend)) as client:
        stored = await client.get("/set", params={"since": "2024-05-01T12:00:00"})
        assert stored.status_code == 200
        assert backend.entries

        later = [await client.get("/get") for _ in range(8)]
        assert [response.status_code for response in later] == [200] * 8
        assert [response.json() for response in later] == [{}] * 8
    assert backend.entries == {}  # the entry was deleted
    lines = _security_lines(caplog)
    assert len(lines) == 1
    assert "MongoLikeBackend returned a dict holding a datetime instead" in lines[0]


@pytest.mark.parametrize("returned", ["not json", "[1, 2]", '"a string"', "null"])
async def test_text_that_is_not_a_json_object_is_bad_data(
    returned: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    backend = TextBackend()
    async with _client(_app(backend)) as client:
        assert (await client.get("/set", params={"a": "1"})).status_code == 200
        backend.returned = returned

        later = [await client.get("/get") for _ in range(3)]
        assert [response.status_code for response in later] == [200] * 3
        assert [response.json() for response in later] == [{}] * 3
    assert backend.entries == {}
    assert len(_security_lines(caplog)) == 1


class ExpiringBackend(KeyErrorBackend):
    """Each entry expires right after it is read: the log-out's ``delete`` finds it gone."""

    async def get(self, key: str) -> dict[str, Any] | None:
        value = await super().get(key)
        del self.entries[key]
        return value


async def test_key_error_on_delete_means_already_gone() -> None:
    """A log-out whose entry expired meanwhile still logs out, instead of answering 503."""
    async with _client(_app(ExpiringBackend())) as client:
        assert (await client.get("/set", params={"a": "1"})).status_code == 200

        response = await client.get("/destroy")
        assert response.status_code == 200
        assert cookie_attributes(response)["max-age"] == "0"


class FailingGetBackend(DictSessionBackend):
    async def get(self, key: str) -> dict[str, Any] | None:
        raise ConnectionResetError("the store went away")


async def test_any_other_exception_of_get_is_a_backend_error_503() -> None:
    async with _client(_app(FailingGetBackend())) as client:
        client.cookies.set("session", "x")
        response = await client.post("/increment")
        assert response.status_code == 503


# A custom backend that never answers


class RedisJSONBackend(ISessionBackend):
    """The original interface over ``redis.asyncio`` built without any timeout."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client

    async def get(self, key: str) -> dict[str, Any] | None:
        raw = await self.client.get(key)
        return None if raw is None else dict(json.loads(raw))

    async def set(self, key: str, value: dict[str, Any], exp: int | None) -> None:
        await self.client.set(key, json.dumps(value), ex=exp)

    async def delete(self, key: str) -> None:
        await self.client.delete(key)


class RedisBytesBackend(SessionBackend):
    """A ``SessionBackend`` of the application's own over ``redis.asyncio`` without timeouts
    (not atomic: enough for one request at a time)."""

    def __init__(self, client: redis.asyncio.Redis, timeout: float | None = 2.0) -> None:
        self.client = client
        self.timeout = timeout

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        value = await self.client.get(key)
        return value.encode() if isinstance(value, str) else value

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        return bool(await self.client.set(key, value, ex=ttl, nx=True))

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        current = await self.read(key)
        if current != expected:
            return Replaced(False, current)
        await self.client.set(key, value, ex=ttl)
        return Replaced(True, None)

    async def expire(self, key: str, ttl: int) -> None:
        await self.client.expire(key, ttl)

    async def delete(self, *keys: str) -> None:
        await self.client.delete(*keys)


def _custom_backend_apps(kind: str, client: redis.asyncio.Redis) -> Starlette:
    if kind == "original API":
        return _app(RedisJSONBackend(client))  # type: ignore[arg-type]
    if kind == "LegacyBackend, anonymous":
        store: SessionStore[Any] = SessionStore(
            LegacyBackend(RedisJSONBackend(client)), on_backend_error="anonymous"
        )
    elif kind == "SessionBackend":
        store = SessionStore(RedisBytesBackend(client))
    else:
        store = SessionStore(RedisBytesBackend(client), on_backend_error="anonymous")
    app: Starlette = make_app(store)
    return app


KINDS = ["original API", "LegacyBackend, anonymous", "SessionBackend", "SessionBackend, anonymous"]


@pytest.mark.redis
@pytest.mark.parametrize("kind", KINDS)
async def test_a_custom_backend_that_never_answers_holds_a_request_two_seconds_at_most(
    kind: str, fresh_redis_server: RedisServer
) -> None:
    import redis.asyncio

    redis_client = redis.asyncio.Redis.from_url(fresh_redis_server.url)  # no timeouts at all
    anonymous = kind.endswith("anonymous")
    try:
        async with _client(_custom_backend_apps(kind, redis_client)) as client:
            assert (await client.get("/set", params={"a": "1"})).json() == {"a": "1"}
            with stalled(fresh_redis_server):
                async with answers_within(2.0) as watch:  # the default timeout
                    response = await client.get("/get")
                async with answers_within(2.0):
                    health = await client.get("/health")
            assert watch.elapsed >= 2.0
            if anonymous:  # an empty session, never saved, the cookie kept
                assert response.status_code == 200
                assert response.json() == {}
                assert session_cookie(response) is None
            else:
                assert response.status_code == 503
            # The original API loads every request's session, so it answers like the request
            # that uses it; the new API never reads the session of a request that does not.
            assert health.status_code == (503 if kind == "original API" else 200)

            assert (await client.get("/get")).json() == {"a": "1"}  # thawed: as before
    finally:
        await redis_client.aclose()


@pytest.mark.redis
async def test_the_bound_of_a_custom_backend_is_its_timeout(
    fresh_redis_server: RedisServer,
) -> None:
    import redis.asyncio

    redis_client = redis.asyncio.Redis.from_url(fresh_redis_server.url)
    try:
        store: SessionStore[Any] = SessionStore(RedisBytesBackend(redis_client, timeout=0.3))
        async with _client(make_app(store)) as client:
            with stalled(fresh_redis_server):
                async with answers_within(0.3) as watch:
                    response = await client.post("/increment")
            assert response.status_code == 503
            assert watch.elapsed >= 0.3
    finally:
        await redis_client.aclose()
