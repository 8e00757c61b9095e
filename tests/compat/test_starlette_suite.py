"""Starlette's own session tests, run against this library's ``SessionMiddleware``.

At test time, ``tests/middleware/test_session.py`` is taken from the source distribution of the
installed Starlette version on PyPI (``pip download --no-binary starlette --no-deps``, cached
outside the repository; never copied into it) and run in a separate pytest process with
``tests/compat/starlette_plugin.py``, which makes Starlette's ``SessionMiddleware`` name our
middleware. Without network the test is skipped locally and fails under ``$CI``.

Two kinds of difference are accounted for, each listed here with its reason:

- ``ADAPTATIONS``: textual changes to Starlette's file, applied at test time. Only cookie-attribute
  spelling: Starlette writes ``path=``, ``domain=``, ``partitioned`` in lower case, we write
  ``Path=``, ``Domain=``, ``Partitioned`` (attribute names are case-insensitive, RFC 6265 5.2).
  Each adaptation must apply exactly as many times as listed, so a change upstream is noticed.
- ``KNOWN_FAILURES``: Starlette tests that fail today, with the middleware change that fixes each.
  The set of failures must be exactly this one: a test that starts passing must be removed here.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.compat.cache import cache_directory
from tests.servers import server_unavailable


class Adaptation(NamedTuple):
    old: str
    new: str
    occurrences: int
    reason: str


_CASE = "cookie attribute names are case-insensitive (RFC 6265 5.2); we capitalize them"
ADAPTATIONS = [
    Adaptation(
        'attributes = response.headers["set-cookie"].split("; ")',
        'attributes = response.headers["set-cookie"].lower().split("; ")',
        2,
        _CASE + " (Partitioned)",
    ),
    Adaptation(
        r're.search(r"; path=(\S+);", cookie)',
        r're.search(r"; path=(\S+);", cookie, re.IGNORECASE)',
        1,
        _CASE + " (Path)",
    ),
    Adaptation(
        'assert "domain=.example.com" in set_cookie',
        'assert "domain=.example.com" in set_cookie.lower()',
        1,
        _CASE + " (Domain)",
    ),
]

#: Starlette test name -> the middleware change that makes it pass.
KNOWN_FAILURES: dict[str, str] = {}

STARLETTE_VERSION = importlib.metadata.version("starlette")
TEST_MEMBER = "tests/middleware/test_session.py"
PLUGIN_DIRECTORY = Path(__file__).parent
#: The one fixture module the file imports (``from tests.types import TestClientFactory``);
#: Starlette's own imports httpx2, which we do not install. Only a name is needed at run time.
TYPES_MODULE = """\
from collections.abc import Callable

from starlette.testclient import TestClient

TestClientFactory = Callable[..., TestClient]
"""
PYTEST_INI = "[pytest]\naddopts = -p no:cacheprovider\n"


def starlette_sdist(version: str) -> Path:
    """The source distribution of Starlette ``version``, downloaded once with pip."""
    target = cache_directory() / f"starlette-{version}"
    found = sorted(target.glob(f"starlette-{version}.tar.gz"))
    if found:
        return found[0]
    target.mkdir(parents=True, exist_ok=True)
    # --no-binary for starlette alone: its build dependencies (hatchling) may come as wheels, as
    # pip prepares the sdist's metadata; the file downloaded is the same.
    command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet"]
    command += ["--no-deps", "--no-binary", "starlette", f"starlette=={version}", "-d", str(target)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        server_unavailable(f"pip download starlette=={version} did not finish in 300 s")
    found = sorted(target.glob(f"starlette-{version}.tar.gz"))
    if result.returncode != 0 or not found:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        server_unavailable(f"could not download the starlette=={version} sdist:\n{tail}")
    return found[0]


def read_member(sdist: Path, member: str) -> str:
    """One file of the sdist, read without extracting anything to disk."""
    with tarfile.open(sdist) as archive:
        extracted = archive.extractfile(f"{sdist.name.removesuffix('.tar.gz')}/{member}")
        if extracted is None:
            raise AssertionError(f"{member} is not a file in {sdist.name}")
        return extracted.read().decode()


def adapt(source: str) -> str:
    """Starlette's test file with ``ADAPTATIONS`` applied, each exactly as often as listed."""
    for adaptation in ADAPTATIONS:
        found = source.count(adaptation.old)
        assert found == adaptation.occurrences, (
            f"Starlette's test file changed: {adaptation.old!r} appears {found} times, "
            f"expected {adaptation.occurrences}; review the adaptation ({adaptation.reason})"
        )
        source = source.replace(adaptation.old, adaptation.new)
    return source


def write_test_tree(root: Path, test_source: str) -> Path:
    """``root/tests/middleware/test_session.py`` and the package files around it."""
    middleware = root / "tests" / "middleware"
    middleware.mkdir(parents=True)
    (root / "tests" / "__init__.py").write_text("")
    (root / "tests" / "types.py").write_text(TYPES_MODULE)
    (middleware / "__init__.py").write_text("")
    test_file = middleware / "test_session.py"
    test_file.write_text(test_source)
    (root / "pytest.ini").write_text(PYTEST_INI)
    return test_file


class Outcome(NamedTuple):
    name: str
    status: str  # "passed", "failed", "error" or "skipped"
    message: str


def read_junit(report: Path) -> list[Outcome]:
    outcomes = []
    for case in ElementTree.parse(report).iter("testcase"):  # noqa: S314 - our own report
        status, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                status = child.tag
                message = (child.get("message") or "") + "\n" + (child.text or "")
        outcomes.append(Outcome(case.get("name", "?"), status, message.strip()))
    return outcomes


def run_starlette_tests(root: Path, test_file: Path) -> list[Outcome]:
    report = root / "report.xml"
    command = [sys.executable, "-m", "pytest", str(test_file), "-c", str(root / "pytest.ini")]
    command += ["--rootdir", str(root), "-p", "starlette_plugin", f"--junitxml={report}", "-q"]
    # Starlette's test tree first, so ``tests`` is its package (a regular package wins over
    # this repository's namespace package ``tests`` wherever each sits on the path).
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(root), str(PLUGIN_DIRECTORY)])}
    result = subprocess.run(
        command, cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert report.exists(), f"pytest did not run Starlette's tests:\n{result.stdout}{result.stderr}"
    return read_junit(report)


def test_starlettes_session_tests_pass_against_our_middleware(tmp_path: Path) -> None:
    sdist = starlette_sdist(STARLETTE_VERSION)
    source = adapt(read_member(sdist, TEST_MEMBER))
    outcomes = run_starlette_tests(tmp_path, write_test_tree(tmp_path, source))

    assert len(outcomes) >= 10, f"too few tests collected: {outcomes}"
    failing = {outcome.name: outcome for outcome in outcomes if outcome.status != "passed"}
    unexpected = [outcome for name, outcome in failing.items() if name not in KNOWN_FAILURES]
    fixed = [name for name in KNOWN_FAILURES if name not in failing]
    report = [f"{o.name} [{o.status}]: {o.message[:600]}" for o in unexpected]
    report += [f"{name} now passes: remove it from KNOWN_FAILURES" for name in fixed]
    assert not report, "\n\n".join(report)


@pytest.mark.parametrize("adaptation", ADAPTATIONS, ids=lambda a: a.old[:40])
def test_every_adaptation_only_changes_letter_case(adaptation: Adaptation) -> None:
    """Adaptations may only make an attribute check case-insensitive, never weaken it."""
    assert adaptation.new.lower().replace(", re.ignorecase", "").replace(".lower()", "") == (
        adaptation.old.lower()
    )
