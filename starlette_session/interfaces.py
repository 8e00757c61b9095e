"""The original starlette-session custom-backend interface, kept so old backends still work."""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["ISessionBackend"]


class ISessionBackend(abc.ABC):
    """A backend of the original starlette-session API: JSON objects in and out.

    Pass one as ``SessionMiddleware(..., custom_session_backend=MyBackend())``, or wrap it with
    :class:`starlette_session.backends.LegacyBackend` to use it in a ``SessionStore``. ``value`` is
    a JSON object (never a pickle) and ``exp`` is its lifetime in seconds. This interface has no
    compare-and-set, so two requests saving one session at the same instant can overwrite each
    other; write a :class:`~starlette_session.backends.SessionBackend` to avoid that.
    """

    @abc.abstractmethod
    async def get(self, key: str) -> dict[str, Any] | None:
        """Return the object stored under ``key``, or None."""

    @abc.abstractmethod
    async def set(self, key: str, value: dict[str, Any], exp: int | None) -> Any:
        """Store ``value`` under ``key`` for ``exp`` seconds (``None``: until deleted)."""

    @abc.abstractmethod
    async def delete(self, key: str) -> Any:
        """Remove ``key``."""
