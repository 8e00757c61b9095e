"""Typed views of a session: the session's data validated as a Pydantic model.

Each model used in a request is validated once; its dump at that moment is the snapshot. At
commit (or whenever the data is read as a dict), a dump that differs from the snapshot, compared
as stored (JSON: ``1``, ``1.0`` and ``True`` differ), is copied into the session's data. Stored
data that no longer validates, or whose validation raises, is migrated by the store's
``migrate`` hook, or dropped for a fresh session with one log line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from starlette_session.exceptions import SessionSetupError
from starlette_session.records import dump_json, same_json
from starlette_session.state import StatefulDict

__all__ = ["Migrate", "TypedViews"]

M = TypeVar("M")
Migrate = Callable[[dict[str, Any]], dict[str, Any] | None]
security_logger = logging.getLogger("starlette_session.security")


class _Snapshot:
    """A model's dump when last synced, and its JSON for a quick comparison. ``left_out``: the
    fields not copied back unless they change (those ``regenerate(keep=...)`` dropped)."""

    __slots__ = ("fields", "left_out", "text")

    def __init__(self, fields: dict[str, Any], left_out: frozenset[str] = frozenset()) -> None:
        self.fields = fields
        self.left_out = left_out
        try:
            self.text: str | None = dump_json(fields)
        except (TypeError, ValueError, RecursionError):
            self.text = None  # compared field by field; the commit names the bad field


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
        models[model] = (instance, _Snapshot(_dump(instance)))
        return instance

    def sync(self, session: StatefulDict) -> None:
        """Copy the fields changed on the model instances into the session's data."""
        state = session.state
        if not state.models:
            return
        for model, (instance, snapshot) in state.models.items():
            dumped = _dump(instance)
            current = _Snapshot(dumped, snapshot.left_out)
            if current.text is not None and current.text == snapshot.text:
                continue
            old, left_out = snapshot.fields, snapshot.left_out
            for name, value in dumped.items():
                if name not in left_out or name not in old or not same_json(value, old[name]):
                    dict.__setitem__(session, name, value)
            state.models[model] = (instance, current)
            state.mark_changed()

    def rebase(self, session: StatefulDict) -> None:
        """Take the instances as they are now as the snapshot: only later changes are synced
        (after ``regenerate(keep=...)`` dropped keys the instances still show)."""
        models = session.state.models
        for model, (instance, _) in (models or {}).items():
            dumped = _dump(instance)
            left_out = frozenset(name for name in dumped if not dict.__contains__(session, name))
            models[model] = (instance, _Snapshot(dumped, left_out))  # type: ignore[index]

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
            problem = f"{error.error_count()} validation errors"
        except Exception as error:  # a validator that fails on old data: the data is bad
            if not dict.__len__(session):
                raise
            problem = f"the model raised {type(error).__name__}"
        migrated = None
        if self.migrate is not None:
            try:
                migrated = self.migrate(dict.copy(session))
            except Exception as error:
                problem += f"; the migrate hook raised {type(error).__name__}"
        state = session.state
        if migrated is not None:
            try:
                instance = validate(migrated)
            except Exception as error:
                problem += f"; migrated data failed too ({type(error).__name__})"
            else:
                dict.clear(session)
                dict.update(session, migrated)
                state.mark_changed()
                return instance
        security_logger.warning(
            "stored session data does not validate against %s (%s); starting a fresh session",
            model.__name__,
            problem,
        )
        dict.clear(session)
        if not state.is_new:
            state.request_rotation()
        return validate({})


def _dump(instance: Any) -> dict[str, Any]:
    return instance.model_dump(mode="json", by_alias=True)  # type: ignore[no-any-return]
