"""The commit plan, case by case, with no backend: state + data + status -> what to do."""

from __future__ import annotations

from typing import Any

import pytest

from starlette_session.exceptions import SessionNotSerializableError, SessionTooLargeError
from starlette_session.plan import (
    CommitPlan,
    CommitRules,
    CookieAction,
    Lifetimes,
    Write,
    plan_commit,
)
from starlette_session.records import encode_record
from starlette_session.state import SessionState

NOW = 1_000_000
DAY = 24 * 60 * 60
LIFETIMES = Lifetimes(idle_timeout=14 * DAY, absolute_timeout=None, cookie_max_age=14 * DAY)
RULES = CommitRules(LIFETIMES, max_size=64 * 1024, save_on_error=False, cookie_only=False)
COOKIE_RULES = CommitRules(LIFETIMES, max_size=64 * 1024, save_on_error=False, cookie_only=True)
STORED_META = {"c": NOW - 100, "v": 1}
STORED_DATA = {"cart": ["apple"]}
STORED_RAW = encode_record(STORED_DATA, STORED_META, None)


def new() -> SessionState:
    state = SessionState()
    state.loaded_from(session_id=None, store_key=None, raw=None)
    return state


def existing(*, issued_ago: int = 10, user: str | None = None, **meta: Any) -> SessionState:
    state = SessionState()
    stored_meta = {**STORED_META, **meta, **({"u": user} if user else {})}
    raw = encode_record(STORED_DATA, stored_meta, None)
    state.loaded_from(
        session_id="id",
        store_key="session:key",
        raw=raw,
        meta=stored_meta,
        issued_at=NOW - issued_ago,
    )
    return state


def changed(state: SessionState) -> SessionState:
    state.mark_changed()
    return state


def rotated(state: SessionState) -> SessionState:
    state.request_rotation()
    return state


def destroyed(state: SessionState) -> SessionState:
    state.destroy()
    return state


def with_user(user: str) -> SessionState:
    state = existing()
    state.set_user(user)
    return state


def with_lifetime(seconds: int | None) -> SessionState:
    state = existing()
    state.set_lifetime(seconds)
    return state


def degraded() -> SessionState:
    state = SessionState()
    state.degrade()
    return state


def old_key() -> SessionState:
    state = SessionState()
    state.loaded_from(
        session_id="id",
        store_key="session:old",
        raw=STORED_RAW,
        meta=dict(STORED_META),
        issued_at=NOW,
        key_index=1,
        rotate=True,
    )
    return state


KEEP = (False, Write.NONE, CookieAction.KEEP)
EXPIRE = (True, Write.NONE, CookieAction.EXPIRE)
CASES: list[tuple[str, SessionState, dict[str, Any], int, tuple[bool, Write, CookieAction]]] = [
    # name, state, data at commit, status, (delete_loaded, write, cookie)
    ("new, untouched", new(), {}, 200, KEEP),
    ("new, with data", changed(new()), {"a": 1}, 200, (False, Write.CREATE, CookieAction.NEW_ID)),
    ("new, with data, 5xx", changed(new()), {"a": 1}, 500, KEEP),
    ("new, destroyed", destroyed(new()), {}, 200, KEEP),
    ("existing, read", existing(), STORED_DATA, 200, KEEP),
    ("existing, marked changed, same bytes", changed(existing()), STORED_DATA, 200, KEEP),
    (
        "existing, changed",
        changed(existing()),
        {"cart": []},
        200,
        (False, Write.REPLACE, CookieAction.KEEP),
    ),
    ("existing, changed, 5xx", changed(existing()), {"cart": []}, 503, KEEP),
    ("existing, emptied", changed(existing()), {}, 200, EXPIRE),
    ("existing, emptied, 5xx", changed(existing()), {}, 500, KEEP),
    ("existing, destroyed", destroyed(existing()), {}, 200, EXPIRE),
    ("existing, destroyed, 5xx", destroyed(existing()), {}, 500, EXPIRE),
    (
        "destroyed, then new data",
        destroyed(existing()),
        {"flash": "bye"},
        200,
        (True, Write.CREATE, CookieAction.NEW_ID),
    ),
    ("destroyed, then new data, 5xx", destroyed(existing()), {"flash": "bye"}, 500, EXPIRE),
    ("rotated", rotated(existing()), STORED_DATA, 200, (False, Write.CREATE, CookieAction.NEW_ID)),
    ("rotated, 5xx", rotated(existing()), STORED_DATA, 500, KEEP),
    ("rotated and emptied", rotated(existing()), {}, 200, EXPIRE),
    (
        "signed by an old key",
        old_key(),
        STORED_DATA,
        200,
        (False, Write.CREATE, CookieAction.NEW_ID),
    ),
    (
        "user set on an existing session",
        with_user("ann"),
        STORED_DATA,
        200,
        (False, Write.REPLACE, CookieAction.KEEP),
    ),
    (
        "lifetime changed",
        with_lifetime(30 * DAY),
        STORED_DATA,
        200,
        (False, Write.REPLACE, CookieAction.RESIGN),
    ),
    (
        "cookie past half its max-age",
        existing(issued_ago=8 * DAY),
        STORED_DATA,
        200,
        (False, Write.NONE, CookieAction.REFRESH),
    ),
    ("cookie before half its max-age", existing(issued_ago=6 * DAY), STORED_DATA, 200, KEEP),
    ("degraded, with data", degraded(), {"a": 1}, 200, KEEP),
    (
        "degraded, destroyed",
        destroyed(degraded()),
        {},
        200,
        (False, Write.NONE, CookieAction.EXPIRE),
    ),
]


