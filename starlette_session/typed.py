"""Typed views: a session's data validated as Pydantic models once per request, snapshotted,
and at the commit only the fields whose stored form changed copied back, so the field merge keeps
other requests' changes (see "Saving" in docs/fastapi.md). ``check_model`` refuses a model whose
stored form would not read back; data that no longer validates goes through ``migrate``."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar
from uuid import UUID

from starlette_session.exceptions import SessionNotSerializableError, SessionSetupError
from starlette_session.records import load_json, same_json
from starlette_session.state import StatefulDict

__all__ = ["Migrate", "TypedViews", "check_model"]

M = TypeVar("M")
Migrate = Callable[[dict[str, Any]], dict[str, Any] | None]
_Fields = dict[str, Any]
security_logger = logging.getLogger("starlette_session.security")

_MISSING = object()
_EXACT = frozenset((str, int, bool, type(None)))  # == tells their JSON apart (not float: -0.0)
# Types whose JSON never holds a null standing for a NaN (Decimal writes NaN as a string).
_LEAVES: frozenset[type] = frozenset(
    (str, int, bool, type(None), bytes, datetime, date, time, timedelta, UUID, Decimal)
)
_IMMUTABLE_TYPES = (*_LEAVES, float, Enum)
_ITERABLES = frozenset((list, tuple, set, frozenset))
_FIELD_KINDS = "See 'Field kinds' in docs/fastapi.md."

#: Model -> whether its stored form is checked at each save (custom serializers); all checked.
_ROUND_TRIPS: dict[type[Any], bool] = {}
#: Models whose fields all hold immutable values: they change only by assignment.
_IMMUTABLE: set[type[Any]] = set()
#: Immutable models without custom serializers: field name -> the key it is stored under.
_KEYS: dict[type[Any], dict[str, str]] = {}
_BY_ALIAS: dict[str, Any] = {"by_alias": True}
#: The serializer's options of models that need more than ``by_alias`` (computed fields).
_OPTIONS: dict[type[Any], dict[str, Any]] = {}


class _Snapshot:
    """A model's state when last synced: a copy of its ``__dict__`` (``values``) for one in
    ``_IMMUTABLE``; else its ``json`` (None when a NaN may show as ``null``: then ``fields``, its
    dump, is compared field by field)."""

    __slots__ = ("fields", "json", "values")

    def __init__(
        self, json: bytes | None, fields: _Fields | None = None, values: _Fields | None = None
    ) -> None:
        self.json = json
        self.fields = fields
        self.values = values

    @classmethod
    def of(cls, instance: Any) -> _Snapshot:
        if type(instance) in _IMMUTABLE:
            return cls(None, None, instance.__dict__.copy())
        json = _json(instance)
        return cls(json, None if json is not None else _dump(instance))

    def changes(self, instance: Any) -> dict[str, str | int | bool | None] | None:
        """The fields changed since the snapshot, when the values tell it (immutable fields,
        each the same object or of an ``_EXACT`` type before and after); ``{}``: unchanged.
        None: compare the stored forms."""
        values = self.values
        if values is None:
            return None
        now = instance.__dict__
        if len(now) != len(values):
            return None
        changes: dict[str, Any] = {}
        for name, value in now.items():
            old = values.get(name, _MISSING)
            if value is old:
                continue
            kind = type(value)
            if kind not in _EXACT or type(old) not in _EXACT:
                return None
            if kind is not type(old) or value != old:
                changes[name] = value
        if changes and type(instance) not in _KEYS:  # custom serializers: dump to store
            return None
        return changes

    def dumped(self, instance: Any) -> dict[str, Any]:
        """The fields as they were stored (parsed or dumped when a change first needs them)."""
        if self.fields is None:
            if self.json is not None:
                self.fields = load_json(self.json)
            else:  # immutable values: the instance as it was, dumped
                assert self.values is not None  # noqa: S101 - one of the three is always set
                before = instance.__copy__()
                object.__setattr__(before, "__dict__", dict(self.values))
                self.fields = _dump(before)
        return self.fields


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
        if model not in _ROUND_TRIPS:
            check_model(model)
        instance = self._validate(session, model)
        models[model] = (instance, _Snapshot.of(instance))
        return instance

    def sync(self, session: StatefulDict) -> None:
        """Copy the fields changed on the instances since they were validated (or last synced)
        into the session's data, and take them as the new snapshot."""
        state = session.state
        if not state.models:
            return
        for model, (instance, snapshot) in state.models.items():
            changes = snapshot.changes(instance)
            if changes is not None:
                if changes:  # each a str, int, bool or None: stored as it is
                    keys = _KEYS[model]
                    for name, value in changes.items():
                        dict.__setitem__(session, keys[name], value)
                    state.models[model] = (instance, _Snapshot.of(instance))
                    state.mark_changed()
                continue
            json = None if snapshot.values is not None else _json(instance)
            if json is not None and json == snapshot.json:
                continue
            try:
                dumped = _dump(instance)
            except ValueError as error:  # bytes that are not UTF-8, a serializer that failed
                raise SessionNotSerializableError(
                    f"{model.__name__} cannot be stored as JSON ({type(error).__name__}); "
                    f"nothing was saved. {_FIELD_KINDS}"
                ) from None
            if _ROUND_TRIPS.get(model):
                _check_round_trip(model, instance, dumped)
            old = snapshot.dumped(instance)
            changed = False
            for name, value in dumped.items():
                if name not in old or not _same(value, old[name]):
                    dict.__setitem__(session, name, value)
                    changed = True
            values = instance.__dict__.copy() if model in _IMMUTABLE else None
            state.models[model] = (instance, _Snapshot(json, None if json else dumped, values))
            if changed:
                state.mark_changed()

    def changed_since_sync(self, session: StatefulDict) -> list[type[Any]] | None:
        """The models changed since the last sync (the commit's): too late to be saved. None
        when there are none (the usual case, which allocates nothing)."""
        models = session.state.models
        changed = None
        for model in models or ():
            instance, snapshot = models[model]  # type: ignore[index]
            if snapshot.changes(instance) != {} and _changed(instance, snapshot):
                changed = [*(changed or ()), model]
        return changed

    def rebase(self, session: StatefulDict) -> None:
        """Take the instances as they are as the snapshot: only later changes are synced (after
        ``regenerate(keep=...)``, ``destroy()`` or a reset dropped keys they still show)."""
        models = session.state.models
        for model, (instance, _) in (models or {}).items():
            models[model] = (instance, _Snapshot.of(instance))  # type: ignore[index]

    def _validate(self, session: StatefulDict, model: type[M]) -> M:
        from pydantic import ValidationError

        validate: Callable[[Any], M] = model.model_validate  # type: ignore[attr-defined]
        try:
            return validate(dict(dict.items(session)))
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
        state.reset()
        self.rebase(session)  # the models validated before hold the old data: never written
        return validate({})


