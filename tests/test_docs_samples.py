"""Every code block of the built site and of README.md, run the way its text says.

``mkdocs build`` renders the site into a temporary folder; each page's code blocks are read back
from its HTML (what a reader copies), and README.md's fenced blocks from the file (what GitHub
and PyPI show). Every block is looked up in ``SAMPLES`` below: by the ``docs_src/`` file it
shows (its text is that file whole) or, for a block written in the page, by its page and the
first words of its first line (`` #2`` for a repeat). A block missing from the table fails the
test: classify it there, as runnable or as reference only with the reason.

Runnable blocks run in one fresh virtualenv holding this project's wheel, which the README's own
"build a wheel" block builds (in a copy of the repository's files). Every ``pip install`` is
constrained by ``requirements/constraints.txt``; a requirement on this project
(``"starlette-session[sqlite]>=1.0"`` or ``".[fastapi]"``) is pointed at that wheel, never at
PyPI, where the name still holds the unrelated 0.4.3. So an install line without ``>=1.0`` fails
here: before 1.0 is published it would install 0.4.3.

- An application module is saved as ``app.py`` in a folder of its own and served with
  ``uvicorn app:app`` (as the quick start and the Backends page say) on a free port; the test
  sends its requests, WebSocket ones included, then stops the server.
- A module without an application (settings, a helper function) is run with ``python <name>.py``.
- A test file is run with ``pytest`` next to the module it tests.
- A shell block is run with bash; one that starts ``uvicorn`` is started, asked for a page and
  stopped.
- A page that is a session at the terminal (the tutorial: save main.py, start uvicorn, curl it
  from a second terminal) is run block after block in one folder, with what a block exports
  kept for the next, while the last server it started runs; the table names what each
  command's output must show.
- Where the reader needs more than the README's install (``[fastapi,redis,standard]``), the page
  says so in an install line: a shell block, run in page order, or a line the table quotes and
  checks is on the page (such as a sample's own docstring), run just before that sample.

One virtualenv serves the whole run, in the site's order (README.md first), so what a page
installs stays for the pages after it: a page that forgot its install line passes if an earlier
page installed the same package. The README's install brings FastAPI, Redis and uvicorn; the
other extras the samples need are installed by lines on their own pages today (the Backends and
SQL pages, the OpenTelemetry and WebSocket samples' docstrings, the tutorial).

The counts (blocks, runnable, run and passed, reference only) are printed at the end
(``pytest -s`` shows them). Marked ``slow``: it builds a wheel and two virtualenvs (the
tutorial makes its own, as it says) and starts about fifty servers: about two minutes with a
warm pip cache.
"""

from __future__ import annotations

import base64
import contextlib
import html.parser
import json
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from tests.servers import MemcachedServer, RedisClusterServer, RedisServer, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
SECRET = "docs-samples-secret-0123456789abcdefghijklmnop"
# Two keys of the encryption page's samples, newest first (43 characters: 32 bytes in base64).
ENCRYPTION_KEYS = "docs-2:" + "B" * 43 + " docs-1:" + "A" * 43
# The README block that builds the wheel every other install line is pointed at.
WHEEL_BLOCK = "docs_src/install/from_wheel.sh"


# What a runnable block does: the requests a served application answers.


@dataclass(frozen=True)
class Call:
    """One HTTP request; ``contains`` is a piece of the body the answer must hold."""

    method: str
    path: str
    status: int = 200
    contains: str | None = None
    json: object = None


@dataclass(frozen=True)
class WebSocket:
    """A WebSocket handshake on ``path`` (with the cookies so far), ``send`` sent as text
    messages, and the first message received must contain ``contains``."""

    path: str
    contains: str
    send: tuple[str, ...] = ()


Request = Call | WebSocket


# How each block is taken: the table's value kinds.


@dataclass(frozen=True)
class Reference:
    """Not run: output, a fragment, a configuration excerpt, or a command of the repository."""

    why: str


@dataclass(frozen=True)
class Shell:
    """A shell block run with bash. ``serve``: its uvicorn command is started and asked these."""

    serve: tuple[Request, ...] = ()
    cwd: str = "page"  # or "clone": in a copy of the repository's files
    beside: tuple[str, ...] = ()  # samples saved in its folder first


@dataclass(frozen=True)
class App:
    """An application module, saved as ``app.py`` and served with ``uvicorn app:app``."""

    calls: tuple[Request, ...]
    name: str | None = None  # another name for its file
    install: str | None = None  # a pip command the page gives for it, run first
    servers: tuple[str, ...] = ()  # "redis", "memcached", "cluster"
    beside: tuple[str, ...] = ()  # samples of other pages saved next to it


