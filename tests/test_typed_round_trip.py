"""What a typed session stores must validate back to the same values, or the model is refused
loudly, naming the field: when the store or the dependency is built when that can be known from
the model, else at the save that would have lost the value. Never a silent loss, never a valid
model that logs its user out on the next request.

Over HTTP (an in-process FastAPI app) on memory and a real redis-server.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends
from pydantic import (
    AliasChoices,
    AliasGenerator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    computed_field,
    field_serializer,
)
from pydantic.alias_generators import to_camel

from starlette_session import SessionSetupError, SessionStore, get_session, session_dependency
from starlette_session.backends import SessionBackend
from tests.typed_support import TypedApp, client

# Refused when the store (or the dependency) is built


class Login(BaseModel):
    user: str | None = None
    password: SecretStr | None = None


class SerializedUnderAnotherName(BaseModel):
    user_id: int = Field(0, serialization_alias="userId")


class CamelCaseForSerialization(BaseModel):
    model_config = ConfigDict(alias_generator=AliasGenerator(serialization_alias=to_camel))
    user_id: int = 0


class Excluded(BaseModel):
    cart: list[str] = []
    basket: list[str] = Field(default=[], exclude=True)


class Address(BaseModel):
    street: str = ""
    api_key: SecretStr = SecretStr("")


class Nested(BaseModel):
    address: Address = Address()


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (Login, "'password' (SecretStr) is stored as '**********'"),
        (SerializedUnderAnotherName, "'user_id' is stored under 'userId'"),
        (CamelCaseForSerialization, "'user_id' is stored under 'userId'"),
        (Excluded, "'basket' has exclude=True"),
        (Nested, "'address.api_key' (SecretStr)"),
    ],
)
def test_a_model_whose_stored_form_does_not_read_back_is_refused_when_built(
    model: type[BaseModel], field: str
) -> None:
    with pytest.raises(SessionSetupError, match=f"{model.__name__} cannot be kept") as error:
        SessionStore(model=model)
    assert field in str(error.value)
    with pytest.raises(SessionSetupError, match=re.escape(field)):
        session_dependency(model)


# Supported: they store what they read back


class Aliased(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel)
    user_id: int = 0
    display_name: str = Field("", validation_alias=AliasChoices("displayName", "name"))


class RevealedSecret(BaseModel):
    password: SecretStr | None = None

    @field_serializer("password", when_used="always")
    def reveal(self, password: SecretStr | None) -> str | None:
        return None if password is None else password.get_secret_value()


class Account(BaseModel):
    model_config = ConfigDict(extra="forbid")  # as docs/fastapi.md recommends for one model
    user: str | None = None
    cart: list[str] = []

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cart_size(self) -> int:
        return len(self.cart)


class Shouting(BaseModel):
    """A field_serializer for display, not storage: what it stores reads back as another value."""

    name: str = ""
    tags: set[str] = set()

    @field_serializer("name")
    def shout(self, name: str) -> str:
        return name.upper()

    @field_serializer("tags")
    def sorted_tags(self, tags: set[str]) -> list[str]:  # stores what it reads back
        return sorted(tags)


class Tagged(BaseModel):
    tags: set[str] = set()

    @field_serializer("tags")
    def sorted_tags(self, tags: set[str]) -> list[str]:
        return sorted(tags)


router = APIRouter()


@router.post("/aliased")
async def set_aliased(model: Annotated[Aliased, Depends(session_dependency(Aliased))]) -> None:
    model.user_id, model.display_name = 7, "Ann"


@router.get("/aliased")
async def get_aliased(
    model: Annotated[Aliased, Depends(session_dependency(Aliased))],
) -> dict[str, Any]:
    return {"user_id": model.user_id, "display_name": model.display_name}


@router.post("/secret")
async def set_secret(
    model: Annotated[RevealedSecret, Depends(session_dependency(RevealedSecret))],
) -> None:
    model.password = SecretStr("hunter2")


@router.get("/secret")
async def get_secret(
    model: Annotated[RevealedSecret, Depends(session_dependency(RevealedSecret))],
) -> str | None:
    return None if model.password is None else model.password.get_secret_value()


@router.post("/account")
async def sign_in(account: Annotated[Account, Depends(get_session)]) -> None:
    account.user = "alice"
    account.cart.append("apple")


@router.get("/account")
async def show_account(account: Annotated[Account, Depends(get_session)]) -> dict[str, Any]:
    return {"user": account.user, "cart": account.cart, "cart_size": account.cart_size}


@router.post("/tags")
async def add_tag(tag: str, model: Annotated[Tagged, Depends(session_dependency(Tagged))]) -> None:
    model.tags.add(tag)


@router.get("/tags")
async def show_tags(model: Annotated[Tagged, Depends(session_dependency(Tagged))]) -> list[str]:
    return sorted(model.tags)


@router.post("/shout")
async def set_name(
    name: str, model: Annotated[Shouting, Depends(session_dependency(Shouting))]
) -> None:
    model.name = name


@router.get("/shout")
async def show_name(
    model: Annotated[Shouting, Depends(session_dependency(Shouting))],
) -> str:
    return model.name


def app_over(backend: SessionBackend) -> TypedApp:
    return TypedApp(SessionStore(backend, model=Account), router.routes)


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("/aliased", {}, {"user_id": 7, "display_name": "Ann"}),
        ("/secret", {}, "hunter2"),
        ("/account", {}, {"user": "alice", "cart": ["apple"], "cart_size": 1}),
        ("/tags", {"tag": "b"}, ["b"]),
    ],
    ids=["alias-generator", "secret-with-serializer", "computed-field-extra-forbid", "set"],
)
async def test_a_supported_model_reads_back_what_it_stored(
    backend: SessionBackend, path: str, params: dict[str, str], expected: Any
) -> None:
    app = app_over(backend)
    async with client(app) as browser:
        assert (await browser.post(path, params=params)).status_code == 200
        cookie = browser.cookies["session"]
        assert (await browser.get(path)).json() == expected
        assert (await browser.get(path)).json() == expected
        assert browser.cookies["session"] == cookie  # the same session: never reset


async def test_a_display_only_serializer_is_refused_at_the_save_naming_the_field(
    backend: SessionBackend,
) -> None:
    app = app_over(backend)
    async with client(app) as browser:
        await browser.post("/account")  # a session worth keeping
        with pytest.raises(SessionSetupError, match=r"Shouting cannot be kept.*'name'"):
            await browser.post("/shout", params={"name": "bob"})
        # Nothing was saved, and the session is still there.
        assert (await browser.get("/shout")).json() == ""
        assert (await browser.get("/account")).json()["user"] == "alice"
