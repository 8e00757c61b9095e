"""``MemcacheJSONSerde``: the original API's pymemcache serializer, JSON instead of pickle."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MemcacheJSONSerde"]

_BYTES, _TEXT, _JSON = 0, 1, 2


class MemcacheJSONSerde:
    """A pymemcache ``serde`` that never unpickles: ``Client(..., serde=MemcacheJSONSerde())``.

    As in the original starlette-session: a ``str`` is stored as is (flags 1, read back as the
    raw bytes pymemcache received), anything else as JSON (flags 2, read back with
    ``json.loads``). One addition: ``bytes`` are stored as is with flags 0 and read back
    unchanged, which is what :class:`~starlette_session.backends.PymemcacheBackend` stores.
    Any other flags raise ``ValueError``: the value was not written through this serde.
    """

    def serialize(self, key: Any, value: Any) -> tuple[Any, int]:
        """``(data, flags)`` for memcached."""
        if isinstance(value, bytes):
            return value, _BYTES
        if isinstance(value, str):
            return value, _TEXT
        return json.dumps(value), _JSON

    def deserialize(self, key: Any, value: Any, flags: int) -> Any:
        """The value stored with ``flags``."""
        if flags in (_BYTES, _TEXT):
            return value
        if flags == _JSON:
            return json.loads(value)
        raise ValueError(f"Unknown flags for value: {flags}")
