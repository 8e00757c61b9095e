"""Flash messages over HTTP, on memory, Redis and SQLite: added, read once, by category, typed;
they survive a redirect, a log-in's new id and ``regenerate(keep=...)``; reading none when the
request carries no session cookie costs no backend call, and reading none of a loaded session
writes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from starlette_session import SessionStore, get_flashes, load_session
from starlette_session.backends import SessionBackend
from tests.security.conftest import Client, CountingBackend, build_app


class Note(BaseModel):
    text: str
    level: int = 0


async def _add(request: Request) -> Response:
    body = await request.json()
    flashes = await get_flashes(request)
    flashes.add(body["message"], body.get("category", "info"))
    return RedirectResponse("/show", status_code=303)


async def _show(request: Request) -> Response:
    flashes = await get_flashes(request)
    categories = request.query_params.getlist("category")
    return JSONResponse([[m.category, m.message] for m in flashes.pop(*categories)])


async def _peek(request: Request) -> Response:
    flashes = await get_flashes(request)
    return JSONResponse({"count": len(flashes), "peek": [m.message for m in flashes.peek()]})


async def _page(request: Request) -> Response:
    # A page that uses the session anyway (the user's name), and shows the flash messages.
    session = await load_session(request)
    messages = (await get_flashes(request)).pop()
    return JSONResponse({"user": session.get("user"), "messages": len(messages)})


async def _page_without_flashes(request: Request) -> Response:
    session = await load_session(request)
    return JSONResponse({"user": session.get("user"), "messages": 0})


async def _typed_add(request: Request) -> Response:
    flashes = await get_flashes(request, Note)
    flashes.add(Note(**await request.json()), "success")
    return JSONResponse({})


async def _typed_show(request: Request) -> Response:
    flashes = await get_flashes(request, Note)
    notes = flashes.pop()
    assert all(isinstance(note.message, Note) for note in notes)
    return JSONResponse([note.message.model_dump() for note in notes])


async def _log_in_keeping_nothing(request: Request) -> Response:
    session = await load_session(request)
    await session.begin_login("ann")
    session.regenerate(keep=[])
    session.set_user("ann")
    session["user"] = "ann"
    (await get_flashes(request)).add("Welcome, ann!", "success")
    return RedirectResponse("/show", status_code=303)


async def _log_out(request: Request) -> Response:
    session = await load_session(request)
    session.destroy()
    (await get_flashes(request)).add("You are logged out.")
    return RedirectResponse("/show", status_code=303)


ROUTES = [
    Route("/add", _add, methods=["POST"]),
    Route("/show", _show),
    Route("/peek", _peek),
    Route("/page", _page),
    Route("/page-without-flashes", _page_without_flashes),
    Route("/typed-add", _typed_add, methods=["POST"]),
    Route("/typed-show", _typed_show),
    Route("/log-in", _log_in_keeping_nothing, methods=["POST"]),
    Route("/log-out", _log_out, methods=["POST"]),
]


@pytest.fixture
def app_and_calls(backend_with_sqlite: SessionBackend) -> tuple[Any, CountingBackend]:
    counting = CountingBackend(backend_with_sqlite)
    return build_app(SessionStore(counting), routes=ROUTES), counting


async def test_a_message_survives_the_redirect_and_shows_once(app_and_calls: Any) -> None:
    app, _ = app_and_calls
    client = Client(app)
    reply = await client.post("/add", {"message": "Saved."})
    assert reply.status == 303
    assert (await client.get("/show")).json() == [["info", "Saved."]]
    assert (await client.get("/show")).json() == []


async def test_categories_are_read_apart(app_and_calls: Any) -> None:
    app, _ = app_and_calls
    client = Client(app)
    await client.post("/add", {"message": "Saved.", "category": "success"})
    await client.post("/add", {"message": "Out of stock.", "category": "error"})
    await client.post("/add", {"message": {"code": 7}, "category": "error"})
    assert (await client.get("/peek")).json() == {
        "count": 3,
        "peek": ["Saved.", "Out of stock.", {"code": 7}],
    }
    assert (await client.get("/show", query=b"category=error")).json() == [
        ["error", "Out of stock."],
        ["error", {"code": 7}],
    ]
    assert (await client.get("/show")).json() == [["success", "Saved."]]


async def test_messages_survive_a_log_in_that_keeps_no_key(app_and_calls: Any) -> None:
    app, _ = app_and_calls
    client = Client(app)
    await client.post("/add", {"message": "Your cart was saved."})
    before = client.cookie
    await client.post("/log-in")
    assert client.cookie != before  # a new id
    assert (await client.get("/show")).json() == [
        ["info", "Your cart was saved."],
        ["success", "Welcome, ann!"],
    ]


async def test_a_message_after_log_out_goes_to_a_new_session_without_the_user(
    app_and_calls: Any,
) -> None:
    app, _ = app_and_calls
    client = Client(app)
    await client.post("/log-in")
    await client.get("/show")
    signed_in = client.cookie
    await client.post("/log-out")
    assert client.cookie not in (None, signed_in)
    assert (await client.get("/page")).json() == {"user": None, "messages": 1}
    # Once read, the session holds nothing: it is deleted and its cookie expired.
    assert client.cookie is None
    assert (await Client(app, signed_in).get("/page")).json() == {"user": None, "messages": 0}


async def test_reading_none_without_a_cookie_costs_no_backend_call(app_and_calls: Any) -> None:
    app, counting = app_and_calls
    client = Client(app)
    reply = await client.get("/show")
    assert reply.json() == []
    assert counting.calls == []
    assert reply.session_cookie() is None


async def test_reading_none_of_a_loaded_session_adds_no_call_and_writes_nothing(
    app_and_calls: Any,
) -> None:
    app, counting = app_and_calls
    client = Client(app)
    await client.post("/write", {"user": "ann"})
    counting.calls.clear()
    await client.get("/page-without-flashes")
    without = counting.names()
    counting.calls.clear()
    reply = await client.get("/page")
    assert counting.names() == without == ["read"]
    assert reply.session_cookie() is None


async def test_typed_messages_are_stored_as_json_and_read_as_instances(
    app_and_calls: Any,
) -> None:
    app, _ = app_and_calls
    client = Client(app)
    assert (await client.post("/typed-add", {"text": "Paid", "level": 2})).status == 200
    assert (await client.get("/peek")).json()["peek"] == [{"text": "Paid", "level": 2}]
    assert (await client.get("/typed-show")).json() == [{"text": "Paid", "level": 2}]


async def test_a_stored_message_that_no_longer_validates_is_dropped(
    app_and_calls: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = app_and_calls
    client = Client(app)
    await client.post("/add", {"message": "not a note"})
    await client.post("/typed-add", {"text": "ok"})
    assert (await client.get("/typed-show")).json() == [{"text": "ok", "level": 0}]
    assert "no longer validates" in caplog.text


async def test_messages_are_not_session_data_and_data_cannot_forge_them(
    app_and_calls: Any,
) -> None:
    app, _ = app_and_calls
    client = Client(app)
    await client.post("/add", {"message": "Saved."})
    assert (await client.get("/read")).json()["data"] == {}
    await client.post("/write", {"f": [["error", "forged"]]})
    assert (await client.get("/show")).json() == [["info", "Saved."]]


def test_a_category_is_a_non_empty_string() -> None:
    from starlette_session import Flashes, Session

    flashes: Flashes[Any] = Flashes(Session.__new__(Session))
    with pytest.raises(ValueError, match="category"):
        flashes.add("x", "")


class Held:
    """Requests that add or pop flash messages, then wait, loaded and changed, until the test
    lets each one finish: two tabs' requests racing on one session, in a chosen order."""

    def __init__(self) -> None:
        self.loaded: dict[str, asyncio.Event] = {}
        self.go: dict[str, asyncio.Event] = {}

    def routes(self) -> list[Route]:
        return [Route("/held/{name}", self._endpoint, methods=["POST"])]

    async def _endpoint(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.json()
        flashes = await get_flashes(request)
        shown = []
        if body.get("pop"):
            shown = [m.message for m in flashes.pop()]
        for message in body.get("add", []):
            flashes.add(message)
        self.loaded[name].set()
        await self.go[name].wait()
        return JSONResponse(shown)

    async def race(self, client: Client, first: tuple[str, Any], second: tuple[str, Any]) -> Any:
        """Both requests load and change the session; then ``first`` commits, then ``second``."""
        tasks = []
        for name, body in (first, second):
            self.loaded[name], self.go[name] = asyncio.Event(), asyncio.Event()
            tasks.append(asyncio.create_task(client.post(f"/held/{name}", body)))
            await self.loaded[name].wait()
        for (name, _), task in zip((first, second), tasks, strict=True):
            self.go[name].set()
            await task
        return [task.result().json() for task in tasks]


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_messages_added_or_shown_by_two_requests_at_once_are_neither_lost_nor_repeated(
    backend_with_sqlite: SessionBackend, encrypted: bool
) -> None:
    """Two tabs: each adds a message, or one shows the pending ones while the other adds one,
    committing in both orders. A naive merge of the metadata keeps one request's list: the
    other's message is lost, or a message shown already shows again."""
    from starlette_session import KeyRing, generate_key

    held = Held()
    ring = KeyRing([("k1", generate_key())]) if encrypted else None
    app = build_app(
        SessionStore(backend_with_sqlite, encryption=ring), routes=[*ROUTES, *held.routes()]
    )
    client = Client(app)
    await client.post("/write", {"user": "ann"})  # a stored session

    await held.race(client, ("a", {"add": ["from A"]}), ("b", {"add": ["from B"]}))
    assert sorted(m for _, m in (await client.get("/show")).json()) == ["from A", "from B"]

    for order in ("pop first", "add first"):
        await client.post("/add", {"message": "old"})
        popping, adding = ("p", {"pop": True}), ("q", {"add": ["new"]})
        first, second = (popping, adding) if order == "pop first" else (adding, popping)
        results = await held.race(client, first, second)
        shown = results[0] if order == "pop first" else results[1]
        assert shown == ["old"], order
        assert (await client.get("/show")).json() == [["info", "new"]], order
