"""The transition: each fastapi-sessions session imported once, at its next request."""

import os
from typing import Annotated
from uuid import UUID

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel

from starlette_session import (
    SessionHandle,
    SessionMiddleware,
    SessionStore,
    get_session,
)

# The fastapi-sessions backend the old application keeps its sessions in, from its
# module: here before.py, the "before" sample, saved beside this file.
from before import backend as old_backend

OLD_COOKIE = "cookie"  # the old SessionCookie's cookie_name, which was also its salt
old_cookies = URLSafeTimedSerializer(os.environ["OLD_SESSION_SECRET"], salt=OLD_COOKIE)


class SessionData(BaseModel):
    username: str | None = None


CurrentSession = Annotated[SessionData, Depends(get_session)]

store = SessionStore(model=SessionData)
app = FastAPI()
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ["SESSION_SECRET"],
    cookie_name="session",  # not the old cookie's name, during the transition
    store=store,
)


async def carried_over(
    request: Request, response: Response, data: CurrentSession, session: SessionHandle
) -> SessionData:
    """The session, with the visitor's fastapi-sessions session imported first."""
    signed = request.cookies.get(OLD_COOKIE)
    if session.is_new and signed:
        try:
            old_id: UUID | None = UUID(
                old_cookies.loads(signed, max_age=14 * 24 * 3600)
            )
        except (BadSignature, ValueError):
            old_id = None
        old = await old_backend.read(old_id) if old_id else None
        if old_id and old is not None:
            data.username = old.username  # saved under a new id, in a new cookie
            await session.begin_login(old.username)
            session.set_user(old.username)  # as the log-in of the "after" sample does
            await old_backend.delete(old_id)  # imported once
        response.delete_cookie(OLD_COOKIE)
    return data


async def signed_in(
    session: Annotated[SessionData, Depends(carried_over)],
) -> SessionData:
    if session.username is None:
        raise HTTPException(403, "invalid session")
    return session


@app.get("/whoami")
async def whoami(data: Annotated[SessionData, Depends(signed_in)]) -> SessionData:
    return data