def _same(value: Any, old: Any) -> bool:
    """Whether a field's dumped value is stored as it was."""
    kind = type(value)
    if kind is type(old) and kind in _EXACT:
        return bool(value == old)
    return same_json(value, old)


def _changed(instance: Any, snapshot: _Snapshot) -> bool:
    """Whether a field of ``instance`` is stored differently from ``snapshot``."""
    json = _json(instance)
    if json is not None and json == snapshot.json:
        return False
    try:
        dumped = _dump(instance)
    except ValueError:  # it cannot be stored any more: it did change
        return True
    old = snapshot.dumped(instance)
    return any(name not in old or not _same(value, old[name]) for name, value in dumped.items())


def _dump(instance: Any) -> dict[str, Any]:
    options = _OPTIONS.get(type(instance), _BY_ALIAS)
    return instance.model_dump(mode="json", **options)  # type: ignore[no-any-return]


def _json(instance: Any) -> bytes | None:
    """The instance as JSON, to compare; None when it may not be stored as it shows (Pydantic
    writes NaN and infinities as ``null``)."""
    try:
        if type(instance) in _OPTIONS:
            options = _OPTIONS[type(instance)]
            json: bytes = instance.__pydantic_serializer__.to_json(instance, **options)
        else:  # keyword arguments, not a dict unpacked: the usual case, on every request
            json = instance.__pydantic_serializer__.to_json(instance, by_alias=True)
    except (ValueError, TypeError, RecursionError):  # PydanticSerializationError is a ValueError
        return None
    if b"null" in json and not _finite(instance):
        return None
    return json