@dataclass(frozen=True)
class Module:
    """A module without an application, run with ``python <name>.py``."""

    name: str | None = None
    install: str | None = None


@dataclass(frozen=True)
class PytestFile:
    """A test file, run with ``pytest`` next to the modules it imports."""

    install: str
    beside: tuple[str, ...]


@dataclass(frozen=True)
class SaveAs:
    """A file the page has the reader save in the folder of its terminal (below), and serve
    with the next ``Start``: it passes when that server does."""

    name: str


@dataclass(frozen=True)
class Terminal:
    """A shell block typed in the page's one terminal, in order: one folder, and what a block
    exports (or activates) stays for the next. Run while the last ``Start`` serves, with
    ``http://127.0.0.1:8000`` pointed at its port and ``redis-cli`` at the test's Redis; its
    output must hold each of ``expect``."""

    expect: tuple[str, ...] = ()


@dataclass(frozen=True)
class Start:
    """A server command of the page's terminal (``uvicorn main:app``), started with a free
    ``--port`` and kept up, as in a second terminal, until the next ``Start`` or the page's end;
    ``servers``: what it needs (REDIS_URL names the test's own Redis)."""

    servers: tuple[str, ...] = ()


Kind = Reference | Shell | App | Module | PytestFile | SaveAs | Terminal | Start

GET_404 = (Call("GET", "/", 404),)  # a middleware set-up without routes: it starts and answers
# Forms need python-multipart (pinned in the constraints the installs run with).
WEB_SECURITY_INSTALL = 'pip install "starlette-session[fastapi,standard]>=1.0" python-multipart'

