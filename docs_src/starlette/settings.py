"""The middleware and the store with every setting spelled out, as in production."""

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
    # see Backends for Redis
    MemoryBackend(max_entries=100_000, max_bytes=64 * 1024 * 1024),
    idle_timeout="max_age",  # the default: unused for max_age (8 hours below), it ends
    absolute_timeout=timedelta(days=7),  # however active, a week after it began
    max_size=64 * 1024,  # bytes of JSON; a larger session raises SessionTooLargeError
    max_user_sessions=10,  # an 11th log-in of one user ends that user's oldest session
    strict=False,  # merge concurrent changes field by field (True: 409 instead)
    save_on_error=False,  # a 5xx response saves nothing
    # a backend outage answers 503 ("anonymous": an unsaved session)
    on_backend_error="fail",
)


async def add_to_cart(request: Request) -> JSONResponse:
    session = await load_session(request)
    session.setdefault("cart", []).append(request.query_params["item"])
    return JSONResponse(dict(session))


async def show(request: Request) -> JSONResponse:
    return JSONResponse(dict(await load_session(request)))


async def login(request: Request) -> JSONResponse:
    session = await load_session(request)
    await session.begin_login(request.query_params["user"])  # before the password check
    # (check the user's password here)
    # a new id; of the anonymous data only the cart is kept
    session.regenerate(keep=["cart"])
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
            # newest first: rotation
            secret_key=os.environ["SESSION_SECRET"].split(","),
            store=store,
            # the browser refuses it over HTTP or for subdomains
            cookie_name="__Host-session",
            max_age=timedelta(hours=8),
            https_only=True,
            same_site="lax",
            path="/",
            domain=None,
            http_only=True,
            # on responses that set the cookie or show session data
            cache_control="no-store",
            clear_site_data='"cache"',  # on the response of a log-out
        )
    ],
)
