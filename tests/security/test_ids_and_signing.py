"""Requirements 1-4: session ids, signatures checked before any store call, rotation, store keys."""

from __future__ import annotations

import base64
import hashlib
import inspect
import random
import warnings
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.datastructures import Secret
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from starlette_session import SessionMiddleware, SessionStore
from starlette_session.signing import CookieSigner
from tests.security.conftest import (
    OLD_SECRET,
    SECRET,
    Client,
    Real,
    build_app,
    session_id,
    store_factory,
)

BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

# 1. Ids: at least 128 bits from secrets; opaque.


async def test_ids_carry_at_least_128_bits_and_do_not_come_from_random(real: Real) -> None:
    app = build_app(SessionStore(real.counting))
    ids = []
    for _ in range(2):
        # Seeding the `random` module identically must not repeat an id: they come from the OS.
        random.seed(1234)
        client = Client(app)
        await client.post("/write", {"a": 1})
        assert client.cookie is not None
        ids.append(session_id(client.cookie))
    assert ids[0] != ids[1]
    for value in ids:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        assert len(raw) * 8 >= 128
    more = set()
    for _ in range(200):
        client = Client(app)
        await client.post("/write", {"a": 1})
        assert client.cookie is not None
        more.add(session_id(client.cookie))
    assert len(more) == 200


async def test_cookie_holds_only_the_id_and_its_signature(real: Real) -> None:
    app = build_app(SessionStore(real.counting))
    client = Client(app)
    secret_data = {"email": "alice@example.com", "role": "admin", "n": 123456789}
    await client.post("/write", secret_data)
    value = client.cookie
    assert value is not None
    parts = value.split(".")
    assert len(parts) == 3  # <id>.<issued-at, hex>.<signature>
    int(parts[1], 16)
    for text in ("alice", "example", "admin", "123456789", "email", "role"):
        assert text not in value
    # Nothing of the data, encoded or not: a session with 2 KB of data has a cookie as long as
    # an almost empty one.
    small = Client(app)
    await small.post("/write", {"a": 1})
    big = Client(app)
    await big.post("/write", {"blob": "y" * 2048})
    assert small.cookie is not None
    assert big.cookie is not None
    assert len(big.cookie) == len(small.cookie) == len(value) < 120
    # The data lives server-side: changing it does not change the cookie.
    reply = await client.post("/write", {"role": "user", "more": "x" * 500})
    assert reply.session_cookie() is None
    assert (await client.get()).json()["data"]["more"] == "x" * 500


# 2. The signature is verified before any store call.


UNVERIFIED = [
    "unsigned-id",
    "id-and-stamp-only",
    "signed-by-another-key",
    "bad-signature",
    "signature-of-another-value",
    "truncated-signature",
    "non-canonical-signature",
    "padded-signature",
    "signature-with-ignored-characters",
    "signature-in-the-standard-alphabet",
    "malformed-chars",
    "malformed-dots",
    "malformed-extra-part",
    "empty",
    "oversized",
    "oversized-valid-prefix",
    "oversized-but-validly-signed",
]


def _unverified_cookies(valid: str, signer: CookieSigner) -> dict[str, str]:
    """Cookies that must not reach the store. The spellings of a genuine cookie (non-canonical,
    padded, with ignored characters, in the standard alphabet) carry the same signature bytes
    once base64-decoded, so only the signer's character check refuses them."""
    sid, issued, signature = valid.split(".")
    other = SessionMiddleware(Starlette(), secret_key="another-secret-" + "z" * 32)
    # The first character: the last one also holds padding bits, which base64 decoding ignores.
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    # The same signature bytes spelled differently: the last character's 2 unused bits set.
    respelled = signature[:-1] + BASE64[BASE64.index(signature[-1]) + 1]
    # A genuine cookie of the same session whose signature holds a '-' or a '_'.
    issued_at = int(issued, 16)
    dashed = next(
        value
        for value in (signer.sign(sid, now=issued_at - age) for age in range(1000))
        if {"-", "_"} & set(value.rsplit(".", 1)[1])
    )
    standard = dashed.translate(str.maketrans("-_", "+/"))
    return {
        "unsigned-id": sid,  # the raw id of a live session, without its signature
        "id-and-stamp-only": f"{sid}.{issued}",
        "signed-by-another-key": other.signer.sign(sid),
        "bad-signature": f"{sid}.{issued}.{flipped}",
        "signature-of-another-value": f"{sid}x.{issued}.{signature}",
        "truncated-signature": f"{sid}.{issued}.{signature[:10]}",
        "non-canonical-signature": f"{sid}.{issued}.{respelled}",
        "padded-signature": f"{sid}.{issued}.=={signature}",  # leading padding is skipped
        "signature-with-ignored-characters": f"{sid}.{issued}.{signature[:20]}!!{signature[20:]}",
        "signature-in-the-standard-alphabet": sid + standard[len(sid) :],
        "malformed-chars": f"{sid}.{issued}.{signature}%",
        "malformed-dots": "...",
        "malformed-extra-part": f"{valid}.extra",
        "empty": "",
        "oversized": valid + "A" * 5000,
        "oversized-valid-prefix": valid + "." + "A" * 4100,
        # Our own signature on an id padded past 4096 characters: refused for its length alone.
        "oversized-but-validly-signed": signer.sign(sid + "A" * 4100),
    }


