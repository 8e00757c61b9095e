"""The stored envelope {"m": metadata, "d": data}: encoding, decoding and merging."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from starlette_session.exceptions import SessionNotSerializableError, SessionTooLargeError
from starlette_session.records import Record, decode_record, encode_record, merge_records

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
