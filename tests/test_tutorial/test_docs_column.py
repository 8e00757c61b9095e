"""Every code block of the built site fits its column in Chromium: no horizontal scroll bar.

test_docs_pages.py keeps the samples within 88 characters; this checks that the site's
stylesheet (docs/stylesheets/extra.css) shows 88 characters beside both sidebars, at three
desktop widths, on every page (mkdocs build, then each page served over HTTP).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import server_unavailable

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
WIDTHS = (1024, 1280, 1600)  # the TOC sidebar shows from 1220 px on
OVERFLOWING = """() => [...document.querySelectorAll('pre > code')]
    .filter((code) => code.scrollWidth > code.clientWidth + 1)
    .map((code) => code.textContent.split('\\n').find((line) => line.length > 60) || '')"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """The built site served on a free port, and the path of each page."""
    out = tmp_path_factory.mktemp("site")
    mkdocs = Path(sys.executable).with_name("mkdocs")
    subprocess.run(
        [str(mkdocs), "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=True,
    )
    pages = sorted(p.parent.relative_to(out).as_posix() for p in out.glob("*/index.html"))
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", pages
    server.shutdown()
    thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_no_code_block_scrolls_sideways(site: tuple[str, list[str]]) -> None:
    executable = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
    if shutil.which(executable) is None:
        server_unavailable(f"{executable} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        server_unavailable("playwright is not installed (pip install -e '.[test]')")
    base, pages = site
    assert len(pages) >= 20
    overflowing: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        for width in WIDTHS:
            page = browser.new_page(viewport={"width": width, "height": 900})
            for name in pages:
                page.goto(f"{base}/{name}/")
                lines = page.evaluate(OVERFLOWING)
                overflowing += [f"{width} px, {name}: {line!r}" for line in lines]
            page.close()
        browser.close()
    assert not overflowing, "code blocks wider than their column:\n" + "\n".join(overflowing)
