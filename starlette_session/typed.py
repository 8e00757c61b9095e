"""Typed views of a session: the session's data validated as a Pydantic model.

Each model used in a request is validated once; its dump at that moment is the snapshot, and at
commit (or whenever the data is read as a dict) a dump that differs from the snapshot is copied
into the session's data. Stored data that no longer validates is migrated by the store's
``migrate`` hook, or dropped for a fresh session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from starlette_session.exceptions import SessionSetupError
from starlette_session.state import StatefulDict

__all__ = ["Migrate", "TypedViews"]

M = TypeVar("M")
Migrate = Callable[[dict[str, Any]], dict[str, Any] | None]
security_logger = logging.getLogger("starlette_session.security")


class TypedViews:
    """Validates, caches and syncs the model instances of sessions."""

    def __init__(self, migrate: Migrate | None) -> None:
        self.migrate = migrate

    def view(self, session: StatefulDict, model: type[M]) -> M:
        """The instance of ``model`` for this session (validated on first use)."""
        state = session.state
        models = state.models
        if models is None:
            models = state.models = {}
        if model in models:
            return models[model][0]  # type: ignore[no-any-return]
        instance = self._validate(session, model)
        models[model] = (instance, _dump(instance))
        return instance

    def sync(self, session: StatefulDict) -> None:
        """Copy changes made to the model instances into the session's data."""
        state = session.state
        if not state.models:
            return
        for model, (instance, snapshot) in state.models.items():
            dumped = _dump(instance)
            if dumped != snapshot:
                dict.update(session, dumped)
                state.models[model] = (instance, dumped)
                state.mark_changed()

    def _validate(self, session: StatefulDict, model: type[M]) -> M:
        from pydantic import ValidationError

        validate: Callable[[Any], M] = model.model_validate  # type: ignore[attr-defined]
        try:
            return validate(dict.copy(session))
        except ValidationError as error:
            if not dict.__len__(session):
                raise SessionSetupError(
                    f"{model.__name__} cannot be built from an empty session: give every field "
                    "a default"
                ) from None
            security_logger.warning(
                "stored session data does not validate against %s (%d errors)",
                model.__name__,
                error.error_count(),
            )
        migrated = self.migrate(dict.copy(session)) if self.migrate is not None else None
        state = session.state
        if migrated is not None:
            try:
                instance = validate(migrated)
            except ValidationError:
                security_logger.warning("migrated session data does not validate either")
            else:
                dict.clear(session)
                dict.update(session, migrated)
                state.mark_changed()
                return instance
        dict.clear(session)
        if not state.is_new:
            state.request_rotation()
        return validate({})


def _dump(instance: Any) -> Any:
    return instance.model_dump(mode="json", by_alias=True)
