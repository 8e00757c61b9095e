#!/usr/bin/env bash
# Run the example FastAPI app (examples/fastapi_app) on http://127.0.0.1:${PORT:-8000}.
# Sessions go to Redis when REDIS_URL is set, to the in-memory backend otherwise:
#
#   scripts/run-example.sh
#   REDIS_URL=redis://127.0.0.1:6379/0 PORT=8080 scripts/run-example.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -x .venv/bin/python ]]; then
    "${PYTHON:-python3}" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -e ".[all]" uvicorn jinja2 python-multipart

if [[ -n "${REDIS_URL:-}" ]]; then
    # Hide any password in the URL.
    echo "Session backend: Redis at $(sed -E 's#//[^/@]*@#//***@#' <<<"$REDIS_URL")"
else
    echo "Session backend: in-memory (set REDIS_URL=redis://HOST:PORT/DB to use Redis)"
fi
exec .venv/bin/uvicorn examples.fastapi_app.main:app --host 127.0.0.1 --port "${PORT:-8000}"
