"""The release as a user gets it: README's install commands, in fresh virtualenvs.

From a copy of the repository's files (what a fresh clone holds), each test runs one of the
README's install blocks (``docs_src/install/*.sh``) with a new virtualenv first on ``PATH``, then
imports the installed package from outside the source tree and serves the example app from it
with uvicorn for real requests. The sdist is installed the same way, and its own copy of the
example app is served. Marked ``slow``: it builds, and installs from the package index (about a
minute with a warm pip cache).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
VERSION = "1.0.0"
WHEEL = f"starlette_session-{VERSION}-py3-none-any.whl"
SDIST = f"starlette_session-{VERSION}.tar.gz"
# What the example app needs besides the fastapi extra: its server, templates, forms and SQLite.
EXAMPLE_NEEDS = ["uvicorn", "jinja2", "python-multipart", "sqlalchemy[asyncio]", "aiosqlite"]


def run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, (
        f"{command} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


class Venv:
    """A fresh virtualenv; ``env`` puts it first on PATH, as an activated one would be."""

    def __init__(self, path: Path) -> None:
        run([sys.executable, "-m", "venv", str(path)], cwd=path.parent)
        self.path = path
        self.python = path / "bin" / "python"
        self.env = {
            **os.environ,
            "PATH": f"{path / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "VIRTUAL_ENV": str(path),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
        self.env.pop("PYTHONPATH", None)

    def run_script(self, script: Path, cwd: Path) -> None:
        run(["bash", "-euo", "pipefail", str(script)], cwd=cwd, env=self.env)

    def pip_install(self, *requirements: str, cwd: Path) -> None:
        run([str(self.python), "-m", "pip", "install", "-q", *requirements], cwd=cwd, env=self.env)


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's files as a fresh clone has them: tracked, plus new and not ignored."""
    target = tmp_path_factory.mktemp("clone") / "starlette-session"
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def built(clone: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """README's wheel install: builds dist/ in the clone and installs the wheel in a venv."""
    venv = Venv(tmp_path_factory.mktemp("wheel-venv") / "venv")
    venv.run_script(clone / "docs_src/install/from_wheel.sh", cwd=clone)
    yield venv.path
    shutil.rmtree(clone / "dist", ignore_errors=True)


def smoke_test(venv: Path, examples: Path, workdir: Path) -> None:
    """Import the installed package and serve the example app from it for real requests."""
    python = venv / "bin" / "python"
    run([str(python), "-m", "pip", "install", "-q", *EXAMPLE_NEEDS], cwd=workdir)
    shutil.copytree(examples, workdir / "examples")  # the app only: no starlette_session/ here
    found = run(
        [str(python), "-c", "import starlette_session as s; print(s.__version__, s.__file__)"],
        cwd=workdir,
    ).split()
    assert found[0] == VERSION
    assert Path(found[1]).is_relative_to(venv), "imported from the source tree, not the install"

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"SESSION_SECRET", "REDIS_URL"}}
    env.pop("PYTHONPATH", None)
    command = [str(python), "-m", "uvicorn", "examples.fastapi_app.main:app", "--port", str(port)]
    server = subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/products", timeout=5) as response:  # noqa: S310
                    assert response.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the example app did not start in 30 s"
                time.sleep(0.1)
        # A cookie jar, as a browser has: the CSRF cookie, then the redirect to / carries the
        # new session cookie. The form's token comes from the app's own token endpoint.
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with opener.open(f"{base}/api/csrf", timeout=5) as response:
            token = json.loads(response.read())["csrf_token"]
        request = urllib.request.Request(  # noqa: S310 - our own server on loopback
            f"{base}/cart/add",
            data=urllib.parse.urlencode({"product": "tea", "csrf_token": token}).encode(),
            method="POST",
        )
        with opener.open(request, timeout=5) as response:
            page = response.read().decode()
        assert "Added Green tea to your cart." in page
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout:
            server.stdout.close()


def test_install_from_a_clone(clone: Path, tmp_path: Path) -> None:
    venv = Venv(tmp_path / "venv")
    venv.run_script(clone / "docs_src/install/from_clone.sh", cwd=clone)
    smoke_test(venv.path, clone / "examples", tmp_path)


def test_install_the_built_wheel(built: Path, clone: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(clone / "dist" / WHEEL) as wheel:
        names = set(wheel.namelist())
    assert "starlette_session/py.typed" in names
    assert f"starlette_session-{VERSION}.dist-info/licenses/LICENSE" in names
    assert not any(name.startswith(("tests/", "examples/", "docs")) for name in names)
    smoke_test(built, clone / "examples", tmp_path)


def test_install_the_built_sdist(built: Path, clone: Path, tmp_path: Path) -> None:
    with tarfile.open(clone / "dist" / SDIST) as sdist:
        sdist.extractall(tmp_path / "sdist", filter="data")
    unpacked = tmp_path / "sdist" / f"starlette_session-{VERSION}"
    for name in ("LICENSE", "README.md", "CHANGELOG.md", "examples/fastapi_app/main.py"):
        assert (unpacked / name).is_file(), name
    venv = Venv(tmp_path / "venv")
    venv.pip_install(f"{clone / 'dist' / SDIST}[fastapi]", cwd=tmp_path)
    workdir = tmp_path / "run"
    workdir.mkdir()
    smoke_test(venv.path, unpacked / "examples", workdir)
