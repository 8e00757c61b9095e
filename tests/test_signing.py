"""CookieSigner: HMAC-SHA256 signing with an issued-at stamp and a list of keys, newest first."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import Signer
from starlette.datastructures import Secret

from starlette_session.signing import CookieSigner, Unsigned, _PrecomputedHMAC

KEY = "k" * 40
OLD_KEY = "o" * 40
SALT = "test-salt"


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
    derived = hmac.digest(KEY.encode(), SALT.encode(), "sha256")
    reference = Signer(derived, salt=SALT, key_derivation="none", digest_method=hashlib.sha256)
    assert (
        CookieSigner(KEY, salt=SALT).sign("payload", now=16)
        == reference.sign("payload.10").decode()
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