@pytest.mark.parametrize("case", UNVERIFIED)
async def test_unverified_cookie_causes_zero_backend_calls(real: Real, case: str) -> None:
    app = build_app(SessionStore(real.counting))
    owner = Client(app)
    await owner.post("/write", {"secret": "data"})
    assert owner.cookie is not None
    cookies = _unverified_cookies(owner.cookie, app.signer)
    assert list(cookies) == UNVERIFIED
    forged = cookies[case]
    await real.reset_counts()

    reply = await Client(app, forged).get()

    assert reply.status == 200
    assert reply.json() == {"data": {}, "new": True, "user": None, "created": None}
    assert reply.session_cookie() is None
    await real.assert_untouched()


# 3. Secret rotation.


async def test_cookie_signed_by_an_old_key_is_accepted_and_reissued_with_the_newest(
    real: Real,
) -> None:
    make = store_factory(real)
    before = build_app(make(), secret_key=OLD_SECRET)
    client = Client(before)
    await client.post("/write", {"cart": ["apple"]})
    old_cookie = client.cookie
    assert old_cookie is not None

    rotated = build_app(make(), secret_key=[SECRET, OLD_SECRET])
    client = Client(rotated, old_cookie)
    reply = await client.get()
    assert reply.json()["data"] == {"cart": ["apple"]}
    new_cookie = reply.cookie_value()
    assert new_cookie
    assert new_cookie != old_cookie

    # Re-issued with the newest key: an app that knows only the new key accepts it...
    newest_only = build_app(make(), secret_key=SECRET)
    assert (await Client(newest_only, new_cookie).get()).json()["data"] == {"cart": ["apple"]}
    # ... the old key alone does not, and the old cookie no longer opens anything.
    oldest_only = build_app(make(), secret_key=OLD_SECRET)
    assert (await Client(oldest_only, new_cookie).get()).json()["data"] == {}
    assert (await Client(rotated, old_cookie).get()).json()["data"] == {}


async def test_newest_key_signs_and_every_key_verifies(real: Real) -> None:
    make = store_factory(real)
    rotated = build_app(make(), secret_key=[SECRET, OLD_SECRET])
    client = Client(rotated)
    await client.post("/write", {"a": 1})
    assert client.cookie is not None
    assert rotated.signer.unsign(client.cookie) is not None
    assert build_app(make(), secret_key=SECRET).signer.unsign(client.cookie) is not None
    assert build_app(make(), secret_key=OLD_SECRET).signer.unsign(client.cookie) is None
    # A cookie still on the current key is not re-issued.
    assert (await client.get()).session_cookie() is None


#: The library's own refusals (``CookieSigner``, and the middleware's for a missing key), each
#: saying how to make a key: a test that meets only Python's errors fails.
HOW_TO_MAKE_ONE = r"python -c 'import secrets; print\(secrets.token_urlsafe\(32\)\)'$"
SECRET_REFUSED = (
    r"^(secret_key must be a non-empty string or a list of them; generate one with: "
    r"|SessionMiddleware needs a secret_key to sign its cookies: .*)" + HOW_TO_MAKE_ONE
)
MISSING: Any = object()


@pytest.mark.parametrize(
    "secret",
    [None, "", [], [""], [SECRET, ""], (), Secret(""), [None], [SECRET, None], 42, [SECRET, 1]],
    ids=[
        "none",
        "empty",
        "no-key",
        "empty-key",
        "one-empty",
        "empty-tuple",
        "secret",
        "none-key",
        "one-none",
        "number",
        "one-number",
    ],
)
def test_startup_refuses_a_missing_or_empty_secret(secret: Any) -> None:
    with pytest.raises(ValueError, match=SECRET_REFUSED):
        SessionMiddleware(Starlette(), secret_key=secret, store=SessionStore())


