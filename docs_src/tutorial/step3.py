"""Tutorial, step 3: log in and log out, with a new session id at each log-in."""

import os
from typing import Annotated

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from starlette_session import (
    SessionHandle,
    SessionMiddleware,
    SessionStore,
    get_session,
)


class Cart(BaseModel):
    items: list[str] = []
    user: str | None = None


CartSession = Annotated[Cart, Depends(get_session)]

app = FastAPI()
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ["SESSION_SECRET"],
    store=SessionStore(model=Cart),
)


@app.get("/cart")
async def show(cart: CartSession) -> Cart:
    return cart


@app.post("/cart")
async def add(item: str, cart: CartSession) -> Cart:
    cart.items.append(item)
    return cart


@app.post("/login")
async def login(user: str, cart: CartSession, session: SessionHandle) -> Cart:
    await session.begin_login(user)  # first: a revocation from now on wins
    # (check the user's password here)
    session.regenerate()  # a new id, the cart kept: the old cookie is worth nothing
    session.set_user(user)  # lists the session under its user
    cart.user = user
    return cart


@app.post("/logout")
async def logout(session: SessionHandle) -> dict[str, str]:
    session.destroy()  # deleted on the server, the cookie expired
    return {"status": "logged out"}
