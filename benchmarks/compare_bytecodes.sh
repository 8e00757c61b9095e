#!/usr/bin/env bash
# Python function calls, C calls and bytecodes per request of this library at another revision
# and in the working tree (benchmarks/bytecodes.py): exact counts, whatever the machine's load.
#
#   benchmarks/compare_bytecodes.sh REV [CONTENDER...]
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"
REV="${1:?usage: compare_bytecodes.sh REV [CONTENDER...]}"
shift
CONTENDERS=("$@")
((${#CONTENDERS[@]})) || CONTENDERS=(ours_memory ours_fastapi_typed_memory)
PYTHON="${PYTHON:-$REPO_DIR/.venv/bin/python}"

before="$(mktemp -d)"
neutral="$(mktemp -d)"
trap 'rm -rf "$before" "$neutral"' EXIT
git -C "$REPO_DIR" archive "$REV" starlette_session | tar -x -C "$before"
cd "$neutral"  # `python -m` puts the current directory first on sys.path

for contender in "${CONTENDERS[@]}"; do
    for root in "$before" "$REPO_DIR"; do
        label="$REV"
        [[ "$root" == "$REPO_DIR" ]] && label=working
        PYTHONPATH="$root:$REPO_DIR" "$PYTHON" -m benchmarks.bytecodes --contender "$contender" |
            sed "s/^/$(printf '%8s' "$label") /"
    done
done
