"""What a typed request counts as a change, and what its save carries.

- An unchanged view is never a change, whatever its field types (Enum, datetime, date, time,
  timedelta, UUID, Decimal, bytes beside a field holding None): no write, no ``Set-Cookie``.
- A save carries only the fields this request changed, so that the field merge keeps another
  tab's change to another field: when the model is first used in an existing session, when the
  fields were stored already, and when a field is a ``set`` (stored in another order).
- With several models on one session, an ``extra="allow"`` model's extras (its copy of the other
  models' keys) are never written back over their changes.

Over HTTP (an in-process FastAPI app) on memory, a real redis-server and, for the merges, SQLite.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import enum
import uuid
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from starlette_session import SessionHandle, SessionStore, get_session, session_dependency
from starlette_session.backends import SessionBackend
from tests.typed_support import TypedApp, client

# An unchanged view of any field type


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Visit(BaseModel):
    colour: Colour = Colour.RED
    level: Level = Level.LOW
    at: datetime.datetime = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)
    day: datetime.date = datetime.date(2024, 5, 1)
    time: datetime.time = datetime.time(8, 15)
    wait: datetime.timedelta = datetime.timedelta(minutes=5)
    token: uuid.UUID = uuid.UUID("12345678-1234-5678-1234-567812345678")
    price: decimal.Decimal = decimal.Decimal("9.99")
    blob: bytes = b"abc"
    note: str | None = None
    score: float | None = None
    visits: int = 0


visits = APIRouter()


@visits.get("/visit")
async def show_visit(visit: Annotated[Visit, Depends(get_session)]) -> dict[str, Any]:
    return {"visits": visit.visits, "note": visit.note}


@visits.post("/visit")
async def count_visit(visit: Annotated[Visit, Depends(get_session)]) -> None:
    visit.visits += 1


async def test_a_read_only_visitor_gets_no_session_whatever_the_field_types(
    backend: SessionBackend,
) -> None:
    app = TypedApp(SessionStore(backend, model=Visit), visits.routes)
    async with client(app) as browser:
        for _ in range(20):
            response = await browser.get("/visit")
            assert response.json() == {"visits": 0, "note": None}
            assert "set-cookie" not in response.headers
    assert app.total_writes() == 0


async def test_reading_a_stored_session_writes_nothing_whatever_the_field_types(
    backend: SessionBackend,
) -> None:
    app = TypedApp(SessionStore(backend, model=Visit), visits.routes)
    async with client(app) as browser:
        assert "set-cookie" in (await browser.post("/visit")).headers
        app.writes.clear()
        for _ in range(20):
            response = await browser.get("/visit")
            assert response.json() == {"visits": 1, "note": None}
            assert "set-cookie" not in response.headers
    assert app.total_writes() == 0


# Two tabs changing different fields


class Tab(BaseModel):
    first: int = 0
    second: int = 0
    tags: set[int] = set()


class Gates:
    """Holds a request after it changed the session, until the test lets it respond."""

    def __init__(self) -> None:
        self.changed: dict[str, asyncio.Event] = {}
        self.release: dict[str, asyncio.Event] = {}

    def add(self, name: str) -> None:
        self.changed[name], self.release[name] = asyncio.Event(), asyncio.Event()

    async def hold(self, name: str) -> None:
        self.changed[name].set()
        await self.release[name].wait()


tabs = APIRouter()
TabSession = Annotated[Tab, Depends(get_session)]


@tabs.post("/tab/{field}")
async def change_tab(field: str, value: int, gate: str, request: Request, tab: TabSession) -> None:
    if field == "tags":
        tab.tags.add(value)
    else:
        setattr(tab, field, value)
    await request.app.state.gates.hold(gate)


@tabs.post("/seed")
async def seed(request: Request, handle: SessionHandle) -> None:
    handle.update(await request.json())  # as another worker (or the mapping) stored it


@tabs.get("/tab")
async def show_tab(tab: TabSession) -> dict[str, Any]:
    return {"first": tab.first, "second": tab.second, "tags": sorted(tab.tags)}


async def two_tabs(
    browser: httpx.AsyncClient, gates: Gates, first: tuple[str, int], second: tuple[str, int]
) -> None:
    """Both requests load the session before either saves; the first saves first."""
    gates.add("a")
    gates.add("b")
    a = asyncio.create_task(
        browser.post(f"/tab/{first[0]}", params={"value": first[1], "gate": "a"})
    )
    await gates.changed["a"].wait()
    b = asyncio.create_task(
        browser.post(f"/tab/{second[0]}", params={"value": second[1], "gate": "b"})
    )
    await gates.changed["b"].wait()
    gates.release["a"].set()
    assert (await a).status_code == 200
    gates.release["b"].set()
    assert (await b).status_code == 200


def tab_app(backend: SessionBackend) -> TypedApp:
    app = TypedApp(SessionStore(backend, model=Tab), tabs.routes)
    app.app.state.gates = Gates()
    return app


@pytest.mark.parametrize(
    "seeded",
    [
        pytest.param({"elsewhere": 1}, id="model-first-used-in-an-existing-session"),
        pytest.param({"first": 5, "second": 5, "tags": [1]}, id="fields-stored-already"),
    ],
)
async def test_two_tabs_changing_different_fields_both_keep_their_change(
    backend_with_sqlite: SessionBackend, seeded: dict[str, Any]
) -> None:
    app = tab_app(backend_with_sqlite)
    async with client(app) as browser:
        await browser.post("/seed", json=seeded)
        await two_tabs(browser, app.app.state.gates, ("first", 1), ("second", 2))
        assert (await browser.get("/tab")).json() == {
            "first": 1,
            "second": 2,
            "tags": seeded.get("tags", []),
        }


async def test_a_set_field_another_tab_changed_is_kept(
    backend_with_sqlite: SessionBackend,
) -> None:
    app = tab_app(backend_with_sqlite)
    async with client(app) as browser:
        # Stored in another order than this process's set gives (another worker wrote it).
        await browser.post("/seed", json={"tags": [3, 1, 2]})
        await two_tabs(browser, app.app.state.gates, ("tags", 4), ("first", 1))
        assert (await browser.get("/tab")).json() == {
            "first": 1,
            "second": 0,
            "tags": [1, 2, 3, 4],
        }


# Several models, one of them extra="allow"


class Cart(BaseModel):
    items: list[str] = []


class Notes(BaseModel):
    model_config = ConfigDict(extra="allow")
    notes: list[str] = []


models = APIRouter()
CartSession = Annotated[Cart, Depends(session_dependency(Cart))]
NotesSession = Annotated[Notes, Depends(session_dependency(Notes))]


@models.post("/cart-then-notes")
async def cart_then_notes(cart: CartSession, notes: NotesSession) -> None:
    cart.items.append("pear")
    notes.notes.append("bought a pear")


@models.post("/notes-then-cart")
async def notes_then_cart(notes: NotesSession, cart: CartSession) -> None:
    cart.items.append("plum")
    notes.notes.append("bought a plum")


@models.post("/cart")
async def add_to_cart(item: str, cart: CartSession) -> None:
    cart.items.append(item)


@models.get("/both")
async def show_both(cart: CartSession, notes: NotesSession) -> dict[str, Any]:
    return {"items": cart.items, "notes": notes.notes}


@pytest.mark.parametrize("route", ["/cart-then-notes", "/notes-then-cart"])
async def test_an_extra_allow_model_never_writes_back_other_models_keys(
    backend: SessionBackend, route: str
) -> None:
    app = TypedApp(SessionStore(backend), models.routes)
    async with client(app) as browser:
        await browser.post("/cart", params={"item": "apple"})
        await browser.post(route)
        shown = (await browser.get("/both")).json()
    fruit = "pear" if route == "/cart-then-notes" else "plum"
    assert shown == {"items": ["apple", fruit], "notes": [f"bought a {fruit}"]}
