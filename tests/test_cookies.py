"""CookieSettings (checked at start-up), the Set-Cookie builder, and the Cookie header reader."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from starlette_session import SessionMiddleware, SessionSettingsError, SessionStore
from starlette_session.cookies import (
    MAX_COOKIE_AGE,
    CookieSettings,
    read_cookie,
    read_session_cookies,
)
from tests.helpers import SECRET, cookie_attributes, make_app


def test_the_defaults_build_an_http_only_lax_cookie_for_the_whole_site() -> None:
    assert CookieSettings().set_cookie("v", 60) == (
        b"session=v; Max-Age=60; Path=/; HttpOnly; SameSite=Lax"
    )


def test_every_flag_in_one_header() -> None:
    settings = CookieSettings(
        name="__Secure-sid",
        path="/app",
        domain="example.com",
        secure=True,
        same_site="none",
        partitioned=True,
    )
    assert settings.set_cookie("v", 60) == (
        b"__Secure-sid=v; Max-Age=60; Path=/app; Domain=example.com; HttpOnly; SameSite=None; "
        b"Secure; Partitioned"
    )


def test_no_max_age_makes_a_browser_session_cookie() -> None:
    assert b"Max-Age" not in CookieSettings().set_cookie("v", None)


def test_the_expiring_header_keeps_path_and_domain() -> None:
    settings = CookieSettings(path="/app", domain="example.com", http_only=False)
    assert settings.expire_cookie() == (
        b"session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/app; "
        b"Domain=example.com; SameSite=Lax"
    )


def test_max_age_is_capped_at_400_days() -> None:
    assert CookieSettings(max_age=10**9).max_age == MAX_COOKIE_AGE
    assert f"Max-Age={MAX_COOKIE_AGE};".encode() in CookieSettings().set_cookie("v", 10**9)


def test_a_host_prefixed_cookie_that_browsers_accept() -> None:
    assert CookieSettings(name="__Host-session", secure=True).name == "__Host-session"


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"name": "bad name"}, "not a valid cookie name"),
        ({"name": "a;b"}, "not a valid cookie name"),
        ({"name": ""}, "not a valid cookie name"),
        ({"name": "__Host-s"}, "__Host- cookie"),
        ({"name": "__Host-s", "secure": True, "path": "/app"}, "__Host- cookie"),
        ({"name": "__Host-s", "secure": True, "domain": "example.com"}, "__Host- cookie"),
        ({"name": "__Secure-s"}, "__Secure- cookie"),
        ({"same_site": "sometimes"}, "same_site must be"),
        ({"same_site": "none"}, "needs https_only=True"),
        ({"partitioned": True}, "partitioned=True needs"),
        ({"path": "app"}, "must start with '/'"),
        ({"path": "/a;b"}, "must start with '/'"),
        ({"path": "/a\nb"}, "must start with '/'"),
        ({"domain": "example.com; Secure"}, "domain"),
        ({"domain": "exa mple.com"}, "domain"),
        ({"domain": ""}, "domain must not be empty"),
        ({"max_age": -1}, "max_age must be 0 or more"),
    ],
)
def test_settings_a_browser_would_refuse_fail_at_start_up(
    options: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        CookieSettings(**options)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValueError, match=r"same_site='none'.*partitioned=True"):
        CookieSettings(same_site="none", partitioned=True)


# The Domain attribute: refused unless it can match a host name, since a browser drops a cookie
# whose Domain does not match the request's host, and every request is then a new session.


def app_with_domain(domain: str) -> Starlette:
    return make_app(SessionStore(), domain=domain)


REFUSED_DOMAINS = {
    "example.com:8443": "holds a port",
    "localhost:8000": "holds a port",
    "https://example.com": "is a URL",
    "http://example.com/": "is a URL",
    "example.com/app": "holds a path",
    "example.com?x=1": "holds a path",
    "exa mple.com": "a space",
    " example.com": "a space",
    "example.com\t": "a control character",
    "example..com": "not a host name",
    "..example.com": "not a host name",
    "example.com.": "not a host name",
    ".": "not a host name",
    "*.example.com": "not a host name",
    "user@example.com": "not a host name",
    "exa_mple$.com": "not a host name",
    "a" * 64 + ".example": "not a host name",
    ".".join(["a" * 60] * 5): "not a host name",
    "::1": "in brackets",
    "[example.com]": "not an IPv6 address",
}


@pytest.mark.parametrize(("domain", "problem"), REFUSED_DOMAINS.items())
def test_a_cookie_domain_no_browser_accepts_is_refused_at_start_up(
    domain: str, problem: str
) -> None:
    with pytest.raises(SessionSettingsError, match=problem) as refused:
        SessionMiddleware(Starlette(), secret_key=SECRET, domain=domain)
    assert isinstance(refused.value, ValueError)  # as every invalid cookie setting was before
    with pytest.raises(SessionSettingsError, match=problem), TestClient(app_with_domain(domain)):
        pass


ACCEPTED_DOMAINS = {
    "example.com": "example.com",
    ".example.com": ".example.com",
    "Sub.Example.COM": "Sub.Example.COM",
    "localhost": "localhost",
    "my-app.internal": "my-app.internal",
    "_dmarc.example.com": "_dmarc.example.com",
    "xn--bcher-kva.example": "xn--bcher-kva.example",
    "bücher.example": "xn--bcher-kva.example",
    ".münchen.de": ".xn--mnchen-3ya.de",
    "127.0.0.1": "127.0.0.1",
    "[::1]": "[::1]",
    "a" * 63 + ".example": "a" * 63 + ".example",
}


@pytest.mark.parametrize(("domain", "sent"), ACCEPTED_DOMAINS.items())
def test_a_domain_that_can_match_a_host_name_is_sent_over_http(domain: str, sent: str) -> None:
    with TestClient(app_with_domain(domain)) as client:
        response = client.get("/set", params={"a": "1"})
    assert cookie_attributes(response)["domain"] == sent


# The reader


def cookie(*headers: bytes, name: bytes = b"session") -> str | None:
    return read_cookie([(b"host", b"example.com"), *((b"cookie", h) for h in headers)], name)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"session=abc", "abc"),
        (b"a=1; session=abc; b=2", "abc"),
        (b"a=1;session=abc", "abc"),
        (b"session=abc; session=def", "abc"),
        (b'session="abc"', "abc"),
        (b"session=", ""),
        (b"session= abc ", "abc"),
        (b"mysession=abc", None),
        (b"session_id=abc", None),
        (b"mysession=abc; session=def", "def"),
        (b"a=session=abc", None),
        (b"other=1", None),
        ("session=abé".encode(), None),
        # A name inside another cookie's value is part of that value (RFC 6265, 5.4).
        (b"pref=x session=forged; session=real", "real"),
        (b"pref=x session=forged", None),
        (b"pref=x\tsession=forged; session=real", "real"),
        (b"a=b,session=forged; session=real", "real"),
        (b"pref=x __Host-session=forged; __Host-session=real", None),
        (b"session", None),
        (b" ; ;session=abc", "abc"),
    ],
)
def test_the_first_cookie_with_the_exact_name_is_read(header: bytes, expected: str | None) -> None:
    assert cookie(header) == expected


def test_several_cookie_headers_are_read_in_order() -> None:
    assert cookie(b"a=1", b"session=abc", b"session=def") == "abc"


def test_no_cookie_header_means_no_cookie() -> None:
    assert read_cookie([(b"host", b"example.com")], b"session") is None


def test_only_cookie_headers_are_read() -> None:
    assert read_cookie([(b"x-cookie", b"session=abc")], b"session") is None


def test_a_host_cookie_hidden_in_another_cookies_value_is_not_read() -> None:
    header = b"pref=x __Host-session=attacker; __Host-session=victim"
    assert cookie(header, name=b"__Host-session") == "victim"


def test_a_value_holding_the_name_does_not_hide_the_real_cookie() -> None:
    assert cookie(b"note=see session=; session=abc") == "abc"
    assert cookie(b"note=x session=", b"session=abc") == "abc"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([b"session=abc"], ("abc", False)),
        ([b"session=abc; session-ended=1"], ("abc", True)),
        ([b"session-ended=1; session=abc"], ("abc", True)),
        ([b"session-ended=1"], (None, True)),
        ([b"session=abc", b"a=1; session-ended=1"], ("abc", True)),
        ([b"session=abc; session=def", b"session-ended=1"], ("abc", True)),
        ([b"note=x session-ended=1; session=abc"], ("abc", False)),
        ([b"session-endedx=1; session=abc"], ("abc", False)),
    ],
)
def test_the_session_cookie_and_the_ended_marker_are_read_in_one_pass(
    headers: list[bytes], expected: tuple[str | None, bool]
) -> None:
    listed = [(b"host", b"example.com"), *((b"cookie", header) for header in headers)]
    assert read_session_cookies(listed, b"session", b"session-ended") == expected
