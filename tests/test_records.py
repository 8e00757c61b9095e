"""The stored envelope {"m": metadata, "d": data}: encoding, decoding and merging."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import logging
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from starlette_session.exceptions import SessionNotSerializableError, SessionTooLargeError
from starlette_session.records import (
    Record,
    decode_record,
    encode_record,
    merge_records,
    same_json,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)


def test_a_record_is_compact_utf8_json_with_data_and_metadata_apart() -> None:
    raw = encode_record({"name": "Zoë"}, {"c": 1}, None)
    assert raw == '{"m":{"c":1},"d":{"name":"Zoë"}}'.encode()


@given(data=st.dictionaries(st.text(), json_values), created=st.integers())
def test_a_record_decodes_to_itself_and_encodes_to_the_same_bytes(
    data: dict[str, Any], created: int
) -> None:
    # The store compares bytes to decide whether anything changed: encoding is deterministic.
    raw = encode_record(data, {"c": created}, None)
    decoded = decode_record(raw)
    assert decoded == Record(data, {"c": created})
    assert encode_record(decoded.data, decoded.meta, None) == raw


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"d": {}}',
        b'{"m": {}}',
        b'{"m": {}, "d": []}',
        b'{"m": [], "d": {}}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=[
        "empty",
        "text",
        "not-utf8",
        "list",
        "no-meta",
        "no-data",
        "data-list",
        "meta-list",
        "deep",
    ],
)
def test_data_that_is_not_a_record_decodes_to_none_with_a_log_line(
    raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "starlette_session.security"):
        assert decode_record(raw) is None
    assert len(caplog.records) == 1


@pytest.mark.parametrize(
    "value", [object(), {1, 2}, b"x", float("nan"), float("inf"), {"nested": [object()]}]
)
def test_a_value_json_cannot_hold_is_refused_naming_its_key(value: object) -> None:
    with pytest.raises(SessionNotSerializableError, match="'bad'") as caught:
        encode_record({"fine": 1, "bad": value}, {}, None)
    assert "nothing was saved" in str(caught.value)


def test_a_session_over_max_size_is_refused_with_its_size() -> None:
    data = {"a": "x" * 100}
    size = len(encode_record(data, {}, None))
    assert encode_record(data, {}, size)
    with pytest.raises(SessionTooLargeError, match=f"{size} bytes, over the limit of {size - 1}"):
        encode_record(data, {}, size - 1)


def test_values_that_cannot_be_stored_are_not_mentioned_in_the_message() -> None:
    with pytest.raises(SessionNotSerializableError) as caught:
        encode_record({"token": {"swordfish"}}, {}, None)
    assert "swordfish" not in str(caught.value)


# Merging two requests' changes


def merged(base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    return merge_records(Record(base, {}), Record(ours, {}), Record(theirs, {})).data


def test_each_side_keeps_the_fields_it_changed() -> None:
    assert merged({"a": 1, "b": 1}, {"a": 2, "b": 1}, {"a": 1, "b": 3}) == {"a": 2, "b": 3}


def test_a_field_changed_by_both_ends_up_with_ours() -> None:
    assert merged({"a": 1}, {"a": 2}, {"a": 3}) == {"a": 2}


def test_additions_of_both_sides_are_kept() -> None:
    assert merged({}, {"a": 1}, {"b": 2}) == {"a": 1, "b": 2}


def test_our_deletions_apply_and_theirs_stay_deleted() -> None:
    assert merged({"a": 1, "b": 1}, {"b": 1}, {"a": 1}) == {}


def test_a_nested_value_is_merged_as_a_whole() -> None:
    base = {"cart": ["apple"]}
    assert merged(base, {"cart": ["apple", "pear"]}, {"cart": ["apple", "plum"]}) == {
        "cart": ["apple", "pear"]
    }


def test_metadata_merges_like_data() -> None:
    result = merge_records(
        Record({}, {"c": 1}), Record({}, {"c": 1, "u": "alice"}), Record({}, {"c": 1, "l": 60})
    )
    assert result.meta == {"c": 1, "u": "alice", "l": 60}


def test_merging_leaves_its_inputs_alone() -> None:
    theirs = {"b": 2}
    merged({}, {"a": 1}, theirs)
    assert theirs == {"b": 2}
    assert json.dumps(theirs) == '{"b": 2}'


# The fast codec (msgspec, when installed) stores and refuses exactly what the standard library
# does: it only writes values whose JSON is the same, and only reads what it reads alike.


class Colour(enum.Enum):
    RED = 1


class Label(str):
    pass


@dataclasses.dataclass
class Point:
    x: int


def _circular() -> list[Any]:
    value: list[Any] = []
    value.append(value)
    return value


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        uuid.UUID(int=1),
        Colour.RED,
        datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc),
        datetime.date(2025, 1, 1),
        decimal.Decimal("1.5"),
        Point(1),
        {1: "a"},
        {"nested": {2: "b"}},
        {Label("k"): 1},
        [float("nan")],
        {"x": float("-inf")},
        "\ud800",
        ["ok", "\udfff"],
        _circular(),
        _nested(100_000),
    ],
    ids=[
        "uuid",
        "enum",
        "datetime",
        "date",
        "decimal",
        "dataclass",
        "int-key",
        "nested-int-key",
        "str-subclass-key",
        "nested-nan",
        "nested-inf",
        "lone-surrogate",
        "nested-lone-surrogate",
        "circular",
        "too-deep",
    ],
)
def test_what_json_cannot_hold_exactly_is_refused_whatever_the_codec(value: object) -> None:
    with pytest.raises(SessionNotSerializableError, match="'bad'"):
        encode_record({"fine": 1, "bad": value}, {}, None)


@given(data=st.dictionaries(st.text(), json_values))
def test_the_bytes_stored_mean_what_the_standard_library_would_store(data: dict[str, Any]) -> None:
    raw = encode_record(data, {"c": 1}, None)
    assert json.loads(raw) == json.loads(json.dumps({"m": {"c": 1}, "d": data}))


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (2**70, b"1180591620717411303424"),
        (-(2**70), b"-1180591620717411303424"),
        (300 * [[]], b"[" + b",".join(300 * [b"[]"]) + b"]"),
        (_nested(300), b"[" * 301 + b"]" * 301),
        (Label("text"), b'"text"'),
        (True, b"true"),
        (1.0, b"1.0"),
        ((1, 2), b"[1,2]"),
    ],
    ids=["big-int", "big-negative-int", "wide", "deep", "str-subclass", "bool", "float", "tuple"],
)
def test_values_json_holds_are_stored_and_read_back_exactly(value: Any, stored: bytes) -> None:
    raw = encode_record({"v": value}, {}, None)
    assert raw == b'{"m":{},"d":{"v":' + stored + b"}}"
    decoded = decode_record(raw)
    assert decoded is not None
    assert decoded.data["v"] == (list(value) if isinstance(value, tuple) else value)
    assert type(decoded.data["v"]) is type(json.loads(stored))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"m":{},"d":{"a":NaN}}',
        b'{"m":{},"d":{"a":Infinity}}',
        b'{"m":{},"d":{"a":1e400}}',
        b'{"m":{},"d":{"a":-1e400}}',
    ],
    ids=["nan", "infinity", "overflow", "negative-overflow"],
)
def test_numbers_that_could_not_be_written_back_are_not_read(raw: bytes) -> None:
    assert decode_record(raw) is None


def test_a_lone_surrogate_escape_reads_as_the_standard_library_reads_it() -> None:
    decoded = decode_record(b'{"m":{},"d":{"a":"\\ud800"}}')
    assert decoded is not None
    assert decoded.data == {"a": "\ud800"}
    with pytest.raises(SessionNotSerializableError, match="'a'"):
        encode_record(decoded.data, {}, None)


def test_integers_of_any_size_are_read_exactly() -> None:
    decoded = decode_record(b'{"m":{},"d":{"a":123456789012345678901234567890}}')
    assert decoded is not None
    assert decoded.data["a"] == 123456789012345678901234567890


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        (1, 1, True),
        (1, 1.0, False),
        (1, True, False),
        (0, False, False),
        (None, float("nan"), False),
        (float("nan"), float("nan"), False),
        (
            "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7"),
            False,
        ),
        (1, Colour.RED, False),
        ({"a": [1, 2]}, {"a": (1, 2)}, True),
        (2**70, 2**70, True),
    ],
)
def test_same_json_compares_values_as_stored(first: Any, second: Any, same: bool) -> None:
    assert same_json(first, second) is same
