"""Log-in, "remember me", log-out, and "log out everywhere else"."""

import hmac
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

# Demo only: a real application checks a password hash (argon2, bcrypt) from its
# database.
PASSWORDS = {"ann": "correct horse battery staple"}
THIRTY_DAYS = 30 * 24 * 60 * 60


class Account(BaseModel):
    user: str | None = None


AccountSession = Annotated[Account, Depends(get_session)]

store = SessionStore(model=Account, idle_timeout=2 * 60 * 60)  # 2 hours without use
app = FastAPI()
app.add_middleware(
    SessionMiddleware, secret_key=os.environ["SESSION_SECRET"], store=store
)


class Credentials(BaseModel):
    user: str
    password: str
    remember: bool = False


@app.post("/login")
async def login(
    form: Credentials, account: AccountSession, session: SessionHandle
) -> Account:
    # Before the password is checked: a revocation from now on ends this log-in too.
    await session.begin_login(form.user)
    expected = PASSWORDS.get(form.user, "")
    if not (
        expected and hmac.compare_digest(form.password.encode(), expected.encode())
    ):
        raise HTTPException(401, "wrong user name or password")
    session.regenerate()  # a new id when saved, data kept: the old cookie finds nothing
    session.set_user(form.user)  # indexed: store.user_sessions / revoke_user_sessions
    if form.remember:
        # the cookie's Max-Age and the server-side lifetime
        session.set_lifetime(THIRTY_DAYS)
    account.user = form.user
    return account


@app.get("/me")
async def me(account: AccountSession) -> Account:
    return account


@app.post("/logout-others")
async def logout_others(session: SessionHandle) -> dict[str, int]:
    if session.user_id is None:
        raise HTTPException(401, "log in first")
    ended = await store.revoke_user_sessions(session.user_id, keep=session)
    return {"ended": ended}


@app.post("/logout", status_code=204)
async def logout(session: SessionHandle) -> None:
    session.destroy()  # deleted server-side, cookie expired
