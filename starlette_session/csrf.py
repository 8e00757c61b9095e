"""CSRF tokens bound to the session, masked differently in each response.

A signed-in session (one with a user, ``set_user``) keeps a random 256-bit secret in its
metadata (``CSRF_SECRET``), made at the log-in (on first use for an older session) and dropped
when the user changes (a log-in, a log-out): a token from before the log-in, or from another
session, fails. A visitor without a signed-in session gets the secret in a cookie of its own
(``<session cookie>-csrf``, the session cookie's flags, signed with the session's keys)
instead: rendering a form stores nothing and costs no backend call, and the log-in form itself
is protected (login CSRF). The token in a page
is ``mask + (mask XOR secret)``, URL-safe base64, with a new random mask each time, so that a
compressed response never repeats it (BREACH); it is checked with ``hmac.compare_digest``, from
the ``X-CSRF-Token`` header or the ``csrf_token`` form field. See ``docs/web-security.md``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import secrets
from collections.abc import Iterable

from starlette.exceptions import HTTPException
from starlette.requests import Request

from starlette_session.cookies import read_cookie
from starlette_session.origin import printable
from starlette_session.session import Session, load_session
from starlette_session.state import CSRF_SECRET

__all__ = ["CSRFProtection", "csrf_token", "verify_csrf"]

security_logger = logging.getLogger("starlette_session.security")
SECRET_BYTES = 32
#: The methods that change nothing, by HTTP's definition: never checked.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_TOKEN_LENGTH = len(base64.urlsafe_b64encode(bytes(2 * SECRET_BYTES)).rstrip(b"="))
_FORMS = (b"application/x-www-form-urlencoded", b"multipart/form-data")
REFUSED = "CSRF token missing or invalid"


class CSRFProtection:
    """CSRF tokens for forms and scripts, bound to the request's session.

    ``await csrf.token(request)`` gives a token to put in a form (field ``field_name``) or a
    header (``header_name``); ``await csrf.verify(request)`` refuses, with 403, a request of an
    unsafe method whose token is missing, forged or of another session. As a FastAPI
    dependency: ``dependencies=[Depends(csrf)]`` (it verifies), ``Depends(csrf.token)``.
    """

    def __init__(
        self,
        *,
        header_name: str = "X-CSRF-Token",
        field_name: str = "csrf_token",
        safe_methods: Iterable[str] = SAFE_METHODS,
    ) -> None:
        self.header_name = header_name
        self.field_name = field_name
        self.safe_methods = frozenset(method.upper() for method in safe_methods)

    async def token(self, request: Request) -> str:
        """A token for this response's forms: the session's secret, masked anew."""
        session = await load_session(request)
        secret = self._secret(session, request, create=True)
        assert secret is not None  # noqa: S101 - create=True always gives one
        mask = secrets.token_bytes(SECRET_BYTES)
        masked = bytes(a ^ b for a, b in zip(mask, secret, strict=True))
        return base64.urlsafe_b64encode(mask + masked).rstrip(b"=").decode()

    async def verify(self, request: Request) -> None:
        """Refuse (``HTTPException(403)``, one warning on ``starlette_session.security``) a
        request of an unsafe method without a valid token of this session."""
        if request.method.upper() in self.safe_methods:
            return
        session = await load_session(request)
        sent = request.headers.get(self.header_name)
        content_type = request.headers.get("content-type", "").lower().encode()
        if sent is None and content_type.startswith(_FORMS):
            field = (await request.form()).get(self.field_name)
            sent = field if isinstance(field, str) else None
        expected = self._secret(session, request, create=False)
        if expected is None or sent is None or not _matches(sent, expected):
            security_logger.warning(
                "request refused: CSRF token %s (%s %s)",
                "missing" if sent is None else "invalid",
                printable(request.method),
                printable(request.url.path),
            )
            raise HTTPException(403, REFUSED)

    async def __call__(self, request: Request) -> None:
        await self.verify(request)

    def _secret(self, session: Session, request: Request, *, create: bool) -> bytes | None:
        """The secret tokens are checked against: the signed-in session's, else the visitor's
        cookie's (made, and sent with the response, when ``create``)."""
        state = session.state
        if session.user_id is not None:
            stored = state.meta.get(CSRF_SECRET)
            secret = _decode(stored) if isinstance(stored, str) else None
            if secret is None and create:
                secret = secrets.token_bytes(SECRET_BYTES)
                session.mark_modified()  # made on first use: saved with the session
                state.meta[CSRF_SECRET] = _encode(secret)
            return secret
        if state.csrf_nonce is None:
            settings = session.store.cookie_settings
            found = read_cookie(request.scope["headers"], settings.csrf_name.encode())
            nonce = _unsign(session, found) if found else None
            if nonce is None:
                if not create:
                    return None
                nonce = _encode(secrets.token_bytes(SECRET_BYTES))
                value = f"{nonce}.{_mac(session, nonce, 0)}"
                state.set_cookie_beside(settings.csrf_name, settings.csrf_cookie(value))
            state.csrf_nonce = nonce
        return _decode(state.csrf_nonce)


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(text: str) -> bytes | None:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == SECRET_BYTES and _encode(raw) == text else None


def _mac(session: Session, nonce: str, key_index: int) -> str:
    return _encode(session.store.signer.derive(b"csrf-cookie\0" + nonce.encode(), key_index))


def _unsign(session: Session, value: str) -> str | None:
    """The nonce of a CSRF cookie signed with one of the session's keys; None otherwise."""
    nonce, _, mac = value.partition(".")
    if _decode(nonce) is None:
        return None
    for index in range(session.store.signer.key_count):
        if hmac.compare_digest(mac.encode(), _mac(session, nonce, index).encode()):
            return nonce
    return None


def _matches(token: str, secret: bytes) -> bool:
    if len(token) != _TOKEN_LENGTH:
        return False
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return False
    if len(raw) != 2 * SECRET_BYTES or _encode(raw) != token:  # one spelling per token
        return False
    mask, masked = raw[:SECRET_BYTES], raw[SECRET_BYTES:]
    unmasked = bytes(a ^ b for a, b in zip(mask, masked, strict=True))
    return hmac.compare_digest(unmasked, secret)


_default = CSRFProtection()


async def csrf_token(request: Request) -> str:
    """A CSRF token for this response (the default :class:`CSRFProtection`)."""
    return await _default.token(request)


async def verify_csrf(request: Request) -> None:
    """Refuse with 403 a request of an unsafe method without a valid CSRF token (the default
    :class:`CSRFProtection`)."""
    await _default.verify(request)
