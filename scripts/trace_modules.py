"""How many times one request moves between the package's modules: a read, a change, a log-in.

Runs each request through an in-process app (the memory backend) with ``sys.setprofile`` and
follows which ``starlette_session`` module is running, ignoring frames of other packages. Prints,
per request kind, the module changes and how many of them return to a module already left.

    python scripts/trace_modules.py            # the package on sys.path
    PYTHONPATH=/tmp/before python scripts/trace_modules.py   # another revision's code
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import starlette_session
from starlette_session import SessionMiddleware, SessionStore, load_session
from starlette_session.backends import MemoryBackend

PACKAGE = Path(starlette_session.__file__).resolve().parent
SECRET = "trace-modules-secret-0123456789abcdefghijklmnop"  # noqa: S105 - a demo app


def module_of(frame: FrameType | None) -> str | None:
    """The package module a frame runs in (``backends.memory``), or None outside the package."""
    if frame is None:
        return None
    path = Path(frame.f_code.co_filename)
    try:
        relative = path.resolve().relative_to(PACKAGE)
    except ValueError:
        return None
    return ".".join(relative.with_suffix("").parts)


class Tracer:
    """Records the sequence of package modules execution passes through."""

    def __init__(self) -> None:
        self.path: list[str] = []

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            module = module_of(frame)
        elif event == "return":
            module = module_of(frame.f_back)
        else:
            return
        if module is not None and (not self.path or self.path[-1] != module):
            self.path.append(module)

    def figures(self) -> tuple[int, int]:
        """Module changes, and how many of them go back to a module already left."""
        seen: set[str] = set()
        returns = 0
        for index, module in enumerate(self.path):
            if index and module in seen:
                returns += 1
            seen.add(module)
        return max(0, len(self.path) - 1), returns


async def read(request: Request) -> Response:
    session = await load_session(request)
    return JSONResponse({"cart": session.get("cart")})


async def change(request: Request) -> Response:
    session = await load_session(request)
    session["visits"] = session.get("visits", 0) + 1
    return JSONResponse({})


async def log_in(request: Request) -> Response:
    session = await load_session(request)
    session.regenerate()
    await session.begin_login("alice")
    session.set_user("alice")
    return JSONResponse({})


async def main() -> None:
    app = Starlette(
        routes=[
            Route("/read", read),
            Route("/change", change, methods=["POST"]),
            Route("/login", log_in, methods=["POST"]),
        ]
    )
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=SessionStore(MemoryBackend()))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await client.post("/change")  # a stored session, untraced
        await client.get("/read")  # warm caches (signature, store key) as a live app has them
        print(f"package: {PACKAGE}")
        for name, method, path in (
            ("read", "GET", "/read"),
            ("change", "POST", "/change"),
            ("log-in", "POST", "/login"),
        ):
            tracer = Tracer()
            sys.setprofile(tracer)
            try:
                response = await client.request(method, path)
            finally:
                sys.setprofile(None)
            if response.status_code != 200:
                raise SystemExit(f"{name}: {response.status_code} {response.text}")
            changes, returns = tracer.figures()
            print(f"{name:7} {changes:3} module changes, {returns:3} returns to a module left")
            print(f"        {' > '.join(tracer.path)}")


if __name__ == "__main__":
    asyncio.run(main())
