"""A tiny signed-in site for the back/forward-cache test, served by uvicorn.

``BFCACHE_APP_HEADERS=off`` builds its middleware with ``cache_control=None`` and
``clear_site_data=None``: the control case, in which the browser may keep the signed-in page.
The log-out answers with a redirect, as most applications do, from the signed-in page itself.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from starlette_session import SessionMiddleware, SessionStore, load_session

SECRET = "back-forward-cache-test-secret-0123456789abcdef"
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>loading</title></head><body>
<p id="who">{who}</p>
<form method="post" action="/logout"><button id="logout">Log out</button></form>
<script>
window.addEventListener("pageshow", (event) => {{
  document.title = event.persisted ? "restored" : "loaded";
}});
</script></body></html>"""


async def start(request: Request) -> Response:
    button = '<button id="login">Log in</button>'
    return HTMLResponse(f'<!doctype html><form method="post" action="/login">{button}</form>')


async def login(request: Request) -> Response:
    session = await load_session(request)
    session.regenerate()
    await session.begin_login("alice")
    session.set_user("alice")
    session["name"] = "alice"
    return RedirectResponse("/private", status_code=303)


async def private(request: Request) -> Response:
    session = await load_session(request)
    name = session.get("name")
    who = f"Signed in as {name}" if name else "Signed out"
    return HTMLResponse(PAGE.format(who=who))


async def logout(request: Request) -> Response:
    session = await load_session(request)
    session.destroy()
    return RedirectResponse("/bye", status_code=303)


async def bye(request: Request) -> Response:
    session = await load_session(request)  # the page after a log-out uses the session, as most do
    who = "You are logged out" if "name" not in session else "Still signed in?"
    return HTMLResponse(f"<!doctype html><p id='bye'>{who}</p>")


headers_on = os.environ.get("BFCACHE_APP_HEADERS", "on") != "off"

app = Starlette(
    routes=[
        Route("/", start),
        Route("/login", login, methods=["POST"]),
        Route("/private", private),
        Route("/logout", logout, methods=["POST"]),
        Route("/bye", bye),
    ]
)
app.add_middleware(
    SessionMiddleware,
    secret_key=SECRET,
    store=SessionStore(),
    cache_control="no-store" if headers_on else None,
    clear_site_data='"cache"' if headers_on else None,
)
