"""Converting stored data that no longer validates, instead of starting afresh."""

import os
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from starlette_session import SessionMiddleware, SessionStore, get_session


class Cart(BaseModel):
    items: list[str] = []  # release 1 stored a string: "apple,pear"


def migrate(old: dict[str, Any]) -> dict[str, Any] | None:
    if isinstance(old.get("items"), str):
        return {**old, "items": old["items"].split(",")}
    return None  # anything else: start a fresh session


app = FastAPI()
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ["SESSION_SECRET"],
    store=SessionStore(model=Cart, migrate=migrate),
)


@app.get("/cart")
async def show(cart: Annotated[Cart, Depends(get_session)]) -> Cart:
    return cart
