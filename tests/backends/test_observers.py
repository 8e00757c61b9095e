"""Observing changes nothing: with a handler (``store.on``) or telemetry registered, 100
concurrent writers of one session on every backend get the same answers, store the same data and
cost the same backend calls as without.

In 1.0 an observer put a counting wrapper in front of the backend, which forwarded every method
but ``update``: write combining was skipped, and on Redis 31 of 100 writers were answered 409.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from starlette_session import SessionEvent, SessionMiddleware, SessionStore, load_session
from starlette_session.backends import SessionBackend
from tests.helpers import SECRET

WRITERS = 100
METHODS = ("read", "create", "replace", "expire", "delete", "update")


class Writers:
    """``POST /write/{name}``: load the session, wait until every writer has loaded it, then set
    field ``name``, so that all of them save the same loaded copy at once."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.loaded = 0
        self.all_loaded = asyncio.Event()

    async def write(self, request: Request) -> Response:
        try:
            session = await load_session(request)
        finally:  # a failed load counts too: the others must not wait for it forever
            self.loaded += 1
            if self.loaded == self.count:
                self.all_loaded.set()
        await asyncio.wait_for(self.all_loaded.wait(), 60)
        session[request.path_params["name"]] = 1
        return JSONResponse({})

    async def read(self, request: Request) -> Response:
        return JSONResponse(dict(await load_session(request)))

    async def start(self, request: Request) -> Response:
        (await load_session(request))["started"] = 1
        return JSONResponse({})


def _count_calls(backend: SessionBackend, calls: Counter[str]) -> None:
    """Count the calls made to ``backend``'s own methods (the store still holds ``backend``)."""
    for name in METHODS:
        method = getattr(backend, name)

        def counted(*args: Any, _method: Any = method, _name: str = name, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _method(*args, **kwargs)

        setattr(backend, name, counted)


async def _run(backend: SessionBackend, observer: str | None) -> tuple[list[int], Any]:
    store: SessionStore[Any] = SessionStore(backend)
    if observer == "handler":
        store.on(SessionEvent.saved, lambda info: None)
        store.on(SessionEvent.conflict, lambda info: None)
    elif observer == "telemetry":
        pytest.importorskip("opentelemetry")
        from starlette_session.telemetry import instrument

        instrument(store)
    writers = Writers(WRITERS)
    app = Starlette(
        routes=[
            Route("/write/{name}", writers.write, methods=["POST"]),
            Route("/start", writers.start, methods=["POST"]),
            Route("/read", writers.read),
        ]
    )
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.post("/start")).status_code == 200
        responses = await asyncio.gather(
            *(client.post(f"/write/f{index}") for index in range(WRITERS))
        )
        data = (await client.get("/read")).json()
    return sorted(response.status_code for response in responses), data


async def test_observers_change_no_answer_and_no_backend_call(backend: SessionBackend) -> None:
    calls: Counter[str] = Counter()
    _count_calls(backend, calls)
    results = {}
    counted = {}
    for observer in (None, "handler", "telemetry"):
        calls.clear()
        results[observer] = await _run(backend, observer)
        counted[observer] = +calls

    expected = {"started": 1, **{f"f{index}": 1 for index in range(WRITERS)}}
    assert results[None] == ([200] * WRITERS, expected)
    assert results["handler"] == results[None]
    assert results["telemetry"] == results[None]
    assert counted["handler"] == counted[None]
    assert counted["telemetry"] == counted[None]
