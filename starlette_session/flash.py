"""Flash messages: shown once, on the next page the visitor sees.

They live in the session's metadata (``FLASHES``), beside the data and never in it: they survive
``regenerate(keep=[...])`` and a log-in's new id, do not show in ``dict(session)`` nor in a typed
model, and a session holding only flash messages is still stored (a "you are logged out" message
after ``destroy()`` starts a new session). Each is stored as ``[category, message]``, the message
as JSON; ``Flashes(session, model=Model)`` writes an instance's JSON and reads messages back as
instances. Reading them when the request carried no session cookie costs no backend call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from starlette.requests import HTTPConnection

from starlette_session.records import dump_json
from starlette_session.session import Session, load_session
from starlette_session.state import FLASHES

if TYPE_CHECKING:
    from pydantic import TypeAdapter

__all__ = ["FlashDependency", "FlashMessage", "Flashes", "get_flashes"]

M = TypeVar("M")
logger = logging.getLogger("starlette_session")


@dataclass(frozen=True)
class FlashMessage(Generic[M]):
    """One flash message: what to show, and its category (``"info"``, ``"error"``, ...)."""

    message: M
    category: str = "info"


class Flashes(Generic[M]):
    """The flash messages of one request's (loaded) session.

    ``add()`` queues a message for the next page; ``pop()`` returns the pending ones and removes
    them (read once); ``peek()`` only looks. With ``model`` (a Pydantic model, or any type
    Pydantic validates), messages are stored as its JSON and read back as instances; a stored
    message that no longer validates is dropped with a warning.
    """

    __slots__ = ("_adapter", "_session")

    def __init__(self, session: Session, model: type[M] | None = None) -> None:
        self._session = session
        self._adapter: TypeAdapter[M] | None = None if model is None else _adapter_for(model)

    def add(self, message: M, category: str = "info") -> None:
        """Queue ``message`` (JSON, or an instance of the model) under ``category``."""
        if not isinstance(category, str) or not category:
            raise ValueError("a flash message's category is a non-empty string")
        stored: Any = message
        if self._adapter is not None:
            stored = self._adapter.dump_python(self._adapter.validate_python(message), mode="json")
        dump_json(stored)  # refused now (TypeError, ValueError) rather than at commit
        pending = self._pending()
        self._write([*pending, [category, stored]])

    def peek(self, *categories: str) -> list[FlashMessage[M]]:
        """The pending messages (of ``categories`` only, if given), left in place."""
        return self._read([entry for entry in self._pending() if _in(entry, categories)])

    def pop(self, *categories: str) -> list[FlashMessage[M]]:
        """The pending messages (of ``categories`` only, if given), removed: shown once.
        Nothing pending: nothing changes, nothing is written."""
        pending = self._pending()
        taken = [entry for entry in pending if _in(entry, categories)]
        if taken:
            self._write([entry for entry in pending if not _in(entry, categories)])
        return self._read(taken)

    def __len__(self) -> int:
        return len(self._pending())

    def __bool__(self) -> bool:
        return bool(self._pending())

    def _pending(self) -> list[list[Any]]:
        found = self._session.state.meta.get(FLASHES)
        if not isinstance(found, list):
            return []
        return [
            entry
            for entry in found
            if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
        ]

    def _write(self, pending: list[list[Any]]) -> None:
        session = self._session
        session.mark_accessed()  # loaded already: only counts it as used
        meta = session.state.meta
        if pending:
            meta[FLASHES] = pending
        else:
            meta.pop(FLASHES, None)
        session.mark_modified()

    def _read(self, entries: list[list[Any]]) -> list[FlashMessage[M]]:
        adapter = self._adapter
        if adapter is None:
            return [FlashMessage(message, category) for category, message in entries]
        from pydantic import ValidationError

        read = []
        for category, message in entries:
            try:
                read.append(FlashMessage(adapter.validate_python(message), category))
            except ValidationError:
                logger.warning("a stored flash message no longer validates; it was dropped")
        return read


_ADAPTERS: dict[Any, Any] = {}


def _adapter_for(model: type[M]) -> TypeAdapter[M]:
    """Pydantic's adapter of ``model``, built once (building one costs far more than a use)."""
    adapter: TypeAdapter[M] | None = _ADAPTERS.get(model)
    if adapter is None:
        from pydantic import TypeAdapter

        adapter = _ADAPTERS[model] = TypeAdapter(model)
    return adapter


def _in(entry: list[Any], categories: tuple[str, ...]) -> bool:
    return not categories or entry[0] in categories


@overload
async def get_flashes(connection: HTTPConnection, model: None = None) -> Flashes[Any]: ...
@overload
async def get_flashes(connection: HTTPConnection, model: type[M]) -> Flashes[M]: ...
async def get_flashes(connection: HTTPConnection, model: type[M] | None = None) -> Flashes[Any]:
    """The flash messages of this request's session (loading it: no backend call when the
    request carried no session cookie)."""
    return Flashes(await load_session(connection), model)


class FlashDependency(Generic[M]):
    """A FastAPI dependency giving the request's :class:`Flashes`, typed as ``model`` if given:
    ``Annotated[Flashes[Note], Depends(FlashDependency(Note))]``."""

    def __init__(self, model: type[M] | None = None) -> None:
        self.model = model
        if model is not None:
            _adapter_for(model)  # a type Pydantic cannot handle is refused now

    async def __call__(self, connection: HTTPConnection) -> Flashes[M]:
        return Flashes(await load_session(connection), self.model)