@pytest.mark.parametrize("secret", [MISSING, None, ""], ids=["missing", "none", "empty"])
@pytest.mark.parametrize("install", ["add_middleware", "middleware_list"])
def test_startup_refuses_a_call_without_secret(install: str, secret: Any) -> None:
    """Installed the two ways Starlette offers, an app without a secret never starts: it fails
    at start-up (the lifespan), before serving a request. ``None`` and ``""`` meet the library's
    own check; a call without the argument meets the signature, where ``secret_key`` has no
    default (a default would have to be one the library's check refuses: this test runs both)."""
    served: list[str] = []

    async def home(request: Request) -> Response:
        served.append(request.url.path)
        return PlainTextResponse("served")

    options: dict[str, Any] = {"store": SessionStore()}
    if secret is not MISSING:
        options["secret_key"] = secret
    if install == "add_middleware":
        app = Starlette(routes=[Route("/", home)])
        app.add_middleware(SessionMiddleware, **options)
    else:
        app = Starlette(
            routes=[Route("/", home)], middleware=[Middleware(SessionMiddleware, **options)]
        )
    default = inspect.signature(SessionMiddleware).parameters["secret_key"].default

    with (
        pytest.raises((TypeError, ValueError), match="secret_key") as caught,
        TestClient(app) as client,
    ):
        client.get("/")

    assert served == []
    if secret is not MISSING or default is not inspect.Parameter.empty:
        assert caught.type is ValueError
        assert caught.match(SECRET_REFUSED)
    else:
        assert caught.match("missing 1 required positional argument: 'secret_key'")


def test_bytes_secret_is_refused_not_split_into_tiny_keys() -> None:
    # list(b"...") would be a list of small ints: 40 one-to-three-digit "keys", trivially guessed.
    with pytest.raises(ValueError, match=SECRET_REFUSED):
        SessionMiddleware(Starlette(), secret_key=b"k" * 40, store=SessionStore())  # type: ignore[arg-type]


def test_startup_warns_on_a_short_secret_without_revealing_it() -> None:
    with pytest.warns(UserWarning, match="shorter than") as caught:
        SessionMiddleware(Starlette(), secret_key="short-secret", store=SessionStore())
    assert all("short-secret" not in str(warning.message) for warning in caught)
    with pytest.warns(UserWarning, match="shorter than"):
        SessionMiddleware(Starlette(), secret_key=[SECRET, "old-short"], store=SessionStore())


def test_no_warning_for_long_secrets() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SessionMiddleware(Starlette(), secret_key=[SECRET, OLD_SECRET], store=SessionStore())
        SessionMiddleware(Starlette(), secret_key=Secret(SECRET), store=SessionStore())


# 4. Store keys are a prefix plus a keyed hash of the id.


async def test_store_keys_are_a_keyed_hash_never_the_id(real: Real) -> None:
    app = build_app(SessionStore(real.counting, key_prefix="sess:"))
    cookies = []
    for user in ("alice", "bob", "carol"):
        client = Client(app)
        await client.post("/login", {"user": user})
        assert client.cookie is not None
        cookies.append(client.cookie)

    keys = await real.keys()
    assert len(keys) == 6  # three sessions and three user indexes
    for key in keys:
        assert key.startswith("sess:")
        for cookie in cookies:
            sid = session_id(cookie)
            assert sid not in key
            assert cookie not in key
            assert cookie.rsplit(".", 1)[1] not in key  # nor the signature
            assert hashlib.sha256(sid.encode()).hexdigest() not in key  # not an unkeyed hash
        for user in ("alice", "bob", "carol"):
            assert user not in key

    # The hash is keyed by the secret: the same id gives another key under another secret.
    sid = session_id(cookies[0])
    assert app.store.storage_key(sid) in keys
    other = build_app(SessionStore(real.counting, key_prefix="sess:"), secret_key=OLD_SECRET)
    assert other.store.storage_key(sid) != app.store.storage_key(sid)


async def test_a_key_listing_yields_no_usable_cookie(real: Real) -> None:
    app = build_app(SessionStore(real.counting))
    client = Client(app)
    await client.post("/login", {"user": "alice"})
    await real.reset_counts()
    for key in await real.keys():
        digest = key.rsplit(":", 1)[1]
        for candidate in (key, digest, app.signer.sign(digest)):
            # Even signed with our own key, a hash from the store is not an id of a session.
            assert (await Client(app, candidate).get()).json()["data"] == {}
    assert {name for name in real.counting.names()} <= {"read"}
