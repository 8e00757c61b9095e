"""Every code sample of the documentation is a module under ``docs_src/``; these tests run them.

``load_sample("docs_src.quickstart.app")`` imports a sample afresh, with ``SESSION_SECRET`` (and
whatever else the test put in the environment, such as ``REDIS_URL``) set, since the samples read
their configuration from the environment when they are imported, as real applications do.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

SECRET = "tutorial-tests-secret-0123456789abcdefghijklmn"

# The samples use every extra (tox's ``noextras`` run has none of them): nothing to run there.
collect_ignore_glob: list[str] = []
if any(importlib.util.find_spec(name) is None for name in ("fastapi", "redis", "aiomcache")):
    collect_ignore_glob.append("test_*.py")

LoadSample = Callable[[str], ModuleType]


@pytest.fixture
def load_sample(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoadSample]:
    monkeypatch.setenv("SESSION_SECRET", SECRET)

    def load(name: str) -> ModuleType:
        _forget_samples()  # a fresh copy, and fresh copies of the samples it imports
        return importlib.import_module(name)

    yield load
    _forget_samples()  # the next test imports its own copies, with its own environment


# Modules that samples import from beside them, as a reader saves them (the test adds their
# folder to sys.path): the quick start's app.py and the fastapi-sessions "before" app.
BESIDE = {"app", "before"}


def _forget_samples() -> None:
    for module in [name for name in sys.modules if name.startswith("docs_src.")]:
        del sys.modules[module]
    for module in BESIDE:
        sys.modules.pop(module, None)
