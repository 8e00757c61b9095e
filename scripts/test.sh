#!/usr/bin/env bash
# Install the project into .venv and run every check: ruff, mypy --strict, the documentation
# build (mkdocs --strict: a dead link or a missing sample fails), then pytest.
# This is the one test command, for newcomers and for CI (.ci/run) alike.
#
#   scripts/test.sh                   # everything, the slow tests included
#   scripts/test.sh -m "not slow" -x  # arguments go to pytest, after -m "" -n 0
#
# Plain `pytest` runs the fast tier on four workers (pyproject.toml's addopts leave out the tests
# marked slow: release, load, browser, failover and large generated inputs; tests/conftest.py
# chooses the workers); this script passes
# -m "" -n 0 so that every test runs, in one process (the slow tests time themselves), and a -m
# or -n among the arguments still chooses.
#
# No server needs to be running: the fixtures start their own redis-server, memcached and
# Chromium (the browser tests drive /usr/bin/chromium, or $CHROMIUM_BIN, through Playwright).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

in_ci() {
    local ci="${CI:-}"
    ci="${ci,,}"
    [[ -n "$ci" && "$ci" != "0" && "$ci" != "false" ]]
}

# Every tool and library the checks use is pinned in requirements/constraints.txt (re-locked by
# scripts/lock.sh); scripts/test-latest.sh runs the same checks on the newest releases instead.
venv="${VENV:-.venv}"
constraints="${CONSTRAINTS:-requirements/constraints.txt}"
pin=()
[[ "$constraints" == none ]] || pin=(--constraint "$constraints")
if [[ ! -x "$venv/bin/python" ]]; then
    echo "==> creating $venv with $(command -v "${PYTHON:-python3}")"
    "${PYTHON:-python3}" -m venv "$venv"
fi
echo "==> installing starlette-session[all,dev] (tests, docs, release tools) into $venv" \
    "(${pin[*]:-newest releases})"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip "${pin[@]}"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[all,dev]" "${pin[@]}"

if ! in_ci; then
    if ! command -v "${REDIS_SERVER_BIN:-redis-server}" >/dev/null; then
        # With REDIS_URL most Redis tests still run, but kill/restart tests need their own server.
        skipped="the Redis tests"
        [[ -n "${REDIS_URL:-}" ]] && skipped="the Redis fault (kill/restart) tests"
        echo "note: redis-server not found, so $skipped will be skipped" \
            "(apt-get install redis-server)" >&2
    fi
    if [[ -z "${MEMCACHED_ADDRESS:-}" ]] && ! command -v "${MEMCACHED_BIN:-memcached}" >/dev/null; then
        echo "note: memcached not found, so the memcached tests will be skipped" \
            "(apt-get install memcached)" >&2
    fi
    if ! command -v "${CHROMIUM_BIN:-/usr/bin/chromium}" >/dev/null; then
        echo "note: chromium not found, so the browser tests will be skipped" \
            "(apt-get install chromium)" >&2
    fi
fi

echo "==> ruff check, ruff format --check"
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
echo "==> mypy --strict"
"$venv/bin/mypy"
echo "==> mkdocs build --strict"
NO_MKDOCS_2_WARNING=1 "$venv/bin/mkdocs" build --strict --quiet --site-dir site
echo "==> pytest (every test, the slow ones included)"
"$venv/bin/pytest" -m "" -n 0 "$@"
