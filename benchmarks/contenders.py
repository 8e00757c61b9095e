"""Who is measured, in which virtual environment, and against which baseline."""

import subprocess
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
VENVS_DIR = BENCH_DIR / ".venvs"


def package_root(rev: str, workdir: Path) -> Path:
    """A directory holding ``starlette_session`` as it is at ``rev`` (``git archive``, under
    ``workdir``); ``"working"``: the repository's own."""
    if rev == "working":
        return REPO_DIR
    root = workdir / rev
    root.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO_DIR), "archive", rev, "starlette_session"],
        check=True,
        capture_output=True,
    )
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    return root


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
    cluster: bool = False
    """It needs the private Redis Cluster (``BENCH_REDIS_CLUSTER_URL``)."""
    memcached: bool = False
    """It needs the private memcached (``BENCH_MEMCACHED_ADDRESS``)."""
    ours: bool = False
    sessions: bool = True
    """False for the bare apps, which set no cookie at /login."""
    http: bool = True
    """Whether the HTTP driver measures it too (every contender is measured in-process)."""

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
    Contender(
        "ours_redis_cluster", "ours: Redis Cluster", OURS_VENV, BARE, cluster=True, ours=True
    ),
    Contender("ours_memcached", "ours: memcached", OURS_VENV, BARE, memcached=True, ours=True),
    Contender("ours_sqlite", "ours: SQLite", OURS_VENV, BARE, ours=True),
    # Encryption at rest: the same stores sealed with AES-256-GCM. What sealing adds is CPU in
    # this process, the same whatever the backend, so these are measured in-process only;
    # ``benchmarks/encryption_overhead.py`` compares each with its unencrypted twin in one run.
    Contender(
        "ours_memory_encrypted",
        "ours: memory, encrypted",
        OURS_VENV,
        BARE,
        ours=True,
        http=False,
    ),
    Contender(
        "ours_cookie_encrypted",
        "ours: cookie, encrypted",
        OURS_VENV,
        BARE,
        ours=True,
        http=False,
    ),
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
    # The typed path on every other backend: its cost over the untyped one is the same CPU
    # whatever the backend, so these are measured in-process only (http=False).
    Contender(
        "ours_fastapi_typed_cookie",
        "ours: FastAPI typed, cookie",
        OURS_VENV,
        BARE_FASTAPI,
        ours=True,
        http=False,
    ),
    Contender(
        "ours_fastapi_typed_valkey",
        "ours: FastAPI typed, Valkey",
        OURS_VENV,
        BARE_FASTAPI,
        redis=True,
        valkey=True,
        ours=True,
        http=False,
    ),
    Contender(
        "ours_fastapi_typed_redis_cluster",
        "ours: FastAPI typed, Redis Cluster",
        OURS_VENV,
        BARE_FASTAPI,
        cluster=True,
        ours=True,
        http=False,
    ),
    Contender(
        "ours_fastapi_typed_memcached",
        "ours: FastAPI typed, memcached",
        OURS_VENV,
        BARE_FASTAPI,
        memcached=True,
        ours=True,
        http=False,
    ),
    Contender(
        "ours_fastapi_typed_sqlite",
        "ours: FastAPI typed, SQLite",
        OURS_VENV,
        BARE_FASTAPI,
        ours=True,
        http=False,
    ),
    Contender(
        "ours_fastapi_typed_postgres",
        "ours: FastAPI typed, PostgreSQL",
        OURS_VENV,
        BARE_FASTAPI,
        ours=True,
        http=False,
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
    one_session: bool = False
    """Every connection sends the same cookie: concurrent writers of one session (HTTP only)."""
    connections: tuple[int, ...] = (1, 32)
    """The HTTP connection counts it is measured at."""

    @property
    def inprocess(self) -> bool:
        """In-process requests run one after another: one session or many is the same."""
        return not self.one_session


CELLS: tuple[Cell, ...] = (
    Cell("unused_nocookie", "unused, no cookie", "GET", "/unused", cookie=False),
    Cell("unused_cookie", "unused, with cookie", "GET", "/unused", cookie=True),
    Cell("read", "read", "GET", "/read", cookie=True),
    Cell("change", "change", "POST", "/change", cookie=True),
    # A single-page app firing parallel requests that each change the session.
    Cell(
        "change_one_session",
        "change, all on one session",
        "POST",
        "/change",
        cookie=True,
        one_session=True,
        connections=(32,),
    ),
)

CELLS_BY_NAME = {c.name: c for c in CELLS}
