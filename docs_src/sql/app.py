"""Sessions in a SQLite file, shared by the worker processes of one machine."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from starlette_session import SessionMiddleware, SessionStore
from starlette_session.backends import SQLBackend

engine = create_async_engine(
    # sessions.db in the working directory. In production, set DATABASE_URL: an absolute
    # path has four slashes (sqlite+aiosqlite:////var/lib/shop/sessions.db)
    os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///sessions.db"),
    pool_size=1,  # SQLite: one connection per process (see the table below)
    max_overflow=0,
)
backend = SQLBackend(engine)  # table="starlette_sessions", schema=None, timeout=2.0


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await backend.create_table()  # unless a migration creates it
    async with backend.purging(every=3600):  # delete expired rows every hour
        yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ["SESSION_SECRET"],
    store=SessionStore(backend),
)
