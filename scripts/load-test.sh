#!/usr/bin/env bash
# The load and fault harness of tests/load (see docs/reliability.md). It starts its own
# redis-server and uvicorn processes on free loopback ports; nothing needs to be running.
#
#   scripts/load-test.sh                    # the short form CI runs (seconds per scenario)
#   scripts/load-test.sh --long             # the long form: a few minutes
#   scripts/load-test.sh --long --json out.json --scenario fault
#
# It uses .venv (made by scripts/test.sh) unless $PYTHON names another interpreter.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

python="${PYTHON:-.venv/bin/python}"
if [[ ! -x "$python" ]]; then
    echo "error: $python not found; run scripts/test.sh once, or set PYTHON" >&2
    exit 1
fi
exec "$python" -m tests.load "$@"
