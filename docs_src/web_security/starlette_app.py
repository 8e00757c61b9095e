"""The same helpers in plain Starlette: call them from the endpoint."""

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from starlette_session import (
    SessionMiddleware,
    SessionStore,
    csrf_token,
    get_flashes,
    load_session,
    require_recent_auth,
    verify_csrf,
)


async def form(request: Request) -> Response:
    flashes = await get_flashes(request)
    messages = [message.message for message in flashes.pop()]
    return JSONResponse({"csrf_token": await csrf_token(request), "messages": messages})


async def save(request: Request) -> Response:
    await verify_csrf(request)  # 403 unless the form or X-CSRF-Token holds a token
    (await get_flashes(request)).add("Saved.", "success")
    return RedirectResponse("/form", status_code=303)


async def delete_account(request: Request) -> Response:
    await verify_csrf(request)
    # 401 without a user, 403 unless a one-time code confirmed it in the last 2 min.
    session = await require_recent_auth(request, 120, methods=["otp"])
    session.destroy()
    return JSONResponse({"deleted": True})


async def login(request: Request) -> Response:
    await verify_csrf(request)
    session = await load_session(request)
    await session.begin_login("ann")
    # (check the password here)
    session.regenerate(keep=[])
    session.set_user("ann", method="password")
    session["name"] = "ann"
    return RedirectResponse("/form", status_code=303)


app = Starlette(
    routes=[
        Route("/form", form),
        Route("/save", save, methods=["POST"]),
        Route("/login", login, methods=["POST"]),
        Route("/account", delete_account, methods=["DELETE"]),
    ]
)
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ["SESSION_SECRET"],
    store=SessionStore(),
    cross_origin=True,
)
