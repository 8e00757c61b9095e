"""The example app in a real browser: Debian's chromium, driven by Playwright for Python.

Playwright's own browser download does not work on these machines, so the browser is always
``/usr/bin/chromium`` (``CHROMIUM_BIN`` overrides it), launched through ``executable_path``.
Without chromium or playwright the tests are skipped locally and fail under CI.

Fixtures, for more browser tests:

- ``browser`` (module): the running Chromium. Module-scoped on purpose: Playwright's sync API
  keeps an asyncio loop running in the main thread while it is started, which would break every
  async test that runs after it; write browser tests as sync tests, in modules of their own.
- ``example_server`` (module): the example app on memory, with a fixed secret.
- ``start_example(env)`` (function): a factory of more ``ExampleServer`` processes (Redis, the
  development key, ...), each stopped at the end of the test; ``.restart()`` restarts one.
- ``new_context(base_url)`` (function): a factory of fresh browser contexts (a separate cookie jar
  each: another browser, as far as the app can tell), closed at the end of the test;
  ``context`` / ``page``: one of them on ``example_server``. ``new_context(url,
  viewport=PHONE_VIEWPORT)`` is a phone's screen.
- ``screenshot(page, name, full_page=True)`` (session): saves the page as ``<name>.png`` in a
  temporary folder (``screenshots/`` in pytest's base temporary directory, named at the end of
  the run), so that running the tests leaves the work tree as it was. ``UPDATE_SCREENSHOTS=1``
  writes them to ``docs/screenshots/`` instead, to refresh the ones the docs show
  (docs/example.md)::

      UPDATE_SCREENSHOTS=1 .venv/bin/pytest tests/browser -q
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest

from tests.browser.example_server import ROOT, ExampleServer
from tests.servers import server_unavailable

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET = "browser-tests-secret-0123456789abcdefghijklmnop"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1180, "height": 900}
PHONE_VIEWPORT = {"width": 390, "height": 844}  # an iPhone 12 to 16, in CSS pixels

StartExample = Callable[[dict[str, str]], ExampleServer]


class Screenshot(Protocol):
    def __call__(self, page: Page, name: str, *, full_page: bool = ...) -> None: ...


class NewContext(Protocol):
    def __call__(self, base_url: str, *, viewport: dict[str, int] = ...) -> BrowserContext: ...


@pytest.hookimpl(tryfirst=True)  # before ``-m "not slow"`` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
    if shutil.which(executable) is None:
        server_unavailable(f"{executable} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        server_unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def example_server() -> Iterator[ExampleServer]:
    with ExampleServer({"SESSION_SECRET": SECRET}) as server:
        yield server


@pytest.fixture
def start_example() -> Iterator[StartExample]:
    servers: list[ExampleServer] = []

    def start(env: dict[str, str]) -> ExampleServer:
        server = ExampleServer(env)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[NewContext]:
    contexts: list[BrowserContext] = []

    def new(base_url: str, *, viewport: dict[str, int] = VIEWPORT) -> BrowserContext:
        context = browser.new_context(base_url=base_url, viewport=viewport)  # type: ignore[arg-type]
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield new
    for context in contexts:
        context.close()


@pytest.fixture
def context(new_context: NewContext, example_server: ExampleServer) -> BrowserContext:
    return new_context(example_server.url)


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="session")
def screenshot(tmp_path_factory: pytest.TempPathFactory) -> Screenshot:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        folder = DOCS_SCREENSHOTS  # committed, shown in the docs
    else:
        folder = tmp_path_factory.mktemp("screenshots", numbered=False)

    def save(page: Page, name: str, *, full_page: bool = True) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)
        _saved_in.add(folder)

    return save


_saved_in: set[Path] = set()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for folder in _saved_in:
        terminalreporter.write_line(f"browser screenshots saved in {folder}")
