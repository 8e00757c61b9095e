"""Cookie settings (checked at start-up: a cookie browsers would refuse fails there, not by
logging every user out in production), the ``Set-Cookie`` builder, the ``Cookie`` reader."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from starlette_session.exceptions import SessionSettingsError

__all__ = [
    "ENDED_MARKER_AGE",
    "MAX_COOKIE_AGE",
    "CookieSettings",
    "SameSite",
    "read_cookie",
    "read_session_cookies",
]

SameSite = Literal["lax", "strict", "none"]

#: Browsers cap Max-Age at 400 days (RFC 6265bis); so does this.
MAX_COOKIE_AGE = 400 * 24 * 60 * 60
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_ATTRIBUTE_VALUE = re.compile(r"[\x21-\x3a\x3c-\x7e]*")
_LABEL = re.compile(r"[0-9A-Za-z_-]{1,63}")
_WHITESPACE = b" \t"
_EXPIRED = "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
#: How long the ended-session marker lives: the log-out's redirect and the next page, at most.
ENDED_MARKER_AGE = 60


@dataclass(frozen=True)
class CookieSettings:
    """How the session cookie is sent. ``max_age=None`` makes a browser-session cookie."""

    name: str = "session"
    max_age: int | None = 14 * 24 * 60 * 60
    path: str = "/"
    domain: str | None = None
    secure: bool = False
    http_only: bool = True
    same_site: SameSite = "lax"
    partitioned: bool = False
    _flags: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise SessionSettingsError("invalid session cookie settings: " + "; ".join(problems))
        if self.domain is not None:
            object.__setattr__(self, "domain", _ascii_domain(self.domain))
        if self.max_age is not None:
            object.__setattr__(self, "max_age", min(self.max_age, MAX_COOKIE_AGE))
        flags = [
            f"Path={self.path}",
            f"Domain={self.domain}" if self.domain is not None else "",
            "HttpOnly" if self.http_only else "",
            f"SameSite={self.same_site.capitalize()}",
            "Secure" if self.secure else "",
            "Partitioned" if self.partitioned else "",
        ]
        object.__setattr__(self, "_flags", "".join(f"; {flag}" for flag in flags if flag))

    def _problems(self) -> Iterable[str]:
        if not _TOKEN.fullmatch(self.name):
            yield f"the name {self.name!r} is not a valid cookie name (an RFC 9110 token)"
        # Browsers match the prefixes case-insensitively (RFC 6265bis): __host- counts too.
        prefix = self.name[:9].lower()
        if prefix.startswith("__host-") and not (
            self.secure and self.path == "/" and self.domain is None
        ):
            yield "a __Host- cookie needs https_only=True (Secure), path='/' and no domain"
        if prefix == "__secure-" and not self.secure:
            yield "a __Secure- cookie needs https_only=True (Secure)"
        if self.same_site not in ("lax", "strict", "none"):
            yield f"same_site must be 'lax', 'strict' or 'none', not {self.same_site!r}"
        if self.same_site == "none" and not self.secure:
            yield "same_site='none' needs https_only=True (browsers refuse it without Secure)"
        if self.partitioned and not self.secure:
            yield "partitioned=True needs https_only=True (Secure)"
        if not self.path.startswith("/") or not _ATTRIBUTE_VALUE.fullmatch(self.path):
            yield f"path {self.path!r} must start with '/' and hold no ';' or control characters"
        if self.domain == "":
            yield "domain must not be empty: pass None to leave the Domain attribute out"
        if self.domain and (problem := _domain_problem(self.domain)):
            yield problem
        if self.max_age is not None and self.max_age < 0:
            yield "max_age must be 0 or more, or None for a browser-session cookie"

    def set_cookie(self, value: str, max_age: int | None) -> bytes:
        """The ``Set-Cookie`` value storing ``value``; ``max_age=None`` for a browser session."""
        age = "" if max_age is None else f"; Max-Age={min(max_age, MAX_COOKIE_AGE)}"
        return f"{self.name}={value}{age}{self._flags}".encode("latin-1")

    def expire_cookie(self) -> bytes:
        """The ``Set-Cookie`` value that removes the cookie (same Path and Domain)."""
        return f"{self.name}={_EXPIRED}{self._flags}".encode("latin-1")

    @property
    def csrf_name(self) -> str:
        """The cookie of the CSRF secret of a visitor without a session (keeps a ``__Host-``)."""
        return f"{self.name}-csrf"

    def csrf_cookie(self, value: str) -> bytes:
        """Set the CSRF cookie (a browser-session cookie, with the session cookie's flags)."""
        return f"{self.csrf_name}={value}{self._flags}".encode("latin-1")

    def ended_cookie(self, ended: bool) -> bytes:
        """Set (for a minute) or remove the marker of a browser whose session just ended (the
        next response that uses the session clears the pages that browser kept)."""
        value = f"1; Max-Age={ENDED_MARKER_AGE}" if ended else _EXPIRED
        return f"{self.name}-ended={value}{self._flags}".encode("latin-1")


def _ascii_domain(domain: str) -> str:
    """``domain`` as browsers match it: internationalized labels as their ``xn--`` form."""
    if domain.isascii():
        return domain
    dot = "." if domain.startswith(".") else ""
    return dot + domain.removeprefix(".").encode("idna").decode("ascii")


def _domain_problem(domain: str) -> str | None:
    """Why no browser would store a cookie with this Domain attribute (it must match a host
    name, RFC 6265bis 5.1.3: a host name, one leading dot allowed, or an IP address), or None."""
    quoted = repr(domain)
    if not _ATTRIBUTE_VALUE.fullmatch(domain) and domain.isascii():
        return f"domain {quoted} holds a ';', a space or a control character"
    if "://" in domain:
        return f"domain {quoted} is a URL: give the host name alone (domain='example.com')"
    if "/" in domain or "?" in domain or "#" in domain:
        return f"domain {quoted} holds a path: give the host name alone (the path goes in path=)"
    if domain.startswith("[") and domain.endswith("]"):
        try:
            ipaddress.IPv6Address(domain[1:-1])
        except ValueError:
            return f"domain {quoted} is not an IPv6 address"
        return None
    if domain.count(":") > 1:
        return f"domain {quoted} is an IPv6 address: write it in brackets ('[::1]')"
    if ":" in domain:
        return f"domain {quoted} holds a port: give the host name alone (cookies ignore ports)"
    host = domain.removeprefix(".")
    try:
        ascii_host = _ascii_domain(host)
    except UnicodeError:
        return f"domain {quoted} is not a host name (its internationalized form is invalid)"
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return (
            f"domain {quoted} is not a host name: labels of letters, digits and hyphens, at most "
            "63 characters each, separated by single dots (one leading dot is allowed)"
        )
    return None


def read_cookie(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The value of the first cookie called ``name`` in the request's ``Cookie`` headers (the
    most specific path: browsers list it first), read as ``;``-separated pairs (RFC 6265 5.4), so
    a name inside another cookie's value never matches; not ASCII: ignored; quotes removed."""
    return read_session_cookies(headers, name, None)[0]


def read_session_cookies(
    headers: Iterable[tuple[bytes, bytes]], name: bytes, marker: bytes | None
) -> tuple[str | None, bool]:
    """The session cookie's value (as :func:`read_cookie` reads it), and whether a cookie called
    ``marker`` is there too, in one pass over the headers. ``marker`` must start with ``name``,
    so that a header without the session cookie's name is skipped at once."""
    found, has_found, has_marker = None, False, False
    for header_name, header_value in headers:
        if header_name != b"cookie" or name not in header_value:
            continue
        # Once the session cookie is found, a header only matters if it may hold the marker.
        wanted = not has_found or (marker is not None and not has_marker and marker in header_value)
        for pair in header_value.split(b";") if wanted else ():
            pair_name, has_value, value = pair.partition(b"=")
            if has_value and name in pair_name:  # the marker's name starts with ``name``
                pair_name = pair_name.strip(_WHITESPACE)
                if pair_name == name and not has_found:
                    found, has_found = _cookie_value(value), True
                    if marker is None:
                        return found, False
                    if marker not in header_value:
                        break
                elif pair_name == marker:
                    has_marker = True
                    if has_found:
                        return found, True
    return found, has_marker


def _cookie_value(value: bytes) -> str | None:
    value = value.strip(_WHITESPACE)
    if len(value) >= 2 and value[0] == value[-1] == 34:  # '"'
        value = value[1:-1]
    return value.decode("ascii") if value.isascii() else None
