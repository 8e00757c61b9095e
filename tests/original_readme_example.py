# The original starlette-session README example, as a user would paste it. Only the mypy comment
# is added (the example has untyped functions); tests run this file with runpy, point
# `redis_client` (localhost:6379 as written) at the server they started, and send requests to `app`.
# mypy: disable-error-code="no-untyped-def"

from redis import Redis
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from starlette_session import SessionMiddleware
from starlette_session.backends import BackendType


async def setup_session(request):
    request.session.update({"data": "session_data"})
    return JSONResponse({"session": request.session})


async def clear_session(request):
    request.session.clear()
    return JSONResponse({"session": request.session})


def view_session(request):
    return JSONResponse({"session": request.session})


routes = [
    Route("/setup_session", endpoint=setup_session),
    Route("/clear_session", endpoint=clear_session),
    Route("/view_session", endpoint=view_session),
]

redis_client = Redis(host="localhost", port=6379)
app = Starlette(debug=True, routes=routes)
app.add_middleware(
    SessionMiddleware,
    secret_key="secret",
    cookie_name="cookie22",
    backend_type=BackendType.redis,
    backend_client=redis_client,
)