# Every block, by the docs_src file it shows or by "page: first line" for a block written in
# its page. Grouped by page, in the site's order.
SAMPLES: dict[str, Kind] = {
    # README.md and the quick start
    "docs_src/install/from_wheel.sh": Shell(cwd="clone"),
    "docs_src/install/from_clone.sh": Shell(cwd="clone"),
    "docs_src/install/try_it.sh": Reference(
        "the repository's own scripts: a whole test run (minutes) and a server that stays up; "
        "tests/test_readme.py checks they exist and are executable"
    ),
    "docs_src/quickstart/app.py": App(
        (
            Call("GET", "/cart", contains='"items":[]'),
            Call("POST", "/cart?item=apple", contains="apple"),
            Call("POST", "/login?user=ann", contains='"owner":"ann"'),
        )
    ),
    'quickstart: export SESSION_SECRET="$(python -c': Shell(
        serve=(Call("POST", "/cart?item=pear", contains="pear"), Call("GET", "/docs")),
        beside=("docs_src/quickstart/app.py",),  # "Save this as app.py"
    ),
    "docs_src/quickstart/test_app.py": PytestFile(
        install="pip install pytest httpx2", beside=("docs_src/quickstart/app.py",)
    ),
    # FastAPI typed sessions
    "fastapi: starlette_session.exceptions.SessionSetupError: Shouting": Reference(
        "an error message, not code"
    ),
    "docs_src/fastapi/redis_app.py": App(
        (Call("POST", "/cart?item=tea", contains="tea"), Call("GET", "/cart", contains="tea")),
        servers=("redis",),
    ),
    "docs_src/fastapi/migrate.py": App((Call("GET", "/cart"),)),
    "docs_src/fastapi/renamed_field.py": Module(),
    "docs_src/fastapi/several_models.py": App(
        (
            Call("POST", "/cart?item=tea"),
            Call("POST", "/checkout"),
            Call("GET", "/messages"),
        )
    ),
    "docs_src/fastapi/login.py": App((Call("GET", "/me"),)),
    "docs_src/fastapi/websocket.py": App(
        (Call("POST", "/login?user=ann"), WebSocket("/ws", contains="hello, ann")),
        install='pip install "starlette-session[fastapi,standard]>=1.0"',
    ),
    # Testing your app
    "testing: pip install pytest httpx2": Shell(),
    # Tutorial: one terminal, in order, as the reader types it
    "tutorial: python -m venv .venv": Terminal(),
    'tutorial: export SESSION_SECRET="$(python -c': Terminal(),
    "docs_src/tutorial/step1.py": SaveAs("main.py"),
    "tutorial: uvicorn main:app": Start(),
    "tutorial: curl -i -c cookies.txt -b cookies.txt": Terminal(
        expect=("set-cookie: session=", '{"visits":1}', '{"visits":2}')
    ),
    "tutorial: HTTP/1.1 200 OK": Reference("the output of the block above"),
    "docs_src/tutorial/step2.py": SaveAs("main.py"),
    "tutorial: uvicorn main:app #2": Start(),
    "tutorial: rm -f cookies.txt": Terminal(
        expect=('{"items":[]}', '{"items":["apple"]}', '{"items":["apple","pear"]}')
    ),
    "tutorial: HTTP/1.1 200 OK #2": Reference("the output of the block above"),
    "docs_src/tutorial/step3.py": SaveAs("main.py"),
    "tutorial: uvicorn main:app #3": Start(),
    "tutorial: rm -f cookies.txt #2": Terminal(expect=('{"items":["apple"],"user":"ann"}',)),
    "tutorial: HTTP/1.1 200 OK #3": Reference("the output of the block above"),
    "tutorial: curl -b before-login.txt": Terminal(
        expect=('{"items":[],"user":null}', "clear-site-data", '{"status":"logged out"}')
    ),
    'tutorial: {"items":[],"user":null}': Reference("the output of the block above"),
    "tutorial: python -m pip install": Terminal(),
    "docs_src/tutorial/step4.py": SaveAs("main.py"),
    "tutorial: uvicorn main:app --workers 2": Start(servers=("redis",)),
    "tutorial: rm -f cookies.txt #3": Terminal(expect=('{"items":["apple"],"user":null}',)),
    "tutorial: redis-cli --scan --pattern 'session:*'": Terminal(expect=("session:",)),
    "tutorial: session:98265ec1c0e0c7800eea379f936d28c7737f551da55f9138e9881ae04b3fcc3f": (
        Reference("the output of the block above")
    ),
    # Deployment
    "docs_src/deployment/app.py": App(
        (Call("POST", "/cart?item=tea", contains="tea"),), servers=("redis",)
    ),
    "deployment: uvicorn main:app --host 0.0.0.0 --port": Reference(
        "the production command line (every interface, four workers, behind a proxy) of the "
        "app above, which is served above"
    ),
    "deployment: sudo install -d -o shop -g shop -m 0700": Reference(
        "run as root on the production host"
    ),
    "deployment: python -m starlette_session purge --url": Reference(
        "the purge of the production file under /var/lib/shop, from cron or systemd below"
    ),
    "deployment: # crontab -e, as the app's user: every": Reference("a crontab, as configuration"),
    "deployment: # /etc/systemd/system/shop-purge-sessions.service": Reference(
        "systemd units, as configuration"
    ),
    # Plain Starlette
    "docs_src/starlette/app.py": App((Call("POST", "/visit"), Call("GET", "/peek"))),
    "docs_src/starlette/autoload.py": App((Call("GET", "/"),)),
    "docs_src/starlette/settings.py": App(
        (Call("POST", "/cart?item=tea", contains="tea"), Call("GET", "/session")),
        servers=("redis",),
    ),
    # Backends
    "backends: pip install": Shell(),
    "docs_src/backends/memory.py": App(GET_404),
    "docs_src/backends/redis.py": App(GET_404, servers=("redis",)),
    "docs_src/backends/redis_cluster.py": App(GET_404, servers=("cluster",)),
    "docs_src/backends/redis_sync.py": App(GET_404, servers=("redis",)),
    "docs_src/backends/memcached.py": App(GET_404, servers=("memcached",)),
    "docs_src/backends/cookie.py": App(GET_404),
    "docs_src/backends/custom.py": App(GET_404),
    # Redis, Sentinel and Valkey
    "docs_src/redis/sentinel.py": Module(),
    "redis: sentinel down-after-milliseconds": Reference("an excerpt of sentinel.conf"),
    # SQL databases
    "sql: pip install": Shell(),
    "docs_src/sql/app.py": App((Call("GET", "/docs"),)),
    "docs_src/sql/engines.py": Module(),
    "sql: CREATE TABLE starlette_sessions (": Reference("the table create_table() makes: SQLite"),
    "sql: CREATE TABLE starlette_sessions ( #2": Reference("the same, in PostgreSQL"),
    "sql: CREATE TABLE starlette_sessions ( #3": Reference("the same, in MariaDB and MySQL"),
    "sql: the table starlette_sessions exists but": Reference("an error message, not code"),
    "sql: a read at now, with ttl: expires_at >=": Reference("the granularity's rule, not code"),
    # Security (SECURITY.md, included whole, then the recipes)
    'security: """A Starlette app with production': App(
        (
            Call(
                "POST",
                "/login",
                json={"username": "alice", "password": "correct horse battery staple"},
                contains='"user":"alice"',
            ),
        ),
        servers=("redis",),
    ),
    "security: ended = await": Reference(
        "a fragment: two calls inside an async function of the application above"
    ),
    "security: from starlette.testclient import": Reference(
        "a fragment: the lines that change in a test of the application above"
    ),
    "docs_src/security/rotation.py": App(GET_404),
    "docs_src/security/revoke.py": Module(),
    "docs_src/security/login.py": App(
        (
            Call("POST", "/remember?cart=tea&theme=dark"),
            Call("POST", "/login?user=ann", contains='"cart":"tea"'),
        )
    ),
    # Log-ins, forms and messages
    "docs_src/web_security/app.py": App(
        (
            Call("GET", "/login", contains='name=csrf_token value="'),
            Call("GET", "/", contains="Hello visitor"),
            Call("POST", "/login", 403),
            Call("GET", "/billing", 401),
        ),
        install=WEB_SECURITY_INSTALL,
    ),
    "docs_src/web_security/starlette_app.py": App(
        (Call("GET", "/form", contains='"csrf_token"'), Call("POST", "/save", 403)),
        install=WEB_SECURITY_INSTALL,
    ),
    "web-security: SessionMiddleware(": Reference(
        "a fragment: the middleware's cross_origin argument, in an application as above"
    ),
    # Encryption at rest
    "encryption: pip install": Shell(),
    "docs_src/encryption/app.py": App(GET_404),
    "encryption: python -c 'from starlette_session import": Shell(),
    "docs_src/encryption/migration.py": App(GET_404),
    # Reliability
    "reliability: HTTP/1.1 503 Service Unavailable": Reference("a response, as output"),
    "docs_src/reliability/catch_outage.py": Module(),
    "docs_src/reliability/anonymous.py": Module(),
    "docs_src/reliability/redis_client.py": Module(),
    "reliability: HTTP/1.1 409 Conflict": Reference("a response, as output"),
    "reliability: pytest -m load # the short form, as CI": Reference(
        "the repository's load test, in a clone with scripts/test.sh's .venv; CI runs it"
    ),
    # Operating it
    "docs_src/operations/events.py": App(GET_404),
    "docs_src/operations/telemetry.py": App(
        GET_404, install='pip install "starlette-session[fastapi,otel]>=1.0" opentelemetry-sdk'
    ),
    "docs_src/operations/active_sessions.py": App(
        (Call("POST", "/login?user=ann"), Call("GET", "/sessions", contains="key"))
    ),
    "docs_src/operations/websocket.py": App(
        (Call("POST", "/notes?note=a"), WebSocket("/ws", send=("b",), contains='"b"')),
        install='pip install "starlette-session[fastapi,standard]>=1.0"',
    ),
    "docs_src/operations/live.py": App(
        (Call("POST", "/login?user=ann"), WebSocket("/feed", send=("hi",), contains='"hi"')),
        install='pip install "starlette-session[fastapi,standard]>=1.0"',
    ),
    # The example app
    "example: # sessions in a SQLite file": Reference(
        "the repository's script: it installs into the clone's .venv and serves until stopped; "
        "tests/release serves the example app from the built wheel and the sdist"
    ),
    # Migration guides
    "docs_src/migration_original/app.py": App(
        (Call("GET", "/visit", contains="1"), Call("GET", "/visit", contains="2")),
        servers=("redis",),
    ),
    "docs_src/migration_original/rollout.py": App((Call("GET", "/visit"),)),
    "docs_src/migration_starlette/before.py": App((Call("POST", "/visit"),)),
    "docs_src/migration_starlette/after.py": App((Call("POST", "/visit"),)),
    "docs_src/migration_starlette/with_store.py": App(
        (Call("POST", "/visit"),), servers=("redis",)
    ),
    "docs_src/migration_starsessions/before.py": App(
        (Call("POST", "/visit"),), install="pip install starsessions", servers=("redis",)
    ),
    "docs_src/migration_starsessions/after.py": App((Call("POST", "/visit"),), servers=("redis",)),
    "docs_src/migration_starsessions/carry_over.py": App(
        (Call("POST", "/visit"),), servers=("redis",)
    ),
    "docs_src/migration_fastapi_sessions/before.py": App(
        (Call("POST", "/create_session/ann"), Call("GET", "/whoami", contains="ann")),
        install="pip install fastapi-sessions",
    ),
    "docs_src/migration_fastapi_sessions/after.py": App(
        (Call("POST", "/create_session/ann"), Call("GET", "/whoami", contains="ann"))
    ),
    "docs_src/migration_fastapi_sessions/carry_over.py": App(
        (Call("GET", "/whoami", 403),), beside=("docs_src/migration_fastapi_sessions/before.py",)
    ),
    # API reference
    "reference: SessionError base class: catch this to": Reference("the exception tree, drawn"),
}
# The API reference's signatures, rendered by mkdocstrings from the code.
SIGNATURE = Reference("an API signature generated from the code")


