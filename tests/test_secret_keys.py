"""The secret keys given to the middleware: refused when unusable, warned about when guessable,
and the warning names the application's own line."""

from __future__ import annotations

import importlib.util
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from starlette_session import SessionMiddleware, SessionStore
from starlette_session.secret_keys import checked_secret_keys
from tests.test_workers import APP, serve_and_visit

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
    "key", ["", " " * 40, [], [""], ["ok-key-0123456789abcdefghijklmnopq", None]]
)
def test_an_unusable_secret_is_refused_by_the_librarys_own_check(key: object) -> None:
    with pytest.raises(
        ValueError, match="secret_key must be a non-empty string or a list"
    ) as error:
        checked_secret_keys(key)  # type: ignore[arg-type]
    assert "secrets.token_urlsafe(32)" in str(error.value)


NO_SECRET = r"SessionMiddleware needs a secret_key .*secrets\.token_urlsafe\(32\)"


def test_no_secret_at_all_says_how_to_make_one() -> None:
    # Not Python's "missing 1 required positional argument: 'secret_key'".
    with pytest.raises(ValueError, match=NO_SECRET):
        SessionMiddleware(Starlette())
    with pytest.raises(ValueError, match=NO_SECRET):  # os.environ.get() of an unset name
        SessionMiddleware(Starlette(), secret_key=None, store=SessionStore())


def test_no_secret_in_add_middleware_says_how_to_make_one() -> None:
    app = Starlette()
    app.add_middleware(SessionMiddleware, store=SessionStore())
    with pytest.raises(ValueError, match=NO_SECRET), TestClient(app):
        pass


LAZY_APP = """\
from starlette.applications import Starlette
from starlette.middleware import Middleware

from starlette_session import SessionMiddleware, SessionStore

added = Starlette()
added.add_middleware(
    SessionMiddleware,
    secret_key="short",
    store=SessionStore(),
)
listed = Starlette(
    middleware=[Middleware(SessionMiddleware, secret_key="change me", store=SessionStore())]
)
"""


@pytest.fixture
def lazy_app(tmp_path: Path) -> Iterator[ModuleType]:
    path = tmp_path / "lazy_secret_app.py"
    path.write_text(LAZY_APP)
    spec = importlib.util.spec_from_file_location("lazy_secret_app", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lazy_secret_app"] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["lazy_secret_app"]


@pytest.mark.parametrize(
    ("name", "line", "match"), [("added", 7, "shorter"), ("listed", 13, "placeholder")]
)
def test_a_lazily_built_stack_warns_at_the_line_that_adds_the_middleware(
    lazy_app: ModuleType, name: str, line: int, match: str
) -> None:
    # Starlette builds the middleware stack at the lifespan start, from the server's code (here
    # the TestClient's event loop thread): no frame of the application is on the stack.
    with pytest.warns(UserWarning, match=match) as caught, TestClient(getattr(lazy_app, name)):
        pass
    assert (caught[0].filename, caught[0].lineno) == (lazy_app.__file__, line)


@pytest.mark.slow
def test_under_uvicorn_the_warning_names_the_applications_line(tmp_path: Path) -> None:
    app = tmp_path / "workers_app.py"
    app.write_text(APP.replace("a-secret-of-forty-characters-0123456789ab", "short"))
    stderr = serve_and_visit(tmp_path)
    assert f"{app}:17: UserWarning: a session secret_key shorter than 32" in stderr, stderr
    assert "proxy_headers.py" not in stderr  # where the warning pointed before
