"""Your active sessions: each device of the user, and an endpoint to end one."""

import os
from typing import Any

from fastapi import FastAPI, HTTPException

from starlette_session import (
    DeviceTracking,
    SessionHandle,
    SessionMiddleware,
    SessionStore,
)

store = SessionStore(
    track_devices=DeviceTracking(
        # 203.0.113.0/24, 2001:db8:1::/48; or "full", or "none"
        client_address="prefix",
        trusted_proxies=["10.0.0.0/8"],  # whose X-Forwarded-For is believed
        last_used_interval=300,  # a read writes the last use at most every 5 minutes
    )
)
app = FastAPI()
app.add_middleware(
    SessionMiddleware, secret_key=os.environ["SESSION_SECRET"], store=store
)


@app.post("/login")
async def login(user: str, session: SessionHandle) -> None:
    await session.begin_login(user)  # first: a revocation from now on wins
    # (check the user's password here)
    session.regenerate()
    session.set_user(user)  # a known user: the session now records its device
    session["user"] = user  # (a session with no data is not stored)


@app.get("/sessions")
async def my_sessions(session: SessionHandle) -> list[dict[str, Any]]:
    if session.user_id is None:
        raise HTTPException(401)
    sessions = await store.user_sessions(session.user_id, current=session)
    return [info._asdict() for info in sessions]  # most recently used first


@app.post("/sessions/revoke")
async def revoke(key: str, session: SessionHandle) -> None:
    if session.user_id is None:
        raise HTTPException(401)
    # Ends the session only if it is one of this user's: a key sent by the browser is
    # checked.
    if not await store.revoke_session(session.user_id, key):
        raise HTTPException(404, "no such session")
