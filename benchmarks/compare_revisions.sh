#!/usr/bin/env bash
# In-process cost of this library at another revision against the working tree, in one run.
#
#   benchmarks/compare_revisions.sh REV [ROUNDS] [CONTENDER...]
#
# The package of REV (git archive, into a temporary directory) and the working tree's package are
# measured by the same benchmarks/asgi_driver.py, alternately, each as a ratio to the bare app
# measured interleaved in the same process. Prints one line per contender, cell and revision.
# The default contenders are the in-memory ones (no server needed).
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"
REV="${1:?usage: compare_revisions.sh REV [ROUNDS] [CONTENDER...]}"
ROUNDS="${2:-3}"
shift $(($# >= 2 ? 2 : 1))
CONTENDERS=("$@")
((${#CONTENDERS[@]})) || CONTENDERS=(ours_memory ours_fastapi_typed_memory)
PYTHON="${PYTHON:-$REPO_DIR/.venv/bin/python}"
[[ -x "$BENCH_DIR/.venvs/ours/bin/python" ]] && PYTHON="${PYTHON_BENCH:-$BENCH_DIR/.venvs/ours/bin/python}"

before="$(mktemp -d)"
neutral="$(mktemp -d)"
trap 'rm -rf "$before" "$neutral"' EXIT
git -C "$REPO_DIR" archive "$REV" starlette_session | tar -x -C "$before"
# Run Python from an empty directory: `python -m` puts the current directory first on sys.path,
# and from the repository root the working tree's package would shadow the one of REV.
cd "$neutral"

measure() {  # measure LABEL PACKAGE_ROOT CONTENDER
    local baseline=bare_starlette
    [[ "$3" == *fastapi* ]] && baseline=bare_fastapi
    PYTHONPATH="$2:$REPO_DIR" "$PYTHON" -m benchmarks.asgi_driver --contender "$3" \
        --baseline "$baseline" --rounds 10 --batch-ms 50 2>/dev/null |
        "$PYTHON" -c '
import json, sys
result = json.load(sys.stdin)
name = result["contender"]
for cell, f in result["cells"].items():
    ratio, best, us = f["ratio"], f["ratio_of_best"], f["us"]
    print(f"{sys.argv[1]:>8} {name:<28} {cell:<16} {ratio:.3f}x (best {best:.3f}x, {us:.1f} us)")
' "$1"
}

for round in $(seq "$ROUNDS"); do
    for contender in "${CONTENDERS[@]}"; do
        measure "$REV" "$before" "$contender"
        measure working "$REPO_DIR" "$contender"
    done
done
