"""Tutorial, step 4: the same app with its sessions in Redis."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import redis.asyncio
from fastapi import Depends, FastAPI
from pydantic import BaseModel

from starlette_session import (
    SessionHandle,
    SessionMiddleware,
    SessionStore,
    get_session,
)
from starlette_session.backends import RedisBackend


class Cart(BaseModel):
    items: list[str] = []
    user: str | None = None


CartSession = Annotated[Cart, Depends(get_session)]

client = redis.asyncio.Redis.from_url(
    os.environ.get("REDIS_URL", "redis://localhost:6379/0")
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await client.aclose()  # the app owns the client: it closes it


app = FastAPI(lifespan=lifespan)
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ["SESSION_SECRET"],
    store=SessionStore(RedisBackend(client), model=Cart),  # the one line that changed
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
    session.regenerate()
    session.set_user(user)
    cart.user = user
    return cart


@app.post("/logout")
async def logout(session: SessionHandle) -> dict[str, str]:
    session.destroy()
    return {"status": "logged out"}