# Reading the blocks.


@dataclass
class Block:
    page: str  # "README.md" or the page's folder in the site ("quickstart")
    code: str
    signature: bool = False

    @property
    def start(self) -> str:
        """The first words of its first line, up to 40 characters."""
        words = self.code.lstrip("\n").split("\n", 1)[0].split()
        start = words[0] if words else ""
        for word in words[1:]:
            if len(start) + 1 + len(word) > 40 and start != words[0]:
                break
            start += f" {word}"
        return start


class _CodeBlocks(html.parser.HTMLParser):
    """The text of every ``<pre><code>`` of a page, and whether it is an API signature."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, bool]] = []
        self._open: list[tuple[str, bool]] = []  # tag, is a doc-signature container
        self._code: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "code" and self._open and self._open[-1][0] == "pre":
            self._code = []
        self._open.append((tag, "doc-signature" in classes))

    def handle_endtag(self, tag: str) -> None:
        if tag == "code" and self._code is not None:
            signature = any(is_signature for _, is_signature in self._open)
            self.blocks.append(("".join(self._code), signature))
            self._code = None
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self._code is not None:
            self._code.append(data)


def site_pages(site: Path) -> list[str]:
    """The built pages, in the order of mkdocs.yml's nav (any page outside it last)."""
    nav = re.findall(
        r"^\s*- (?:[^:\n]+: )?([\w/-]+)\.md\s*$", (ROOT / "mkdocs.yml").read_text(), re.M
    )
    built = {
        path.parent.relative_to(site).as_posix() if path.parent != site else "index"
        for path in site.glob("**/index.html")
    }
    ordered = [name for name in nav if name in built]
    return ordered + sorted(built - set(ordered))


