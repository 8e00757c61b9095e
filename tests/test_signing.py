"""CookieSigner: HMAC-SHA256 signing with an issued-at stamp and a list of keys, newest first."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import Signer
from starlette.datastructures import Secret

from starlette_session import SessionStore
from starlette_session.signing import (
    VERIFIED_CACHE_LENGTH,
    VERIFIED_CACHE_SIZE,
    CookieSigner,
    Unsigned,
    _PrecomputedHMAC,
)
from tests.helpers import make_app, session_cookie

KEY = "k" * 40
OLD_KEY = "o" * 40
SALT = "test-salt"
NOW = 1_700_000_000
BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#: Every character a client could put in a cookie value (and more): control characters, ASCII,
#: Latin-1, and a few wider ones.
CHARACTERS = [chr(code) for code in range(0x180)] + ["\u2028", "\u3000", "\ufeff", "\U0001f600"]


def _itsdangerous(key: str = KEY) -> Signer:
    """The same signer without this library's checks: what itsdangerous alone accepts."""
    derived = hmac.digest(key.encode(), SALT.encode(), "sha256")
    return Signer(derived, salt=SALT, key_derivation="none", digest_method=hashlib.sha256)


def _signed(signer: CookieSigner, wanted: Callable[[str], bool]) -> str:
    """The first of ``p0``, ``p1``, ... whose signed value ``wanted`` accepts (deterministic)."""
    for index in range(10_000):
        value = signer.sign(f"p{index}", now=NOW)
        if wanted(value):
            return value
    raise AssertionError("no signed value has the wanted shape")


def test_a_signed_value_unsigns_to_its_payload_and_issue_time() -> None:
    signer = CookieSigner(KEY, salt=SALT)
    assert signer.unsign(signer.sign("payload", now=1_700_000_000)) == Unsigned(
        "payload", 1_700_000_000, 0
    )


def test_the_value_is_payload_issued_at_in_hex_and_signature() -> None:
    value = CookieSigner(KEY, salt=SALT).sign("payload", now=255)
    payload, issued_at, signature = value.split(".")
    assert (payload, issued_at) == ("payload", "ff")
    assert len(signature) == 43  # base64 of a SHA-256 HMAC, unpadded


def test_signatures_are_standard_hmac_sha256_with_a_derived_key() -> None:
    # The precomputed pads must give exactly what itsdangerous's own HMAC gives, so cookies
    # stay valid across versions of this library that sign either way.
    assert (
        CookieSigner(KEY, salt=SALT).sign("payload", now=16)
        == _itsdangerous().sign("payload.10").decode()
    )


@given(key=st.binary(max_size=200), value=st.binary(max_size=300))
def test_the_precomputed_hmac_equals_hmac_sha256(key: bytes, value: bytes) -> None:
    assert _PrecomputedHMAC().get_signature(key, value) == hmac.digest(key, value, "sha256")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda value: "X" + value[1:],
        lambda value: value[:-1] + ("A" if value[-1] != "A" else "B"),
        lambda value: value.replace(".", ".1", 1),
        lambda value: value[:-3],
        lambda value: value.rsplit(".", 1)[0],
    ],
    ids=["payload", "signature", "issued-at", "truncated", "no-signature"],
)
def test_a_tampered_value_is_refused(tamper: Callable[[str], str]) -> None:
    signer = CookieSigner(KEY, salt=SALT)
    value = signer.sign("payload")
    assert signer.unsign(tamper(value)) is None


def test_another_key_or_salt_does_not_verify() -> None:
    value = CookieSigner(KEY, salt=SALT).sign("payload")
    assert CookieSigner(OLD_KEY, salt=SALT).unsign(value) is None
    assert CookieSigner(KEY, salt="other-salt").unsign(value) is None


def test_the_newest_key_signs_and_every_key_verifies() -> None:
    old_value = CookieSigner(OLD_KEY, salt=SALT).sign("payload", now=1)
    rotated = CookieSigner([KEY, OLD_KEY], salt=SALT)
    assert rotated.unsign(old_value) == Unsigned("payload", 1, 1)
    new_value = rotated.sign("payload", now=1)
    assert rotated.unsign(new_value) == Unsigned("payload", 1, 0)
    assert CookieSigner(KEY, salt=SALT).unsign(new_value) is not None


