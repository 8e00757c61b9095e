"""A typed session that ends holds nothing of what it held: ``destroy()`` (a log-out) and the
reset of data a model rejects both leave a new session with only what was written after, and no
user. Over HTTP, on memory, a real redis-server and (for the log-out) SQLite."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends
from pydantic import BaseModel, field_validator

from starlette_session import (
    SessionHandle,
    SessionStore,
    get_session,
    session_dependency,
)
from starlette_session.backends import SessionBackend
from tests.typed_support import TypedApp, client


class Account(BaseModel):
    user: str | None = None
    role: str = "visitor"
    flash: list[str] = []


class Preferences(BaseModel):
    """A second model whose validation rejects what an older release stored."""

    theme: str = "light"

    @field_validator("theme")
    @classmethod
    def known_theme(cls, theme: str) -> str:
        if theme not in ("light", "dark"):
            raise ValueError("unknown theme")
        return theme


AccountSession = Annotated[Account, Depends(get_session)]
PreferencesSession = Annotated[Preferences, Depends(session_dependency(Preferences))]

router = APIRouter()


@router.post("/sign-in")
async def sign_in(name: str, handle: SessionHandle, account: AccountSession) -> None:
    await handle.begin_login(name)
    handle.regenerate()
    handle.set_user(name)
    account.user = name
    account.role = "admin"


@router.post("/sign-out")
async def sign_out(handle: SessionHandle, account: AccountSession) -> None:
    account.flash.append("seen before the log-out")
    handle.destroy()
    account.flash.append("you are logged out")


@router.post("/sign-out-quietly")
async def sign_out_quietly(handle: SessionHandle, account: AccountSession) -> None:
    handle.destroy()


@router.get("/whoami")
async def whoami(handle: SessionHandle, account: AccountSession) -> dict[str, Any]:
    return {"user_id": handle.user_id, "stored": dict(handle), "account": account.model_dump()}


@router.post("/theme")
async def set_theme(theme: str, handle: SessionHandle) -> None:
    handle["theme"] = theme  # through the mapping: an old release stored such values


@router.post("/both")
async def both(account: AccountSession, preferences: PreferencesSession) -> None:
    account.flash.append("after the reset")


def app_over(backend: SessionBackend) -> TypedApp:
    return TypedApp(SessionStore(backend, model=Account), router.routes)


async def test_after_destroy_a_typed_change_starts_a_session_without_the_user(
    backend_with_sqlite: SessionBackend,
) -> None:
    app = app_over(backend_with_sqlite)
    async with client(app) as browser:
        assert (await browser.post("/sign-in", params={"name": "alice"})).status_code == 200
        assert (await browser.get("/whoami")).json()["user_id"] == "alice"

        response = await browser.post("/sign-out")
        assert response.status_code == 200
        assert "session=" in response.headers["set-cookie"]  # the new session's cookie

        after = (await browser.get("/whoami")).json()
    assert after["user_id"] is None
    # Only the field written after destroy() (the instance's whole list), not the user or role.
    assert after["stored"] == {"flash": ["seen before the log-out", "you are logged out"]}
    assert await app.store.user_sessions("alice") == []
    assert await app.store.revoke_user_sessions("alice") == 0


async def test_after_destroy_without_a_change_nothing_is_stored(
    backend_with_sqlite: SessionBackend,
) -> None:
    app = app_over(backend_with_sqlite)
    async with client(app) as browser:
        await browser.post("/sign-in", params={"name": "alice"})
        response = await browser.post("/sign-out-quietly")
        assert "Max-Age=0" in response.headers["set-cookie"]
        after = (await browser.get("/whoami")).json()
    assert after == {"user_id": None, "stored": {}, "account": Account().model_dump()}
    assert await app.store.user_sessions("alice") == []


async def test_a_reset_by_a_second_model_leaves_an_empty_session_without_the_user(
    backend: SessionBackend, caplog: pytest.LogCaptureFixture
) -> None:
    app = app_over(backend)
    async with client(app) as browser:
        await browser.post("/sign-in", params={"name": "alice"})
        await browser.post("/theme", params={"theme": "sepia"})  # Preferences rejects it
        with caplog.at_level(logging.WARNING, logger="starlette_session.security"):
            assert (await browser.post("/both")).status_code == 200
        assert "does not validate against Preferences" in caplog.text

        after = (await browser.get("/whoami")).json()
    assert after["user_id"] is None
    assert after["stored"] == {"flash": ["after the reset"]}
    assert await app.store.user_sessions("alice") == []