def site_blocks(site: Path) -> list[Block]:
    blocks = []
    for page in site_pages(site):
        parser = _CodeBlocks()
        parser.feed((site / ("" if page == "index" else page) / "index.html").read_text())
        blocks += [Block(page, code, signature) for code, signature in parser.blocks]
    return blocks


def readme_blocks() -> list[Block]:
    fence = re.compile(r"^```\w*\n(?P<code>.*?)^```", re.DOTALL | re.MULTILINE)
    return [Block("README.md", m["code"]) for m in fence.finditer((ROOT / "README.md").read_text())]


def docs_src_files() -> dict[str, str]:
    """Each sample's text, to name a block by the file it shows."""
    return {
        path.read_text(): path.relative_to(ROOT).as_posix()
        for path in sorted((ROOT / "docs_src").glob("**/*.*"))
        if path.suffix in (".py", ".sh")
    }


def keys_of(blocks: list[Block], files: Mapping[str, str]) -> list[str]:
    """Each block's key: its docs_src file, or "page: the start of its first line" (" #2" for
    a repeat)."""
    keys: list[str] = []
    for block in blocks:
        key = files.get(block.code) or f"{block.page}: {block.start}"
        if key in keys and key not in files.values():
            key += f" #{sum(other == key or other.startswith(f'{key} #') for other in keys) + 1}"
        keys.append(key)
    return keys


# Running them.

INSTALL_OURS = re.compile(
    r"""(?P<q>["']?)(?:starlette-session(?P<extras>\[[\w,]+\])?>=1\.0|\.(?P<local>\[[\w,]+\]))(?P=q)"""
)
OURS_UNPINNED = re.compile(r"starlette-session(?!(?:\[[\w,]+\])?>=1\.0)")


def commands(text: str) -> list[str]:
    """The lines of a block, each continued line (``\\`` at its end) joined to the next."""
    return text.replace("\\\n", " ").splitlines()


def unpinned_installs(text: str) -> list[str]:
    """``pip install`` lines naming this project without ``>=1.0``: they would get 0.4.3."""
    return [
        line.strip()
        for line in commands(text)
        if "pip install" in line and OURS_UNPINNED.search(line)
    ]


def to_local_wheel(command: str, wheel: Path) -> str:
    """The command with this project's requirement pointed at the wheel built here."""

    def local(match: re.Match[str]) -> str:
        return shlex.quote(f"{wheel}{match['extras'] or match['local'] or ''}")

    return "\n".join(
        INSTALL_OURS.sub(local, line) if "pip install" in line else line
        for line in commands(command)
    )


class Failed(Exception):
    pass


