"""Races around a log-in: no acknowledged change lost, no dead id re-sent, and nothing planted
before a log-in carried into it.

- A log-in (a new id) racing another tab's change: the change is carried into the new session,
  or the other tab is answered 409; never acknowledged and lost.
- A read-only request whose cookie is due for a refresh re-sends its id only if it is still
  current: a log-in that replaced it meanwhile is not undone.
- ``regenerate(keep=[...])`` keeps only the named keys (plus what the request writes after),
  on the plain and the typed path, and a concurrent change cannot bring the others back.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from starlette_session import (
    SessionHandle,
    SessionStore,
    get_session,
    load_session,
)
from tests.helpers import make_app
from tests.security.conftest import SECRET, Client, Real, build_app, session_id
from tests.security.pausing import PausingBackend, paused_at

MAX_CALLS = 40


# A log-in racing another tab's change.


async def test_a_log_in_never_drops_a_change_another_tab_had_acknowledged(real: Real) -> None:
    pausing = PausingBackend(real.inner)
    app = build_app(SessionStore(pausing))
    for at in range(1, MAX_CALLS):
        tab_a = Client(app)
        await tab_a.post("/write", {"cart": ["apple"]})
        tab_b = Client(app, tab_a.cookie)
        other: list[Any] = []

        async def add_to_cart(tab: Client = tab_b, other: list[Any] = other, n: int = at) -> None:
            other.append(await tab.post("/write", {"wishlist": [n]}))

        async def log_in(tab: Client = tab_a, n: int = at) -> Any:
            return await tab.post("/login", {"user": f"ann-{n}"})

        login, paused = await paused_at(pausing, at, log_in, add_to_cart)
        change = other[0]
        assert login.status in (200, 409), login.body
        assert change.status in (200, 409), change.body
        if change.status == 200:  # acknowledged: it must be in the session the browser keeps
            data = (await Client(app, tab_a.cookie).get()).json()["data"]
            assert data.get("wishlist") == [at], f"paused before call {at}: {data}"
        if login.status == 200:
            assert (await Client(app, tab_a.cookie).get()).json()["user"] == f"ann-{at}"
        if not paused:
            break


# A refreshed cookie racing a log-in.


async def test_a_refreshed_cookie_never_re_sends_an_id_a_log_in_replaced(real: Real) -> None:
    loaded, proceed = asyncio.Event(), asyncio.Event()

    async def slow_read(request: Request) -> Response:
        session = await load_session(request)
        loaded.set()
        await proceed.wait()
        return JSONResponse(dict(session))

    store: SessionStore[Any] = SessionStore(real.counting)
    app = build_app(store, routes=[Route("/slow-read", slow_read)], max_age=100)
    tab = Client(app)
    await tab.post("/write", {"cart": ["apple"]})
    assert tab.cookie is not None
    # The same id, signed 60 s ago: past half its Max-Age, so a read would re-send it.
    aged = app.signer.sign(session_id(tab.cookie), int(time.time()) - 60)
    assert (await Client(app, aged).get()).cookie_value() not in (None, ""), "due for refresh"

    slow = asyncio.ensure_future(Client(app, aged).get("/slow-read"))
    await loaded.wait()
    login = await Client(app, aged).post("/login", {"user": "ann"})  # another tab logs in
    assert login.status == 200
    proceed.set()
    reply = await slow

    assert reply.status == 200
    assert reply.cookie_value() in (None, ""), "the replaced id was sent back to the browser"


# regenerate(keep=[...]) keeps only the named keys.


async def _login_keeping_the_cart(request: Request) -> Response:
    session = await load_session(request)
    session.regenerate(keep=["cart"])
    await session.begin_login("ann")
    session.set_user("ann")
    session["user"] = "ann"
    return JSONResponse(dict(session))


async def test_data_planted_before_a_log_in_does_not_survive_it(real: Real) -> None:
    app = build_app(
        SessionStore(real.counting),
        routes=[Route("/login-keeping-cart", _login_keeping_the_cart, methods=["POST"])],
    )
    # The attacker plants a session in the victim's browser (a cookie set for the parent domain,
    # or a link with a fixed session), holding values the application trusts later.
    planted = {"csrf": "attacker-token", "oauth_state": "attacker", "next": "https://evil.test"}
    victim = Client(app)
    await victim.post("/write", {**planted, "cart": ["apple"]})

    reply = await victim.post("/login-keeping-cart")

    assert reply.json() == {"cart": ["apple"], "user": "ann"}
    stored = (await victim.get()).json()
    assert stored["data"] == {"cart": ["apple"], "user": "ann"}
    assert stored["user"] == "ann"


async def test_a_concurrent_change_cannot_bring_back_what_a_log_in_dropped(real: Real) -> None:
    pausing = PausingBackend(real.inner)
    app = build_app(
        SessionStore(pausing),
        routes=[Route("/login-keeping-cart", _login_keeping_the_cart, methods=["POST"])],
    )
    for at in range(1, MAX_CALLS):
        victim = Client(app)
        await victim.post("/write", {"csrf": "planted", "cart": ["apple"]})
        attacker_tab = Client(app, victim.cookie)

        async def replant(tab: Client = attacker_tab) -> None:
            await tab.post("/write", {"csrf": "planted-again", "cart": ["apple", "pear"]})

        async def log_in(tab: Client = victim) -> Any:
            return await tab.post("/login-keeping-cart")

        reply, paused = await paused_at(pausing, at, log_in, replant)
        if reply.status == 200:
            data = (await victim.get()).json()["data"]
            assert "csrf" not in data, f"paused before call {at}: {data}"
        if not paused:
            break


def test_keep_takes_a_list_of_keys_not_one_key() -> None:
    from starlette_session import Session

    session = Session(SessionStore(), None)
    with pytest.raises(TypeError, match=r"keep=\[\.\.\.\]"):
        session.regenerate(keep="cart")


class Shop(BaseModel):
    cart: list[str] = []
    csrf: str | None = None
    user: str | None = None


ShopSession = Annotated[Shop, Depends(get_session)]


shop_routes = APIRouter()


@shop_routes.post("/plant")
async def plant(shop: ShopSession) -> Shop:
    shop.csrf = "attacker-token"
    shop.cart.append("apple")
    return shop


@shop_routes.post("/login")
async def login(shop: ShopSession, session: SessionHandle) -> Shop:
    session.regenerate(keep=["cart"])
    shop.user = "ann"  # changed after the rotation: saved
    return shop


@shop_routes.get("/stored")
async def stored(session: SessionHandle) -> dict[str, Any]:
    return dict(session)


async def test_the_typed_path_keeps_only_the_named_keys_across_a_log_in(real: Real) -> None:
    store = SessionStore(real.counting, model=Shop)
    transport = httpx.ASGITransport(
        app=make_app(store, routes=shop_routes.routes, fastapi=True, secret_key=SECRET)
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await client.post("/plant")
        await client.post("/login")
        stored = (await client.get("/stored")).json()
    assert stored == {"cart": ["apple"], "user": "ann"}
