#!/usr/bin/env bash
# Instructions per request of this library at another revision and in the working tree, counted
# by valgrind's callgrind (deterministic: the machine's load does not change them).
#
#   benchmarks/compare_instructions.sh REV [REQUESTS] [CONTENDER...]
#
# For each contender and cell, runs benchmarks/instructions.py under callgrind with REQUESTS and
# 2 x REQUESTS requests; (Ir(2N) - Ir(N)) / N is one request's instructions, start-up cancelled
# out. Prints one line per contender, cell and revision. Needs valgrind (apt-get install valgrind).
# Start-up itself varies by a few million instructions from run to run (OpenSSL seeds its random
# generator, addresses differ), so REQUESTS must be large: with 10000 that noise is well under
# 1000 instructions per request.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"
REV="${1:?usage: compare_instructions.sh REV [REQUESTS] [CONTENDER...]}"
REQUESTS="${2:-10000}"
shift $(($# >= 2 ? 2 : 1))
CONTENDERS=("$@")
((${#CONTENDERS[@]})) || CONTENDERS=(ours_memory)
PYTHON="${PYTHON:-$REPO_DIR/.venv/bin/python}"
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

before="$(mktemp -d)"
neutral="$(mktemp -d)"
trap 'rm -rf "$before" "$neutral"' EXIT
git -C "$REPO_DIR" archive "$REV" starlette_session | tar -x -C "$before"
"$PYTHON" -m compileall -q "$before"  # compiled once here, not by the first measured run
# Run Python from an empty directory: `python -m` puts the current directory first on sys.path,
# and from the repository root the working tree's package would shadow the one of REV.
cd "$neutral"

for root in "$before" "$REPO_DIR"; do  # each side imports its own package
    PYTHONPATH="$root:$REPO_DIR" "$PYTHON" -c 'import starlette_session; print(starlette_session.__file__)' |
        grep -q "^$root/" || { echo "starlette_session is not imported from $root" >&2; exit 1; }
done

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
