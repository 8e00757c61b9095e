"""``starlette_session.testing`` works whichever of httpx2 and httpx the TestClient is built on.

Starlette 1.10's TestClient prefers httpx2 and falls back to httpx (with a deprecation warning).
Each case runs in a fresh interpreter where the other library cannot be imported, exactly as if
it were not installed (``sys.modules[name] = None`` makes ``import name`` raise
``ModuleNotFoundError``, the error Starlette catches to fall back).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import sys
    import warnings

    sys.modules[{hidden!r}] = None  # as if {hidden} were not installed

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from starlette_session import SessionMiddleware, SessionStore, load_session

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Starlette's deprecation warning for plain httpx
        from starlette.testclient import TestClient

    from starlette_session.testing import SessionTester


    async def add(request: Request) -> JSONResponse:
        session = await load_session(request)
        session["items"] = [*session.get("items", []), request.query_params["item"]]
        return JSONResponse(session["items"])


    app = Starlette(routes=[Route("/add", add, methods=["POST"])])
    app.add_middleware(
        SessionMiddleware,
        secret_key="a-test-secret-that-is-long-enough-0123456789",
        store=SessionStore(),
    )
    with TestClient(app) as client:
        library = type(client.cookies).__module__.partition(".")[0]
        sessions = SessionTester(client)
        sessions.seed({{"items": ["apple"]}})
        assert client.post("/add", params={{"item": "pear"}}).json() == ["apple", "pear"]
        assert sessions.read() == {{"items": ["apple", "pear"]}}
        sessions.clear()
        assert client.post("/add", params={{"item": "fig"}}).json() == ["fig"]
    print(library, {hidden!r} in sys.modules and sys.modules[{hidden!r}] is None)
    """
)


@pytest.mark.parametrize(("hidden", "used"), [("httpx", "httpx2"), ("httpx2", "httpx")])
def test_the_test_kit_works_with_only_one_http_library(hidden: str, used: str) -> None:
    pytest.importorskip(used)  # the test extra installs both
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(hidden=hidden)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [used, "True"]


QUIET = textwrap.dedent(
    """
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from starlette_session import SessionMiddleware, SessionStore
    from starlette_session.testing import SessionTester

    app = Starlette()
    app.add_middleware(
        SessionMiddleware,
        secret_key="a-test-secret-that-is-long-enough-0123456789",
        store=SessionStore(),
    )
    with TestClient(app) as client:
        sessions = SessionTester(client)
        sessions.seed({"items": ["apple"]})
        assert sessions.read() == {"items": ["apple"]}
    print(type(client.cookies).__module__.partition(".")[0])
    """
)


def test_with_httpx2_installed_the_test_kit_runs_without_a_warning() -> None:
    pytest.importorskip("httpx2")
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", QUIET],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["httpx2"]
    assert "deprecated" not in result.stderr


def test_the_testing_page_says_to_install_httpx2() -> None:
    page = (ROOT / "docs" / "testing.md").read_text()
    assert "pip install pytest httpx2" in page
