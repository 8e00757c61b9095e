# The code block of issue 3, pasted unchanged between the two marker lines. The two comments below
# only silence checks the block was not written for: no return annotations, MemoryBackend imported
# and unused, Depends() in a default, its own import order. After the block, `use_redis` points the
# block's own Redis client (localhost:6379 as written) at the server a test started.
# mypy: disable-error-code="no-untyped-def"
# ruff: noqa: B008, F401, I001

# --- issue 3, verbatim ---
from typing import Annotated
from fastapi import Depends, FastAPI
from pydantic import BaseModel
import redis.asyncio
from starlette_session import SessionMiddleware, SessionStore, get_session
from starlette_session.backends import MemoryBackend, RedisBackend

class Cart(BaseModel):
    items: list[str] = []
    owner: str | None = None

store = SessionStore(backend=RedisBackend(redis.asyncio.Redis()), model=Cart)
app = FastAPI()
app.add_middleware(SessionMiddleware, secret_key="...", store=store)

@app.post("/cart")
async def add(item: str, session: Cart = Depends(get_session)):
    session.items.append(item)          # saved before the response goes out
    return session

CartSession = Annotated[Cart, Depends(get_session)]

@app.get("/cart")
def show(session: CartSession):        # sync endpoints work too
    return session
# --- end of issue 3 ---


def use_redis(url: str) -> redis.asyncio.Redis:
    """Point the block's client at ``url`` before its first command; return that client."""
    backend = store.backend
    assert isinstance(backend, RedisBackend)
    client = backend.client
    assert isinstance(client, redis.asyncio.Redis)
    client.connection_pool.connection_kwargs.update(redis.asyncio.connection.parse_url(url))
    return client
