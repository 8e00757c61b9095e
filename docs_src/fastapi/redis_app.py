"""A typed session kept in Redis."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import redis.asyncio
from fastapi import Depends, FastAPI
from pydantic import BaseModel

from starlette_session import SessionMiddleware, SessionStore, get_session
from starlette_session.backends import RedisBackend


class Cart(BaseModel):
    items: list[str] = []


CartSession = Annotated[Cart, Depends(get_session)]

client = redis.asyncio.Redis.from_url(
    os.environ.get("REDIS_URL", "redis://localhost:6379/0")
)
store = SessionStore(RedisBackend(client), model=Cart)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await client.aclose()  # the application owns its client


app = FastAPI(lifespan=lifespan)
app.add_middleware(
    SessionMiddleware, secret_key=os.environ["SESSION_SECRET"], store=store
)


@app.post("/cart")
async def add(item: str, cart: CartSession) -> Cart:
    cart.items.append(item)  # one GETEX to load, one compare-and-set to save
    return cart


@app.get("/cart")
async def show(cart: CartSession) -> Cart:  # one GETEX, nothing written
    return cart
