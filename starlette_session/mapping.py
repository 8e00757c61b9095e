"""The dict protocol of a lazily loaded session: every access loads it first.

Writes, and reads that hand out a nested list or dict (which the caller may change in place),
mark the session as possibly changed; a session never marked is known unchanged at commit without
serializing it again. :class:`~starlette_session.Session` supplies the loading.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from typing import Any, TypeVar

from starlette_session.state import StatefulDict

__all__ = ["SessionMapping"]

MappingT = TypeVar("MappingT", bound="SessionMapping")


class SessionMapping(StatefulDict):
    """A real ``dict`` whose every access goes through ``_data_for_read`` (load, then sync the
    typed views) or ``_data_for_write`` (the same, and mark the session changed)."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        return self._handed_out(dict.__getitem__(self._data_for_read(), key))

    def get(self, key: str, default: Any = None) -> Any:
        return self._handed_out(dict.get(self._data_for_read(), key, default))

    def __setitem__(self, key: str, value: Any) -> None:
        dict.__setitem__(self._data_for_write(), key, value)

    def __delitem__(self, key: str) -> None:
        dict.__delitem__(self._data_for_write(), key)

    def __iter__(self) -> Iterator[str]:
        return dict.__iter__(self._data_for_read())

    def __reversed__(self) -> Iterator[str]:
        return reversed(dict.keys(self._data_for_read()))

    def __len__(self) -> int:
        return dict.__len__(self._data_for_read())

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self._data_for_read(), key)

    def keys(self) -> KeysView[str]:  # type: ignore[override]
        return dict.keys(self._data_for_read())

    def values(self) -> ValuesView[Any]:  # type: ignore[override]
        return dict.values(self._data_for_write())

    def items(self) -> ItemsView[str, Any]:  # type: ignore[override]
        return dict.items(self._data_for_write())

    def pop(self, key: str, *default: Any) -> Any:
        return dict.pop(self._data_for_write(), key, *default)

    def popitem(self) -> tuple[str, Any]:
        return dict.popitem(self._data_for_write())

    def setdefault(self, key: str, default: Any = None) -> Any:
        return dict.setdefault(self._data_for_write(), key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        dict.update(self._data_for_write(), *args, **kwargs)

    def clear(self) -> None:
        dict.clear(self._data_for_write())

    def copy(self) -> dict[str, Any]:
        return dict.copy(self._data_for_write())

    def __or__(self, other: Any) -> dict[str, Any]:  # type: ignore[override]
        merged = dict.copy(self._data_for_write())
        merged.update(other)
        return merged

    def __ior__(self: MappingT, other: Any) -> MappingT:  # type: ignore[override]
        self.update(other)
        return self

    def __eq__(self, other: object) -> bool:
        return dict.__eq__(self._data_for_read(), other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        if not self.state.loaded:
            return "<Session (not loaded)>"
        return f"<Session {dict.__len__(self)} keys>"

    def __reduce__(self) -> Any:
        raise TypeError("a Session cannot be pickled; copy it with dict(session)")

    def _data_for_read(self) -> SessionMapping:
        """Load the session if needed, and return the dict holding its data (``self``)."""
        raise NotImplementedError

    def _data_for_write(self) -> SessionMapping:
        self.state.mark_changed()
        return self._data_for_read()

    def _handed_out(self, value: Any) -> Any:
        if isinstance(value, dict | list):
            self.state.mark_changed()
        return value
