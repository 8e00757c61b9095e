"""docs_src/security, and the code blocks of SECURITY.md (included whole in the site's Security
page) that ``tests/security`` does not run already."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.testclient import TestClient

from starlette_session import SessionMiddleware, SessionStore, load_session
from starlette_session.testing import SessionTester, find_session_middleware
from tests.helpers import ManualClock
from tests.test_tutorial.conftest import SECRET, LoadSample

SECURITY_MD = Path(__file__).resolve().parents[2] / "SECURITY.md"
NEW_SECRET = SECRET[::-1]


async def remember(request: Request) -> JSONResponse:
    session = await load_session(request)
    session.update(request.query_params)
    return JSONResponse(dict(session))


def test_rotation_re_issues_old_cookies_with_the_newest_key(
    load_sample: LoadSample, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_SECRET_KEYS", SECRET)
    old = load_sample("docs_src.security.rotation").app
    old.add_route("/remember", remember, methods=["POST"])
    with TestClient(old) as client:
        client.post("/remember", params={"color": "green"})
        cookie = client.cookies["session"]

    monkeypatch.setenv("SESSION_SECRET_KEYS", f"{NEW_SECRET} {SECRET}")
    new = load_sample("docs_src.security.rotation").app
    new.add_route("/remember", remember, methods=["POST"])
    store = find_session_middleware(old).store
    find_session_middleware(new).store.backend = store.backend  # one backend, as in production
    with TestClient(new, cookies={"session": cookie}) as client:
        response = client.post("/remember")
        assert response.json() == {"color": "green"}  # verified by the old key
        reissued = response.cookies["session"]
        assert reissued != cookie
    monkeypatch.setenv("SESSION_SECRET_KEYS", NEW_SECRET)  # the old key removed
    newest = load_sample("docs_src.security.rotation").app
    newest.add_route("/remember", remember, methods=["POST"])
    find_session_middleware(newest).store.backend = store.backend
    with TestClient(newest, cookies={"session": reissued}) as client:
        assert client.post("/remember").json() == {"color": "green"}
    with TestClient(newest, cookies={"session": cookie}) as client:
        assert client.post("/remember").json() == {}  # a cookie only the old key signed


async def metadata(request: Request) -> JSONResponse:
    session = await load_session(request)
    return JSONResponse({"created_at": session.created_at, "user": session.user_id})


def test_only_the_listed_keys_survive_a_log_in(
    load_sample: LoadSample, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock(time.time())
    monkeypatch.setattr(time, "time", clock)  # the creation time and the cookie's issue time
    sample = load_sample("docs_src.security.login")
    sample.app.add_route("/metadata", metadata)
    with TestClient(sample.app) as client:
        client.post("/remember", params={"cart": "tea", "language": "fr", "referrer": "ads"})
        before = client.cookies["session"]
        created_at = client.get("/metadata").json()["created_at"]
        clock.advance(60)  # a log-in a minute later: a new creation time would differ
        after = client.post("/login", params={"user": "ann"}).json()
        assert after == {"cart": "tea", "language": "fr", "user": "ann"}
        assert client.cookies["session"] != before
        assert SessionTester(client).read() == after
        # The metadata is not data: the creation time (absolute timeout) carries over.
        assert client.get("/metadata").json() == {"created_at": created_at, "user": "ann"}


def test_log_out_everywhere(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.security.revoke")
    store: SessionStore[Any] = SessionStore()

    async def login(request: Request) -> JSONResponse:
        session = await load_session(request)
        session.regenerate()
        await session.begin_login("ann")
        session.set_user("ann")
        session["user"] = "ann"
        return JSONResponse({})

    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse((await load_session(request)).get("user"))

    app = Starlette()
    app.add_route("/login", login, methods=["POST"])
    app.add_route("/whoami", whoami)
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=store)
    with TestClient(app) as laptop, TestClient(app) as phone:
        laptop.post("/login")
        phone.post("/login")
        assert laptop.portal is not None
        assert laptop.portal.call(sample.log_out_everywhere, store, "ann") == 2
        assert laptop.get("/whoami").json() is None
        assert phone.get("/whoami").json() is None


# SECURITY.md: its blocks, in order. The production configuration (the first) is run by
# tests/security/test_cookie_policy.py; the others run here, with the names the page gives them.


def security_md_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", SECURITY_MD.read_text(), flags=re.DOTALL)


def production_namespace(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SESSION_SECRET_KEYS", f"{SECRET}\n{NEW_SECRET}")
    namespace: dict[str, Any] = {"__name__": "security_md"}
    block = next(block for block in security_md_blocks() if "SECRET_KEYS =" in block)
    exec(compile(block, str(SECURITY_MD), "exec"), namespace)  # noqa: S102 - our own page
    return namespace


@pytest.mark.redis
def test_security_md_test_client_recipe(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    namespace = production_namespace(redis_url, monkeypatch)
    [block] = [block for block in security_md_blocks() if "https://testserver" in block]
    exec(compile(block, str(SECURITY_MD), "exec"), namespace)  # noqa: S102


@pytest.mark.redis
def test_security_md_revoke_recipe(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    namespace = production_namespace(redis_url, monkeypatch)
    [block] = [block for block in security_md_blocks() if "revoke_user_sessions(user_id)" in block]
    credentials = {"username": "alice", "password": "correct horse battery staple"}
    with TestClient(namespace["app"], base_url="https://testserver") as client:
        client.post("/login", json=credentials)
        assert client.get("/me").json() == {"user": "alice"}
        code = "async def recipe():\n" + "".join(f"    {line}\n" for line in block.splitlines())
        code += "    return ended, sessions\n"
        exec(compile(code, str(SECURITY_MD), "exec"), namespace)  # noqa: S102
        namespace["user_id"] = "alice"
        assert client.portal is not None
        ended, sessions = client.portal.call(namespace["recipe"])
        assert (ended, sessions) == (1, [])
        assert client.get("/me").json() == {"user": None}


def test_every_security_md_block_is_run() -> None:
    markers = ("SECRET_KEYS =", "https://testserver", "revoke_user_sessions(user_id)")
    for block in security_md_blocks():
        assert any(marker in block for marker in markers), (
            f"a code block of SECURITY.md that no test runs: add a test in {__file__}\n{block}"
        )
