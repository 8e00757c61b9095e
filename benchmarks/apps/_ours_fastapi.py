"""This library's typed FastAPI path: a pydantic model injected with ``Depends(get_session)``."""

from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from benchmarks.apps._env import SECRET_KEY

try:
    from starlette_session import SessionHandle, SessionMiddleware, SessionStore, get_session
except ImportError as exc:  # the package is written alongside this suite
    raise ImportError(
        f"starlette_session is not importable ({exc}); install the repository with "
        '`pip install -e ".[all]"` (benchmarks/run.sh does) to benchmark it.'
    ) from exc


class Counter(BaseModel):
    counter: int = 0


TypedSession = Annotated[Counter, Depends(get_session)]


def build_app(backend: Any) -> FastAPI:
    app = FastAPI()
    app.add_middleware(
        SessionMiddleware,
        secret_key=SECRET_KEY,
        store=SessionStore(backend=backend, model=Counter),
    )

    @app.get("/unused", response_class=PlainTextResponse)
    async def unused() -> str:
        return "ok"

    @app.get("/read")
    async def read(session: TypedSession) -> dict[str, int]:
        return {"counter": session.counter}

    @app.post("/change")
    async def change(session: TypedSession) -> dict[str, int]:
        session.counter += 1
        return {"counter": session.counter}

    @app.get("/login")
    async def login(session: SessionHandle) -> dict[str, int]:
        # Through the handle: setting a typed field to its default changes nothing, and an
        # unchanged session is (rightly) never saved, so it would get no cookie.
        session["counter"] = 0
        return {"counter": 0}

    return app
