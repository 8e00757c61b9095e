"""The "your active sessions" page: each device of the user (browser, network, last use), this
browser marked, and a button that logs one other device out."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from examples.fastapi_app.devices import describe_device

ALICE = {"username": "alice", "password": "wonderland"}
BOB = {"username": "bob", "password": "builder"}
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def devices(page: str) -> list[tuple[str, str]]:
    """Each row of the page: (its fingerprint, its text)."""
    rows = re.findall(
        r'<li class="card device" data-fingerprint="([0-9a-f]{8})">(.*?)</li>',
        page,
        flags=re.DOTALL,
    )
    return [
        (fingerprint, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)).strip())
        for fingerprint, text in rows
    ]


def log_in_as(client: TestClient, account: dict[str, str], agent: str) -> str:
    """Log in with a fresh cookie jar and this user agent; return the session cookie."""
    client.cookies.clear()
    client.headers["user-agent"] = agent
    client.post("/login", data=account)
    return client.cookies["session"]


def use(client: TestClient, cookie: str, agent: str) -> None:
    client.cookies.clear()
    client.cookies.set("session", cookie)
    client.headers["user-agent"] = agent


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        (FIREFOX_LINUX, "Firefox on Linux"),
        (SAFARI_IPHONE, "Safari on iOS"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36 Edg/126.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/130.0 Safari/537.36",
            "Headless Chrome on Linux",
        ),
        ("curl/8.5.0", "curl"),
        ("", "Unknown device"),
        (None, "Unknown device"),
    ],
)
def test_devices_are_named_from_their_user_agent(agent: str | None, name: str) -> None:
    assert describe_device(agent) == name


def test_the_page_lists_each_device_and_marks_this_one(client: TestClient) -> None:
    phone = log_in_as(client, ALICE, SAFARI_IPHONE)
    laptop = log_in_as(client, ALICE, FIREFOX_LINUX)

    page = client.get("/sessions").text

    rows = devices(page)  # most recently used first (both were used this second here)
    assert len(rows) == 2
    texts = " | ".join(text for _, text in rows)
    assert "Firefox on Linux (this browser)" in texts
    assert "Safari on iOS" in texts
    assert "last used now" in texts
    assert texts.count("Log out") == 2  # this one logs out, the other is ended
    for cookie in (phone, laptop):
        assert cookie.split(".")[0] not in page  # never an id, never a store key
    assert "session:" not in page


def test_log_out_another_device(client: TestClient) -> None:
    phone = log_in_as(client, ALICE, SAFARI_IPHONE)
    laptop = log_in_as(client, ALICE, FIREFOX_LINUX)
    other = next(
        fingerprint
        for fingerprint, text in devices(client.get("/sessions").text)
        if "this browser" not in text
    )

    page = client.post("/sessions/revoke", data={"fingerprint": other}).text

    assert "Logged out Safari on iOS (unknown network)." in page
    (remaining,) = devices(page)
    assert remaining[1].startswith("Firefox on Linux (this browser)")
    use(client, phone, SAFARI_IPHONE)
    assert "Signed in as" not in client.get("/").text  # the phone's session has ended
    use(client, laptop, FIREFOX_LINUX)
    assert "Signed in as <strong>alice</strong>" in client.get("/").text
    again = client.post("/sessions/revoke", data={"fingerprint": other}).text
    assert "That session has already ended." in again


def test_another_users_session_cannot_be_ended(client: TestClient) -> None:
    log_in_as(client, BOB, FIREFOX_LINUX)
    bobs = devices(client.get("/sessions").text)[0][0]
    alice = log_in_as(client, ALICE, FIREFOX_LINUX)

    page = client.post("/sessions/revoke", data={"fingerprint": bobs}).text

    assert "That session has already ended." in page
    log_in_as(client, BOB, SAFARI_IPHONE)  # bob's first session is still there
    assert len(devices(client.get("/sessions").text)) == 2
    use(client, alice, FIREFOX_LINUX)
    own = devices(client.get("/sessions").text)[0][0]
    # This browser's own row has no revoke button: posting its fingerprint changes nothing.
    assert (
        "That session has already ended."
        in client.post("/sessions/revoke", data={"fingerprint": own}).text
    )
    assert "Signed in as <strong>alice</strong>" in client.get("/").text


def test_the_page_and_the_button_need_a_log_in(client: TestClient) -> None:
    for response in (
        client.get("/sessions", follow_redirects=False),
        client.post("/sessions/revoke", data={"fingerprint": "0" * 8}, follow_redirects=False),
    ):
        assert (response.status_code, response.headers["location"]) == (303, "/login")


def test_the_panel_links_to_the_page(client: TestClient) -> None:
    client.post("/login", data=ALICE)
    assert 'href="/sessions" id="manage-sessions"' in client.get("/").text
