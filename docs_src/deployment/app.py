"""Production settings: keys from a secret file, sessions in Redis, a __Host- cookie."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import redis.asyncio
from fastapi import Depends, FastAPI
from pydantic import BaseModel
from starlette.datastructures import Secret

from starlette_session import SessionMiddleware, SessionStore, get_session
from starlette_session.backends import RedisBackend


def secret_keys() -> list[Secret]:
    """The signing keys, newest first, one per line of the file (a Docker or Kubernetes
    secret, a systemd credential) named by SESSION_SECRET_FILE."""
    text = Path(os.environ["SESSION_SECRET_FILE"]).read_text()
    return [Secret(line.strip()) for line in text.splitlines() if line.strip()]


class Cart(BaseModel):
    items: list[str] = []


redis_client = redis.asyncio.Redis.from_pool(
    redis.asyncio.BlockingConnectionPool.from_url(
        os.environ["REDIS_URL"],  # rediss://... for TLS to Redis
        max_connections=50,  # per worker process
        timeout=0.5,  # waiting for a free connection
        socket_connect_timeout=0.5,
        socket_timeout=0.5,
    )
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await redis_client.aclose()


app = FastAPI(lifespan=lifespan)
app.add_middleware(
    SessionMiddleware,
    secret_key=secret_keys(),  # read once, at start-up: restart to rotate
    store=SessionStore(
        RedisBackend(redis_client, timeout=1.0),
        model=Cart,
        idle_timeout=30 * 60,  # 30 minutes without a request ends a session
        absolute_timeout=12 * 60 * 60,  # and 12 hours after it began
    ),
    # Secure, Path=/, no Domain: sent over HTTPS only, to this host only
    cookie_name="__Host-session",
    https_only=True,  # Secure, even though the proxy talks plain HTTP to the app
    max_age=12 * 60 * 60,
)


@app.get("/cart")
async def show(cart: Annotated[Cart, Depends(get_session)]) -> Cart:
    return cart


@app.post("/cart")
async def add(item: str, cart: Annotated[Cart, Depends(get_session)]) -> Cart:
    cart.items.append(item)
    return cart
