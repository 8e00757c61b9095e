"""After: this library; the session is the middleware's, the app changes a model."""

import os
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel

from starlette_session import (
    SessionHandle,
    SessionMiddleware,
    SessionStore,
    get_session,
)
from starlette_session.backends import MemoryBackend


class SessionData(BaseModel):
    # every field needs a default: a new visitor's session is empty
    username: str | None = None


CurrentSession = Annotated[SessionData, Depends(get_session)]

# or RedisBackend(redis.asyncio.Redis())
store = SessionStore(MemoryBackend(), model=SessionData)
app = FastAPI()
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ["SESSION_SECRET"],
    cookie_name="cookie",
    store=store,
)


async def signed_in(session: CurrentSession) -> SessionData:  # the verifier
    if session.username is None:
        raise HTTPException(403, "invalid session")
    return session


@app.post("/create_session/{name}")
async def create_session(
    name: str, data: CurrentSession, session: SessionHandle
) -> None:
    await session.begin_login(name)  # before any credential check
    session.regenerate()  # a new id at log-in
    session.set_user(name)  # store.revoke_user_sessions(name) finds it later
    data.username = name  # saved before the response starts


@app.get("/whoami")
async def whoami(data: Annotated[SessionData, Depends(signed_in)]) -> SessionData:
    return data


@app.post("/delete_session")
async def del_session(session: SessionHandle) -> None:
    session.destroy()  # deleted server-side, cookie expired
