"""The README's Python examples run, against a real redis-server, so they never rot."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

pytestmark = pytest.mark.redis
README = Path(__file__).resolve().parent.parent / "README.md"


def readme_block(marker: str, redis_url: str) -> str:
    """The README's one ```python block containing ``marker``, pointed at the test's Redis."""
    blocks: list[str] = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    (block,) = [block for block in blocks if marker in block]
    block = block.replace("redis.asyncio.Redis()", f"redis.asyncio.Redis.from_url({redis_url!r})")
    return block.replace('Redis(host="localhost")', f"Redis.from_url({redis_url!r})")


def run_blocks(namespace: dict[str, Any], *code: str) -> dict[str, Any]:
    for block in code:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own README
    return namespace


def fastapi_example(redis_url: str) -> dict[str, Any]:
    return run_blocks(
        {"__name__": "readme_fastapi"},
        readme_block("class Cart(BaseModel)", redis_url),
        readme_block("async def login(", redis_url),
    )


def test_fastapi_example_saves_the_typed_cart(redis_url: str) -> None:
    namespace = fastapi_example(redis_url)
    with TestClient(namespace["app"]) as client:
        assert client.get("/cart").json() == {"items": [], "owner": None}
        assert client.cookies.get("session") is None
        assert client.post("/cart", params={"item": "apple"}).json()["items"] == ["apple"]
        before = client.cookies.get("session")
        assert client.post("/login", params={"user": "ann"}).json()["owner"] == "ann"
        assert client.cookies.get("session") not in (None, before)
        assert client.get("/cart").json() == {"items": ["apple"], "owner": "ann"}
        assert client.post("/logout").json() == {"ok": True}
        assert client.get("/cart").json() == {"items": [], "owner": None}


def test_testing_example_seeds_and_reads_back(redis_url: str) -> None:
    namespace = fastapi_example(redis_url)
    run_blocks(namespace, readme_block("SessionTester(client)", redis_url))


def test_plain_starlette_example_counts_visits(redis_url: str) -> None:
    namespace = run_blocks({"__name__": "readme_starlette"}, readme_block("load_session", ""))
    with TestClient(namespace["app"]) as client:
        assert client.get("/visit").json() == {"visits": 1}
        assert client.get("/visit").json() == {"visits": 2}
        assert client.get("/peek").json() == {"visits": 2}


def test_original_api_example_runs(redis_url: str) -> None:
    async def remember(request: Request) -> JSONResponse:
        request.session["seen"] = True
        return JSONResponse(request.session)

    app = Starlette(routes=[Route("/", remember)])
    run_blocks({"__name__": "readme_original", "app": app}, readme_block("cookie22", redis_url))
    with TestClient(app) as client:
        assert client.get("/").json() == {"seen": True}
        assert "cookie22" in client.cookies
