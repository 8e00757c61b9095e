"""The recommended Redis client of docs/reliability.md, run as written (the URL aside)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability.support import make_app
from tests.servers import RedisServer

pytestmark = pytest.mark.redis

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
DOC_URL = "redis://redis.internal:6379/0"


def _recommended_snippet() -> str:
    blocks: list[str] = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    [snippet] = [block for block in blocks if "BlockingConnectionPool" in block]
    assert DOC_URL in snippet
    return snippet


async def test_the_recommended_client_settings_run_and_bound_an_outage(
    persistent_redis_server: RedisServer,
) -> None:
    server = persistent_redis_server
    namespace: dict[str, Any] = {}
    exec(_recommended_snippet().replace(DOC_URL, server.url), namespace)  # noqa: S102
    client, store = namespace["client"], namespace["store"]
    try:
        assert client.connection_pool.max_connections == 50
        transport = httpx.ASGITransport(app=make_app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.post("/increment")).json() == {"count": 1}
            server.kill()
            assert (await http.post("/increment")).status_code == 503
            server.restart()
            assert (await http.post("/increment")).json() == {"count": 2}
    finally:
        await client.aclose()