@pytest.mark.parametrize(
    "value",
    ["a" * 4097, "payload.1.sig nature", "payload;1;sig", "paylöad.1.sig", "", '"quoted"'],
    ids=["too-long", "space", "semicolon", "non-ascii", "empty", "quotes"],
)
def test_malformed_values_are_refused_and_logged(
    value: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "starlette_session.security"):
        assert CookieSigner(KEY, salt=SALT).unsign(value) is None
    assert "ignored" in caplog.text


def test_the_longest_value_accepted_is_4096_characters(caplog: pytest.LogCaptureFixture) -> None:
    # Validly signed values on either side of the bound: only the length check refuses the
    # longer one, before any HMAC is computed (SECURITY.md, "Hostile input": length at most 4096).
    signer = CookieSigner(KEY, salt=SALT)
    overhead = len(signer.sign("", now=NOW))
    longest = signer.sign("p" * (4096 - overhead), now=NOW)
    too_long = signer.sign("p" * (4097 - overhead), now=NOW)
    assert (len(longest), len(too_long)) == (4096, 4097)
    assert _itsdangerous().unsign(too_long.encode())  # a genuine signature

    assert signer.unsign(longest) == Unsigned("p" * (4096 - overhead), NOW, 0)
    with caplog.at_level(logging.WARNING, "starlette_session.security"):
        assert signer.unsign(too_long) is None
        assert signer.unsign(signer.sign("p" * 100_000, now=NOW)) is None
    assert [record.getMessage() for record in caplog.records] == [
        "malformed session cookie ignored"
    ] * 2


def test_no_other_spelling_of_a_signed_value_is_accepted() -> None:
    """A session has exactly one cookie value. Base64 decoding, which itsdangerous leaves to
    ``base64.urlsafe_b64decode``, skips characters outside its alphabet and ``=`` padding at the
    start, reads ``+`` and ``/`` as ``-`` and ``_``, and ignores the unused bits of the last
    character: each gives the same signature bytes, so only the character check (and the
    canonical last character) refuses those spellings."""
    signer = CookieSigner(KEY, salt=SALT)
    value = _signed(signer, lambda value: "-" in value[-43:] and "_" in value[-43:])
    head, signature = value[:-43], value[-43:]
    last = BASE64.index(value[-1])
    respellings = {
        "padding before the signature": head + "==" + signature,
        "two ignored characters": value[:-4] + "!!" + value[-4:],
        "one non-ASCII character": value[:-4] + "\u00e9" + value[-4:],
        "standard alphabet": head + signature.replace("-", "+").replace("_", "/"),
        "unused bits set": value[:-1] + BASE64[last + 1],
    }
    for name, spelling in respellings.items():
        assert _itsdangerous().unsign(spelling.encode()) == value.rsplit(".", 1)[0].encode(), name
        assert signer.unsign(spelling, log=False) is None, name

    # Exhaustively: one to three copies of any character inserted anywhere, or any one
    # character replaced by another.
    for index, character in itertools.product(range(len(value) + 1), CHARACTERS):
        for copies in (1, 2, 3):
            spelling = value[:index] + character * copies + value[index:]
            assert signer.unsign(spelling, log=False) is None, (index, character, copies)
    for index, character in itertools.product(range(len(value)), CHARACTERS):
        if character != value[index]:
            spelling = value[:index] + character + value[index + 1 :]
            assert signer.unsign(spelling, log=False) is None, (index, character)
    assert signer.unsign(value) == Unsigned(value.split(".")[0], NOW, 0)


def test_only_the_canonical_last_character_of_a_signature_is_accepted() -> None:
    """A SHA-256 signature is 256 bits in 43 base64 characters (258 bits): the last character
    carries 4 bits and 2 unused ones, always 0 when encoding, so it is one of 16 characters.
    Every genuine last character is accepted; its 3 spellings with unused bits set are not."""
    signer = CookieSigner(KEY, salt=SALT)
    by_last: dict[str, str] = {}
    for index in itertools.count():
        value = signer.sign(f"p{index}", now=NOW)
        by_last.setdefault(value[-1], value)
        if len(by_last) == 16 or index == 10_000:
            break
    assert sorted(by_last) == sorted(BASE64[::4])

    for last, value in by_last.items():
        assert signer.unsign(value) is not None, last
        group = BASE64.index(last)
        for respelled in BASE64[group + 1 : group + 4]:
            spelling = value[:-1] + respelled
            assert _itsdangerous().unsign(spelling.encode()), (last, respelled)
            assert signer.unsign(spelling, log=False) is None, (last, respelled)


def test_a_short_secret_warns_how_to_make_a_better_one() -> None:
    with pytest.warns(UserWarning, match="secrets.token_urlsafe"):
        CookieSigner("short", salt=SALT)