def run(command: list[str], *, cwd: Path, env: Mapping[str, str], timeout: float = 600) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise Failed(
            f"{shlex.join(command)} exited with {result.returncode}:\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        if process.poll() is not None:
            raise Failed(f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise Failed(f"nothing listens on port {port} after 30 s:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


@contextlib.contextmanager
def serving(command: list[str], *, cwd: Path, env: Mapping[str, str], port: int) -> Iterator[Path]:
    """The server started in a session of its own, and that session ended afterwards."""
    log = cwd / f"server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for_port(port, process, log)
        yield log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def http_call(opener: urllib.request.OpenerDirector, port: int, call: Call) -> None:
    body = None if call.json is None else json.dumps(call.json).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{call.path}",
        data=body if body is not None else (b"" if call.method == "POST" else None),
        method=call.method,
        headers={"Content-Type": "application/json"} if body is not None else {},
    )
    try:
        with opener.open(request, timeout=10) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    if status != call.status or (call.contains is not None and call.contains not in text):
        raise Failed(f"{call.method} {call.path} answered {status}: {text[:500]}")


def websocket_call(jar: CookieJar, port: int, call: WebSocket) -> None:
    """A WebSocket handshake by hand (the test's venv has no WebSocket client): 101, then the
    messages sent masked, as a client must, and the first text frame read back."""
    cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            (
                f"GET {call.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nCookie: {cookies}\r\n\r\n"
            ).encode()
        )
        reader = conn.makefile("rb")
        status = reader.readline().decode().strip()
        while reader.readline() not in (b"\r\n", b""):
            pass
        if " 101 " not in f"{status} ":
            raise Failed(f"WebSocket {call.path}: {status} (no WebSocket support in the server?)")
        for text in call.send:
            payload, mask = text.encode(), os.urandom(4)
            masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
            conn.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
        head = reader.read(2)
        length = head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", reader.read(2))[0]
        message = reader.read(length).decode(errors="replace")
        if head[0] & 0x0F != 1 or call.contains not in message:
            raise Failed(f"WebSocket {call.path}: received {head!r} {message!r}")


def ask(port: int, requests: tuple[Request, ...]) -> None:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    for each in requests:
        if isinstance(each, Call):
            http_call(opener, port, each)
        else:
            websocket_call(jar, port, each)


@dataclass
class TerminalState:
    page: str
    folder: Path
    server: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    port: int = 0
    saved: list[str] = field(default_factory=list)  # SaveAs keys waiting for a Start


@dataclass
class Run:
    """The one virtualenv, the wheel, the folders and the servers of a whole run."""

    root: Path
    venv: Path = field(init=False)
    clone: Path = field(init=False)
    wheel: Path | None = None
    env: dict[str, str] = field(init=False)
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    servers: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # key -> block text
    terminal: TerminalState | None = None

    def __post_init__(self) -> None:
        self.venv = self.root / "venv"
        self.clone = self.root / "starlette-session"
        subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True)
        self.env = {
            name: value
            for name, value in os.environ.items()
            if name not in {"PYTHONPATH", "VIRTUAL_ENV", "REDIS_URL", "DATABASE_URL"}
        }
        self.env |= {
            "PATH": f"{self.venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "VIRTUAL_ENV": str(self.venv),
            "PIP_CONSTRAINT": str(CONSTRAINTS),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "SESSION_SECRET": SECRET,
            "OLD_SESSION_SECRET": "old-" + SECRET,
            "NEW_SESSION_SECRET": "new-" + SECRET,
            "SESSION_SECRET_KEYS": f"new-{SECRET} {SECRET}",
            "SESSION_ENCRYPTION_KEYS": ENCRYPTION_KEYS,
            "REDIS_SENTINELS": "127.0.0.1:26379",  # the Sentinel sample only builds its client
            "SESSION_SECRET_FILE": str(self.root / "session-secret"),  # the deployment sample's
        }
        (self.root / "session-secret").write_text(f"new-{SECRET}\n{SECRET}\n")
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for name in filter(None, listed.split("\0")):
            if (ROOT / name).is_file():
                (self.clone / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, self.clone / name)

    def server_env(self, needs: tuple[str, ...]) -> dict[str, str]:
        for need in needs:
            if need in self.servers:
                continue
            if need == "redis":
                self.servers[need] = self.stack.enter_context(RedisServer()).url
            elif need == "memcached":
                memcached = self.stack.enter_context(MemcachedServer())
                self.env |= {
                    "MEMCACHED_HOST": memcached.host,
                    "MEMCACHED_PORT": str(memcached.port),
                }
                self.servers[need] = memcached.url
            else:
                self.servers[need] = self.stack.enter_context(RedisClusterServer()).url
        env = dict(self.env)
        if "redis" in needs:
            env["REDIS_URL"] = self.servers["redis"]
        if "cluster" in needs:
            env["REDIS_CLUSTER_URL"] = self.servers["cluster"]
        return env

    def folder(self, block: Block, key: str) -> Path:
        """A folder of the sample's own, in its page's."""
        name = re.sub(r"\W+", "-", key.removeprefix("docs_src/")).strip("-")[:60]
        folder = self.root / "pages" / block.page.replace(".", "-") / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def shell(self, code: str, cwd: Path, env: Mapping[str, str]) -> None:
        script = to_local_wheel(code, self.wheel) if self.wheel else code
        run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env)

    def install(self, command: str, page_text: str, cwd: Path) -> None:
        if command not in page_text:
            raise Failed(f"the page does not say {command!r}: the table must quote it")
        self.shell(command, cwd, self.env)

    def save(self, key: str, folder: Path, name: str | None = None) -> str:
        """The sample saved in ``folder`` (by default under its file's name); its module."""
        module = name or Path(key).stem
        (folder / f"{module}.py").write_text(self.sources.get(key) or (ROOT / key).read_text())
        return module

    def close_terminal(self) -> dict[str, str | None]:
        """The page's server stopped; files saved but never served have failed."""
        if self.terminal is None:
            return {}
        self.terminal.server.close()
        unserved = {key: "saved, but no server command follows" for key in self.terminal.saved}
        self.terminal = None
        return dict(unserved)

    def in_terminal(self, key: str, kind: SaveAs | Terminal | Start, block: Block) -> None:
        if self.terminal is None:
            folder = self.root / "pages" / block.page / "terminal"
            folder.mkdir(parents=True)
            (folder.parent / "state.sh").write_text("")
            self.terminal = TerminalState(block.page, folder)
        terminal = self.terminal
        state = terminal.folder.parent / "state.sh"
        if isinstance(kind, SaveAs):
            (terminal.folder / kind.name).write_text(block.code)
            terminal.saved.append(key)
            return
        if isinstance(kind, Start):
            terminal.server.close()
            terminal.server = contextlib.ExitStack()
            env = self.server_env(kind.servers)
            terminal.port = free_port()
            port = rf"\1 --port {terminal.port}"
            code = re.sub(r"^(\s*uvicorn .*)$", port, block.code, flags=re.M)
            script = f"source {shlex.quote(str(state))}\n{code}"
            command = ["bash", "-euo", "pipefail", "-c", script]
            terminal.server.enter_context(
                serving(command, cwd=terminal.folder, env=env, port=terminal.port)
            )
            return
        code = to_local_wheel(block.code, self.wheel) if self.wheel else block.code
        if terminal.port:
            code = code.replace("http://127.0.0.1:8000", f"http://127.0.0.1:{terminal.port}")
        if "redis" in self.servers:
            code = re.sub(r"\bredis-cli\b", f"redis-cli -u {self.servers['redis']}", code)
        script = f"source {shlex.quote(str(state))}\n{code}\nexport -p > {shlex.quote(str(state))}"
        output = run(["bash", "-euo", "pipefail", "-c", script], cwd=terminal.folder, env=self.env)
        missing = [text for text in kind.expect if text not in output]
        if missing:
            raise Failed(f"the output lacks {missing}:\n{output[-2000:]}")

    def block(self, key: str, kind: Kind, block: Block, page_text: str) -> None:
        if isinstance(kind, SaveAs | Terminal | Start):
            self.in_terminal(key, kind, block)
            return
        folder = self.folder(block, key)
        if isinstance(kind, Shell):
            cwd = self.clone if kind.cwd == "clone" else folder
            for other in kind.beside:
                self.save(other, folder)
            if not kind.serve:
                self.shell(block.code, cwd, self.env)
                if key == WHEEL_BLOCK:
                    self.wheel = next((self.clone / "dist").glob("starlette_session-*.whl"))
                return
            port = free_port()
            code = re.sub(r"^(\s*uvicorn .*)$", rf"\1 --port {port}", block.code, flags=re.M)
            with serving(
                ["bash", "-euo", "pipefail", "-c", code], cwd=cwd, env=self.env, port=port
            ):
                ask(port, kind.serve)
        elif isinstance(kind, App):
            if kind.install:
                self.install(kind.install, page_text, folder)
            env = self.server_env(kind.servers)
            for other in kind.beside:
                self.save(other, folder)
            module = self.save(key, folder, kind.name or "app")
            port = free_port()
            command = [str(self.venv / "bin" / "uvicorn"), f"{module}:app", "--port", str(port)]
            with serving(command, cwd=folder, env=env, port=port) as log:
                ask(port, kind.calls)
            if "Traceback" in log.read_text():
                raise Failed(f"the server logged an error:\n{log.read_text()[-3000:]}")
        elif isinstance(kind, Module):
            if kind.install:
                self.install(kind.install, page_text, folder)
            module = self.save(key, folder, kind.name)
            run([str(self.venv / "bin" / "python"), f"{module}.py"], cwd=folder, env=self.env)
        elif isinstance(kind, PytestFile):
            self.install(kind.install, page_text, folder)
            for other in kind.beside:
                self.save(other, folder)
            module = self.save(key, folder)
            pytest_bin = str(self.venv / "bin" / "pytest")
            run(
                [pytest_bin, "-q", "-p", "no:cacheprovider", f"{module}.py"],
                cwd=folder,
                env=self.env,
            )


