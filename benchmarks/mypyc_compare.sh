#!/usr/bin/env bash
# The request-path modules compiled with mypyc against the same package in pure Python:
# instructions per request (callgrind, as compare_instructions.sh counts them) for ours_memory.
#
#   benchmarks/mypyc_compare.sh [REQUESTS]
#
# Compiles a copy of the working tree's package in a temporary directory (never in the
# repository: no build artefact lands here) and prints one line per cell and build. The copy
# keeps the temporary directory's path in $KEEP when set (to run the test suite against it:
# copy tests/ and pyproject.toml next to it and run pytest from there). Needs gcc and valgrind;
# mypyc comes with mypy (the dev extra).
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"
REQUESTS="${1:-2000}"
PYTHON="${PYTHON:-$REPO_DIR/.venv/bin/python}"
MODULES=(middleware session loading plan storage state records signing cookies)

build="${KEEP:-$(mktemp -d)}"
neutral="$(mktemp -d)"
[[ -n "${KEEP:-}" ]] || trap 'rm -rf "$build" "$neutral"' EXIT
cp -r "$REPO_DIR/starlette_session" "$build/"
# mypyc reads mypy's settings; the repository's pyproject.toml would also be read by the
# setuptools that mypyc drives, which may be older than its [project] table: a mypy.ini instead.
printf '[mypy]\nstrict = True\n\n[mypy-pymemcache.*]\nignore_missing_imports = True\n' \
    >"$build/mypy.ini"
sources=()
for module in "${MODULES[@]}"; do sources+=("starlette_session/$module.py"); done
(cd "$build" && "$(dirname "$PYTHON")/mypyc" "${sources[@]}" >build.log 2>&1) ||
    { tail -20 "$build/build.log" >&2; exit 1; }

cd "$neutral"  # python -c puts the current directory first on sys.path: not the repository
PYTHONPATH="$build" "$PYTHON" -c 'import starlette_session.storage as m; print(m.__file__)' |
    grep -q '\.so$' || { echo "the compiled modules are not the ones imported" >&2; exit 1; }
instructions() {  # instructions PACKAGE_ROOT CELL COUNT
    PYTHONHASHSEED=0 PYTHONMALLOC=malloc PYTHONPATH="$1:$REPO_DIR" \
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$PYTHON" \
        -m benchmarks.instructions --contender ours_memory --cell "$2" --requests "$3" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for cell in read change; do
    for label in pure mypyc; do
        root="$REPO_DIR"
        [[ "$label" == pure ]] || root="$build"
        one="$(instructions "$root" "$cell" "$REQUESTS")"
        two="$(instructions "$root" "$cell" $((2 * REQUESTS)))"
        printf '%6s ours_memory %-7s %10d instructions per request\n' \
            "$label" "$cell" $(((two - one) / REQUESTS))
    done
done