def _finite(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` surely holds no NaN nor infinity: False for what it cannot look into."""
    kind = type(value)
    if kind in _LEAVES:
        return True
    if kind is float:
        return math.isfinite(value)
    if depth > 32:
        return False
    if isinstance(value, Enum):
        return _finite(value.value, depth + 1)
    if kind is dict:
        return all(_finite(item, depth + 1) for item in value.values())
    if kind in _ITERABLES:
        return all(_finite(item, depth + 1) for item in value)
    fields = getattr(value, "__pydantic_fields__", None)  # a model: its fields and extras
    if fields is None or not isinstance(vars(value), dict):
        return False
    extra = getattr(value, "__pydantic_extra__", None) or {}
    return _finite(vars(value), depth + 1) and _finite(extra, depth + 1)


# What a model stores must read back as the same values


def check_model(model: type[Any]) -> None:
    """Refuse ``model`` (:class:`SessionSetupError`, naming each field) when what it stores
    would not validate back to the same values; called when a store or dependency is built
    with it, else at its first use. Computed fields are left out of what is stored."""
    if model in _ROUND_TRIPS:
        return
    problems: list[str] = []
    _static_problems(model, "", problems, set())
    if problems:
        raise SessionSetupError(
            f"{model.__name__} cannot be kept in a session: what it stores would not read back "
            f"as the same values. {'; '.join(problems)}. {_FIELD_KINDS}"
        )
    schema = model.__pydantic_core_schema__
    if _excludes_computed() and _in_schema(schema, lambda node: bool(node.get("computed_fields"))):
        _OPTIONS[model] = {**_BY_ALIAS, "exclude_computed_fields": True}  # slower: only if any
    custom = _in_schema(schema, _custom_serializer)
    extras = model.model_config.get("extra") == "allow"
    if not extras and all(_immutable(info.annotation) for info in model.model_fields.values()):
        _IMMUTABLE.add(model)
        if not custom:
            _KEYS[model] = {
                name: info.serialization_alias or info.alias or name
                for name, info in model.model_fields.items()
            }
    _ROUND_TRIPS[model] = custom


@functools.cache
def _excludes_computed() -> bool:
    """Whether this Pydantic can leave computed fields out of a dump (2.12 and later)."""
    import inspect

    from pydantic import BaseModel

    return "exclude_computed_fields" in inspect.signature(BaseModel.model_dump).parameters


def _static_problems(model: type[Any], path: str, problems: list[str], seen: set[type]) -> None:
    from pydantic import BaseModel, SecretBytes, SecretStr

    seen.add(model)
    config = model.model_config
    serialized = {
        field
        for decorator in model.__pydantic_decorators__.field_serializers.values()
        for field in decorator.info.fields
    }
    if not _excludes_computed() and config.get("extra") == "forbid":
        for name in model.__pydantic_decorators__.computed_fields:
            problems.append(
                f"computed field {path}{name!r} is stored, and extra='forbid' refuses it when read "
                "back (pydantic 2.12 or later leaves it out)"
            )
    for name, info in model.model_fields.items():
        where = f"{path}{name}"
        if info.exclude:
            problems.append(
                f"field {where!r} has exclude=True, so it would read back as its default: remove "
                "exclude=True, or keep the value out of the session model"
            )
        key = info.serialization_alias or info.alias or name
        if key not in _accepted_keys(config, name, info):
            problems.append(
                f"field {where!r} is stored under {key!r}, which validation does not read: add "
                f"validation_alias={key!r} (or AliasChoices), or drop the serialization alias"
            )
        for kind in _types_in(info.annotation):
            if issubclass(kind, (SecretStr, SecretBytes)) and name not in serialized:
                problems.append(
                    f"field {where!r} ({kind.__name__}) is stored as '**********': add a "
                    "field_serializer returning get_secret_value(), or keep it out of the session"
                )
            elif issubclass(kind, BaseModel) and kind not in seen:
                _static_problems(kind, f"{where}.", problems, seen)


def _accepted_keys(config: Any, name: str, info: Any) -> set[str]:
    """The keys validation reads a field from."""
    from pydantic import AliasChoices, AliasPath

    keys: set[str] = set()
    alias = info.validation_alias if info.validation_alias is not None else info.alias
    for choice in alias.choices if isinstance(alias, AliasChoices) else [alias]:
        if isinstance(choice, str):
            keys.add(choice)
        elif isinstance(choice, AliasPath) and len(choice.path) == 1:
            keys.add(str(choice.path[0]))
    if alias is None or config.get("populate_by_name") or config.get("validate_by_name"):
        keys.add(name)
    return keys


def _types_in(annotation: Any, depth: int = 0) -> list[type]:
    """The classes named in a field's annotation (``list[Item] | None`` -> list, Item, None)."""
    import typing

    if depth > 16:
        return []
    found: list[type] = []
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and origin is None:
        found.append(annotation)
    elif isinstance(origin, type):
        found.append(origin)
    for argument in typing.get_args(annotation):
        found.extend(_types_in(argument, depth + 1))
    return found


def _in_schema(schema: Any, found: Callable[[dict[str, Any]], bool], depth: int = 0) -> bool:
    """Whether ``found`` holds for a node of a core schema (True when too deep to tell)."""
    if depth > 64:
        return True
    if isinstance(schema, dict):
        if found(schema):
            return True
        schema = list(schema.values())
    return isinstance(schema, list) and any(_in_schema(item, found, depth + 1) for item in schema)


def _custom_serializer(node: dict[str, Any]) -> bool:
    """A serializer function (field_serializer, model_serializer, PlainSerializer, ...): what
    it stores can only be checked value by value."""
    serialization = node.get("serialization")
    return isinstance(serialization, dict) and str(serialization.get("type")).startswith("function")


def _immutable(annotation: Any, depth: int = 0) -> bool:
    """Whether a field of this annotation can only hold immutable values."""
    import types
    import typing

    if depth > 16:
        return False
    origin = typing.get_origin(annotation)
    if origin is None:
        return isinstance(annotation, type) and issubclass(annotation, _IMMUTABLE_TYPES)
    if origin is typing.Literal:
        return True
    arguments = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _immutable(arguments[0], depth + 1)
    if origin in (typing.Union, types.UnionType, tuple, frozenset):
        return all(
            argument is Ellipsis or _immutable(argument, depth + 1) for argument in arguments
        )
    return False


def _check_round_trip(model: type[Any], instance: Any, dumped: dict[str, Any]) -> None:
    """Refuse to store ``dumped`` unless it validates back to ``instance``'s values."""
    from pydantic import ValidationError

    try:
        back = model.model_validate(dumped)
    except ValidationError as error:  # named by field, never by value (it may be a secret)
        fields = ", ".join(sorted({".".join(map(str, e["loc"])) for e in error.errors()}))
        raise SessionSetupError(
            f"{model.__name__} cannot be kept in a session: what it stores for {fields} does "
            f"not validate back; a serializer must return what the field accepts. {_FIELD_KINDS}"
        ) from None
    fields = type(instance).model_fields
    differ = [name for name in fields if getattr(back, name, None) != getattr(instance, name, None)]
    if differ:
        raise SessionSetupError(
            f"{model.__name__} cannot be kept in a session: field {', '.join(map(repr, differ))} "
            "would read back as another value (a serializer for display, not storage?); "
            f"serialize to what validates back to the same value. {_FIELD_KINDS}"
        )