@pytest.mark.parametrize("secret", ["", [], [""], [KEY, ""], None, b"k" * 40, [KEY, 1]])
def test_a_missing_or_non_string_secret_is_refused(secret: object) -> None:
    with pytest.raises(ValueError, match="secret_key"):
        CookieSigner(secret, salt=SALT)  # type: ignore[arg-type]


def test_a_starlette_secret_is_accepted_and_never_shown() -> None:
    signer = CookieSigner(Secret(KEY), salt=SALT)
    assert signer.unsign(CookieSigner(KEY, salt=SALT).sign("p", now=1)) == Unsigned("p", 1, 0)
    assert KEY not in repr(signer)
    assert repr(signer) == "CookieSigner(keys=1)"


def test_derived_keys_depend_on_purpose_and_key() -> None:
    signer = CookieSigner([KEY, OLD_KEY], salt=SALT)
    derived = {
        signer.derive(b"store-key"),
        signer.derive(b"user-index"),
        signer.derive(b"store-key", key_index=1),
    }
    assert len(derived) == 3
    assert signer.derive(b"store-key") == CookieSigner(KEY, salt=SALT).derive(b"store-key")


# Each signer remembers the values it verified


def test_a_verified_value_is_remembered_and_verified_once() -> None:
    signer = CookieSigner(KEY, salt=SALT)
    value = signer.sign("payload", now=1000)
    first = signer.unsign(value)
    assert first is not None
    assert signer.unsign(value) is first


def test_forged_values_never_enter_the_cache(caplog: pytest.LogCaptureFixture) -> None:
    signer = CookieSigner(KEY, salt=SALT)
    value = signer.sign("payload", now=1000)
    forged = [value[:-2] + tail for tail in ("AA", "AE", "BA")] + ["x" * 80, value + "A"]
    forged += [CookieSigner(OLD_KEY, salt=SALT).sign("payload", now=1000)]
    with caplog.at_level(logging.WARNING, "starlette_session.security"):
        for _ in range(3):
            assert all(signer.unsign(candidate) is None for candidate in forged)
    assert signer._verified == {}
    assert len(caplog.records) == 3 * len(forged)  # each checked, and logged, every time


def test_the_cache_is_bounded_and_keeps_the_newest() -> None:
    signer = CookieSigner(KEY, salt=SALT)
    values = [signer.sign(f"payload-{n}", now=1000) for n in range(VERIFIED_CACHE_SIZE + 10)]
    for value in values:
        assert signer.unsign(value) is not None
    assert len(signer._verified) == VERIFIED_CACHE_SIZE
    assert values[-1] in signer._verified
    assert values[0] not in signer._verified
    assert signer.unsign(values[0]) == Unsigned("payload-0", 1000, 0)  # verified again


def test_long_values_are_verified_each_time_and_not_kept() -> None:
    signer = CookieSigner(KEY, salt=SALT)
    value = signer.sign("p" * VERIFIED_CACHE_LENGTH, now=1000)
    assert signer.unsign(value) == Unsigned("p" * VERIFIED_CACHE_LENGTH, 1000, 0)
    assert signer._verified == {}


def test_a_value_verified_by_an_older_key_is_remembered_with_its_key_index() -> None:
    signer = CookieSigner([KEY, OLD_KEY], salt=SALT)
    value = CookieSigner(OLD_KEY, salt=SALT).sign("payload", now=1000)
    assert signer.unsign(value) == Unsigned("payload", 1000, 1)
    assert signer.unsign(value) == Unsigned("payload", 1000, 1)  # still due a re-signing


async def test_a_remembered_cookie_is_refused_once_older_than_its_max_age() -> None:
    max_age = 10
    store: SessionStore[Any] = SessionStore(idle_timeout=3600)
    app = make_app(store, max_age=max_age)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        value = session_cookie(await http.get("/set", params={"a": "1"}))
        assert value is not None
        unsigned = store.signer.unsign(value)
        assert unsigned is not None
        if time.time() % 1 > 0.5:  # sign and read the cookie within one second
            await asyncio.sleep(1.01 - time.time() % 1)
        now = int(time.time())
        nearly_stale = store.signer.sign(unsigned.payload, now - max_age)
        http.cookies.clear()
        http.cookies.set("session", nearly_stale)
        assert (await http.get("/get")).json() == {"a": "1"}  # verified, and remembered
        await asyncio.sleep(now + 1.01 - time.time())
        assert (await http.get("/get")).json() == {}  # now past its Max-Age
