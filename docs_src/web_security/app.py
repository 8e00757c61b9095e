"""Flash messages, CSRF tokens, "confirm your password" and the user cap, in FastAPI."""

import hmac
import os
from html import escape
from typing import Annotated

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from starlette_session import (
    CSRFToken,
    FlashMessages,
    ReauthenticationRequired,
    RequireRecentAuth,
    Session,
    SessionHandle,
    SessionLimitError,
    SessionMiddleware,
    SessionStore,
    verify_csrf,
)

USERS = {"ann": "wonderland"}  # demo only: check a password hash in real code
# Every unsafe request must carry the session's CSRF token.
Checked = [Depends(verify_csrf)]
# An authentication at most 5 minutes old, else ReauthenticationRequired (403).
RecentlySignedIn = Annotated[Session, Depends(RequireRecentAuth(300))]

app = FastAPI()


def password_ok(user: str, password: str) -> bool:
    expected = USERS.get(user, "\0").encode()
    return hmac.compare_digest(password.encode(), expected) and user in USERS


def page(body: str, flashes: FlashMessages) -> HTMLResponse:
    # Each message is shown once: pop() removes what it returns.
    shown = [f"<p class={m.category}>{escape(m.message)}</p>" for m in flashes.pop()]
    return HTMLResponse("".join(shown) + body)


@app.get("/login")
async def login_form(token: CSRFToken, flashes: FlashMessages) -> Response:
    # A visitor without a session gets its token from a cookie: nothing stored.
    return page(
        f'<form method=post><input name=csrf_token value="{token}" type=hidden>'
        "<input name=user><input name=password type=password>"
        "<button>Log in</button></form>",
        flashes,
    )


@app.post("/login", dependencies=Checked)
async def login(
    user: Annotated[str, Form()],
    password: Annotated[str, Form()],
    session: SessionHandle,
    flashes: FlashMessages,
) -> Response:
    try:
        await session.begin_login(user)  # before the password check
    except SessionLimitError:  # SessionStore(at_user_cap="refuse") at the cap
        flashes.add("Signed in on too many devices: sign out on one.", "error")
        return RedirectResponse("/login", status_code=303)
    if not password_ok(user, password):
        flashes.add("Wrong user name or password.", "error")
        return RedirectResponse("/login", status_code=303)
    session.regenerate(keep=[])
    session.set_user(user, method="password")  # when and how: for RequireRecentAuth
    session["name"] = user
    flashes.add(f"Welcome, {user}!", "success")  # shown once, after the redirect
    return RedirectResponse("/", status_code=303)


@app.get("/")
async def home(session: SessionHandle, flashes: FlashMessages) -> Response:
    return page(f"<h1>Hello {escape(session.get('name', 'visitor'))}</h1>", flashes)


@app.get("/billing")
async def billing(session: RecentlySignedIn, token: CSRFToken) -> Response:
    return HTMLResponse(f"Billing of {escape(session['name'])} (token {token[:6]}…)")


@app.exception_handler(ReauthenticationRequired)
async def confirm_first(request: Request, exc: ReauthenticationRequired) -> Response:
    return RedirectResponse(f"/confirm?next={request.url.path}", status_code=303)


@app.get("/confirm")
async def confirm_form(token: CSRFToken, flashes: FlashMessages) -> Response:
    return page(
        f'<form method=post><input name=csrf_token value="{token}" type=hidden>'
        "<input name=password type=password><button>Confirm</button></form>",
        flashes,
    )


@app.post("/confirm", dependencies=Checked)
async def confirm(
    password: Annotated[str, Form()], session: SessionHandle, flashes: FlashMessages
) -> Response:
    if session.user_id is None or not password_ok(session.user_id, password):
        flashes.add("Wrong password.", "error")
        return RedirectResponse("/confirm", status_code=303)
    session.reauthenticated("password")  # a new id; the data stays
    return RedirectResponse("/billing", status_code=303)


app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ["SESSION_SECRET"],
    store=SessionStore(max_user_sessions=5, at_user_cap="refuse"),
    cross_origin=True,  # refuse unsafe requests another site makes a browser send
)
