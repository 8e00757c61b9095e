#!/usr/bin/env bash
# Not a gate: run every check against the newest releases that pyproject.toml's ranges allow,
# ignoring requirements/constraints.txt, in a separate venv (.venv-latest). A maintainer runs it
# before scripts/lock.sh to see what a re-lock would break. Arguments go to pytest.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=.venv-latest CONSTRAINTS=none exec bash scripts/test.sh "$@"
