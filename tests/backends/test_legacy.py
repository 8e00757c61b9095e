"""What LegacyBackend adds to the contract: the original interface's failures are wrapped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from starlette_session.backends import LegacyBackend
from starlette_session.exceptions import SessionBackendError
from tests.helpers import DictSessionBackend


class BrokenBackend(DictSessionBackend):
    """A backend whose server went away: every call fails the way a driver would."""

    async def get(self, key: str) -> dict[str, Any] | None:
        raise ConnectionRefusedError("connection refused")

    async def delete(self, key: str) -> None:
        raise ConnectionRefusedError("connection refused")


async def test_values_reach_the_original_interface_as_json_objects() -> None:
    legacy = DictSessionBackend()
    backend = LegacyBackend(legacy)

    await backend.create("session:a", b'{"m":{},"d":{"cart":[1,2]}}', 60)

    assert await legacy.get("session:a") == {"m": {}, "d": {"cart": [1, 2]}}


OPERATIONS: dict[str, Callable[[LegacyBackend], Awaitable[object]]] = {
    "read": lambda backend: backend.read("session:a", 60),
    "create": lambda backend: backend.create("session:a", b"{}", 60),
    "replace": lambda backend: backend.replace("session:a", b"{}", b"{}", 60),
    "expire": lambda backend: backend.expire("session:a", 60),
    "delete": lambda backend: backend.delete("session:a"),
}


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_errors_of_the_wrapped_backend_become_session_backend_errors(
    operation: str,
) -> None:
    backend = LegacyBackend(BrokenBackend())
    with pytest.raises(SessionBackendError, match="ConnectionRefusedError") as caught:
        await OPERATIONS[operation](backend)
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
