"""A FastAPI app with a typed session: ``SESSION_SECRET=... uvicorn app:app``."""

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
    # every field needs a default: a new visitor's session is empty
    items: list[str] = []
    owner: str | None = None


CartSession = Annotated[Cart, Depends(get_session)]

app = FastAPI()
app.add_middleware(
    SessionMiddleware,
    # 32+ random characters, kept out of the code
    secret_key=os.environ["SESSION_SECRET"],
    store=SessionStore(model=Cart),  # in this process's memory; see Backends for Redis
)


@app.post("/cart")
async def add(item: str, cart: CartSession) -> Cart:
    cart.items.append(item)  # saved before the response goes out
    return cart


@app.get("/cart")
def show(cart: CartSession) -> Cart:  # sync endpoints work too
    return cart


@app.post("/login")
async def login(user: str, cart: CartSession, session: SessionHandle) -> Cart:
    await session.begin_login(user)  # first: a revocation from now on wins
    # (check the user's password here)
    session.regenerate()  # a new id at log-in, the cart kept: no session fixation
    session.set_user(user)  # lets store.revoke_user_sessions(user) find this session
    cart.owner = user
    return cart


@app.post("/logout")
async def logout(session: SessionHandle) -> None:
    session.destroy()  # deleted server-side, cookie expired
