"""The smallest possible ASGI client: a prepared scope, a constant receive, a no-op send.

The in-process driver times applications through this, so the client's own cost must be
tiny and, above all, the same for every contender.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A cookie of a realistic size, sent to apps that never set one (the bare apps), so that
# "with cookie" cells parse the same header length everywhere.
SYNTHETIC_COOKIE = "session=" + "a" * 96

_REQUEST: Message = {"type": "http.request", "body": b"", "more_body": False}


async def _receive() -> Message:
    return _REQUEST


async def _discard(message: Message) -> None:
    return None


def make_scope(method: str, path: str, cookie: str | None) -> dict[str, Any]:
    headers = [(b"host", b"bench.local"), (b"user-agent", b"bench"), (b"accept", b"*/*")]
    if cookie:
        headers.append((b"cookie", cookie.encode("latin-1")))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("ascii"),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def call_many(app: ASGIApp, scope: dict[str, Any], count: int) -> None:
    """Run ``count`` requests; each gets a shallow copy because apps write into the scope."""
    for _ in range(count):
        await app(dict(scope), _receive, _discard)


@dataclass
class Response:
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""

    def header_values(self, name: bytes) -> list[str]:
        return [v.decode("latin-1") for k, v in self.headers if k.lower() == name]


async def call_once(app: ASGIApp, scope: dict[str, Any]) -> Response:
    response = Response()

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            response.status = message["status"]
            response.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            response.body += message.get("body", b"")

    await app(dict(scope), _receive, send)
    return response


def cookie_from_set_cookie(values: list[str]) -> str | None:
    """Turn ``Set-Cookie`` values into the ``Cookie`` header a browser would send back."""
    pairs = [v.split(";", 1)[0].strip() for v in values]
    pairs = [p for p in pairs if "=" in p and p.split("=", 1)[1] not in ("", '""', "''")]
    return "; ".join(pairs) or None
