"""Values: what the store compares, refuses and does with data it cannot validate.

- Change detection and merges compare what is stored (JSON): 1, 1.0 and True differ.
- A model validator or ``migrate`` hook that raises on old data gives a fresh session once.
- Values JSON would silently change are refused with ``SessionNotSerializableError`` naming the
  top-level key, and nothing is half-written.

Durations and the cookie backend's idle timeout are in ``test_timeouts.py``; the memory backend's
byte bound is in ``test_data.py``, next to the size cap.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from starlette_session import (
    Session,
    SessionMiddleware,
    SessionNotSerializableError,
    SessionStore,
    get_session,
    load_session,
)
from starlette_session.testing import find_session_middleware
from tests.helpers import make_app
from tests.security.conftest import SECRET, SECURITY_LOGGER, Client, Real, asgi_request, build_app

# Change detection compares what is stored.


async def test_a_change_from_1_to_true_survives_a_concurrent_change_of_another_field(
    real: Real,
) -> None:
    loaded, proceed = asyncio.Event(), asyncio.Event()

    async def flip(request: Request) -> Response:
        session = await load_session(request)
        loaded.set()
        await proceed.wait()
        session["flag"] = True  # it was 1: Python says equal, JSON does not
        session["ratio"] = 1.0  # it was 1
        return JSONResponse({})

    app = build_app(SessionStore(real.counting), routes=[Route("/flip", flip, methods=["POST"])])
    client = Client(app)
    await client.post("/write", {"flag": 1, "ratio": 1})
    slow = asyncio.ensure_future(Client(app, client.cookie).post("/flip"))
    await loaded.wait()
    await Client(app, client.cookie).post("/write", {"other": 2})  # saved first
    proceed.set()
    assert (await slow).status == 200

    raw = json.dumps((await client.get()).json()["data"], sort_keys=True)

    assert raw == '{"flag": true, "other": 2, "ratio": 1.0}'


class Counter(BaseModel):
    value: bool | int | float = 0


async def test_a_typed_change_from_1_to_true_or_1_0_is_saved(real: Real) -> None:
    app = FastAPI()
    app.add_middleware(
        SessionMiddleware, secret_key=SECRET, store=SessionStore(real.counting, model=Counter)
    )

    @app.post("/set/{kind}")
    async def set_value(kind: str, counter: Annotated[Counter, Depends(get_session)]) -> Any:
        counter.value = {"one": 1, "true": True, "float": 1.0}[kind]
        return {}

    @app.get("/raw")
    async def raw(request: Request) -> Response:
        session = await load_session(request)
        return Response(json.dumps(dict(session)))

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await client.post("/set/one")
        assert (await client.get("/raw")).text == '{"value": 1}'
        await client.post("/set/true")
        assert (await client.get("/raw")).text == '{"value": true}'
        await client.post("/set/float")
        assert (await client.get("/raw")).text == '{"value": 1.0}'


# A validator or migrate hook that raises on old data.


class Strict(BaseModel):
    name: str = "anonymous"

    @field_validator("name")
    @classmethod
    def known(cls, value: str) -> str:
        return {"alice": "alice", "anonymous": "anonymous"}[value]  # KeyError on old data


strict_routes = APIRouter()


@strict_routes.get("/name")
async def name(model: Annotated[Strict, Depends(get_session)]) -> dict[str, str]:
    return {"name": model.name}


@pytest.mark.parametrize("hook", ["none", "raising-migrate"])
async def test_a_validator_or_migrate_hook_that_raises_gives_a_fresh_session_once(
    real: Real, hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    def migrate(data: dict[str, Any]) -> dict[str, Any]:
        raise AttributeError("the hook has a bug")

    store = SessionStore(real.counting, model=Strict, migrate=migrate if hook != "none" else None)
    app = make_app(store, routes=strict_routes.routes, fastapi=True, secret_key=SECRET)
    signer = find_session_middleware(app).signer
    sid = secrets.token_urlsafe(32)
    record = b'{"m":{"c":2000000000},"d":{"name":"renamed-user"}}'
    await real.put(store.storage_key(sid), record)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        client.cookies.set("session", signer.sign(sid))
        with caplog.at_level(logging.WARNING):
            first = await client.get("/name")
        assert first.status_code == 200
        assert first.json() == {"name": "anonymous"}
        second = await client.get("/name")
        assert second.status_code == 200
    assert len([r for r in caplog.records if r.name == SECURITY_LOGGER]) == 1
    assert await real.raw(store.storage_key(sid)) is None, "the bad entry was deleted"


async def test_a_successful_migration_logs_nothing(
    real: Real, caplog: pytest.LogCaptureFixture
) -> None:
    store = SessionStore(real.counting, model=Strict, migrate=lambda data: {"name": "alice"})
    app = make_app(store, routes=strict_routes.routes, fastapi=True, secret_key=SECRET)
    signer = find_session_middleware(app).signer
    sid = secrets.token_urlsafe(32)
    await real.put(store.storage_key(sid), b'{"m":{"c":2000000000},"d":{"name":"old"}}')
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        client.cookies.set("session", signer.sign(sid))
        with caplog.at_level(logging.INFO):
            assert (await client.get("/name")).json() == {"name": "alice"}
    assert not [r for r in caplog.records if r.name.startswith("starlette_session")]


# Values JSON would change are refused.


def deep(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels):
        value = [value]
    return value


def circular() -> list[Any]:
    value: list[Any] = []
    value.append(value)
    return value


REFUSED: dict[str, Any] = {
    "colliding-keys": {"a": {1: "x", "1": "y"}},
    "int-key-inside": [{"ok": {2: "x"}}],
    "lone-surrogate": {"text": "\ud800"},
    "nan-inside": [1.0, float("nan")],
    "too-deep": deep(100_000),
    "circular": circular(),
}


@pytest.mark.parametrize("value", REFUSED.values(), ids=REFUSED.keys())
async def test_a_value_json_would_change_is_refused_naming_its_key_with_nothing_written(
    real: Real, value: Any
) -> None:
    store: SessionStore[Any] = SessionStore(real.counting)
    build_app(store)
    session = await Session(store).load()
    session["kept"] = 1
    update = await store.commit(session, 200)
    assert update is not None
    before = sorted([(key, await real.raw(key)) for key in await real.keys()])

    session = await Session(store, update.value).load()
    session["kept"] = 2
    session["bad"] = value
    with pytest.raises(SessionNotSerializableError, match="'bad'"):
        await store.commit(session, 200)

    assert sorted([(key, await real.raw(key)) for key in await real.keys()]) == before


async def test_a_lone_surrogate_from_client_json_is_refused_naming_the_key(real: Real) -> None:
    async def echo(request: Request) -> Response:
        session = await load_session(request)
        session.update(json.loads(await request.body()))  # "\\ud800" parses to a lone surrogate
        return JSONResponse({})

    app = build_app(SessionStore(real.counting), routes=[Route("/echo", echo, methods=["POST"])])
    with pytest.raises(SessionNotSerializableError, match="'note'"):
        await asgi_request(app, "POST", "/echo", body=b'{"note": "\\ud800"}')
