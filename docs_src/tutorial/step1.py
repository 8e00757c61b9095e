"""Tutorial, step 1: a visit counter in the session, kept in this process's memory."""

import os

from fastapi import FastAPI

from starlette_session import SessionHandle, SessionMiddleware, SessionStore

app = FastAPI()
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ["SESSION_SECRET"],  # signs the cookie
    store=SessionStore(),  # sessions in memory, until the process stops
)


@app.get("/")
async def count(session: SessionHandle) -> dict[str, int]:
    session["visits"] = session.get("visits", 0) + 1  # a dict that is saved
    return {"visits": session["visits"]}
