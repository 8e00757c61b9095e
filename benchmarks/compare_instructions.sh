#!/usr/bin/env bash
# Instructions per request of this library at another revision and in the working tree, counted
# by valgrind's callgrind (deterministic: the machine's load does not change them).
#
#   benchmarks/compare_instructions.sh REV [REQUESTS] [CONTENDER...]
#
# For each contender and cell, runs benchmarks/instructions.py under callgrind with REQUESTS and
# 2 x REQUESTS requests; (Ir(2N) - Ir(N)) / N is one request's instructions, start-up cancelled
# out. Prints one line per contender, cell and revision. Needs valgrind (apt-get install valgrind).
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"
REV="${1:?usage: compare_instructions.sh REV [REQUESTS] [CONTENDER...]}"
REQUESTS="${2:-1000}"
shift $(($# >= 2 ? 2 : 1))
CONTENDERS=("$@")
((${#CONTENDERS[@]})) || CONTENDERS=(ours_memory)
PYTHON="${PYTHON:-$REPO_DIR/.venv/bin/python}"
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

before="$(mktemp -d)"
trap 'rm -rf "$before"' EXIT
git -C "$REPO_DIR" archive "$REV" starlette_session | tar -x -C "$before"

instructions() {  # instructions PACKAGE_ROOT CONTENDER CELL COUNT
    PYTHONHASHSEED=0 PYTHONMALLOC=malloc PYTHONPATH="$1:$REPO_DIR" \
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$PYTHON" \
        -m benchmarks.instructions --contender "$2" --cell "$3" --requests "$4" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

for contender in "${CONTENDERS[@]}"; do
    for cell in unused_nocookie unused_cookie read change; do
        for label in "$REV" working; do
            root="$REPO_DIR"
            [[ "$label" == working ]] || root="$before"
            one="$(instructions "$root" "$contender" "$cell" "$REQUESTS")"
            two="$(instructions "$root" "$contender" "$cell" $((2 * REQUESTS)))"
            printf '%8s %-28s %-16s %10d instructions per request\n' \
                "$label" "$contender" "$cell" $(((two - one) / REQUESTS))
        done
    done
done
