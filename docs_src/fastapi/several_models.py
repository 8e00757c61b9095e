"""Two typed models over one session: a cart, and flash messages for the next page."""

import os
from typing import Annotated

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from starlette_session import (
    SessionMiddleware,
    SessionStore,
    get_session,
    session_dependency,
)


class Cart(BaseModel):
    items: list[str] = []


class Flash(BaseModel):
    # field names are session keys: keep them distinct between models
    messages: list[str] = []


CartSession = Annotated[Cart, Depends(get_session)]
FlashSession = Annotated[Flash, Depends(session_dependency(Flash))]

app = FastAPI()
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ["SESSION_SECRET"],
    store=SessionStore(model=Cart),
)


@app.post("/cart")
async def add(item: str, cart: CartSession) -> Cart:
    cart.items.append(item)
    return cart


@app.post("/checkout")
async def checkout(cart: CartSession, flash: FlashSession) -> None:
    flash.messages.append(f"Thank you! {len(cart.items)} items are on their way.")
    cart.items.clear()  # both changes are saved, in one write


@app.get("/messages")
async def messages(flash: FlashSession) -> list[str]:
    shown, flash.messages = flash.messages, []  # each message is shown once
    return shown
