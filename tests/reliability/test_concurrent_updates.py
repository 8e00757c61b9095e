"""Concurrent requests on one session: changes to different fields are merged, the same field is
last-write-wins, and ``strict=True`` reports a conflict (409) instead of merging.

The order is fixed by the test, not by sleeps: each request of ``/held/{name}`` loads the session,
reports that it did, then waits until the test releases it before changing its field, so that
all of them hold the same loaded copy and save in the order the test chooses. Runs against every
backend of the ``backend`` fixture.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from starlette_session import SessionStore, load_session
from starlette_session.backends import Replaced, SessionBackend
from tests.helpers import make_app, set_cookie_headers


class Held:
    """``POST /held/{name}?hold=h&value=v``: load the session, set ``loaded[h]``, wait for
    ``release(h)``, then set field ``name`` to ``v``. The session is saved when the response
    starts, after the handler returns."""

    def __init__(self) -> None:
        self.loaded: dict[str, asyncio.Event] = {}
        self._released: dict[str, asyncio.Event] = {}

    def _events(self, hold: str) -> tuple[asyncio.Event, asyncio.Event]:
        return (
            self.loaded.setdefault(hold, asyncio.Event()),
            self._released.setdefault(hold, asyncio.Event()),
        )

    async def _handler(self, request: Request) -> Response:
        name = request.path_params["name"]
        loaded, released = self._events(request.query_params.get("hold", name))
        session = await load_session(request)
        loaded.set()
        await released.wait()
        session[name] = request.query_params.get("value", "1")
        return JSONResponse({})

    def route(self) -> Route:
        return Route("/held/{name}", self._handler, methods=["POST"])

    async def all_loaded(self, *holds: str) -> None:
        for hold in holds:
            await self._events(hold)[0].wait()

    def release(self, *holds: str) -> None:
        for hold in holds:
            self._events(hold)[1].set()


def _client(store: SessionStore[Any], held: Held | None = None) -> httpx.AsyncClient:
    app = make_app(store, routes=[held.route()] if held else [])
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _start_session(client: httpx.AsyncClient) -> None:
    response = await client.post("/fields/started")
    assert response.status_code == 200
    assert client.cookies.get("session")


def _send(client: httpx.AsyncClient, name: str, **params: str) -> asyncio.Task[httpx.Response]:
    return asyncio.ensure_future(client.post(f"/held/{name}", params=params))


async def test_twenty_concurrent_requests_changing_different_fields_all_keep_their_change(
    backend: SessionBackend,
) -> None:
    held = Held()
    async with _client(SessionStore(backend), held) as client:
        await _start_session(client)
        names = [f"f{index}" for index in range(20)]
        requests = [_send(client, name) for name in names]
        await held.all_loaded(*names)  # all 20 hold the same loaded copy

        held.release(*names)  # and all save at once: 19 compare-and-sets fail and merge
        responses = await asyncio.gather(*requests)

        assert [response.status_code for response in responses] == [200] * 20
        session = (await client.get("/session")).json()
    assert session == {"started": "1", **{name: "1" for name in names}}


async def test_a_field_deleted_by_one_request_stays_deleted_when_another_changes_another_field(
    backend: SessionBackend,
) -> None:
    held = Held()
    async with _client(SessionStore(backend), held) as client:
        await _start_session(client)
        await client.post("/fields/doomed")
        changing = _send(client, "kept")
        await held.all_loaded("kept")  # loaded while "doomed" still existed

        deleted = await client.delete("/fields/doomed")
        held.release("kept")
        changed = await changing

        assert (deleted.status_code, changed.status_code) == (200, 200)
        assert (await client.get("/session")).json() == {"started": "1", "kept": "1"}


@pytest.mark.parametrize("order", [("red", "blue"), ("blue", "red")])
async def test_two_requests_changing_the_same_field_last_write_wins(
    backend: SessionBackend, order: tuple[str, str]
) -> None:
    held = Held()
    async with _client(SessionStore(backend), held) as client:
        await _start_session(client)
        requests = {value: _send(client, "colour", hold=value, value=value) for value in order}
        await held.all_loaded(*order)

        for value in order:  # saved one after the other, in this order
            held.release(value)
            assert (await requests[value]).status_code == 200

        assert (await client.get("/session")).json()["colour"] == order[-1]


async def test_strict_mode_answers_409_to_the_later_writer_and_saves_nothing_of_it(
    backend: SessionBackend,
) -> None:
    held = Held()
    async with _client(SessionStore(backend, strict=True), held) as client:
        await _start_session(client)
        cookie = client.cookies.get("session")
        first, later = _send(client, "first"), _send(client, "later")
        await held.all_loaded("first", "later")

        held.release("first")
        assert (await first).status_code == 200
        held.release("later")
        response = await later

        assert response.status_code == 409
        assert "changed while this request ran" in response.text
        assert set_cookie_headers(response) == []
        assert client.cookies.get("session") == cookie
        assert (await client.get("/session")).json() == {"started": "1", "first": "1"}

        retried = await client.post("/fields/later")
        assert retried.status_code == 200
        assert (await client.get("/session")).json() == {"started": "1", "first": "1", "later": "1"}


class BeforeEachReplace(SessionBackend):
    """A real backend, plus a hook: before a compare-and-set, run the next queued action.

    The actions are whole requests to the same app, so they write through the same backend; the
    hook only fixes the order, which real concurrency cannot do reproducibly.
    """

    timeout = None  # it holds calls back on purpose, while whole requests run

    def __init__(self, backend: SessionBackend) -> None:
        self.backend = backend
        self.actions: list[Callable[[], Awaitable[object]]] = []
        self._in_action = False

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        return await self.backend.read(key, ttl)

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        return await self.backend.create(key, value, ttl, logged_in=logged_in)

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Replaced:
        if self.actions and not self._in_action:
            action = self.actions.pop(0)
            self._in_action = True
            try:
                await action()
            finally:
                self._in_action = False
        return await self.backend.replace(key, expected, value, ttl, logged_in=logged_in)

    async def expire(self, key: str, ttl: int) -> None:
        await self.backend.expire(key, ttl)

    async def delete(self, *keys: str) -> None:
        await self.backend.delete(*keys)


async def test_a_merge_retried_twice_never_rolls_back_a_field_it_did_not_change(
    backend: SessionBackend,
) -> None:
    interleaved = BeforeEachReplace(backend)
    async with _client(SessionStore(interleaved)) as client:
        await _start_session(client)
        await client.post("/increment")

        async def increment() -> None:
            assert (await client.post("/increment")).status_code == 200

        # Our request's first compare-and-set loses to one increment, its second to another.
        interleaved.actions = [increment, increment]
        response = await client.post("/fields/mine")

        assert response.status_code == 200
        assert interleaved.actions == []
        assert (await client.get("/session")).json() == {"started": "1", "count": 3, "mine": "1"}
