"""Helpers for your own tests: seed a session for a ``TestClient`` and read back what was saved,
through the application's own store and backend (see docs/testing.md)."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import anyio.from_thread
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from starlette_session.exceptions import SessionMiddlewareMissingError, SessionSetupError
from starlette_session.flash import Flashes, FlashMessage
from starlette_session.middleware import SessionMiddleware
from starlette_session.session import Session

__all__ = ["SessionTester", "find_session_middleware"]

M = TypeVar("M")
T = TypeVar("T")


def find_session_middleware(app: ASGIApp) -> SessionMiddleware:
    """The ``SessionMiddleware`` wrapping ``app`` (a Starlette or FastAPI application)."""
    node: Any = app
    if getattr(node, "middleware_stack", False) is None:
        node.middleware_stack = node.build_middleware_stack()
    node = getattr(node, "middleware_stack", node)
    while node is not None:
        if isinstance(node, SessionMiddleware):
            return node
        node = getattr(node, "app", None)
    raise SessionMiddlewareMissingError()


class SessionTester:
    """Seeds and reads the session of one ``TestClient``, through the app's own store."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.middleware = find_session_middleware(client.app)

    @property
    def cookie_name(self) -> str:
        """The name of the session cookie."""
        return self.middleware.cookie.name

    def seed(
        self,
        data: Mapping[str, Any] | Any,
        *,
        user_id: str | None = None,
        flashes: Iterable[FlashMessage[Any] | Any] = (),
    ) -> None:
        """Store a session holding ``data`` (a mapping or a Pydantic model), and ``flashes``
        (each a ``FlashMessage`` or a bare message, of category "info"; a Pydantic instance is
        stored as its JSON), and give the client its cookie, replacing any session it had.
        Raises ``SessionSetupError`` when the client's host is outside the cookie's ``domain``
        (its cookie jar would drop the cookie)."""
        domain = (self.middleware.cookie.domain or "").lstrip(".").lower()
        host = self.client.base_url.host.lower()
        if domain and host != domain and not host.endswith(f".{domain}"):
            raise SessionSetupError(
                f"seed() cannot give the client the session cookie: the cookie is for the domain "
                f"{domain!r} (SessionMiddleware(domain=...)), which the client's host {host!r} "
                f"is not in. Build the client with TestClient(app, base_url='http://{domain}')."
            )
        if not isinstance(data, Mapping):
            data = data.model_dump(mode="json", by_alias=True)
        values = dict(data)
        pending = [
            flash if isinstance(flash, FlashMessage) else FlashMessage(flash) for flash in flashes
        ]

        async def save() -> str | None:
            session = await Session(self.middleware.store, None).load()
            session.update(values)
            added: Flashes[Any] = Flashes(session)
            for flash in pending:
                message = flash.message
                if hasattr(message, "model_dump"):
                    message = message.model_dump(mode="json", by_alias=True)
                added.add(message, flash.category)
            if user_id is not None:
                await session.begin_login(user_id)
                session.set_user(user_id)
            update = await self.middleware.store.commit(session, 200)
            return update.value if update is not None else None

        value = self._run(save)
        self.clear()
        if value is not None:
            # Through the cookie jar as if the app had sent it, so the cookie gets the domain and
            # path the app's own Set-Cookie will later replace or expire (not a second cookie).
            header = self.middleware.cookie.set_cookie(value, None).decode("latin-1")
            # httpx2 or httpx, whichever this TestClient is built on, for its cookie jar.
            http = importlib.import_module(type(self.client.cookies).__module__.partition(".")[0])
            request = http.Request("GET", self.client.base_url)
            response = http.Response(200, headers={"set-cookie": header}, request=request)
            self.client.cookies.extract_cookies(response)

    def read(self) -> dict[str, Any]:
        """The data of the session the client's cookie points to (``{}`` when it has none)."""
        return self._loaded(dict.copy)

    def read_flashes(self) -> list[FlashMessage[Any]]:
        """The flash messages pending in the client's session, left in place."""
        return self._loaded(lambda session: Flashes(session).peek())

    def stored(self) -> bytes | None:
        """What the store holds for the client's session, exactly as stored (sealed, with
        ``SessionStore(encryption=...)``; the cookie's payload with the cookie backend); None
        when the client has no valid session cookie or nothing is stored."""
        cookie = self.client.cookies.get(self.cookie_name)
        store = self.middleware.store
        unsigned = store.signer.unsign(cookie) if cookie else None
        if unsigned is None:
            return None

        async def read() -> bytes | None:
            _, found = await store.storage.read(unsigned, None)
            return found.sealed

        return self._run(read)

    def read_model(self, model: type[M]) -> M:
        """The client's session validated as ``model``."""
        validate: Callable[[Any], M] = model.model_validate  # type: ignore[attr-defined]
        return validate(self.read())

    def clear(self) -> None:
        """Forget the client's session cookie (the stored session is left alone)."""
        with contextlib.suppress(KeyError):
            self.client.cookies.delete(self.cookie_name)

    def _loaded(self, use: Callable[[Session], T]) -> T:
        cookie = self.client.cookies.get(self.cookie_name)

        async def load() -> T:
            return use(await Session(self.middleware.store, cookie).load())

        return self._run(load)

    def _run(self, function: Callable[[], Awaitable[T]]) -> T:
        # Inside `with TestClient(app)` on the client's own event loop, so that clients bound to
        # a loop (redis.asyncio) keep working.
        portal: anyio.from_thread.BlockingPortal | None = getattr(self.client, "portal", None)
        if portal is not None:
            return portal.call(function)
        with anyio.from_thread.start_blocking_portal() as new_portal:
            return new_portal.call(function)
