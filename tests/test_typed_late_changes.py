"""A typed change made after the session was committed (its response had started) cannot be
saved: it is logged as a warning naming the model, never dropped silently. The cases: a yield
dependency's exit code (FastAPI's default scope), a ``BackgroundTask``, a streaming body. A
dependency with ``scope="function"`` exits before the response: its change is saved.

Over HTTP (an in-process FastAPI app) on memory and a real redis-server.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated

import pytest
from fastapi import APIRouter, BackgroundTasks, Depends
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from starlette_session import SessionStore, get_session, session_dependency
from starlette_session.backends import SessionBackend
from tests.typed_support import TypedApp, client


class Cart(BaseModel):
    items: list[str] = []


class Visits(BaseModel):
    """Immutable field values only: a change is an assignment, found by identity."""

    count: int = 0
    last: str | None = None


CartSession = Annotated[Cart, Depends(get_session)]
VisitsSession = Annotated[Visits, Depends(session_dependency(Visits))]


async def audit_after(cart: CartSession) -> AsyncIterator[None]:
    yield
    cart.items.append("from the dependency's exit")


async def audit_before_response(cart: CartSession) -> AsyncIterator[None]:
    yield
    cart.items.append("from the dependency's exit")


router = APIRouter()


@router.post("/yield", dependencies=[Depends(audit_after)])
async def with_yield_dependency(cart: CartSession) -> None:
    cart.items.append("apple")


@router.post(
    "/yield-function-scope", dependencies=[Depends(audit_before_response, scope="function")]
)
async def with_function_scope(cart: CartSession) -> None:
    cart.items.append("apple")


@router.post("/background")
async def with_background_task(cart: CartSession, tasks: BackgroundTasks) -> None:
    cart.items.append("apple")
    tasks.add_task(cart.items.append, "from the background task")


@router.post("/stream")
async def with_streaming_body(cart: CartSession) -> StreamingResponse:
    cart.items.append("apple")

    async def body() -> AsyncIterator[bytes]:
        yield b"one,"
        cart.items.append("from the body")
        yield b"two"

    return StreamingResponse(body())


async def visit(cart: CartSession, visits: VisitsSession) -> AsyncIterator[None]:
    cart.items.append("apple")
    visits.count += 1
    yield
    visits.last = "after the response"


@router.post("/count", dependencies=[Depends(visit)])
async def count() -> None:
    pass


@router.post("/in-time")
async def in_time(cart: CartSession) -> None:
    cart.items.append("apple")


@router.get("/cart")
async def show(cart: CartSession) -> list[str]:
    return cart.items


async def test_an_assignment_after_the_response_started_is_logged_naming_the_model(
    backend: SessionBackend, caplog: pytest.LogCaptureFixture
) -> None:
    app = TypedApp(SessionStore(backend, model=Cart), router.routes)
    async with client(app) as browser:
        with caplog.at_level(logging.WARNING, logger="starlette_session"):
            assert (await browser.post("/count")).status_code == 200
        assert (await browser.get("/cart")).json() == ["apple"]
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage().startswith("Visits was changed after the response started")


@pytest.mark.parametrize("path", ["/yield", "/background", "/stream"])
async def test_a_change_after_the_response_started_is_logged_naming_the_model(
    backend: SessionBackend, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = TypedApp(SessionStore(backend, model=Cart), router.routes)
    async with client(app) as browser:
        with caplog.at_level(logging.WARNING, logger="starlette_session"):
            assert (await browser.post(path)).status_code == 200
        assert (await browser.get("/cart")).json() == ["apple"]  # the late change: not saved
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert message.startswith("Cart was changed after the response started")
    assert "not saved" in message


@pytest.mark.parametrize("path", ["/yield-function-scope", "/in-time"])
async def test_a_change_before_the_response_is_saved_without_a_warning(
    backend: SessionBackend, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = TypedApp(SessionStore(backend, model=Cart), router.routes)
    async with client(app) as browser:
        with caplog.at_level(logging.WARNING, logger="starlette_session"):
            assert (await browser.post(path)).status_code == 200
        expected = ["apple", "from the dependency's exit"] if "scope" in path else ["apple"]
        assert (await browser.get("/cart")).json() == expected
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
