"""docs/troubleshooting.md quotes the library's real messages: each is produced here.

Every ``> ...`` quotation of the page must be a message that one of these scenarios makes the
library print, raise or log, so the page cannot drift from the code: change a message and this
test names the quotation to update.
"""

from __future__ import annotations

import datetime
import logging
import re
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, WebSocket
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from starlette_session import (
    SessionHandle,
    SessionMiddleware,
    SessionStore,
    cli,
    get_session,
    load_session,
    session_dependency,
)
from starlette_session.backends import MemoryBackend, SQLBackend
from starlette_session.backends import memory as memory_module
from starlette_session.exceptions import SessionDestroyedError
from starlette_session.testing import SessionTester
from tests.helpers import make_app

PAGE = Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.md"
SECRET = "troubleshooting-secret-0123456789abcdefghijkl"
SHOP_DIR = "/var/lib/shop"  # the page's example directory
SHOP_DATABASE = f"{SHOP_DIR}/sessions.db"


def quotations() -> list[str]:
    """The page's ``>`` quotations, each as one line."""
    found, current = [], []
    for line in [*PAGE.read_text().splitlines(), ""]:
        if line.startswith(">"):
            current.append(line[1:].strip())
        elif current:
            found.append(" ".join(current))
            current = []
    return found


def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class Cart(BaseModel):
    items: list[str] = []


class Account(BaseModel):
    name: str = ""
    age: int = 0


class Required:
    """Models defined at module level, where FastAPI resolves the endpoints' annotations."""

    class Cart(BaseModel):
        items: list[str]  # no default: a new visitor's empty session cannot fill it


async def set_value(request: Request) -> Response:
    session = await load_session(request)
    session["a"] = 1
    return JSONResponse({})


def starlette_app(endpoint: Callable[..., Any] = set_value, **settings: Any) -> Starlette:
    """``make_app`` with ``endpoint`` at ``/``."""
    settings.setdefault("secret_key", SECRET)
    app: Starlette = make_app(routes=[Route("/", endpoint)], **settings)
    return app


# Each scenario returns the messages it produced: "Type: message" for exceptions and warnings,
# the bare message for log records and answers.

Messages = list[str]


@pytest.fixture
def produced(caplog: pytest.LogCaptureFixture) -> Callable[[Callable[[], Any]], Messages]:
    def run(scenario: Callable[[], Any]) -> Messages:
        caplog.clear()
        out: Messages = []
        with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
            warnings.simplefilter("always")
            try:
                result = scenario()
            except Exception as error:
                out.append(f"{type(error).__name__}: {error}")
                out.append(str(error))
            else:
                if isinstance(result, str):
                    out.append(result)
            out += [f"{w.category.__name__}: {w.message}" for w in caught]
        out += [record.getMessage() for record in caplog.records]
        return [one_line(message) for message in out]

    return run


