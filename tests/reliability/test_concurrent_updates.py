"""Concurrent requests on one session: changes to different fields are merged, the same field is
last-write-wins, and ``strict=True`` reports a conflict (409) instead of merging.

Every request here loads the session, pauses (``delay``) so that all of them hold the same
loaded copy, then changes one field: the compare-and-set of all but the first then fails and the
store merges. Runs against Redis and the memory backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from starlette_session import SessionStore
from starlette_session.backends import Replaced, SessionBackend
from tests.helpers import set_cookie_headers
from tests.reliability.support import make_app


def _client(store: SessionStore[Any]) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=make_app(store))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _start_session(client: httpx.AsyncClient) -> None:
    response = await client.post("/fields/started")
    assert response.status_code == 200
    assert client.cookies.get("session")


async def test_twenty_concurrent_requests_changing_different_fields_all_keep_their_change(
    backend: SessionBackend,
) -> None:
    async with _client(SessionStore(backend)) as client:
        await _start_session(client)

        responses = await asyncio.gather(
            *(client.post(f"/fields/f{index}", params={"delay": 0.05}) for index in range(20))
        )

        assert [response.status_code for response in responses] == [200] * 20
        session = (await client.get("/session")).json()
    assert session == {"started": "1", **{f"f{index}": "1" for index in range(20)}}


async def test_a_field_deleted_by_one_request_stays_deleted_when_another_changes_another_field(
    backend: SessionBackend,
) -> None:
    async with _client(SessionStore(backend)) as client:
        await _start_session(client)
        await client.post("/fields/doomed")

        deleted, changed = await asyncio.gather(
            client.delete("/fields/doomed"),
            client.post("/fields/kept", params={"delay": 0.05}),
        )

        assert (deleted.status_code, changed.status_code) == (200, 200)
        assert (await client.get("/session")).json() == {"started": "1", "kept": "1"}


async def test_two_requests_changing_the_same_field_last_write_wins(
    backend: SessionBackend,
) -> None:
    async with _client(SessionStore(backend)) as client:
        await _start_session(client)

        first, last = await asyncio.gather(
            client.post("/fields/colour", params={"value": "red", "delay": 0.02}),
            client.post("/fields/colour", params={"value": "blue", "delay": 0.2}),
        )

        assert (first.status_code, last.status_code) == (200, 200)
        assert (await client.get("/session")).json()["colour"] == "blue"


async def test_strict_mode_answers_409_to_the_later_writer_and_saves_nothing_of_it(
    backend: SessionBackend,
) -> None:
    async with _client(SessionStore(backend, strict=True)) as client:
        await _start_session(client)
        cookie = client.cookies.get("session")

        first, later = await asyncio.gather(
            client.post("/fields/first", params={"delay": 0.02}),
            client.post("/fields/later", params={"delay": 0.2}),
        )

        assert first.status_code == 200
        assert later.status_code == 409
        assert "changed while this request ran" in later.text
        assert set_cookie_headers(later) == []
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