def build_site(target: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir"]
    subprocess.run([*command, str(target)], cwd=ROOT, env=env, check=True)


def page_texts(site: Path, blocks: list[Block]) -> dict[str, str]:
    """Each page's whole text (prose and blocks), where the table's install lines must appear."""
    texts = {"README.md": (ROOT / "README.md").read_text()}
    for page in {block.page for block in blocks} - {"README.md"}:
        path = site / ("" if page == "index" else page) / "index.html"
        texts[page] = html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))
    return texts


def test_every_sample_runs_as_pasted(tmp_path: Path) -> None:
    started = time.monotonic()
    build_site(tmp_path / "site")
    blocks = readme_blocks() + site_blocks(tmp_path / "site")
    texts = page_texts(tmp_path / "site", blocks)

    failures: list[str] = []
    unknown = []
    keyed: list[tuple[str, Kind, Block]] = []
    for key, block in zip(keys_of(blocks, docs_src_files()), blocks, strict=True):
        kind = SIGNATURE if block.signature else SAMPLES.get(key)
        if kind is None:
            unknown.append(key)
            continue
        keyed.append((key, kind, block))
        failures += [f"{key}: {line!r} installs 0.4.3" for line in unpinned_installs(block.code)]
    # The wheel first: every install line after it is pointed at it.
    keyed.sort(key=lambda each: each[0] != WHEEL_BLOCK)

    run_ = Run(tmp_path)
    for key, _, block in keyed:
        run_.sources.setdefault(key, block.code)
    results: dict[str, str | None] = {}  # key -> None (passed) or why it failed
    with run_.stack:
        for key, kind, block in keyed:
            if isinstance(kind, Reference) or key in results:
                continue
            if run_.terminal is not None and run_.terminal.page != block.page:
                results |= run_.close_terminal()
            try:
                run_.block(key, kind, block, texts[block.page])
                results[key] = None
            except (Failed, subprocess.SubprocessError, StopIteration, OSError) as error:
                results[key] = f"{type(error).__name__}: {error}"
            if isinstance(kind, Start) and run_.terminal is not None:
                results |= {saved: results[key] for saved in run_.terminal.saved}
                run_.terminal.saved.clear()
            if isinstance(kind, SaveAs):
                results.pop(key)  # decided by the next Start
            if key == WHEEL_BLOCK and run_.wheel is None:
                pytest.fail(
                    f"the README's wheel block failed, nothing else can run:\n{results[key]}"
                )
        results |= run_.close_terminal()
        # Whatever the pages installed, the venvs still hold this project's wheel, not 0.4.3.
        for python in sorted(tmp_path.glob("**/bin/python")):
            version = "import importlib.metadata as m; print(m.version('starlette-session'))"
            found = subprocess.run(
                [str(python), "-c", version], capture_output=True, text=True, check=False
            ).stdout.strip()
            if found and found != "1.0.0":
                failures.append(f"{python}: starlette-session {found} installed, not 1.0.0")

    runnable = [key for key, kind, _ in keyed if not isinstance(kind, Reference)]
    passed = [key for key in runnable if results.get(key, "not run") is None]
    signatures = sum(block.signature for block in blocks)
    reference = len(keyed) - len(runnable) - signatures
    print(
        f"\ndocs samples: {len(blocks) - signatures} blocks ({len(readme_blocks())} in README.md), "
        f"{len(runnable)} runnable, {len(passed)} run and passed, {reference} reference only; "
        f"{len(unknown)} not classified; and {signatures} API signatures (reference only); "
        f"{len(set(runnable))} distinct runnable samples; {time.monotonic() - started:.0f} s"
    )
    failures += [f"{key}: {why}" for key, why in results.items() if why is not None]
    failures += [f"{key}: a block not in SAMPLES; classify it there" for key in unknown]
    seen = {key for key, _, _ in keyed}
    failures += [f"{key}: in SAMPLES, but no page shows it" for key in SAMPLES if key not in seen]
    assert not failures, "\n\n".join(failures)
