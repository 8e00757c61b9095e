"""The middleware and the store with every setting spelled out, as a production site might."""

import os
from datetime import timedelta

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from starlette_session import SessionMiddleware, SessionStore, load_session
from starlette_session.backends import MemoryBackend

store = SessionStore(
    MemoryBackend(max_entries=100_000, max_bytes=64 * 1024 * 1024),  # see Backends for Redis
    idle_timeout="max_age",  # the default: unused for max_age (8 hours below), it ends
    absolute_timeout=timedelta(days=7),  # however active, a week after it began
    max_size=64 * 1024,  # bytes of JSON; a larger session raises SessionTooLargeError
    max_user_sessions=10,  # an 11th log-in of one user ends that user's oldest session
    strict=False,  # merge concurrent changes field by field (True: 409 instead)
    save_on_error=False,  # a 5xx response saves nothing
    on_backend_error="fail",  # a backend outage answers 503 ("anonymous": an unsaved session)
)


async def add_to_cart(request: Request) -> JSONResponse:
    session = await load_session(request)
    session.setdefault("cart", []).append(request.query_params["item"])
    return JSONResponse(dict(session))


async def show(request: Request) -> JSONResponse:
    return JSONResponse(dict(await load_session(request)))


async def login(request: Request) -> JSONResponse:
    session = await load_session(request)
    # (check the user's password here)
    session.regenerate(keep=["cart"])  # a new id; of the anonymous data only the cart is kept
    session.set_user(request.query_params["user"])
    return JSONResponse(dict(session))


async def logout(request: Request) -> JSONResponse:
    session = await load_session(request)
    session.destroy()  # deleted server-side, cookie expired, Clear-Site-Data sent
    return JSONResponse({})


app = Starlette(
    routes=[
        Route("/cart", add_to_cart, methods=["POST"]),
        Route("/session", show),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ],
    middleware=[
        Middleware(
            SessionMiddleware,
            secret_key=os.environ["SESSION_SECRET"].split(","),  # newest first: rotation
            store=store,
            cookie_name="__Host-session",  # the browser refuses it over HTTP or for subdomains
            max_age=timedelta(hours=8),
            https_only=True,
            same_site="lax",
            path="/",
            domain=None,
            http_only=True,
            cache_control="no-store",  # on responses that set the cookie or show session data
            clear_site_data='"cache"',  # on the response of a log-out
        )
    ],
)
