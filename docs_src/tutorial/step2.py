"""Tutorial, step 2: the session as a Pydantic model, checked and typed."""

import os
from typing import Annotated

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from starlette_session import SessionMiddleware, SessionStore, get_session


class Cart(BaseModel):
    items: list[str] = []  # a new visitor's session is empty: every field has a default


CartSession = Annotated[Cart, Depends(get_session)]

app = FastAPI()
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ["SESSION_SECRET"],
    store=SessionStore(model=Cart),  # get_session gives this model
)


@app.get("/cart")
async def show(cart: CartSession) -> Cart:
    return cart  # only read: nothing is saved, no cookie is sent


@app.post("/cart")
async def add(item: str, cart: CartSession) -> Cart:
    cart.items.append(item)  # changed: saved before the response goes out
    return cart
