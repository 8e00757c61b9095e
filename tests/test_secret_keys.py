"""The secret keys given to the middleware: refused when unusable, warned about when guessable,
and the warning names the application's own line."""

from __future__ import annotations

import warnings

import pytest
from starlette.applications import Starlette

from starlette_session import SessionMiddleware, SessionStore
from starlette_session.signing import checked_secret_keys

PLACEHOLDERS = [
    "change me: 32+ random characters",  # what this project's docs once showed
    "CHANGE-ME-please-this-is-a-long-enough-value",
    "replace this with a real secret of 32 chars",
    "your-secret-key-goes-here-0123456789abcdef",
    "secret",
    "SECRET_KEY",
]


@pytest.mark.parametrize("key", PLACEHOLDERS)
def test_a_placeholder_secret_warns_however_long_it_is(key: str) -> None:
    with pytest.warns(UserWarning, match="placeholder"):
        checked_secret_keys(key)


def test_a_placeholder_anywhere_in_the_key_list_warns() -> None:
    with pytest.warns(UserWarning, match="placeholder"):
        checked_secret_keys(["a-real-looking-key-0123456789abcdefghijklmnop", "change me"])


def test_a_random_key_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert checked_secret_keys("x8P2kQ-mZt4vR9wL1cN6bY3hJ5fD0gS7aE2uK4iO") == [
            "x8P2kQ-mZt4vR9wL1cN6bY3hJ5fD0gS7aE2uK4iO"
        ]


def test_the_warning_names_the_applications_own_line() -> None:
    with pytest.warns(UserWarning, match="shorter than 32") as caught:
        SessionMiddleware(Starlette(), secret_key="short", store=SessionStore())
    assert caught[0].filename == __file__
    with pytest.warns(UserWarning, match="placeholder") as caught:
        SessionMiddleware(Starlette(), secret_key="change me: 32+ random characters")
    assert caught[0].filename == __file__


@pytest.mark.parametrize(
    "key", [None, "", " " * 40, [], [""], ["ok-key-0123456789abcdefghijklmnopq", None]]
)
def test_an_unusable_secret_is_refused_by_the_librarys_own_check(key: object) -> None:
    with pytest.raises(ValueError, match="secret_key must be a non-empty string or a list"):
        checked_secret_keys(key)  # type: ignore[arg-type]
