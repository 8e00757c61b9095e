"""The custom backend of docs_src/backends/custom.py passes the whole backend contract suite.

The suite's test functions are taken from ``tests/backends/test_contract.py`` as they are, so a
test added there applies to the documented backend too.
"""

from __future__ import annotations

import asyncio

import pytest

from starlette_session.backends import SessionBackend
from tests.backends import test_contract
from tests.backends.conftest import BackendCase
from tests.test_tutorial.conftest import LoadSample

globals().update({name: test for name, test in vars(test_contract).items() if name[:5] == "test_"})


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@pytest.fixture
def backend_case(load_sample: LoadSample) -> BackendCase:
    sample = load_sample("docs_src.backends.custom")
    return BackendCase(sample.DictBackend(), _sleep)


@pytest.fixture
def backend(backend_case: BackendCase) -> SessionBackend:
    return backend_case.backend