def test_every_quotation_is_a_real_message(
    produced: Callable[[Callable[[], Any]], Messages],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    messages: Messages = []

    def get(app: Starlette | FastAPI, path: str = "/") -> str:
        """The body of the app's answer to a GET of ``path``."""
        with TestClient(app) as test_client:
            return str(test_client.get(path).text)

    # Several workers, the memory backend.
    monkeypatch.setattr(memory_module, "server_workers", lambda: 2)
    messages += produced(lambda: get(starlette_app()))
    monkeypatch.undo()

    # Cookies the middleware ignores: another key's, a malformed one, an old one.
    def other_key() -> None:
        with TestClient(starlette_app()) as client:
            client.get("/")
            cookie = client.cookies["session"]
        with TestClient(starlette_app(secret_key="another-" + SECRET)) as client:
            client.get("/", headers={"Cookie": f"session={cookie}"})
            client.get("/", headers={"Cookie": "session=garbage!"})

    messages += produced(other_key)

    def too_old() -> None:
        app = starlette_app(max_age=1, store=SessionStore(idle_timeout=3600))
        with TestClient(app) as client:
            client.get("/")
            cookie = client.cookies["session"]
            time.sleep(2.1)  # the client drops it by now: send it as a copied cookie would be
            client.cookies.clear()
            client.get("/", headers={"Cookie": f"session={cookie}"})

    messages += produced(too_old)

    class Garbled(MemoryBackend):
        async def read(self, key: str, ttl: int | None = None) -> bytes | None:
            found = await super().read(key, ttl)
            return None if found is None else b"\xff not what this library writes"

    def undecodable() -> None:
        with TestClient(starlette_app(store=SessionStore(Garbled()))) as client:
            client.get("/")
            client.get("/")

    messages += produced(undecodable)

    def invalid() -> None:
        app = FastAPI()
        store = SessionStore(model=Account)
        app.add_middleware(SessionMiddleware, secret_key=SECRET, store=store)

        @app.get("/untyped")
        async def untyped(session: SessionHandle) -> None:
            session["name"] = 5  # stored by an older version of the app, say
            session["age"] = "forty"

        @app.get("/typed")
        async def typed(account: Annotated[Account, Depends(get_session)]) -> Account:
            return account

        with TestClient(app) as client:
            client.get("/untyped")
            client.get("/typed")

    messages += produced(invalid)

    # Answers: the backend down (503), and the 409 body.
    def redis_down() -> str:
        import redis.asyncio

        from starlette_session.backends import RedisBackend

        client = redis.asyncio.Redis(port=1, socket_connect_timeout=0.2)
        app = starlette_app(store=SessionStore(RedisBackend(client, timeout=0.5)))
        return get(app)

    messages += produced(redis_down)

    async def raced(request: Request) -> Response:
        raise SessionDestroyedError("ended by another request")

    messages += produced(lambda: get(starlette_app(raced)))

    # Start-up.
    messages += produced(lambda: get(starlette_app(secret_key=None)))
    messages += produced(lambda: get(starlette_app(secret_key="short")))
    messages += produced(lambda: get(starlette_app(secret_key="change-me-" + SECRET)))

    def twice() -> None:
        app = starlette_app()
        app.add_middleware(SessionMiddleware, secret_key=SECRET)
        get(app)

    messages += produced(twice)
    messages += produced(lambda: get(starlette_app(cookie_name="__Host-session")))
    messages += produced(lambda: get(starlette_app(same_site="none")))

    from sqlalchemy.ext.asyncio import create_async_engine

    missing = tmp_path / "shop"
    database = f"sqlite+aiosqlite:///{missing}/sessions.db"
    for message in produced(lambda: SQLBackend(create_async_engine(database))):
        messages.append(message.replace(str(missing), SHOP_DIR))

    # In a request.
    def no_middleware() -> None:
        app = FastAPI()

        @app.get("/")
        async def endpoint(cart: Annotated[Cart, Depends(session_dependency(Cart))]) -> Cart:
            return cart

        get(app)

    messages += produced(no_middleware)

    async def reads_directly(request: Request) -> Response:
        return JSONResponse(dict(request.session))

    messages += produced(lambda: get(starlette_app(reads_directly)))

    def no_model() -> None:
        app = FastAPI()
        app.add_middleware(SessionMiddleware, secret_key=SECRET)

        @app.get("/")
        async def endpoint(cart: Annotated[Any, Depends(get_session)]) -> None:
            return None

        get(app)

    messages += produced(no_model)

    def no_default() -> None:
        app = FastAPI()
        store = SessionStore(model=Required.Cart)
        app.add_middleware(SessionMiddleware, secret_key=SECRET, store=store)

        @app.get("/")
        async def endpoint(cart: Annotated[Required.Cart, Depends(get_session)]) -> None:
            return None

        get(app)

    messages += produced(no_default)

    async def stores_a_datetime(request: Request) -> Response:
        session = await load_session(request)
        session["when"] = datetime.datetime.now(tz=datetime.timezone.utc)
        return JSONResponse({})

    messages += produced(lambda: get(starlette_app(stores_a_datetime)))

    async def stores_too_much(request: Request) -> Response:
        session = await load_session(request)
        session["blob"] = "x" * 20_000
        return JSONResponse({})

    store: SessionStore[Any] = SessionStore(max_size=16 * 1024)
    messages += produced(lambda: get(starlette_app(stores_too_much, store=store)))

    def websocket_creates() -> None:
        app = FastAPI()
        app.add_middleware(SessionMiddleware, secret_key=SECRET, store=SessionStore())

        @app.websocket("/ws")
        async def socket(websocket: WebSocket, session: SessionHandle) -> None:
            await websocket.accept()
            session["seen"] = True
            await session.save()

        with TestClient(app) as client, client.websocket_connect("/ws"):
            pass

    messages += produced(websocket_creates)

    # In tests.
    def seed_elsewhere() -> None:
        with TestClient(starlette_app(domain="example.com")) as client:
            SessionTester(client).seed({"a": 1})

    messages += produced(seed_elsewhere)

    # The command line.
    for url in ("sqlite:////var/lib/shop/sessions.db", "postgresql+asyncpg://u@127.0.0.1:1/db"):
        assert cli.main(["purge", "--url", url, "--timeout", "2"]) == 2
        messages.append(one_line(capsys.readouterr().err))

    empty = tmp_path / "empty.db"
    empty.touch()
    assert cli.main(["purge", "--url", f"sqlite+aiosqlite:///{empty}"]) == 1
    messages.append(one_line(capsys.readouterr().err).replace(str(empty), SHOP_DATABASE))
    messages += produced(lambda: get(starlette_app(secret_key="")))

    unmatched = [
        quote for quote in quotations() if not any(quote.endswith(m) for m in messages if m)
    ]
    assert not unmatched, (
        "docs/troubleshooting.md quotes messages the library does not produce (any more): "
        f"{unmatched}\n\nproduced: {messages}"
    )


def test_the_page_quotes_something() -> None:
    assert len(quotations()) >= 25
