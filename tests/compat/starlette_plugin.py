"""A pytest plugin for running Starlette's own session tests against this library.

``tests/compat/test_starlette_suite.py`` loads it (``-p starlette_plugin``) into a separate pytest
run over Starlette's ``tests/middleware/test_session.py``, taken from Starlette's source
distribution at test time. Loading it makes ``starlette.middleware.sessions.SessionMiddleware``
*be* ``starlette_session.SessionMiddleware`` (no adapter: what fails is what a user swapping
the import would hit), and provides the one fixture the file takes from Starlette's
``tests/conftest.py``.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

import pytest
import starlette.middleware.sessions
from starlette.testclient import TestClient

import starlette_session

# Before the test module is imported, so its ``from starlette.middleware.sessions import
# SessionMiddleware`` gets ours. Starlette's ``Session`` class is left alone: one test of the
# file exercises that class directly, not a middleware.
starlette.middleware.sessions.SessionMiddleware = starlette_session.SessionMiddleware  # type: ignore[misc,assignment]


@pytest.fixture
def test_client_factory(
    anyio_backend_name: Literal["asyncio", "trio"],
    anyio_backend_options: dict[str, Any],
) -> functools.partial[TestClient]:
    """Starlette's fixture of the same name: a ``TestClient`` bound to anyio's backend."""
    return functools.partial(
        TestClient, backend=anyio_backend_name, backend_options=anyio_backend_options
    )