@pytest.mark.parametrize(
    ("state", "data", "status", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_plan_of_each_case(
    state: SessionState,
    data: dict[str, Any],
    status: int,
    expected: tuple[bool, Write, CookieAction],
) -> None:
    plan = plan_commit(state, data, status, NOW, RULES)
    assert (plan.delete_loaded, plan.write, plan.cookie) == expected


def test_save_on_error_saves_a_5xx_like_any_response() -> None:
    rules = CommitRules(LIFETIMES, max_size=None, save_on_error=True, cookie_only=False)
    plan = plan_commit(changed(existing()), {"cart": []}, 500, NOW, rules)
    assert plan.write is Write.REPLACE


def test_a_write_carries_the_bytes_the_ttl_and_the_creation_time() -> None:
    plan = plan_commit(changed(new()), {"a": 1}, 200, NOW, RULES)
    assert plan.raw == encode_record({"a": 1}, {"c": NOW, "v": 1}, None)
    assert plan.ttl == 14 * DAY
    assert plan.max_age == 14 * DAY


def test_a_change_keeps_the_creation_time_loaded() -> None:
    plan = plan_commit(changed(existing()), {"cart": []}, 200, NOW, RULES)
    assert plan.meta["c"] == NOW - 100


def test_the_user_index_follows_only_a_change_of_user() -> None:
    assert plan_commit(with_user("ann"), STORED_DATA, 200, NOW, RULES).user_changed
    same = existing(user="ann")
    same.set_user("ann")
    assert not plan_commit(changed(same), {"cart": []}, 200, NOW, RULES).user_changed


def test_a_session_lifetime_sets_its_ttl_and_max_age() -> None:
    plan = plan_commit(with_lifetime(30 * DAY), STORED_DATA, 200, NOW, RULES)
    assert (plan.ttl, plan.max_age, plan.payload) == (30 * DAY, 30 * DAY, "id")
    browser = plan_commit(with_lifetime(None), STORED_DATA, 200, NOW, RULES)
    assert (browser.ttl, browser.max_age) == (14 * DAY, None)


def test_the_absolute_timeout_bounds_the_ttl_and_max_age() -> None:
    lifetimes = Lifetimes(idle_timeout=DAY, absolute_timeout=DAY + 50, cookie_max_age=14 * DAY)
    rules = CommitRules(lifetimes, max_size=None, save_on_error=False, cookie_only=False)
    plan = plan_commit(rotated(existing()), {"cart": []}, 200, NOW, rules)
    assert plan.ttl == plan.max_age == DAY + 50 - 100


def test_the_cookie_backend_puts_the_data_in_the_cookie() -> None:
    plan = plan_commit(changed(new()), {"a": 1}, 200, NOW, COOKIE_RULES)
    assert (plan.write, plan.cookie) == (Write.NONE, CookieAction.DATA)
    assert plan.payload == "eyJtIjp7ImMiOjEwMDAwMDAsInYiOjF9LCJkIjp7ImEiOjF9fQ"


def test_the_cookie_backend_re_signs_on_every_use_so_the_idle_timeout_slides() -> None:
    # The cookie's issued-at is the only record of the last use: re-sent at half the idle limit,
    # a session used 17 minutes after its last re-signing would end at 30 minutes of idleness.
    lifetimes = Lifetimes(idle_timeout=1800, absolute_timeout=None, cookie_max_age=14 * DAY)
    rules = CommitRules(lifetimes, max_size=None, save_on_error=False, cookie_only=True)
    assert plan_commit(existing(issued_ago=0), STORED_DATA, 200, NOW, rules).cookie is (
        CookieAction.KEEP
    )
    for seconds in (1, 60, 899, 1020):
        plan = plan_commit(existing(issued_ago=seconds), STORED_DATA, 200, NOW, rules)
        assert plan.cookie is CookieAction.REFRESH


def test_without_an_idle_timeout_the_cookie_backend_refreshes_at_half_its_max_age() -> None:
    lifetimes = Lifetimes(idle_timeout=None, absolute_timeout=30 * DAY, cookie_max_age=14 * DAY)
    rules = CommitRules(lifetimes, max_size=None, save_on_error=False, cookie_only=True)
    assert plan_commit(existing(issued_ago=DAY), STORED_DATA, 200, NOW, rules).cookie is (
        CookieAction.KEEP
    )
    assert plan_commit(existing(issued_ago=8 * DAY), STORED_DATA, 200, NOW, rules).cookie is (
        CookieAction.REFRESH
    )


def test_a_value_json_cannot_hold_or_too_large_a_session_is_refused_before_any_write() -> None:
    with pytest.raises(SessionNotSerializableError):
        plan_commit(changed(existing()), {"bad": object()}, 200, NOW, RULES)
    small = CommitRules(LIFETIMES, max_size=10, save_on_error=False, cookie_only=False)
    with pytest.raises(SessionTooLargeError):
        plan_commit(changed(existing()), {"cart": ["pear"]}, 200, NOW, small)


def test_planning_changes_nothing_it_is_given() -> None:
    state = changed(existing())
    data: dict[str, Any] = {"cart": []}
    before = (state.raw, dict(state.meta), state.session_id, state.store_key, dict(data))

    plan_commit(state, data, 200, NOW, RULES)

    assert (state.raw, state.meta, state.session_id, state.store_key, data) == before


def test_changes_anything_says_whether_the_plan_writes() -> None:
    assert not CommitPlan().changes_anything
    assert CommitPlan(delete_loaded=True).changes_anything
    assert CommitPlan(write=Write.REPLACE).changes_anything
    assert not CommitPlan(cookie=CookieAction.RESIGN).changes_anything
