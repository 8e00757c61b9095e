"""Who is measured, in which virtual environment, and against which baseline."""

from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
VENVS_DIR = BENCH_DIR / ".venvs"

OURS_VENV = "ours"
PEER_VENV = "starsessions"


@dataclass(frozen=True)
class Contender:
    name: str
    label: str
    venv: str
    baseline: str
    """The bare app that this contender's ratios are measured against, interleaved."""
    redis: bool = False
    valkey: bool = False
    """Its Redis is the private valkey-server (``BENCH_VALKEY_URL``), not redis-server."""
    ours: bool = False
    sessions: bool = True
    """False for the bare apps, which set no cookie at /login."""

    @property
    def module(self) -> str:
        return f"benchmarks.apps.{self.name}"

    @property
    def asgi_path(self) -> str:
        return f"{self.module}:app"

    @property
    def python(self) -> Path:
        return VENVS_DIR / self.venv / "bin" / "python"


BARE = "bare_starlette"
BARE_FASTAPI = "bare_fastapi"

CONTENDERS: tuple[Contender, ...] = (
    Contender(BARE, "bare Starlette (limit)", OURS_VENV, BARE, sessions=False),
    Contender("starlette_cookie", "Starlette cookie sessions", OURS_VENV, BARE),
    Contender("ours_memory", "ours: memory", OURS_VENV, BARE, ours=True),
    Contender("ours_cookie", "ours: cookie", OURS_VENV, BARE, ours=True),
    Contender("ours_redis", "ours: Redis", OURS_VENV, BARE, redis=True, ours=True),
    Contender(
        "ours_valkey",
        "ours: Valkey, native SET IFEQ",
        OURS_VENV,
        BARE,
        redis=True,
        valkey=True,
        ours=True,
    ),
    Contender(
        "ours_valkey_script",
        "ours: Valkey, Lua compare-and-set",
        OURS_VENV,
        BARE,
        redis=True,
        valkey=True,
        ours=True,
    ),
    Contender("ours_sqlite", "ours: SQLite", OURS_VENV, BARE, ours=True),
    Contender("ours_postgres", "ours: PostgreSQL", OURS_VENV, BARE, ours=True),
    Contender("starsessions_memory", "starsessions: memory", PEER_VENV, BARE),
    Contender("starsessions_redis", "starsessions: Redis", PEER_VENV, BARE, redis=True),
    Contender(BARE_FASTAPI, "bare FastAPI", OURS_VENV, BARE, sessions=False),
    Contender(
        "bare_fastapi_depends",
        "bare FastAPI + a trivial Depends",
        OURS_VENV,
        BARE_FASTAPI,
        sessions=False,
    ),
    Contender(
        "ours_fastapi_typed_memory",
        "ours: FastAPI typed, memory",
        OURS_VENV,
        BARE_FASTAPI,
        ours=True,
    ),
    Contender(
        "ours_fastapi_typed_redis",
        "ours: FastAPI typed, Redis",
        OURS_VENV,
        BARE_FASTAPI,
        redis=True,
        ours=True,
    ),
)

BY_NAME = {c.name: c for c in CONTENDERS}


@dataclass(frozen=True)
class Cell:
    """One endpoint as a client uses it."""

    name: str
    label: str
    method: str
    path: str
    cookie: bool


CELLS: tuple[Cell, ...] = (
    Cell("unused_nocookie", "unused, no cookie", "GET", "/unused", cookie=False),
    Cell("unused_cookie", "unused, with cookie", "GET", "/unused", cookie=True),
    Cell("read", "read", "GET", "/read", cookie=True),
    Cell("change", "change", "POST", "/change", cookie=True),
)

CELLS_BY_NAME = {c.name: c for c in CELLS}
